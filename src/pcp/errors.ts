// One error type for everything the codec rejects, so the runtime can tell a protocol fault
// (log it, answer or exit cleanly) from a bug elsewhere.

const NAMES: Record<number, string> = {
  0x7000: 'PDU_ERROR',
  0x7001: 'PDU_RESULT',
  0x7002: 'PDU_PROFILE',
  0x7003: 'PDU_FETCH',
  0x7004: 'PDU_DESC_REQ',
  0x7005: 'PDU_DESC',
  0x7006: 'PDU_INSTANCE_REQ',
  0x7007: 'PDU_INSTANCE',
  0x7008: 'PDU_TEXT_REQ',
  0x7009: 'PDU_TEXT',
  0x700a: 'PDU_CONTROL_REQ',
  0x700c: 'PDU_CREDS',
  0x700d: 'PDU_PMNS_IDS',
  0x700e: 'PDU_PMNS_NAMES',
  0x700f: 'PDU_PMNS_CHILD',
  0x7010: 'PDU_PMNS_TRAVERSE',
  0x7011: 'PDU_ATTR',
  0x7012: 'PDU_LABEL_REQ',
  0x7013: 'PDU_LABEL',
  0x7014: 'PDU_HIGHRES_FETCH',
  0x7015: 'PDU_HIGHRES_RESULT',
  0x7016: 'PDU_DESC_IDS',
  0x7017: 'PDU_DESCS',
};

/** "PDU_RESULT" for 0x7001, "PDU type 0x1234" for anything unknown. */
export function pduName(type: number): string {
  return NAMES[type] ?? `PDU type 0x${(type >>> 0).toString(16)}`;
}

export class PduError extends Error {
  override name = 'PduError';
  /** PDU name ("PDU_RESULT") when the problem is inside one PDU, else "stream". */
  readonly pdu: string;
  /** The field being read or written, e.g. "vset[2].numval". */
  readonly field: string | undefined;

  constructor(pdu: string, field: string | undefined, problem: string) {
    super(field ? `${pdu}: ${field}: ${problem}` : `${pdu}: ${problem}`);
    this.pdu = pdu;
    this.field = field;
  }
}
