// Growable big-endian writer for one PDU. Padding is 0x7e ('~') because libpcp pads that way,
// which lets re-encoded PDUs match captured bytes exactly.
import { PduError } from './errors';

export const PAD_BYTE = 0x7e;

export const pad4 = (n: number): number => (n + 3) & ~3;

const U32_MAX = 0xffffffff;
const I32_MIN = -0x80000000;
const U64_MAX = 0xffffffffffffffffn;
const I64_MIN = -0x8000000000000000n;
const I64_MAX = 0x7fffffffffffffffn;
const TWO_32 = 0x100000000;

export class PduWriter {
  buf: Buffer;
  off = 0;
  readonly pdu: string;

  /** `capacity`: exact size when the caller computed it (then no growth ever happens). */
  constructor(pdu: string, capacity = 256) {
    this.pdu = pdu;
    this.buf = Buffer.allocUnsafe(Math.max(capacity, 12));
  }

  /** Writes into `buf` (already sized by the caller) instead of a fresh buffer. */
  static over(buf: Buffer, pdu: string): PduWriter {
    const w = new PduWriter(pdu, 12);
    w.buf = buf;
    return w;
  }

  fail(field: string, problem: string): never {
    throw new PduError(this.pdu, field, problem);
  }

  ensure(n: number): void {
    const need = this.off + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.off);
    this.buf = next;
  }

  /** len (patched by finish), type, from. */
  header(type: number, from: number): void {
    this.off = 0;
    this.ensure(12);
    this.buf.writeUInt32BE(0, 0);
    this.buf.writeUInt32BE(type, 4);
    this.off = 8;
    this.i32(from, 'from');
  }

  u8(v: number, field: string): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) this.fail(field, `${v} is not a u8`);
    this.ensure(1);
    this.buf[this.off++] = v;
  }

  u16(v: number, field: string): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) this.fail(field, `${v} is not a u16`);
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.off);
    this.off += 2;
  }

  /** Unsigned word; a negative int32 is taken as its two's complement (PM_IN_NULL may arrive as -1). */
  u32(v: number, field: string): void {
    if (!Number.isInteger(v) || v < I32_MIN || v > U32_MAX) this.fail(field, `${v} does not fit in 32 bits`);
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.off);
    this.off += 4;
  }

  u32le(v: number, field: string): void {
    if (!Number.isInteger(v) || v < I32_MIN || v > U32_MAX) this.fail(field, `${v} does not fit in 32 bits`);
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.off);
    this.off += 4;
  }

  /** Signed word; values up to 0xffffffff are accepted as their int32 bit pattern. */
  i32(v: number, field: string): void {
    if (!Number.isInteger(v) || v < I32_MIN || v > U32_MAX) this.fail(field, `${v} does not fit in 32 bits`);
    this.ensure(4);
    this.buf.writeInt32BE(v | 0, this.off);
    this.off += 4;
  }

  u64(v: bigint | number, field: string): void {
    this.ensure(8);
    if (typeof v === 'number') {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffffffffffff) this.fail(field, `${v} is not a u64`);
      // Two word writes avoid a BigInt allocation; every integer-valued double splits exactly.
      this.buf.writeUInt32BE(Math.floor(v / TWO_32), this.off);
      this.buf.writeUInt32BE(v % TWO_32, this.off + 4);
    } else {
      if (v < 0n || v > U64_MAX) this.fail(field, `${v} is not a u64`);
      this.buf.writeBigUInt64BE(v, this.off);
    }
    this.off += 8;
  }

  i64(v: bigint | number, field: string): void {
    this.ensure(8);
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) this.fail(field, `${v} is not an integer`);
      v = BigInt(v);
    }
    if (v < I64_MIN || v > I64_MAX) this.fail(field, `${v} is not an i64`);
    this.buf.writeBigInt64BE(v, this.off);
    this.off += 8;
  }

  f32(v: number): void {
    this.ensure(4);
    this.buf.writeFloatBE(v, this.off);
    this.off += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.off);
    this.off += 8;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.off);
    this.off += b.length;
  }

  /** Writes UTF-8, returns the byte count. */
  utf8(s: string): number {
    const n = Buffer.byteLength(s, 'utf8');
    this.ensure(n);
    this.buf.write(s, this.off, n, 'utf8');
    this.off += n;
    return n;
  }

  /** Pads with 0x7e up to the next multiple of 4 (offsets are PDU-relative, so alignment is too). */
  pad(): void {
    const p = (4 - (this.off & 3)) & 3;
    if (!p) return;
    this.ensure(p);
    this.buf.fill(PAD_BYTE, this.off, this.off + p);
    this.off += p;
  }

  /** `len` (i32) + UTF-8 bytes + 0x7e padding: the PDU string form. */
  paddedString(s: string, field: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.i32(n, `${field} length`);
    this.ensure(n);
    this.buf.write(s, this.off, n, 'utf8');
    this.off += n;
    this.pad();
  }

  /** Patches `len` and returns exactly the written bytes. */
  finish(): Buffer {
    this.buf.writeUInt32BE(this.off, 0);
    return this.off === this.buf.length ? this.buf : this.buf.subarray(0, this.off);
  }
}
