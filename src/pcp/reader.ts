// Bounds-checked big-endian reader over one PDU. Every read names its field so that a
// malformed PDU is reported as "PDU_X: field: what is wrong", never as a RangeError.
import { PduError } from './errors';

export class PduReader {
  readonly buf: Buffer;
  readonly pdu: string;
  off: number;
  /** Exclusive end of the readable region (the PDU length unless narrowed). */
  end: number;

  constructor(buf: Buffer, pdu: string, off = 0, end = buf.length) {
    this.buf = buf;
    this.pdu = pdu;
    this.off = off;
    this.end = end;
  }

  fail(field: string | undefined, problem: string): never {
    throw new PduError(this.pdu, field, problem);
  }

  remaining(): number {
    return this.end - this.off;
  }

  need(n: number, field: string): void {
    if (this.off + n > this.end) {
      this.fail(field, `truncated: needs ${n} bytes at offset ${this.off} but the PDU ends at ${this.end}`);
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.off++];
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.buf.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }

  i32(field: string): number {
    this.need(4, field);
    const v = this.buf.readInt32BE(this.off);
    this.off += 4;
    return v;
  }

  u32le(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32LE(this.off);
    this.off += 4;
    return v;
  }

  u64(field: string): bigint {
    this.need(8, field);
    const v = this.buf.readBigUInt64BE(this.off);
    this.off += 8;
    return v;
  }

  i64(field: string): bigint {
    this.need(8, field);
    const v = this.buf.readBigInt64BE(this.off);
    this.off += 8;
    return v;
  }

  f32(field: string): number {
    this.need(4, field);
    const v = this.buf.readFloatBE(this.off);
    this.off += 4;
    return v;
  }

  f64(field: string): number {
    this.need(8, field);
    const v = this.buf.readDoubleBE(this.off);
    this.off += 8;
    return v;
  }

  skip(n: number, field: string): void {
    this.need(n, field);
    this.off += n;
  }

  /** A copy, so the caller may keep it after the input chunk is gone. */
  bytes(n: number, field: string): Buffer {
    this.need(n, field);
    const v = Buffer.from(this.buf.subarray(this.off, this.off + n));
    this.off += n;
    return v;
  }

  utf8(n: number, field: string): string {
    this.need(n, field);
    const v = this.buf.toString('utf8', this.off, this.off + n);
    this.off += n;
    return v;
  }

  /** Skip the padding that follows `n` payload bytes (its content has no meaning). */
  pad(n: number, field: string): void {
    const p = (4 - (n & 3)) & 3;
    if (p) this.skip(p, `${field} padding`);
  }

  /** `len` (i32) + that many UTF-8 bytes + padding to 4: the PDU string form. */
  paddedString(field: string): string {
    const n = this.count(`${field} length`, 1);
    const s = this.utf8(n, field);
    this.pad(n, field);
    return s;
  }

  /**
   * An element count (i32) whose elements take at least `minBytes` each: rejecting a count the
   * rest of the PDU cannot hold stops a corrupt word from allocating a huge array.
   */
  count(field: string, minBytes: number, min = 0): number {
    const n = this.i32(field);
    if (n < min) this.fail(field, `bad count ${n} (must be >= ${min})`);
    if (n * minBytes > this.remaining()) {
      this.fail(field, `bad count ${n}: needs at least ${n * minBytes} bytes but only ${this.remaining()} remain`);
    }
    return n;
  }

  /** The PDU must be fully accounted for. */
  done(): void {
    if (this.off !== this.end) {
      this.fail(undefined, `${this.end - this.off} unexpected trailing bytes at offset ${this.off} (PDU length ${this.end})`);
    }
  }
}
