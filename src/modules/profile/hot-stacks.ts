// The instance set of bcc.proc.stacks: the stacks with the most samples in a rolling window,
// at most maxStacks of them, each valued by its cumulative sample count (a counter, so that
// clients take rates). A stack keeps its instance id for life (InstanceDomain never gives an
// id to another name); one that leaves the top set is deactivated, and if it comes back its
// counter continues from where it stopped, never lower.

import type { InstanceDomain } from '../../pmda/indom';

export interface HotStacksOptions {
  windowMs: number;
  maxStacks: number;
  /** Distinct stacks followed within the window (candidates for the top set). When full, the
   *  coldest half of the stacks not shown is forgotten, so a new hot stack always gets in. */
  maxTracked?: number;
}

interface Rec {
  name: string;
  /** Samples in the current window. */
  window: number;
  /** Samples since this record was created. */
  total: number;
  /** Exported value the instance had before this record was created (it came back). */
  base: number;
  /** Instance id once it has been in the top set, else -1. */
  id: number;
  active: boolean;
}

interface Tick {
  at: number;
  counts: Map<Rec, number>;
}

export class HotStacks {
  private readonly recs = new Map<string, Rec>();
  private readonly ticks: Tick[] = [];
  private open = new Map<Rec, number>();
  /** Last exported value of ids whose record was dropped, so a returning stack never goes down. */
  private readonly retired = new Map<number, number>();
  private readonly maxTracked: number;
  /** Stacks forgotten to make room (their window counts were among the lowest). */
  evicted = 0;

  constructor(
    private readonly indom: InstanceDomain,
    private readonly opts: HotStacksOptions,
  ) {
    this.maxTracked = opts.maxTracked ?? Math.max(2000, opts.maxStacks * 20);
  }

  get tracked(): number {
    return this.recs.size;
  }

  /** Count samples of a stack (by its instance name) into the current tick. */
  add(name: string, count: number): void {
    let r = this.recs.get(name);
    if (!r) {
      if (this.recs.size >= this.maxTracked) this.evictColdest();
      r = { name, window: 0, total: 0, base: 0, id: -1, active: false };
      this.recs.set(name, r);
    }
    r.window += count;
    r.total += count;
    this.open.set(r, (this.open.get(r) ?? 0) + count);
  }

  /** Forget the coldest half of the stacks not in the top set. Ticks still holding them only
   *  decrement a forgotten record when they expire, which is harmless. */
  private evictColdest(): void {
    const idle = [...this.recs.values()].filter((r) => !r.active);
    idle.sort((a, b) => a.window - b.window);
    for (const r of idle.slice(0, Math.max(1, idle.length >> 1))) {
      if (r.id >= 0) this.retired.set(r.id, r.base + r.total);
      this.recs.delete(r.name);
      this.open.delete(r);
      this.evicted++;
    }
  }

  /** Close the current tick at `now`: expire ticks older than the window, choose the top set. */
  tick(now: number): void {
    this.ticks.push({ at: now, counts: this.open });
    this.open = new Map();
    const horizon = now - this.opts.windowMs;
    while (this.ticks.length && this.ticks[0].at <= horizon) {
      const t = this.ticks.shift()!;
      for (const [r, c] of t.counts) r.window -= c;
    }
    this.select();
  }

  private select(): void {
    const live: Rec[] = [];
    for (const r of this.recs.values()) if (r.window > 0) live.push(r);
    // Ties go to the stack already shown, then by name, so the set does not flap.
    live.sort((a, b) => b.window - a.window || Number(b.active) - Number(a.active) || (a.name < b.name ? -1 : 1));
    const top = new Set(live.slice(0, this.opts.maxStacks));
    for (const r of this.recs.values()) {
      if (r.active && !top.has(r)) {
        this.indom.deactivate(r.id);
        r.active = false;
      }
    }
    for (const r of top) {
      if (r.active) continue;
      const id = this.indom.ensure(r.name);
      if (r.id !== id) {
        r.id = id;
        const before = this.retired.get(id);
        if (before !== undefined) {
          r.base = before;
          this.retired.delete(id);
        }
      }
      r.active = true;
    }
    // Forget stacks with nothing left in the window and not shown.
    for (const [name, r] of this.recs) {
      if (r.window > 0 || r.active) continue;
      if (r.id >= 0) this.retired.set(r.id, r.base + r.total);
      this.recs.delete(name);
    }
  }

  /** Values of the active instances. */
  values(): { inst: number; value: bigint }[] {
    const out: { inst: number; value: bigint }[] = [];
    for (const r of this.recs.values()) if (r.active) out.push({ inst: r.id, value: BigInt(r.base + r.total) });
    out.sort((a, b) => a.inst - b.inst);
    return out;
  }

  /** Deactivate everything (the sampler stopped); ids and counts are kept. */
  clear(): void {
    for (const r of this.recs.values()) {
      if (r.active) this.indom.deactivate(r.id);
      if (r.id >= 0) this.retired.set(r.id, r.base + r.total);
    }
    this.recs.clear();
    this.ticks.length = 0;
    this.open = new Map();
  }
}
