// execsnoop → bcc.proc.exec.* (pmdabcc cluster 8): the last process_count execs with their
// arguments, every exec through the event-record metric, and the events the kernel lost.
// Kernel side: bpf/execsnoop.bpf.c (syscalls:sys_{enter,exit}_execve and _execveat).
import * as path from 'node:path';
import { NoVariantError, kernelFeatures, loadWithVariants, type Hook, type Loaded } from '../bpf';
import { PAGE_SIZE, ringSize } from '../bpf/ringbuf';
import { PM_ERR, PM_SEM, PM_TYPE, pmid, type EventParam } from '../pcp/types';
import { cfg } from '../pmda/config-schema';
import { ModuleUnavailable, UNITS, type ClientRef, type MetricSpec, type ModuleContext, type ModuleInstance, type ModuleSpec } from '../pmda/module';
import { cString } from './shared/bytes';
import { EventStream } from './shared/event-stream';
import { redact, redactKey, type RedactRule } from './shared/redact';

const CLUSTER = 8;
const INDOM = 8;
const PREFIX = 'bcc.proc.exec.';

// struct exec_event in execsnoop.bpf.c
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

const ITEM = { comm: 0, pid: 1, ppid: 2, ret: 3, args: 4, uid: 5, seq: 6, lost: 7, records: 8 } as const;

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

function metric(
  item: number,
  leaf: string,
  type: MetricSpec['type'],
  sem: MetricSpec['sem'],
  units: MetricSpec['units'],
  oneline: string,
  help: string,
  indom: number | null = INDOM,
): MetricSpec {
  return { name: PREFIX + leaf, item, type, sem, units, indom, oneline, help };
}

const SLOT_HELP =
  'Instance "0" is the newest exec, "1" the one before, up to process_count-1; slots not filled yet have no value. ' +
  'Use bcc.proc.exec.seq to tell new execs from ones already seen, and bcc.proc.exec.records to get every exec.\n';

export const execsnoop: ModuleSpec = {
  name: 'execsnoop',
  cluster: CLUSTER,
  // Two syscall tracepoints on exec only: cheap next to an exec.
  defaultEnabled: true,
  indoms: [
    {
      serial: INDOM,
      oneline: 'the most recent execs, "0" the newest',
      help: 'Fixed instances "0".."process_count-1": slot 0 holds the newest exec seen, slot 1 the previous one, and so on.\n',
    },
  ],
  metrics: [
    metric(ITEM.comm, 'comm', PM_TYPE.STRING, PM_SEM.INSTANT, UNITS.none, 'command', 'Command name of the process after the exec (comm, at most 15 bytes).\n' + SLOT_HELP),
    metric(ITEM.pid, 'pid', PM_TYPE.U32, PM_SEM.INSTANT, UNITS.none, 'PID', 'Process id (thread group id) that called exec.\n' + SLOT_HELP),
    metric(ITEM.ppid, 'ppid', PM_TYPE.U32, PM_SEM.INSTANT, UNITS.none, 'parent PID', 'Process id of the parent of the process that called exec.\n' + SLOT_HELP),
    metric(ITEM.ret, 'ret', PM_TYPE.I32, PM_SEM.INSTANT, UNITS.none, 'return code', 'Return value of exec: 0, or a negative errno for a failed exec (shown only with include_failed).\n' + SLOT_HELP),
    metric(
      ITEM.args,
      'args',
      PM_TYPE.STRING,
      PM_SEM.INSTANT,
      UNITS.none,
      'command arguments',
      'The file name passed to exec followed by argv[1..], space-separated. Each argument keeps at most ' +
        `${ARG_MAX_BYTES} bytes; a longer one ends in "...". At most max_args words; a final " ..." says there were more. ` +
        'Matches of the redact patterns are replaced by ***.\n' +
        SLOT_HELP,
    ),
    metric(ITEM.uid, 'uid', PM_TYPE.U32, PM_SEM.INSTANT, UNITS.none, 'user ID', 'Real user id of the process that called exec.\n' + SLOT_HELP),
    metric(
      ITEM.seq,
      'seq',
      PM_TYPE.U64,
      PM_SEM.INSTANT,
      UNITS.none,
      'sequence number of the exec in each slot',
      'Execs reported by this module are numbered from 1 in the order they were seen (after the command, args and include_failed filters). ' +
        'A slot whose seq did not change since the last sample holds the same exec; the newest seq minus the previous newest is how many execs happened in between.\n' +
        SLOT_HELP,
    ),
    metric(
      ITEM.lost,
      'lost',
      PM_TYPE.U64,
      PM_SEM.COUNTER,
      UNITS.count,
      'execs the kernel could not report',
      'Execs dropped in the kernel because the ring buffer was full (raise buffer_page_count) or the table of execs in progress was full. ' +
        'Counted since the agent started.\n',
      null,
    ),
    metric(
      ITEM.records,
      'records',
      PM_TYPE.HIGHRES_EVENT,
      PM_SEM.INSTANT,
      UNITS.none,
      'every exec since this client last fetched this metric',
      'Event records, one per exec, time-stamped when exec was called, with parameters bcc.proc.exec.{comm,pid,ppid,ret,args,uid,seq}. ' +
        "Each client gets each exec once: a client's first fetch starts its stream (no records), each later fetch returns the execs since its previous one. " +
        'At most queue_size execs are held for a client that fetches rarely; beyond that it gets a "missed" record with the count. ' +
        'pmlogger archives of this metric hold every exec; read them with pmevent or pmdumplog.\n',
      null,
    ),
  ],
  config: {
    include_failed: cfg.bool(false, 'Also report execs that failed (ret < 0).'),
    command: cfg.regex('Only report execs whose command name (comm, after the exec) matches this regular expression.'),
    args: cfg.regex('Only report execs whose joined arguments match this regular expression (tested before redaction).'),
    max_args: cfg.int(20, { min: 1, max: TOTAL_MAX_ARGS }, `Most words of the command line kept (the file name counts as one); at most ${TOTAL_MAX_ARGS}.`),
    process_count: cfg.int(20, { min: 1, max: 10000 }, 'Number of recent execs kept (instances "0".."process_count-1").'),
    redact: redactKey(),
    buffer_page_count: cfg.int(256, { min: 1, max: 262144 }, 'Kernel ring buffer size in pages; rounded up to a power of two. Execs beyond it between two drains are lost (see lost).'),
    queue_size: cfg.int(10000, { min: 1, max: 1000000 }, 'Most execs held for one client of bcc.proc.exec.records between two of its fetches.'),
    poll_interval: cfg.int(100, { min: 1, max: 10000 }, 'Longest time in milliseconds between two drains of the kernel ring buffer (shorter while it fills up).'),
  },
  create: (ctx) => new Execsnoop(ctx),
};

function hooks(): { hooks: Hook[]; execveat: boolean } {
  const tp = (...events: string[]) => () => {
    const miss = events.filter((e) => !kernelFeatures.hasTracepoint('syscalls', e));
    return miss.length ? `no tracepoint syscalls:${miss.join(', syscalls:')}` : true;
  };
  const list: Hook[] = [
    { name: 'execve', variants: [{ name: 'tracepoint', programs: ['execve_enter', 'execve_exit'], available: tp('sys_enter_execve', 'sys_exit_execve') }] },
  ];
  // execveat came in 3.19; without its tracepoints execve alone still works.
  const execveat = tp('sys_enter_execveat', 'sys_exit_execveat')() === true;
  if (execveat) {
    list.push({ name: 'execveat', variants: [{ name: 'tracepoint', programs: ['execveat_enter', 'execveat_exit'], available: () => true }] });
  }
  return { hooks: list, execveat };
}

class Execsnoop implements ModuleInstance {
  private loaded: Loaded | null = null;
  private readonly stream: EventStream<ExecEvent>;
  private readonly command: RegExp | null;
  private readonly argsFilter: RegExp | null;
  private readonly redactRules: RedactRule[];

  constructor(private readonly ctx: ModuleContext) {
    const c = ctx.config;
    this.command = c.command as RegExp | null;
    this.argsFilter = c.args as RegExp | null;
    this.redactRules = c.redact as RedactRule[];
    const id = (item: number) => pmid(ctx.domain, CLUSTER, item);
    this.stream = new EventStream<ExecEvent>(ctx, {
      ring: c.process_count as number,
      indom: ctx.indom(INDOM),
      queue: c.queue_size as number,
      pollIntervalMs: c.poll_interval as number,
      decode: (buf, off, len) => this.decode(buf, off, len),
      monotonicNs: (e) => e.ts,
      params: (e, seq): EventParam[] => [
        { pmid: id(ITEM.comm), type: PM_TYPE.STRING, value: e.comm },
        { pmid: id(ITEM.pid), type: PM_TYPE.U32, value: e.pid },
        { pmid: id(ITEM.ppid), type: PM_TYPE.U32, value: e.ppid },
        { pmid: id(ITEM.ret), type: PM_TYPE.I32, value: e.ret },
        { pmid: id(ITEM.args), type: PM_TYPE.STRING, value: e.args },
        { pmid: id(ITEM.uid), type: PM_TYPE.U32, value: e.uid },
        { pmid: id(ITEM.seq), type: PM_TYPE.U64, value: seq },
      ],
    });
  }

  private decode(buf: Buffer, off: number, len: number): ExecEvent | null {
    if (len < E_ARGS) throw new Error(`exec record of ${len} bytes is shorter than its ${E_ARGS}-byte header`);
    const comm = cString(buf, off + E_COMM, 16);
    if (this.command && !this.command.test(comm)) return null;
    const args = joinArgs(buf, off, len);
    if (this.argsFilter && !this.argsFilter.test(args)) return null;
    return {
      ts: buf.readBigUInt64LE(off + E_TS),
      pid: buf.readUInt32LE(off + E_PID),
      ppid: buf.readUInt32LE(off + E_PPID),
      uid: buf.readUInt32LE(off + E_UID),
      ret: buf.readInt32LE(off + E_RET),
      comm,
      args: this.redactRules.length ? redact(args, this.redactRules) : args,
    };
  }

  async start(): Promise<void> {
    const c = this.ctx.config;
    const file = path.join(this.ctx.paths.bpfDir, 'execsnoop.bpf.o');
    const { hooks: hs, execveat } = hooks();
    try {
      this.loaded = loadWithVariants(
        file,
        hs,
        (obj) => {
          obj.setRodata({ max_args: c.max_args as number, include_failed: c.include_failed as boolean });
          obj.setMapMaxEntries('events', ringSize((c.buffer_page_count as number) * PAGE_SIZE));
          if (!execveat) for (const p of ['execveat_enter', 'execveat_exit']) obj.setAutoload(p, false);
        },
        this.ctx.log,
      );
    } catch (e) {
      if (e instanceof NoVariantError) throw new ModuleUnavailable(e.message);
      throw e;
    }
    try {
      this.stream.attach(this.loaded.obj);
    } catch (e) {
      this.loaded.obj.close();
      this.loaded = null;
      throw e;
    }
    this.ctx.status.setVariant(execveat ? 'tracepoint(execve+execveat)' : 'tracepoint(execve only: no execveat tracepoints)');
  }

  refresh(): void {
    this.stream.refresh();
  }

  fetch(item: number, client: ClientRef) {
    switch (item) {
      case ITEM.comm:
        return this.stream.values((e) => e.comm);
      case ITEM.pid:
        return this.stream.values((e) => e.pid);
      case ITEM.ppid:
        return this.stream.values((e) => e.ppid);
      case ITEM.ret:
        return this.stream.values((e) => e.ret);
      case ITEM.args:
        return this.stream.values((e) => e.args);
      case ITEM.uid:
        return this.stream.values((e) => e.uid);
      case ITEM.seq:
        return this.stream.seqValues();
      case ITEM.lost:
        return this.stream.lostValue();
      case ITEM.records:
        return this.stream.records(client);
      default:
        return PM_ERR.PMID;
    }
  }

  clientClosed(slot: number): void {
    this.stream.clientClosed(slot);
  }

  async stop(): Promise<void> {
    this.stream.stop();
    this.loaded?.obj.close();
    this.loaded = null;
  }
}
