// The log2 histogram shape every histogram module exports (runqlat, biolatency, *dist).
//
// BPF side (bpf/include/common.bpf.h): HIST_MAP(name, nhist), a per-CPU array of
// nhist × HIST_MAX_SLOTS u64 counters, key = hist × 64 + slot, never cleared.
// PCP side: one instance per slot, named by its value range in µs ("0-1", "2-3", "4-7", ...),
// id = slot index, so ids rise with bucket order and keep their meaning across restarts and
// across modules. Instances exist from "0-1" up to the highest slot that ever counted
// anything (as pmdabcc did), so the set only grows. Values are event counts, cumulative
// since the agent started (PM_SEM_COUNTER), summed over CPUs.
//
// Per-CPU rather than one shared array: a shared counter costs a locked add on a cache line
// that both CPUs write (runqlat counts on every context switch); per-CPU lines stay local and
// the agent sums ncpu values per slot at fetch time instead (bench/hist.bench.ts measures both).
import type { BpfMap } from '../../bpf';
import type { InstanceDomain, LabelValue } from '../../pmda/indom';

export const HIST_MAX_SLOTS = 64;

/** "lo-hi" of a slot: slot 0 is 0-1, slot k is 2^k .. 2^(k+1)-1. */
export function bucketName(slot: number): string {
  const { lo, hi } = bucketRange(slot);
  return `${lo}-${hi}`;
}

export function bucketRange(slot: number): { lo: bigint; hi: bigint } {
  if (!Number.isInteger(slot) || slot < 0 || slot >= HIST_MAX_SLOTS) throw new RangeError(`histogram slot ${slot} is outside 0..${HIST_MAX_SLOTS - 1}`);
  if (slot === 0) return { lo: 0n, hi: 1n };
  return { lo: 1n << BigInt(slot), hi: (1n << BigInt(slot + 1)) - 1n };
}

/** Instance labels (pmdabcc's): bounds as numbers (exact up to slot 52, i.e. ~285 years in µs). */
export function bucketLabels(slot: number): Record<string, LabelValue> {
  const { lo, hi } = bucketRange(slot);
  return { lower_bound: Number(lo), upper_bound: Number(hi) };
}

/** Help text shared by the histogram metrics, explaining the unit choice. */
export const HISTOGRAM_UNITS_HELP =
  'Each instance is a log2 latency bucket named by its range in microseconds ("0-1", "2-3", ' +
  '"4-7", ...; also the lower_bound/upper_bound instance labels); the value is the number of ' +
  'events that fell in that bucket since the agent started (a counter, so rate conversion gives ' +
  'events per second per bucket). The units are count, not microseconds: pmdabcc declared ' +
  'microsec, which made pmval, pmlogsummary and pmie treat the bucket counts as time and show ' +
  '1 event/s as 1e-06; grafana-pcp heat maps read either.';

/** The subset of BpfMap this needs (a fake in unit tests). */
export type HistogramMap = Pick<BpfMap, 'lookupBatch' | 'perCpu' | 'valueBytes' | 'cpuStride' | 'maxEntries' | 'name'>;

export class Log2Histograms {
  /** totals[h * 64 + slot], cumulative since the agent started. */
  private readonly totals: BigUint64Array;
  /** What previous maps (a module restarted within the agent) had counted when dropped. */
  private readonly base: BigUint64Array;
  private top = 0;

  constructor(
    private map: HistogramMap | null,
    private readonly indom: InstanceDomain,
    readonly count: number,
  ) {
    this.totals = new BigUint64Array(count * HIST_MAX_SLOTS);
    this.base = new BigUint64Array(count * HIST_MAX_SLOTS);
    if (map) this.check(map);
    this.indom.define(0, bucketName(0), bucketLabels(0));
  }

  private check(map: HistogramMap): void {
    if (map.maxEntries < this.count * HIST_MAX_SLOTS) {
      throw new Error(`histogram map ${map.name} has ${map.maxEntries} entries; ${this.count} histograms need ${this.count * HIST_MAX_SLOTS}`);
    }
  }

  /** Switch to a new object's map (after a reload); what was counted so far is kept. */
  rebind(map: HistogramMap | null): void {
    this.base.set(this.totals);
    if (map) this.check(map);
    this.map = map;
  }

  /** Read the map (one batch lookup), update the totals, and extend the instance set. */
  refresh(): void {
    if (!this.map) return;
    const { count, keys, values } = this.map.lookupBatch();
    const n = this.count * HIST_MAX_SLOTS;
    const ncpu = this.map.perCpu ? this.map.valueBytes / this.map.cpuStride : 1;
    const stride = this.map.perCpu ? this.map.cpuStride / 8 : 1;
    const per = this.map.valueBytes / 8;
    const v64 =
      values.byteOffset % 8 === 0
        ? new BigUint64Array(values.buffer, values.byteOffset, values.length / 8)
        : new BigUint64Array(Uint8Array.from(values).buffer);
    let top = this.top;
    for (let i = 0; i < count; i++) {
      const key = keys.readUInt32LE(i * 4);
      if (key >= n) continue;
      let s = 0n;
      for (let c = 0; c < ncpu; c++) s += v64[i * per + c * stride];
      const t = this.base[key] + s;
      this.totals[key] = t;
      if (t > 0n && key % HIST_MAX_SLOTS > top) top = key % HIST_MAX_SLOTS;
    }
    if (top > this.top) {
      for (let slot = this.top + 1; slot <= top; slot++) this.indom.define(slot, bucketName(slot), bucketLabels(slot));
      this.top = top;
      this.indom.save();
    }
  }

  /** Highest slot exported (≥ 0). */
  get topSlot(): number {
    return this.top;
  }

  /** Values of histogram h for every exported bucket (0 where h has no events in a bucket another histogram has). */
  values(h: number): { inst: number; value: bigint }[] {
    if (h < 0 || h >= this.count) throw new RangeError(`histogram ${h} is outside 0..${this.count - 1}`);
    const out: { inst: number; value: bigint }[] = [];
    for (let slot = 0; slot <= this.top; slot++) out.push({ inst: slot, value: this.totals[h * HIST_MAX_SLOTS + slot] });
    return out;
  }

  /** Cumulative counts of histogram h, one per slot (a view: copy it to keep it). */
  slots(h: number): BigUint64Array {
    if (h < 0 || h >= this.count) throw new RangeError(`histogram ${h} is outside 0..${this.count - 1}`);
    return this.totals.subarray(h * HIST_MAX_SLOTS, (h + 1) * HIST_MAX_SLOTS);
  }

  /** Sum of histogram h over all buckets (events counted). */
  total(h: number): bigint {
    let s = 0n;
    for (let slot = 0; slot < HIST_MAX_SLOTS; slot++) s += this.totals[h * HIST_MAX_SLOTS + slot];
    return s;
  }
}

/** The subset of BpfMap a keyed histogram reads (a fake in unit tests). */
export type KeyedHistogramMap = Pick<BpfMap, 'lookupBatch' | 'perCpu' | 'valueBytes' | 'cpuStride' | 'name' | 'keySize'>;

/**
 * Log2 histograms per object (e.g. per disk) from a hash map keyed {u32 id, u32 slot}. One
 * instance per (object, bucket) named "<object>::<lo>-<hi>", with labels {<labelKey>: object,
 * lower_bound, upper_bound}; each object gets "0-1" up to its own highest non-empty bucket.
 * Objects come and go, so ids are allocated by name and persisted (not positional).
 *
 * Heat maps find a bucket's upper bound with the lazy regex ^(.+?)-(.+?)$ (grafana-pcp) or
 * split('-')[1] (Vector), so the object part of an instance name must not contain '-': the
 * caller passes a name with dashes replaced and the real one for the label.
 */
export class KeyedLog2Histograms {
  private readonly totals = new Map<number, BigUint64Array>();
  private readonly base = new Map<number, BigUint64Array>();
  private readonly top = new Map<number, number>();
  /** instance id → [object id, slot] */
  private readonly insts = new Map<number, [number, number]>();

  constructor(
    private map: KeyedHistogramMap | null,
    private readonly indom: InstanceDomain,
    private readonly nameOf: (id: number) => { name: string; label: string },
    private readonly labelKey: string,
  ) {
    if (map && map.keySize !== 8) throw new Error(`keyed histogram map ${map.name} has ${map.keySize}-byte keys, expected 8 ({u32 id, u32 slot})`);
  }

  rebind(map: KeyedHistogramMap | null): void {
    for (const [id, t] of this.totals) this.base.set(id, BigUint64Array.from(t));
    this.map = map;
  }

  refresh(): void {
    if (!this.map) return;
    const { count, keys, values } = this.map.lookupBatch();
    const ncpu = this.map.perCpu ? this.map.valueBytes / this.map.cpuStride : 1;
    const stride = this.map.perCpu ? this.map.cpuStride : 8;
    for (let i = 0; i < count; i++) {
      const id = keys.readUInt32LE(i * 8);
      const slot = keys.readUInt32LE(i * 8 + 4);
      if (slot >= HIST_MAX_SLOTS) continue;
      let s = 0n;
      for (let c = 0; c < ncpu; c++) s += values.readBigUInt64LE(i * this.map.valueBytes + c * stride);
      let t = this.totals.get(id);
      if (!t) {
        t = new BigUint64Array(HIST_MAX_SLOTS);
        this.totals.set(id, t);
      }
      t[slot] = (this.base.get(id)?.[slot] ?? 0n) + s;
      if (t[slot] > 0n && slot > (this.top.get(id) ?? -1)) this.grow(id, slot);
    }
  }

  private grow(id: number, slot: number): void {
    const { name, label } = this.nameOf(id);
    if (name.includes('-')) throw new Error(`instance name part "${name}" contains '-', which heat maps take for the bucket separator`);
    for (let s = (this.top.get(id) ?? -1) + 1; s <= slot; s++) {
      const inst = this.indom.ensure(`${name}::${bucketName(s)}`, { [this.labelKey]: label, ...bucketLabels(s) });
      this.insts.set(inst, [id, s]);
    }
    this.top.set(id, slot);
    this.indom.save();
  }

  values(): { inst: number; value: bigint }[] {
    const out: { inst: number; value: bigint }[] = [];
    for (const [inst, [id, slot]] of this.insts) out.push({ inst, value: this.totals.get(id)![slot] });
    return out;
  }
}
