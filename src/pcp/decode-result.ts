// Value sets and value blocks of PDU_RESULT (§5.6) and the event arrays inside blocks (§5.7).
// Block placement is checked the way pmcd checks it (packed, in the value-block area, one block
// per value, ending exactly at `len`), so a RESULT this decoder accepts is one pmcd accepts.
import type { PduReader } from './reader';
import { pad4 } from './writer';
import { PM_TYPE, PM_VAL, type EventArray, type EventParam, type EventRecord, type PmValue, type ValueSet, type Value } from './types';

const MISSED = 0x80000000;

/** Reads `numpmid` value sets at r.off and then every value block up to r.end. */
export function readResultBody(r: PduReader, numpmid: number): ValueSet[] {
  const sets: ValueSet[] = new Array(numpmid);
  // DPTR/SPTR references, resolved after all sets: which value, and its block's word offset.
  const refs: { value: PmValue; word: number; field: string }[] = [];
  for (let i = 0; i < numpmid; i++) {
    const f = `vset[${i}]`;
    const pmid = r.u32(`${f}.pmid`);
    const numval = r.i32(`${f}.numval`);
    if (numval <= 0) {
      sets[i] = { pmid, numval, values: [] };
      continue;
    }
    if (4 + numval * 8 > r.remaining()) {
      r.fail(`${f}.numval`, `bad count ${numval}: needs ${4 + numval * 8} bytes but only ${r.remaining()} remain`);
    }
    const valfmt = r.i32(`${f}.valfmt`);
    if (valfmt !== PM_VAL.INSITU && valfmt !== PM_VAL.DPTR && valfmt !== PM_VAL.SPTR) {
      r.fail(`${f}.valfmt`, `unknown valfmt ${valfmt} (0 INSITU, 1 DPTR, 2 SPTR)`);
    }
    const values: PmValue[] = new Array(numval);
    for (let j = 0; j < numval; j++) {
      const inst = r.u32(`${f}.vlist[${j}].inst`);
      const word = r.u32(`${f}.vlist[${j}].value`);
      if (valfmt === PM_VAL.INSITU) {
        values[j] = { inst, value: word };
      } else {
        const v: PmValue = { inst, value: 0, vtype: 0 };
        values[j] = v;
        refs.push({ value: v, word, field: `${f}.vlist[${j}]` });
      }
    }
    sets[i] = { pmid, numval, valfmt, values };
  }
  const areaStart = r.off;
  const end = r.end;
  if (refs.length === 0) return sets;

  let ordered = refs;
  for (let k = 1; k < refs.length; k++) {
    if (refs[k].word < refs[k - 1].word) {
      ordered = refs.slice().sort((a, b) => a.word - b.word);
      break;
    }
  }
  let expect = areaStart;
  for (const ref of ordered) {
    const at = ref.word * 4;
    if (at < areaStart || at >= end) {
      r.fail(`${ref.field}.value`, `value block offset ${ref.word} words (byte ${at}) is outside the value-block area ${areaStart}..${end}`);
    }
    if (at < expect) {
      r.fail(`${ref.field}.value`, `value block at byte ${at} overlaps the previous block ending at ${expect} (every value needs its own block)`);
    }
    if (at > expect) {
      r.fail(`${ref.field}.value`, `gap before value block at byte ${at}: previous data ends at ${expect} (blocks must be packed)`);
    }
    r.off = at;
    const hdr = r.u32(`${ref.field} block header`);
    const vtype = hdr >>> 24;
    const vlen = hdr & 0xffffff;
    if (vlen < 4) r.fail(`${ref.field} block vlen`, `vlen ${vlen} is smaller than the 4-byte block header`);
    const blockEnd = at + pad4(vlen);
    if (blockEnd > end) {
      r.fail(`${ref.field} block vlen`, `block of vlen ${vlen} at byte ${at} runs past the PDU end ${end}`);
    }
    ref.value.vtype = vtype;
    ref.value.value = readBlockPayload(r, vtype, vlen - 4, `${ref.field} block`);
    r.off = blockEnd;
    expect = blockEnd;
  }
  if (expect !== end) {
    r.fail('value blocks', `blocks end at byte ${expect} but the PDU is ${end} bytes (trailing data)`);
  }
  return sets;
}

function exactLen(r: PduReader, n: number, want: number, field: string, what: string): void {
  if (n !== want) r.fail(field, `${what} payload must be ${want} bytes, got ${n}`);
}

/** A numeric value of exactly its type's size, as value blocks and event parameters carry it. */
function readNumber(r: PduReader, type: number, n: number, field: string): number | bigint {
  switch (type) {
    case PM_TYPE.I32:
      exactLen(r, n, 4, field, 'PM_TYPE_32');
      return r.i32(field);
    case PM_TYPE.U32:
      exactLen(r, n, 4, field, 'PM_TYPE_U32');
      return r.u32(field);
    case PM_TYPE.I64:
      exactLen(r, n, 8, field, 'PM_TYPE_64');
      return r.i64(field);
    case PM_TYPE.U64:
      exactLen(r, n, 8, field, 'PM_TYPE_U64');
      return r.u64(field);
    case PM_TYPE.FLOAT:
      exactLen(r, n, 4, field, 'PM_TYPE_FLOAT');
      return r.f32(field);
    case PM_TYPE.DOUBLE:
      exactLen(r, n, 8, field, 'PM_TYPE_DOUBLE');
      return r.f64(field);
    default:
      return r.fail(field, `type ${type} is not numeric`);
  }
}

function readBlockPayload(r: PduReader, vtype: number, n: number, field: string): Value {
  switch (vtype) {
    case PM_TYPE.I32:
    case PM_TYPE.U32:
    case PM_TYPE.I64:
    case PM_TYPE.U64:
    case PM_TYPE.FLOAT:
    case PM_TYPE.DOUBLE:
      return readNumber(r, vtype, n, field);
    case PM_TYPE.STRING: {
      if (n < 1 || r.buf[r.off + n - 1] !== 0) {
        r.fail(field, 'PM_TYPE_STRING value block lacks its terminating NUL');
      }
      const s = r.utf8(n - 1, field);
      r.off += 1;
      return s;
    }
    case PM_TYPE.AGGREGATE:
    case 8: // AGGREGATE_STATIC: in-process only, but the bytes are still opaque
    case 255: // PM_TYPE_UNKNOWN: legal in value blocks
      return r.bytes(n, field);
    case PM_TYPE.EVENT:
    case PM_TYPE.HIGHRES_EVENT: {
      const saved = r.end;
      r.end = r.off + n;
      const ea = readEventArray(r, vtype === PM_TYPE.HIGHRES_EVENT, field);
      if (r.off !== r.end) r.fail(field, `${r.end - r.off} trailing bytes after the event records`);
      r.end = saved;
      return ea;
    }
    default:
      return r.fail(`${field}.vtype`, `unknown value type ${vtype}`);
  }
}

function readEventArray(r: PduReader, highres: boolean, field: string): EventArray {
  const hdrLen = highres ? 24 : 16;
  const nrecords = r.count(`${field}.nrecords`, hdrLen);
  const records: EventRecord[] = new Array(nrecords);
  for (let k = 0; k < nrecords; k++) {
    const f = `${field}.record[${k}]`;
    const sec = highres ? r.i64(`${f}.sec`) : r.i32(`${f}.sec`);
    const frac = highres ? r.i64(`${f}.nsec`) : r.i32(`${f}.usec`);
    const flags = r.u32(`${f}.flags`);
    if (flags & MISSED) {
      // nparams carries the missed-event count; no parameters follow.
      const missed = r.i32(`${f}.nparams`);
      records[k] = { sec, frac, flags, missed, params: [] };
      continue;
    }
    const nparams = r.count(`${f}.nparams`, 8);
    const params: EventParam[] = new Array(nparams);
    for (let p = 0; p < nparams; p++) {
      const pf = `${f}.param[${p}]`;
      const pmid = r.u32(`${pf}.pmid`);
      const tl = r.u32(`${pf}.type/len`);
      const type = tl >>> 24;
      const plen = tl & 0xffffff;
      if (plen < 4) r.fail(`${pf}.len`, `len ${plen} is smaller than the 4-byte type/len word`);
      const n = plen - 4;
      r.need(pad4(n), `${pf}.value`);
      params[p] = { pmid, type: type as EventParam['type'], value: readParamValue(r, type, n, pf) };
      r.pad(n, pf);
    }
    records[k] = { sec, frac, flags, params };
  }
  return { highres, records };
}

function readParamValue(r: PduReader, type: number, n: number, field: string): EventParam['value'] {
  switch (type) {
    case PM_TYPE.I32:
    case PM_TYPE.U32:
    case PM_TYPE.I64:
    case PM_TYPE.U64:
    case PM_TYPE.FLOAT:
    case PM_TYPE.DOUBLE:
      return readNumber(r, type, n, field);
    case PM_TYPE.STRING: // no NUL inside event records
      return r.utf8(n, field);
    case PM_TYPE.AGGREGATE:
      return r.bytes(n, field);
    default:
      return r.fail(`${field}.type`, `unknown or unsupported event parameter type ${type}`);
  }
}
