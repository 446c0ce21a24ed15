// Reading a BPF ring buffer (BPF_MAP_TYPE_RINGBUF) by mapping it into the process and walking
// its records in JavaScript, the way libbpf's ringbuf.c does in C, but with no native call and
// no FFI callback per record: a drain costs two atomic loads and one atomic store per pass plus
// a plain JS call per record. bench/events.bench.ts compares this with libbpf's
// ring_buffer__consume driving a koffi callback (ringbuf-callback.ts) and with a C consumer.
//
// Layout (kernel/bpf/ringbuf.c): at file offset 0 one page holding consumer_pos (the only
// page user space may write); at offset PAGE, one page holding producer_pos followed by the
// data area, which the kernel maps twice in a row so a record that wraps past the end is
// still contiguous. Each record is an 8-byte header {u32 len | BUSY | DISCARD, u32 pg_off}
// followed by len bytes, the whole rounded up to 8.
import { BpfError } from './errors';
import { C, koffi, lastErrno } from './libbpf';
import type { BpfMap } from './map';

const { mmap, munmap, sysconf, clock_gettime: clockGettime } = C;

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const SC_PAGESIZE = 30;
const MAP_FAILED = BigInt.asUintN(64, -1n);
const BPF_MAP_TYPE_RINGBUF = 27;

const BUSY_BIT = 0x80000000;
const DISCARD_BIT = 0x40000000;
const LEN_MASK = 0x3fffffff;
const HDR = 8;

export const PAGE_SIZE: number = sysconf(SC_PAGESIZE);

/**
 * Called once per record with a view of the ring (`buf`) and the record's place in it; `u32`
 * views the same bytes as 32-bit words (records start 8-byte aligned, so a u32 field at byte
 * k of the record is u32[(offset + k) >>> 2]: faster than buf.readUInt32LE for hot sinks).
 * The bytes are only valid during the call: copy what you keep.
 */
export type RecordSink = (buf: Buffer, offset: number, length: number, u32: Uint32Array) => void;

/**
 * Whether record headers need an acquire load. The kernel clears a header's BUSY bit with a
 * release store after writing the record; on x86 every load is an acquire (TSO), so a plain
 * typed-array read is enough and costs a third of Atomics.load (bench/events.bench.ts). V8
 * keeps the load inside the loop because the sink call in between is opaque to it.
 */
const HEADER_NEEDS_ATOMICS = process.arch !== 'x64' && process.arch !== 'ia32';

export interface DrainResult {
  /** Records handed to the sink (discarded records are skipped and not counted). */
  records: number;
  /** Bytes of ring space released. */
  bytes: number;
  /** True when the drain stopped at its budget with records still waiting. */
  more: boolean;
}

function mapOrThrow(len: number, prot: number, fd: number, offset: number, what: string): unknown {
  const p = mmap(null, len, prot, MAP_SHARED, fd, offset);
  if (p === null || koffi.address(p) === MAP_FAILED) {
    throw new BpfError('mmap ring buffer', lastErrno(), what);
  }
  return p;
}

export class RingBufferReader {
  /** Data area size in bytes (the map's max_entries, a power-of-two number of pages). */
  readonly size: number;
  private readonly mask: number;
  private consPtr: unknown;
  private prodPtr: unknown;
  private readonly prodLen: number;
  /** consumer_pos, the one word we write. */
  private cons: BigUint64Array | null;
  /** producer_pos, written by the kernel. */
  private prod: BigUint64Array | null;
  /** The data area, twice: a record never needs reassembling. */
  private data: Buffer | null;
  /** The same bytes as Int32, for atomic reads of record headers. */
  private words: Int32Array | null;
  /** The same bytes as Uint32, handed to sinks. */
  private u32: Uint32Array | null;
  private pos: bigint;

  /** Map a loaded RINGBUF map. Close the reader before the map's object. */
  static open(map: BpfMap): RingBufferReader {
    if (map.type !== BPF_MAP_TYPE_RINGBUF) {
      throw new BpfError('open ring buffer', 0, `map ${map.name}`, `map type ${map.type} is not a ring buffer (27)`);
    }
    return new RingBufferReader(map.fd, map.maxEntries, `map ${map.name}`);
  }

  constructor(fd: number, size: number, readonly description = `ring buffer fd ${fd}`) {
    if (size <= 0 || size & (size - 1) || size % PAGE_SIZE) {
      throw new BpfError('open ring buffer', 0, description, `size ${size} is not a power-of-two number of pages`);
    }
    this.size = size;
    this.mask = size - 1;
    this.consPtr = mapOrThrow(PAGE_SIZE, PROT_READ | PROT_WRITE, fd, 0, description);
    this.prodLen = PAGE_SIZE + 2 * size;
    try {
      this.prodPtr = mapOrThrow(this.prodLen, PROT_READ, fd, PAGE_SIZE, description);
    } catch (e) {
      munmap(this.consPtr, PAGE_SIZE);
      throw e;
    }
    this.cons = new BigUint64Array(koffi.view(this.consPtr, PAGE_SIZE), 0, 1);
    const prodAb = koffi.view(this.prodPtr, this.prodLen);
    this.prod = new BigUint64Array(prodAb, 0, 1);
    this.data = Buffer.from(prodAb, PAGE_SIZE, 2 * size);
    this.words = new Int32Array(prodAb, PAGE_SIZE, (2 * size) / 4);
    this.u32 = new Uint32Array(prodAb, PAGE_SIZE, (2 * size) / 4);
    this.pos = Atomics.load(this.cons, 0);
  }

  get closed(): boolean {
    return this.data === null;
  }

  /** Bytes written by the kernel and not yet consumed (records in flight included). */
  pending(): number {
    if (!this.prod) return 0;
    return Number(Atomics.load(this.prod, 0) - this.pos);
  }

  /**
   * Hand every complete record to `sink`, oldest first, releasing their space to the kernel,
   * until the ring is empty or `budget` records were delivered. Stops at a record the kernel
   * is still writing (BUSY); it will be first next time.
   */
  drain(sink: RecordSink, budget = Infinity): DrainResult {
    const data = this.data;
    const words = this.words;
    const u32 = this.u32;
    const cons = this.cons;
    const prod = this.prod;
    if (!data || !words || !u32 || !cons || !prod) throw new BpfError('drain ring buffer', 0, this.description, 'the reader is closed');
    const mask = this.mask;
    let records = 0;
    let released = 0;
    let more = false;
    // Bytes walked in the current pass and not yet published to the kernel.
    let done = 0;
    try {
      for (;;) {
        // One acquire load of producer_pos per pass; the window is bounded by the ring size.
        const avail = Number(Atomics.load(prod, 0) - this.pos);
        if (avail <= 0) break;
        let off = Number(this.pos & BigInt(mask));
        let busy = false;
        done = 0;
        while (done < avail) {
          if (records >= budget) {
            more = true;
            break;
          }
          // Acquire load of the header: the kernel clears BUSY after writing the payload.
          const hdr = (HEADER_NEEDS_ATOMICS ? Atomics.load(words, off >>> 2) : words[off >>> 2]) >>> 0;
          if (hdr & BUSY_BIT) {
            busy = true;
            break;
          }
          const len = hdr & LEN_MASK;
          const step = (len + HDR + 7) & ~7;
          // Counted as walked before the sink runs, so a throwing sink cannot stall the ring.
          done += step;
          if (!(hdr & DISCARD_BIT)) {
            records++;
            sink(data, off + HDR, len, u32);
          }
          off = (off + step) & mask;
        }
        this.publish(done);
        released += done;
        done = 0;
        if (more || busy) break;
      }
    } catch (e) {
      // Keep the ring consistent: what was walked is released, the failing record included.
      this.publish(done);
      throw e;
    }
    return { records, bytes: released, more };
  }

  private publish(bytes: number): void {
    if (bytes <= 0 || !this.cons) return;
    this.pos += BigInt(bytes);
    Atomics.store(this.cons, 0, this.pos);
  }

  /** Unmap; idempotent. Views handed to sinks are invalid from here on. */
  close(): void {
    if (this.data === null) return;
    this.data = null;
    this.words = null;
    this.u32 = null;
    this.cons = null;
    this.prod = null;
    munmap(this.prodPtr, this.prodLen);
    munmap(this.consPtr, PAGE_SIZE);
  }
}

/** Round a requested ring size up to what the kernel accepts: a power-of-two number of pages. */
export function ringSize(bytes: number): number {
  let n = PAGE_SIZE;
  while (n < bytes) n *= 2;
  return n;
}

const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC = 1;

function clockNs(clk: number, ts: Buffer): bigint {
  if (clockGettime(clk, ts) !== 0) throw new BpfError('clock_gettime', lastErrno());
  return ts.readBigInt64LE(0) * 1_000_000_000n + ts.readBigInt64LE(8);
}

/**
 * Nanoseconds to add to a bpf_ktime_get_ns() value (CLOCK_MONOTONIC) to get nanoseconds since
 * the epoch. The realtime read is bracketed by two monotonic reads and the tightest of a few
 * tries is kept, so the error is well under a microsecond. Recompute now and then: the two
 * clocks drift apart when NTP slews the wall clock.
 */
export function monotonicToEpochNs(): bigint {
  const ts = Buffer.alloc(16);
  let best = 0n;
  let bestGap = -1n;
  for (let i = 0; i < 5; i++) {
    const a = clockNs(CLOCK_MONOTONIC, ts);
    const r = clockNs(CLOCK_REALTIME, ts);
    const b = clockNs(CLOCK_MONOTONIC, ts);
    const gap = b - a;
    if (bestGap < 0n || gap < bestGap) {
      bestGap = gap;
      best = r - (a + b) / 2n;
    }
  }
  return best;
}

/** CLOCK_MONOTONIC now, in ns: the clock bpf_ktime_get_ns() reads. */
export function monotonicNs(): bigint {
  return clockNs(CLOCK_MONOTONIC, Buffer.alloc(16));
}

/**
 * The kernel-side loss counter the event programs keep: a one-entry per-CPU u64 array
 * (`drops`), bumped when bpf_ringbuf_reserve/output fails. delta() returns what was added
 * since the previous call; one bpf() syscall per call.
 */
export class DropCounter {
  private last = 0n;
  private readonly key = Buffer.alloc(4);

  constructor(private readonly map: BpfMap) {
    if (!map.perCpu || map.keySize !== 4 || map.valueSize !== 8) {
      throw new BpfError('drop counter', 0, `map ${map.name}`, 'expected a per-CPU array of one u64');
    }
  }

  total(): bigint {
    const v = this.map.lookup(this.key);
    if (!v) return this.last;
    let s = 0n;
    for (let off = 0; off + 8 <= v.length; off += this.map.cpuStride) s += v.readBigUInt64LE(off);
    return s;
  }

  delta(): bigint {
    const t = this.total();
    const d = t - this.last;
    this.last = t;
    return d > 0n ? d : 0n;
  }
}
