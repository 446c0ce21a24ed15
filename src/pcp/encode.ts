// One small encoder per PDU (replies a PMDA sends, and the requests a test client sends), plus
// encodePdu for any decoded PDU. `from` defaults to 0, which is what a PMDA writes in replies.
import { PduError } from './errors';
import { encodeLabel } from './encode-label';
import { encodeResultSets } from './encode-result';
import { unitsToWord } from './units';
import { PduWriter } from './writer';
import { CVERSION, PDU, PDU_VERSION, PM_IN_NULL, type Pdu, type Units } from './types';

export { encodeResult, encodeStore, encodeResultSets } from './encode-result';
export type { ResultOptions, StoreOptions } from './encode-result';
export { encodeLabel, canonicalLabelJson } from './encode-label';

type Cred = { ctype: number; version: number; flags: number };

/**
 * CREDS: what the PMDA writes first (pmcd waits 3 s for it). `from` is the sender's pid.
 * Pass `flags` (PDU_FLAG.AUTH / CONTAINER) for the usual single version credential, or `creds`.
 */
export function encodeCreds(opts: { from?: number; flags?: number; version?: number; creds?: readonly Cred[] } = {}): Buffer {
  const creds = opts.creds ?? [{ ctype: CVERSION, version: opts.version ?? PDU_VERSION, flags: opts.flags ?? 0 }];
  if (creds.length < 1 || creds.length > 1024) throw new PduError('PDU_CREDS', 'numcreds', `bad count ${creds.length} (1..1024)`);
  const w = new PduWriter('PDU_CREDS', 16 + 4 * creds.length);
  w.header(PDU.CREDS, opts.from ?? process.pid);
  w.i32(creds.length, 'numcreds');
  creds.forEach((c, k) => {
    w.u8(c.ctype, `cred[${k}].c_type`);
    w.u8(c.version, `cred[${k}].version`);
    w.u16(c.flags, `cred[${k}].flags`);
  });
  return w.finish();
}

/**
 * ERROR: a failed request (negative code), a store status (0 = success), or PMDAREADY/NOTREADY.
 * Called as encodeError({ code, from }) or encodeError(code, from).
 */
export function encodeError(p: { code: number; from?: number }): Buffer;
export function encodeError(code: number, from?: number): Buffer;
export function encodeError(a: number | { code: number; from?: number }, b?: number): Buffer {
  const [code, from] = typeof a === 'number' ? [a, b ?? 0] : [a.code, a.from ?? 0];
  const w = new PduWriter('PDU_ERROR', 16);
  w.header(PDU.ERROR, from);
  w.i32(code, 'code');
  return w.finish();
}

export function encodeDesc(d: { from?: number; pmid: number; vtype: number; indom: number; sem: number; units: Units }): Buffer {
  const w = new PduWriter('PDU_DESC', 32);
  w.header(PDU.DESC, d.from ?? 0);
  w.u32(d.pmid, 'pmid');
  w.i32(d.vtype, 'type');
  w.u32(d.indom, 'indom');
  w.i32(d.sem, 'sem');
  w.u32(unitsToWord(d.units), 'units');
  return w.finish();
}

/**
 * INSTANCE reply. Mirror libpcp_pmda: "all" -> every {inst, name}; by number -> one entry
 * {inst: PM_IN_NULL, name}; by name -> one entry {inst: id, name: null} (namelen 0).
 */
export function encodeInstance(p: { from?: number; indom: number; instances: readonly { inst: number; name: string | null }[] }): Buffer {
  const w = new PduWriter('PDU_INSTANCE', 20 + 16 * p.instances.length);
  w.header(PDU.INSTANCE, p.from ?? 0);
  w.u32(p.indom, 'indom');
  w.i32(p.instances.length, 'numinst');
  p.instances.forEach((e, k) => {
    w.u32(e.inst, `instance[${k}].inst`);
    w.paddedString(e.name ?? '', `instance[${k}].name`);
  });
  return w.finish();
}

export interface TextOptions {
  /**
   * Byte order of the ident word, which pmcd and clients ignore. libpcp_pmda writes it in host
   * order (little-endian on x86); 'le' reproduces its bytes exactly. Default 'be'.
   */
  identByteOrder?: 'be' | 'le';
}

/** TEXT reply: help texts conventionally end with "\n", one-line texts do not; "" is valid. */
export function encodeText(p: { from?: number; ident: number; text: string }, opts: TextOptions = {}): Buffer {
  const w = new PduWriter('PDU_TEXT', 24 + p.text.length * 3);
  w.header(PDU.TEXT, p.from ?? 0);
  if (opts.identByteOrder === 'le') w.u32le(p.ident, 'ident');
  else w.u32(p.ident, 'ident');
  w.paddedString(p.text, 'text');
  return w.finish();
}

/**
 * PMNS_NAMES: reply to PMNS_IDS / CHILD / TRAVERSE, or a name-lookup request. `status` (0 leaf,
 * 1 non-leaf), when given, must have one entry per name (CHILD subtype 1).
 */
export function encodePmnsNames(p: { from?: number; names: readonly string[]; status?: readonly number[] }): Buffer {
  const { names, status } = p;
  if (status && status.length !== names.length) {
    throw new PduError('PDU_PMNS_NAMES', 'numstatus', `${status.length} status words for ${names.length} names`);
  }
  let strbytes = 0;
  for (const n of names) strbytes += Buffer.byteLength(n, 'utf8') + 1;
  const w = new PduWriter('PDU_PMNS_NAMES', 24 + 12 * names.length + strbytes);
  w.header(PDU.PMNS_NAMES, p.from ?? 0);
  w.i32(strbytes, 'nstrbytes');
  w.i32(status ? names.length : 0, 'numstatus');
  w.i32(names.length, 'numnames');
  names.forEach((n, k) => {
    if (status) w.i32(status[k], `name[${k}].status`);
    w.paddedString(n, `name[${k}]`);
  });
  return w.finish();
}

/** PMNS_IDS: reply to a name lookup (sts 0), or a PMID -> name request. */
export function encodePmnsIds(p: { from?: number; sts?: number; pmids: readonly number[] }): Buffer {
  const w = new PduWriter('PDU_PMNS_IDS', 20 + 4 * p.pmids.length);
  w.header(PDU.PMNS_IDS, p.from ?? 0);
  w.i32(p.sts ?? 0, 'sts');
  w.i32(p.pmids.length, 'numids');
  p.pmids.forEach((id, k) => w.u32(id, `pmid[${k}]`));
  return w.finish();
}

// ---- requests (pmcd -> PMDA), for test clients ----

export function encodeProfile(p: {
  from?: number;
  ctxid?: number;
  globalState?: number;
  profiles?: readonly { indom: number; state: number; instances: readonly number[] }[];
}): Buffer {
  const profiles = p.profiles ?? [];
  const w = new PduWriter('PDU_PROFILE', 28 + 16 * profiles.length);
  w.header(PDU.PROFILE, p.from ?? 0);
  w.i32(p.ctxid ?? 0, 'ctxid');
  w.i32(p.globalState ?? 0, 'g_state');
  w.i32(profiles.length, 'numprof');
  w.i32(0, 'pad');
  profiles.forEach((e, k) => {
    w.u32(e.indom, `profile[${k}].indom`);
    w.i32(e.state, `profile[${k}].state`);
    w.i32(e.instances.length, `profile[${k}].numinst`);
    w.i32(0, `profile[${k}].pad`);
  });
  profiles.forEach((e, k) => e.instances.forEach((i, n) => w.u32(i, `profile[${k}].instance[${n}]`)));
  return w.finish();
}

export function encodeFetch(p: { from?: number; ctxid?: number; pmids: readonly number[] }): Buffer {
  const w = new PduWriter('PDU_FETCH', 28 + 4 * p.pmids.length);
  w.header(PDU.FETCH, p.from ?? 0);
  w.i32(p.ctxid ?? 0, 'ctxid');
  w.i32(0, 'unused');
  w.i32(0, 'unused');
  w.i32(p.pmids.length, 'numpmid');
  p.pmids.forEach((id, k) => w.u32(id, `pmid[${k}]`));
  return w.finish();
}

export function encodeDescReq(p: { from?: number; pmid: number }): Buffer {
  const w = new PduWriter('PDU_DESC_REQ', 16);
  w.header(PDU.DESC_REQ, p.from ?? 0);
  w.u32(p.pmid, 'pmid');
  return w.finish();
}

/** inst PM_IN_NULL + no name: whole indom; inst N: name of N; name given: id of that name. */
export function encodeInstanceReq(p: { from?: number; indom: number; inst?: number; name?: string | null }): Buffer {
  const w = new PduWriter('PDU_INSTANCE_REQ', 32 + (p.name ? p.name.length * 3 + 4 : 0));
  w.header(PDU.INSTANCE_REQ, p.from ?? 0);
  w.u32(p.indom, 'indom');
  w.i32(0, 'unused');
  w.i32(0, 'unused');
  w.u32(p.inst ?? PM_IN_NULL, 'inst');
  w.paddedString(p.name ?? '', 'name');
  return w.finish();
}

export function encodeTextReq(p: { from?: number; ident: number; textType: number }): Buffer {
  const w = new PduWriter('PDU_TEXT_REQ', 20);
  w.header(PDU.TEXT_REQ, p.from ?? 0);
  w.u32(p.ident, 'ident');
  w.i32(p.textType, 'type');
  return w.finish();
}

function encodeNameReq(type: number, pdu: string, p: { from?: number; subtype?: number; name: string }): Buffer {
  const w = new PduWriter(pdu, 24 + p.name.length * 3);
  w.header(type, p.from ?? 0);
  w.i32(p.subtype ?? 0, 'subtype');
  w.paddedString(p.name, 'name');
  return w.finish();
}

/** subtype 0: child names; 1: names plus leaf/non-leaf status. */
export const encodePmnsChild = (p: { from?: number; subtype?: number; name: string }): Buffer =>
  encodeNameReq(PDU.PMNS_CHILD, 'PDU_PMNS_CHILD', p);

export const encodePmnsTraverse = (p: { from?: number; subtype?: number; name: string }): Buffer =>
  encodeNameReq(PDU.PMNS_TRAVERSE, 'PDU_PMNS_TRAVERSE', p);

export function encodeLabelReq(p: { from?: number; ident: number; labelType: number }): Buffer {
  const w = new PduWriter('PDU_LABEL_REQ', 20);
  w.header(PDU.LABEL_REQ, p.from ?? 0);
  w.u32(p.ident, 'ident');
  w.i32(p.labelType, 'type');
  return w.finish();
}

/** ATTR: `value` is sent as given; a string gets its terminating NUL added, as pmcd sends it. */
export function encodeAttr(p: { from?: number; attr: number; value: Buffer | string }): Buffer {
  const value = typeof p.value === 'string' ? Buffer.from(`${p.value}\0`, 'utf8') : p.value;
  const w = new PduWriter('PDU_ATTR', 16 + value.length);
  w.header(PDU.ATTR, p.from ?? 0);
  w.i32(p.attr, 'attr');
  w.bytes(value);
  return w.finish();
}

export function encodeControlReq(p: { from?: number; raw: Buffer }): Buffer {
  const w = new PduWriter('PDU_CONTROL_REQ', 12 + p.raw.length);
  w.header(PDU.CONTROL_REQ, p.from ?? 0);
  w.bytes(p.raw);
  return w.finish();
}

/** Any pipe PDU from its decoded form; decodePdu(encodePdu(x)) gives x back. */
export function encodePdu(pdu: Pdu): Buffer {
  switch (pdu.type) {
    case PDU.ERROR:
      return encodeError(pdu);
    case PDU.CREDS:
      return encodeCreds({ from: pdu.from, creds: pdu.creds });
    case PDU.ATTR:
      return encodeAttr(pdu);
    case PDU.PROFILE:
      return encodeProfile(pdu);
    case PDU.FETCH:
      return encodeFetch(pdu);
    case PDU.RESULT:
      return encodeResultSets(pdu);
    case PDU.DESC_REQ:
      return encodeDescReq(pdu);
    case PDU.DESC:
      return encodeDesc(pdu);
    case PDU.INSTANCE_REQ:
      return encodeInstanceReq(pdu);
    case PDU.INSTANCE:
      return encodeInstance(pdu);
    case PDU.TEXT_REQ:
      return encodeTextReq(pdu);
    case PDU.TEXT:
      return encodeText(pdu);
    case PDU.PMNS_IDS:
      return encodePmnsIds(pdu);
    case PDU.PMNS_NAMES:
      return encodePmnsNames(pdu);
    case PDU.PMNS_CHILD:
      return encodePmnsChild(pdu);
    case PDU.PMNS_TRAVERSE:
      return encodePmnsTraverse(pdu);
    case PDU.LABEL_REQ:
      return encodeLabelReq(pdu);
    case PDU.LABEL:
      return encodeLabel(pdu);
    case PDU.CONTROL_REQ:
      return encodeControlReq(pdu);
    default:
      throw new PduError('PDU', 'type', `cannot encode PDU type ${(pdu as { type: number }).type}`);
  }
}
