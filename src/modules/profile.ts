// profile → bcc.proc.profile (pmdabcc cluster 14, item 0) and, beyond pmdabcc, the continuous
// bcc.proc.stacks and the sampler's own counters. Timed samples of every CPU's stacks (kernel:
// bpf/profile.bpf.c), symbolised in the agent (profile/symbolizer.ts), feed two consumers:
//  - an on-demand session (pmstore bcc.proc.profile start|stop) that yields pmdabcc's JSON
//    tree, as Vector's "CPU Flame Graph" widget reads it;
//  - a rolling window of the hottest stacks, one counter instance per stack, named as
//    grafana-pcp's flame graph processor reads them, for flame graphs without a start button.
//
// Stores are refused unless allow_store is set: pmcd lets local clients store, pmproxy is a
// local client, so any HTTP client that reaches pmproxy could start the sampler.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onlineCpus } from '../bpf';
import { trimNativeHeap } from '../bpf/malloc-trim';
import { PM_ERR, PM_IN_NULL, PM_SEM, PM_TYPE } from '../pcp/types';
import { cfg, ConfigError } from '../pmda/config-schema';
import {
  UNITS,
  type FetchResult,
  type FetchValue,
  type MetricSpec,
  type ModuleContext,
  type ModuleInstance,
  type ModuleSpec,
} from '../pmda/module';
import { Collector } from './profile/collect';
import { HotStacks } from './profile/hot-stacks';
import { Sampler, UNWIND_MAX_MAPS } from './profile/sampler';
import { profileValue } from './profile/stack-tree';
import { Symbolizer } from './profile/symbolizer';
import { CHUNK_BYTES, Unwinder } from './profile/unwinder';
import { filterConfig, TaskFilter } from './shared/filter';
import { asUnavailable } from './shared/tool';

const CLUSTER = 14;
const INDOM = 14;
/** How often the kernel maps are drained and symbolised while sampling. */
const DRAIN_MS = 1000;
/** A fetch drains first unless a drain ran this recently. */
const FETCH_DRAIN_MIN_MS = 200;
/** Symbolisation slice between two turns of the event loop (pmcd requests wait meanwhile). */
const SLICE_MS = 25;
/** A stop names the backlog at once if it takes no longer than this; else it goes on in slices. */
const STOP_BUDGET_MS = 250;

const ITEM = { profile: 0, stacks: 1, samples: 2, missedUser: 3, missedKernel: 4, lost: 5, unwindBytes: 6, unwindDropped: 7 } as const;
/** Processes the unwinder holds mappings for (32 bytes × 128 mappings each, from the limit). */
const UNWIND_PROCS = 256;
/** Unwinder work (reading maps, building tables) per turn of the event loop. */
const UNWIND_SLICE_MS = 25;

const STORE_HELP =
  'pmstore bcc.proc.profile start|stop (refused with PM_ERR_PERMISSION unless allow_store = true in\n' +
  "the [profile] section). Security: pmcd accepts stores from local clients only, but pmproxy is a\n" +
  'local client: with allow_store on, any HTTP client that can reach pmproxy (port 44322) can start\n' +
  'and stop the sampler (GET /pmapi/store). Bind pmproxy to loopback or require authentication first.\n';

const STACKS_HELP =
  'Samples per stack, cumulative (a counter: take its rate for samples per second). Instances are the\n' +
  'max_stacks stacks with the most samples in the last `window` seconds; a stack leaving that set is\n' +
  'dropped from the instance domain and keeps its id (and its count) if it comes back.\n' +
  'Instance name: "comm,pid" then one frame per line, outermost (main, syscall entry) first, user\n' +
  'frames before kernel frames, as grafana-pcp\'s flame graph processor splits them (on newline and\n' +
  'comma). Names contain no ASCII space, because PCP identifies an instance by its name up to the\n' +
  'first space: spaces inside frames (JIT frames "JS:*fn /x.js:1") and comms are written as "_",\n' +
  'commas inside them as ";", control characters as "?". Frames are function names without\n' +
  'offsets; "module+0xaddr" when the file has no symbol there, "[unknown]" when nothing is mapped,\n' +
  '"[Missed User Stack]"/"[Missed Kernel Stack]" when the kernel could not store the stack.\n';

function metric(item: number, name: string, type: MetricSpec['type'], sem: MetricSpec['sem'], indom: number | null, oneline: string, help: string): MetricSpec {
  return { name, item, type, sem, units: sem === PM_SEM.COUNTER ? UNITS.count : UNITS.none, indom, oneline, help };
}

function bytesMetric(item: number, name: string, oneline: string, help: string): MetricSpec {
  return { name, item, type: PM_TYPE.U64, sem: PM_SEM.INSTANT, units: UNITS.byte, indom: null, oneline, help };
}

export const profile: ModuleSpec = {
  name: 'profile',
  cluster: CLUSTER,
  // 47 samples a second per CPU and a symbolisation pass a second: cheap (bench/profile.bench.ts).
  defaultEnabled: true,
  indoms: [
    {
      serial: INDOM,
      oneline: 'hottest sampled stacks of the rolling window',
      help:
        'One instance per stack, named "comm,pid\\nframe\\nframe..." outermost frame first; see bcc.proc.stacks.\n' +
        'Ids are never reused for another stack.\n',
      labels: { metrictype: 'stacks' },
      // Stack names are kilobytes and mostly short-lived (pids): keep only the id high-water
      // mark across restarts, and forget long-idle names, rather than megabytes of state.
      persist: 'ids',
      remember: 1024,
    },
  ],
  metrics: [
    metric(
      ITEM.profile,
      'bcc.proc.profile',
      PM_TYPE.STRING,
      PM_SEM.INSTANT,
      null,
      'stack traces',
      'CPU profile on demand, as pmdabcc: JSON {"status": "stopped|starting|started|stopping", "data": tree}.\n' +
        'data is null until a profile has been stopped, then the tree of the samples taken between start and\n' +
        'stop: nodes {"name", "libtype": "user"|"kernel", "value", "children"}, root "root", then the comm, then\n' +
        'user frames outermost first, then kernel frames; value counts the samples of the whole subtree.\n' +
        STORE_HELP,
    ),
    metric(ITEM.stacks, 'bcc.proc.stacks', PM_TYPE.U64, PM_SEM.COUNTER, INDOM, 'samples per hot stack (continuous flame graph)', STACKS_HELP),
    metric(
      ITEM.samples,
      'bcc.proc.sampler.samples',
      PM_TYPE.U64,
      PM_SEM.COUNTER,
      null,
      'stack samples taken',
      'Samples the profile sampler recorded (all CPUs, after the process filter) since the agent started.\n',
    ),
    metric(
      ITEM.missedUser,
      'bcc.proc.sampler.missed_user_stacks',
      PM_TYPE.U64,
      PM_SEM.COUNTER,
      null,
      'samples whose user stack could not be stored',
      'Samples whose user stack the kernel could not store: a hash collision in the stack map (-EEXIST)\n' +
        'or no room (-ENOMEM); raise stack_storage_size if this grows. A thread without user space (kernel\n' +
        'threads) has no user stack; that is not counted here.\n',
    ),
    metric(
      ITEM.missedKernel,
      'bcc.proc.sampler.missed_kernel_stacks',
      PM_TYPE.U64,
      PM_SEM.COUNTER,
      null,
      'samples whose kernel stack could not be stored',
      'As missed_user_stacks, for kernel stacks. A sample taken in user mode has no kernel stack; that is\n' + 'not counted here.\n',
    ),
    metric(
      ITEM.lost,
      'bcc.proc.sampler.lost',
      PM_TYPE.U64,
      PM_SEM.COUNTER,
      null,
      'samples dropped because the counts map or the naming queue was full',
      'Samples the kernel could not count because the map of (process, stack) counts was full between two\n' +
        'drains (it holds stack_storage_size entries, at least 8192, and is drained every second), and samples the agent\n' +
        'dropped because its queue of stacks waiting to be named was full (naming could not keep up).\n',
    ),
    bytesMetric(
      ITEM.unwindBytes,
      'bcc.proc.sampler.unwind_table_bytes',
      'kernel memory holding .eh_frame unwind tables',
      'Bytes of the unwinder\'s row map that hold tables of mapped files (unwinder = auto or eh_frame), one\n' +
        'table per file however many processes map it. The map itself is preallocated at unwind_memory_limit.\n' +
        '0 while user stacks are walked by frame pointers.\n',
    ),
    metric(
      ITEM.unwindDropped,
      'bcc.proc.sampler.unwind_dropped',
      PM_TYPE.U64,
      PM_SEM.COUNTER,
      null,
      'unwind tables or processes left out for lack of room',
      'Unwind tables that did not fit unwind_memory_limit or were evicted to make room for others, and\n' +
        'processes beyond the unwinder\'s 256 process slots. Their frames are walked by frame pointers instead\n' +
        '(stacks of code built without them end early). Raise unwind_memory_limit if this grows.\n',
    ),
  ],
  config: {
    ...filterConfig(),
    cpu: cfg.int(-1, { min: -1, max: 8191 }, 'CPU to sample; -1 samples every online CPU.'),
    sample_frequency: cfg.int(47, { min: 0, max: 100000 }, 'Samples per second on each CPU (pmdabcc default 47); 0 uses sample_period instead.'),
    sample_period: cfg.int(1000000, { min: 1000, max: 60_000_000_000 }, 'Nanoseconds of CPU time between samples, used when sample_frequency is 0.'),
    user_stacks_only: cfg.bool(false, 'Collect user stacks only.'),
    kernel_stacks_only: cfg.bool(false, 'Collect kernel stacks only.'),
    include_idle: cfg.bool(true, 'Also sample the idle task (swapper, pid 0), as pmdabcc did.'),
    stack_storage_size: cfg.int(16384, { min: 16, max: 1048576 }, 'Stacks each of the two stack maps holds (they take turns, one drain interval each); the counts maps hold as many (process, stack) pairs, at least 8192. Kernel memory: ~1 KiB per stack per map (127 frames), ~37 MB at the default.'),
    allow_store: cfg.bool(false, 'Accept pmstore bcc.proc.profile start|stop. Off by default: anyone who can reach pmproxy over HTTP can store through it.'),
    continuous: cfg.bool(true, 'Sample all the time, feeding bcc.proc.stacks; off, the sampler runs only between start and stop.'),
    window: cfg.int(60, { min: 1, max: 86400 }, 'Seconds of samples that decide which stacks are bcc.proc.stacks instances.'),
    max_stacks: cfg.int(100, { min: 1, max: 100000 }, 'Most instances of bcc.proc.stacks.'),
    unwinder: cfg.enumOf('frame_pointer', ['auto', 'eh_frame', 'frame_pointer'] as const,
      'How user stacks are walked. eh_frame: with unwind tables built from each mapped file\'s .eh_frame/.debug_frame (whole stacks of code built without frame pointers, as most distribution packages), frame pointers where a pc has no table (JIT code); the module is unavailable if the kernel refuses that program. auto: the same, falling back to frame_pointer if it is refused. frame_pointer: the kernel\'s walker (bpf_get_stackid). bcc.pmda.module.variant says which runs.'),
    unwind_memory_limit: cfg.int(16, { min: 2, max: 4096 }, 'MiB of kernel memory for unwind tables and the process mappings that point at them (preallocated when the unwinder runs; node\'s 99 MB binary needs ~4.5 MiB, libc ~0.35 MiB). What does not fit is counted in bcc.proc.sampler.unwind_dropped.'),
  },
  create(ctx) {
    if (ctx.config.user_stacks_only && ctx.config.kernel_stacks_only) {
      throw new ConfigError('profile', 'kernel_stacks_only', 'cannot be true together with user_stacks_only');
    }
    return new Profile(ctx);
  },
};

/** perf_event_open says only EINVAL for a rate above the kernel's limit: say which limit. */
export function checkSampleRate(hz: number, max: number): void {
  if (hz > 0 && max > 0 && hz > max) {
    throw new ConfigError(
      'profile',
      'sample_frequency',
      `${hz} Hz is above kernel.perf_event_max_sample_rate (${max}); the kernel lowers that limit when sampling interrupts run long`,
    );
  }
}

type Status = 'stopped' | 'starting' | 'started' | 'stopping';

class Profile implements ModuleInstance {
  private sampler: Sampler | null = null;
  private filter: TaskFilter | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly symbolizer: Symbolizer;
  private readonly hot: HotStacks | null;
  private readonly collector: Collector;
  private status: Status = 'stopped';
  private data: string | null = null;
  private lastDrain = -Infinity;
  private pumping = false;
  private failures = 0;
  private ticks = 0;
  private unwinder: Unwinder | null = null;
  private unwindScheduled = false;
  /** unwind_dropped of unwinders stopped since the agent started (the counter never goes back). */
  private unwindDroppedBefore = 0;

  constructor(private readonly ctx: ModuleContext) {
    this.symbolizer = new Symbolizer({ log: ctx.log });
    // With continuous off there is no window to feed: bcc.proc.stacks stays empty.
    this.hot = ctx.config.continuous
      ? new HotStacks(ctx.indom(INDOM), { windowMs: (ctx.config.window as number) * 1000, maxStacks: ctx.config.max_stacks as number })
      : null;
    this.collector = new Collector(this.symbolizer, this.hot);
  }

  async start(): Promise<void> {
    if (this.ctx.config.continuous) this.startSampling();
  }

  private cpus(): number[] {
    const online = onlineCpus();
    const want = this.ctx.config.cpu as number;
    if (want === -1) return online;
    if (!online.includes(want)) throw new ConfigError('profile', 'cpu', `CPU ${want} is not online (online: ${online.join(',')})`);
    return [want];
  }

  private checkRate(): void {
    let max = 0;
    try {
      max = Number(fs.readFileSync('/proc/sys/kernel/perf_event_max_sample_rate', 'utf8').trim());
    } catch {
      return; // no such sysctl: let perf_event_open decide
    }
    checkSampleRate(this.ctx.config.sample_frequency as number, max);
  }

  private startSampling(): void {
    if (this.sampler) return;
    this.checkRate();
    const c = this.ctx.config;
    const filter = TaskFilter.fromConfig(c, this.ctx.log);
    const sampler = new Sampler({
      bpfFile: path.join(this.ctx.paths.bpfDir, 'profile.bpf.o'),
      cpus: this.cpus(),
      ...((c.sample_frequency as number) > 0 ? { frequency: c.sample_frequency as number } : { period: c.sample_period as number }),
      userStacksOnly: c.user_stacks_only as boolean,
      kernelStacksOnly: c.kernel_stacks_only as boolean,
      includeIdle: c.include_idle as boolean,
      stackStorageSize: c.stack_storage_size as number,
      unwinder: c.unwinder as 'auto' | 'eh_frame' | 'frame_pointer',
      unwindChunks: Math.floor(((c.unwind_memory_limit as number) * 1048576 - UNWIND_PROCS * UNWIND_MAX_MAPS * 32) / CHUNK_BYTES),
      unwindProcs: UNWIND_PROCS,
      configure: (obj) => filter.configure(obj),
      onNewProcess: (tgid) => {
        this.symbolizer.observe(tgid);
        this.unwinder?.observe(tgid);
        this.scheduleUnwind();
      },
      log: this.ctx.log,
    });
    let variant: string;
    try {
      variant = sampler.start();
    } catch (e) {
      throw asUnavailable(e, 'software cpu-clock sampling is not available');
    }
    filter.start(sampler.objectHandle!);
    const maps = sampler.unwindMaps();
    this.unwinder = maps ? new Unwinder({ maps, log: this.ctx.log }) : null;
    this.sampler = sampler;
    this.filter = filter;
    this.ctx.status.setVariant(variant + (filter.active ? ` filter ${filter.describe()}` : ''));
    // kallsyms takes a few hundred ms to read: now, rather than in the first drain.
    this.symbolizer.preloadKernel();
    this.timer = setInterval(() => this.tick(), DRAIN_MS);
    this.timer.unref();
  }

  /** Build tables for newly seen processes soon, in slices, rather than at the next drain:
   *  until its entry exists a process is walked by frame pointers only. */
  private scheduleUnwind(): void {
    if (this.unwindScheduled || !this.unwinder) return;
    this.unwindScheduled = true;
    setImmediate(() => {
      this.unwindScheduled = false;
      let done = true;
      this.guard('unwind tables', () => {
        done = this.unwinder?.run(UNWIND_SLICE_MS) ?? true;
      });
      if (!done) this.scheduleUnwind();
    });
  }

  private stopSampling(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.unwindDroppedBefore += this.unwinder?.stats.dropped ?? 0;
    this.unwinder?.clear();
    this.unwinder = null;
    this.filter?.stop();
    this.filter = null;
    this.sampler?.stop();
    this.sampler = null;
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      // A failing drain must not take the agent down; say so once per burst, not every second.
      if (this.failures++ % 60 === 0) this.ctx.log.error({ err: e, failures: this.failures }, `profile ${what} failed`);
    }
  }

  /** Move what the kernel sampled into the queue (a few syscalls). */
  private drainKernel(now = Date.now()): void {
    if (!this.sampler) return;
    this.lastDrain = now;
    const d = this.sampler.drain();
    const dropped = this.collector.dropped;
    this.collector.push(d);
    const lost = d.lost + this.collector.dropped - dropped;
    if (lost > 0) this.ctx.status.addLost(lost);
  }

  /** Name queued stacks in slices, yielding to the event loop between them. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    const slice = () => {
      let empty = true;
      this.guard('symbolisation', () => {
        empty = this.collector.run(SLICE_MS);
      });
      if (empty) this.pumping = false;
      else setImmediate(slice);
    };
    slice();
  }

  private tick(): void {
    this.guard('drain', () => this.drainKernel());
    this.pump();
    // Start-up garbage (the kallsyms text, the first ELF tables) is freed by then, but glibc
    // keeps freed heap mapped until asked to give it back.
    if (++this.ticks === 2 || this.ticks === 10) trimNativeHeap();
    if (this.ticks % 10 === 0) this.guard('unwinder prune', () => this.unwinder?.prune());
  }

  refresh(items: ReadonlySet<number>): void {
    if (items.has(ITEM.profile) && items.size === 1) return;
    if (Date.now() - this.lastDrain < FETCH_DRAIN_MIN_MS) return;
    this.tick();
  }

  fetch(item: number): FetchResult {
    const single = (v: number) => [{ inst: PM_IN_NULL, value: BigInt(v) }];
    const t = this.collector.totals;
    switch (item) {
      case ITEM.profile:
        return [{ inst: PM_IN_NULL, value: profileValue(this.status, this.data) }];
      case ITEM.stacks:
        return this.hot?.values() ?? [];
      case ITEM.samples:
        return single(t.samples);
      case ITEM.missedUser:
        return single(t.missedUser);
      case ITEM.missedKernel:
        return single(t.missedKernel);
      case ITEM.lost:
        return single(t.lost);
      case ITEM.unwindBytes:
        return single(this.unwinder?.stats.tableBytes ?? 0);
      case ITEM.unwindDropped:
        return single(this.unwindDroppedBefore + (this.unwinder?.stats.dropped ?? 0));
      default:
        return PM_ERR.PMID;
    }
  }

  store(item: number, _inst: number, value: FetchValue): number {
    if (item !== ITEM.profile) return PM_ERR.PERMISSION;
    if (!this.ctx.config.allow_store) {
      this.ctx.log.info({ metric: 'bcc.proc.profile' }, 'store refused: allow_store is off in [profile]');
      return PM_ERR.PERMISSION;
    }
    const cmd = typeof value === 'string' ? value.trim() : '';
    if (cmd === 'start') return this.startProfile();
    if (cmd === 'stop') return this.stopProfile();
    this.ctx.log.warn({ value: String(value) }, 'bcc.proc.profile takes "start" or "stop"');
    return PM_ERR.BADSTORE;
  }

  /** pmdabcc's start: ignored (with a log line) unless stopped. */
  private startProfile(): number {
    if (this.status !== 'stopped') {
      this.ctx.log.info({ status: this.status }, 'profile start ignored: not stopped');
      return 0;
    }
    this.status = 'starting';
    this.data = null;
    try {
      this.startSampling();
      // What the kernel has so far belongs to the continuous window only.
      this.drainKernel();
    } catch (e) {
      this.status = 'stopped';
      this.ctx.log.error({ err: e }, 'profile start failed');
      return PM_ERR.GENERIC;
    }
    this.collector.startSession((tree) => {
      this.data = tree.toJson();
      this.status = 'stopped';
      this.ctx.log.info({ samples: tree.total, nodes: tree.nodeCount }, 'profiling stopped');
    });
    this.status = 'started';
    this.pump();
    this.ctx.log.info('profiling started');
    return 0;
  }

  /** pmdabcc's stop: "stopping" until the samples up to now are named, then "stopped" with the tree. */
  private stopProfile(): number {
    if (this.status !== 'started') {
      this.ctx.log.info({ status: this.status }, 'profile stop ignored: not started');
      return 0;
    }
    this.status = 'stopping';
    this.guard('drain', () => this.drainKernel());
    this.collector.stopSession();
    if (!this.ctx.config.continuous) this.stopSampling();
    // Usually the backlog is under a second of samples and the tree is ready on return.
    this.guard('symbolisation', () => this.collector.run(STOP_BUDGET_MS));
    this.pump();
    return 0;
  }

  async stop(): Promise<void> {
    this.collector.cancelSession();
    this.stopSampling();
    this.collector.clear();
    this.status = 'stopped';
  }
}
