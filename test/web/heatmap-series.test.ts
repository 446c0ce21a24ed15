import { describe, expect, it } from 'vitest';
import { HeatmapSeries } from '../../web/app/lib/heatmap-series';

const names = new Map([
  [0, '0-1'],
  [1, '2-3'],
  [2, '4-7'],
  [7, '128-255'],
  [9, 'bogus'],
]);
const nameOf = (i: number) => names.get(i);

describe('HeatmapSeries', () => {
  it('turns cumulative bucket counts into events/s columns keyed by bucket', () => {
    const h = new HeatmapSeries(60);
    expect(h.ingest(1000, new Map([[0, 5], [1, 2]]), nameOf)).toBeNull();
    const col = h.ingest(1001, new Map([[0, 15], [1, 2]]), nameOf)!;
    expect(col.dt).toBe(1);
    expect(col.rates.get('0-1')).toBe(10);
    expect(col.rates.get('2-3')).toBe(0);
    expect(h.maxRate()).toBe(10);
    expect(h.minPositiveRate()).toBe(10);
    expect(h.hasEvents()).toBe(true);
  });

  it('places a bucket that appears later by its bounds and counts its first events', () => {
    const h = new HeatmapSeries(60);
    h.ingest(1, new Map([[0, 1], [2, 1]]), nameOf);
    const col = h.ingest(3, new Map([[0, 1], [2, 1], [7, 6]]), nameOf)!;
    expect(col.rates.get('128-255')).toBe(3);
    expect(h.rows().map((r) => r.name)).toEqual(['0-1', '2-3', '4-7', '8-15', '16-31', '32-63', '64-127', '128-255']);
  });

  it('lists instance names that are not buckets', () => {
    const h = new HeatmapSeries(60);
    h.ingest(1, new Map([[0, 1], [9, 1]]), nameOf);
    expect([...h.ignored]).toEqual(['bogus']);
    expect(h.rows().map((r) => r.name)).toEqual(['0-1']);
  });

  it('skips the interval in which the agent restarted and goes on from there', () => {
    const h = new HeatmapSeries(60);
    h.ingest(1, new Map([[0, 100]]), nameOf);
    expect(h.ingest(2, new Map([[0, 3]]), nameOf)).toBeNull();
    expect(h.resets).toBe(1);
    expect(h.ingest(3, new Map([[0, 7]]), nameOf)!.rates.get('0-1')).toBe(4);
  });

  it('keeps only the window', () => {
    const h = new HeatmapSeries(10);
    for (let t = 0; t <= 30; t++) h.ingest(t, new Map([[0, t * 2]]), nameOf);
    expect(h.columns.length).toBe(10);
    expect(h.columns[0]!.t).toBe(21);
  });
});
