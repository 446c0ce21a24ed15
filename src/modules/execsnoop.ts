// execsnoop → bcc.proc.exec.* (pmdabcc cluster 8): the last process_count execs with their
// arguments, every exec through the event-record metric, and the events the kernel lost.
// Kernel side: bpf/execsnoop.bpf.c (syscalls:sys_{enter,exit}_execve and _execveat).
import { kernelFeatures, type Hook } from '../bpf';
import { PM_TYPE } from '../pcp/types';
import { cfg } from '../pmda/config-schema';
import { UNITS } from '../pmda/module';
import { ARG_MAX_BYTES, EXEC_EVENT_LAYOUT, TOTAL_MAX_ARGS, decodeExec, type ExecEvent } from './execsnoop-record';
import { defineEventTool } from './shared/event-tool';
import { redactKey } from './shared/redact';

export { ARG_MAX_BYTES, TOTAL_MAX_ARGS, TRUNCATED, joinArgs, type ExecEvent } from './execsnoop-record';

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
  layouts: [EXEC_EVENT_LAYOUT],
  configure(obj, c) {
    obj.setRodata({ max_args: c.max_args, include_failed: c.include_failed });
  },
  decode: decodeExec,
  monotonicNs: (e) => e.ts,
  variant: (loaded) => (loaded.chosen.execveat ? 'tracepoint(execve+execveat)' : 'tracepoint(execve only: no execveat tracepoints)'),
});
