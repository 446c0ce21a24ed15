// Quantiles of log2 histograms: checked against an independent reference (numerical inversion
// of the piecewise-linear cumulative count by bisection), against hand-computed cases, and
// against samples of a known distribution; per-client windows are separate and bounded.
import { describe, expect, it } from 'vitest';
import { HIST_MAX_SLOTS } from '../../src/modules/shared/histogram';
import { QUANTILES, QuantileWindows, quantile } from '../../src/modules/shared/quantiles';

/** Reference: the x where the cumulative count (linear inside each bucket) reaches q*N. */
function reference(counts: number[], q: number): number | null {
  const n = counts.reduce((a, b) => a + b, 0);
  if (n === 0) return null;
  const cdf = (x: number) =>
    counts.reduce((acc, c, k) => {
      const lo = k === 0 ? 0 : 2 ** k;
      const hi = 2 ** (k + 1);
      return acc + c * Math.min(1, Math.max(0, (x - lo) / (hi - lo)));
    }, 0);
  let a = 0;
  let b = 2 ** HIST_MAX_SLOTS;
  for (let i = 0; i < 120; i++) {
    const m = (a + b) / 2;
    if (cdf(m) >= q * n) b = m;
    else a = m;
  }
  return b;
}

/** Deterministic PRNG (mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The slot the kernel side puts a latency of `us` (truncated to whole usec) in. */
const slotOf = (us: number) => (Math.floor(us) < 2 ? 0 : Math.floor(Math.log2(Math.floor(us))));

describe('quantile of log2 buckets', () => {
  it('agrees with the reference on random histograms', () => {
    const r = rng(17);
    for (let t = 0; t < 100; t++) {
      const counts = new Array<number>(HIST_MAX_SLOTS).fill(0);
      const nz = 1 + Math.floor(r() * 8);
      const first = Math.floor(r() * 30);
      for (let i = 0; i < nz; i++) counts[first + Math.floor(r() * 12)] += Math.floor(r() * 1000) + (r() < 0.3 ? 0 : 1);
      for (const { q } of QUANTILES) {
        const got = quantile(counts, q);
        const want = reference(counts, q);
        if (want === null) expect(got).toBeNull();
        else expect(Math.abs(got! - want) / Math.max(1, want), `t=${t} q=${q}`).toBeLessThan(1e-9);
      }
    }
  });

  it('interpolates linearly inside the bucket, [2^k, 2^(k+1))', () => {
    const c = new Array<number>(HIST_MAX_SLOTS).fill(0);
    c[2] = 10; // "4-7": 4.0 .. 8.0
    expect(quantile(c, 0.5)).toBeCloseTo(6, 12);
    expect(quantile(c, 0.9)).toBeCloseTo(7.6, 12);
    c[0] = 10; // "0-1": 0 .. 2, now half of all events
    expect(quantile(c, 0.5)).toBeCloseTo(2, 12);
    expect(quantile(c, 0.25)).toBeCloseTo(1, 12);
    expect(quantile(c, 0.99)).toBeCloseTo(4 + 0.98 * 4, 12);
    expect(quantile(new Array(HIST_MAX_SLOTS).fill(0), 0.5)).toBeNull();
  });

  it('lands in the bucket of the true quantile for samples of a known distribution', () => {
    const r = rng(3);
    const samples = Array.from({ length: 200_000 }, () => -Math.log(1 - r()) * 300); // exponential, mean 300 usec
    const counts = new Array<number>(HIST_MAX_SLOTS).fill(0);
    for (const s of samples) counts[slotOf(s)]++;
    for (const { q } of QUANTILES) {
      const truth = -Math.log(1 - q) * 300;
      const got = quantile(counts, q)!;
      // Same bucket as the true quantile (the promise: error below one bucket's width).
      expect(slotOf(got), `q=${q} got ${got} truth ${truth}`).toBe(slotOf(truth));
    }
  });
});

describe('per-client windows', () => {
  const totals = (pairs: Array<[number, number]>) => {
    const t = new BigUint64Array(HIST_MAX_SLOTS);
    for (const [s, n] of pairs) t[s] = BigInt(n);
    return t;
  };
  const p50 = (v: { inst: number; value: number }[]) => v.find((x) => x.inst === 0)?.value;

  it('first fetch covers everything since start; later fetches only what came since that client\'s previous one', () => {
    const w = new QuantileWindows();
    const a = { slot: 1, ctxid: 0 };
    const b = { slot: 2, ctxid: 0 };
    expect(p50(w.fetch(a, 0, totals([[2, 10]])))).toBeCloseTo(6, 9);
    // 10 more events in "1024-2047": a sees only them; b (first fetch) sees all 20.
    const now = totals([[2, 10], [10, 10]]);
    expect(p50(w.fetch(a, 0, now))).toBeCloseTo(1536, 9);
    expect(p50(w.fetch(b, 0, now))).toBeCloseTo(8, 9);
    // Nothing new for a: no values.
    expect(w.fetch(a, 0, now)).toEqual([]);
    expect(w.fetch(a, 0, totals([[2, 10], [10, 10], [3, 4]])).map((x) => x.inst)).toEqual([0, 1, 2, 3]);
  });

  it('keeps histograms of one client apart, and contexts of one slot apart', () => {
    const w = new QuantileWindows();
    w.fetch({ slot: 1, ctxid: 0 }, 0, totals([[2, 10]]));
    expect(p50(w.fetch({ slot: 1, ctxid: 0 }, 1, totals([[2, 10]])))).toBeCloseTo(6, 9);
    expect(p50(w.fetch({ slot: 1, ctxid: 1 }, 0, totals([[2, 10]])))).toBeCloseTo(6, 9);
  });

  it('forgets a closed client and bounds the number of windows, counting evictions', () => {
    const w = new QuantileWindows(2);
    const t = totals([[2, 10]]);
    w.fetch({ slot: 1, ctxid: 0 }, 0, t);
    w.clientClosed(1);
    expect(w.fetch({ slot: 1, ctxid: 0 }, 0, t)).toHaveLength(4); // since start again
    w.fetch({ slot: 2, ctxid: 0 }, 0, t);
    w.fetch({ slot: 3, ctxid: 0 }, 0, t); // evicts slot 1, the least recently used
    expect(w.evicted).toBe(1);
    expect(w.fetch({ slot: 2, ctxid: 0 }, 0, t)).toEqual([]); // still known
    expect(w.fetch({ slot: 1, ctxid: 0 }, 0, t)).toHaveLength(4); // forgotten: since start
  });
});
