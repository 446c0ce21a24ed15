// Kernel text symbols from /proc/kallsyms, sorted for binary search. Kernel addresses do not
// fit a double, so they stay bigint.
import * as fs from 'node:fs';

/** A name further than this past the last symbol is not trusted (unmapped or newly loaded). */
const LAST_SYMBOL_SPAN = 0x10000;

/** The hex number in text[from, to), or -1 if a character is not a hex digit. */
function hexAt(text: string, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

export class KallsymsError extends Error {
  override name = 'KallsymsError';
}

/** Offsets from the lowest symbol's high word fit a double exactly below 2^53; kernel text
 *  spans far less than that. */
const TWO32 = 0x100000000;
const MAX_HI_SPAN = 0x200000;

export class Kallsyms {
  private constructor(
    /** Address − baseHi·2^32 of each symbol, ascending. */
    private readonly offsets: Float64Array,
    private readonly names: string[],
    private readonly baseHi: number,
    /** When it was read (ms since epoch), so the caller can decide to reread. */
    readonly loadedAt: number,
  ) {}

  get size(): number {
    return this.offsets.length;
  }

  static load(file = '/proc/kallsyms'): Kallsyms {
    let text: string;
    try {
      text = fs.readFileSync(file, 'latin1');
    } catch (e) {
      throw new KallsymsError(`${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return Kallsyms.parse(text, file);
  }

  /** Text symbols (types t, T, w, W) of a kallsyms listing. */
  static parse(text: string, file = 'kallsyms'): Kallsyms {
    // Addresses are split in 32-bit halves so that no line costs a BigInt: this runs over
    // ~120 000 lines at start.
    const his: number[] = [];
    const los: number[] = [];
    const names: string[] = [];
    const globals: boolean[] = [];
    let pos = 0;
    while (pos < text.length) {
      let nl = text.indexOf('\n', pos);
      if (nl < 0) nl = text.length;
      const s1 = text.indexOf(' ', pos);
      const lineStart = pos;
      pos = nl + 1;
      if (s1 < 0 || s1 >= nl || s1 === lineStart || s1 - lineStart > 16 || text.charCodeAt(s1 + 2) !== 32) continue;
      const type = text[s1 + 1];
      if (type !== 't' && type !== 'T' && type !== 'w' && type !== 'W') continue;
      const split = Math.max(lineStart, s1 - 8);
      const hi = hexAt(text, lineStart, split);
      const lo = hexAt(text, split, s1);
      if (hi < 0 || lo < 0) continue;
      let name = text.slice(s1 + 3, nl);
      const tab = name.indexOf('\t'); // "\t[module]" follows the name of module symbols
      if (tab >= 0) name = name.slice(0, tab);
      his.push(hi);
      los.push(lo);
      names.push(name);
      globals.push(type === 'T' || type === 'W');
    }
    if (names.length === 0) throw new KallsymsError(`${file}: no text symbols`);
    let baseHi = Infinity;
    let nonZero = false;
    for (let i = 0; i < his.length; i++) {
      if (his[i] < baseHi) baseHi = his[i];
      if (his[i] !== 0 || los[i] !== 0) nonZero = true;
    }
    if (!nonZero) {
      throw new KallsymsError(`${file}: every address reads 0 (kernel.kptr_restrict hides them from this user)`);
    }
    const off = new Float64Array(names.length);
    for (let i = 0; i < off.length; i++) off[i] = his[i] - baseHi < MAX_HI_SPAN ? (his[i] - baseHi) * TWO32 + los[i] : NaN;
    // The listing is mostly sorted already; sort an index only where it is not.
    const idx = Array.from({ length: off.length }, (_, i) => i).filter((i) => !Number.isNaN(off[i]));
    let sorted = true;
    for (let k = 1; k < idx.length && sorted; k++) if (off[idx[k]] < off[idx[k - 1]]) sorted = false;
    if (!sorted) idx.sort((a, b) => off[a] - off[b] || a - b);
    // Aliases share an address: keep a global name over a local one, then the first listed.
    const outOff: number[] = [];
    const outNames: string[] = [];
    const outGlobal: boolean[] = [];
    for (const i of idx) {
      const last = outOff.length - 1;
      if (last >= 0 && outOff[last] === off[i]) {
        if (globals[i] && !outGlobal[last]) {
          outNames[last] = names[i];
          outGlobal[last] = true;
        }
        continue;
      }
      outOff.push(off[i]);
      outNames.push(names[i]);
      outGlobal.push(globals[i]);
    }
    return new Kallsyms(Float64Array.from(outOff), outNames, baseHi, Date.now());
  }

  /** The symbol at or below addr, or undefined when addr is below the first symbol or far past the last. */
  lookup(addr: bigint): string | undefined {
    const hi = Number(addr >> 32n) - this.baseHi;
    if (hi < 0 || hi >= MAX_HI_SPAN) return undefined;
    const x = hi * TWO32 + Number(addr & 0xffffffffn);
    const a = this.offsets;
    let lo = 0;
    let top = a.length - 1;
    let found = -1;
    while (lo <= top) {
      const mid = (lo + top) >>> 1;
      if (a[mid] <= x) {
        found = mid;
        lo = mid + 1;
      } else top = mid - 1;
    }
    if (found < 0) return undefined;
    if (found === a.length - 1 && x - a[found] > LAST_SYMBOL_SPAN) return undefined;
    return this.names[found];
  }
}
