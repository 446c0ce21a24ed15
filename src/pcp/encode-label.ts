// PDU_LABEL (§5.13). Labels go out as canonical JSON (names sorted, no whitespace) because
// clients merge label sets with a sorted merge; JSON is unpadded and, as in libpcp, each set's
// `json` offset is the running end of the JSON written so far (so empty sets point past it).
import { PduError } from './errors';
import { MAX_JSON, MAX_LABELS } from './decode-label';
import { PduWriter } from './writer';
import { PDU, type LabelSet } from './types';

const NAME = 'PDU_LABEL';
const LABEL_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

export interface LabelIndexEntry {
  name: string;
  nameOff: number;
  nameLen: number;
  valueOff: number;
  valueLen: number;
}

/** Canonical JSON of a flat label object and the byte offsets of every name and value in it. */
export function canonicalLabelJson(labels: LabelSet['labels'], field = 'labels'): { json: string; bytes: number; entries: LabelIndexEntry[] } {
  const names = Object.keys(labels).sort();
  if (names.length >= MAX_LABELS) {
    throw new PduError(NAME, field, `${names.length} labels; at most ${MAX_LABELS - 1} fit in one set`);
  }
  const entries: LabelIndexEntry[] = [];
  let json = '{';
  let at = 1;
  for (const name of names) {
    if (!LABEL_NAME.test(name) || name.length > 255) {
      throw new PduError(NAME, `${field}.${name}`, 'label names must match [A-Za-z][A-Za-z0-9_]* (at most 255 characters)');
    }
    const v = labels[name];
    let text: string;
    if (typeof v === 'string' || typeof v === 'boolean' || v === null) text = JSON.stringify(v);
    else if (typeof v === 'number' && Number.isFinite(v)) text = JSON.stringify(v);
    else throw new PduError(NAME, `${field}.${name}`, `value ${String(v)} is not a string, finite number, boolean or null`);
    if (json.length > 1) {
      json += ',';
      at += 1;
    }
    const valueLen = Buffer.byteLength(text, 'utf8');
    entries.push({ name, nameOff: at + 1, nameLen: name.length, valueOff: at + name.length + 3, valueLen });
    json += `"${name}":${text}`;
    at += name.length + 3 + valueLen;
  }
  json += '}';
  at += 1;
  if (at >= MAX_JSON) throw new PduError(NAME, field, `label JSON of ${at} bytes is not below the ${MAX_JSON}-byte limit`);
  return { json, bytes: at, entries };
}

/**
 * Reply to LABEL_REQ: echo ident and type. Non-INSTANCES requests carry 0 or 1 set; INSTANCES
 * one set per instance. A set with no labels is sent as nlabels 0, jsonlen 0 (never an error).
 */
export function encodeLabel(pdu: { from?: number; ident: number; labelType: number; sets: readonly LabelSet[] }): Buffer {
  const prepared = pdu.sets.map((s, i) => {
    if (s.error !== undefined) {
      if (!Number.isInteger(s.error) || s.error >= 0) throw new PduError(NAME, `set[${i}].error`, `${s.error} is not a negative error code`);
      return { set: s, json: null, entries: [] as LabelIndexEntry[] };
    }
    if (Object.keys(s.labels).length === 0) return { set: s, json: null, entries: [] as LabelIndexEntry[] };
    const c = canonicalLabelJson(s.labels, `set[${i}].labels`);
    return { set: s, json: c, entries: c.entries };
  });
  let indexBytes = 28;
  let jsonBytes = 0;
  for (const p of prepared) {
    indexBytes += 16 + 8 * p.entries.length;
    jsonBytes += p.json ? p.json.bytes : 0;
  }
  const w = new PduWriter(NAME, indexBytes + jsonBytes);
  w.header(PDU.LABEL, pdu.from ?? 0);
  w.u32(pdu.ident, 'ident');
  w.i32(pdu.labelType, 'type');
  w.i32(0, 'padding');
  w.i32(prepared.length, 'nsets');
  let jsonAt = indexBytes;
  prepared.forEach((p, i) => {
    const f = `set[${i}]`;
    w.u32(p.set.inst, `${f}.inst`);
    w.i32(p.set.error ?? p.entries.length, `${f}.nlabels`);
    w.i32(jsonAt, `${f}.json`);
    w.i32(p.json ? p.json.bytes : 0, `${f}.jsonlen`);
    for (const e of p.entries) {
      w.u16(e.nameOff, `${f}.${e.name} name offset`);
      w.u8(e.nameLen, `${f}.${e.name} name length`);
      w.u8(p.set.labelFlags?.[e.name] ?? p.set.flags, `${f}.${e.name} flags`);
      w.u16(e.valueOff, `${f}.${e.name} value offset`);
      w.u16(e.valueLen, `${f}.${e.name} value length`);
    }
    if (p.json) jsonAt += p.json.bytes;
  });
  for (const p of prepared) if (p.json) w.utf8(p.json.json);
  return w.finish();
}
