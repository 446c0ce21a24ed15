// Public face of the PCP wire codec: framing, decode, encode, constants and shapes.
export * from './types';
export { PduError, pduName } from './errors';
export { PduFramer, HEADER_LEN, DEFAULT_MAX_PDU, type FramerOptions } from './framing';
export { PduReader } from './reader';
export { PduWriter, PAD_BYTE, pad4 } from './writer';
export { decodePdu } from './decode';
export { decodeClientPdu } from './decode-client';
export { unitsFromWord, unitsToWord } from './units';
export { asInt32, asUint32, swap32 } from './values';
export {
  encodeAttr,
  encodeControlReq,
  encodeCreds,
  encodeDesc,
  encodeDescReq,
  encodeError,
  encodeFetch,
  encodeInstance,
  encodeInstanceReq,
  encodeLabel,
  encodeLabelReq,
  encodePdu,
  encodePmnsChild,
  encodePmnsIds,
  encodePmnsNames,
  encodePmnsTraverse,
  encodeProfile,
  encodeResult,
  encodeResultSets,
  encodeStore,
  encodeText,
  encodeTextReq,
  canonicalLabelJson,
  type ResultOptions,
  type StoreOptions,
  type TextOptions,
} from './encode';
