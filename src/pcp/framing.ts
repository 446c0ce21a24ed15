// Cuts the pmcd -> PMDA byte stream into PDUs by their `len` word (§2). A read may hold part of
// a PDU or several; pieces are kept as a list and joined only once a whole PDU is there, so
// byte-at-a-time input costs O(n), not O(n^2).
import { PduError } from './errors';

export const HEADER_LEN = 12;
export const DEFAULT_MAX_PDU = 1024 * 1024;

export interface FramerOptions {
  /** Largest acceptable `len`. pmcd -> PMDA PDUs are small; a huge len means a corrupt stream. */
  maxLen?: number;
}

export class PduFramer {
  private readonly maxLen: number;
  private chunks: Buffer[] = [];
  /** Bytes in `chunks`, of which the first `head` bytes of chunks[0] are already consumed. */
  private total = 0;
  private head = 0;
  /** `len` of the PDU being assembled, 0 while its header is incomplete. */
  private want = 0;
  /** A bad header found after good PDUs in the same chunk: thrown on the next call. */
  private deferred: PduError | null = null;
  private broken: PduError | null = null;

  constructor(opts: FramerOptions = {}) {
    this.maxLen = opts.maxLen ?? DEFAULT_MAX_PDU;
    if (!Number.isInteger(this.maxLen) || this.maxLen < HEADER_LEN) {
      throw new RangeError(`PduFramer: maxLen ${this.maxLen} must be an integer >= ${HEADER_LEN}`);
    }
  }

  /** Bytes received but not yet returned as a PDU. */
  pending(): number {
    return this.total;
  }

  /**
   * Adds a chunk and returns every PDU now complete (each exactly `len` bytes, in order).
   * Throws PduError on a header with `len` < 12 or > maxLen. PDUs completed before the bad
   * header in the same chunk are returned first and the error is thrown by the next push()
   * or end(), so nothing already received is lost. After that the framer stays broken: the
   * stream has no resynchronisation point.
   *
   * The framer keeps `chunk` and may return PDUs that are views into it: do not reuse or
   * modify a chunk after pushing it (Node stream chunks are never reused; a buffer refilled
   * by fs.readSync must be copied first).
   */
  push(chunk: Buffer): Buffer[] {
    this.throwIfBroken();
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.total += chunk.length;
    }
    const out: Buffer[] = [];
    for (;;) {
      if (this.want === 0) {
        if (this.total < HEADER_LEN) break;
        const len = this.peekLen();
        const bad = this.checkLen(len);
        if (bad) {
          this.broken = bad;
          if (out.length === 0) throw bad;
          this.deferred = bad;
          break;
        }
        this.want = len;
      }
      if (this.total < this.want) break;
      out.push(this.take(this.want));
      this.want = 0;
    }
    return out;
  }

  /**
   * Call at end of input: throws PduError if a partial PDU is left (truncated stream) or a
   * deferred header error is pending.
   */
  end(): void {
    this.throwIfBroken();
    if (this.total > 0) {
      const what = this.want ? `a ${this.want}-byte PDU` : 'a PDU header';
      throw new PduError('stream', undefined, `input ended inside ${what}: ${this.total} bytes pending (truncated PDU)`);
    }
  }

  private throwIfBroken(): void {
    if (this.deferred) {
      const e = this.deferred;
      this.deferred = null;
      throw e;
    }
    if (this.broken) throw this.broken;
  }

  private checkLen(len: number): PduError | null {
    if (len < HEADER_LEN) {
      return new PduError('stream', 'len', `PDU length ${len} is smaller than the ${HEADER_LEN}-byte header`);
    }
    if (len > this.maxLen) {
      return new PduError('stream', 'len', `PDU length ${len} exceeds the ${this.maxLen}-byte limit`);
    }
    return null;
  }

  /** The first 4 buffered bytes as a big-endian i32, wherever the chunk boundaries fall. */
  private peekLen(): number {
    const first = this.chunks[0];
    if (first.length - this.head >= 4) return first.readInt32BE(this.head);
    let v = 0;
    let got = 0;
    for (let i = 0; got < 4; i++) {
      const c = this.chunks[i];
      for (let j = i === 0 ? this.head : 0; j < c.length && got < 4; j++, got++) v = v * 256 + c[j];
    }
    return v | 0;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    let out: Buffer;
    if (first.length - this.head >= n) {
      // Zero-copy: the PDU lies inside one chunk (the common case for pmcd's writes).
      out = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
    } else {
      out = Buffer.allocUnsafe(n);
      let got = 0;
      let i = 0;
      let h = this.head;
      while (got < n) {
        const c = this.chunks[i];
        const k = Math.min(c.length - h, n - got);
        c.copy(out, got, h, h + k);
        got += k;
        h += k;
        if (h === c.length) {
          i++;
          h = 0;
        }
      }
      // One splice per PDU (not one shift per chunk) keeps byte-at-a-time input linear.
      this.chunks.splice(0, i);
      this.head = h;
    }
    this.total -= n;
    return out;
  }
}
