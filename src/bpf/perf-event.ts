// perf_event_open(2) for the one event type that samples on this kind of machine: the
// software cpu-clock (VM guests here have no hardware PMU, so cycles gives ENOENT).
// libbpf has no wrapper for opening the event, so the syscall goes through libc's syscall().
import * as os from 'node:os';
import { BpfError } from './errors';
import { C, lastErrno } from './libbpf';

const NR_PERF_EVENT_OPEN: Record<string, number> = { x64: 298, arm64: 241, ppc64: 319, s390x: 331, riscv64: 241 };
const PERF_TYPE_SOFTWARE = 1;
const PERF_COUNT_SW_CPU_CLOCK = 0;
const PERF_FLAG_FD_CLOEXEC = 8;
const ATTR_SIZE = 128; // PERF_ATTR_SIZE_VER7; the kernel accepts any known size
const ATTR_FLAG_FREQ = 1n << 10n;

export interface PerfEventOptions {
  cpu: number;
  /** Samples per second (default 49 when neither freq nor period is given). */
  freq?: number;
  /** Nanoseconds of cpu-clock between samples. */
  period?: number;
}

/** Open a cpu-clock sampling event on one CPU for all processes; returns its fd. */
export function openCpuClockEvent(opts: PerfEventOptions): number {
  const nr = NR_PERF_EVENT_OPEN[os.arch()];
  if (nr === undefined) throw new BpfError('perf_event_open', 0, `cpu ${opts.cpu}`, `unsupported architecture ${os.arch()}`);
  if (opts.freq !== undefined && opts.period !== undefined) {
    throw new BpfError('perf_event_open', 0, `cpu ${opts.cpu}`, 'give freq or period, not both');
  }
  const attr = Buffer.alloc(ATTR_SIZE);
  attr.writeUInt32LE(PERF_TYPE_SOFTWARE, 0);
  attr.writeUInt32LE(ATTR_SIZE, 4);
  attr.writeBigUInt64LE(BigInt(PERF_COUNT_SW_CPU_CLOCK), 8);
  if (opts.period !== undefined) {
    attr.writeBigUInt64LE(BigInt(opts.period), 16);
  } else {
    attr.writeBigUInt64LE(BigInt(opts.freq ?? 49), 16);
    attr.writeBigUInt64LE(ATTR_FLAG_FREQ, 40);
  }
  const fd = C.syscall(nr, 'void *', attr, 'int', -1, 'int', opts.cpu, 'int', -1, 'unsigned long', PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) throw new BpfError('perf_event_open', lastErrno(), `cpu-clock on cpu ${opts.cpu}`);
  return fd;
}
