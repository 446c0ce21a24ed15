// Drains ring buffers on Node's main thread from a timer, so records reach the module between
// fetches without a thread, an epoll fd in libuv or a callback per record. The interval adapts:
// a ring found more than a quarter full halves the wait (down to minIntervalMs), a nearly
// empty one lets it grow back to intervalMs. A drain hands out at most `budget` records
// before yielding to the event loop (setImmediate), so a flood of events never holds up a
// PDU from pmcd for long.
import type { RecordSink, RingBufferReader } from './ringbuf';

export interface RingPollerOptions {
  /** Longest wait between drains (ms) when the rings are quiet. */
  intervalMs?: number;
  /** Shortest wait between drains (ms) under load. */
  minIntervalMs?: number;
  /** Records per ring per turn of the event loop. */
  budget?: number;
  /** A sink threw: the record is skipped (already released) and draining goes on. */
  onError?: (err: unknown) => void;
}

interface Entry {
  reader: RingBufferReader;
  sink: RecordSink;
}

export class RingPoller {
  private readonly rings: Entry[] = [];
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private running = false;
  private delay: number;
  readonly intervalMs: number;
  readonly minIntervalMs: number;
  readonly budget: number;
  private readonly onError: (err: unknown) => void;
  /** Totals since start, for tests and benchmarks. */
  records = 0;
  drains = 0;

  constructor(opts: RingPollerOptions = {}) {
    this.intervalMs = opts.intervalMs ?? 100;
    this.minIntervalMs = Math.min(opts.minIntervalMs ?? 1, this.intervalMs);
    this.budget = opts.budget ?? 65536;
    this.onError = opts.onError ?? (() => {});
    this.delay = this.intervalMs;
  }

  add(reader: RingBufferReader, sink: RecordSink): void {
    this.rings.push({ reader, sink });
  }

  /** Drain every ring completely, now (a fetch calls this so it sees every event so far). */
  drainAll(): number {
    let n = 0;
    for (const e of this.rings) {
      for (;;) {
        const r = this.drainOne(e, this.budget);
        n += r.records;
        if (!r.more) break;
      }
    }
    return n;
  }

  private drainOne(e: Entry, budget: number): { records: number; more: boolean; fill: number } {
    if (e.reader.closed) return { records: 0, more: false, fill: 0 };
    const before = e.reader.pending();
    let records = 0;
    let more = false;
    // A sink that throws ends this drain call; the loop resumes after the failing record.
    for (;;) {
      try {
        const r = e.reader.drain(e.sink, budget - records);
        records += r.records;
        more = r.more;
        break;
      } catch (err) {
        records++;
        this.onError(err);
        if (records >= budget) {
          more = true;
          break;
        }
      }
    }
    this.records += records;
    this.drains++;
    return { records, more, fill: before / e.reader.size };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.delay = this.intervalMs;
    this.schedule(this.delay);
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    if (ms <= 0) {
      this.immediate = setImmediate(() => this.tick());
    } else {
      this.timer = setTimeout(() => this.tick(), ms);
      this.timer.unref();
    }
  }

  private tick(): void {
    this.timer = null;
    this.immediate = null;
    if (!this.running) return;
    let more = false;
    let fill = 0;
    for (const e of this.rings) {
      const r = this.drainOne(e, this.budget);
      more ||= r.more;
      fill = Math.max(fill, r.fill);
    }
    if (fill > 0.25) this.delay = Math.max(this.minIntervalMs, this.delay / 2);
    else if (fill < 0.05) this.delay = Math.min(this.intervalMs, this.delay * 2);
    this.schedule(more ? 0 : this.delay);
  }

  /** Current wait between drains (ms). */
  get currentDelayMs(): number {
    return this.delay;
  }

  /** Stop the timer; the rings stay open (their owner closes them). */
  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
  }
}
