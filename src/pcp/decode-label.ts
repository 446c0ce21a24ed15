// PDU_LABEL body (§5.13): set headers each followed by their index entries, then the JSON of
// all sets. The index is checked against the JSON it points into, and the JSON is parsed back
// into label objects.
import type { PduReader } from './reader';
import type { LabelSet } from './types';

type LabelValue = LabelSet['labels'][string];

/** libpcp's PM_MAXLABELS / PM_MAXLABELJSONLEN: its decoder rejects nlabels and jsonlen at or above these. */
export const MAX_LABELS = 255;
export const MAX_JSON = 65535;

interface RawSet {
  inst: number;
  nlabels: number;
  json: number;
  jsonlen: number;
  entries: { nameOff: number; nameLen: number; flags: number; valOff: number; valLen: number }[];
}

export function readLabelSets(r: PduReader): LabelSet[] {
  const nsets = r.count('nsets', 16);
  const raw: RawSet[] = new Array(nsets);
  for (let i = 0; i < nsets; i++) {
    const f = `set[${i}]`;
    const inst = r.u32(`${f}.inst`);
    const nlabels = r.i32(`${f}.nlabels`);
    const json = r.i32(`${f}.json`);
    const jsonlen = r.i32(`${f}.jsonlen`);
    if (nlabels >= MAX_LABELS) r.fail(`${f}.nlabels`, `bad count ${nlabels} (at most ${MAX_LABELS - 1} labels per set)`);
    if (jsonlen >= MAX_JSON) r.fail(`${f}.jsonlen`, `JSON length ${jsonlen} is not below the ${MAX_JSON}-byte limit`);
    if (jsonlen < 0) r.fail(`${f}.jsonlen`, `negative JSON length ${jsonlen}`);
    const entries: RawSet['entries'] = [];
    if (nlabels > 0) r.need(nlabels * 8, `${f}.labels (${nlabels} index entries)`);
    for (let k = 0; k < nlabels; k++) {
      const lf = `${f}.label[${k}]`;
      entries.push({
        nameOff: r.u16(`${lf}.name`),
        nameLen: r.u8(`${lf}.namelen`),
        flags: r.u8(`${lf}.flags`),
        valOff: r.u16(`${lf}.value`),
        valLen: r.u16(`${lf}.valuelen`),
      });
    }
    raw[i] = { inst, nlabels, json, jsonlen, entries };
  }
  const indexEnd = r.off;
  let dataEnd = indexEnd;
  for (let i = 0; i < nsets; i++) {
    const s = raw[i];
    if (s.jsonlen === 0) continue;
    if (s.json < indexEnd || s.json + s.jsonlen > r.end) {
      r.fail(`set[${i}].json`, `JSON at bytes ${s.json}..${s.json + s.jsonlen} is outside the JSON area ${indexEnd}..${r.end}`);
    }
    dataEnd = Math.max(dataEnd, s.json + s.jsonlen);
  }
  if (dataEnd !== r.end) {
    r.fail(undefined, `${r.end - dataEnd} unexpected trailing bytes after the label JSON (ends at ${dataEnd}, PDU length ${r.end})`);
  }
  r.off = r.end;
  return raw.map((s, i) => toLabelSet(r, s, `set[${i}]`));
}

function toLabelSet(r: PduReader, s: RawSet, f: string): LabelSet {
  if (s.nlabels < 0) return { inst: s.inst, labels: {}, flags: 0, error: s.nlabels };
  const json = r.buf.subarray(s.json, s.json + s.jsonlen);
  let obj: Record<string, unknown> = {};
  if (s.jsonlen > 0) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json.toString('utf8'));
    } catch (e) {
      return r.fail(`${f}.json`, `not valid JSON (${(e as Error).message}): ${JSON.stringify(json.toString('utf8'))}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      r.fail(`${f}.json`, 'label JSON must be an object');
    }
    obj = parsed as Record<string, unknown>;
  }
  const keys = Object.keys(obj).length;
  if (keys !== s.nlabels) r.fail(`${f}.nlabels`, `${s.nlabels} index entries but the JSON has ${keys} labels`);

  const labels: LabelSet['labels'] = {};
  const flagsOf: Record<string, number> = {};
  let mixed = false;
  s.entries.forEach((e, k) => {
    const lf = `${f}.label[${k}]`;
    if (e.nameOff + e.nameLen > s.jsonlen) r.fail(`${lf}.name`, `name ${e.nameOff}+${e.nameLen} lies outside the set's ${s.jsonlen}-byte JSON`);
    if (e.valOff + e.valLen > s.jsonlen) r.fail(`${lf}.value`, `value ${e.valOff}+${e.valLen} lies outside the set's ${s.jsonlen}-byte JSON`);
    const name = json.toString('utf8', e.nameOff, e.nameOff + e.nameLen);
    if (!Object.prototype.hasOwnProperty.call(obj, name)) r.fail(`${lf}.name`, `index names "${name}", which is not a label in ${json.toString('utf8')}`);
    const valueText = json.toString('utf8', e.valOff, e.valOff + e.valLen);
    let indexed: unknown;
    try {
      indexed = JSON.parse(valueText);
    } catch {
      r.fail(`${lf}.value`, `index points at ${JSON.stringify(valueText)}, not a JSON value`);
    }
    const v = obj[name];
    if (v !== null && typeof v === 'object') r.fail(`${lf}.value`, `compound label value for "${name}" is not supported`);
    if (indexed !== v) r.fail(`${lf}.value`, `index value ${valueText} differs from the JSON's value for "${name}"`);
    labels[name] = v as LabelValue;
    flagsOf[name] = e.flags;
    if (e.flags !== s.entries[0].flags) mixed = true;
  });
  const set: LabelSet = { inst: s.inst, labels, flags: s.entries.length ? s.entries[0].flags : 0 };
  if (mixed) set.labelFlags = flagsOf;
  return set;
}
