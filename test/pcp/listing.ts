// Compares a decoded PDU with the independent decoder's listing (DECODED.txt, written by
// ../shared/vectors/tools/pdudecode.py). Every listing line must be recognised and agree.
import { expect } from 'vitest';
import { canonicalLabelJson } from '../../src/pcp/encode-label';
import { asInt32 } from '../../src/pcp/values';
import { unitsToWord } from '../../src/pcp/units';
import { PM_IN_NULL, PM_INDOM_NULL, pmidString, type EventArray, type LabelSet, type PmValue, type ValueSet } from '../../src/pcp/types';

const VTYPE_NAMES: Record<string, number> = {
  '32': 0, U32: 1, '64': 2, U64: 3, FLOAT: 4, DOUBLE: 5, STRING: 6, AGGREGATE: 7, EVENT: 9, HIGHRES_EVENT: 10, NOSUPPORT: -1,
};
const SEM_NAMES: Record<string, number> = { counter: 1, instant: 3, discrete: 4 };

/** Reads a Python str/bytes repr starting at s[i]; returns its bytes and the index after it. */
export function readPyLiteral(s: string, i: number): { bytes: Buffer; isBytes: boolean; end: number } {
  let isBytes = false;
  if (s[i] === 'b') {
    isBytes = true;
    i++;
  }
  const q = s[i];
  if (q !== "'" && q !== '"') throw new Error(`no Python literal at ${i} in ${s}`);
  i++;
  const out: number[] = [];
  const esc: Record<string, number> = { n: 10, r: 13, t: 9, '\\': 92, "'": 39, '"': 34 };
  while (s[i] !== q) {
    if (i >= s.length) throw new Error(`unterminated literal in ${s}`);
    if (s[i] === '\\') {
      const n = s[i + 1];
      if (n === 'x') {
        out.push(parseInt(s.slice(i + 2, i + 4), 16));
        i += 4;
        continue;
      }
      if (!(n in esc)) throw new Error(`unhandled escape \\${n} in ${s}`);
      out.push(esc[n]);
      i += 2;
      continue;
    }
    const cp = s.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    out.push(...Buffer.from(ch, 'utf8'));
    i += ch.length;
  }
  return { bytes: Buffer.from(out), isBytes, end: i + 1 };
}

const pyAfter = (line: string, key: string): Buffer => {
  const at = line.indexOf(key);
  if (at < 0) throw new Error(`${key} not in ${line}`);
  return readPyLiteral(line, at + key.length).bytes;
};

const instOf = (s: string): number => (s === 'PM_IN_NULL' ? PM_IN_NULL : Number(s));
const indomStr = (i: number): string => (i === PM_INDOM_NULL ? 'PM_INDOM_NULL' : `${(i >>> 22) & 0x1ff}.${i & 0x3fffff}`);
const pmidStr = (p: number): string => (p === 0xffffffff ? 'PM_ID_NULL' : pmidString(p));

type AnyPdu = Record<string, unknown> & { type: number };

export function checkAgainstListing(pdu: AnyPdu, lines: string[], raw: Buffer): number {
  let checked = 0;
  const ok = (cond: boolean, line: string, what: string): void => {
    expect(cond, `${what} — listing line: ${line}`).toBe(true);
    checked++;
  };
  // RESULT state
  let setIdx = -1;
  let valIdx = 0;
  const byWord = new Map<number, PmValue>();
  let ea: EventArray | null = null;
  let rec = -1;
  let descIdx = 0;
  let labelSet: LabelSet | null = null;
  const sets = (pdu.sets ?? []) as ValueSet[];

  for (const line of lines) {
    let m: RegExpExecArray | null;
    if ((m = /^hdr: len=(\d+) type=0x([0-9a-f]+)\(\w+\) from=(-?\d+)$/.exec(line))) {
      ok(Number(m[1]) === raw.length && parseInt(m[2], 16) === pdu.type && Number(m[3]) === pdu.from, line, 'header');
    } else if ((m = /^numcreds=(\d+)$/.exec(line))) {
      ok((pdu.creds as unknown[]).length === Number(m[1]), line, 'numcreds');
    } else if ((m = /^cred\[(\d+)\] c_type=(\d+) version\/a=(\d+) flags\(b<<8\|c\)=0x([0-9a-f]+)$/.exec(line))) {
      const c = (pdu.creds as { ctype: number; version: number; flags: number }[])[Number(m[1])];
      ok(c.ctype === Number(m[2]) && c.version === Number(m[3]) && c.flags === parseInt(m[4], 16), line, 'cred');
    } else if ((m = /^attr=(\d+) value=/.exec(line))) {
      ok(pdu.attr === Number(m[1]) && (pdu.value as Buffer).equals(pyAfter(line, 'value=')), line, 'attr');
    } else if ((m = /^subtype=(\d+) namelen=(\d+) name=/.exec(line))) {
      ok(pdu.subtype === Number(m[1]) && pdu.name === pyAfter(line, 'name=').toString(), line, 'name request');
    } else if ((m = /^nstrbytes=(\d+) numstatus=(\d+) numnames=(\d+)$/.exec(line))) {
      const names = pdu.names as string[];
      const status = pdu.status as number[] | undefined;
      ok(names.length === Number(m[3]) && (status?.length ?? 0) === Number(m[2]), line, 'names counts');
      ok(names.reduce((a, n) => a + Buffer.byteLength(n) + 1, 0) === Number(m[1]), line, 'nstrbytes');
    } else if ((m = /^\[(\d+)\](?: status=(\d+)\((?:leaf|non-leaf)\))? name=/.exec(line))) {
      const k = Number(m[1]);
      ok((pdu.names as string[])[k] === pyAfter(line, 'name=').toString(), line, 'name');
      if (m[2] !== undefined) ok((pdu.status as number[])[k] === Number(m[2]), line, 'status');
    } else if ((m = /^sts=(-?\d+) numids=(\d+)$/.exec(line))) {
      ok(pdu.sts === Number(m[1]) && (pdu.pmids as number[]).length === Number(m[2]), line, 'ids header');
    } else if ((m = /^(?:ids|pmids)=(.*)$/.exec(line))) {
      ok((pdu.pmids as number[]).map(pmidStr).join(', ') === m[1], line, 'pmid list');
    } else if ((m = /^code=(-?\d+)/.exec(line))) {
      ok(pdu.code === Number(m[1]), line, 'error code');
    } else if ((m = /^datum=0x([0-9a-f]+)$/.exec(line))) {
      ok(pdu.datum === parseInt(m[1], 16), line, 'datum');
    } else if ((m = /^ctxid=(-?\d+) g_state=(\d+) numprof=(\d+) pad=0$/.exec(line))) {
      ok(pdu.ctxid === Number(m[1]) && pdu.globalState === Number(m[2]) && (pdu.profiles as unknown[]).length === Number(m[3]), line, 'profile');
    } else if ((m = /^prof\[(\d+)\] indom=(\S+) state=(\d+) numinst=(\d+) pad=0$/.exec(line))) {
      const p = (pdu.profiles as { indom: number; state: number; instances: number[] }[])[Number(m[1])];
      ok(indomStr(p.indom) === m[2] && p.state === Number(m[3]) && p.instances.length === Number(m[4]), line, 'profile entry');
    } else if ((m = /^prof\[(\d+)\] instances=\[(.*)\]$/.exec(line))) {
      const p = (pdu.profiles as { instances: number[] }[])[Number(m[1])];
      ok(p.instances.join(', ') === m[2], line, 'profile instances');
    } else if ((m = /^ctxid=(-?\d+) unused=0{16} numpmid=(\d+)$/.exec(line))) {
      ok(pdu.ctxid === Number(m[1]) && (pdu.pmids as number[]).length === Number(m[2]), line, 'fetch');
    } else if ((m = /^numdescs=(\d+)$/.exec(line))) {
      ok((pdu.descs as unknown[]).length === Number(m[1]), line, 'numdescs');
      descIdx = 0;
    } else if ((m = /^pmid=(\S+) type=(-?\d+) indom=(\S+) sem=(\d+) units=0x([0-9a-f]{8})$/.exec(line))) {
      const d = (pdu.descs as { pmid: number; vtype: number; indom: number; sem: number; units: Parameters<typeof unitsToWord>[0] }[])[descIdx++];
      ok(pmidStr(d.pmid) === m[1] && d.vtype === Number(m[2]) && d.sem === Number(m[4]) && unitsToWord(d.units) === parseInt(m[5], 16), line, 'descs entry');
      ok(m[3] === indomStr(d.indom) || (m[3] === '0.0' && d.indom === 0), line, 'descs indom');
    } else if ((m = /^pmid=(\S+)$/.exec(line))) {
      ok(pmidStr(pdu.pmid as number) === m[1], line, 'desc request pmid');
    } else if ((m = /^pmid=(\S+) type=(\S+) indom=(\S+) sem=(\S+) units=0x([0-9a-f]{8})/.exec(line))) {
      const d = pdu as unknown as { pmid: number; vtype: number; indom: number; sem: number; units: Parameters<typeof unitsToWord>[0] };
      ok(pmidStr(d.pmid) === m[1], line, 'desc pmid');
      ok(d.vtype === (VTYPE_NAMES[m[2]] ?? Number(m[2])), line, 'desc type');
      ok(indomStr(d.indom) === m[3], line, 'desc indom');
      ok(d.sem === (SEM_NAMES[m[4]] ?? Number(m[4])), line, 'desc sem');
      ok(unitsToWord(d.units) === parseInt(m[5], 16), line, 'desc units');
    } else if ((m = /^indom=(\S+) unused=0{16} inst=(\S+) namelen=(\d+) name=/.exec(line))) {
      const name = pyAfter(line, 'name=').toString();
      ok(indomStr(pdu.indom as number) === m[1] && pdu.inst === instOf(m[2]) && (pdu.name ?? '') === name, line, 'instance request');
    } else if ((m = /^indom=(\S+) numinst=(\d+)$/.exec(line))) {
      ok(indomStr(pdu.indom as number) === m[1] && (pdu.instances as unknown[]).length === Number(m[2]), line, 'instance reply');
    } else if ((m = /^\[(\d+)\] inst=(\S+) namelen=(\d+) name=/.exec(line))) {
      const e = (pdu.instances as { inst: number; name: string | null }[])[Number(m[1])];
      ok(e.inst === instOf(m[2]) && (e.name ?? '') === pyAfter(line, 'name=').toString(), line, 'instance entry');
    } else if ((m = /^ident=0x([0-9a-f]{8}) \(\S+\) type=(\d+) \[/.exec(line))) {
      ok(pdu.ident === parseInt(m[1], 16) && pdu.textType === Number(m[2]), line, 'text request');
    } else if ((m = /^ident\(raw bytes\)=([0-9a-f]{8}) buflen=(\d+) text=/.exec(line))) {
      const text = pyAfter(line, 'text=').toString();
      ok((pdu.ident as number).toString(16).padStart(8, '0') === m[1], line, 'text ident (raw)');
      ok(pdu.text === text && Buffer.byteLength(text) === Number(m[2]), line, 'text');
    } else if ((m = /^ident=0x([0-9a-f]{8}) type=0x([0-9a-f]+)$/.exec(line))) {
      ok(pdu.ident === parseInt(m[1], 16) && pdu.labelType === parseInt(m[2], 16), line, 'label request');
    } else if ((m = /^ident=0x([0-9a-f]{8}) type=0x([0-9a-f]+) padding=0 nsets=(\d+)$/.exec(line))) {
      ok(pdu.ident === parseInt(m[1], 16) && pdu.labelType === parseInt(m[2], 16) && (pdu.sets as unknown[]).length === Number(m[3]), line, 'label reply');
    } else if ((m = /^set\[(\d+)\] inst=(\S+) nlabels=(-?\d+) json@(\d+) len=(\d+) /.exec(line))) {
      const s = (pdu.sets as LabelSet[])[Number(m[1])];
      const json = pyAfter(line, `len=${m[5]} `).toString();
      ok(s.inst === instOf(m[2]) && Object.keys(s.labels).length === Number(m[3]), line, 'label set');
      ok(Number(m[3]) === 0 ? json === '' : canonicalLabelJson(s.labels).json === json, line, 'label JSON');
      labelSet = s;
    } else if ((m = /^label\[(\d+)\] name@(\d+)\+(\d+)=(b'[^']*') flags=0x([0-9a-f]{2}) value@(\d+)\+(\d+)=/.exec(line))) {
      const s = labelSet!;
      const name = readPyLiteral(m[4], 0).bytes.toString();
      const valueText = pyAfter(line, `value@${m[6]}+${m[7]}=`).toString();
      ok(name in s.labels && JSON.stringify(s.labels[name]) === valueText, line, 'label entry');
      ok((s.labelFlags?.[name] ?? s.flags) === parseInt(m[5], 16), line, 'label flags');
    } else if ((m = /^timestamp sec=(-?\d+) usec=(-?\d+) /.exec(line))) {
      ok(pdu.sec === Number(m[1]) && pdu.usec === Number(m[2]), line, 'result timestamp');
    } else if ((m = /^timestamp sec=(-?\d+) nsec=(-?\d+)$/.exec(line))) {
      ok(pdu.sec === BigInt(m[1]) && pdu.nsec === BigInt(m[2]), line, 'highres timestamp');
    } else if ((m = /^numpmid=(\d+)$/.exec(line))) {
      ok(sets.length === Number(m[1]), line, 'numpmid');
    } else if ((m = /^vset\[(\d+)\] pmid=(\S+) numval=(-?\d+)(?: \S+)? \(no valfmt word\)$/.exec(line))) {
      setIdx = Number(m[1]);
      const s = sets[setIdx];
      ok(pmidStr(s.pmid) === m[2] && s.numval === Number(m[3]) && s.valfmt === undefined && s.values.length === 0, line, 'empty/error value set');
    } else if ((m = /^vset\[(\d+)\] pmid=(\S+) numval=(\d+) valfmt=(\d)$/.exec(line))) {
      setIdx = Number(m[1]);
      valIdx = 0;
      const s = sets[setIdx];
      ok(pmidStr(s.pmid) === m[2] && s.numval === Number(m[3]) && s.values.length === s.numval && s.valfmt === Number(m[4]), line, 'value set');
    } else if ((m = /^inst=(\S+) lval=(-?\d+) \(0x[0-9a-f]{8}\)$/.exec(line))) {
      const v = sets[setIdx].values[valIdx++];
      ok(v.inst === instOf(m[1]) && asInt32(v.value as number) === Number(m[2]) && v.vtype === undefined, line, 'insitu value');
    } else if ((m = /^inst=(\S+) pval=word (\d+) \(byte \d+\)$/.exec(line))) {
      const v = sets[setIdx].values[valIdx++];
      ok(v.inst === instOf(m[1]), line, 'block value inst');
      byWord.set(Number(m[2]), v);
    } else if ((m = /^@(\d+) vtype=(\d+)\(\w+\) vlen=(\d+) (.*)$/.exec(line))) {
      const v = byWord.get(Number(m[1]))!;
      ok(v !== undefined && v.vtype === Number(m[2]), line, 'block vtype');
      checkBlock(v, Number(m[3]), m[4], line, ok);
      ea = v.vtype === 9 || v.vtype === 10 ? (v.value as EventArray) : null;
      rec = -1;
    } else if ((m = /^@\d+\s+ea_nrecords=(\d+)$/.exec(line))) {
      ok(ea !== null && ea.records.length === Number(m[1]), line, 'nrecords');
    } else if ((m = /^@\d+\s+record\[(\d+)\] ts=(-?\d+)\.(\d+) flags=0x([0-9a-f]+) nparams=(\d+)$/.exec(line))) {
      rec = Number(m[1]);
      const r = ea!.records[rec];
      ok(String(r.sec) === m[2] && Number(r.frac) === Number(m[3]) && r.flags === parseInt(m[4], 16), line, 'event record');
      ok((r.flags & 0x80000000 ? r.missed : r.params.length) === Number(m[5]), line, 'event nparams/missed');
    } else if ((m = /^@\d+\s+param\[(\d+)\] pmid=(\S+) type=(\w+) len=(\d+) value=(.*)$/.exec(line))) {
      const p = ea!.records[rec].params[Number(m[1])];
      ok(pmidStr(p.pmid) === m[2] && p.type === VTYPE_NAMES[m[3]], line, 'event param');
      checkScalar(p.value, p.type, m[5], Number(m[4]) - 4, line, ok);
    } else {
      throw new Error(`unrecognised listing line: ${line}`);
    }
  }
  return checked;
}

type Ok = (cond: boolean, line: string, what: string) => void;

function checkBlock(v: PmValue, vlen: number, rest: string, line: string, ok: Ok): void {
  if (rest.startsWith('(event array)')) return;
  const valueText = rest.replace(/ pad=[0-9a-f]+$/, '').replace(/^(value|bytes)=/, '');
  if (rest.startsWith('bytes=')) {
    ok(Buffer.isBuffer(v.value) && (v.value as Buffer).toString('hex') === valueText && vlen === 4 + (v.value as Buffer).length, line, 'aggregate block');
    return;
  }
  if (v.vtype === 6) {
    const b = readPyLiteral(valueText, 0).bytes;
    ok(typeof v.value === 'string' && Buffer.concat([Buffer.from(v.value), Buffer.of(0)]).equals(b) && vlen === b.length + 4, line, 'string block');
    return;
  }
  checkScalar(v.value as number | bigint, v.vtype!, valueText, vlen - 4, line, ok);
}

function checkScalar(value: unknown, type: number, text: string, payload: number, line: string, ok: Ok): void {
  switch (type) {
    case 0:
    case 1:
      ok(value === Number(text) && payload === 4, line, '32-bit value');
      break;
    case 2:
    case 3:
      ok(value === BigInt(text) && payload === 8, line, '64-bit value');
      break;
    case 4:
      ok(value === Number(text) && payload === 4, line, 'float value');
      break;
    case 5:
      ok(value === Number(text) && payload === 8, line, 'double value');
      break;
    case 6: {
      const b = readPyLiteral(text, 0).bytes;
      ok(value === b.toString() && payload === b.length, line, 'string parameter (no NUL)');
      break;
    }
    case 7: {
      const b = readPyLiteral(text, 0).bytes;
      ok(Buffer.isBuffer(value) && value.equals(b) && payload === b.length, line, 'aggregate parameter');
      break;
    }
    default:
      throw new Error(`unexpected type ${type} in ${line}`);
  }
}
