// Kernel text symbols from /proc/kallsyms, sorted for binary search. Kernel addresses do not
// fit a double, so they stay bigint.
import * as fs from 'node:fs';

/** A name further than this past the last symbol is not trusted (unmapped or newly loaded). */
const LAST_SYMBOL_SPAN = 0x10000n;

export class KallsymsError extends Error {
  override name = 'KallsymsError';
}

export class Kallsyms {
  private constructor(
    private readonly addrs: BigUint64Array,
    private readonly names: string[],
    /** When it was read (ms since epoch), so the caller can decide to reread. */
    readonly loadedAt: number,
  ) {}

  get size(): number {
    return this.addrs.length;
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
    const entries: { addr: bigint; name: string; global: boolean }[] = [];
    let nonZero = false;
    let pos = 0;
    while (pos < text.length) {
      let nl = text.indexOf('\n', pos);
      if (nl < 0) nl = text.length;
      const line = text.slice(pos, nl);
      pos = nl + 1;
      const s1 = line.indexOf(' ');
      if (s1 <= 0 || line.length < s1 + 4 || line[s1 + 2] !== ' ') continue;
      const type = line[s1 + 1];
      if (type !== 't' && type !== 'T' && type !== 'w' && type !== 'W') continue;
      let name = line.slice(s1 + 3);
      const tab = name.indexOf('\t');
      if (tab >= 0) name = name.slice(0, tab); // "\t[module]"
      const addr = BigInt(`0x${line.slice(0, s1)}`);
      if (addr !== 0n) nonZero = true;
      entries.push({ addr, name, global: type === 'T' || type === 'W' });
    }
    if (entries.length === 0) throw new KallsymsError(`${file}: no text symbols`);
    if (!nonZero) {
      throw new KallsymsError(`${file}: every address reads 0 (kernel.kptr_restrict hides them from this user)`);
    }
    // Aliases share an address: keep a global name over a local one, then the first listed.
    entries.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : Number(b.global) - Number(a.global)));
    const addrs: bigint[] = [];
    const names: string[] = [];
    for (const e of entries) {
      if (addrs.length && addrs[addrs.length - 1] === e.addr) continue;
      addrs.push(e.addr);
      names.push(e.name);
    }
    return new Kallsyms(BigUint64Array.from(addrs), names, Date.now());
  }

  /** The symbol at or below addr, or undefined when addr is below the first symbol or far past the last. */
  lookup(addr: bigint): string | undefined {
    const a = this.addrs;
    let lo = 0;
    let hi = a.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid] <= addr) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return undefined;
    if (found === a.length - 1 && addr - a[found] > LAST_SYMBOL_SPAN) return undefined;
    return this.names[found];
  }
}
