// One heat map's data: columns of per-bucket event rates over time, computed from a cumulative
// log2 histogram (one counter per bucket instance).
import { heatmapRows, parseBucket, type Bucket } from './buckets';
import { counterRates, type CounterSample } from './counter-rate';

export interface HeatColumn {
  /** End of the interval (pmproxy timestamp, seconds). */
  t: number;
  /** Interval length in seconds; the column spans [t - dt, t]. */
  dt: number;
  /** Events per second by bucket name. */
  rates: Map<string, number>;
}

export class HeatmapSeries {
  readonly buckets = new Map<string, Bucket>();
  /** Instance names that are not "lo-hi": shown to the user rather than silently dropped. */
  readonly ignored = new Set<string>();
  columns: HeatColumn[] = [];
  resets = 0;
  private prev: CounterSample | undefined;

  constructor(readonly windowSeconds = 120) {}

  /**
   * Add one fetch. `values` maps instance id → cumulative count; `nameOf` resolves ids through the
   * indom (the caller looks unknown ids up before calling).
   */
  ingest(t: number, values: ReadonlyMap<number, number>, nameOf: (inst: number) => string | undefined): HeatColumn | null {
    const cur: CounterSample = { t, values };
    const { rates, resets } = counterRates(this.prev, cur, { newInstancesFromZero: true });
    const dt = this.prev ? t - this.prev.t : 0;
    this.prev = cur;
    if (resets.length > 0) {
      // The agent restarted: old and new counts do not subtract. Start over from this sample.
      this.resets++;
      return null;
    }
    for (const inst of values.keys()) {
      const name = nameOf(inst);
      if (name === undefined || this.buckets.has(name) || this.ignored.has(name)) continue;
      const b = parseBucket(name);
      if (b) this.buckets.set(name, b);
      else this.ignored.add(name);
    }
    if (!(dt > 0)) return null;
    const col: HeatColumn = { t, dt, rates: new Map() };
    for (const [inst, r] of rates) {
      const name = nameOf(inst);
      if (name !== undefined && this.buckets.has(name)) col.rates.set(name, r);
    }
    this.columns.push(col);
    const oldest = t - this.windowSeconds;
    while (this.columns.length > 0 && this.columns[0]!.t - this.columns[0]!.dt < oldest) this.columns.shift();
    return col;
  }

  rows(): Bucket[] {
    return heatmapRows(this.buckets.values());
  }

  /** Largest rate in the window, for the colour scale. */
  maxRate(): number {
    let m = 0;
    for (const c of this.columns) for (const r of c.rates.values()) if (r > m) m = r;
    return m;
  }

  /** Smallest non-zero rate, for a log colour scale. */
  minPositiveRate(): number {
    let m = Infinity;
    for (const c of this.columns) for (const r of c.rates.values()) if (r > 0 && r < m) m = r;
    return Number.isFinite(m) ? m : 0;
  }

  hasEvents(): boolean {
    return this.columns.some((c) => [...c.rates.values()].some((r) => r > 0));
  }

  clear(): void {
    this.columns = [];
    this.prev = undefined;
  }
}
