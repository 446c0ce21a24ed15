// Quantiles (p50, p90, p99, p99.9 in usec) of a log2 histogram over the events counted since
// THAT client's previous fetch of the quantile metric (the first fetch: since the agent
// started), so pmlogger at 10 s, pmie at 1 s and a dashboard each get their own window.
//
// Interpolation: within the bucket where the cumulative count reaches rank q*N, the value is
// placed linearly between the bucket's bounds, i.e. events are taken as spread evenly over the
// bucket (as Prometheus' histogram_quantile does). Slot 0 covers [0, 2) usec and slot k
// [2^k, 2^(k+1)) usec: the kernel side takes log2 of the latency truncated to whole usec, so a
// bucket named "4-7" holds latencies from 4.0 up to (not including) 8.0 usec. The error is at
// most the bucket's width: a p99 of 700 usec lies in [512, 1024).
import { PM_SEM, PM_TYPE } from '../../pcp/types';
import type { ClientRef, IndomSpec, MetricSpec } from '../../pmda/module';
import { UNITS } from '../../pmda/module';
import { HIST_MAX_SLOTS } from './histogram';

/** Instance id → quantile; names are what the instances are called. */
export const QUANTILES: ReadonlyArray<{ id: number; name: string; q: number }> = [
  { id: 0, name: 'p50', q: 0.5 },
  { id: 1, name: 'p90', q: 0.9 },
  { id: 2, name: 'p99', q: 0.99 },
  { id: 3, name: 'p99.9', q: 0.999 },
];

/** Lower and upper (exclusive) bound of a slot in usec. */
function bounds(slot: number): [number, number] {
  return slot === 0 ? [0, 2] : [2 ** slot, 2 ** (slot + 1)];
}

/**
 * The q-quantile (0 < q <= 1) of bucket counts `counts` (slot → events), in usec; null when
 * the buckets hold no events.
 */
export function quantile(counts: ArrayLike<number>, q: number): number | null {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (total <= 0) return null;
  const rank = q * total;
  let below = 0;
  for (let slot = 0; slot < counts.length; slot++) {
    const c = counts[slot]!;
    if (c > 0 && below + c >= rank) {
      const [lo, hi] = bounds(slot);
      return lo + ((rank - below) / c) * (hi - lo);
    }
    below += c;
  }
  // Only reachable through rounding at q = 1: the top of the highest non-empty bucket.
  let top = counts.length - 1;
  while (top > 0 && counts[top] === 0) top--;
  return bounds(top)[1];
}

/** Metric of one histogram's quantiles, for a module's table. */
export function quantileMetric(name: string, item: number, indom: number, of: string): MetricSpec {
  return {
    name,
    item,
    type: PM_TYPE.DOUBLE,
    sem: PM_SEM.INSTANT,
    units: UNITS.usec,
    indom,
    oneline: `p50, p90, p99, p99.9 of ${of} since this client's previous fetch (usec)`,
    help:
      `Quantiles of ${of} computed by the agent from its log2 buckets, over the events counted since this ` +
      'client (pmcd context) last fetched this metric; the first fetch covers the time since the agent started. ' +
      'So pmlogger every 10 s, pmie every second and a dashboard each see their own interval. Instances p50, ' +
      'p90, p99 and p99.9. Within the bucket that holds the quantile the value is interpolated linearly ' +
      'between the bucket bounds (events taken as evenly spread, as Prometheus histogram_quantile does); ' +
      'bucket "4-7" spans 4.0 up to 8.0 usec, so the error is at most that bucket\'s width. No values when ' +
      'no event was counted in the interval.',
  };
}

export function quantileIndom(serial: number, of: string): IndomSpec {
  return {
    serial,
    oneline: `quantiles of ${of}: p50, p90, p99, p99.9`,
    help: 'Fixed instances: 0 "p50", 1 "p90", 2 "p99", 3 "p99.9" (median, 90th, 99th and 99.9th percentile).',
    labels: { statistic: 'quantile' },
  };
}

/** The quantile indom serial of a cluster: outside pmdabcc's serials (its clusters 0..14) and the per-disk 0x100 range. */
export const quantileIndomSerial = (cluster: number): number => 0x200 | cluster;

/** Define the fixed instances in a quantile indom. */
export function defineQuantiles(indom: { define(id: number, name: string): void }): void {
  for (const { id, name } of QUANTILES) indom.define(id, name);
}

/**
 * Each client's previous bucket totals per histogram, to compute quantiles over its own
 * window. Bounded: at most maxClients windows (pmcd contexts); the least recently used one is
 * forgotten beyond that (its next fetch then covers the time since the agent started) and
 * counted in `evicted`.
 */
export class QuantileWindows {
  private readonly clients = new Map<string, Map<number, BigUint64Array>>();
  evicted = 0;

  constructor(private readonly maxClients = 256) {}

  /** Quantile values of histogram `h` (current cumulative `totals`) for this client. */
  fetch(client: ClientRef, h: number, totals: BigUint64Array): { inst: number; value: number }[] {
    const key = `${client.slot}:${client.ctxid}`;
    let c = this.clients.get(key);
    if (c) this.clients.delete(key); // re-insert: the Map's order is the LRU order
    else {
      c = new Map();
      if (this.clients.size >= this.maxClients) {
        this.clients.delete(this.clients.keys().next().value!);
        this.evicted++;
      }
    }
    this.clients.set(key, c);
    const prev = c.get(h);
    const delta = new Array<number>(HIST_MAX_SLOTS);
    for (let s = 0; s < HIST_MAX_SLOTS; s++) {
      const t = totals[s] ?? 0n;
      const p = prev?.[s] ?? 0n;
      // Totals never fall while the agent runs; if they did, count from zero rather than negative.
      delta[s] = Number(t >= p ? t - p : t);
    }
    c.set(h, BigUint64Array.from(totals));
    const out: { inst: number; value: number }[] = [];
    for (const { id, q } of QUANTILES) {
      const v = quantile(delta, q);
      if (v !== null) out.push({ inst: id, value: v });
    }
    return out;
  }

  /** pmcd reported every context of this client slot gone. */
  clientClosed(slot: number): void {
    for (const k of [...this.clients.keys()]) if (k.startsWith(`${slot}:`)) this.clients.delete(k);
  }
}
