// Probes of what this kernel can attach, for choosing among a hook's variants before load.
// Results are cached; none of these probes changes the system (the fentry probe loads a
// two-instruction program and closes it at once). ensureTracefs() is the one exception and is
// separate on purpose.
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import { BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, BTF_KIND, C, L, lastErrno, readU32s, type NativePtr } from './libbpf';
import { errnoName } from './errors';
import { trimNativeHeap } from './malloc-trim';

const TRACEFS_ROOTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
const KIND = { typedef: BTF_KIND.TYPEDEF, func: BTF_KIND.FUNC, struct: BTF_KIND.STRUCT } as const;

let vmlinux: NativePtr | undefined;
const btfCache = new Map<string, boolean>();
const fentryCache = new Map<string, boolean>();
const ksymCache = new Map<string, boolean>();

let releaseTimer: NodeJS.Timeout | null = null;
const KEEP_BTF_MS = 5000;

/** The parsed vmlinux BTF (~75 ms CPU to parse, several MB): kept while modules are starting,
 *  freed once nothing has asked for it for a few seconds. */
function vmlinuxBtf(): NativePtr {
  if (vmlinux === undefined) vmlinux = L.btf__load_vmlinux_btf();
  if (releaseTimer) releaseTimer.refresh();
  else {
    releaseTimer = setTimeout(releaseFeatureCaches, KEEP_BTF_MS);
    releaseTimer.unref();
  }
  return vmlinux;
}

/** The tracefs directory that has events/, or null when tracefs is not mounted. Not cached:
 *  it may get mounted while we run. */
export function tracefsRoot(): string | null {
  for (const r of TRACEFS_ROOTS) if (fs.existsSync(`${r}/events`)) return r;
  return null;
}

/**
 * Mount tracefs at /sys/kernel/tracing when nothing is mounted there. Classic tracepoints are
 * found through tracefs (libbpf reads events/<cat>/<name>/id); systemd mounts it on most
 * hosts, minimal VMs and containers often do not. Returns the root, or null with a logged reason.
 */
export function ensureTracefs(log?: Logger): string | null {
  const have = tracefsRoot();
  if (have) return have;
  const target = TRACEFS_ROOTS[0];
  if (!fs.existsSync(target)) {
    log?.warn({ target }, 'tracefs mount point missing; classic tracepoints unavailable');
    return null;
  }
  const rc = C.mount('tracefs', target, 'tracefs', 0, null);
  if (rc !== 0) {
    log?.warn({ target, errno: errnoName(lastErrno()) }, 'cannot mount tracefs; classic tracepoints unavailable');
    return null;
  }
  log?.info({ target }, 'mounted tracefs for classic tracepoints');
  return tracefsRoot();
}

/** Two instructions: r0 = 0; exit. */
const RETURN_ZERO = Buffer.from([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
const PROG_LOAD_OPTS_SIZE = 104; // sizeof(struct bpf_prog_load_opts) in libbpf 1.x

function probeFentry(func: string): boolean {
  const id = L.btf__find_by_name_kind(vmlinuxBtf(), func, BTF_KIND.FUNC);
  if (id < 0) return false;
  const opts = Buffer.alloc(PROG_LOAD_OPTS_SIZE);
  opts.writeBigUInt64LE(BigInt(PROG_LOAD_OPTS_SIZE), 0);
  opts.writeUInt32LE(BPF_TRACE_FENTRY, 12); // expected_attach_type
  opts.writeUInt32LE(id, 32); // attach_btf_id
  const fd = L.bpf_prog_load(BPF_PROG_TYPE_TRACING, 'pmda_fentry_t', 'GPL', RETURN_ZERO, 2, opts);
  if (fd < 0) return false;
  C.close(fd);
  return true;
}

export const kernelFeatures = {
  /** A type in the running kernel's BTF, e.g. hasBtfType('btf_trace_sched_switch', 'typedef')
   *  (a tp_btf/raw_tp target exists) or hasBtfType('ext4_file_open', 'func'). */
  hasBtfType(name: string, kind: 'typedef' | 'func' | 'struct'): boolean {
    const key = `${kind}:${name}`;
    let v = btfCache.get(key);
    if (v === undefined) {
      const btf = vmlinuxBtf();
      v = btf !== null && L.btf__find_by_name_kind(btf, name, KIND[kind]) >= 0;
      btfCache.set(key, v);
    }
    return v;
  },

  /**
   * Number of arguments a raw tracepoint passes to BPF (its btf_trace_<tp> typedef's prototype
   * minus the leading `void *` context), or null when unknown. Tracepoint signatures change
   * across kernels, e.g. block_rq_issue went from (q, rq) to (rq) in 5.11.
   */
  btfTracepointArgs(tp: string): number | null {
    const btf = vmlinuxBtf();
    if (!btf) return null;
    let id = L.btf__find_by_name_kind(btf, `btf_trace_${tp}`, BTF_KIND.TYPEDEF);
    // typedef → pointer → function prototype; each hop's target type id is the third word.
    for (let hop = 0; id > 0 && hop < 3; hop++) {
      const [, info, next] = readU32s(L.btf__type_by_id(btf, id), 3);
      const kind = (info >>> 24) & 0x1f;
      if (kind === BTF_KIND.FUNC_PROTO) return Math.max(0, (info & 0xffff) - 1);
      id = next;
    }
    return null;
  },

  /** vmlinux BTF exists at all (tp_btf and CO-RE need it). */
  hasVmlinuxBtf(): boolean {
    return vmlinuxBtf() !== null;
  },

  /** A classic tracepoint category/event is present in tracefs (false if tracefs is unmounted). */
  hasTracepoint(category: string, event: string): boolean {
    const root = tracefsRoot();
    return root !== null && fs.existsSync(`${root}/events/${category}/${event}/id`);
  },

  /** kprobes can be attached: the kprobe PMU (libbpf's first choice) or legacy kprobe_events. */
  kprobesAvailable(): boolean {
    if (fs.existsSync('/sys/bus/event_source/devices/kprobe/type')) return true;
    const root = tracefsRoot();
    return root !== null && fs.existsSync(`${root}/kprobe_events`);
  },

  /**
   * fentry/fexit can be loaded on `func` (default vfs_read). libbpf_probe_bpf_prog_type(TRACING)
   * is not a usable answer: it probes with a bogus target and some kernels refuse it for other
   * reasons; and tp_btf, also a TRACING program, works where fentry does not. So this loads a
   * real two-instruction fentry program on the function, as libbpf-tools' fentry_can_attach
   * does, and closes it. Needs the function in vmlinux BTF.
   */
  fentryAvailable(func = 'vfs_read'): boolean {
    let v = fentryCache.get(func);
    if (v === undefined) {
      v = vmlinuxBtf() !== null && probeFentry(func);
      fentryCache.set(func, v);
    }
    return v;
  },

  /** `name` is a kernel symbol (/proc/kallsyms; a kprobe target must be one). */
  hasKsym(name: string): boolean {
    let v = ksymCache.get(name);
    if (v === undefined) {
      const text = kallsyms();
      // Lines are "addr type name" or "addr type name\t[module]": match the whole name field.
      v = text.includes(` ${name}\n`) || text.includes(` ${name}\t`);
      ksymCache.set(name, v);
    }
    return v;
  },
};

let kallsymsText: string | null = null;
/** /proc/kallsyms (5+ MB), kept only briefly: lookups come in a burst while modules start. */
function kallsyms(): string {
  if (kallsymsText === null) {
    kallsymsText = readProcFile('/proc/kallsyms');
    setTimeout(() => (kallsymsText = null), 2000).unref();
  }
  return kallsymsText;
}

/** Read a /proc file in large chunks (readFileSync sees size 0 and grows its buffer slowly). */
function readProcFile(file: string): string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const chunks: Buffer[] = [];
    for (;;) {
      const b = Buffer.allocUnsafe(1 << 20);
      const n = fs.readSync(fd, b, 0, b.length, null);
      if (n <= 0) break;
      chunks.push(b.subarray(0, n));
    }
    return Buffer.concat(chunks).toString('latin1');
  } finally {
    fs.closeSync(fd);
  }
}

/** Free the cached vmlinux BTF now (it is also freed by itself a few seconds after its last use). */
export function releaseFeatureCaches(): void {
  if (releaseTimer) clearTimeout(releaseTimer);
  releaseTimer = null;
  if (vmlinux) L.btf__free(vmlinux);
  vmlinux = undefined;
  trimNativeHeap();
}


