// biotop's user-space half: decoding one interval's (io_key → io_val) batch into ranked rows,
// the `sort` option, and disk names. The declaration is in biotop.ts.
import * as fs from 'node:fs';
import type { ExpectedLayout } from '../bpf';
import type { ConfigKey } from '../pmda/config-schema';
import { cString, u64Number } from './shared/bytes';
import { selectTop } from './shared/topn';

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

/** What the decoder below assumes, checked against the object's BTF at load. */
export const IO_LAYOUTS: ExpectedLayout[] = [
  { struct: 'io_key', size: KEY_SIZE, fields: { pid: K_PID, major: K_MAJOR, minor: K_MINOR, write: K_WRITE, comm: { offset: K_COMM, size: 16 } } },
  { struct: 'io_val', size: VAL_SIZE, fields: { bytes: V_BYTES, ns: V_NS, io: V_IO } },
];

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
