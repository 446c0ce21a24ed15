// decodePdu: one complete PDU (as cut by PduFramer) -> typed object, for every PDU that crosses
// a PMDA pipe in either direction. Strict: every byte must be accounted for, every count must
// fit, and anything else throws a PduError naming the PDU and the field.
import { PduError, pduName } from './errors';
import { PduReader } from './reader';
import { readResultBody } from './decode-result';
import { readLabelSets } from './decode-label';
import { unitsFromWord } from './units';
import { CLIENT_PDU, PDU, PM_PROFILE, type Header, type Pdu } from './types';

/** PDUs whose length never varies (§5). */
const FIXED_LEN: Record<number, number> = {
  [PDU.ERROR]: 16,
  [PDU.DESC_REQ]: 16,
  [PDU.DESC]: 32,
  [PDU.TEXT_REQ]: 20,
  [PDU.LABEL_REQ]: 20,
};

/** Checks the 12-byte header against the buffer; the reader is positioned after it. */
export function readHeader(buf: Buffer): { hdr: Header; r: PduReader } {
  if (buf.length < 12) {
    throw new PduError('PDU', 'header', `${buf.length} bytes is shorter than the 12-byte PDU header`);
  }
  const len = buf.readInt32BE(0);
  const type = buf.readUInt32BE(4);
  const from = buf.readInt32BE(8);
  const name = pduName(type);
  if (len !== buf.length) {
    throw new PduError(name, 'len', `header says ${len} bytes but the buffer holds ${buf.length}`);
  }
  return { hdr: { len, type, from }, r: new PduReader(buf, name, 12, len) };
}

export function decodePdu(buf: Buffer): Pdu {
  const { hdr, r } = readHeader(buf);
  const { type, from, len } = hdr;
  const fixed = FIXED_LEN[type];
  if (fixed !== undefined && len !== fixed) r.fail('len', `must be ${fixed} bytes, got ${len}`);
  let pdu: Pdu;
  switch (type) {
    case PDU.ERROR:
      pdu = { type, from, code: r.i32('code') };
      break;
    case PDU.CREDS:
      pdu = { type, from, creds: readCreds(r) };
      break;
    case PDU.ATTR:
      pdu = { type, from, attr: r.i32('attr'), value: r.bytes(r.remaining(), 'value') };
      break;
    case PDU.PROFILE:
      pdu = readProfile(r, from);
      break;
    case PDU.FETCH:
      pdu = { type, from, ...readFetchBody(r) };
      break;
    case PDU.RESULT: {
      const sec = r.i32('sec');
      const usec = r.i32('usec');
      const numpmid = r.count('numpmid', 8);
      pdu = { type, from, sec, usec, sets: readResultBody(r, numpmid) };
      r.off = r.end;
      break;
    }
    case PDU.DESC_REQ:
      pdu = { type, from, pmid: r.u32('pmid') };
      break;
    case PDU.DESC:
      pdu = { type, from, ...readDesc(r, '') };
      break;
    case PDU.INSTANCE_REQ: {
      const indom = r.u32('indom');
      r.skip(8, 'unused');
      const inst = r.u32('inst');
      const name = r.paddedString('name');
      pdu = { type, from, indom, inst, name: name.length ? name : null };
      break;
    }
    case PDU.INSTANCE: {
      const indom = r.u32('indom');
      const numinst = r.count('numinst', 8);
      const instances: { inst: number; name: string | null }[] = new Array(numinst);
      for (let k = 0; k < numinst; k++) {
        const inst = r.u32(`instance[${k}].inst`);
        const name = r.paddedString(`instance[${k}].name`);
        instances[k] = { inst, name: name.length ? name : null };
      }
      pdu = { type, from, indom, instances };
      break;
    }
    case PDU.TEXT_REQ:
      pdu = { type, from, ident: r.u32('ident'), textType: r.i32('type') };
      break;
    case PDU.TEXT:
      // ident is returned as read big-endian; libpcp_pmda writes it little-endian (swap32 it).
      pdu = { type, from, ident: r.u32('ident'), text: r.paddedString('text') };
      break;
    case PDU.PMNS_IDS: {
      const sts = r.i32('sts');
      pdu = { type, from, sts, pmids: readIds(r, 'numids') };
      break;
    }
    case PDU.PMNS_NAMES:
      pdu = { type, from, ...readNames(r) };
      break;
    case PDU.PMNS_CHILD:
    case PDU.PMNS_TRAVERSE: {
      const subtype = r.i32('subtype');
      if (subtype !== 0 && subtype !== 1) r.fail('subtype', `unknown subtype ${subtype} (0 or 1)`);
      pdu = { type, from, subtype, name: r.paddedString('name') };
      break;
    }
    case PDU.LABEL_REQ:
      pdu = { type, from, ident: r.u32('ident'), labelType: r.i32('type') };
      break;
    case PDU.LABEL: {
      const ident = r.u32('ident');
      const labelType = r.i32('type');
      r.skip(4, 'padding');
      pdu = { type, from, ident, labelType, sets: readLabelSets(r) };
      break;
    }
    case PDU.CONTROL_REQ:
      pdu = { type, from, raw: r.bytes(r.remaining(), 'body') };
      break;
    case CLIENT_PDU.HIGHRES_FETCH:
    case CLIENT_PDU.HIGHRES_RESULT:
    case CLIENT_PDU.DESC_IDS:
    case CLIENT_PDU.DESCS:
      return r.fail(undefined, `0x${type.toString(16)} is a client<->pmcd PDU that pmcd never sends on a PMDA pipe`);
    default:
      return r.fail('type', `unknown PDU type 0x${type.toString(16)}`);
  }
  r.done();
  return pdu;
}

function readCreds(r: PduReader): { ctype: number; version: number; flags: number }[] {
  const n = r.i32('numcreds');
  if (n < 1 || n > 1024) r.fail('numcreds', `bad count ${n} (1..1024)`);
  if (r.remaining() !== n * 4) r.fail('numcreds', `${n} credentials need ${n * 4} bytes but ${r.remaining()} follow`);
  const creds = new Array(n);
  for (let k = 0; k < n; k++) {
    creds[k] = { ctype: r.u8(`cred[${k}].c_type`), version: r.u8(`cred[${k}].version`), flags: r.u16(`cred[${k}].flags`) };
  }
  return creds;
}

function readState(r: PduReader, field: string): number {
  const s = r.i32(field);
  if (s !== PM_PROFILE.INCLUDE && s !== PM_PROFILE.EXCLUDE) r.fail(field, `unknown profile state ${s} (0 include, 1 exclude)`);
  return s;
}

function readProfile(r: PduReader, from: number): Pdu {
  const ctxid = r.i32('ctxid');
  const globalState = readState(r, 'g_state');
  const numprof = r.count('numprof', 16);
  r.skip(4, 'pad');
  const profiles: { indom: number; state: number; instances: number[] }[] = new Array(numprof);
  const counts: number[] = new Array(numprof);
  let total = 0;
  for (let k = 0; k < numprof; k++) {
    const indom = r.u32(`profile[${k}].indom`);
    const state = readState(r, `profile[${k}].state`);
    const numinst = r.i32(`profile[${k}].numinst`);
    if (numinst < 0) r.fail(`profile[${k}].numinst`, `bad count ${numinst}`);
    r.skip(4, `profile[${k}].pad`);
    profiles[k] = { indom, state, instances: [] };
    counts[k] = numinst;
    total += numinst;
  }
  if (total * 4 !== r.remaining()) {
    r.fail('numinst', `instance counts add up to ${total} (${total * 4} bytes) but ${r.remaining()} bytes follow`);
  }
  for (let k = 0; k < numprof; k++) {
    const list: number[] = new Array(counts[k]);
    for (let i = 0; i < counts[k]; i++) list[i] = r.u32(`profile[${k}].instance[${i}]`);
    profiles[k].instances = list;
  }
  return { type: PDU.PROFILE, from, ctxid, globalState, profiles };
}

/** FETCH and HIGHRES_FETCH: ctxid, 8 unused bytes, numpmid, PMIDs. */
export function readFetchBody(r: PduReader): { ctxid: number; pmids: number[] } {
  const ctxid = r.i32('ctxid');
  r.skip(8, 'unused');
  return { ctxid, pmids: readIds(r, 'numpmid') };
}

export function readIds(r: PduReader, field: string): number[] {
  const n = r.count(field, 4);
  if (r.remaining() !== n * 4) r.fail(field, `${n} PMIDs need ${n * 4} bytes but ${r.remaining()} follow`);
  const ids: number[] = new Array(n);
  const buf = r.buf;
  let off = r.off;
  for (let k = 0; k < n; k++, off += 4) ids[k] = buf.readUInt32BE(off);
  r.off = off;
  return ids;
}

export function readDesc(r: PduReader, f: string): { pmid: number; vtype: number; indom: number; sem: number; units: ReturnType<typeof unitsFromWord> } {
  return {
    pmid: r.u32(`${f}pmid`),
    vtype: r.i32(`${f}type`),
    indom: r.u32(`${f}indom`),
    sem: r.i32(`${f}sem`),
    units: unitsFromWord(r.u32(`${f}units`)),
  };
}

function readNames(r: PduReader): { names: string[]; status?: number[] } {
  const nstrbytes = r.i32('nstrbytes');
  const numstatus = r.i32('numstatus');
  const numnames = r.count('numnames', numstatus ? 8 : 4);
  if (numstatus !== 0 && numstatus !== numnames) {
    r.fail('numstatus', `must be 0 or equal numnames (${numnames}), got ${numstatus}`);
  }
  const names: string[] = new Array(numnames);
  const status: number[] | undefined = numstatus ? new Array(numnames) : undefined;
  let strbytes = 0;
  for (let k = 0; k < numnames; k++) {
    if (status) status[k] = r.i32(`name[${k}].status`);
    const n = r.count(`name[${k}] length`, 1);
    names[k] = r.utf8(n, `name[${k}]`);
    r.pad(n, `name[${k}]`);
    strbytes += n + 1;
  }
  if (numnames > 0 && strbytes !== nstrbytes) {
    r.fail('nstrbytes', `says ${nstrbytes} but the names take ${strbytes} (sum of namelen+1)`);
  }
  return status ? { names, status } : { names };
}
