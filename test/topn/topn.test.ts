// The pure top-N shape: selection, slot filling, the refresh timer. No kernel here; the kernel
// tests of biotop and tcptop exercise CountBuffers against real maps.
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InstanceDomain } from '../../src/pmda/indom';
import { TopNTable, cString, selectTop, u64Number } from '../../src/modules/shared/topn';

const log = pino({ level: 'silent' });

/** Deterministic pseudo-random numbers (the tests must not depend on luck). */
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

describe('selectTop', () => {
  it('returns the same indices, in the same order, as a full sort', () => {
    const rnd = lcg(7);
    for (const count of [0, 1, 5, 19, 20, 21, 1000]) {
      for (const n of [1, 3, 20, 50]) {
        // many duplicates so the tie-break matters
        const score = Array.from({ length: count }, () => Math.floor(rnd() * 50));
        const before = (a: number, b: number) => (score[a] !== score[b] ? score[a]! > score[b]! : a < b);
        const expected = [...score.keys()].sort((a, b) => (before(a, b) ? -1 : 1)).slice(0, n);
        expect(selectTop(count, n, before)).toEqual(expected);
      }
    }
  });

  it('leaves out entries keep() rejects, even when they would rank first', () => {
    const score = [100, 5, 90, 7, 80];
    const got = selectTop(5, 2, (a, b) => score[a]! > score[b]!, (i) => i !== 0);
    expect(got).toEqual([2, 4]);
  });

  it('gives nothing for n = 0', () => {
    expect(selectTop(10, 0, (a, b) => a < b)).toEqual([]);
  });
});

describe('buffer helpers', () => {
  it('reads u64 fields exactly up to 2^53', () => {
    const b = Buffer.alloc(16);
    b.writeBigUInt64LE(2n ** 53n - 1n, 0);
    b.writeBigUInt64LE(4_294_967_296n + 5n, 8);
    expect(u64Number(b, 0)).toBe(2 ** 53 - 1);
    expect(u64Number(b, 8)).toBe(4_294_967_301);
  });

  it('cuts a comm at its NUL and at its length', () => {
    const b = Buffer.alloc(40);
    b.write('dd', 4);
    b.write('0123456789abcdefXYZ', 20); // no NUL within 16
    expect(cString(b, 4, 16)).toBe('dd');
    expect(cString(b, 20, 16)).toBe('0123456789abcdef');
  });
});

describe('TopNTable', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('defines slots "0".."N-1" and fills them in rank order; unfilled slots give no value', () => {
    const indom = new InstanceDomain(1, null);
    const t = new TopNTable<{ v: number }>({ interval: 0, limit: 4, indom, log, collect: () => [{ v: 9 }, { v: 3 }] });
    t.start();
    expect(indom.instances().map((i) => [i.id, i.name])).toEqual([
      [0, '0'],
      [1, '1'],
      [2, '2'],
      [3, '3'],
    ]);
    expect(t.values((r) => r.v)).toEqual([]); // nothing before the first refresh
    t.beforeFetch();
    expect(t.values((r) => r.v)).toEqual([
      { inst: 0, value: 9 },
      { inst: 1, value: 3 },
    ]);
    t.stop();
  });

  it('never shows more rows than the limit', () => {
    const t = new TopNTable<number>({ interval: 0, limit: 2, indom: new InstanceDomain(1, null), log, collect: () => [1, 2, 3] });
    t.start();
    t.beforeFetch();
    expect(t.rows).toEqual([1, 2]);
  });

  it('with an interval, refreshes on its timer only, and stop() ends the timer', () => {
    vi.useFakeTimers();
    let n = 0;
    const t = new TopNTable<number>({ interval: 2, limit: 3, indom: new InstanceDomain(1, null), log, collect: () => [++n] });
    t.start();
    t.beforeFetch(); // not interval 0: fetches do not refresh
    expect(n).toBe(0);
    vi.advanceTimersByTime(1999);
    expect(n).toBe(0);
    vi.advanceTimersByTime(1);
    expect(t.rows).toEqual([1]);
    vi.advanceTimersByTime(4000);
    expect(t.rows).toEqual([3]);
    t.stop();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10_000);
    expect(n).toBe(3);
    expect(t.rows).toEqual([]);
  });

  it('does not keep the process alive (timer unref)', () => {
    const spy = vi.spyOn(global, 'setInterval');
    const t = new TopNTable<number>({ interval: 1, limit: 1, indom: new InstanceDomain(1, null), log, collect: () => [] });
    t.start();
    const timer = spy.mock.results[0]!.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    t.stop();
    spy.mockRestore();
  });

  it('a failing collect empties the slots and the next good one fills them again', () => {
    let fail = true;
    const t = new TopNTable<number>({
      interval: 0,
      limit: 3,
      indom: new InstanceDomain(1, null),
      log,
      collect: () => {
        if (fail) throw new Error('map gone');
        return [7];
      },
    });
    t.start();
    t.beforeFetch();
    expect(t.rows).toEqual([]);
    fail = false;
    t.beforeFetch();
    expect(t.rows).toEqual([7]);
  });
});
