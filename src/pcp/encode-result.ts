// PDU_RESULT encoders (§5.6, §5.7). encodeResult is on every fetch path: one sizing pass that
// also validates, one Buffer.allocUnsafe of the exact size, one writing pass with two cursors
// (value sets at the front, value blocks behind them in reference order). No per-value Buffers.
import { PduError } from './errors';
import { PAD_BYTE, PduWriter, pad4 } from './writer';
import { PDU, PM_TYPE, PM_VAL, pmidString, type EventArray, type EventParam, type ResultSet, type Value, type ValueSet } from './types';

const MISSED = 0x80000000;
const U64_MAX = 0xffffffffffffffffn;
const I64_MIN = -0x8000000000000000n;
const I64_MAX = 0x7fffffffffffffffn;
const TWO_32 = 0x100000000;
const VLEN_MAX = 0xffffff;
const NAME = 'PDU_RESULT';

export interface ResultOptions {
  /** PMCD_STATE bits (LABEL_CHANGE, NAMES_CHANGE) for the low byte of `sec`; never a time. */
  stateFlags?: number;
  from?: number;
  /**
   * A value the metric's type cannot carry (wrong JS type, out of range, oversized). Return the
   * numval to send for that whole set instead (a negative PM_ERR_*), e.g. after logging `reason`.
   * Without it encodeResult throws a PduError naming pmid, instance and reason.
   */
  onInvalid?: (pmid: number, inst: number, reason: string) => number;
}

export interface StoreOptions {
  /** pmcd client slot. */
  from?: number;
  /** Whatever the client's pmResult held; pmcd and PMDAs ignore it. */
  sec?: number;
  usec?: number;
}

/** Thrown by the sizing pass; caught per set and turned into onInvalid / PduError. */
class InvalidValue {
  constructor(
    readonly inst: number,
    readonly reason: string,
  ) {}
}

const typeName = (t: number): string =>
  ({ 0: '32', 1: 'U32', 2: '64', 3: 'U64', 4: 'FLOAT', 5: 'DOUBLE', 6: 'STRING', 7: 'AGGREGATE', 9: 'EVENT', 10: 'HIGHRES_EVENT', [-1]: 'NOSUPPORT' } as Record<number, string>)[t] ?? String(t);

const show = (v: unknown): string => {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (Buffer.isBuffer(v)) return `Buffer(${v.length})`;
  if (v !== null && typeof v === 'object') return 'object';
  return String(v);
};

function isInst(inst: number): boolean {
  return inst >>> 0 === inst || inst === (inst | 0);
}

/** Bytes of one value's block (pad4 included) for `type`, or 0 for INSITU types; throws InvalidValue. */
function blockBytes(type: number, inst: number, v: Value): number {
  switch (type) {
    case PM_TYPE.I32:
      if (typeof v === 'number' ? v === (v | 0) : typeof v === 'bigint' && v >= -0x80000000n && v <= 0x7fffffffn) return 0;
      break;
    case PM_TYPE.U32:
      if (typeof v === 'number' ? v === v >>> 0 : typeof v === 'bigint' && v >= 0n && v <= 0xffffffffn) return 0;
      break;
    case PM_TYPE.U64:
      if (typeof v === 'bigint' ? v >= 0n && v <= U64_MAX : typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 64) return 12;
      break;
    case PM_TYPE.I64:
      if (typeof v === 'bigint' ? v >= I64_MIN && v <= I64_MAX : typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 63) return 12;
      break;
    case PM_TYPE.DOUBLE:
      if (typeof v === 'number') return 12;
      break;
    case PM_TYPE.FLOAT:
      if (typeof v === 'number') return 8;
      break;
    case PM_TYPE.STRING:
      if (typeof v === 'string') return checkVlen(inst, 5 + Buffer.byteLength(v, 'utf8'));
      break;
    case PM_TYPE.AGGREGATE:
      if (v instanceof Uint8Array) return checkVlen(inst, 4 + v.length);
      break;
    case PM_TYPE.EVENT:
    case PM_TYPE.HIGHRES_EVENT: {
      const highres = type === PM_TYPE.HIGHRES_EVENT;
      if (isEventArray(v)) {
        if (v.highres !== highres) throw new InvalidValue(inst, `event array has highres=${v.highres} but the metric type is ${typeName(type)}`);
        return checkVlen(inst, 4 + eventArrayBytes(v, inst));
      }
      break;
    }
    default:
      throw new InvalidValue(inst, `metric type ${typeName(type)} cannot carry values`);
  }
  throw new InvalidValue(inst, `value ${show(v)} cannot be sent as PM_TYPE_${typeName(type)}`);
}

function checkVlen(inst: number, vlen: number): number {
  if (vlen > VLEN_MAX) throw new InvalidValue(inst, `value needs ${vlen} bytes, more than a value block's 24-bit vlen allows`);
  return pad4(vlen);
}

function isEventArray(v: Value): v is EventArray {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && Array.isArray((v as EventArray).records);
}

const fitsI32 = (x: unknown): boolean =>
  typeof x === 'number' ? x === (x | 0) : typeof x === 'bigint' && x >= -0x80000000n && x <= 0x7fffffffn;
const fitsU32 = (x: unknown): boolean =>
  typeof x === 'number' ? x === x >>> 0 : typeof x === 'bigint' && x >= 0n && x <= 0xffffffffn;
const fitsI64 = (x: unknown): boolean =>
  typeof x === 'bigint' ? x >= I64_MIN && x <= I64_MAX : typeof x === 'number' && Number.isInteger(x) && x >= -(2 ** 63) && x < 2 ** 63;
const fitsU64 = (x: unknown): boolean =>
  typeof x === 'bigint' ? x >= 0n && x <= U64_MAX : typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 2 ** 64;

/** Unpadded payload bytes of a value of an event parameter type; -1 for an unsupported type. */
function payloadBytes(type: number, v: unknown): number {
  switch (type) {
    case PM_TYPE.I32:
    case PM_TYPE.U32:
    case PM_TYPE.FLOAT:
      return 4;
    case PM_TYPE.I64:
    case PM_TYPE.U64:
    case PM_TYPE.DOUBLE:
      return 8;
    case PM_TYPE.STRING:
      return typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : 0;
    case PM_TYPE.AGGREGATE:
      return v instanceof Uint8Array ? v.length : 0;
    default:
      return -1;
  }
}

/** Bytes one event parameter takes on the wire (header + padded value), without validating it. */
export function eventParamWireBytes(p: EventParam): number {
  return 8 + pad4(Math.max(payloadBytes(p.type, p.value), 0));
}

/** Bytes of one event record's header (timestamp, flags, nparams) on the wire. */
export function eventRecordHeaderBytes(highres: boolean): number {
  return highres ? 24 : 16;
}

/** Payload bytes of one event parameter's value (unpadded); validates it completely. */
function paramBytes(p: EventParam, inst: number): number {
  const v = p.value;
  const n = payloadBytes(p.type, v);
  if (n < 0) throw new InvalidValue(inst, `event parameter ${p.pmid} has unsupported type ${typeName(p.type)}`);
  let ok: boolean;
  switch (p.type) {
    case PM_TYPE.I32:
      ok = fitsI32(v);
      break;
    case PM_TYPE.U32:
      ok = fitsU32(v);
      break;
    case PM_TYPE.I64:
      ok = fitsI64(v);
      break;
    case PM_TYPE.U64:
      ok = fitsU64(v);
      break;
    case PM_TYPE.FLOAT:
    case PM_TYPE.DOUBLE:
      ok = typeof v === 'number';
      break;
    case PM_TYPE.STRING:
      ok = typeof v === 'string';
      break;
    default:
      ok = v instanceof Uint8Array;
  }
  if (!ok) throw new InvalidValue(inst, `event parameter ${p.pmid} value ${show(v)} cannot be sent as PM_TYPE_${typeName(p.type)}`);
  if (!fitsU32(p.pmid)) throw new InvalidValue(inst, `event parameter pmid ${show(p.pmid)} is not a 32-bit id`);
  if (n + 4 > VLEN_MAX) throw new InvalidValue(inst, `event parameter ${p.pmid} needs ${n + 4} bytes, more than its 24-bit len allows`);
  return n;
}

/** Event array payload size: nrecords word + records; validates every field written later. */
function eventArrayBytes(ea: EventArray, inst: number): number {
  let n = 4;
  const hdr = eventRecordHeaderBytes(ea.highres);
  const fitsTime = ea.highres ? fitsI64 : fitsI32;
  ea.records.forEach((rec, k) => {
    if (!fitsTime(rec.sec) || !fitsTime(rec.frac)) {
      throw new InvalidValue(inst, `event record ${k} timestamp ${show(rec.sec)}.${show(rec.frac)} does not fit the ${ea.highres ? 'HIGHRES_EVENT' : 'EVENT'} form`);
    }
    if (!fitsU32(rec.flags)) throw new InvalidValue(inst, `event record ${k} flags ${show(rec.flags)} are not a u32`);
    n += hdr;
    if (rec.flags & MISSED) {
      if (rec.missed !== undefined && !fitsI32(rec.missed)) throw new InvalidValue(inst, `event record ${k} missed count ${show(rec.missed)} is not an int32`);
      return;
    }
    for (const p of rec.params) n += 8 + pad4(paramBytes(p, inst));
  });
  return n;
}

/** Writes an event array payload (after the block header) at w.off. */
function writeEventArray(w: PduWriter, ea: EventArray): void {
  w.i32(ea.records.length, 'nrecords');
  for (const rec of ea.records) {
    if (ea.highres) {
      w.i64(rec.sec, 'record.sec');
      w.i64(rec.frac, 'record.nsec');
    } else {
      w.i32(Number(rec.sec), 'record.sec');
      w.i32(Number(rec.frac), 'record.usec');
    }
    w.u32(rec.flags, 'record.flags');
    if (rec.flags & MISSED) {
      // Real missed count (libpcp 6.0.3 writes 0 for HIGHRES_EVENT; clients accept both).
      w.i32(rec.missed ?? 0, 'record.nparams (missed)');
      continue;
    }
    w.i32(rec.params.length, 'record.nparams');
    for (const p of rec.params) {
      w.u32(p.pmid, 'param.pmid');
      const lenAt = w.off;
      w.u32(0, 'param.type/len');
      const start = w.off;
      writeParamValue(w, p);
      const n = w.off - start;
      w.buf.writeUInt32BE(((p.type << 24) | (4 + n)) >>> 0, lenAt);
      w.pad();
    }
  }
}

function writeParamValue(w: PduWriter, p: EventParam): void {
  const v = p.value;
  switch (p.type) {
    case PM_TYPE.I32:
      return w.i32(checkI32(Number(v)), 'param.value');
    case PM_TYPE.U32:
      return w.u32(checkU32(Number(v)), 'param.value');
    case PM_TYPE.I64:
      return w.i64(v as number | bigint, 'param.value');
    case PM_TYPE.U64:
      return w.u64(v as number | bigint, 'param.value');
    case PM_TYPE.FLOAT:
      return w.f32(v as number);
    case PM_TYPE.DOUBLE:
      return w.f64(v as number);
    case PM_TYPE.STRING:
      w.utf8(v as string);
      return;
    case PM_TYPE.AGGREGATE:
      return w.bytes(v as Uint8Array);
  }
}

function checkI32(n: number): number {
  if (n !== (n | 0)) throw new PduError(NAME, 'param.value', `${n} is not a PM_TYPE_32 value`);
  return n;
}

function checkU32(n: number): number {
  if (n !== n >>> 0) throw new PduError(NAME, 'param.value', `${n} is not a PM_TYPE_U32 value`);
  return n;
}

/**
 * Fetch reply. One set per requested PMID, in request order. 32/U32 go INSITU, EVENT and
 * HIGHRES_EVENT in SPTR blocks (valfmt 2, as libpcp_pmda), everything else in DPTR blocks.
 * Called as encodeResult({ sets, ...options }) or encodeResult(sets, options).
 */
export function encodeResult(p: { sets: readonly ResultSet[] } & ResultOptions): Buffer;
export function encodeResult(sets: readonly ResultSet[], opts?: ResultOptions): Buffer;
export function encodeResult(a: readonly ResultSet[] | ({ sets: readonly ResultSet[] } & ResultOptions), b?: ResultOptions): Buffer {
  const [sets, o] = isSetList(a) ? [a, b ?? {}] : [a.sets, a];
  return encodeTyped(sets, o.from ?? 0, o.stateFlags ?? 0, 0, o.onInvalid);
}

/** Store request (pmcd -> PMDA): the same layout, for test clients. */
export function encodeStore(p: { sets: readonly ResultSet[] } & StoreOptions): Buffer;
export function encodeStore(sets: readonly ResultSet[], opts?: StoreOptions): Buffer;
export function encodeStore(a: readonly ResultSet[] | ({ sets: readonly ResultSet[] } & StoreOptions), b?: StoreOptions): Buffer {
  const [sets, o] = isSetList(a) ? [a, b ?? {}] : [a.sets, a];
  return encodeTyped(sets, o.from ?? 0, o.sec ?? 0, o.usec ?? 0, undefined);
}

function isSetList(a: unknown): a is readonly ResultSet[] {
  return Array.isArray(a);
}

function encodeTyped(
  sets: readonly ResultSet[],
  from: number,
  sec: number,
  usec: number,
  onInvalid: ResultOptions['onInvalid'],
): Buffer {
  const nsets = sets.length;
  // numval to write per set: values.length, 0, or an error code (also for sets made invalid).
  const numvals: number[] = new Array(nsets);
  let setBytes = 24;
  let blockBytesTotal = 0;
  for (let i = 0; i < nsets; i++) {
    const s = sets[i];
    if (!('values' in s)) {
      const code = s.error;
      if (!Number.isInteger(code) || code >= 0) {
        throw new PduError(NAME, `set[${i}] (pmid ${pmidString(s.pmid)})`, `error code ${code} must be a negative integer`);
      }
      numvals[i] = code;
      setBytes += 8;
      continue;
    }
    const values = s.values;
    const n = values.length;
    if (n === 0) {
      numvals[i] = 0;
      setBytes += 8;
      continue;
    }
    const type = s.type;
    let blocks = 0;
    try {
      if (type === PM_TYPE.U64) {
        // The hot case (histograms, counters), checked without a call per value.
        for (let j = 0; j < n; j++) {
          const v = values[j];
          const x = v.value;
          if (!isInst(v.inst)) throw new InvalidValue(v.inst, `instance id ${show(v.inst)} is not a 32-bit integer`);
          if (typeof x === 'bigint' ? x < 0n || x > U64_MAX : !(typeof x === 'number' && x >= 0 && x < 2 ** 64 && Number.isInteger(x))) {
            throw new InvalidValue(v.inst, `value ${show(x)} cannot be sent as PM_TYPE_U64`);
          }
        }
        blocks = 12 * n;
      } else {
        for (let j = 0; j < n; j++) {
          const v = values[j];
          if (!isInst(v.inst)) throw new InvalidValue(v.inst, `instance id ${show(v.inst)} is not a 32-bit integer`);
          blocks += blockBytes(type, v.inst, v.value);
        }
      }
    } catch (e) {
      if (!(e instanceof InvalidValue)) throw e;
      const where = `pmid ${pmidString(s.pmid)} inst ${show(e.inst)}`;
      if (!onInvalid) throw new PduError(NAME, where, e.reason);
      const code = onInvalid(s.pmid, e.inst, e.reason);
      if (!Number.isInteger(code) || code >= 0) {
        throw new PduError(NAME, where, `onInvalid returned ${code}; it must return a negative error code`);
      }
      numvals[i] = code;
      setBytes += 8;
      continue;
    }
    numvals[i] = n;
    setBytes += 12 + 8 * n;
    blockBytesTotal += blocks;
  }

  const total = setBytes + blockBytesTotal;
  const buf = Buffer.allocUnsafe(total);
  const dv = new DataView(buf.buffer, buf.byteOffset, total);
  dv.setUint32(0, total);
  dv.setUint32(4, PDU.RESULT);
  dv.setInt32(8, from);
  dv.setInt32(12, sec);
  dv.setInt32(16, usec);
  dv.setInt32(20, nsets);
  let p = 24; // value-set cursor
  let b = setBytes; // value-block cursor
  let w: PduWriter | null = null; // only for event arrays

  for (let i = 0; i < nsets; i++) {
    const s = sets[i];
    const numval = numvals[i];
    dv.setUint32(p, s.pmid >>> 0);
    dv.setInt32(p + 4, numval);
    p += 8;
    if (numval <= 0) continue;
    const type = (s as { type: number }).type;
    const values = (s as { values: readonly { inst: number; value: Value }[] }).values;
    switch (type) {
      case PM_TYPE.I32:
      case PM_TYPE.U32:
        dv.setInt32(p, PM_VAL.INSITU);
        p += 4;
        for (let j = 0; j < numval; j++) {
          const v = values[j];
          dv.setUint32(p, v.inst >>> 0);
          dv.setUint32(p + 4, Number(v.value) >>> 0);
          p += 8;
        }
        break;
      case PM_TYPE.U64:
      case PM_TYPE.I64: {
        dv.setInt32(p, PM_VAL.DPTR);
        p += 4;
        const hdr = (type << 24) | 12;
        for (let j = 0; j < numval; j++) {
          const v = values[j];
          dv.setUint32(p, v.inst >>> 0);
          dv.setUint32(p + 4, b >>> 2);
          p += 8;
          dv.setUint32(b, hdr);
          const x = v.value as number | bigint;
          if (typeof x === 'bigint') {
            if (type === PM_TYPE.U64) dv.setBigUint64(b + 4, x);
            else dv.setBigInt64(b + 4, x);
          } else if (x >= 0) {
            // Split without BigInt (exact for every integer-valued double); no fmod either.
            const hi = x < TWO_32 ? 0 : Math.floor(x / TWO_32);
            dv.setUint32(b + 4, hi);
            dv.setUint32(b + 8, x - hi * TWO_32);
          } else {
            dv.setBigInt64(b + 4, BigInt(x));
          }
          b += 12;
        }
        break;
      }
      case PM_TYPE.DOUBLE:
      case PM_TYPE.FLOAT: {
        dv.setInt32(p, PM_VAL.DPTR);
        p += 4;
        const dbl = type === PM_TYPE.DOUBLE;
        for (let j = 0; j < numval; j++) {
          const v = values[j];
          dv.setUint32(p, v.inst >>> 0);
          dv.setUint32(p + 4, b >>> 2);
          p += 8;
          if (dbl) {
            dv.setUint32(b, (PM_TYPE.DOUBLE << 24) | 12);
            dv.setFloat64(b + 4, v.value as number);
            b += 12;
          } else {
            dv.setUint32(b, (PM_TYPE.FLOAT << 24) | 8);
            dv.setFloat32(b + 4, v.value as number);
            b += 8;
          }
        }
        break;
      }
      case PM_TYPE.STRING:
      case PM_TYPE.AGGREGATE: {
        dv.setInt32(p, PM_VAL.DPTR);
        p += 4;
        for (let j = 0; j < numval; j++) {
          const v = values[j];
          dv.setUint32(p, v.inst >>> 0);
          dv.setUint32(p + 4, b >>> 2);
          p += 8;
          let vlen: number;
          if (type === PM_TYPE.STRING) {
            const n = buf.write(v.value as string, b + 4, 'utf8');
            buf[b + 4 + n] = 0;
            vlen = 5 + n;
          } else {
            const a = v.value as Uint8Array;
            buf.set(a, b + 4);
            vlen = 4 + a.length;
          }
          dv.setUint32(b, ((type << 24) | vlen) >>> 0);
          const end = b + pad4(vlen);
          buf.fill(PAD_BYTE, b + vlen, end);
          b = end;
        }
        break;
      }
      case PM_TYPE.EVENT:
      case PM_TYPE.HIGHRES_EVENT:
        dv.setInt32(p, PM_VAL.SPTR);
        p += 4;
        if (!w) w = PduWriter.over(buf, NAME);
        for (let j = 0; j < numval; j++) {
          const v = values[j];
          dv.setUint32(p, v.inst >>> 0);
          dv.setUint32(p + 4, b >>> 2);
          p += 8;
          w.off = b + 4;
          writeEventArray(w, v.value as EventArray);
          dv.setUint32(b, ((type << 24) | (w.off - b)) >>> 0);
          b = w.off;
        }
        break;
    }
  }
  if (p !== setBytes || b !== total || (w && w.buf !== buf)) {
    throw new PduError(NAME, undefined, `internal size mismatch: sets end ${p}/${setBytes}, blocks end ${b}/${total}`);
  }
  return buf;
}

/**
 * Low-level form: value sets exactly as given (valfmt per set, vtype per block value), e.g. a
 * decoded RESULT re-encoded. INSITU values are written as 32-bit words; blocks in reference order.
 */
export function encodeResultSets(pdu: { from?: number; sec: number; usec: number; sets: readonly ValueSet[] }): Buffer {
  const w = new PduWriter(NAME, 256);
  w.header(PDU.RESULT, pdu.from ?? 0);
  w.i32(pdu.sec, 'sec');
  w.i32(pdu.usec, 'usec');
  w.i32(pdu.sets.length, 'numpmid');
  const pending: { at: number; type: number; value: Value; field: string }[] = [];
  pdu.sets.forEach((s, i) => {
    const f = `vset[${i}]`;
    w.u32(s.pmid, `${f}.pmid`);
    if (s.numval <= 0) {
      w.i32(s.numval, `${f}.numval`);
      return;
    }
    if (s.numval !== s.values.length) {
      w.fail(`${f}.numval`, `numval ${s.numval} but ${s.values.length} values given`);
    }
    const valfmt = s.valfmt ?? PM_VAL.DPTR;
    w.i32(s.numval, `${f}.numval`);
    w.i32(valfmt, `${f}.valfmt`);
    s.values.forEach((v, j) => {
      w.u32(v.inst, `${f}.vlist[${j}].inst`);
      const x = v.value;
      if (valfmt === PM_VAL.INSITU) {
        if (typeof x !== 'number') throw new PduError(NAME, `${f}.vlist[${j}]`, `INSITU value ${show(x)} is not a number`);
        w.u32(x, `${f}.vlist[${j}].value`);
      } else {
        const vtype = v.vtype;
        if (vtype === undefined) throw new PduError(NAME, `${f}.vlist[${j}].vtype`, 'a value block needs a vtype');
        pending.push({ at: w.off, type: vtype, value: x, field: `${f}.vlist[${j}]` });
        w.u32(0, `${f}.vlist[${j}].value`);
      }
    });
  });
  for (const blk of pending) {
    w.buf.writeUInt32BE(w.off >>> 2, blk.at);
    writeBlock(w, blk.type, blk.value, blk.field);
  }
  return w.finish();
}

/** One value block (header + payload + 0x7e padding) for any vtype, at w.off. */
function writeBlock(w: PduWriter, vtype: number, v: Value, field: string): void {
  const start = w.off;
  w.u32(0, `${field} block header`);
  switch (vtype) {
    case PM_TYPE.I32:
      w.i32(v as number, field);
      break;
    case PM_TYPE.U32:
      w.u32(v as number, field);
      break;
    case PM_TYPE.I64:
      w.i64(v as bigint | number, field);
      break;
    case PM_TYPE.U64:
      w.u64(v as bigint | number, field);
      break;
    case PM_TYPE.FLOAT:
      w.f32(v as number);
      break;
    case PM_TYPE.DOUBLE:
      w.f64(v as number);
      break;
    case PM_TYPE.STRING:
      if (typeof v !== 'string') w.fail(field, `STRING block value ${show(v)} is not a string`);
      w.utf8(v);
      w.ensure(1);
      w.buf[w.off++] = 0;
      break;
    case PM_TYPE.EVENT:
    case PM_TYPE.HIGHRES_EVENT:
      if (!isEventArray(v)) w.fail(field, `${typeName(vtype)} block value is not an event array`);
      writeEventArray(w, { highres: vtype === PM_TYPE.HIGHRES_EVENT, records: v.records });
      break;
    default:
      if (!(v instanceof Uint8Array)) w.fail(field, `vtype ${vtype} block value must be a Buffer`);
      w.bytes(v);
  }
  const vlen = w.off - start;
  if (vlen > VLEN_MAX) w.fail(field, `value block of ${vlen} bytes exceeds the 24-bit vlen`);
  w.buf.writeUInt32BE(((vtype << 24) | vlen) >>> 0, start);
  w.pad();
}
