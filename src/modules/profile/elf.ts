// Function symbols of an ELF file, for naming user-space return addresses. Reads only the
// headers and the symbol and string tables with positional reads: a binary like node is
// ~100 MB, and its tables are a tenth of that. Not an npm ELF parser: the maintained choice
// (elfy 1.0.0) parses a Buffer of the whole file and was last published a decade ago; what is
// needed here is ~200 lines.
import * as fs from 'node:fs';
import { lastAtOrBelow } from './sorted';

const PT_LOAD = 1;
const PT_NOTE = 4;
const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const SHT_NOBITS = 8;
const SHF_EXECINSTR = 0x4;
const STT_NOTYPE = 0;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const SHN_UNDEF = 0;
const SHN_LORESERVE = 0xff00;
const NT_GNU_BUILD_ID = 3;
/** Tables larger than this are refused rather than read (a corrupt header, not a real binary). */
const MAX_TABLE_BYTES = 512 * 1024 * 1024;

export class ElfError extends Error {
  override name = 'ElfError';
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

export interface ElfSegment {
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  exec: boolean;
}

export interface ElfSymbolHit {
  name: string;
  /** vaddr − symbol start */
  offset: number;
}

/** Little/big endian, 32/64-bit field reader over a header buffer. */
class Fields {
  constructor(
    private readonly b: Buffer,
    private readonly le: boolean,
    readonly is64: boolean,
  ) {}
  u8(o: number): number {
    return this.b[o];
  }
  u16(o: number): number {
    return this.le ? this.b.readUInt16LE(o) : this.b.readUInt16BE(o);
  }
  u32(o: number): number {
    return this.le ? this.b.readUInt32LE(o) : this.b.readUInt32BE(o);
  }
  /** A 64-bit field as a Number: exact below 2^53, which covers every user-space address. */
  u64(o: number): number {
    const lo = this.le ? this.b.readUInt32LE(o) : this.b.readUInt32BE(o + 4);
    const hi = this.le ? this.b.readUInt32LE(o + 4) : this.b.readUInt32BE(o);
    return hi * 0x100000000 + lo;
  }
  /** Address-sized field: u64 in ELF64, u32 in ELF32. */
  addr(o64: number, o32: number): number {
    return this.is64 ? this.u64(o64) : this.u32(o32);
  }
}

function readAt(fd: number, file: string, length: number, position: number, size: number): Buffer {
  if (length < 0 || length > MAX_TABLE_BYTES) throw new ElfError(file, `refusing a ${length}-byte table`);
  if (position < 0 || position + length > size) {
    throw new ElfError(file, `table at ${position}+${length} lies beyond the end of the ${size}-byte file`);
  }
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new ElfError(file, `short read at ${position + done}`);
    done += n;
  }
  return buf;
}

/** The headers of an ELF file: its class and byte order, sections and loadable segments. */
export interface ElfLayout {
  size: number;
  le: boolean;
  is64: boolean;
  /** e_type: 2 executable, 3 shared object / PIE. */
  type: number;
  sections: ElfSection[];
  segments: ElfSegment[];
  buildId: string | null;
}

/** A section header, with its name from .shstrtab ('' when the file has none). */
export interface ElfSection {
  name: string;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

/**
 * Read an ELF file's headers from an open descriptor (positional reads only). Shared by the
 * symbol reader here and the USDT note reader (src/modules/shared/stapsdt.ts).
 */
export function readElfLayout(fd: number, file: string): ElfLayout {
  const size = fs.fstatSync(fd).size;
  if (size < 52) throw new ElfError(file, `too short for an ELF header (${size} bytes)`);
  const ident = readAt(fd, file, Math.min(64, size), 0, size);
  if (ident[0] !== 0x7f || ident[1] !== 0x45 || ident[2] !== 0x4c || ident[3] !== 0x46) {
    throw new ElfError(file, 'not an ELF file (bad magic)');
  }
  const cls = ident[4];
  const data = ident[5];
  if (cls !== 1 && cls !== 2) throw new ElfError(file, `unknown ELF class ${cls}`);
  if (data !== 1 && data !== 2) throw new ElfError(file, `unknown ELF data encoding ${data}`);
  const is64 = cls === 2;
  if (is64 && size < 64) throw new ElfError(file, `too short for an ELF64 header (${size} bytes)`);
  const h = new Fields(ident, data === 1, is64);
  const type = h.u16(16);
  const phoff = h.addr(32, 28);
  const shoff = h.addr(40, 32);
  const phentsize = h.u16(is64 ? 54 : 42);
  let phnum = h.u16(is64 ? 56 : 44);
  const shentsize = h.u16(is64 ? 58 : 46);
  let shnum = h.u16(is64 ? 60 : 48);
  const wantPh = is64 ? 56 : 32;
  const wantSh = is64 ? 64 : 40;

  // Section headers (optional: a stripped-of-sections file still has segments).
  const sections: (ElfSection & { nameOff: number })[] = [];
  if (shoff !== 0) {
    if (shentsize !== wantSh) throw new ElfError(file, `section header size ${shentsize}, expected ${wantSh}`);
    const first = new Fields(readAt(fd, file, wantSh, shoff, size), data === 1, is64);
    // Extended numbering: counts that do not fit the header live in section 0.
    if (shnum === 0) shnum = is64 ? first.u64(32) : first.u32(20);
    if (phnum === 0xffff) phnum = first.u32(is64 ? 44 : 28);
    const raw = new Fields(readAt(fd, file, shnum * wantSh, shoff, size), data === 1, is64);
    for (let i = 0; i < shnum; i++) {
      const o = i * wantSh;
      sections.push({
        name: '',
        nameOff: raw.u32(o),
        type: raw.u32(o + 4),
        flags: is64 ? raw.u64(o + 8) : raw.u32(o + 8),
        addr: raw.addr(o + 16, o + 12),
        offset: raw.addr(o + 24, o + 16),
        size: raw.addr(o + 32, o + 20),
        link: raw.u32(is64 ? o + 40 : o + 24),
        entsize: raw.addr(o + 56, o + 36),
      });
    }
  }

  // Names from the section-name string table, when there is one.
  const shstrndx = h.u16(is64 ? 62 : 50);
  const shstr = sections[shstrndx];
  if (shstr && shstr.type !== SHT_NOBITS && shstr.size > 0 && shstr.size <= 16 * 1024 * 1024 && shstr.offset + shstr.size <= size) {
    const names = readAt(fd, file, shstr.size, shstr.offset, size);
    for (const sec of sections) {
      const end = names.indexOf(0, sec.nameOff);
      sec.name = sec.nameOff < names.length ? names.toString('latin1', sec.nameOff, end < 0 ? names.length : end) : '';
    }
  }

  const segments: ElfSegment[] = [];
  let buildId: string | null = null;
  if (phoff !== 0 && phnum > 0) {
    if (phentsize !== wantPh) throw new ElfError(file, `program header size ${phentsize}, expected ${wantPh}`);
    const ph = new Fields(readAt(fd, file, phnum * wantPh, phoff, size), data === 1, is64);
    for (let i = 0; i < phnum; i++) {
      const o = i * wantPh;
      const ptype = ph.u32(o);
      const flags = ph.u32(is64 ? o + 4 : o + 24);
      const offset = ph.addr(o + 8, o + 4);
      const vaddr = ph.addr(o + 16, o + 8);
      const filesz = ph.addr(o + 32, o + 16);
      const memsz = ph.addr(o + 40, o + 20);
      if (ptype === PT_LOAD) segments.push({ offset, vaddr, filesz, memsz, exec: (flags & 1) !== 0 });
      else if (ptype === PT_NOTE && buildId === null && filesz > 0 && filesz < 65536 && offset + filesz <= size) {
        buildId = findBuildId(readAt(fd, file, filesz, offset, size), data === 1);
      }
    }
  }
  return { size, le: data === 1, is64, type, sections, segments, buildId };
}

/** String tables larger than this are read name by name from the file rather than held. */
const EAGER_STRTAB_BYTES = 256 * 1024;
/** Longest name read from a lazy table (C++ template names can run to kilobytes). */
const MAX_NAME_BYTES = 64 * 1024;

/** A string table left in its file, read through a descriptor of our own. */
class LazyStrings {
  private fd: number;
  private static scratch = Buffer.allocUnsafe(512);

  private constructor(
    fd: number,
    private readonly offset: number,
    private readonly size: number,
  ) {
    this.fd = fd;
  }

  /** Our own descriptor of the file behind `fd` (the caller closes its own): through
   *  /proc/self/fd, which reaches a deleted file too. */
  static open(fd: number, file: string, offset: number, size: number): LazyStrings {
    try {
      return new LazyStrings(fs.openSync(`/proc/self/fd/${fd}`, 'r'), offset, size);
    } catch (e) {
      throw new ElfError(file, `cannot reopen for its names: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  /** The NUL-terminated name at off, or null once closed or unreadable. */
  at(off: number): string | null {
    if (this.fd < 0) return null;
    let len = Math.min(LazyStrings.scratch.length, this.size - off);
    for (;;) {
      if (LazyStrings.scratch.length < len) LazyStrings.scratch = Buffer.allocUnsafe(len);
      const buf = LazyStrings.scratch;
      let n: number;
      try {
        n = fs.readSync(this.fd, buf, 0, len, this.offset + off);
      } catch {
        return null;
      }
      const end = buf.indexOf(0);
      if (end >= 0 && end < n) return buf.toString('utf8', 0, end);
      if (n < len || len >= this.size - off || len >= MAX_NAME_BYTES) return buf.toString('utf8', 0, n);
      len = Math.min(len * 4, this.size - off, MAX_NAME_BYTES);
    }
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // already gone: nothing to release
    }
    this.fd = -1;
  }
}

/** Closes a lazy table's descriptor when its ElfSymbols is collected without close(). */
const lazyFds = new FinalizationRegistry<LazyStrings>((t) => t.close());

export class ElfSymbols {
  private constructor(
    readonly file: string,
    /** 'exec' (fixed addresses) or 'dyn' (PIE or shared object, relocated by the mapping). */
    readonly kind: 'exec' | 'dyn' | 'other',
    readonly segments: ElfSegment[],
    readonly buildId: string | null,
    /** Which table the symbols came from: .symtab (full) or .dynsym (exported only). */
    readonly table: 'symtab' | 'dynsym' | 'none',
    private readonly starts: Float64Array,
    private readonly sizes: Float64Array,
    private readonly nameOffsets: Uint32Array,
    private readonly strtab: Buffer | LazyStrings,
  ) {
    if (strtab instanceof LazyStrings) lazyFds.register(this, strtab, strtab);
  }

  /** Release the descriptor a large file's names are read through (idempotent). */
  close(): void {
    if (this.strtab instanceof LazyStrings) {
      lazyFds.unregister(this.strtab);
      this.strtab.close();
    }
  }

  get symbolCount(): number {
    return this.starts.length;
  }

  /** Read an ELF file by path (opened and closed here). */
  static read(file: string): ElfSymbols {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      throw new ElfError(file, `cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    try {
      return ElfSymbols.readFd(fd, file);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Read from an open descriptor; `file` names it in errors. */
  static readFd(fd: number, file: string): ElfSymbols {
    const { size, le, is64, type, sections, segments, buildId } = readElfLayout(fd, file);
    const data = le ? 1 : 2;

    // Prefer the full .symtab; a stripped file keeps only .dynsym (exported functions).
    const symtab = sections.find((s) => s.type === SHT_SYMTAB && s.size > 0);
    const dynsym = sections.find((s) => s.type === SHT_DYNSYM && s.size > 0);
    const chosen = symtab ?? dynsym;
    const kind = type === 2 ? 'exec' : type === 3 ? 'dyn' : 'other';
    if (!chosen) {
      return new ElfSymbols(file, kind, segments, buildId, 'none', new Float64Array(0), new Float64Array(0), new Uint32Array(0), Buffer.alloc(0));
    }
    const strSec = sections[chosen.link];
    if (!strSec || strSec.type === SHT_NOBITS) throw new ElfError(file, `symbol table links to section ${chosen.link}, which has no strings`);
    const entsize = is64 ? 24 : 16;
    if (chosen.entsize !== 0 && chosen.entsize !== entsize) throw new ElfError(file, `symbol entry size ${chosen.entsize}, expected ${entsize}`);
    const symBuf = readAt(fd, file, chosen.size - (chosen.size % entsize), chosen.offset, size);
    if (strSec.offset < 0 || strSec.offset + strSec.size > size) {
      throw new ElfError(file, `table at ${strSec.offset}+${strSec.size} lies beyond the end of the ${size}-byte file`);
    }
    const execSection = (idx: number) => idx < sections.length && (sections[idx].flags & SHF_EXECINSTR) !== 0;

    const s = new Fields(symBuf, data === 1, is64);
    const n = symBuf.length / entsize;
    // Typed arrays, not JS arrays: a big binary (node: 110 000 symbols) would otherwise grow
    // the V8 heap by megabytes that stay committed after the parse.
    const starts = new Float64Array(n);
    const sizes = new Float64Array(n);
    const names = new Uint32Array(n);
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const o = i * entsize;
      const nameOff = s.u32(o);
      const info = s.u8(is64 ? o + 4 : o + 12);
      const shndx = s.u16(is64 ? o + 6 : o + 14);
      const value = is64 ? s.u64(o + 8) : s.u32(o + 4);
      const symSize = is64 ? s.u64(o + 16) : s.u32(o + 8);
      const stype = info & 0xf;
      if (shndx === SHN_UNDEF || shndx >= SHN_LORESERVE || value === 0 || nameOff === 0) continue;
      // Untyped symbols count only inside code sections: hand-written assembly (V8's embedded
      // builtins, libc's string routines) often has no type; data labels must never name code.
      if (stype !== STT_FUNC && stype !== STT_GNU_IFUNC && !(stype === STT_NOTYPE && execSection(shndx))) continue;
      if (nameOff >= strSec.size) continue;
      starts[kept] = value;
      sizes[kept] = symSize;
      names[kept] = nameOff;
      kept++;
    }
    // Sort by start; among equal starts keep the sized one (aliases share an address).
    const order = new Uint32Array(kept);
    for (let i = 0; i < kept; i++) order[i] = i;
    order.sort((a, b) => starts[a] - starts[b] || sizes[b] - sizes[a]);
    let m = 0;
    for (let k = 0; k < kept; k++) {
      const i = order[k];
      if (m > 0 && starts[order[m - 1]] === starts[i]) continue;
      order[m++] = i;
    }
    const outStart = new Float64Array(m);
    const outSize = new Float64Array(m);
    const outName = new Uint32Array(m);
    for (let k = 0; k < m; k++) {
      outStart[k] = starts[order[k]];
      outSize[k] = sizes[order[k]];
      outName[k] = names[order[k]];
    }
    // A large string table (node's is 7.5 MB) stays on disk: names are read when looked up,
    // and the symboliser caches each address's name, so that is rare after the first drains.
    const strtab =
      strSec.size > EAGER_STRTAB_BYTES ? LazyStrings.open(fd, file, strSec.offset, strSec.size) : readAt(fd, file, strSec.size, strSec.offset, size);
    return new ElfSymbols(file, kind, segments, buildId, chosen === symtab ? 'symtab' : 'dynsym', outStart, outSize, outName, strtab);
  }

  /** The link-time virtual address of a file offset (through the PT_LOAD that maps it). */
  fileOffsetToVaddr(off: number): number | null {
    for (const s of this.segments) {
      if (off >= s.offset && off < s.offset + s.filesz) return off - s.offset + s.vaddr;
    }
    return null;
  }

  /** The function containing vaddr. A symbol with a size must contain it; one without a size
   *  (assembly) extends to the next symbol. */
  lookup(vaddr: number): ElfSymbolHit | null {
    const st = this.starts;
    const found = lastAtOrBelow(st, vaddr);
    if (found < 0) return null;
    const size = this.sizes[found];
    if (size > 0 && vaddr >= st[found] + size) return null;
    const name = this.nameAt(this.nameOffsets[found]);
    return name === null ? null : { name, offset: vaddr - st[found] };
  }

  private nameAt(off: number): string | null {
    const t = this.strtab;
    if (t instanceof LazyStrings) return t.at(off);
    const end = t.indexOf(0, off);
    return t.toString('utf8', off, end < 0 ? t.length : end);
  }

  /** Bytes held (for cache accounting). */
  get footprint(): number {
    return (this.strtab instanceof LazyStrings ? 0 : this.strtab.length) + this.starts.length * 20;
  }
}

/** The GNU build-id from a PT_NOTE segment's notes, as lowercase hex. */
function findBuildId(notes: Buffer, le: boolean): string | null {
  for (const n of elfNotes(notes, le)) {
    if (n.type === NT_GNU_BUILD_ID && n.name === 'GNU') return notes.toString('hex', n.descStart, n.descStart + n.descsz);
  }
  return null;
}

export interface ElfNote {
  type: number;
  /** The owner name without its NUL padding. */
  name: string;
  descStart: number;
  descsz: number;
}

/** The notes of a PT_NOTE segment or SHT_NOTE section, in order; a malformed note ends the walk. */
export function* elfNotes(notes: Buffer, le: boolean): Generator<ElfNote> {
  const u32 = (o: number) => (le ? notes.readUInt32LE(o) : notes.readUInt32BE(o));
  let o = 0;
  while (o + 12 <= notes.length) {
    const namesz = u32(o);
    const descsz = u32(o + 4);
    const type = u32(o + 8);
    const nameStart = o + 12;
    const descStart = nameStart + ((namesz + 3) & ~3);
    const next = descStart + ((descsz + 3) & ~3);
    if (next > notes.length || next <= o) return;
    yield { type, name: notes.toString('latin1', nameStart, nameStart + namesz).replace(/\0+$/, ''), descStart, descsz };
    o = next;
  }
}

/** The named sections of an ELF64 little-endian file (x86-64, the only target the unwinder
 *  serves), or an ElfError. The call-frame tables (.eh_frame, .debug_frame) are found by name. */
export function readSections(fd: number, file: string): ElfSection[] {
  const l = readElfLayout(fd, file);
  if (!l.is64 || !l.le) throw new ElfError(file, 'not a little-endian ELF64 file');
  return l.sections;
}

/** The bytes of one section (an ElfError if it lies outside the file or is NOBITS). */
export function readSection(fd: number, file: string, s: ElfSection): Buffer {
  if (s.type === SHT_NOBITS) throw new ElfError(file, `section ${s.name} has no bytes in the file`);
  return readAt(fd, file, s.size, s.offset, fs.fstatSync(fd).size);
}

/** The PT_LOAD segments of an ELF64 little-endian file (without reading its symbols). */
export function readLoadSegments(fd: number, file: string): ElfSegment[] {
  const size = fs.fstatSync(fd).size;
  if (size < 64) throw new ElfError(file, `too short for an ELF64 header (${size} bytes)`);
  const h = new Fields(readAt(fd, file, 64, 0, size), true, true);
  const phoff = h.u64(32);
  const phnum = h.u16(56);
  if (phoff === 0 || phnum === 0) return [];
  if (h.u16(54) !== 56) throw new ElfError(file, `program header size ${h.u16(54)}, expected 56`);
  const ph = new Fields(readAt(fd, file, phnum * 56, phoff, size), true, true);
  const out: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = i * 56;
    if (ph.u32(o) !== PT_LOAD) continue;
    out.push({ offset: ph.u64(o + 8), vaddr: ph.u64(o + 16), filesz: ph.u64(o + 32), memsz: ph.u64(o + 40), exec: (ph.u32(o + 4) & 1) !== 0 });
  }
  return out;
}
