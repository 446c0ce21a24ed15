// biotop's ranking and decoding on hand-built map entries (layout of struct io_key / io_val in
// bpf/biotop.bpf.c), its sort option and the disk-name cache. The kernel test proves the same
// code on real I/O; this one covers every sort order and tie exactly.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiskNames, biotop, rankIo, sortKey, type IoRow, type SortSpec } from '../../src/modules/biotop';
import { parseSection, ConfigError } from '../../src/pmda/config-schema';

interface Entry {
  pid: number;
  comm: string;
  write: boolean;
  major?: number;
  minor?: number;
  bytes: number;
  io: number;
  ns: number;
}

function pack(entries: Entry[]) {
  const keys = Buffer.alloc(entries.length * 32);
  const values = Buffer.alloc(entries.length * 24);
  entries.forEach((e, i) => {
    keys.writeUInt32LE(e.pid, i * 32);
    keys.writeUInt32LE(e.major ?? 254, i * 32 + 4);
    keys.writeUInt32LE(e.minor ?? 0, i * 32 + 8);
    keys.writeUInt32LE(e.write ? 1 : 0, i * 32 + 12);
    keys.write(e.comm, i * 32 + 16);
    values.writeBigUInt64LE(BigInt(e.bytes), i * 24);
    values.writeBigUInt64LE(BigInt(e.ns), i * 24 + 8);
    values.writeBigUInt64LE(BigInt(e.io), i * 24 + 16);
  });
  return { keys, values, count: entries.length };
}

function diskstats(lines: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'biotop-'));
  const file = path.join(dir, 'diskstats');
  fs.writeFileSync(file, lines);
  return file;
}

const disks = new DiskNames(diskstats(' 254       0 vda 1 2 3 4\n   7       0 loop0 0 0 0\n'));

const ENTRIES: Entry[] = [
  { pid: 10, comm: 'big', write: true, bytes: 8_000_000, io: 100, ns: 100 * 50_000 }, // avg 50 µs
  { pid: 11, comm: 'many', write: false, bytes: 400_000, io: 1000, ns: 1000 * 10_000 }, // avg 10 µs
  { pid: 12, comm: 'slow', write: false, bytes: 1_000_000, io: 2, ns: 2 * 9_000_000 }, // avg 9000 µs
  { pid: 13, comm: 'writer', write: true, bytes: 2_000_000, io: 10, ns: 10 * 1_000_000 },
  { pid: 0, comm: '', write: false, bytes: 99_000_000, io: 7, ns: 7000 }, // residual: most bytes
];

function rank(sort: string, limit = 10, includeResidual = false): IoRow[] {
  const { keys, values, count } = pack(ENTRIES);
  return rankIo(keys, values, count, limit, { sort: sortKey.parse(sort), includeResidual, disks });
}
const pids = (rows: IoRow[]) => rows.map((r) => r.pid);

describe('biotop ranking', () => {
  it('-bytes (the default): most bytes first; pid 0 left out unless include_residual', () => {
    expect(pids(rank('-bytes'))).toEqual([10, 13, 12, 11]);
    expect(pids(rank('-bytes', 10, true))).toEqual([0, 10, 13, 12, 11]);
    expect(sortKey.default).toEqual({ field: 'bytes', descending: true });
  });

  it('bytes ascending, io, duration (average), rw', () => {
    expect(pids(rank('bytes'))).toEqual([11, 12, 13, 10]);
    expect(pids(rank('-io'))).toEqual([11, 10, 13, 12]);
    expect(pids(rank('io'))).toEqual([12, 13, 10, 11]);
    expect(pids(rank('-duration'))).toEqual([12, 13, 10, 11]);
    expect(pids(rank('duration'))).toEqual([11, 10, 13, 12]);
    // rw: reads first, each direction by bytes (most first); -rw: writes first
    expect(pids(rank('rw'))).toEqual([12, 11, 10, 13]);
    expect(pids(rank('-rw'))).toEqual([10, 13, 12, 11]);
  });

  it('keeps exactly the limit, the best ones', () => {
    expect(pids(rank('-bytes', 2))).toEqual([10, 13]);
  });

  it('breaks ties by bytes, then pid, whatever order the kernel returned them in', () => {
    const tied: Entry[] = [
      { pid: 30, comm: 'c', write: false, bytes: 100, io: 5, ns: 5 },
      { pid: 20, comm: 'b', write: false, bytes: 100, io: 5, ns: 5 },
      { pid: 40, comm: 'd', write: false, bytes: 900, io: 5, ns: 5 },
      // threads of one process with different comms: the comm decides, in byte order
      { pid: 50, comm: 'worker-b', write: false, bytes: 50, io: 5, ns: 5 },
      { pid: 50, comm: 'worker-a', write: false, bytes: 50, io: 5, ns: 5 },
    ];
    for (const order of [tied, [...tied].reverse()]) {
      const { keys, values, count } = pack(order);
      const rows = rankIo(keys, values, count, 10, { sort: sortKey.parse('-io'), includeResidual: false, disks });
      expect(rows.map((r) => `${r.pid}/${r.comm}`)).toEqual(['40/d', '20/b', '30/c', '50/worker-a', '50/worker-b']);
    }
  });

  it('decodes every field of a row', () => {
    const [row] = rank('-bytes', 1);
    expect(row).toEqual({
      pid: 10,
      comm: 'big',
      direction: 'W',
      major: 254,
      minor: 0,
      disk: 'vda',
      io: 100,
      bytes: 8_000_000n,
      duration: 50,
    });
  });
});

describe('biotop sort option', () => {
  it('accepts the four fields with or without "-"', () => {
    const cases: [string, SortSpec][] = [
      ['bytes', { field: 'bytes', descending: false }],
      ['-io', { field: 'io', descending: true }],
      [' -duration ', { field: 'duration', descending: true }],
      ['rw', { field: 'rw', descending: false }],
    ];
    for (const [raw, spec] of cases) expect(sortKey.parse(raw)).toEqual(spec);
  });

  it('names the section, key and the allowed values for a bad one', () => {
    expect(() => parseSection('biotop', biotop.config, { sort: '+bytes' })).toThrow(ConfigError);
    expect(() => parseSection('biotop', biotop.config, { sort: 'latency' })).toThrow(
      /\[biotop\] sort: expected one of bytes, io, duration, rw, optionally with a leading '-' for descending; got "latency"/,
    );
    expect(() => parseSection('biotop', biotop.config, { process_count: '0' })).toThrow(/\[biotop\] process_count: 0 is below the minimum 1/);
  });
});

describe('DiskNames', () => {
  it('maps major:minor as /proc/diskstats does and says "?" for an unknown device', () => {
    expect(disks.name(254, 0)).toBe('vda');
    expect(disks.name(7, 0)).toBe('loop0');
    expect(disks.name(8, 16)).toBe('?');
  });

  it('re-reads the file when an unknown device shows up (hot-plug)', () => {
    const file = diskstats(' 254 0 vda 0\n');
    const d = new DiskNames(file, 0);
    expect(d.name(8, 0)).toBe('?');
    fs.writeFileSync(file, ' 254 0 vda 0\n   8 0 sda 0\n');
    expect(d.name(8, 0)).toBe('sda');
  });

  it('reads the real /proc/diskstats: the root disk has a name', () => {
    const real = new DiskNames();
    const [maj, min] = fs.readFileSync('/proc/diskstats', 'utf8').trim().split('\n')[0]!.trim().split(/\s+/).map(Number);
    expect(real.name(maj!, min!)).not.toBe('?');
  });
});
