// Malformed input: every rejection is a PduError whose message names the PDU, the field and
// the problem. Inputs are real vectors with one thing broken.
import { describe, expect, it } from 'vitest';
import { decodePdu, encodeResult, encodeLabel, PduError } from '../../src/pcp';
import { PM_IN_NULL, PM_LABEL, PM_TYPE, pmid } from '../../src/pcp/types';
import { loadVectors } from './vectors';

const vectors = loadVectors();
const vec = (num: string): Buffer => Buffer.from(vectors.find((v) => v.file.startsWith(num))!.bytes);
/** Fix the len word after editing a PDU's size. */
const relen = (b: Buffer): Buffer => {
  b.writeUInt32BE(b.length, 0);
  return b;
};
const put = (b: Buffer, off: number, word: number): Buffer => {
  b.writeUInt32BE(word >>> 0, off);
  return b;
};

function rejects(buf: Buffer, pattern: RegExp): PduError {
  let err: unknown;
  try {
    decodePdu(buf);
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${pattern} but decodePdu accepted the PDU`).toBeInstanceOf(PduError);
  expect((err as Error).message).toMatch(pattern);
  return err as PduError;
}

describe('framing-level damage', () => {
  it('fewer than 12 bytes', () => {
    rejects(Buffer.alloc(8), /^PDU: header: 8 bytes is shorter than the 12-byte PDU header$/);
  });

  it('truncated PDU: the header says more bytes than the buffer holds', () => {
    rejects(vec('0031').subarray(0, 40), /^PDU_FETCH: len: header says 64 bytes but the buffer holds 40$/);
  });

  it('length larger than the data, and a buffer with extra bytes', () => {
    rejects(put(vec('0040'), 0, 400), /PDU_DESC_REQ: len: header says 400 bytes but the buffer holds 16/);
    rejects(Buffer.concat([vec('0040'), Buffer.alloc(4)]), /PDU_DESC_REQ: len: header says 16 bytes but the buffer holds 20/);
  });

  it('unknown PDU types, including the unused 0x700b', () => {
    const e = rejects(put(vec('0040'), 4, 0x7777), /^PDU type 0x7777: type: unknown PDU type 0x7777$/);
    expect(e.field).toBe('type');
    rejects(put(vec('0040'), 4, 0x700b), /unknown PDU type 0x700b/);
    rejects(put(vec('0040'), 4, 0x8000), /unknown PDU type 0x8000/);
  });

  it('fixed-size PDUs of the wrong size', () => {
    rejects(relen(Buffer.concat([vec('0041'), Buffer.alloc(4)])), /^PDU_DESC: len: must be 32 bytes, got 36$/);
    rejects(relen(vec('0060').subarray(0, 16)), /^PDU_TEXT_REQ: len: must be 20 bytes, got 16$/);
  });
});

describe('counts that do not fit', () => {
  it('FETCH numpmid larger than the PMIDs present', () => {
    const e = rejects(put(vec('0031'), 24, 10), /^PDU_FETCH: numpmid: bad count 10: needs at least 40 bytes but only 36 remain$/);
    expect(e.pdu).toBe('PDU_FETCH');
    expect(e.field).toBe('numpmid');
    rejects(put(vec('0031'), 24, 8), /PDU_FETCH: numpmid: 8 PMIDs need 32 bytes but 36 follow/);
    rejects(put(vec('0031'), 24, -1), /PDU_FETCH: numpmid: bad count -1/);
  });

  it('CREDS numcreds out of range or not matching len', () => {
    rejects(put(vec('0001'), 12, 0), /PDU_CREDS: numcreds: bad count 0 \(1\.\.1024\)/);
    rejects(put(vec('0001'), 12, 2), /PDU_CREDS: numcreds: 2 credentials need 8 bytes but 4 follow/);
  });

  it('PROFILE: instance counts that disagree with the length, unknown state', () => {
    rejects(put(vec('0033'), 36, 2), /PDU_PROFILE: numinst: instance counts add up to 2 \(8 bytes\) but 4 bytes follow/);
    rejects(put(vec('0033'), 20, 3), /PDU_PROFILE: numprof: bad count 3/);
    rejects(put(vec('0033'), 32, 5), /PDU_PROFILE: profile\[0\]\.state: unknown profile state 5/);
  });

  it('PMNS_NAMES: numstatus neither 0 nor numnames; nstrbytes wrong; name length past the end', () => {
    rejects(put(vec('0017'), 16, 3), /PDU_PMNS_NAMES: numstatus: must be 0 or equal numnames \(7\), got 3/);
    rejects(put(vec('0011'), 12, 99), /PDU_PMNS_NAMES: nstrbytes: says 99 but the names take 168/);
    rejects(put(vec('0012'), 24, 200), /PDU_PMNS_NAMES: name\[0\] length: bad count 200: needs at least 200 bytes but only 16 remain/);
  });

  it('INSTANCE: numinst too large, name length negative', () => {
    rejects(put(vec('0053'), 16, 5), /PDU_INSTANCE: numinst: bad count 5/);
    rejects(put(vec('0055'), 24, -3), /PDU_INSTANCE: instance\[0\]\.name length: bad count -3/);
  });

  it('TEXT buflen past the end, and trailing bytes after the text', () => {
    rejects(put(vec('0061'), 16, 99), /PDU_TEXT: text length: bad count 99/);
    rejects(relen(Buffer.concat([vec('0061'), Buffer.alloc(4)])), /PDU_TEXT: 4 unexpected trailing bytes at offset 44 \(PDU length 48\)/);
  });

  it('PMNS_CHILD subtype other than 0/1', () => {
    rejects(put(vec('0014'), 12, 9), /PDU_PMNS_CHILD: subtype: unknown subtype 9/);
  });
});

describe('RESULT value sets and blocks', () => {
  // 0035: 1 set, 157.2.0, numval 1, valfmt 1 (DPTR), value word 11 -> block at byte 44 (U64).
  it('numval larger than the PDU can hold', () => {
    rejects(put(vec('0035'), 28, 1000), /PDU_RESULT: vset\[0\]\.numval: bad count 1000: needs 8004 bytes but only 24 remain/);
  });

  it('numpmid larger than the PDU can hold', () => {
    rejects(put(vec('0035'), 20, 9), /PDU_RESULT: numpmid: bad count 9/);
  });

  it('unknown valfmt', () => {
    rejects(put(vec('0035'), 32, 7), /PDU_RESULT: vset\[0\]\.valfmt: unknown valfmt 7/);
  });

  it('value offset outside the PDU, or pointing into the value sets', () => {
    rejects(put(vec('0035'), 40, 500), /PDU_RESULT: vset\[0\]\.vlist\[0\]\.value: value block offset 500 words \(byte 2000\) is outside the value-block area 44\.\.56/);
    rejects(put(vec('0035'), 40, 3), /value block offset 3 words \(byte 12\) is outside the value-block area/);
  });

  it('a gap before a block, a shared block, trailing bytes after the last block', () => {
    rejects(put(relen(Buffer.concat([vec('0035'), Buffer.alloc(4)])), 40, 12), /gap before value block at byte 48: previous data ends at 44/);
    // 0100 has 4 DPTR values; point the second (value word at byte 60) at the first's block.
    rejects(put(vec('0100'), 60, 26), /value block at byte 104 overlaps the previous block ending at 112/);
    rejects(relen(Buffer.concat([vec('0035'), Buffer.alloc(4)])), /PDU_RESULT: value blocks: blocks end at byte 56 but the PDU is 60 bytes/);
  });

  it('vlen smaller than its header, or running past the end', () => {
    rejects(put(vec('0035'), 44, 0x03000002), /vlen 2 is smaller than the 4-byte block header/);
    rejects(put(vec('0035'), 44, 0x03000040), /block of vlen 64 at byte 44 runs past the PDU end 56/);
  });

  it('payload length wrong for the type, unknown vtype, STRING without NUL', () => {
    rejects(put(vec('0035'), 44, 0x0200000c - 0x02000000 + 0x04000000), /PM_TYPE_FLOAT payload must be 4 bytes, got 8/);
    rejects(put(vec('0035'), 44, 0x2a00000c), /vset\[0\]\.vlist\[0\] block\.vtype: unknown value type 42/);
    const s = vec('0083'); // "hello\0" in a vlen-10 block at byte 44
    s[44 + 4 + 5] = 0x21;
    rejects(s, /PM_TYPE_STRING value block lacks its terminating NUL/);
  });

  it('event arrays: nrecords too large, unknown parameter type, trailing bytes in the block', () => {
    // 0114: singular EVENT, block at byte 44: vtype/vlen, nrecords 1, record (16 bytes), 1 STRING param.
    rejects(put(vec('0114'), 48, 50), /block\.nrecords: bad count 50/);
    rejects(put(vec('0114'), 72, 0x2a00000c), /record\[0\]\.param\[0\]\.type: unknown or unsupported event parameter type 42/);
    rejects(put(vec('0114'), 64, 0), /vset\[0\]\.vlist\[0\] block: 16 trailing bytes after the event records/);
  });
});

describe('LABEL', () => {
  // 0071: nsets 1; set at 28: inst, nlabels 1, json 52, jsonlen 15; entry at 44; JSON at 52..67.
  it('JSON offset outside the JSON area, or overlapping the index', () => {
    rejects(put(vec('0071'), 36, 60), /PDU_LABEL: set\[0\]\.json: JSON at bytes 60\.\.75 is outside the JSON area 52\.\.67/);
    rejects(put(vec('0071'), 36, 40), /JSON at bytes 40\.\.55 is outside the JSON area/);
  });

  it('index entries pointing outside the JSON or at the wrong text', () => {
    rejects(put(vec('0071'), 44, 0x00100502), /set\[0\]\.label\[0\]\.name: name 16\+5 lies outside the set's 15-byte JSON/);
    rejects(put(vec('0071'), 44, 0x00010502), /index names ""agen", which is not a label in \{"agent":"bpf"\}/);
  });

  it('nlabels not matching the JSON, too many labels, invalid JSON, trailing bytes', () => {
    rejects(put(vec('0071'), 32, 0), /set\[0\]\.nlabels: 0 index entries but the JSON has 1 labels/);
    rejects(put(vec('0071'), 32, 300), /set\[0\]\.nlabels: bad count 300 \(at most 254 labels per set\)/);
    const bad = vec('0071');
    bad[52 + 14] = 0x20; // final '}' -> ' '
    rejects(bad, /set\[0\]\.json: not valid JSON/);
    rejects(relen(Buffer.concat([vec('0071'), Buffer.from('x')])), /1 unexpected trailing bytes after the label JSON/);
  });
});

describe('encoders refuse what the protocol cannot carry', () => {
  it('label names and values', () => {
    const set = (labels: Record<string, unknown>) => [{ inst: PM_IN_NULL, labels: labels as never, flags: PM_LABEL.ITEM }];
    expect(() => encodeLabel({ ident: 1, labelType: PM_LABEL.ITEM, sets: set({ '1abc': 'x' }) })).toThrow(/PDU_LABEL: set\[0\]\.labels\.1abc: label names must match/);
    expect(() => encodeLabel({ ident: 1, labelType: PM_LABEL.ITEM, sets: set({ a: { b: 1 } }) })).toThrow(/value \[object Object\] is not a string, finite number, boolean or null/);
    expect(() => encodeLabel({ ident: 1, labelType: PM_LABEL.ITEM, sets: set({ a: NaN }) })).toThrow(/value NaN/);
    const many = Object.fromEntries([...Array(255).keys()].map((i) => [`l${i}`, i]));
    expect(() => encodeLabel({ ident: 1, labelType: PM_LABEL.ITEM, sets: set(many) })).toThrow(/255 labels; at most 254 fit in one set/);
  });

  it('RESULT error codes must be negative', () => {
    expect(() => encodeResult([{ pmid: pmid(1, 0, 0), error: 3 }])).toThrow(/PDU_RESULT: set\[0\] \(pmid 1\.0\.0\): error code 3 must be a negative integer/);
    expect(() => encodeResult([{ pmid: 1, type: PM_TYPE.U32, values: [{ inst: 0, value: -1 }] }], { onInvalid: () => 0 })).toThrow(/onInvalid returned 0/);
  });
});
