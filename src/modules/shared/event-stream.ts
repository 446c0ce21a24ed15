// The plumbing every event module shares: a BPF ring buffer drained into the module between
// fetches (ringbuf-poller), each accepted event numbered and kept in the last-N ring
// (event-ring) and offered to the per-client queue behind the event-record metric
// (event-queue), and the kernel's drop counter turned into the module's `lost` metric.
// A module supplies how to decode a record and which parameters an event record carries.
import type { BpfObject } from '../../bpf';
import { DropCounter, monotonicToEpochNs, RingBufferReader } from '../../bpf/ringbuf';
import { RingPoller } from '../../bpf/ringbuf-poller';
import type { EventParam } from '../../pcp/types';
import { PM_IN_NULL } from '../../pcp/types';
import type { ClientRef, FetchResult, FetchValue, ModuleContext } from '../../pmda/module';
import type { InstanceDomain } from '../../pmda/indom';
import { EventQueue } from './event-queue';
import { EventRing } from './event-ring';

export interface EventStreamOptions<T> {
  /** Slots of the ring ("0".."ring-1"). */
  ring: number;
  indom: InstanceDomain;
  /** Events held per module for the slowest client of the event-record metric. */
  queue: number;
  /** Longest wait between ring-buffer drains (ms). */
  pollIntervalMs?: number;
  /** Decode one ring-buffer record; null drops it (a user-space filter said no). */
  decode(buf: Buffer, off: number, len: number): T | null;
  /** bpf_ktime_get_ns() of the event. */
  monotonicNs(ev: T): bigint;
  /** The parameters of the event's record (the module's own per-field metrics). */
  params(ev: T, seq: bigint): EventParam[];
}

/** How often the monotonic → wall-clock offset is re-measured (NTP slews the wall clock). */
const CLOCK_RESYNC_MS = 60_000;

export class EventStream<T> {
  readonly ring: EventRing<T>;
  readonly queue: EventQueue;
  /** Events the kernel could not deliver (ring full), since start. */
  lost = 0n;
  /** Records decoded but refused by a user-space filter. */
  filtered = 0;
  private readonly poller: RingPoller;
  private reader: RingBufferReader | null = null;
  private drops: DropCounter | null = null;
  private epochOffset = monotonicToEpochNs();
  private offsetAt = Date.now();

  constructor(
    private readonly ctx: ModuleContext,
    private readonly opts: EventStreamOptions<T>,
  ) {
    this.ring = new EventRing<T>(opts.ring, opts.indom);
    this.queue = new EventQueue({ capacity: opts.queue });
    this.poller = new RingPoller({
      intervalMs: opts.pollIntervalMs ?? 100,
      onError: (err) => ctx.log.warn({ err: (err as Error).message }, 'bad event record skipped'),
    });
  }

  /** After load: map the object's `events` ring and `drops` counter and start draining. */
  attach(obj: BpfObject, ringMap = 'events', dropsMap = 'drops'): void {
    this.reader = RingBufferReader.open(obj.map(ringMap));
    this.drops = new DropCounter(obj.map(dropsMap));
    this.poller.add(this.reader, (buf, off, len) => this.accept(buf, off, len));
    this.poller.start();
  }

  private accept(buf: Buffer, off: number, len: number): void {
    const ev = this.opts.decode(buf, off, len);
    if (ev === null) {
      this.filtered++;
      return;
    }
    const seq = this.ring.push(ev);
    this.queue.push(this.opts.monotonicNs(ev) + this.epochOffset, () => this.opts.params(ev, seq));
  }

  /** Before a fetch: take in everything the kernel has produced so far, and its drop count. */
  refresh(): void {
    if (!this.reader) return;
    if (Date.now() - this.offsetAt > CLOCK_RESYNC_MS) {
      this.epochOffset = monotonicToEpochNs();
      this.offsetAt = Date.now();
    }
    this.poller.drainAll();
    const d = this.drops!.delta();
    if (d > 0n) {
      this.lost += d;
      this.ctx.status.addLost(d);
    }
  }

  /** One field of every filled ring slot. */
  values(field: (ev: T) => FetchValue): FetchResult {
    return this.ring.values(field);
  }

  seqValues(): FetchResult {
    return this.ring.seqValues();
  }

  lostValue(): FetchResult {
    return [{ inst: PM_IN_NULL, value: this.lost }];
  }

  records(client: ClientRef): FetchResult {
    return [{ inst: PM_IN_NULL, value: this.queue.fetch(client) }];
  }

  clientClosed(slot: number): void {
    this.queue.clientClosed(slot);
  }

  /** Stop draining and unmap the ring; call before closing the BPF object. */
  stop(): void {
    this.poller.stop();
    this.reader?.close();
    this.reader = null;
    this.drops = null;
  }
}

