// pmUnits <-> its 32-bit wire word (§6.4): three signed dimension nibbles, three scale nibbles
// (scaleCount signed), low byte padding.
import { PduError } from './errors';
import type { Units } from './types';

const s4 = (x: number): number => (x & 8 ? x - 16 : x);

export function unitsFromWord(w: number): Units {
  return {
    dimSpace: s4((w >>> 28) & 15),
    dimTime: s4((w >>> 24) & 15),
    dimCount: s4((w >>> 20) & 15),
    scaleSpace: (w >>> 16) & 15,
    scaleTime: (w >>> 12) & 15,
    scaleCount: s4((w >>> 8) & 15),
  };
}

function nibble(v: number, signed: boolean, field: string): number {
  const lo = signed ? -8 : 0;
  const hi = signed ? 7 : 15;
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new PduError('PDU_DESC', `units.${field}`, `${v} is outside ${lo}..${hi}`);
  }
  return v & 15;
}

export function unitsToWord(u: Units): number {
  return (
    ((nibble(u.dimSpace, true, 'dimSpace') << 28) |
      (nibble(u.dimTime, true, 'dimTime') << 24) |
      (nibble(u.dimCount, true, 'dimCount') << 20) |
      (nibble(u.scaleSpace, false, 'scaleSpace') << 16) |
      (nibble(u.scaleTime, false, 'scaleTime') << 12) |
      (nibble(u.scaleCount, true, 'scaleCount') << 8)) >>>
    0
  );
}
