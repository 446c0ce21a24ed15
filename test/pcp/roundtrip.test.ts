// Re-encoding reproduces libpcp's bytes: every PDU a PMDA wrote (to pmcd or to dbpmda) is
// decoded and encoded again, through the generic encoder and through the runtime-facing one.
import { describe, expect, it } from 'vitest';
import {
  decodePdu,
  encodeCreds,
  encodeDesc,
  encodeError,
  encodeInstance,
  encodeLabel,
  encodePdu,
  encodePmnsIds,
  encodePmnsNames,
  encodeResult,
  encodeText,
} from '../../src/pcp';
import { indom, PDU, PM_ERR, PM_IN_NULL, PM_INDOM_NULL, PM_LABEL, PM_SEM, PM_TYPE, pmid, type Pdu, type PmType, type ResultSet } from '../../src/pcp/types';
import { swap32 } from '../../src/pcp/values';
import { isClientSide, isFromPmda, loadVectors, type Vector } from './vectors';

const vectors = loadVectors();
const bytesOf = (num: string): Buffer => vectors.find((v) => v.file.startsWith(num))!.bytes;
const pad4 = (n: number): number => (n + 3) & ~3;

/**
 * libpcp leaves the padding after event parameters uninitialised (0111: "bingo!" followed by
 * "fo"). Padding has no meaning (§1), so those bytes, and only those, are set to our 0x7e
 * before comparing. This walker reads the raw bytes itself rather than trusting the codec.
 */
function maskEventParamPadding(buf: Buffer): { masked: Buffer; positions: Set<number> } {
  const masked = Buffer.from(buf);
  const positions = new Set<number>();
  if (buf.readUInt32BE(4) !== PDU.RESULT) return { masked, positions };
  const blocks: number[] = [];
  let off = 24;
  for (let i = buf.readInt32BE(20); i > 0; i--) {
    const numval = buf.readInt32BE(off + 4);
    off += 8;
    if (numval <= 0) continue;
    const valfmt = buf.readInt32BE(off);
    off += 4;
    for (let j = 0; j < numval; j++, off += 8) if (valfmt !== 0) blocks.push(buf.readUInt32BE(off + 4) * 4);
  }
  for (const b of blocks) {
    const vtype = buf[b];
    if (vtype !== PM_TYPE.EVENT && vtype !== PM_TYPE.HIGHRES_EVENT) continue;
    let p = b + 4;
    const nrec = buf.readInt32BE(p);
    p += 4;
    for (let r = 0; r < nrec; r++) {
      p += vtype === PM_TYPE.HIGHRES_EVENT ? 16 : 8;
      const flags = buf.readUInt32BE(p);
      const nparams = buf.readInt32BE(p + 4);
      p += 8;
      if (flags & 0x80000000) continue;
      for (let k = 0; k < nparams; k++) {
        const len = (buf.readUInt32BE(p + 4) & 0xffffff) - 4;
        p += 8;
        for (let q = len; q < pad4(len); q++) {
          masked[p + q] = 0x7e;
          positions.add(p + q);
        }
        p += pad4(len);
      }
    }
  }
  return { masked, positions };
}

/** Equal bytes, or equal once libpcp's garbage event padding is masked; returns whether masking was needed. */
function expectSameBytes(got: Buffer, v: Vector): boolean {
  if (got.equals(v.bytes)) return false;
  const { masked, positions } = maskEventParamPadding(v.bytes);
  const differing = [...got.keys()].filter((i) => got[i] !== v.bytes[i]);
  expect(got.length, v.file).toBe(v.bytes.length);
  expect(differing.filter((i) => !positions.has(i)), `${v.file}: bytes differ outside event-parameter padding`).toEqual([]);
  expect(got.equals(masked), v.file).toBe(true);
  return true;
}

/** A decoded RESULT in the form the runtime hands encodeResult (type per set). */
function asResultSets(p: Extract<Pdu, { type: typeof PDU.RESULT }>): ResultSet[] {
  return p.sets.map((s) => {
    if (s.numval < 0) return { pmid: s.pmid, error: s.numval };
    // INSITU does not say 32 or U32; U32 writes the same word.
    const type = (s.valfmt === 0 || s.numval === 0 ? PM_TYPE.U32 : s.values[0].vtype) as PmType;
    return { pmid: s.pmid, type, values: s.values.map((v) => ({ inst: v.inst, value: v.value })) };
  });
}

const replies = vectors.filter(isFromPmda);
const requests = vectors.filter((v) => !isFromPmda(v) && !isClientSide(v));

describe('every PDU a PMDA wrote re-encodes to the same bytes', () => {
  it('covers the 54 PMDA-written vectors (to pmcd and to dbpmda)', () => {
    expect(replies).toHaveLength(54);
  });

  const masked: string[] = [];
  it.each(replies.map((v) => [v.file, v] as const))('%s via encodePdu', (_n, v) => {
    if (expectSameBytes(encodePdu(decodePdu(v.bytes)), v)) masked.push(v.file.slice(0, 4));
  });

  it('needed masking only for the event vectors whose parameter padding libpcp left uninitialised', () => {
    expect(masked.sort()).toEqual(['0110', '0111', '0112', '0113']);
  });

  const results = replies.filter((v) => v.type === PDU.RESULT);
  it.each(results.map((v) => [v.file, v] as const))('%s via encodeResult (runtime form: PM_TYPE per set)', (_n, v) => {
    const p = decodePdu(v.bytes) as Extract<Pdu, { type: typeof PDU.RESULT }>;
    expectSameBytes(encodeResult(asResultSets(p)), v);
  });
});

describe('request vectors (pmcd/dbpmda -> PMDA) re-encode to the same bytes', () => {
  it.each(requests.map((v) => [v.file, v] as const))('%s', (_n, v) => {
    expect(encodePdu(decodePdu(v.bytes)).equals(v.bytes)).toBe(true);
  });
});

describe('runtime-facing encoders built from plain data reproduce the captured replies', () => {
  const bpf = 157;
  it('CREDS 0001 and 0003 (AUTH flag)', () => {
    expect(encodeCreds({ from: 18600, flags: 0 })).toEqual(bytesOf('0001'));
    expect(encodeCreds({ from: 19461, flags: 0x4 })).toEqual(bytesOf('0003'));
  });

  it('ERROR 0021 / 0045 / 0124 in both call forms', () => {
    expect(encodeError({ from: 0, code: PM_ERR.NAME })).toEqual(bytesOf('0021'));
    expect(encodeError(PM_ERR.PMID)).toEqual(bytesOf('0045'));
    expect(encodeError({ code: 0 })).toEqual(bytesOf('0124'));
  });

  it('DESC 0041 and NOSUPPORT 0106', () => {
    const nsec = { dimSpace: 0, dimTime: 1, dimCount: 0, scaleSpace: 0, scaleTime: 0, scaleCount: 0 };
    expect(encodeDesc({ pmid: pmid(bpf, 2, 0), vtype: PM_TYPE.U64, indom: indom(bpf, 4), sem: PM_SEM.COUNTER, units: nsec })).toEqual(bytesOf('0041'));
    const none = { dimSpace: 0, dimTime: 0, dimCount: 0, scaleSpace: 0, scaleTime: 0, scaleCount: 0 };
    expect(encodeDesc({ pmid: pmid(29, 0, 55), vtype: PM_TYPE.NOSUPPORT, indom: PM_INDOM_NULL, sem: 0, units: none })).toEqual(bytesOf('0106'));
  });

  it('INSTANCE by name 0053, by number 0055, all 0117', () => {
    expect(encodeInstance({ indom: indom(bpf, 4), instances: [{ inst: 1, name: null }] })).toEqual(bytesOf('0053'));
    expect(encodeInstance({ indom: indom(bpf, 4), instances: [{ inst: PM_IN_NULL, name: '32-63' }] })).toEqual(bytesOf('0055'));
    const rgb = ['red', 'green', 'blue'].map((name, inst) => ({ inst, name }));
    expect(encodeInstance({ indom: indom(29, 1), instances: rgb })).toEqual(bytesOf('0117'));
  });

  it("TEXT 0061 / 0115 with libpcp's little-endian ident, and big-endian by default", () => {
    expect(encodeText({ ident: pmid(bpf, 2, 0), text: 'Run queue latency (ns)' }, { identByteOrder: 'le' })).toEqual(bytesOf('0061'));
    const help = decodePdu(bytesOf('0115')) as Extract<Pdu, { type: typeof PDU.TEXT }>;
    expect(encodeText({ ident: pmid(29, 0, 10), text: help.text }, { identByteOrder: 'le' })).toEqual(bytesOf('0115'));
    const be = encodeText({ ident: pmid(bpf, 2, 0), text: 'Run queue latency (ns)' });
    expect(be.readUInt32BE(12)).toBe(pmid(bpf, 2, 0));
    expect(be.subarray(16)).toEqual(bytesOf('0061').subarray(16));
    expect(swap32(bytesOf('0061').readUInt32BE(12))).toBe(pmid(bpf, 2, 0));
  });

  it('LABEL domain 0071 and 0119 (sorted), none 0073, 63 empty instance sets 0075', () => {
    const dom = (labels: Record<string, string>, ident = bpf) =>
      encodeLabel({ ident, labelType: PM_LABEL.DOMAIN, sets: [{ inst: PM_IN_NULL, labels, flags: PM_LABEL.DOMAIN }] });
    expect(dom({ agent: 'bpf' })).toEqual(bytesOf('0071'));
    expect(dom({ role: 'testing', agent: 'sample' }, 0xffffffff)).toEqual(bytesOf('0119'));
    expect(encodeLabel({ ident: pmid(bpf, 2, 0), labelType: PM_LABEL.ITEM, sets: [] })).toEqual(bytesOf('0073'));
    const empty = [...Array(63).keys()].map((inst) => ({ inst, labels: {}, flags: PM_LABEL.INSTANCES }));
    expect(encodeLabel({ ident: indom(bpf, 4), labelType: PM_LABEL.INSTANCES, sets: empty })).toEqual(bytesOf('0075'));
  });

  it('PMNS_IDS 0013, PMNS_NAMES with status 0017 and 0127', () => {
    expect(encodePmnsIds({ sts: 0, pmids: [pmid(bpf, 2, 0)] })).toEqual(bytesOf('0013'));
    expect(encodePmnsNames({ names: ['lost', 'uid', 'args', 'ret', 'ppid', 'pid', 'comm'], status: [0, 0, 0, 0, 0, 0, 0] })).toEqual(bytesOf('0017'));
    expect(encodePmnsNames({ names: ['foo', 'bar'], status: [1, 0] })).toEqual(bytesOf('0127'));
  });

  it('RESULT 0035 (U64 bigint), 0037 (INSITU + PM_ERR_PMID), 0100 (FLOAT/DOUBLE/64/U64 from numbers)', () => {
    expect(encodeResult({ sets: [{ pmid: pmid(bpf, 2, 0), type: PM_TYPE.U64, values: [{ inst: 1, value: 0n }] }] })).toEqual(bytesOf('0035'));
    expect(
      encodeResult([
        { pmid: pmid(bpf, 1, 6), type: PM_TYPE.U32, values: [{ inst: PM_IN_NULL, value: 0 }] },
        { pmid: pmid(bpf, 9, 9), error: PM_ERR.PMID },
      ]),
    ).toEqual(bytesOf('0037'));
    const one = (item: number, type: PmType, value: number) => ({
      pmid: pmid(29, 0, item), type, values: [{ inst: PM_IN_NULL, value }],
    });
    expect(encodeResult([one(15, PM_TYPE.FLOAT, 1), one(25, PM_TYPE.DOUBLE, 1), one(20, PM_TYPE.I64, 1), one(98, PM_TYPE.U64, 1)])).toEqual(bytesOf('0100'));
  });
});
