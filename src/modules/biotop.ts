// biotop → bcc.proc.io.perdev.* (pmdabcc cluster 10): which processes did block I/O in the last
// interval, one row per (process, disk, direction), the top process_count rows by `sort`.
// Kernel side: bpf/biotop.bpf.c. Shape: shared/topn.ts.
import * as fs from 'node:fs';
import { kernelFeatures, needKprobes, type Hook } from '../bpf';
import { PM_TYPE } from '../pcp/types';
import type { ConfigKey } from '../pmda/config-schema';
import { cfg } from '../pmda/config-schema';
import { UNITS } from '../pmda/module';
import type { Field } from './shared/fields';
import { cString, u64Number } from './shared/bytes';
import { variantKey } from './shared/tool';
import { selectTop } from './shared/topn';
import { defineTopNTool } from './shared/topn-tool';

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
  const kprobes = (fns: string[]) => needKprobes(...fns);
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

const ROW_HELP = 'Instance "N" is rank N of the last interval (see the module\'s sort option); unfilled ranks have no value.\n';

const field = (item: number, f: Omit<Field<IoRow>, 'item'>): Field<IoRow> => ({ item, ...f });

export const biotop = defineTopNTool({
  name: 'biotop',
  cluster: CLUSTER,
  // Three short programs per block I/O: cheap next to the I/O itself.
  defaultEnabled: true,
  prefix: PREFIX,
  indom: {
    serial: INDOM,
    oneline: 'top block I/O (process, disk, direction) rows of the last interval, in rank order',
    help:
      'Instances "0".."process_count-1": rank 0 is the row with the most bytes by default (option sort).\n' +
      'A row is one process (pid, comm) doing I/O to one disk in one direction during the last interval.\n',
  },
  rowHelp: ROW_HELP,
  fields: [
    field(0, {
      leaf: 'pid',
      type: PM_TYPE.U32,
      oneline: 'process id that submitted the I/O',
      help: 'Process (thread group) id of the task that submitted the I/O; 0 when it was not seen (include_residual).\n',
      get: (r) => r.pid,
    }),
    field(1, { leaf: 'comm', type: PM_TYPE.STRING, oneline: 'command of the submitting task', help: "The submitting task's command name (the thread's comm, as ps shows).\n", get: (r) => r.comm }),
    field(2, {
      leaf: 'direction',
      type: PM_TYPE.STRING,
      oneline: 'I/O direction: R (read) or W (write)',
      help: 'R for reads, W for writes. Flushes, discards and write-zeroes move no data and are not counted.\n',
      get: (r) => r.direction,
    }),
    field(3, { leaf: 'major', type: PM_TYPE.U32, oneline: 'disk major number', help: 'Major device number of the disk (whole disk, not the partition).\n', get: (r) => r.major }),
    field(4, { leaf: 'minor', type: PM_TYPE.U32, oneline: 'disk minor number', help: 'Minor device number of the disk (its first minor).\n', get: (r) => r.minor }),
    field(5, { leaf: 'disk', type: PM_TYPE.STRING, oneline: 'disk name', help: 'Disk name as /proc/diskstats lists it ("?" when it does not).\n', get: (r) => r.disk }),
    field(6, { leaf: 'io', type: PM_TYPE.U32, oneline: 'number of I/Os completed in the last interval', help: 'Completed I/O requests of this row in the last interval.\n', get: (r) => r.io }),
    field(7, {
      leaf: 'bytes',
      type: PM_TYPE.U64,
      units: UNITS.byte,
      oneline: 'bytes transferred in the last interval',
      help: 'Bytes of the completed requests of this row in the last interval.\n',
      get: (r) => r.bytes,
    }),
    field(8, {
      leaf: 'duration',
      type: PM_TYPE.U32,
      units: UNITS.usec,
      oneline: 'average I/O time in the last interval',
      help: 'Average time from issue to the device until completion, in microseconds, over the I/Os of this row.\n',
      get: (r) => r.duration,
    }),
  ],
  config: {
    interval: cfg.int(1, { min: 0, max: 86400 }, 'Seconds per interval; 0 computes the rows at each fetch (they then cover the time since the previous fetch).'),
    process_count: cfg.int(20, { min: 1, max: 1000 }, 'Number of rows (instances "0".."process_count-1").'),
    sort: sortKey,
    include_residual: cfg.bool(false, 'Also show I/O whose submitting process was not seen (pid 0).'),
    variant: variantKey(BIOTOP_VARIANTS),
  },
  sizes: (c) => ({ interval: c.interval, limit: c.process_count }),
  object: 'biotop.bpf.o',
  hooks: biotopHooks,
  layouts: [
    { struct: 'io_key', size: KEY_SIZE, fields: { pid: K_PID, major: K_MAJOR, minor: K_MINOR, write: K_WRITE, comm: { offset: K_COMM, size: 16 } } },
    { struct: 'io_val', size: VAL_SIZE, fields: { bytes: V_BYTES, ns: V_NS, io: V_IO } },
  ],
  ranker(c) {
    const opts: RankOptions = { sort: c.sort, includeResidual: c.include_residual, disks: new DiskNames() };
    return (b, limit) => rankIo(b.keys, b.values, b.count, limit, opts);
  },
});
