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
import { CfiError, Kind, parseCfi, unpackRule, type FdeRows, type Rule } from './cfi';
import { ElfError, readSection, readSections } from './elf';
import { lastAtOrBelow } from './sorted';

export const ROW_BYTES = 12;

export class UnwindTable {
  constructor(
    readonly pc: Uint32Array,
    readonly cfaOff: Int32Array,
    readonly rbpOff: Int16Array,
    /** kind | rbpRule << 4 */
    readonly kind: Uint8Array,
    readonly param: Uint8Array,
    /** The functions of the file (FDE ranges). */
    readonly functions: FunctionRanges,
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
    return lastAtOrBelow(this.pc, pc);
  }

  /** The rule at pc (NONE outside every FDE). */
  ruleAt(pc: number): Rule {
    const i = this.find(pc);
    if (i < 0) return unpackRule(Kind.NONE, 0);
    return unpackRule(this.kind[i] | (this.param[i] << 8) | (this.rbpOff[i] << 16), this.cfaOff[i]);
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
  /** A row with a packed rule (cfi.ts packMeta). */
  push(pc: number, meta: number, cfaOff: number): void {
    const n = this.n;
    const kind = meta & 255;
    const param = (meta >> 8) & 255;
    const rbpOff = meta >> 16;
    if (n > 0) {
      // The same rule continues: no new row (only the rules the walker uses are compared).
      if (this.kind[n - 1] === kind && this.cfaOff[n - 1] === cfaOff && this.rbpOff[n - 1] === rbpOff && this.param[n - 1] === param) return;
      if (this.pc[n - 1] === pc) {
        this.n--;
        this.push(pc, meta, cfaOff);
        return;
      }
    }
    if (n === this.pc.length) this.grow();
    this.pc[n] = pc;
    this.cfaOff[n] = cfaOff;
    this.rbpOff[n] = rbpOff;
    this.kind[n] = kind;
    this.param[n] = param;
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
  }
  if (fdes.length === 0) throw new UnwindTableError(`${file}: no call-frame information (.eh_frame, .debug_frame)`);
  // .eh_frame first among equals: it is what the code was built to unwind with.
  // (Stable sort: among equal starts the earlier, .eh_frame, FDE stays first.)
  const order = Uint32Array.from(fdes.keys()).sort((a, b) => fdes[a].start - fdes[b].start || a - b);
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
    if (covered > 0 && f.start > covered) rows.push(covered, Kind.NONE, 0);
    for (let k = 0; k < f.pcs.length; k++) rows.push(f.pcs[k], f.metas[k], f.cfaOffs[k]);
    starts.push(f.start);
    ends.push(f.end);
    covered = f.end;
  }
  rows.push(covered, Kind.NONE, 0);
  const n = rows.n;
  return new UnwindTable(
    rows.pc.slice(0, n),
    rows.cfaOff.slice(0, n),
    rows.rbpOff.slice(0, n),
    rows.kind.slice(0, n),
    rows.param.slice(0, n),
    new FunctionRanges(Float64Array.from(starts), Float64Array.from(ends)),
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

/** The functions (FDE ranges) of a file, sorted: names stripped code by function start. */
export class FunctionRanges {
  constructor(
    readonly start: Float64Array,
    readonly end: Float64Array,
  ) {}

  /** Start of the function that covers pc, or null. */
  startOf(pc: number): number | null {
    const found = lastAtOrBelow(this.start, pc);
    return found >= 0 && pc < this.end[found]! ? this.start[found]! : null;
  }

  get footprint(): number {
    return this.start.length * 16;
  }
}

/** FDE ranges only (no rules): a fraction of the cost of a table. Empty without CFI. */
export function readFunctionRanges(fd: number, file: string): FunctionRanges {
  const starts: number[] = [];
  const ends: number[] = [];
  for (const s of readSections(fd, file)) {
    if ((s.name !== '.eh_frame' && s.name !== '.debug_frame') || s.size === 0) continue;
    try {
      parseCfi(readSection(fd, file, s), { sectionAddr: s.addr, format: s.name === '.eh_frame' ? 'eh_frame' : 'debug_frame', rangesOnly: true }, (f) => {
        starts.push(f.start);
        ends.push(f.end);
      });
    } catch (e) {
      if (!(e instanceof CfiError)) throw e;
    }
  }
  const order = Uint32Array.from(starts.keys()).sort((a, b) => starts[a] - starts[b]);
  return new FunctionRanges(Float64Array.from(order, (i) => starts[i]), Float64Array.from(order, (i) => ends[i]));
}
