import { describe, expect, it } from 'vitest';
import { counterRates } from '../../web/app/lib/counter-rate';

const s = (t: number, entries: [number, number][]) => ({ t, values: new Map(entries) });

describe('counterRates', () => {
  it('divides the increase by the pmproxy time between fetches', () => {
    const r = counterRates(s(100, [[0, 10], [1, 5]]), s(102, [[0, 30], [1, 5]]));
    expect([...r.rates]).toEqual([[0, 10], [1, 0]]);
    expect(r.resets).toEqual([]);
  });

  it('has no rate for the first sample or a non-advancing clock', () => {
    expect(counterRates(undefined, s(1, [[0, 5]])).rates.size).toBe(0);
    expect(counterRates(s(5, [[0, 1]]), s(5, [[0, 9]])).rates.size).toBe(0);
  });

  it('reports a decrease as a reset instead of a negative rate', () => {
    const r = counterRates(s(1, [[0, 100], [1, 3]]), s(2, [[0, 4], [1, 4]]));
    expect(r.resets).toEqual([0]);
    expect([...r.rates]).toEqual([[1, 1]]);
  });

  it('counts a histogram bucket that appears from zero only when asked and when the metric was there before', () => {
    const prev = s(10, [[0, 50]]);
    const cur = s(12, [[0, 60], [5, 8]]);
    expect(counterRates(prev, cur).rates.has(5)).toBe(false);
    expect(counterRates(prev, cur, { newInstancesFromZero: true }).rates.get(5)).toBe(4);
    expect(counterRates(s(10, []), cur, { newInstancesFromZero: true }).rates.size).toBe(0);
  });
});
