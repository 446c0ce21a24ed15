// biotop → bcc.proc.io.perdev.* (pmdabcc cluster 10): which processes did block I/O in the last
// interval, one row per (process, disk, direction), the top process_count rows by `sort`.
// Kernel side: bpf/biotop.bpf.c. Shape: shared/topn.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NoVariantError, kernelFeatures, loadWithVariants, type Hook, type Loaded } from '../bpf';
import { PM_ERR, PM_SEM, PM_TYPE } from '../pcp/types';
import type { ConfigKey } from '../pmda/config-schema';
import { cfg } from '../pmda/config-schema';
import { ModuleUnavailable, UNITS, type MetricSpec, type ModuleContext, type ModuleInstance, type ModuleSpec } from '../pmda/module';
import { CountBuffers, TopNTable, cString, onlyVariant, selectTop, u64Number } from './shared/topn';

const CLUSTER = 10;
const INDOM = 10;
const PREFIX = 'bcc.proc.io.perdev.';

// struct io_key / io_val in biotop.bpf.c
const KEY_SIZE = 32;
const K_PID = 0;
const K_MAJOR = 4;
const K_MINOR = 8;
const K_WRITE = 12;
const K_COMM = 16;
const VAL_SIZE = 24;
const V_BYTES = 0;
const V_NS = 8;
const V_IO = 16;

export interface IoRow {
  pid: number;
  comm: string;
  direction: 'R' | 'W';
  major: number;
  minor: number;
  disk: string;
  io: number;
  bytes: bigint;
  /** average usec per I/O */
  duration: number;
}

export type SortField = 'bytes' | 'io' | 'duration' | 'rw';
export interface SortSpec {
  field: SortField;
  descending: boolean;
}

const SORT_FIELDS: readonly SortField[] = ['bytes', 'io', 'duration', 'rw'];

/** pmdabcc's `sort`: a field, with a leading '-' for descending. */
export const sortKey: ConfigKey<SortSpec> = {
  default: { field: 'bytes', descending: true },
  doc:
    "Row order: bytes, io, duration (average usec) or rw, with a leading '-' for descending (default -bytes). " +
    "rw puts reads before writes (-rw: writes first); rows of one direction then go by bytes, most first. " +
    'Every order breaks ties by bytes (most first), then pid, major, minor.',
  parse(raw) {
    const v = raw.trim();
    const descending = v.startsWith('-');
    const field = (descending ? v.slice(1) : v) as SortField;
    if (!SORT_FIELDS.includes(field)) {
      throw new Error(`expected one of ${SORT_FIELDS.join(', ')}, optionally with a leading '-' for descending; got "${raw}"`);
    }
    return { field, descending };
  },
  format: (s) => `${s.descending ? '-' : ''}${s.field}`,
};

/** major:minor → name as /proc/diskstats lists it, re-read when a device is not known (hot-plug). */
export class DiskNames {
  private names = new Map<string, string>();
  private loadedAt = -Infinity;

  constructor(
    private readonly file = '/proc/diskstats',
    /** Re-read at most this often while a device stays unknown. */
    private readonly minRereadMs = 1000,
  ) {}

  private load(): void {
    this.loadedAt = Date.now();
    const names = new Map<string, string>();
    let text = '';
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      // No diskstats (odd container): names become "?" as in pmdabcc; the rows still count.
    }
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 3) names.set(`${f[0]}:${f[1]}`, f[2]!);
    }
    this.names = names;
  }

  name(major: number, minor: number): string {
    const key = `${major}:${minor}`;
    let n = this.names.get(key);
    if (n === undefined && Date.now() - this.loadedAt >= this.minRereadMs) {
      this.load();
      n = this.names.get(key);
    }
    return n ?? '?';
  }
}

export interface RankOptions {
  sort: SortSpec;
  includeResidual: boolean;
  disks: DiskNames;
}

/**
 * The best `limit` rows of one interval's entries (packed io_key / io_val as the batch read
 * returns them), best first. Sort fields are read straight from the buffers and only the
 * winners are decoded, so ranking 10 000 keys allocates ~limit rows.
 */
export function rankIo(keys: Buffer, values: Buffer, count: number, limit: number, o: RankOptions): IoRow[] {
  const primary = new Float64Array(count);
  const bytes = new Float64Array(count);
  const sign = o.sort.descending ? 1 : -1;
  for (let i = 0; i < count; i++) {
    const v = i * VAL_SIZE;
    const b = u64Number(values, v + V_BYTES);
    bytes[i] = b;
    let p: number;
    switch (o.sort.field) {
      case 'bytes':
        p = b;
        break;
      case 'io':
        p = u64Number(values, v + V_IO);
        break;
      case 'duration': {
        const io = u64Number(values, v + V_IO);
        p = io ? u64Number(values, v + V_NS) / io : 0;
        break;
      }
      case 'rw':
        p = keys.readUInt32LE(i * KEY_SIZE + K_WRITE);
        break;
    }
    primary[i] = sign * p;
  }
  const before = (a: number, b: number): boolean => {
    if (primary[a] !== primary[b]) return primary[a]! > primary[b]!;
    if (bytes[a] !== bytes[b]) return bytes[a]! > bytes[b]!;
    const ka = a * KEY_SIZE;
    const kb = b * KEY_SIZE;
    for (const off of [K_PID, K_MAJOR, K_MINOR, K_WRITE]) {
      const x = keys.readUInt32LE(ka + off);
      const y = keys.readUInt32LE(kb + off);
      if (x !== y) return x < y;
    }
    // (Buffer#compare compares the source range, the last two arguments, against the target's)
    return keys.compare(keys, kb + K_COMM, kb + KEY_SIZE, ka + K_COMM, ka + KEY_SIZE) < 0;
  };
  const keep = o.includeResidual ? undefined : (i: number) => keys.readUInt32LE(i * KEY_SIZE + K_PID) !== 0;
  return selectTop(count, limit, before, keep).map((i) => {
    const k = i * KEY_SIZE;
    const v = i * VAL_SIZE;
    const major = keys.readUInt32LE(k + K_MAJOR);
    const minor = keys.readUInt32LE(k + K_MINOR);
    const io = u64Number(values, v + V_IO);
    const avgUs = io ? Math.floor(u64Number(values, v + V_NS) / io / 1000) : 0;
    return {
      pid: keys.readUInt32LE(k + K_PID),
      comm: cString(keys, k + K_COMM, 16),
      direction: keys.readUInt32LE(k + K_WRITE) ? 'W' : 'R',
      major,
      minor,
      disk: o.disks.name(major, minor),
      io: Math.min(io, 0xffffffff),
      bytes: values.readBigUInt64LE(v + V_BYTES),
      duration: Math.min(avgUs, 0xffffffff),
    };
  });
}

const blockTypedefs = ['block_io_start', 'block_rq_issue', 'block_io_done'];

/** Attach variants, best first (bpf-feasibility.md §1-2): one hook, since the three programs of a
 *  variant share how they key a request (pointer or dev+sector) and cannot be mixed. */
export function biotopHooks(): Hook[] {
  const btf = () => {
    const miss = blockTypedefs.filter((t) => !kernelFeatures.hasBtfType(`btf_trace_${t}`, 'typedef'));
    return miss.length ? `kernel BTF lacks tracepoints ${miss.join(', ')} (before 6.5)` : true;
  };
  const kprobes = (fns: string[]) => () => {
    if (!kernelFeatures.kprobesAvailable()) return 'kprobes are not available (no kprobe PMU or kprobe_events)';
    const miss = fns.filter((f) => !kernelFeatures.hasKsym(f));
    return miss.length ? `kernel has no symbol ${miss.join(', ')}` : true;
  };
  const tracepoints = (events: string[]) => () => {
    const miss = events.filter((e) => !kernelFeatures.hasTracepoint('block', e));
    return miss.length ? `no tracepoint block:${miss.join(', block:')}` : true;
  };
  return [
    {
      name: 'block',
      variants: [
        { name: 'tp_btf', programs: ['biotop_start_btf', 'biotop_issue_btf', 'biotop_done_btf'], available: btf },
        { name: 'raw_tp', programs: ['biotop_start_raw', 'biotop_issue_raw', 'biotop_done_raw'], available: btf },
        {
          name: 'kprobe',
          programs: ['biotop_start_kp', 'biotop_issue_kp', 'biotop_done_kp'],
          available: kprobes(['blk_account_io_start', 'blk_mq_start_request', 'blk_account_io_done']),
        },
        {
          name: 'kprobe(__blk_account_io)',
          programs: ['biotop_start_kp2', 'biotop_issue_kp', 'biotop_done_kp2'],
          available: kprobes(['__blk_account_io_start', 'blk_mq_start_request', '__blk_account_io_done']),
        },
        {
          name: 'tracepoint',
          programs: ['biotop_start_tp', 'biotop_issue_tp', 'biotop_done_tp'],
          available: tracepoints(blockTypedefs),
        },
        {
          name: 'tracepoint(bio_queue)',
          programs: ['biotop_queue_tp', 'biotop_issue_tp', 'biotop_complete_tp'],
          available: tracepoints(['block_bio_queue', 'block_rq_issue', 'block_rq_complete']),
        },
      ],
    },
  ];
}

export const BIOTOP_VARIANTS = biotopHooks()[0]!.variants.map((v) => v.name);

function metric(item: number, leaf: string, type: MetricSpec['type'], units: MetricSpec['units'], oneline: string, help: string): MetricSpec {
  return { name: PREFIX + leaf, item, type, sem: PM_SEM.INSTANT, units, indom: INDOM, oneline, help };
}

const ROW_HELP = 'Instance "N" is rank N of the last interval (see the module\'s sort option); unfilled ranks have no value.\n';

export const biotop: ModuleSpec = {
  name: 'biotop',
  cluster: CLUSTER,
  // Three short programs per block I/O: cheap next to the I/O itself.
  defaultEnabled: true,
  indoms: [
    {
      serial: INDOM,
      oneline: 'top block I/O (process, disk, direction) rows of the last interval, in rank order',
      help:
        'Instances "0".."process_count-1": rank 0 is the row with the most bytes by default (option sort).\n' +
        'A row is one process (pid, comm) doing I/O to one disk in one direction during the last interval.\n',
    },
  ],
  metrics: [
    metric(0, 'pid', PM_TYPE.U32, UNITS.none, 'process id that submitted the I/O', 'Process (thread group) id of the task that submitted the I/O; 0 when it was not seen (include_residual).\n' + ROW_HELP),
    metric(1, 'comm', PM_TYPE.STRING, UNITS.none, 'command of the submitting task', "The submitting task's command name (the thread's comm, as ps shows).\n" + ROW_HELP),
    metric(2, 'direction', PM_TYPE.STRING, UNITS.none, 'I/O direction: R (read) or W (write)', 'R for reads, W for writes. Flushes, discards and write-zeroes move no data and are not counted.\n' + ROW_HELP),
    metric(3, 'major', PM_TYPE.U32, UNITS.none, 'disk major number', 'Major device number of the disk (whole disk, not the partition).\n' + ROW_HELP),
    metric(4, 'minor', PM_TYPE.U32, UNITS.none, 'disk minor number', 'Minor device number of the disk (its first minor).\n' + ROW_HELP),
    metric(5, 'disk', PM_TYPE.STRING, UNITS.none, 'disk name', 'Disk name as /proc/diskstats lists it ("?" when it does not).\n' + ROW_HELP),
    metric(6, 'io', PM_TYPE.U32, UNITS.none, 'number of I/Os completed in the last interval', 'Completed I/O requests of this row in the last interval.\n' + ROW_HELP),
    metric(7, 'bytes', PM_TYPE.U64, UNITS.byte, 'bytes transferred in the last interval', 'Bytes of the completed requests of this row in the last interval.\n' + ROW_HELP),
    metric(8, 'duration', PM_TYPE.U32, UNITS.usec, 'average I/O time in the last interval', 'Average time from issue to the device until completion, in microseconds, over the I/Os of this row.\n' + ROW_HELP),
  ],
  config: {
    interval: cfg.int(1, { min: 0, max: 86400 }, 'Seconds per interval; 0 computes the rows at each fetch (they then cover the time since the previous fetch).'),
    process_count: cfg.int(20, { min: 1, max: 1000 }, 'Number of rows (instances "0".."process_count-1").'),
    sort: sortKey,
    include_residual: cfg.bool(false, 'Also show I/O whose submitting process was not seen (pid 0).'),
    variant: cfg.enumOf('auto', ['auto', ...BIOTOP_VARIANTS], 'Attach variant: auto picks the best this kernel supports; naming one forces it (diagnosis).'),
  },
  create: (ctx) => new Biotop(ctx),
};

type Getter = (r: IoRow) => number | bigint | string;
const GETTERS: Getter[] = [
  (r) => r.pid,
  (r) => r.comm,
  (r) => r.direction,
  (r) => r.major,
  (r) => r.minor,
  (r) => r.disk,
  (r) => r.io,
  (r) => r.bytes,
  (r) => r.duration,
];

class Biotop implements ModuleInstance {
  private loaded: Loaded | null = null;
  private buffers: CountBuffers | null = null;
  private readonly table: TopNTable<IoRow>;
  private readonly disks = new DiskNames();

  constructor(private readonly ctx: ModuleContext) {
    const c = ctx.config;
    const opts: RankOptions = { sort: c.sort as SortSpec, includeResidual: c.include_residual as boolean, disks: this.disks };
    this.table = new TopNTable<IoRow>({
      interval: c.interval as number,
      limit: c.process_count as number,
      indom: ctx.indom(INDOM),
      log: ctx.log,
      collect: (limit) => {
        const b = this.buffers;
        if (!b) return [];
        const batch = b.drain();
        const lost = b.takeDropped();
        if (lost) ctx.status.addLost(lost);
        return rankIo(batch.keys, batch.values, batch.count, limit, opts);
      },
    });
  }

  async start(): Promise<void> {
    const file = path.join(this.ctx.paths.bpfDir, 'biotop.bpf.o');
    const hooks = onlyVariant(biotopHooks(), this.ctx.config.variant as string);
    try {
      this.loaded = loadWithVariants(file, hooks, () => {}, this.ctx.log);
    } catch (e) {
      if (e instanceof NoVariantError) throw new ModuleUnavailable(e.message);
      throw e;
    }
    this.buffers = new CountBuffers(this.loaded.obj);
    this.ctx.status.setVariant(this.loaded.chosen.block!);
    this.table.start();
  }

  refresh(): void {
    this.table.beforeFetch();
  }

  fetch(item: number) {
    const get = GETTERS[item];
    if (!get) return PM_ERR.PMID;
    return this.table.values(get);
  }

  async stop(): Promise<void> {
    this.table.stop();
    this.buffers = null;
    this.loaded?.obj.close();
    this.loaded = null;
  }
}
