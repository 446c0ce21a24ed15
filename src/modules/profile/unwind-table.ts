// One file's unwind table: the CFI of .eh_frame (and .debug_frame where present) flattened
// into sorted rows, each the rule from its pc up to the next row's pc. Consecutive rows with
// the same rule are merged (the rules of registers other than rbp do not matter to a walker,
// so most functions need two to six rows), and the gaps between functions get NONE rows, so
// a binary search for the last row at or before a pc gives the rule at that pc.
//
// Row layout in BPF (bpf/include/unwind.bpf.h, struct unwind_row, 12 bytes): pc u32 (link-
// time address), cfa_off s32, rbp_off s16, kind u8 (low nibble kind, high nibble rbp rule),
// param u8.
import * as fs from 'node:fs';
import { CfiError, Kind, parseCfi, type FdeRows, type Rule } from './cfi';
import { ElfError, readSection, readSections } from './elf';

export const ROW_BYTES = 12;

export class UnwindTable {
  constructor(
    readonly pc: Uint32Array,
    readonly cfaOff: Int32Array,
    readonly rbpOff: Int16Array,
    /** kind | rbpRule << 4 */
    readonly kind: Uint8Array,
    readonly param: Uint8Array,
    /** FDE starts and ends, sorted: the functions of the file (for naming stripped code). */
    readonly fdeStart: Float64Array,
    readonly fdeEnd: Float64Array,
    readonly stats: { fdes: number; unsupported: number; bad: number; overlapping: number },
  ) {}

  get rows(): number {
    return this.pc.length;
  }

  get bytes(): number {
    return this.pc.length * ROW_BYTES;
  }

  /** Index of the row that covers pc, or -1 before the first. */
  find(pc: number): number {
    const a = this.pc;
    let lo = 0;
    let hi = a.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid] <= pc) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** The rule at pc (NONE outside every FDE). */
  ruleAt(pc: number): Rule {
    const i = this.find(pc);
    if (i < 0) return { kind: Kind.NONE, cfaOff: 0, rbpRule: 0, rbpOff: 0, param: 0 };
    return { kind: (this.kind[i] & 15) as Rule['kind'], rbpRule: this.kind[i] >> 4, cfaOff: this.cfaOff[i], rbpOff: this.rbpOff[i], param: this.param[i] };
  }

  /** Start of the FDE (function) that covers pc, or null. */
  functionStart(pc: number): number | null {
    const a = this.fdeStart;
    let lo = 0;
    let hi = a.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid] <= pc) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found >= 0 && pc < this.fdeEnd[found] ? a[found] : null;
  }

  /** The rows as BPF reads them, packed (see the layout above). */
  pack(from = 0, to = this.rows, out = Buffer.alloc((to - from) * ROW_BYTES), at = 0): Buffer {
    for (let i = from; i < to; i++) {
      const o = at + (i - from) * ROW_BYTES;
      out.writeUInt32LE(this.pc[i], o);
      out.writeInt32LE(this.cfaOff[i], o + 4);
      out.writeInt16LE(this.rbpOff[i], o + 8);
      out[o + 10] = this.kind[i];
      out[o + 11] = this.param[i];
    }
    return out;
  }
}

/** Growable parallel arrays (typed, so that a node-sized table does not bloat the V8 heap). */
class Rows {
  n = 0;
  pc = new Uint32Array(1024);
  cfaOff = new Int32Array(1024);
  rbpOff = new Int16Array(1024);
  kind = new Uint8Array(1024);
  param = new Uint8Array(1024);
  push(pc: number, r: Rule): void {
    const n = this.n;
    if (n > 0) {
      const k = r.kind | (r.rbpRule << 4);
      // The same rule continues: no new row (only rules the walker uses are compared).
      if (this.kind[n - 1] === k && this.cfaOff[n - 1] === r.cfaOff && this.rbpOff[n - 1] === r.rbpOff && this.param[n - 1] === r.param) return;
      if (this.pc[n - 1] === pc) {
        this.n--;
        this.push(pc, r);
        return;
      }
    }
    if (n === this.pc.length) this.grow();
    this.pc[n] = pc;
    this.cfaOff[n] = r.cfaOff;
    this.rbpOff[n] = r.rbpOff;
    this.kind[n] = r.kind | (r.rbpRule << 4);
    this.param[n] = r.param;
    this.n++;
  }
  private grow(): void {
    const size = this.pc.length * 2;
    const g = <T extends Uint32Array | Int32Array | Int16Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(size);
      b.set(a);
      return b;
    };
    this.pc = g(this.pc, (n) => new Uint32Array(n));
    this.cfaOff = g(this.cfaOff, (n) => new Int32Array(n));
    this.rbpOff = g(this.rbpOff, (n) => new Int16Array(n));
    this.kind = g(this.kind, (n) => new Uint8Array(n));
    this.param = g(this.param, (n) => new Uint8Array(n));
  }
}

const NONE: Rule = { kind: Kind.NONE, cfaOff: 0, rbpRule: 0, rbpOff: 0, param: 0 };
/** Addresses at or above this do not fit the u32 pcs of the BPF rows. */
const MAX_PC = 2 ** 32;

export class UnwindTableError extends Error {
  override name = 'UnwindTableError';
}

/**
 * Build the table of an ELF file from an open descriptor. Throws ElfError (not ELF64-LE) or
 * UnwindTableError (no call-frame information, or addresses beyond 4 GiB).
 */
export function buildUnwindTable(fd: number, file: string): UnwindTable {
  const sections = readSections(fd, file);
  const fdes: FdeRows[] = [];
  const stats = { fdes: 0, unsupported: 0, bad: 0, overlapping: 0 };
  let ehCount = 0;
  for (const name of ['.eh_frame', '.debug_frame'] as const) {
    const s = sections.find((x) => x.name === name && x.size > 0);
    if (!s) continue;
    const bytes = readSection(fd, file, s);
    try {
      const st = parseCfi(bytes, { sectionAddr: s.addr, format: name === '.eh_frame' ? 'eh_frame' : 'debug_frame' }, (f) => fdes.push(f));
      stats.fdes += st.fdes;
      stats.unsupported += st.unsupported;
      stats.bad += st.bad;
    } catch (e) {
      if (!(e instanceof CfiError)) throw e;
      throw new UnwindTableError(`${file}: ${name}: ${e.message}`);
    }
    if (name === '.eh_frame') ehCount = fdes.length;
  }
  if (fdes.length === 0) throw new UnwindTableError(`${file}: no call-frame information (.eh_frame, .debug_frame)`);
  // .eh_frame first among equals: it is what the code was built to unwind with.
  const order = fdes.map((_, i) => i).sort((a, b) => fdes[a].start - fdes[b].start || (a < ehCount ? 0 : 1) - (b < ehCount ? 0 : 1));
  const rows = new Rows();
  const starts: number[] = [];
  const ends: number[] = [];
  let covered = 0;
  for (const i of order) {
    const f = fdes[i];
    if (f.start < covered) {
      stats.overlapping++;
      continue;
    }
    if (f.end > MAX_PC) throw new UnwindTableError(`${file}: code at 0x${f.start.toString(16)} lies beyond 4 GiB`);
    if (covered > 0 && f.start > covered) rows.push(covered, NONE);
    for (let k = 0; k < f.pcs.length; k++) rows.push(f.pcs[k], f.rules[k]);
    starts.push(f.start);
    ends.push(f.end);
    covered = f.end;
  }
  rows.push(covered, NONE);
  const n = rows.n;
  return new UnwindTable(
    rows.pc.slice(0, n),
    rows.cfaOff.slice(0, n),
    rows.rbpOff.slice(0, n),
    rows.kind.slice(0, n),
    rows.param.slice(0, n),
    Float64Array.from(starts),
    Float64Array.from(ends),
    stats,
  );
}

/** Build the table of a file by path. */
export function readUnwindTable(file: string): UnwindTable {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new ElfError(file, `cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return buildUnwindTable(fd, file);
  } finally {
    fs.closeSync(fd);
  }
}
