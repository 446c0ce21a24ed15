// Event rings (execsnoop, tcplife) export the last N events in slots "0".."N-1", "0" newest, and
// the same event sits in the ring for many fetches, moving down one slot per new event. The
// agent's per-slot sequence number tells new events from ones already shown.

export type Fields = Record<string, string | number | null>;

export interface EventSlot {
  /** Sequence number of the event in this slot; undefined when the agent exports none. */
  seq: number | undefined;
  fields: Fields;
}

export interface EventRow {
  /** Unique across agent restarts: "<epoch>:<seq>" (or a content key without seq). */
  key: string;
  seq: number | null;
  /** pmproxy timestamp (s) of the fetch that first showed this event. */
  seenAt: number;
  fields: Fields;
}

export interface IngestResult {
  added: number;
  /** Events that entered and left the agent's ring between two fetches (never seen here). */
  missed: number;
  /** The sequence went backwards with new content: the agent restarted. */
  restarted: boolean;
}

/** Fields missing from one fetch (a value the agent could not read that time) do not make two
 * slots different events; only a field present in both with another value does. */
function sameFields(a: Fields, b: Fields): boolean {
  for (const k of Object.keys(a)) {
    const x = a[k];
    const y = b[k];
    if (x === null || x === undefined || y === null || y === undefined) continue;
    if (x !== y) return false;
  }
  return true;
}

function contentKey(f: Fields): string {
  return JSON.stringify(Object.keys(f).sort().map((k) => [k, f[k]]));
}

export class EventLog {
  private rowsNewestFirst: EventRow[] = [];
  private bySeq = new Map<number, EventRow>();
  private byContent = new Map<string, EventRow>();
  private epoch = 0;
  private highWater = 0;
  missedTotal = 0;
  restarts = 0;
  /** True once slots without a sequence number were seen: de-duplication is by content then. */
  usingContentKeys = false;

  constructor(private capacity = 200) {}

  ingest(slots: readonly EventSlot[], seenAt: number): IngestResult {
    // Keep at least a ring's worth, or a row evicted here could come back as "new".
    if (slots.length > this.capacity) this.capacity = slots.length;
    const withSeq = slots.filter((s) => s.seq !== undefined && Number.isFinite(s.seq)) as (EventSlot & { seq: number })[];
    const withoutSeq = slots.filter((s) => s.seq === undefined || !Number.isFinite(s.seq));
    let restarted = false;
    if (this.isRestart(withSeq)) {
      restarted = true;
      this.restarts++;
      this.epoch++;
      this.bySeq.clear();
      this.highWater = 0;
    }
    const fresh: EventRow[] = [];
    for (const s of withSeq.sort((a, b) => a.seq - b.seq)) {
      if (this.bySeq.has(s.seq)) continue;
      fresh.push({ key: `${this.epoch}:${s.seq}`, seq: s.seq, seenAt, fields: s.fields });
    }
    let missed = 0;
    if (fresh.length > 0) {
      const lowest = fresh[0]!.seq!;
      if (this.highWater > 0 && lowest > this.highWater + 1) missed = lowest - this.highWater - 1;
      this.highWater = Math.max(this.highWater, fresh[fresh.length - 1]!.seq!);
    }
    // Without a sequence number the best we can do is content: identical events collapse.
    // Slots are newest first, so walk them oldest first to keep insertion order.
    for (const s of [...withoutSeq].reverse()) {
      this.usingContentKeys = true;
      const key = `c:${contentKey(s.fields)}`;
      if (this.byContent.has(key)) continue;
      fresh.push({ key, seq: null, seenAt, fields: s.fields });
    }
    for (const row of fresh) {
      if (row.seq !== null) this.bySeq.set(row.seq, row);
      else this.byContent.set(row.key, row);
      this.rowsNewestFirst.unshift(row);
    }
    while (this.rowsNewestFirst.length > this.capacity) {
      const old = this.rowsNewestFirst.pop()!;
      if (old.seq !== null && this.bySeq.get(old.seq) === old) this.bySeq.delete(old.seq);
      if (old.seq === null) this.byContent.delete(old.key);
    }
    this.missedTotal += missed;
    return { added: fresh.length, missed, restarted };
  }

  /** A slot whose seq we already hold with different content, or a seq at or below the high
   * water mark that we never held, can only come from a restarted agent. */
  private isRestart(slots: readonly (EventSlot & { seq: number })[]): boolean {
    if (this.highWater === 0) return false;
    for (const s of slots) {
      const known = this.bySeq.get(s.seq);
      if (known) {
        if (!sameFields(known.fields, s.fields)) return true;
      } else if (s.seq <= this.highWater) {
        return true;
      }
    }
    return false;
  }

  rows(): readonly EventRow[] {
    return this.rowsNewestFirst;
  }

  get size(): number {
    return this.rowsNewestFirst.length;
  }
}
