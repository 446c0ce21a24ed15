// The CFI parser against binutils: for real Debian binaries and libraries, the rule our table
// gives at each row readelf prints (and just before the next) must be the one readelf derives.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Kind, RbpRule, parseCfi } from '../../src/modules/profile/cfi';
import { readSegmentsForTest } from './cfi-helpers';
import { ElfSymbols } from '../../src/modules/profile/elf';
import { Symbolizer } from '../../src/modules/profile/symbolizer';
import { readUnwindTable, type UnwindTable } from '../../src/modules/profile/unwind-table';
import { compileFixture, tempDir } from './helpers';

const LIBDIR = '/usr/lib/x86_64-linux-gnu';
const FILES = [`${LIBDIR}/libc.so.6`, `${LIBDIR}/liblzma.so.5`, '/usr/bin/xz', '/usr/bin/python3.11', `${LIBDIR}/libstdc++.so.6`];

interface ReadelfRow {
  pc: number;
  next: number;
  cfa: string;
  rbp: string;
  ra: string;
}

/** Every interpreted row `readelf --debug-dump=frames-interp` prints for the file. */
function readelfRows(file: string): ReadelfRow[] {
  // readelf exits 1 on libc: it also looks at the NOBITS .eh_frame of the separate debug file
  // the .gnu_debuglink names, and says so; the dump of the file itself is complete.
  const r = spawnSync('readelf', ['--debug-dump=frames-interp', file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const text = r.stdout;
  if (!text.includes('ZERO terminator')) throw new Error(`readelf ${file}: ${r.stderr || r.status}`);
  const out: ReadelfRow[] = [];
  let cols: string[] = [];
  let fdeEnd = 0;
  let inFde = false;
  let pending: ReadelfRow[] = [];
  const flush = () => {
    for (let i = 0; i < pending.length; i++) pending[i].next = i + 1 < pending.length ? pending[i + 1].pc : fdeEnd;
    out.push(...pending);
    pending = [];
  };
  for (const line of text.split('\n')) {
    const fde = / FDE cie=\S+ pc=([0-9a-f]+)\.\.([0-9a-f]+)/.exec(line);
    if (fde) {
      flush();
      inFde = true;
      fdeEnd = parseInt(fde[2], 16);
      continue;
    }
    if (/ CIE /.test(line)) {
      flush();
      inFde = false;
      continue;
    }
    if (/^\s+LOC\s+CFA/.test(line)) {
      cols = line.trim().split(/\s+/);
      continue;
    }
    const row = /^([0-9a-f]{16}) (.*)$/.exec(line);
    if (row && inFde) {
      // "r10 (r10)": a register kept in another register, one column.
      const vals = [row[1], ...row[2].replace(/(\S+) \((\w+)\)/g, '$1($2)').trim().split(/\s+/)];
      const at = (c: string) => {
        const i = cols.indexOf(c);
        return i < 0 ? 'u' : vals[i];
      };
      pending.push({ pc: parseInt(row[1], 16), next: 0, cfa: at('CFA'), rbp: at('rbp'), ra: at('ra') });
    }
  }
  flush();
  return out;
}

/** What our rule says, in readelf's notation where the two can be compared. */
function check(t: UnwindTable, pc: number, want: ReadelfRow): string | null {
  const r = t.ruleAt(pc);
  const at = `0x${pc.toString(16)}`;
  if (want.ra === 'u') return r.kind === Kind.END ? null : `${at}: readelf says outermost frame, we say kind ${r.kind}`;
  if (want.ra === 'exp') return r.kind === Kind.SIGNAL || r.kind === Kind.NONE ? null : `${at}: ra is an expression, we say kind ${r.kind}`;
  if (want.ra !== 'c-8') return r.kind === Kind.NONE ? null : `${at}: ra ${want.ra}, we say kind ${r.kind}`;
  const m = /^(rsp|rbp)\+(-?\d+)$/.exec(want.cfa);
  if (m) {
    const kind = m[1] === 'rsp' ? Kind.RSP : Kind.RBP;
    if (r.kind === Kind.NONE && want.rbp !== 'u' && !/^c-?\d+$/.test(want.rbp)) return null; // rbp rule we do not reduce
    if (r.kind !== kind || r.cfaOff !== Number(m[2])) return `${at}: CFA ${want.cfa}, we say kind ${r.kind} off ${r.cfaOff}`;
  } else if (want.cfa === 'exp') {
    if (![Kind.PLT, Kind.DEREF_RSP, Kind.DEREF_RBP, Kind.NONE].includes(r.kind as never)) return `${at}: CFA exp, we say kind ${r.kind}`;
    return null;
  } else {
    return r.kind === Kind.NONE ? null : `${at}: CFA ${want.cfa} (another register), we say kind ${r.kind}`;
  }
  const rb = /^c(-?\d+)$/.exec(want.rbp);
  if (rb) return r.rbpRule === RbpRule.CFA && r.rbpOff === Number(rb[1]) ? null : `${at}: rbp ${want.rbp}, we say rule ${r.rbpRule} off ${r.rbpOff}`;
  if (want.rbp === 'u' || want.rbp === 's') return r.rbpRule === RbpRule.SAME ? null : `${at}: rbp unchanged, we say rule ${r.rbpRule}`;
  return null;
}

describe('CFI parser vs readelf --debug-dump=frames-interp', () => {
  for (const file of FILES) {
    it.skipIf(!fs.existsSync(file))(`${file}: the rule at every row readelf prints`, () => {
      const t = readUnwindTable(file);
      const rows = readelfRows(file);
      expect(rows.length).toBeGreaterThan(20);
      const errors: string[] = [];
      for (const row of rows) {
        for (const pc of row.next > row.pc + 1 ? [row.pc, row.next - 1] : [row.pc]) {
          const e = check(t, pc, row);
          if (e) errors.push(e);
        }
      }
      expect(errors.slice(0, 10)).toEqual([]);
      expect(t.stats.bad).toBe(0);
    });
  }

  it('names the PLT stub and signal trampoline rules explicitly', () => {
    const libc = readUnwindTable(`${LIBDIR}/libc.so.6`);
    const kinds = new Set(Array.from(libc.kind, (k) => k & 15));
    expect(kinds.has(Kind.PLT)).toBe(true);
    expect(kinds.has(Kind.SIGNAL)).toBe(true);
    // clone3's child marks the outermost frame of a thread (DW_CFA_undefined rip)...
    expect(kinds.has(Kind.END)).toBe(true);
    const xz = readUnwindTable('/usr/bin/xz');
    // ...and every executable's _start that of the main thread.
    expect(Array.from(xz.kind, (k) => k & 15)).toContain(Kind.END);
  });

  it('covers every FDE a gcc -O2 -fomit-frame-pointer program has', () => {
    const bin = compileFixture('unwind-chain', ['-O2', '-fomit-frame-pointer', '-lpthread']);
    const t = readUnwindTable(bin);
    const rows = readelfRows(bin);
    for (const row of rows) expect(check(t, row.pc, row)).toBeNull();
    expect(t.functions.start.length).toBeGreaterThan(3);
  });

  it('refuses garbage with an error, not a crash', () => {
    const junk = Buffer.from([0x10, 0, 0, 0, 0, 0, 0, 0, 9, 0x7a, 0x52, 0, 1, 0x78, 0x10, 1]);
    expect(() => parseCfi(junk, { sectionAddr: 0, format: 'eh_frame' }, () => {})).toThrow(/past the section end/);
    const stats = parseCfi(Buffer.from([0x0c, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0]), { sectionAddr: 0, format: 'eh_frame' }, () => {});
    expect(stats.bad).toBe(1);
  });
});

describe('names for stripped code', () => {
  it('names an address no symbol covers by the start of its function (FDE), so one function is one frame', () => {
    const lzma = fs.realpathSync(`${LIBDIR}/liblzma.so.5`);
    const t = readUnwindTable(lzma);
    // A function liblzma does not export (no symbol covers it), addresses inside it.
    const seg = readSegmentsForTest(lzma).find((x) => x.exec)!;
    const syms = ElfSymbols.read(lzma);
    let fn = -1;
    for (let i = 0; i < t.functions.start.length; i++) {
      const a = t.functions.start[i];
      if (a >= seg.vaddr && t.functions.end[i] - a > 64 && !syms.lookup(a + 2) && !syms.lookup(a + 39)) {
        fn = i;
        break;
      }
    }
    expect(fn).toBeGreaterThanOrEqual(0);
    const start = t.functions.start[fn];
    // A fake /proc with one process mapping the library's text at a made-up address.
    const dir = fs.mkdtempSync(path.join(tempDir(), 'fakeproc-'));
    const base = 0x7f0000000000;
    const mapStart = base + seg.vaddr - (seg.vaddr % 4096);
    const mapOff = seg.offset - (seg.offset % 4096);
    const range = `${mapStart.toString(16)}-${(mapStart + seg.filesz + 4096).toString(16)}`;
    fs.mkdirSync(path.join(dir, '4343', 'map_files'), { recursive: true });
    fs.writeFileSync(path.join(dir, '4343', 'maps'), `${range} r-xp ${mapOff.toString(16).padStart(8, '0')} fe:00 ${fs.statSync(lzma).ino} ${lzma}\n`);
    fs.symlinkSync(lzma, path.join(dir, '4343', 'map_files', range));
    const s = new Symbolizer({ log: pino({ level: 'silent' }), procDir: dir });
    s.beginPass();
    const at = (vaddr: number) => base + vaddr;
    const names = s.userFrames(4343, [at(start + 3), at(start + 40), at(start + 41)]);
    const want = `${path.basename(lzma)}+0x${start.toString(16)}`;
    expect(names).toEqual([want, want, want]);
  });
});
