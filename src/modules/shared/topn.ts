// The top-N table shared by biotop and tcptop (anchors.md §1.1 "Top" modules): every
// `interval` seconds the interval's counts are taken from the kernel in one batch, ranked, and
// the best `limit` rows are put in instances "0".."limit-1" in rank order; their values cover
// that interval. Interval 0 computes at fetch time instead (pmdabcc's meaning): the rows then
// cover the time since the previous fetch by any client.
//
// The kernel half is bpf/include/topn.bpf.h: programs count into one of two hash maps chosen
// by a generation number, so the agent can flip the generation and drain the other map without
// racing the programs' increments (see the header for why this loses less than draining the
// live map).
import type { Logger } from 'pino';
import type { BatchResult, BpfMap, BpfObject } from '../../bpf';
import type { FetchResult, FetchValue } from '../../pmda/module';
import type { InstanceDomain } from '../../pmda/indom';

/** The maps of topn.bpf.h in one loaded object. */
export class CountBuffers {
  private readonly counts: [BpfMap, BpfMap];
  private readonly genMap: BpfMap;
  private readonly droppedMap: BpfMap;
  private gen = 0;
  private droppedSeen = 0n;
  private readonly zeroKey = Buffer.alloc(4);
  private readonly genValue = Buffer.alloc(4);

  constructor(obj: BpfObject) {
    this.counts = [obj.map('topn_counts0'), obj.map('topn_counts1')];
    this.genMap = obj.map('topn_gen');
    this.droppedMap = obj.map('topn_dropped');
    // The programs may already have counted since attach: continue from the kernel's generation.
    this.gen = this.genMap.lookup(this.zeroKey)?.readUInt32LE(0) ?? 0;
  }

  /** Capacity of one counting map (distinct keys per interval). */
  get capacity(): number {
    return this.counts[0].maxEntries;
  }

  /**
   * Switch the programs to the other map and empty the one they counted into until now.
   * The result's buffers are reused by the drain after next: consume them before that.
   */
  drain(): BatchResult {
    const old = this.counts[this.gen & 1];
    this.gen = (this.gen + 1) >>> 0;
    this.genValue.writeUInt32LE(this.gen, 0);
    this.genMap.update(this.zeroKey, this.genValue);
    return old.lookupAndDeleteBatch();
  }

  /** Updates the programs could not count since the last call because a map was full. */
  takeDropped(): bigint {
    const v = this.droppedMap.lookup(this.zeroKey);
    const total = v ? v.readBigUInt64LE(0) : 0n;
    const d = total - this.droppedSeen;
    this.droppedSeen = total;
    return d > 0n ? d : 0n;
  }
}

/**
 * Indices of the best `n` of entries 0..count-1, best first. `before(a, b)` is true when a ranks
 * ahead of b and must be a strict total order (ties broken), so the result does not depend on
 * the order the kernel returned the entries in. `keep(i)` false leaves an entry out.
 * A bounded heap: O(count · log n), since count (thousands of keys) is far above n (~20).
 */
export function selectTop(
  count: number,
  n: number,
  before: (a: number, b: number) => boolean,
  keep?: (i: number) => boolean,
): number[] {
  if (n <= 0) return [];
  // heap[0] is the worst of the kept entries (the one every newcomer must beat)
  const heap: number[] = [];
  const worse = (a: number, b: number) => before(b, a);
  const up = (i: number) => {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!worse(heap[i], heap[p])) break;
      [heap[i], heap[p]] = [heap[p], heap[i]];
      i = p;
    }
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let w = i;
      if (l < heap.length && worse(heap[l], heap[w])) w = l;
      if (r < heap.length && worse(heap[r], heap[w])) w = r;
      if (w === i) return;
      [heap[i], heap[w]] = [heap[w], heap[i]];
      i = w;
    }
  };
  for (let i = 0; i < count; i++) {
    if (keep && !keep(i)) continue;
    if (heap.length < n) {
      heap.push(i);
      up(heap.length - 1);
    } else if (before(i, heap[0])) {
      heap[0] = i;
      down(0);
    }
  }
  return heap.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
}

export { cString, u64Number } from './bytes';
import { u64Number } from './bytes';

export interface TopNOptions<Row> {
  /** Seconds between refreshes; 0 = at every fetch. */
  interval: number;
  /** Slots "0".."limit-1". */
  limit: number;
  indom: InstanceDomain;
  log: Logger;
  /** Take one interval's counts from the kernel and return the best `limit` rows, best first. */
  collect(limit: number): Row[];
}

/** The slots of a top-N indom and the timer that refills them. */
export class TopNTable<Row> {
  private current: readonly Row[] = [];
  private timer: NodeJS.Timeout | null = null;
  private failing = false;

  constructor(private readonly opts: TopNOptions<Row>) {}

  /** Define the slot instances and, for interval > 0, start refreshing. */
  start(): void {
    for (let i = 0; i < this.opts.limit; i++) this.opts.indom.define(i, String(i));
    if (this.opts.interval > 0 && !this.timer) {
      this.timer = setInterval(() => this.refresh(), this.opts.interval * 1000);
      // The agent's life is the pmcd pipe, not this timer.
      this.timer.unref();
    }
  }

  /** The module's refresh hook: with interval 0 the rows are computed now. */
  beforeFetch(): void {
    if (this.opts.interval === 0) this.refresh();
  }

  /** Replace the rows with the last interval's. A failure is logged once and empties the table. */
  refresh(): void {
    try {
      const rows = this.opts.collect(this.opts.limit);
      this.current = rows.length > this.opts.limit ? rows.slice(0, this.opts.limit) : rows;
      if (this.failing) this.opts.log.info('top-N refresh works again');
      this.failing = false;
    } catch (e) {
      this.current = [];
      if (!this.failing) this.opts.log.error({ err: e }, 'top-N refresh failed; slots are empty until it works');
      this.failing = true;
    }
  }

  get rows(): readonly Row[] {
    return this.current;
  }

  /** One metric's values: slot i holds row i; slots without a row give no value. */
  values(get: (row: Row) => FetchValue): FetchResult {
    return this.current.map((row, inst) => ({ inst, value: get(row) }));
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.current = [];
  }
}
