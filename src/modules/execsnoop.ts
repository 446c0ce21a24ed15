// execsnoop → bcc.proc.exec.* (pmdabcc cluster 8): the last process_count execs with their
// arguments, every exec through the event-record metric, and the events the kernel lost.
// Kernel side: bpf/execsnoop.bpf.c (syscalls:sys_{enter,exit}_execve and _execveat).
import { kernelFeatures, type Hook } from '../bpf';
import { PM_TYPE } from '../pcp/types';
import { cfg } from '../pmda/config-schema';
import { UNITS } from '../pmda/module';
import { cString } from './shared/bytes';
import { defineEventTool } from './shared/event-tool';
import { redact, redactKey } from './shared/redact';

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

const SLOT_HELP =
  'Instance "0" is the newest exec, "1" the one before, up to process_count-1; slots not filled yet have no value. ' +
  'Use bcc.proc.exec.seq to tell new execs from ones already seen, and bcc.proc.exec.records to get every exec.\n';

const ARGS_HELP =
  'The file name passed to exec followed by argv[1..], space-separated. Each argument keeps at most ' +
  `${ARG_MAX_BYTES} bytes; a longer one ends in "...". At most max_args words; a final " ..." says there were more. ` +
  'Matches of the redact patterns are replaced by ***.\n';

const config = {
  include_failed: cfg.bool(false, 'Also report execs that failed (ret < 0).'),
  command: cfg.regex('Only report execs whose command name (comm, after the exec) matches this regular expression.'),
  args: cfg.regex('Only report execs whose joined arguments match this regular expression (tested before redaction).'),
  max_args: cfg.int(20, { min: 1, max: TOTAL_MAX_ARGS }, `Most words of the command line kept (the file name counts as one); at most ${TOTAL_MAX_ARGS}.`),
  process_count: cfg.int(20, { min: 1, max: 10000 }, 'Number of recent execs kept (instances "0".."process_count-1").'),
  redact: redactKey(),
  buffer_page_count: cfg.int(256, { min: 1, max: 262144 }, 'Kernel ring buffer size in pages; rounded up to a power of two. Execs beyond it between two drains are lost (see lost).'),
  queue_size: cfg.int(10000, { min: 1, max: 1000000 }, 'Most execs held for one client of bcc.proc.exec.records between two of its fetches.'),
  poll_interval: cfg.int(100, { min: 1, max: 10000 }, 'Longest time in milliseconds between two drains of the kernel ring buffer (shorter while it fills up).'),
};

const tp = (...events: string[]) => () => {
  const miss = events.filter((e) => !kernelFeatures.hasTracepoint('syscalls', e));
  return miss.length ? `no tracepoint syscalls:${miss.join(', syscalls:')}` : true;
};

// execveat came in 3.19; without its tracepoints execve alone still works.
const hasExecveat = () => tp('sys_enter_execveat', 'sys_exit_execveat')() === true;

function hooks(): Hook[] {
  const list: Hook[] = [
    { name: 'execve', variants: [{ name: 'tracepoint', programs: ['execve_enter', 'execve_exit'], available: tp('sys_enter_execve', 'sys_exit_execve') }] },
  ];
  if (hasExecveat()) {
    list.push({ name: 'execveat', variants: [{ name: 'tracepoint', programs: ['execveat_enter', 'execveat_exit'], available: () => true }] });
  }
  return list;
}

export const execsnoop = defineEventTool({
  name: 'execsnoop',
  cluster: 8,
  // Two syscall tracepoints on exec only: cheap next to an exec.
  defaultEnabled: true,
  prefix: 'bcc.proc.exec.',
  indom: {
    serial: 8,
    oneline: 'the most recent execs, "0" the newest',
    help: 'Fixed instances "0".."process_count-1": slot 0 holds the newest exec seen, slot 1 the previous one, and so on.\n',
  },
  slotHelp:
    'Instance "0" is the newest exec, "1" the one before, up to process_count-1; slots not filled yet have no value. ' +
    'Use bcc.proc.exec.seq to tell new execs from ones already seen, and bcc.proc.exec.records to get every exec.\n',
  fields: [
    { leaf: 'comm', item: 0, type: PM_TYPE.STRING, oneline: 'command', help: 'Command name of the process after the exec (comm, at most 15 bytes).\n', get: (e: ExecEvent) => e.comm },
    { leaf: 'pid', item: 1, type: PM_TYPE.U32, oneline: 'PID', help: 'Process id (thread group id) that called exec.\n', get: (e: ExecEvent) => e.pid },
    { leaf: 'ppid', item: 2, type: PM_TYPE.U32, oneline: 'parent PID', help: 'Process id of the parent of the process that called exec.\n', get: (e: ExecEvent) => e.ppid },
    { leaf: 'ret', item: 3, type: PM_TYPE.I32, oneline: 'return code', help: 'Return value of exec: 0, or a negative errno for a failed exec (shown only with include_failed).\n', get: (e: ExecEvent) => e.ret },
    { leaf: 'args', item: 4, type: PM_TYPE.STRING, oneline: 'command arguments', help: ARGS_HELP, get: (e: ExecEvent) => e.args },
    { leaf: 'uid', item: 5, type: PM_TYPE.U32, oneline: 'user ID', help: 'Real user id of the process that called exec.\n', get: (e: ExecEvent) => e.uid },
  ],
  seq: {
    item: 6,
    oneline: 'sequence number of the exec in each slot',
    help:
      'Execs reported by this module are numbered from 1 in the order they were seen (after the command, args and include_failed filters). ' +
      'A slot whose seq did not change since the last sample holds the same exec; the newest seq minus the previous newest is how many execs happened in between.\n',
  },
  lost: {
    item: 7,
    oneline: 'execs the kernel could not report',
    help:
      'Execs dropped in the kernel because the ring buffer was full (raise buffer_page_count) or the table of execs in progress was full. ' +
      'Counted since the agent started.\n',
  },
  records: {
    item: 8,
    oneline: 'every exec since this client last fetched this metric',
    help:
      'Event records, one per exec, time-stamped when exec was called, with parameters bcc.proc.exec.{comm,pid,ppid,ret,args,uid,seq}. ' +
      "Each client gets each exec once: a client's first fetch starts its stream (no records), each later fetch returns the execs since its previous one. " +
      'At most queue_size execs are held for a client that fetches rarely; beyond that it gets a "missed" record with the count. ' +
      'pmlogger archives of this metric hold every exec; read them with pmevent or pmdumplog.\n',
  },
  config,
  sizes: (c) => ({ ring: c.process_count, queue: c.queue_size, pollIntervalMs: c.poll_interval, bufferPages: c.buffer_page_count }),
  object: 'execsnoop.bpf.o',
  hooks,
  layouts: [
    {
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
    },
  ],
  configure(obj, c) {
    obj.setRodata({ max_args: c.max_args, include_failed: c.include_failed });
  },
  decode(buf, off, len, c): ExecEvent | null {
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
  },
  monotonicNs: (e) => e.ts,
  variant: (loaded) => (loaded.chosen.execveat ? 'tracepoint(execve+execveat)' : 'tracepoint(execve only: no execveat tracepoints)'),
});
