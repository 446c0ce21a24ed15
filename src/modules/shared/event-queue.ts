// Every event, for archives: the event-record metric of an event module (PM_TYPE_HIGHRES_EVENT,
// singular) returns to each client every event since that client's previous fetch of it, so
// pmlogger and pmevent see every exec or TCP session however fast they come, where a 20-slot
// ring sampled once a second shows only the last 20.
//
// One log per module, shared by all clients: each client has a cursor (the next event it has
// not seen). The log keeps at most `capacity` events, and drops what every client has seen,
// so memory is bounded by the busiest client's backlog; a client that falls further behind
// gets a MISSED record saying how many events it lost, then the ones still held. A client's
// first fetch registers it and returns no records: its stream starts there. While no client
// reads the metric, nothing is kept (and the parameters are never built).
import { eventParamWireBytes, eventRecordHeaderBytes } from '../../pcp/encode-result';
import { PM_EVENT_FLAG, type EventArray, type EventParam, type EventRecord } from '../../pcp/types';
import type { ClientRef } from '../../pmda/module';

export interface EventQueueOptions {
  /** Most events held for the slowest client. */
  capacity: number;
  /** Cap on one reply's encoded size; the rest waits for the next fetch (pmcd accepts large
   *  replies, but a value block's length field is 24 bits). */
  maxReplyBytes?: number;
}

interface Stored {
  record: EventRecord;
  bytes: number;
}

interface Cursor {
  ctxid: number;
  /** Sequence number of the next event this client has not received. */
  next: number;
}

const HIGHRES_RECORD_HEADER = eventRecordHeaderBytes(true);

export class EventQueue {
  readonly capacity: number;
  readonly maxReplyBytes: number;
  /** Held events; items[start] has sequence number `first`. */
  private items: Stored[] = [];
  private start = 0;
  private first = 1;
  /** Sequence number of the newest event pushed (0 before any). */
  private last = 0;
  private readonly clients = new Map<number, Cursor>();
  /** Events offered while no client was registered (never stored). */
  unobserved = 0;

  constructor(opts: EventQueueOptions) {
    if (!Number.isInteger(opts.capacity) || opts.capacity < 1) throw new Error(`event queue capacity must be a positive integer, got ${opts.capacity}`);
    this.capacity = opts.capacity;
    this.maxReplyBytes = opts.maxReplyBytes ?? 4 << 20;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Events held now. */
  get length(): number {
    return this.items.length - this.start;
  }

  /**
   * Offer one event with its wall-clock time (ns since the epoch). `params` builds the record's
   * parameters; it is called only when some client will read them.
   */
  push(epochNs: bigint, params: () => EventParam[]): void {
    this.last++;
    if (this.clients.size === 0) {
      this.first = this.last + 1;
      this.unobserved++;
      return;
    }
    const ps = params();
    let bytes = HIGHRES_RECORD_HEADER;
    for (const p of ps) bytes += eventParamWireBytes(p);
    const record: EventRecord = {
      sec: epochNs / 1_000_000_000n,
      frac: epochNs % 1_000_000_000n,
      flags: PM_EVENT_FLAG.POINT,
      params: ps,
    };
    this.items.push({ record, bytes });
    if (this.length > this.capacity) this.dropOldest(this.length - this.capacity);
  }

  private dropOldest(n: number): void {
    this.start += n;
    this.first += n;
    // Compact now and then so the array does not grow with everything ever pushed.
    if (this.start > 1024 && this.start * 2 > this.items.length) {
      this.items = this.items.slice(this.start);
      this.start = 0;
    }
  }

  /** The event-record value for this client: everything since its last fetch. */
  fetch(client: ClientRef): EventArray {
    let c = this.clients.get(client.slot);
    if (!c || c.ctxid !== client.ctxid) {
      // A new client (or a new context reusing a closed client's slot) starts from now.
      if (this.clients.size === 0) {
        this.items = [];
        this.start = 0;
        this.first = this.last + 1;
      }
      c = { ctxid: client.ctxid, next: this.last + 1 };
      this.clients.set(client.slot, c);
      return { highres: true, records: [] };
    }
    const records: EventRecord[] = [];
    let bytes = 4;
    if (c.next < this.first) {
      const missed = this.first - c.next;
      const at = this.length > 0 ? this.items[this.start].record : this.nowRecord();
      records.push({ sec: at.sec, frac: at.frac, flags: PM_EVENT_FLAG.MISSED, missed, params: [] });
      bytes += HIGHRES_RECORD_HEADER;
      c.next = this.first;
    }
    while (c.next <= this.last) {
      const s = this.items[this.start + (c.next - this.first)];
      // Always at least one record per reply, so a single huge event cannot wedge a client.
      if (records.length > 0 && bytes + s.bytes > this.maxReplyBytes) break;
      records.push(s.record);
      bytes += s.bytes;
      c.next++;
    }
    this.trim();
    return { highres: true, records };
  }

  /** Forget events every client has received. */
  private trim(): void {
    let min = this.last + 1;
    for (const c of this.clients.values()) if (c.next < min) min = c.next;
    if (min > this.first) this.dropOldest(Math.min(min, this.last + 1) - this.first);
  }

  private nowRecord(): { sec: bigint; frac: bigint } {
    const ns = BigInt(Date.now()) * 1_000_000n;
    return { sec: ns / 1_000_000_000n, frac: ns % 1_000_000_000n };
  }

  /** pmcd reported the client in `slot` gone. */
  clientClosed(slot: number): void {
    if (!this.clients.delete(slot)) return;
    if (this.clients.size === 0) {
      this.items = [];
      this.start = 0;
      this.first = this.last + 1;
    } else {
      this.trim();
    }
  }
}
