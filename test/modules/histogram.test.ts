// The shared log2 histogram: bucket naming, instance ids that keep their meaning across
// restarts (persisted indom file), cumulative totals; then one real BPF map (fixture).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import koffi from 'koffi';
import { afterAll, describe, expect, it } from 'vitest';
import { BpfObject, possibleCpus } from '../../src/bpf';
import { InstanceDomain } from '../../src/pmda/indom';
import { HIST_MAX_SLOTS, KeyedLog2Histograms, Log2Histograms, bucketLabels, bucketName, type HistogramMap, type KeyedHistogramMap } from '../../src/modules/shared/histogram';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pmdahist-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A map as lookupBatch returns it: every key of an array, u64 per CPU per key. */
function fakeMap(nhist: number, ncpu: number, counts: Record<number, number[]>): HistogramMap {
  const n = nhist * HIST_MAX_SLOTS;
  return {
    name: 'fake',
    maxEntries: n,
    perCpu: ncpu > 1,
    cpuStride: 8,
    valueBytes: 8 * ncpu,
    lookupBatch() {
      const keys = Buffer.alloc(n * 4);
      const values = Buffer.alloc(n * 8 * ncpu);
      for (let k = 0; k < n; k++) {
        keys.writeUInt32LE(k, k * 4);
        const per = counts[k] ?? [];
        for (let c = 0; c < ncpu; c++) values.writeBigUInt64LE(BigInt(per[c] ?? 0), (k * ncpu + c) * 8);
      }
      return { count: n, keys, values };
    },
  } as HistogramMap;
}

describe('bucket naming', () => {
  it('names slots by their µs range as pmdabcc did', () => {
    expect([0, 1, 2, 3, 4].map(bucketName)).toEqual(['0-1', '2-3', '4-7', '8-15', '16-31']);
    expect(bucketName(10)).toBe('1024-2047');
    expect(bucketName(63)).toBe('9223372036854775808-18446744073709551615');
    expect(bucketLabels(0)).toEqual({ lower_bound: 0, upper_bound: 1 });
    expect(bucketLabels(2)).toEqual({ lower_bound: 4, upper_bound: 7 });
    expect(() => bucketName(64)).toThrow(/slot 64 is outside 0..63/);
    expect(() => bucketName(-1)).toThrow(RangeError);
  });
});

describe('Log2Histograms', () => {
  it('starts with "0-1" only, grows to the highest non-empty slot, sums CPUs', () => {
    const d = new InstanceDomain(0x25400004, null);
    const counts: Record<number, number[]> = {};
    const h = new Log2Histograms(fakeMap(1, 2, counts), d, 1);
    expect(d.instances()).toEqual([{ id: 0, name: '0-1' }]);
    h.refresh();
    expect(h.values(0)).toEqual([{ inst: 0, value: 0n }]);
    counts[3] = [5, 7];
    counts[1] = [1, 0];
    h.refresh();
    expect(d.instances().map((i) => i.name)).toEqual(['0-1', '2-3', '4-7', '8-15']);
    expect(d.instances().map((i) => i.id)).toEqual([0, 1, 2, 3]);
    expect(d.labelsOf(3)).toEqual({ lower_bound: 8, upper_bound: 15 });
    expect(h.values(0)).toEqual([
      { inst: 0, value: 0n },
      { inst: 1, value: 1n },
      { inst: 2, value: 0n },
      { inst: 3, value: 12n },
    ]);
    expect(h.total(0)).toBe(13n);
  });

  it('several histograms share one instance set; a bucket missing in one reads 0', () => {
    const d = new InstanceDomain(0x25400005, null);
    const counts: Record<number, number[]> = { [0 * 64 + 2]: [4], [1 * 64 + 5]: [9], [3 * 64 + 0]: [1] };
    const h = new Log2Histograms(fakeMap(4, 1, counts), d, 4);
    h.refresh();
    expect(h.topSlot).toBe(5);
    expect(h.values(0).map((v) => v.value)).toEqual([0n, 0n, 4n, 0n, 0n, 0n]);
    expect(h.values(1).map((v) => v.value)).toEqual([0n, 0n, 0n, 0n, 0n, 9n]);
    expect(h.values(2).map((v) => v.value)).toEqual([0n, 0n, 0n, 0n, 0n, 0n]);
    expect(h.values(3).map((v) => v.value)).toEqual([1n, 0n, 0n, 0n, 0n, 0n]);
    expect(() => h.values(4)).toThrow(RangeError);
  });

  it('keeps counting across a reload of the BPF object (rebind)', () => {
    const d = new InstanceDomain(0x25400006, null);
    const first: Record<number, number[]> = { 4: [10] };
    const h = new Log2Histograms(fakeMap(1, 1, first), d, 1);
    h.refresh();
    const second: Record<number, number[]> = { 4: [3], 6: [1] };
    h.rebind(fakeMap(1, 1, second));
    h.refresh();
    expect(h.values(0)[4].value).toBe(13n);
    expect(h.values(0)[6].value).toBe(1n);
  });

  it('refuses a map too small for its histograms', () => {
    const d = new InstanceDomain(0x25400007, null);
    expect(() => new Log2Histograms(fakeMap(1, 1, {}), d, 4)).toThrow(/map fake has 64 entries; 4 histograms need 256/);
  });

  it('instance ids survive a restart: persisted, reloaded, same ids for the same buckets', () => {
    const file = path.join(tmp, 'indom-149.4.json');
    const d1 = new InstanceDomain(0x25400004, file);
    const h1 = new Log2Histograms(fakeMap(1, 1, { 2: [1], 7: [1] }), d1, 1);
    h1.refresh();
    const before = d1.instances();
    expect(before.map((i) => i.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).names['128-255']).toBe(7);

    // "Restart": a fresh domain from the file; this time only a low bucket has data at first.
    const d2 = new InstanceDomain(0x25400004, file);
    const counts: Record<number, number[]> = { 1: [1] };
    const h2 = new Log2Histograms(fakeMap(1, 1, counts), d2, 1);
    h2.refresh();
    expect(d2.instances()).toEqual(before.slice(0, 2));
    counts[9] = [2];
    h2.refresh();
    expect(d2.instances().map((i) => [i.id, i.name])).toEqual(Array.from({ length: 10 }, (_, s) => [s, bucketName(s)]));
  });

  it('a persisted file that gave a bucket id to another name is an error, not a silent remap', () => {
    const file = path.join(tmp, 'indom-bad.json');
    fs.writeFileSync(file, JSON.stringify({ version: 1, names: { '0-1': 0, bogus: 1 }, next: 2 }));
    const d = new InstanceDomain(0x25400004, file);
    const h = new Log2Histograms(fakeMap(1, 1, { 1: [1] }), d, 1);
    expect(() => h.refresh()).toThrow(/id 1 is "bogus", not "2-3"/);
  });
});

describe('KeyedLog2Histograms (per disk)', () => {
  /** A per-CPU hash {u32 id, u32 slot} → u64 per CPU, holding only the keys given. */
  function keyedMap(ncpu: number, counts: [id: number, slot: number, perCpu: number[]][]): KeyedHistogramMap {
    return {
      name: 'fake_dev',
      keySize: 8,
      perCpu: true,
      cpuStride: 8,
      valueBytes: 8 * ncpu,
      lookupBatch() {
        const keys = Buffer.alloc(counts.length * 8);
        const values = Buffer.alloc(counts.length * 8 * ncpu);
        counts.forEach(([id, slot, per], i) => {
          keys.writeUInt32LE(id, i * 8);
          keys.writeUInt32LE(slot, i * 8 + 4);
          per.forEach((v, c) => values.writeBigUInt64LE(BigInt(v), (i * ncpu + c) * 8));
        });
        return { count: counts.length, keys, values };
      },
    } as KeyedHistogramMap;
  }
  const names: Record<number, { name: string; label: string }> = {
    1: { name: 'vda', label: 'vda' },
    2: { name: 'loop0', label: 'loop0' },
    3: { name: 'dm_0', label: 'dm-0' },
  };

  it('names instances disk::bucket from 0-1 up to each disk\'s top, with labels; ids survive a restart', () => {
    const file = path.join(tmp, 'indom-149.256.json');
    const d1 = new InstanceDomain(0x25400100, file);
    const k1 = new KeyedLog2Histograms(keyedMap(2, [[1, 2, [3, 4]], [2, 0, [1, 0]]]), d1, (id) => names[id], 'disk');
    k1.refresh();
    expect(d1.instances().map((i) => i.name)).toEqual(['vda::0-1', 'vda::2-3', 'vda::4-7', 'loop0::0-1']);
    const vda47 = d1.lookup('vda::4-7')!;
    expect(d1.labelsOf(vda47)).toEqual({ disk: 'vda', lower_bound: 4, upper_bound: 7 });
    expect(k1.values().find((v) => v.inst === vda47)!.value).toBe(7n);
    expect(k1.values().find((v) => v.inst === d1.lookup('vda::0-1'))!.value).toBe(0n);

    // Restart: loop0 shows up first this time; its ids are still the ones it had.
    const d2 = new InstanceDomain(0x25400100, file);
    const k2 = new KeyedLog2Histograms(keyedMap(2, [[2, 1, [5, 0]], [1, 2, [1, 0]]]), d2, (id) => names[id], 'disk');
    k2.refresh();
    for (const n of ['vda::0-1', 'vda::2-3', 'vda::4-7', 'loop0::0-1']) expect(d2.lookup(n)).toBe(d1.lookup(n));
    expect(d2.lookup('loop0::2-3')).toBe(4);
  });

  it('the object part of a name carries no "-" (heat maps split on it); the label has the real name', () => {
    const d = new InstanceDomain(0x25400100, null);
    const k = new KeyedLog2Histograms(keyedMap(1, [[3, 1, [1]]]), d, (id) => names[id], 'disk');
    k.refresh();
    expect(d.instances().map((i) => i.name)).toEqual(['dm_0::0-1', 'dm_0::2-3']);
    expect(/^(.+?)-(.+?)$/.exec('dm_0::2-3')![2]).toBe('3'); // grafana-pcp's upper-bound regex
    expect(d.labelsOf(d.lookup('dm_0::2-3')!)).toEqual({ disk: 'dm-0', lower_bound: 2, upper_bound: 3 });
    const bad = new KeyedLog2Histograms(keyedMap(1, [[3, 0, [1]]]), new InstanceDomain(1, null), () => ({ name: 'dm-0', label: 'dm-0' }), 'disk');
    expect(() => bad.refresh()).toThrow(/"dm-0" contains '-'/);
  });

  it('keeps counting across a reload (rebind)', () => {
    const d = new InstanceDomain(0x25400100, null);
    const k = new KeyedLog2Histograms(keyedMap(1, [[1, 3, [10]]]), d, (id) => names[id], 'disk');
    k.refresh();
    k.rebind(keyedMap(1, [[1, 3, [2]]]));
    k.refresh();
    expect(k.values().find((v) => v.inst === d.lookup('vda::8-15'))!.value).toBe(12n);
  });
});

describe('Log2Histograms on a real BPF map', () => {
  it('reads the fixture histogram (per-CPU array) in one batch call', () => {
    const root = path.resolve(__dirname, '../..');
    execFileSync('make', ['-s', '-C', path.join(root, 'bpf'), 'fixtures'], { stdio: 'inherit' });
    const obj = BpfObject.open(path.join(root, 'bpf/.output/fixtures/face.bpf.o'));
    try {
      for (const p of obj.programNames()) obj.setAutoload(p, p === 'f_tp');
      obj.setRodata({ target_tgid: process.pid, increment: 5 }); // every event lands in "4-7"
      obj.load();
      obj.attach('f_tp');
      const getppid = koffi.load('libc.so.6').func('int getppid(void)') as () => number;
      for (let i = 0; i < 33; i++) getppid();
      const map = obj.map('hist');
      expect(map.perCpu).toBe(true);
      expect(map.valueBytes).toBe(8 * possibleCpus());
      const d = new InstanceDomain(0x25400004, null);
      const h = new Log2Histograms(map, d, 2);
      h.refresh();
      expect(map.lastBatchCalls).toBe(1);
      expect(h.values(1)).toEqual([
        { inst: 0, value: 0n },
        { inst: 1, value: 0n },
        { inst: 2, value: 33n },
      ]);
      expect(h.total(0)).toBe(0n);
      expect(d.instances().map((i) => i.name)).toEqual(['0-1', '2-3', '4-7']);
    } finally {
      obj.close();
    }
  });
});
