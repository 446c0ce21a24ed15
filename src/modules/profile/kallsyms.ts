// Kernel text symbols from /proc/kallsyms, sorted for binary search. Kernel addresses do not
// fit a double, so they stay bigint.
import * as fs from 'node:fs';
import { lastAtOrBelow } from './sorted';

/** A name further than this past the last symbol is not trusted (unmapped or newly loaded). */
const LAST_SYMBOL_SPAN = 0x10000;

/** The hex number in buf[from, to), or -1 if a byte is not a hex digit. */
function hexAt(buf: Uint8Array, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = buf[i];
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

const NL = 10;
const SPACE = 32;
const TAB = 9;

export class KallsymsError extends Error {
  override name = 'KallsymsError';
}

/** Offsets from the lowest symbol's high word fit a double exactly below 2^53; kernel text
 *  spans far less than that. */
const TWO32 = 0x100000000;
const MAX_HI_SPAN = 0x200000;

// Memory: ~120 000 symbols as JS strings and number arrays cost tens of MB of V8 heap (and
// the heap stays that large once grown); as typed arrays plus one buffer of name bytes they
// cost ~4 MB, and a name becomes a string only when a lookup asks for it.
export class Kallsyms {
  private constructor(
    /** Address − baseHi·2^32 of each symbol, ascending. */
    private readonly offsets: Float64Array,
    /** Symbol i's name is names[nameStarts[i], nameStarts[i + 1]) (latin1). */
    private readonly nameStarts: Uint32Array,
    private readonly names: Buffer,
    private readonly baseHi: number,
    /** When it was read (ms since epoch), so the caller can decide to reread. */
    readonly loadedAt: number,
  ) {}

  get size(): number {
    return this.offsets.length;
  }

  static load(file = '/proc/kallsyms'): Kallsyms {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(file);
    } catch (e) {
      throw new KallsymsError(`${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return Kallsyms.parse(buf, file);
  }

  /** Text symbols (types t, T, w, W) of a kallsyms listing. */
  static parse(input: string | Buffer, file = 'kallsyms'): Kallsyms {
    const text = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
    let lines = 1;
    for (let i = text.indexOf(NL); i >= 0; i = text.indexOf(NL, i + 1)) lines++;
    // Addresses are split in 32-bit halves so that no line costs a BigInt.
    const his = new Float64Array(lines);
    const los = new Float64Array(lines);
    const nameFrom = new Uint32Array(lines);
    const nameTo = new Uint32Array(lines);
    const globals = new Uint8Array(lines);
    let n = 0;
    let pos = 0;
    while (pos < text.length) {
      let nl = text.indexOf(NL, pos);
      if (nl < 0) nl = text.length;
      const s1 = text.indexOf(SPACE, pos);
      const lineStart = pos;
      pos = nl + 1;
      if (s1 < 0 || s1 >= nl || s1 === lineStart || s1 - lineStart > 16 || text[s1 + 2] !== SPACE) continue;
      const type = text[s1 + 1];
      // t T w W
      if (type !== 116 && type !== 84 && type !== 119 && type !== 87) continue;
      const split = Math.max(lineStart, s1 - 8);
      const hi = hexAt(text, lineStart, split);
      const lo = hexAt(text, split, s1);
      if (hi < 0 || lo < 0) continue;
      // "\t[module]" follows the name of module symbols. Searched within the line only: a
      // search of the whole buffer would scan to the module symbols at its end every time.
      let end = s1 + 3;
      while (end < nl && text[end] !== TAB) end++;
      his[n] = hi;
      los[n] = lo;
      nameFrom[n] = s1 + 3;
      nameTo[n] = end;
      globals[n] = type === 84 || type === 87 ? 1 : 0;
      n++;
    }
    if (n === 0) throw new KallsymsError(`${file}: no text symbols`);
    let baseHi = Infinity;
    let nonZero = false;
    for (let i = 0; i < n; i++) {
      if (his[i] < baseHi) baseHi = his[i];
      if (his[i] !== 0 || los[i] !== 0) nonZero = true;
    }
    if (!nonZero) {
      throw new KallsymsError(`${file}: every address reads 0 (kernel.kptr_restrict hides them from this user)`);
    }
    const off = new Float64Array(n);
    let valid = 0;
    for (let i = 0; i < n; i++) {
      off[i] = his[i] - baseHi < MAX_HI_SPAN ? (his[i] - baseHi) * TWO32 + los[i] : NaN;
      if (!Number.isNaN(off[i])) valid++;
    }
    // The listing is mostly sorted already; sort an index only where it is not.
    let idx = new Uint32Array(valid);
    for (let i = 0, k = 0; i < n; i++) if (!Number.isNaN(off[i])) idx[k++] = i;
    let sorted = true;
    for (let k = 1; k < idx.length && sorted; k++) if (off[idx[k]] < off[idx[k - 1]]) sorted = false;
    if (!sorted) idx = idx.sort((a, b) => off[a] - off[b] || a - b);
    // Aliases share an address: keep a global name over a local one, then the first listed.
    const keep = new Uint32Array(valid);
    let m = 0;
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k];
      if (m > 0 && off[keep[m - 1]] === off[i]) {
        if (globals[i] && !globals[keep[m - 1]]) keep[m - 1] = i;
        continue;
      }
      keep[m++] = i;
    }
    const outOff = new Float64Array(m);
    const starts = new Uint32Array(m + 1);
    let bytes = 0;
    for (let k = 0; k < m; k++) bytes += nameTo[keep[k]] - nameFrom[keep[k]];
    const names = Buffer.allocUnsafe(bytes);
    let at = 0;
    for (let k = 0; k < m; k++) {
      const i = keep[k];
      outOff[k] = off[i];
      starts[k] = at;
      at += text.copy(names, at, nameFrom[i], nameTo[i]);
    }
    starts[m] = at;
    return new Kallsyms(outOff, starts, names, baseHi, Date.now());
  }

  /** The symbol at or below addr, or undefined when addr is below the first symbol or far past the last. */
  lookup(addr: bigint): string | undefined {
    return this.lookupOffset(addr)?.name;
  }

  /** The symbol at or below addr and addr's offset into it ("func+0x1a" in kernel stack dumps). */
  lookupOffset(addr: bigint): { name: string; offset: number } | undefined {
    const hi = Number(addr >> 32n) - this.baseHi;
    if (hi < 0 || hi >= MAX_HI_SPAN) return undefined;
    const x = hi * TWO32 + Number(addr & 0xffffffffn);
    const a = this.offsets;
    const found = lastAtOrBelow(a, x);
    if (found < 0) return undefined;
    if (found === a.length - 1 && x - a[found] > LAST_SYMBOL_SPAN) return undefined;
    return { name: this.names.toString('latin1', this.nameStarts[found], this.nameStarts[found + 1]), offset: x - a[found] };
  }
}
