// execsnoop's record: struct exec_event (header + argument block) as the ring buffer delivers
// it, decoded and filtered. The declaration is in execsnoop.ts.
import type { ExpectedLayout } from '../bpf';
import { cString } from './shared/bytes';
import { redact, type RedactRule } from './shared/redact';

// struct exec_event in execsnoop.bpf.c (checked against the object's BTF at load)
const E_TS = 0;
const E_PID = 8;
const E_PPID = 12;
const E_UID = 16;
const E_RET = 20;
const E_ARGS_COUNT = 24;
const E_ARGS_SIZE = 28;
const E_FLAGS = 32;
const E_TRUNCATED = 40;
const E_UNREADABLE = 48;
const E_COMM = 56;
const E_ARGS = 72;
const EXEC_MORE_ARGS = 0x1;
/** bpf/execsnoop.bpf.c TOTAL_MAX_ARGS */
export const TOTAL_MAX_ARGS = 60;
/** Bytes kept per argument (ARGSIZE - 1 for the NUL); a longer one ends in TRUNCATED. */
export const ARG_MAX_BYTES = 127;
export const TRUNCATED = '...';

export interface ExecEvent {
  ts: bigint;
  pid: number;
  ppid: number;
  uid: number;
  ret: number;
  comm: string;
  args: string;
}

/**
 * The arguments of one record as execsnoop prints them: the file name passed to exec, then
 * argv[1..], space-separated, newlines as "\n". An argument cut at ARG_MAX_BYTES ends in "...",
 * one the kernel could not read shows as "?", and a trailing " ..." says argv had more
 * entries than max_args.
 */
export function joinArgs(buf: Buffer, off: number, len: number): string {
  const count = buf.readUInt32LE(off + E_ARGS_COUNT);
  const size = Math.min(buf.readUInt32LE(off + E_ARGS_SIZE), len - E_ARGS);
  const truncated = buf.readBigUInt64LE(off + E_TRUNCATED);
  const unreadable = buf.readBigUInt64LE(off + E_UNREADABLE);
  const parts: string[] = [];
  let p = off + E_ARGS;
  const end = p + Math.max(size, 0);
  for (let i = 0; i < count && p < end; i++) {
    let z = buf.indexOf(0, p);
    if (z < 0 || z > end) z = end;
    const bit = 1n << BigInt(i);
    let a = unreadable & bit ? '?' : buf.toString('utf8', p, z);
    if (truncated & bit) a += TRUNCATED;
    parts.push(a);
    p = z + 1;
  }
  if (buf.readUInt32LE(off + E_FLAGS) & EXEC_MORE_ARGS) parts.push(TRUNCATED);
  return parts.join(' ').replace(/\n/g, '\\n');
}

/** What the decoders assume, checked against the object's BTF at load. */
export const EXEC_EVENT_LAYOUT: ExpectedLayout = {
  struct: 'exec_event',
  fields: {
    ts_ns: E_TS,
    pid: E_PID,
    ppid: E_PPID,
    uid: E_UID,
    ret: E_RET,
    args_count: E_ARGS_COUNT,
    args_size: E_ARGS_SIZE,
    flags: E_FLAGS,
    truncated: E_TRUNCATED,
    unreadable: E_UNREADABLE,
    comm: { offset: E_COMM, size: 16 },
    args: E_ARGS,
  },
};

export interface ExecFilters {
  command: RegExp | null;
  args: RegExp | null;
  redact: RedactRule[];
}

/** One record → an exec, or null when the command or args filter refuses it. */
export function decodeExec(buf: Buffer, off: number, len: number, c: ExecFilters): ExecEvent | null {
  if (len < E_ARGS) throw new Error(`exec record of ${len} bytes is shorter than its ${E_ARGS}-byte header`);
  const comm = cString(buf, off + E_COMM, 16);
  if (c.command && !c.command.test(comm)) return null;
  const args = joinArgs(buf, off, len);
  if (c.args && !c.args.test(args)) return null;
  return {
    ts: buf.readBigUInt64LE(off + E_TS),
    pid: buf.readUInt32LE(off + E_PID),
    ppid: buf.readUInt32LE(off + E_PPID),
    uid: buf.readUInt32LE(off + E_UID),
    ret: buf.readInt32LE(off + E_RET),
    comm,
    args: c.redact.length ? redact(args, c.redact) : args,
  };
}
