// INSITU values are decoded as the raw unsigned 32-bit word because the PDU does not say
// whether the metric is PM_TYPE_32 or PM_TYPE_U32; whoever knows the type reinterprets.

/** PM_TYPE_32 view of an INSITU value word (0xfffffff9 -> -7). */
export const asInt32 = (word: number): number => word | 0;

/** PM_TYPE_U32 view (accepts a value already read as signed). */
export const asUint32 = (word: number): number => word >>> 0;

/** Swap the byte order of a 32-bit word: libpcp_pmda writes PDU_TEXT's ident in host (little-endian) order. */
export const swap32 = (w: number): number =>
  (((w & 0xff) << 24) | ((w & 0xff00) << 8) | ((w >>> 8) & 0xff00) | (w >>> 24)) >>> 0;
