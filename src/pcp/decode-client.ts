// The client <-> pmcd PDUs pmcd never forwards to a PMDA (§5.8, §5.9, §3). Decoding them lets
// the tests check the client-side golden vectors; the runtime never needs this.
import { readHeader, readFetchBody, readIds, readDesc, decodePdu } from './decode';
import { readResultBody } from './decode-result';
import { CLIENT_PDU, PDU, type ClientPdu, type Pdu } from './types';

export function decodeClientPdu(buf: Buffer): ClientPdu | Pdu {
  const { hdr, r } = readHeader(buf);
  const { type, from, len } = hdr;
  let pdu: ClientPdu;
  switch (type) {
    case CLIENT_PDU.HIGHRES_FETCH:
      pdu = { type, from, ...readFetchBody(r) };
      break;
    case CLIENT_PDU.HIGHRES_RESULT: {
      const numpmid = r.count('numpmid', 8);
      const sec = r.i64('sec');
      const nsec = r.i64('nsec');
      pdu = { type, from, sec, nsec, sets: readResultBody(r, numpmid) };
      r.off = r.end;
      break;
    }
    case CLIENT_PDU.DESC_IDS: {
      const sts = r.i32('sts');
      pdu = { type, from, sts, pmids: readIds(r, 'numids') };
      break;
    }
    case CLIENT_PDU.DESCS: {
      const n = r.count('numdescs', 20);
      if (r.remaining() !== n * 20) r.fail('numdescs', `${n} descriptors need ${n * 20} bytes but ${r.remaining()} follow`);
      const descs = [];
      for (let k = 0; k < n; k++) descs.push(readDesc(r, `desc[${k}].`));
      pdu = { type, from, descs };
      break;
    }
    case PDU.ERROR:
      if (len !== 20) return decodePdu(buf);
      pdu = { type, from, code: r.i32('code'), datum: r.u32('datum') };
      break;
    default:
      return decodePdu(buf);
  }
  r.done();
  return pdu;
}
