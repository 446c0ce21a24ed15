// The running kernel's syscall table (number → name), read from the kernel itself: no
// ausyscall(8) (pmdabcc's source, an extra package whose table may lag the kernel), no
// compiled-in list. bpf/syscall_table.bpf.c explains how: the "format" file of every
// syscalls:sys_enter_* tracepoint held open, and an iterator over the agent's own files that
// prints each event's struct syscall_metadata (name and number). Done once per process and cached.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { BpfError } from './errors';
import { ensureTracefs } from './features';
import { withLibbpfLogger } from './log';
import { BpfObject } from './object';

export interface SyscallTable {
  /** Number → name ("read"); syscalls the kernel has no tracepoint metadata for are absent. */
  readonly names: ReadonlyMap<number, string>;
  /** The highest number named. */
  readonly max: number;
  /** pmdabcc's instance name: the syscall's name, or UNDEF<n> for a number with none. */
  name(nr: number): string;
}

let cached: SyscallTable | null = null;

export function syscallTable(bpfDir: string, log: Logger): SyscallTable {
  if (cached) return cached;
  const names = readKernelSyscalls(bpfDir, log);
  const max = Math.max(-1, ...names.keys());
  cached = { names, max, name: (nr) => names.get(nr) ?? `UNDEF${nr}` };
  log.info({ syscalls: names.size, max }, 'syscall table read from the kernel');
  return cached;
}

function readKernelSyscalls(bpfDir: string, log: Logger): Map<number, string> {
  const root = ensureTracefs(log);
  if (!root) throw new BpfError('syscall table', 0, 'tracefs', 'tracefs is not mounted: the syscalls tracepoints name the syscalls');
  const dir = path.join(root, 'events', 'syscalls');
  let events: string[];
  try {
    events = fs.readdirSync(dir).filter((e) => e.startsWith('sys_enter_'));
  } catch (e) {
    throw new BpfError('syscall table', 0, dir, `no syscall tracepoints (CONFIG_FTRACE_SYSCALLS): ${(e as Error).message}`);
  }
  const byFd = new Map<number, string>();
  const obj = BpfObject.open(path.join(bpfDir, 'syscall_table.bpf.o'));
  try {
    for (const ev of events) {
      let fd: number;
      try {
        fd = fs.openSync(path.join(dir, ev, 'format'), 'r');
      } catch {
        continue;
      }
      byFd.set(fd, ev.slice('sys_enter_'.length));
    }
    if (byFd.size === 0) throw new BpfError('syscall table', 0, dir, 'no syscall tracepoint could be opened');
    const fds = [...byFd.keys()];
    obj.setRodata({ agent_tgid: process.pid, fd_lo: Math.min(...fds), fd_hi: Math.max(...fds) });
    const text = withLibbpfLogger(log, () => {
      obj.load();
      return obj.iterate('syscall_numbers');
    });
    const out = new Map<number, string>();
    for (const line of text.split('\n')) {
      const m = /^(\d+) (-?\d+) sys_(\S+)$/.exec(line);
      if (!m) continue;
      const event = byFd.get(Number(m[1]));
      // Only our fds, and only when the metadata names the event we opened (a stray fd in the range is not ours).
      if (event === undefined || event !== m[3]) continue;
      const nr = Number(m[2]);
      if (nr >= 0) out.set(nr, event);
    }
    if (out.size === 0) throw new BpfError('syscall table', 0, dir, 'the kernel named no syscall');
    return out;
  } finally {
    for (const fd of byFd.keys()) fs.closeSync(fd);
    obj.close();
  }
}
