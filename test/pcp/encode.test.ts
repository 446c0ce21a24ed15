// Encoders on data the runtime produces: every PM_TYPE, event arrays, invalid values, labels,
// request encoders for test clients. Checked by decoding back and by looking at the layout.
import { describe, expect, it } from 'vitest';
import {
  asInt32,
  canonicalLabelJson,
  decodePdu,
  encodeAttr,
  encodeControlReq,
  encodeCreds,
  encodeDescReq,
  encodeFetch,
  encodeInstanceReq,
  encodeLabel,
  encodeLabelReq,
  encodePmnsChild,
  encodePmnsNames,
  encodePmnsTraverse,
  encodeProfile,
  encodeResult,
  encodeStore,
  encodeTextReq,
  PduError,
  PduReader,
  PduWriter,
  unitsFromWord,
  unitsToWord,
} from '../../src/pcp';
import {
  PDU, PM_ERR, PM_EVENT_FLAG, PM_IN_NULL, PM_LABEL, PM_LABEL_FLAG, PM_TYPE, PMCD_STATE, indom, pmid,
  type EventArray, type Pdu, type ResultSet,
} from '../../src/pcp/types';

type Result = Extract<Pdu, { type: typeof PDU.RESULT }>;
const decodeResult = (b: Buffer): Result => decodePdu(b) as Result;
const P = (item: number) => pmid(149, 0, item);

const events: EventArray = {
  highres: false,
  records: [
    {
      sec: 1795667156, frac: 366507, flags: PM_EVENT_FLAG.START | PM_EVENT_FLAG.ID | PM_EVENT_FLAG.PARENT,
      params: [
        { pmid: P(100), type: PM_TYPE.U32, value: 4 },
        { pmid: P(101), type: PM_TYPE.U64, value: 5n },
        { pmid: P(102), type: PM_TYPE.STRING, value: '6' },
      ],
    },
    {
      sec: 1795667157, frac: 1, flags: PM_EVENT_FLAG.POINT,
      params: [
        { pmid: P(103), type: PM_TYPE.I32, value: -14 },
        { pmid: P(104), type: PM_TYPE.I64, value: -(2n ** 62n) },
        { pmid: P(105), type: PM_TYPE.FLOAT, value: -17 },
        { pmid: P(106), type: PM_TYPE.DOUBLE, value: 8.25 },
        { pmid: P(107), type: PM_TYPE.AGGREGATE, value: Buffer.from([1, 3, 7]) },
        { pmid: P(102), type: PM_TYPE.STRING, value: 'twelve' },
      ],
    },
    { sec: 1795667158, frac: 0, flags: PM_EVENT_FLAG.MISSED, missed: 7, params: [] },
  ],
};
const highres: EventArray = {
  highres: true,
  records: [
    { sec: 1795667156n, frac: 367717128n, flags: PM_EVENT_FLAG.POINT, params: [{ pmid: P(102), type: PM_TYPE.STRING, value: 'fetch #3' }] },
    { sec: 1795667159, frac: 5, flags: PM_EVENT_FLAG.MISSED, missed: 3, params: [] },
  ],
};

const everyType: ResultSet[] = [
  { pmid: P(0), type: PM_TYPE.I32, values: [{ inst: 0, value: -7 }, { inst: 1, value: 2 ** 31 - 1 }, { inst: 2, value: -(2 ** 31) }] },
  { pmid: P(1), type: PM_TYPE.U32, values: [{ inst: PM_IN_NULL, value: 0xffffffff }] },
  { pmid: P(2), type: PM_TYPE.I64, values: [{ inst: 0, value: -5n }, { inst: 1, value: -5 }, { inst: 2, value: 2n ** 63n - 1n }, { inst: 3, value: -(2n ** 63n) }] },
  { pmid: P(3), type: PM_TYPE.U64, values: [{ inst: 0, value: 2n ** 64n - 1n }, { inst: 1, value: 2 ** 53 + 2 }, { inst: 2, value: 0 }, { inst: 3, value: 2 ** 63 }] },
  { pmid: P(4), type: PM_TYPE.FLOAT, values: [{ inst: 0, value: 1.5 }, { inst: 1, value: -17 }] },
  { pmid: P(5), type: PM_TYPE.DOUBLE, values: [{ inst: 0, value: Math.PI }, { inst: 1, value: -0.5 }] },
  { pmid: P(6), type: PM_TYPE.STRING, values: [{ inst: 0, value: 'hullo world!' }, { inst: 1, value: '' }, { inst: 2, value: 'Zürich ✓' }] },
  { pmid: P(7), type: PM_TYPE.AGGREGATE, values: [{ inst: 0, value: Buffer.from('agg') }, { inst: 1, value: Buffer.alloc(0) }] },
  { pmid: P(8), type: PM_TYPE.EVENT, values: [{ inst: 0, value: { highres: false, records: [] } }, { inst: 1, value: events }] },
  { pmid: P(9), type: PM_TYPE.HIGHRES_EVENT, values: [{ inst: PM_IN_NULL, value: highres }] },
  { pmid: P(10), type: PM_TYPE.U64, values: [] },
  { pmid: P(11), error: PM_ERR.AGAIN },
];

describe('encodeResult: every PM_TYPE', () => {
  const buf = encodeResult(everyType);
  const r = decodeResult(buf);

  it('keeps the request order and chooses INSITU / DPTR / SPTR by type, like libpcp_pmda', () => {
    expect(r.sets.map((s) => s.pmid)).toEqual(everyType.map((s) => s.pmid));
    expect(r.sets.map((s) => s.valfmt)).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 2, 2, undefined, undefined]);
    expect(r.sets.slice(10).map((s) => s.numval)).toEqual([0, PM_ERR.AGAIN]);
    expect(r.sec).toBe(0);
    expect(r.usec).toBe(0);
    expect(buf.readInt32BE(8)).toBe(0);
  });

  it('32-bit values INSITU: the raw word, asInt32 gives the signed view', () => {
    expect(r.sets[0].values.map((v) => asInt32(v.value as number))).toEqual([-7, 2 ** 31 - 1, -(2 ** 31)]);
    expect(r.sets[0].values[0].value).toBe(0xfffffff9);
    expect(r.sets[1].values[0]).toEqual({ inst: PM_IN_NULL, value: 0xffffffff });
  });

  it('64-bit values exact beyond 2^53, from bigint or number', () => {
    expect(r.sets[2].values.map((v) => v.value)).toEqual([-5n, -5n, 2n ** 63n - 1n, -(2n ** 63n)]);
    expect(r.sets[3].values.map((v) => v.value)).toEqual([2n ** 64n - 1n, 2n ** 53n + 2n, 0n, 2n ** 63n]);
  });

  it('floats, doubles, strings (UTF-8, NUL added), aggregates', () => {
    expect(r.sets[4].values.map((v) => v.value)).toEqual([1.5, -17]);
    expect(r.sets[5].values.map((v) => v.value)).toEqual([Math.PI, -0.5]);
    expect(r.sets[6].values.map((v) => v.value)).toEqual(['hullo world!', '', 'Zürich ✓']);
    expect(r.sets[7].values.map((v) => (v.value as Buffer).toString())).toEqual(['agg', '']);
  });

  it('event arrays: all parameter types, the real missed count for both forms', () => {
    expect(r.sets[8].values[0].value).toEqual({ highres: false, records: [] });
    const ea = r.sets[8].values[1].value as EventArray;
    expect(ea.records[0]).toEqual({ ...events.records[0] });
    expect(ea.records[1].params.map((p) => p.value)).toEqual([-14, -(2n ** 62n), -17, 8.25, Buffer.from([1, 3, 7]), 'twelve']);
    expect(ea.records[2]).toMatchObject({ flags: PM_EVENT_FLAG.MISSED, missed: 7, params: [] });
    const hr = r.sets[9].values[0].value as EventArray;
    expect(hr.highres).toBe(true);
    expect(hr.records[0]).toMatchObject({ sec: 1795667156n, frac: 367717128n });
    expect(hr.records[1]).toMatchObject({ sec: 1795667159n, frac: 5n, missed: 3 });
  });

  it('layout: blocks packed in reference order right after the sets, 0x7e padding, len a multiple of 4', () => {
    expect(buf.length % 4).toBe(0);
    const words: number[] = [];
    let off = 24;
    for (const s of everyType) {
      const numval = buf.readInt32BE(off + 4);
      off += 8;
      if (numval <= 0) continue;
      const valfmt = buf.readInt32BE(off);
      off += 4;
      for (let j = 0; j < numval; j++, off += 8) if (valfmt) words.push(buf.readUInt32BE(off + 4));
      void s;
    }
    expect(words[0] * 4).toBe(off);
    for (let k = 1; k < words.length; k++) {
      const prev = words[k - 1] * 4;
      const vlen = buf.readUInt32BE(prev) & 0xffffff;
      expect(words[k] * 4).toBe(prev + ((vlen + 3) & ~3));
    }
    // "hullo world!" block: vlen 17, then three 0x7e.
    const hullo = words[12] * 4;
    expect(buf.readUInt32BE(hullo)).toBe((PM_TYPE.STRING << 24) | 17);
    expect([...buf.subarray(hullo + 16, hullo + 20)]).toEqual([0x00, 0x7e, 0x7e, 0x7e]);
  });

  it('accepts encodeResult({ sets, stateFlags }) and puts the flags in sec', () => {
    const b = encodeResult({ sets: [{ pmid: P(1), type: PM_TYPE.U32, values: [{ inst: 0, value: 1 }] }], stateFlags: PMCD_STATE.NAMES_CHANGE });
    expect(decodeResult(b).sec).toBe(0x10);
  });

  it('an empty fetch (no PMIDs) is a 24-byte RESULT', () => {
    expect(encodeResult([]).length).toBe(24);
  });
});

describe('encodeResult: output memory', () => {
  it('a reply is never overwritten by later replies (buffer pool reuse)', () => {
    const make = (k: number): ResultSet[] => [{ pmid: P(3), type: PM_TYPE.U64, values: [...Array(64).keys()].map((i) => ({ inst: i, value: BigInt(k * 1000 + i) })) }];
    const kept: [Buffer, Buffer][] = [];
    for (let k = 0; k < 2000; k++) {
      const b = encodeResult(make(k));
      if (k % 97 === 0) kept.push([b, Buffer.from(b)]);
    }
    expect(kept.length).toBeGreaterThan(20);
    for (const [live, copy] of kept) expect(live.equals(copy)).toBe(true);
    const last = decodeResult(kept[kept.length - 1][0]);
    expect(last.sets[0].values[63].value).toBe(BigInt(1940 * 1000 + 63));
  });

  it('large replies (over 64 KiB of strings) encode and decode', () => {
    const big = 'x'.repeat(2000);
    const b = encodeResult([{ pmid: P(6), type: PM_TYPE.STRING, values: [...Array(64).keys()].map((i) => ({ inst: i, value: `${i}${big}` })) }]);
    expect(b.length).toBeGreaterThan(64 * 1024);
    const r = decodeResult(b);
    expect(r.sets[0].values[63].value).toBe(`63${big}`);
  });
});

describe('encodeResult: values the type cannot carry', () => {
  const bad: [string, ResultSet, RegExp][] = [
    ['U32 negative', { pmid: P(1), type: PM_TYPE.U32, values: [{ inst: 3, value: -1 }] }, /PDU_RESULT: pmid 149\.0\.1 inst 3: value -1 cannot be sent as PM_TYPE_U32/],
    ['32 too big', { pmid: P(1), type: PM_TYPE.I32, values: [{ inst: 0, value: 2 ** 31 }] }, /cannot be sent as PM_TYPE_32/],
    ['U64 negative bigint', { pmid: P(1), type: PM_TYPE.U64, values: [{ inst: 0, value: -1n }] }, /value -1n cannot be sent as PM_TYPE_U64/],
    ['U64 fraction', { pmid: P(1), type: PM_TYPE.U64, values: [{ inst: 0, value: 1.5 }] }, /value 1.5 cannot/],
    ['U64 2^64', { pmid: P(1), type: PM_TYPE.U64, values: [{ inst: 0, value: 2n ** 64n }] }, /cannot be sent as PM_TYPE_U64/],
    ['STRING from number', { pmid: P(1), type: PM_TYPE.STRING, values: [{ inst: 0, value: 5 }] }, /value 5 cannot be sent as PM_TYPE_STRING/],
    ['AGGREGATE from string', { pmid: P(1), type: PM_TYPE.AGGREGATE, values: [{ inst: 0, value: 'x' }] }, /cannot be sent as PM_TYPE_AGGREGATE/],
    ['EVENT vs highres', { pmid: P(1), type: PM_TYPE.EVENT, values: [{ inst: 0, value: highres }] }, /highres=true but the metric type is EVENT/],
    ['NOSUPPORT with values', { pmid: P(1), type: PM_TYPE.NOSUPPORT, values: [{ inst: 0, value: 1 }] }, /metric type NOSUPPORT cannot carry values/],
    ['inst NaN', { pmid: P(1), type: PM_TYPE.U32, values: [{ inst: NaN, value: 1 }] }, /instance id NaN is not a 32-bit integer/],
    ['event param type mismatch', { pmid: P(1), type: PM_TYPE.EVENT, values: [{ inst: 0, value: { highres: false, records: [{ sec: 0, frac: 0, flags: 1, params: [{ pmid: 5, type: PM_TYPE.U64, value: 'x' }] }] } }] }, /event parameter 5 value "x" cannot be sent as PM_TYPE_U64/],
    ['EVENT sec beyond int32', { pmid: P(1), type: PM_TYPE.EVENT, values: [{ inst: 0, value: { highres: false, records: [{ sec: 2 ** 32, frac: 0, flags: 1, params: [] }] } }] }, /event record 0 timestamp 4294967296\.0 does not fit the EVENT form/],
  ];

  it.each(bad)('%s -> PduError naming pmid, instance and reason', (_n, set, re) => {
    expect(() => encodeResult([set])).toThrow(PduError);
    expect(() => encodeResult([set])).toThrow(re);
  });

  it('with onInvalid the set becomes the returned error code and the other sets still go out', () => {
    const seen: string[] = [];
    const b = encodeResult(
      [bad[0][1], { pmid: P(2), type: PM_TYPE.U64, values: [{ inst: 0, value: 9n }] }, bad[5][1]],
      { onInvalid: (id, inst, reason) => (seen.push(`${id}/${inst}: ${reason}`), PM_ERR.TYPE) },
    );
    const r = decodeResult(b);
    expect(r.sets.map((s) => s.numval)).toEqual([PM_ERR.TYPE, 1, PM_ERR.TYPE]);
    expect(r.sets[1].values[0].value).toBe(9n);
    expect(seen).toEqual([`${P(1)}/3: value -1 cannot be sent as PM_TYPE_U32`, `${P(1)}/0: value 5 cannot be sent as PM_TYPE_STRING`]);
  });
});

describe('store request encoder (test clients)', () => {
  it('carries the client slot and timestamp words; decodes back', () => {
    const b = encodeStore({ sets: [{ pmid: P(3), type: PM_TYPE.STRING, values: [{ inst: 0, value: 'hello' }] }], from: 4, sec: 7 });
    const r = decodeResult(b);
    expect(r).toMatchObject({ from: 4, sec: 7, usec: 0 });
    expect(r.sets[0].values[0]).toEqual({ inst: 0, value: 'hello', vtype: PM_TYPE.STRING });
  });
});

describe('encodeLabel', () => {
  it('canonical JSON: sorted names, no whitespace, numbers/booleans/null, byte offsets for UTF-8', () => {
    const c = canonicalLabelJson({ zeta: 1.5, city: 'Zürich', alpha: true, none: null });
    expect(c.json).toBe('{"alpha":true,"city":"Zürich","none":null,"zeta":1.5}');
    expect(c.bytes).toBe(Buffer.byteLength(c.json));
    const j = Buffer.from(c.json);
    for (const e of c.entries) {
      expect(j.toString('utf8', e.nameOff, e.nameOff + e.nameLen)).toBe(e.name);
    }
    const zeta = c.entries.find((e) => e.name === 'zeta')!;
    expect(j.toString('utf8', zeta.valueOff, zeta.valueOff + zeta.valueLen)).toBe('1.5');
  });

  it('per-label flags (OPTIONAL), error sets, and libpcp-style running JSON offsets for empty sets', () => {
    const b = encodeLabel({
      ident: indom(149, 3),
      labelType: PM_LABEL.INSTANCES,
      sets: [
        { inst: 0, labels: {}, flags: PM_LABEL.INSTANCES },
        { inst: 1, labels: { upper_bound: 3, lower_bound: 2 }, flags: PM_LABEL.INSTANCES, labelFlags: { upper_bound: PM_LABEL.INSTANCES | PM_LABEL_FLAG.OPTIONAL } },
        { inst: 2, labels: {}, flags: PM_LABEL.INSTANCES, error: PM_ERR.NOLABELS },
        { inst: 3, labels: { lower_bound: 4 }, flags: PM_LABEL.INSTANCES },
      ],
    });
    const p = decodePdu(b) as Extract<Pdu, { type: typeof PDU.LABEL }>;
    expect(p.sets[0]).toEqual({ inst: 0, labels: {}, flags: 0 });
    expect(p.sets[1].labels).toEqual({ lower_bound: 2, upper_bound: 3 });
    expect(p.sets[1].labelFlags).toEqual({ lower_bound: 0x20, upper_bound: 0xa0 });
    expect(p.sets[2]).toEqual({ inst: 2, labels: {}, flags: 0, error: PM_ERR.NOLABELS });
    expect(p.sets[3]).toEqual({ inst: 3, labels: { lower_bound: 4 }, flags: PM_LABEL.INSTANCES });
    // json offsets: index ends at 28 + 4*16 + 3*8 = 116; set0 -> 116, set1 JSON 116.., set2/3 after it.
    const jsonOff = (k: number) => b.readInt32BE(28 + 16 * k + (k >= 2 ? 16 : 0) + (k >= 4 ? 8 : 0) + 8);
    expect(jsonOff(0)).toBe(116);
    expect(jsonOff(1)).toBe(116);
    expect(b.toString('utf8', 116, 116 + 31)).toBe('{"lower_bound":2,"upper_bound":3}'.slice(0, 31));
    expect(b.length).toBe(116 + '{"lower_bound":2,"upper_bound":3}'.length + '{"lower_bound":4}'.length);
  });
});

describe('PMNS, instance, text, label, attr, profile, fetch requests decode back', () => {
  const cases: [string, Buffer, object][] = [
    ['FETCH', encodeFetch({ from: 3, ctxid: 1, pmids: [P(1), P(2)] }), { type: PDU.FETCH, from: 3, ctxid: 1, pmids: [P(1), P(2)] }],
    ['PROFILE', encodeProfile({ from: 1, profiles: [{ indom: indom(149, 1), state: 1, instances: [4, 5] }, { indom: indom(149, 2), state: 0, instances: [] }] }),
      { type: PDU.PROFILE, from: 1, ctxid: 0, globalState: 0, profiles: [{ indom: indom(149, 1), state: 1, instances: [4, 5] }, { indom: indom(149, 2), state: 0, instances: [] }] }],
    ['DESC_REQ', encodeDescReq({ pmid: P(7) }), { type: PDU.DESC_REQ, from: 0, pmid: P(7) }],
    ['INSTANCE_REQ all', encodeInstanceReq({ indom: indom(149, 1) }), { type: PDU.INSTANCE_REQ, from: 0, indom: indom(149, 1), inst: PM_IN_NULL, name: null }],
    ['INSTANCE_REQ by number', encodeInstanceReq({ indom: indom(149, 1), inst: 5 }), { inst: 5, name: null }],
    ['INSTANCE_REQ by name', encodeInstanceReq({ indom: indom(149, 1), name: '4-7' }), { inst: PM_IN_NULL, name: '4-7' }],
    ['TEXT_REQ', encodeTextReq({ ident: P(1), textType: 6 }), { type: PDU.TEXT_REQ, ident: P(1), textType: 6 }],
    ['LABEL_REQ', encodeLabelReq({ ident: 149, labelType: PM_LABEL.DOMAIN }), { type: PDU.LABEL_REQ, ident: 149, labelType: 2 }],
    ['PMNS_CHILD', encodePmnsChild({ subtype: 1, name: 'bcc.runq' }), { type: PDU.PMNS_CHILD, subtype: 1, name: 'bcc.runq' }],
    ['PMNS_TRAVERSE', encodePmnsTraverse({ name: 'bcc' }), { type: PDU.PMNS_TRAVERSE, subtype: 0, name: 'bcc' }],
    ['PMNS_NAMES request', encodePmnsNames({ from: 2, names: ['bcc.pmda.version'] }), { type: PDU.PMNS_NAMES, from: 2, names: ['bcc.pmda.version'] }],
    ['ATTR string', encodeAttr({ from: 2, attr: 11, value: '0' }), { type: PDU.ATTR, from: 2, attr: 11, value: Buffer.from('0\0') }],
    ['CONTROL_REQ (no vector: pmcd 6.0.3 never sends it)', encodeControlReq({ raw: Buffer.from([0, 0, 0, 1]) }), { type: PDU.CONTROL_REQ, from: 0, raw: Buffer.from([0, 0, 0, 1]) }],
    ['CREDS default pid', encodeCreds({ flags: 0x4 }), { type: PDU.CREDS, from: process.pid, creds: [{ ctype: 1, version: 2, flags: 4 }] }],
  ];
  it.each(cases)('%s', (_n, buf, want) => {
    expect(decodePdu(buf)).toMatchObject(want);
  });

  it('ATTR is not padded: 18 bytes for "0"', () => {
    expect(encodeAttr({ attr: 11, value: '0' }).length).toBe(18);
  });

  it('PMNS_NAMES status must match the names', () => {
    expect(() => encodePmnsNames({ names: ['a', 'b'], status: [0] })).toThrow(/PDU_PMNS_NAMES: numstatus: 1 status words for 2 names/);
  });
});

describe('units word, reader and writer', () => {
  it('every nibble value survives unitsToWord/unitsFromWord; out of range is refused', () => {
    for (let d = -8; d <= 7; d++) {
      const u = { dimSpace: d, dimTime: -d - 1 < -8 ? 7 : -d - 1, dimCount: d, scaleSpace: d + 8, scaleTime: (d + 8) % 6, scaleCount: d };
      expect(unitsFromWord(unitsToWord(u))).toEqual(u);
    }
    expect(unitsToWord({ dimSpace: 1, dimTime: -1, dimCount: 0, scaleSpace: 0, scaleTime: 3, scaleCount: 0 })).toBe(0x1f003000);
    expect(() => unitsToWord({ dimSpace: 8, dimTime: 0, dimCount: 0, scaleSpace: 0, scaleTime: 0, scaleCount: 0 })).toThrow(/units\.dimSpace: 8 is outside -8\.\.7/);
  });

  it('writer grows, pads with 0x7e, takes -1 as 0xffffffff, refuses what does not fit', () => {
    const w = new PduWriter('PDU_TEST', 12);
    w.header(0x7000, 0);
    w.u32(-1, 'inst');
    w.utf8('abcde');
    w.pad();
    for (let i = 0; i < 100; i++) w.u64(2n ** 64n - 1n, 'x');
    const b = w.finish();
    expect(b.length).toBe(12 + 4 + 8 + 800);
    expect(b.readUInt32BE(0)).toBe(b.length);
    expect(b.readUInt32BE(12)).toBe(0xffffffff);
    expect([...b.subarray(21, 24)]).toEqual([0x7e, 0x7e, 0x7e]);
    expect(() => w.u32(2 ** 32, 'inst')).toThrow(/PDU_TEST: inst: 4294967296 does not fit in 32 bits/);
    expect(() => w.u32(1.5, 'inst')).toThrow(PduError);
    expect(() => w.u64(-1, 'v')).toThrow(/v: -1 is not a u64/);
  });

  it('reader names the field it could not read', () => {
    const r = new PduReader(Buffer.alloc(14), 'PDU_TEST', 12);
    expect(() => r.u32('numval')).toThrow(/^PDU_TEST: numval: truncated: needs 4 bytes at offset 12 but the PDU ends at 14$/);
  });
});
