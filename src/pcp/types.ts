// Typed shapes of every PDU that crosses a pipe-PMDA connection (pcp-pmda-protocol.md §5).
// The codec (decode.ts / encode.ts) turns Buffers into these objects and back; it does no I/O.

export const PDU = {
  ERROR: 0x7000,
  RESULT: 0x7001,
  PROFILE: 0x7002,
  FETCH: 0x7003,
  DESC_REQ: 0x7004,
  DESC: 0x7005,
  INSTANCE_REQ: 0x7006,
  INSTANCE: 0x7007,
  TEXT_REQ: 0x7008,
  TEXT: 0x7009,
  CONTROL_REQ: 0x700a,
  CREDS: 0x700c,
  PMNS_IDS: 0x700d,
  PMNS_NAMES: 0x700e,
  PMNS_CHILD: 0x700f,
  PMNS_TRAVERSE: 0x7010,
  ATTR: 0x7011,
  LABEL_REQ: 0x7012,
  LABEL: 0x7013,
} as const;

/**
 * Client <-> pmcd PDUs. pmcd never sends them on a PMDA pipe (decodePdu rejects them);
 * decodeClientPdu reads them so the client-side golden vectors can be checked too.
 */
export const CLIENT_PDU = {
  HIGHRES_FETCH: 0x7014,
  HIGHRES_RESULT: 0x7015,
  DESC_IDS: 0x7016,
  DESCS: 0x7017,
} as const;

export const PM_TYPE = {
  NOSUPPORT: -1,
  I32: 0,
  U32: 1,
  I64: 2,
  U64: 3,
  FLOAT: 4,
  DOUBLE: 5,
  STRING: 6,
  AGGREGATE: 7,
  EVENT: 9,
  HIGHRES_EVENT: 10,
} as const;
export type PmType = (typeof PM_TYPE)[keyof typeof PM_TYPE];

export const PM_SEM = { COUNTER: 1, INSTANT: 3, DISCRETE: 4 } as const;
export type PmSem = (typeof PM_SEM)[keyof typeof PM_SEM];

export const PM_ERR = {
  GENERIC: -12345,
  PMNS: -12346,
  NOPMNS: -12347,
  TEXT: -12349,
  APPVERSION: -12350,
  VALUE: -12351,
  TIMEOUT: -12353,
  NODATA: -12354,
  NAME: -12357,
  PMID: -12358,
  INDOM: -12359,
  INST: -12360,
  CONV: -12362,
  IPC: -12366,
  NOAGENT: -12386,
  PERMISSION: -12387,
  AGAIN: -12389,
  NOTCONN: -12391,
  NONLEAF: -12394,
  TYPE: -12397,
  BADSTORE: -12400,
  RESET: -12355,
  UNIT: -12361,
  TRUNC: -12363,
  SIGN: -12364,
  PROFILE: -12365,
  EOF: -12368,
  NOCONTEXT: -12376,
  NOPROFILE: -12381,
  CONNLIMIT: -12388,
  NOCONTAINER: -12399,
  NOLABELS: -12410,
  PMDAFENCED: -12411,
  TOOBIG: -12444,
  PMDAREADY: -13393,
  PMDANOTREADY: -13394,
  NYI: -21344,
} as const;

export const PM_IN_NULL = 0xffffffff;
export const PM_INDOM_NULL = 0xffffffff;
export const PM_ID_NULL = 0xffffffff;

export const PM_VAL = { INSITU: 0, DPTR: 1, SPTR: 2 } as const;
export const PM_TEXT = { ONELINE: 1, HELP: 2, PMID: 4, INDOM: 8, DIRECT: 16 } as const;
export const PM_LABEL = { CONTEXT: 0x01, DOMAIN: 0x02, INDOM: 0x04, CLUSTER: 0x08, ITEM: 0x10, INSTANCES: 0x20 } as const;
export const PM_PROFILE = { INCLUDE: 0, EXCLUDE: 1 } as const;
export const PM_EVENT_FLAG = { POINT: 0x1, START: 0x2, END: 0x4, ID: 0x8, PARENT: 0x10, MISSED: 0x80000000 } as const;
export const PDU_FLAG = { AUTH: 0x4, CONTAINER: 0x40 } as const;
/** CREDS c_type for the version credential (the only one a PMDA sends). */
export const CVERSION = 1;
export const PDU_VERSION = 2;
/** State-change bits a PMDA may set in the low byte of a fetch reply's `sec` word (§5.6). */
export const PMCD_STATE = { LABEL_CHANGE: 0x08, NAMES_CHANGE: 0x10 } as const;
/** Label flag bits beyond the level bits (§6.8). */
export const PM_LABEL_FLAG = { COMPOUND: 0x40, OPTIONAL: 0x80 } as const;
/** PDU_ATTR codes (§6.10). */
export const PCP_ATTR = {
  PROTOCOL: 1, SECURE: 2, COMPRESS: 3, USERAUTH: 4, USERNAME: 5, AUTHNAME: 6, PASSWORD: 7, METHOD: 8,
  REALM: 9, UNIXSOCK: 10, USERID: 11, GROUPID: 12, LOCAL: 13, PROCESSID: 14, CONTAINER: 15, EXCLUSIVE: 16,
} as const;

/** pmUnits: dimensions and scales (§6.4). */
export interface Units {
  dimSpace: number;
  dimTime: number;
  dimCount: number;
  scaleSpace: number;
  scaleTime: number;
  scaleCount: number;
}

export interface Header {
  len: number;
  type: number;
  from: number;
}

/** One event parameter inside an EVENT / HIGHRES_EVENT record. */
export interface EventParam {
  pmid: number;
  type: PmType;
  value: number | bigint | string | Buffer;
}

export interface EventRecord {
  /** seconds since the epoch; for HIGHRES the sub-second part is nsec, else usec. */
  sec: bigint | number;
  /** usec (EVENT) or nsec (HIGHRES_EVENT). */
  frac: bigint | number;
  flags: number;
  /** for MISSED records: the number of missed events; otherwise params.length is written. */
  missed?: number;
  params: EventParam[];
}

export interface EventArray {
  highres: boolean;
  records: EventRecord[];
}

export type Value = number | bigint | string | Buffer | EventArray;

export interface PmValue {
  inst: number;
  /**
   * Decoded payload. INSITU (valfmt 0): the raw value word as an unsigned number (0..2^32-1);
   * the set's `valfmt` says so, and `asInt32()` reinterprets it for PM_TYPE_32.
   * Blocks, by vtype: 32/U32 number, 64/U64 bigint, FLOAT/DOUBLE number, STRING string (NUL
   * stripped), AGGREGATE Buffer, EVENT/HIGHRES_EVENT EventArray; unknown vtypes 8/255 Buffer.
   */
  value: Value;
  /** vtype of a value block (PM_TYPE_*), undefined for INSITU. */
  vtype?: number;
}

export interface ValueSet {
  pmid: number;
  /** > 0 values present, 0 none, < 0 error code. When encoding, derived from values when not an error. */
  numval: number;
  valfmt?: number;
  values: PmValue[];
}

export type Pdu =
  | { type: typeof PDU.ERROR; from: number; code: number }
  | { type: typeof PDU.CREDS; from: number; creds: { ctype: number; version: number; flags: number }[] }
  | { type: typeof PDU.ATTR; from: number; attr: number; value: Buffer }
  | {
      type: typeof PDU.PROFILE;
      from: number;
      ctxid: number;
      globalState: number;
      profiles: { indom: number; state: number; instances: number[] }[];
    }
  | { type: typeof PDU.FETCH; from: number; ctxid: number; pmids: number[] }
  | { type: typeof PDU.RESULT; from: number; sec: number; usec: number; sets: ValueSet[] }
  | { type: typeof PDU.DESC_REQ; from: number; pmid: number }
  | { type: typeof PDU.DESC; from: number; pmid: number; vtype: number; indom: number; sem: number; units: Units }
  | { type: typeof PDU.INSTANCE_REQ; from: number; indom: number; inst: number; name: string | null }
  | { type: typeof PDU.INSTANCE; from: number; indom: number; instances: { inst: number; name: string | null }[] }
  | { type: typeof PDU.TEXT_REQ; from: number; ident: number; textType: number }
  | { type: typeof PDU.TEXT; from: number; ident: number; text: string }
  | { type: typeof PDU.PMNS_IDS; from: number; sts: number; pmids: number[] }
  | { type: typeof PDU.PMNS_NAMES; from: number; names: string[]; status?: number[] }
  | { type: typeof PDU.PMNS_CHILD; from: number; subtype: number; name: string }
  | { type: typeof PDU.PMNS_TRAVERSE; from: number; subtype: number; name: string }
  | { type: typeof PDU.LABEL_REQ; from: number; ident: number; labelType: number }
  | { type: typeof PDU.LABEL; from: number; ident: number; labelType: number; sets: LabelSet[] }
  | { type: typeof PDU.CONTROL_REQ; from: number; raw: Buffer };

export interface LabelSet {
  inst: number;
  /** Flat label object; encoded as canonical JSON (sorted names, no whitespace). */
  labels: Record<string, string | number | boolean | null>;
  /** Level flag bits (PM_LABEL_*) for the index entries; OPTIONAL/COMPOUND may be or'ed in. */
  flags: number;
  /** Per-label flags overriding `flags` (e.g. one OPTIONAL label). Decode fills it only when entries differ. */
  labelFlags?: Record<string, number>;
  /** A negative nlabels: an error code for this set (no labels then). */
  error?: number;
}

/** A label set as handed to encodeLabel (same shape; error/labelFlags optional). */
export type LabelSetIn = LabelSet;

/**
 * One requested PMID in a fetch reply, as the runtime has it: the metric's PM_TYPE (it decides
 * INSITU vs value block and the block's vtype) and the module's values, or a negative PM_ERR_*
 * / -errno for the whole metric. An empty `values` list means numval 0 (no values now).
 */
export type ResultSet =
  | { pmid: number; type: PmType; values: readonly { inst: number; value: Value }[] }
  | { pmid: number; error: number };

/** pmDesc as carried by PDU_DESC / PDU_DESCS. */
export interface Desc {
  pmid: number;
  vtype: number;
  indom: number;
  sem: number;
  units: Units;
}

/** PDUs seen only between a client and pmcd (vectors 0200-0204, captures/client_*.pdus). */
export type ClientPdu =
  | { type: typeof CLIENT_PDU.HIGHRES_FETCH; from: number; ctxid: number; pmids: number[] }
  | { type: typeof CLIENT_PDU.HIGHRES_RESULT; from: number; sec: bigint; nsec: bigint; sets: ValueSet[] }
  | { type: typeof CLIENT_PDU.DESC_IDS; from: number; sts: number; pmids: number[] }
  | { type: typeof CLIENT_PDU.DESCS; from: number; descs: Desc[] }
  /** pmcd's 20-byte connection greeting: an ERROR carrying an extra pmPDUInfo word. */
  | { type: typeof PDU.ERROR; from: number; code: number; datum: number };

export const pmid = (domain: number, cluster: number, item: number): number =>
  ((domain << 22) | (cluster << 10) | item) >>> 0;
export const pmidDomain = (id: number): number => (id >>> 22) & 0x1ff;
export const pmidCluster = (id: number): number => (id >>> 10) & 0xfff;
export const pmidItem = (id: number): number => id & 0x3ff;
export const indom = (domain: number, serial: number): number => ((domain << 22) | serial) >>> 0;
export const indomSerial = (id: number): number => id & 0x3fffff;
export const pmidString = (id: number): string => `${pmidDomain(id)}.${pmidCluster(id)}.${pmidItem(id)}`;
