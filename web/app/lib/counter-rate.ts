// Counter values are cumulative; panels show per-second rates between two fetches, using
// pmproxy's own timestamps (the browser's clock and request latency would add jitter).

export interface CounterSample {
  /** pmproxy fetch timestamp, seconds. */
  t: number;
  values: ReadonlyMap<number, number>;
}

export interface RateOptions {
  /**
   * Treat an instance missing from the previous sample as having been 0 there. Right for
   * pmdabcc-style histograms, whose buckets are created when first hit; wrong for counters in
   * general (PCP says the first value of a new instance has no rate).
   */
  newInstancesFromZero?: boolean;
}

export interface RateResult {
  rates: Map<number, number>;
  /** Instances whose value went down: the agent restarted or the counter was reset. */
  resets: number[];
}

export function counterRates(prev: CounterSample | undefined, cur: CounterSample, opts: RateOptions = {}): RateResult {
  const rates = new Map<number, number>();
  const resets: number[] = [];
  if (!prev) return { rates, resets };
  const dt = cur.t - prev.t;
  if (!(dt > 0)) return { rates, resets };
  // A previous sample with no instance at all says nothing about which buckets existed.
  const fromZero = opts.newInstancesFromZero === true && prev.values.size > 0;
  for (const [inst, v] of cur.values) {
    const before = prev.values.get(inst);
    if (before === undefined) {
      if (fromZero) rates.set(inst, v / dt);
      continue;
    }
    const d = v - before;
    if (d < 0) {
      resets.push(inst);
      continue;
    }
    rates.set(inst, d / dt);
  }
  return { rates, resets };
}
