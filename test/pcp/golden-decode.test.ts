// Every golden vector decodes, and what it decodes to agrees with the independent decoder's
// listing (DECODED.txt) line by line; a few vectors are also spelled out by hand.
import { describe, expect, it } from 'vitest';
import { decodeClientPdu, decodePdu } from '../../src/pcp';
import { CLIENT_PDU, indom, PDU, PM_ERR, PM_IN_NULL, PM_INDOM_NULL, PM_LABEL, PM_TYPE, pmid, type Pdu } from '../../src/pcp/types';
import { swap32 } from '../../src/pcp/values';
import { checkAgainstListing } from './listing';
import { hexFilesOnDisk, isClientSide, loadDecodedListing, loadVectors, type Vector } from './vectors';

const vectors = loadVectors();
const listing = loadDecodedListing();
const byName = new Map(vectors.map((v) => [v.file.slice(0, 4), v]));
const decode = (v: Vector) => (isClientSide(v) ? decodeClientPdu(v.bytes) : decodePdu(v.bytes));
function pduOf<T extends Pdu['type']>(num: string, type: T): Extract<Pdu, { type: T }> {
  const p = decodePdu(byName.get(num)!.bytes);
  expect(p.type).toBe(type);
  return p as Extract<Pdu, { type: T }>;
}

describe('golden vectors: inventory', () => {
  it('index.json lists every .hex file, and each file holds exactly `length` bytes', () => {
    expect(vectors.map((v) => v.file).sort()).toEqual(hexFilesOnDisk());
    expect(vectors.length).toBe(103);
    for (const v of vectors) {
      expect(v.bytes.length, v.file).toBe(v.length);
      expect(v.bytes.readUInt32BE(0), v.file).toBe(v.length);
      expect(v.bytes.readUInt32BE(4), v.file).toBe(v.type);
    }
  });
});

describe('golden vectors: decode agrees with DECODED.txt', () => {
  it.each(vectors.map((v) => [v.file, v] as const))('%s', (_name, v) => {
    const pdu = decode(v);
    expect(pdu.type).toBe(v.type);
    const lines = listing.get(v.file);
    expect(lines, `DECODED.txt has no section for ${v.file}`).toBeDefined();
    const checked = checkAgainstListing(pdu as never, lines!, v.bytes);
    expect(checked).toBeGreaterThanOrEqual(lines!.length);
  });
});

describe('golden vectors: decoded fields spelled out', () => {
  it('0001 CREDS from the PMDA: pid in `from`, version 2, no flags; 0003 asks for AUTH', () => {
    expect(pduOf('0001', PDU.CREDS)).toEqual({ type: PDU.CREDS, from: 18600, creds: [{ ctype: 1, version: 2, flags: 0 }] });
    expect(pduOf('0003', PDU.CREDS).creds[0].flags).toBe(0x4);
  });

  it('0005 ATTR: processid with its NUL, 22 bytes (not a multiple of 4)', () => {
    const p = pduOf('0005', PDU.ATTR);
    expect(p).toMatchObject({ from: 2, attr: 14 });
    expect(p.value.toString('latin1')).toBe('19493\0');
  });

  it('0011 / 0017 / 0127 PMNS_NAMES with and without status', () => {
    const all = pduOf('0011', PDU.PMNS_NAMES);
    expect(all.names).toHaveLength(9);
    expect(all.names[0]).toBe('bpf.runq.latency');
    expect(all.names[8]).toBe('bpf.disk.all.latency');
    expect(all.status).toBeUndefined();
    expect(pduOf('0017', PDU.PMNS_NAMES)).toMatchObject({ names: ['lost', 'uid', 'args', 'ret', 'ppid', 'pid', 'comm'], status: [0, 0, 0, 0, 0, 0, 0] });
    expect(pduOf('0127', PDU.PMNS_NAMES)).toMatchObject({ names: ['foo', 'bar'], status: [1, 0] });
  });

  it('0031 FETCH of 9 PMIDs from client slot 5', () => {
    const p = pduOf('0031', PDU.FETCH);
    expect(p.from).toBe(5);
    expect(p.ctxid).toBe(0);
    expect(p.pmids).toEqual([pmid(157, 2, 0), ...[6, 5, 4, 3, 2, 1, 0].map((i) => pmid(157, 1, i)), pmid(157, 0, 0)]);
  });

  it('0033 PROFILE: exclude all of 157.4 except instance 1', () => {
    expect(pduOf('0033', PDU.PROFILE)).toEqual({
      type: PDU.PROFILE, from: 0, ctxid: 0, globalState: 0, profiles: [{ indom: indom(157, 4), state: 1, instances: [1] }],
    });
  });

  it('0032 RESULT: U64 DPTR blocks, U32 INSITU, STRING blocks with the NUL stripped', () => {
    const p = pduOf('0032', PDU.RESULT);
    expect(p.sets).toHaveLength(9);
    const [u64, lost, , args] = p.sets;
    expect(u64).toMatchObject({ pmid: pmid(157, 2, 0), numval: 63, valfmt: 1 });
    expect(u64.values.every((v) => v.vtype === PM_TYPE.U64 && typeof v.value === 'bigint')).toBe(true);
    expect(u64.values.map((v) => v.inst)).toEqual([...Array(63).keys()]);
    expect(lost).toMatchObject({ pmid: pmid(157, 1, 6), numval: 1, valfmt: 0, values: [{ inst: PM_IN_NULL, value: 0 }] });
    expect(args).toMatchObject({ pmid: pmid(157, 1, 4), numval: 20, valfmt: 1 });
    expect(args.values.every((v) => v.vtype === PM_TYPE.STRING && typeof v.value === 'string' && !(v.value as string).includes('\0'))).toBe(true);
  });

  it('0037 / 0104 per-metric errors and numval 0 carry no valfmt', () => {
    expect(pduOf('0037', PDU.RESULT).sets[1]).toEqual({ pmid: pmid(157, 9, 9), numval: PM_ERR.PMID, values: [] });
    expect(pduOf('0104', PDU.RESULT).sets.map((s) => s.numval)).toEqual([PM_ERR.PMID, PM_ERR.APPVERSION, 0, PM_ERR.AGAIN]);
  });

  it('0100 / 0101 / 0102 / 0103 every scalar type', () => {
    expect(pduOf('0100', PDU.RESULT).sets.map((s) => [s.values[0].vtype, s.values[0].value])).toEqual([
      [PM_TYPE.FLOAT, 1], [PM_TYPE.DOUBLE, 1], [PM_TYPE.I64, 1n], [PM_TYPE.U64, 1n],
    ]);
    expect(pduOf('0101', PDU.RESULT).sets.map((s) => [s.valfmt, s.values[0].value])).toEqual([[0, 1], [0, 1]]);
    expect(pduOf('0102', PDU.RESULT).sets.map((s) => s.values[0].value)).toEqual(['hullo world!', '']);
    const agg = pduOf('0103', PDU.RESULT).sets.map((s) => s.values[0].value as Buffer);
    expect(agg[0].toString()).toBe('hullo world!');
    expect(agg[1]).toHaveLength(0);
  });

  it('0111 EVENT array: all parameter types, flags, and the missed record count 7; 0113 highres missed 0', () => {
    const s = pduOf('0111', PDU.RESULT).sets[0];
    expect(s.valfmt).toBe(2);
    const ea = s.values[0].value as { highres: boolean; records: { flags: number; missed?: number; params: { type: number; value: unknown }[] }[] };
    expect(ea.highres).toBe(false);
    expect(ea.records).toHaveLength(5);
    expect(ea.records[0].flags).toBe(0x1a);
    expect(ea.records[2].params.map((p) => p.value)).toEqual([10, 11n, 'twelve', 'thirteen', -14, 15]);
    expect(ea.records[3]).toMatchObject({ flags: 0x80000000, missed: 7, params: [] });
    expect(ea.records[4].params.map((p) => p.type)).toEqual([PM_TYPE.U32, PM_TYPE.FLOAT, PM_TYPE.AGGREGATE]);
    expect(ea.records[4].params[1].value).toBe(-17);
    const hr = pduOf('0113', PDU.RESULT).sets[0].values[0].value as { highres: boolean; records: { sec: unknown; frac: unknown; missed?: number }[] };
    expect(hr.highres).toBe(true);
    expect(hr.records[0]).toMatchObject({ sec: 1795667156n, frac: 367717128n });
    expect(hr.records[3].missed).toBe(0);
  });

  it('0041 / 0106 / 0107 DESC: units and NOSUPPORT', () => {
    expect(pduOf('0041', PDU.DESC)).toEqual({
      type: PDU.DESC, from: 0, pmid: pmid(157, 2, 0), vtype: PM_TYPE.U64, indom: indom(157, 4), sem: 1,
      units: { dimSpace: 0, dimTime: 1, dimCount: 0, scaleSpace: 0, scaleTime: 0, scaleCount: 0 },
    });
    expect(pduOf('0106', PDU.DESC)).toMatchObject({ vtype: PM_TYPE.NOSUPPORT, indom: PM_INDOM_NULL, sem: 0 });
    expect(pduOf('0107', PDU.DESC).units).toEqual({ dimSpace: 1, dimTime: -1, dimCount: 0, scaleSpace: 0, scaleTime: 3, scaleCount: 0 });
  });

  it('0051 / 0053 / 0055 INSTANCE replies in the three forms', () => {
    const all = pduOf('0051', PDU.INSTANCE);
    expect(all.instances).toHaveLength(63);
    expect(all.instances[2]).toEqual({ inst: 2, name: '4-7' });
    expect(pduOf('0053', PDU.INSTANCE).instances).toEqual([{ inst: 1, name: null }]);
    expect(pduOf('0055', PDU.INSTANCE).instances).toEqual([{ inst: PM_IN_NULL, name: '32-63' }]);
    expect(pduOf('0052', PDU.INSTANCE_REQ)).toMatchObject({ indom: indom(157, 4), inst: PM_IN_NULL, name: '2-3' });
  });

  it('0061 TEXT: ident as written (little-endian by libpcp), text without padding', () => {
    const p = pduOf('0061', PDU.TEXT);
    expect(swap32(p.ident)).toBe(pmid(157, 2, 0));
    expect(p.text).toBe('Run queue latency (ns)');
    expect(pduOf('0063', PDU.TEXT).text.endsWith('\n')).toBe(true);
  });

  it('0071 / 0119 / 0075 LABEL: JSON parsed back into label objects', () => {
    expect(pduOf('0071', PDU.LABEL)).toEqual({
      type: PDU.LABEL, from: 0, ident: 157, labelType: PM_LABEL.DOMAIN, sets: [{ inst: PM_IN_NULL, labels: { agent: 'bpf' }, flags: PM_LABEL.DOMAIN }],
    });
    expect(pduOf('0119', PDU.LABEL).sets[0].labels).toEqual({ agent: 'sample', role: 'testing' });
    const inst = pduOf('0075', PDU.LABEL);
    expect(inst.sets).toHaveLength(63);
    expect(inst.sets.every((s, i) => s.inst === i && Object.keys(s.labels).length === 0)).toBe(true);
  });

  it('0080 / 0082 / 0083 / 0125 / 0126 store requests', () => {
    const u32 = pduOf('0080', PDU.RESULT);
    expect(u32.sec).toBe(-1019347663); // uninitialised client memory, carried as is
    expect(u32.sets[0].values[0]).toEqual({ inst: PM_IN_NULL, value: 7 });
    expect(pduOf('0082', PDU.RESULT).sets[0].values[0]).toEqual({ inst: 1, value: 1234567890123n, vtype: PM_TYPE.U64 });
    expect(pduOf('0083', PDU.RESULT).sets[0].values[0].value).toBe('hello');
    expect(pduOf('0125', PDU.RESULT).sets[0].values[0].value).toBe(1.5);
    expect(pduOf('0126', PDU.RESULT).sets[0].values[0].value).toBe(-5n);
  });

  it('0090 NOTCONN names the client slot that went away', () => {
    expect(pduOf('0090', PDU.ERROR)).toEqual({ type: PDU.ERROR, from: 3, code: PM_ERR.NOTCONN });
  });

  it('client-side vectors decode with decodeClientPdu and are refused by decodePdu', () => {
    const hr = decodeClientPdu(byName.get('0203')!.bytes);
    expect(hr).toMatchObject({ type: CLIENT_PDU.HIGHRES_RESULT, sec: 1795667221n, nsec: 66512409n });
    const descs = decodeClientPdu(byName.get('0201')!.bytes) as { descs: { pmid: number }[] };
    expect(descs.descs.map((d) => d.pmid)).toEqual([pmid(157, 2, 0), 0xffffffff, pmid(157, 1, 0)]);
    expect(decodeClientPdu(byName.get('0204')!.bytes)).toEqual({ type: PDU.ERROR, from: 0, code: 0, datum: 0x02010e44 });
    for (const n of ['0200', '0201', '0202', '0203']) {
      expect(() => decodePdu(byName.get(n)!.bytes)).toThrow(/client<->pmcd PDU/);
    }
    expect(() => decodePdu(byName.get('0204')!.bytes)).toThrow(/PDU_ERROR: len: must be 16 bytes, got 20/);
  });
});
