// Errors from the libbpf face. Every failure names the operation, the program or map it was
// about, and the errno (symbolic name and text), so a log line or a bcc.pmda status string
// says what failed where without a debugger.
import * as os from 'node:os';
import { C } from './libbpf';

const NAMES = new Map<number, string>();
for (const [name, num] of Object.entries(os.constants.errno)) if (!NAMES.has(num)) NAMES.set(num, name);
// Kernel-internal codes that leak out of the bpf() syscall and have no libc name.
const KERNEL_ONLY: Record<number, [string, string]> = {
  512: ['ERESTARTSYS', 'restart syscall'],
  524: ['ENOTSUPP', 'operation not supported by the kernel'],
};

export function errnoName(errno: number): string {
  return KERNEL_ONLY[errno]?.[0] ?? NAMES.get(errno) ?? `errno ${errno}`;
}

export function errnoText(errno: number): string {
  return KERNEL_ONLY[errno]?.[1] ?? C.strerror(errno);
}

export class BpfError extends Error {
  override name = 'BpfError';
  /** Positive errno (0 when the failure has none, e.g. a missing program name). */
  readonly errno: number;
  /** The BPF program a load or attach failure is about, when libbpf named it. */
  program?: string;
  constructor(
    readonly op: string,
    errno: number,
    readonly target?: string,
    detail?: string,
  ) {
    const e = Math.abs(errno);
    const where = target ? ` ${target}` : '';
    const why = e ? `: ${errnoName(e)} (${errnoText(e)})` : '';
    super(`${op}${where}${why}${detail ? `${e ? ';' : ':'} ${detail}` : ''}`);
    this.errno = e;
  }
}

/** No variant of a hook could be loaded and attached. The message lists each variant's reason. */
export class NoVariantError extends BpfError {
  override name = 'NoVariantError';
  constructor(
    readonly hook: string,
    readonly reasons: Record<string, string>,
  ) {
    const list = Object.entries(reasons)
      .map(([v, r]) => `${v}: ${r}`)
      .join('; ');
    super('attach', 0, `hook ${hook}`, `no usable variant (${list})`);
  }
}
