// Our encodings, read by the independent decoder (../shared/vectors/tools/pdudecode.py, written
// from the protocol document, not from this code). It exits non-zero on any byte its layouts do
// not account for.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  encodeDesc, encodeError, encodeInstance, encodeLabel, encodePmnsIds, encodePmnsNames, encodeResult, encodeText,
} from '../../src/pcp';
import { indom, PM_ERR, PM_EVENT_FLAG, PM_IN_NULL, PM_LABEL, PM_SEM, PM_TYPE, pmid, type ResultSet } from '../../src/pcp/types';
import { PDUDECODE } from './vectors';

const python = spawnSync('python3', ['--version']);
const hasPython = python.status === 0;

function pdudecode(pdus: Buffer[]): { status: number | null; out: string } {
  if (!fs.existsSync(PDUDECODE)) throw new Error(`independent decoder missing: ${PDUDECODE}`);
  // Its --pdus format: "seq direction time len type hex", one PDU per line.
  const lines = pdus.map((b, i) => `${String(i + 1).padStart(4, '0')} out 00:00:00 ${b.length} 0x${b.readUInt32BE(4).toString(16)} ${b.toString('hex')}`);
  // A file, not stdin: Node hands a child a socket, which /dev/stdin cannot open.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pdudecode-'));
  const file = path.join(dir, 'ours.pdus');
  try {
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    const r = spawnSync('python3', [PDUDECODE, '--pdus', file], { encoding: 'utf8' });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const D = 149;
const P = (c: number, i: number) => pmid(D, c, i);
const allTypes: ResultSet[] = [
  { pmid: P(0, 0), type: PM_TYPE.I32, values: [{ inst: 0, value: -7 }] },
  { pmid: P(0, 1), type: PM_TYPE.U32, values: [{ inst: PM_IN_NULL, value: 0xfffffffe }] },
  { pmid: P(0, 2), type: PM_TYPE.I64, values: [{ inst: 0, value: -5n }] },
  { pmid: P(0, 3), type: PM_TYPE.U64, values: [...Array(64).keys()].map((i) => ({ inst: i, value: 2n ** BigInt(i) })) },
  { pmid: P(0, 4), type: PM_TYPE.FLOAT, values: [{ inst: 0, value: 1.5 }] },
  { pmid: P(0, 5), type: PM_TYPE.DOUBLE, values: [{ inst: 0, value: -0.25 }] },
  { pmid: P(0, 6), type: PM_TYPE.STRING, values: [{ inst: 0, value: 'hullo world!' }, { inst: 1, value: '' }] },
  { pmid: P(0, 7), type: PM_TYPE.AGGREGATE, values: [{ inst: 0, value: Buffer.from([1, 3, 7, 15, 31]) }] },
  {
    pmid: P(0, 8), type: PM_TYPE.EVENT, values: [{
      inst: 0, value: { highres: false, records: [
        { sec: 1700000000, frac: 123456, flags: PM_EVENT_FLAG.POINT, params: [
          { pmid: P(0, 20), type: PM_TYPE.STRING, value: 'bingo!' },
          { pmid: P(0, 21), type: PM_TYPE.U64, value: 11n },
          { pmid: P(0, 22), type: PM_TYPE.AGGREGATE, value: Buffer.from('abc') },
          { pmid: P(0, 23), type: PM_TYPE.FLOAT, value: -17 },
        ] },
        { sec: 1700000001, frac: 0, flags: PM_EVENT_FLAG.MISSED, missed: 7, params: [] },
      ] },
    }],
  },
  {
    pmid: P(0, 9), type: PM_TYPE.HIGHRES_EVENT, values: [{
      inst: PM_IN_NULL, value: { highres: true, records: [
        { sec: 1700000000n, frac: 999999999n, flags: PM_EVENT_FLAG.START, params: [{ pmid: P(0, 24), type: PM_TYPE.I32, value: -14 }] },
        { sec: 1700000002n, frac: 1n, flags: PM_EVENT_FLAG.MISSED, missed: 3, params: [] },
      ] },
    }],
  },
  { pmid: P(0, 10), type: PM_TYPE.U64, values: [] },
  { pmid: P(9, 9), error: PM_ERR.PMID },
];

describe.skipIf(!hasPython)('independent decoder accepts our encodings (python3 pdudecode.py; skipped only if python3 is not installed)', () => {
  it('RESULT with every type, LABEL, INSTANCE, PMNS, DESC, TEXT, ERROR', () => {
    const pdus = [
      encodeResult(allTypes),
      encodeLabel({ ident: D, labelType: PM_LABEL.DOMAIN, sets: [{ inst: PM_IN_NULL, labels: { agent: 'ebpf' }, flags: PM_LABEL.DOMAIN }] }),
      encodeLabel({
        ident: indom(D, 3), labelType: PM_LABEL.INSTANCES,
        sets: [{ inst: 0, labels: { lower_bound: 0, upper_bound: 1 }, flags: PM_LABEL.INSTANCES }, { inst: 1, labels: {}, flags: PM_LABEL.INSTANCES }],
      }),
      encodeLabel({ ident: P(1, 0), labelType: PM_LABEL.ITEM, sets: [] }),
      encodeInstance({ indom: indom(D, 3), instances: [{ inst: 0, name: '0-1' }, { inst: 1, name: '2-3' }, { inst: 2, name: '4-7' }] }),
      encodeInstance({ indom: indom(D, 3), instances: [{ inst: PM_IN_NULL, name: '32-63' }] }),
      encodePmnsNames({ names: ['bcc.runq.latency', 'bcc.pmda.version'] }),
      encodePmnsNames({ names: ['runq', 'version'], status: [1, 0] }),
      encodePmnsIds({ pmids: [P(0, 3)] }),
      encodeDesc({ pmid: P(0, 3), vtype: PM_TYPE.U64, indom: indom(D, 3), sem: PM_SEM.COUNTER, units: { dimSpace: 0, dimTime: 0, dimCount: 1, scaleSpace: 0, scaleTime: 0, scaleCount: 0 } }),
      encodeText({ ident: P(0, 3), text: 'Run queue latency histogram\n' }),
      encodeText({ ident: P(0, 3), text: 'odd' }, { identByteOrder: 'le' }),
      encodeError({ code: PM_ERR.INST }),
    ];
    const { status, out } = pdudecode(pdus);
    expect(out).not.toMatch(/INVALID/);
    expect(status, out).toBe(0);
    // It read the values, not just the framing.
    expect(out).toContain('vset[3] pmid=149.0.3 numval=64 valfmt=1');
    expect(out).toContain('vtype=3(U64) vlen=12 value=9223372036854775808');
    expect(out).toContain('inst=0 lval=-7');
    expect(out).toContain('vtype=2(64) vlen=12 value=-5');
    expect(out).toContain("vtype=6(STRING) vlen=17 value=b'hullo world!\\x00' pad=7e7e7e");
    expect(out).toContain("param[0] pmid=149.0.20 type=STRING len=10 value=b'bingo!'");
    expect(out).toMatch(/record\[1\] ts=1700000001\.000000 flags=0x80000000 nparams=7/);
    expect(out).toMatch(/record\[1\] ts=1700000002\.000000001 flags=0x80000000 nparams=3/);
    expect(out).toContain('vset[11] pmid=149.9.9 numval=-12358 PM_ERR_PMID (no valfmt word)');
    expect(out).toContain("label[0] name@2+5=b'agent' flags=0x02 value@9+6=b'\"ebpf\"'");
    expect(out).toContain("[0] status=1(non-leaf) name='runq'");
    expect(out).toContain("[0] inst=PM_IN_NULL namelen=5 name='32-63' pad=7e7e7e");
    expect(out).toContain('units=0x00100000');
    expect(out).toContain('code=-12360 PM_ERR_INST');
  });

  it('the check has teeth: a RESULT with a gap before its block is rejected', () => {
    const good = encodeResult([{ pmid: P(0, 3), type: PM_TYPE.U64, values: [{ inst: 0, value: 1n }] }]);
    // value set ends at byte 44 (word 11); put 4 stray bytes there and point the value past them.
    const bad = Buffer.concat([good.subarray(0, 44), Buffer.alloc(4), good.subarray(44)]);
    bad.writeUInt32BE(bad.length, 0);
    bad.writeUInt32BE(12, 40);
    const { status, out } = pdudecode([bad]);
    expect(status).toBe(1);
    expect(out).toMatch(/INVALID: value block at word 12, expected 11/);
  });
});
