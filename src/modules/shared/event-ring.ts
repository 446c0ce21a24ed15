// The "last N events" shape of pmdabcc's event modules (execsnoop, tcplife): a fixed instance
// domain "0".."N-1" where "0" is the newest event and a slot not yet filled has no value.
// Beyond pmdabcc, every event gets a sequence number (monotonic per module, from 1), exported
// per slot, so that a client sampling the ring can tell a new event from one it already saw
// and count what scrolled past between two samples (newest seq minus the previous newest).
import type { FetchValue } from '../../pmda/module';
import type { InstanceDomain } from '../../pmda/indom';

export interface RingEntry<T> {
  seq: bigint;
  event: T;
}

export class EventRing<T> {
  private readonly slots: (RingEntry<T> | undefined)[];
  /** Index of the newest entry in `slots`. */
  private head = -1;
  private filled = 0;
  private lastSeq = 0n;

  /** `indom` gets the fixed instances "0".."capacity-1" (ids = positions). */
  constructor(
    readonly capacity: number,
    indom?: InstanceDomain,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`event ring capacity must be a positive integer, got ${capacity}`);
    this.slots = new Array(capacity);
    if (indom) for (let i = 0; i < capacity; i++) indom.define(i, String(i));
  }

  /** Add the newest event; returns its sequence number. */
  push(event: T): bigint {
    this.head = (this.head + 1) % this.capacity;
    this.lastSeq += 1n;
    this.slots[this.head] = { seq: this.lastSeq, event };
    if (this.filled < this.capacity) this.filled++;
    return this.lastSeq;
  }

  /** Sequence number of the newest event (0 before the first). */
  get seq(): bigint {
    return this.lastSeq;
  }

  /** Events currently held (≤ capacity). */
  get size(): number {
    return this.filled;
  }

  /** Slot i: 0 is the newest; undefined when not filled yet. */
  at(slot: number): RingEntry<T> | undefined {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.filled) return undefined;
    return this.slots[(this.head - slot + this.capacity) % this.capacity];
  }

  /** Newest first. */
  *entries(): IterableIterator<RingEntry<T>> {
    for (let i = 0; i < this.filled; i++) yield this.slots[(this.head - i + this.capacity) % this.capacity]!;
  }

  /** One field of every filled slot, in the fetch reply's shape: [{inst: slot, value}]. */
  values(field: (event: T) => FetchValue): { inst: number; value: FetchValue }[] {
    const out: { inst: number; value: FetchValue }[] = new Array(this.filled);
    for (let i = 0; i < this.filled; i++) {
      out[i] = { inst: i, value: field(this.slots[(this.head - i + this.capacity) % this.capacity]!.event) };
    }
    return out;
  }

  /** The per-slot sequence numbers (u64). */
  seqValues(): { inst: number; value: bigint }[] {
    const out: { inst: number; value: bigint }[] = new Array(this.filled);
    for (let i = 0; i < this.filled; i++) {
      out[i] = { inst: i, value: this.slots[(this.head - i + this.capacity) % this.capacity]!.seq };
    }
    return out;
  }
}
