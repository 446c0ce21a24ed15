// A fetch reply is bounded: one FETCH (64 KiB from a client) naming a string metric thousands
// of times would otherwise make a reply of hundreds of MB, take seconds to build (pmcd drops
// an agent after 5 s) and grow the heap. Sets are sized before encoding; those past the cap
// are answered PM_ERR_TOOBIG and the client can ask for them in a smaller fetch.
import { encodeResult, PM_ERR, PM_TYPE, type ResultSet } from '../pcp';

/** PDU header, timestamp and numpmid in front of the sets. */
const RESULT_HEAD = 24;

/** Encoded bytes of one set (its vset, value list and value blocks), a close upper bound. */
export function setBytes(s: ResultSet): number {
  if (!('values' in s) || s.values.length === 0) return 8;
  let n = 12;
  for (const v of s.values) {
    const x = v.value;
    if (typeof x === 'string') n += 8 + 4 + ((Buffer.byteLength(x) + 1 + 3) & ~3);
    else if (Buffer.isBuffer(x)) n += 8 + 4 + ((x.length + 3) & ~3);
    else if (typeof x === 'number' || typeof x === 'bigint') n += s.type === PM_TYPE.U32 || s.type === PM_TYPE.I32 ? 8 : 8 + 12;
    // Event records and anything else: ask the encoder itself.
    else return encodeResult([s], { onInvalid: () => PM_ERR.VALUE }).length - RESULT_HEAD;
  }
  return n;
}

/**
 * The sets to send for `pmids` (in request order, duplicates sharing one computed set) with
 * those that would take the reply past `maxBytes` replaced by PM_ERR_TOOBIG.
 */
export function budgetSets(pmids: readonly number[], computed: ReadonlyMap<number, ResultSet>, maxBytes: number): { sets: ResultSet[]; tooBig: number; bytes: number } {
  const sizes = new Map<number, number>();
  // Every set takes at least its 8-byte error form; room for values is what is left.
  let bytes = RESULT_HEAD + 8 * pmids.length;
  let tooBig = 0;
  const sets = pmids.map((id): ResultSet => {
    const s = computed.get(id)!;
    let size = sizes.get(id);
    if (size === undefined) sizes.set(id, (size = setBytes(s)));
    if (bytes + size - 8 > maxBytes) {
      tooBig++;
      return { pmid: id, error: PM_ERR.TOOBIG };
    }
    bytes += size - 8;
    return s;
  });
  return { sets, tooBig, bytes };
}
