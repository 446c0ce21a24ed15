// Histogram instance names are "<lo>-<hi>" (pmdabcc: "0-1", "2-3", "4-7", ...; bpftrace adds
// "-inf--1" and "0-0"). Rows are placed by their bounds, never by instance id or arrival order,
// so a bucket that first shows up after a minute still lands between its neighbours.

export interface Bucket {
  name: string;
  lo: number;
  hi: number;
}

const BOUND = '(-?(?:\\d+(?:\\.\\d+)?(?:e[+-]?\\d+)?|inf))';
const BUCKET_RE = new RegExp(`^${BOUND}-${BOUND}$`, 'i');

function bound(text: string): number {
  const t = text.toLowerCase();
  if (t === 'inf') return Infinity;
  if (t === '-inf') return -Infinity;
  return Number(t);
}

/** Parse "lo-hi"; null when the name is not a bucket (the caller lists such names, never guesses). */
export function parseBucket(name: string): Bucket | null {
  const m = BUCKET_RE.exec(name.trim());
  if (!m) return null;
  const lo = bound(m[1]!);
  const hi = bound(m[2]!);
  if (Number.isNaN(lo) || Number.isNaN(hi) || lo > hi) return null;
  return { name, lo, hi };
}

export function compareBuckets(a: Bucket, b: Bucket): number {
  return a.hi - b.hi || a.lo - b.lo;
}

function isPow2(n: number): boolean {
  return Number.isFinite(n) && n >= 1 && Number.isInteger(Math.log2(n));
}

/** True for pmdabcc's log2 shape: "0-1", then [2^(k-1), 2^k - 1]. */
export function isLog2Bucket(b: Bucket): boolean {
  if (b.lo === 0 && b.hi === 1) return true;
  return isPow2(b.lo) && b.hi === 2 * b.lo - 1;
}

function log2Bucket(k: number): Bucket {
  if (k <= 1) return { name: '0-1', lo: 0, hi: 1 };
  const lo = 2 ** (k - 1);
  const hi = 2 ** k - 1;
  return { name: `${lo}-${hi}`, lo, hi };
}

/**
 * The rows of a heat map: the buckets seen, sorted by upper bound. When every bucket has the log2
 * shape, the empty log2 buckets between the lowest and highest are added too, so that the y axis
 * stays proportional to log(latency) even though the agent only creates buckets that were hit.
 */
export function heatmapRows(seen: Iterable<Bucket>): Bucket[] {
  const list = [...seen].sort(compareBuckets);
  if (list.length < 2 || !list.every(isLog2Bucket)) return list;
  const kOf = (b: Bucket) => (b.hi === 1 ? 1 : Math.round(Math.log2(b.hi + 1)));
  const kMin = kOf(list[0]!);
  const kMax = kOf(list[list.length - 1]!);
  const byName = new Map(list.map((b) => [b.name, b]));
  const rows: Bucket[] = [];
  for (let k = kMin; k <= kMax; k++) {
    const b = log2Bucket(k);
    rows.push(byName.get(b.name) ?? b);
  }
  return rows;
}
