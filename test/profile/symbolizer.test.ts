// The symbolizer on its own: ELF tables checked against binutils' nm, addresses of a live
// PIE process named through /proc/PID/maps, kallsyms, perf maps, and what happens once the
// process is gone.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { ElfError, ElfSymbols } from '../../src/modules/profile/elf';
import { Kallsyms, KallsymsError } from '../../src/modules/profile/kallsyms';
import { PerfMap } from '../../src/modules/profile/perf-map';
import { findMapping, parseMaps } from '../../src/modules/profile/proc-maps';
import { Symbolizer, UNKNOWN } from '../../src/modules/profile/symbolizer';
import { compileFixture, run, tempDir, testLog } from './helpers';

const log = testLog('profile-symbolizer');

/** nm's defined text symbols of a file as [name, address] (versioned names may repeat). */
function nmText(file: string, dynamic = false): [string, number][] {
  const out: [string, number][] = [];
  const text = execFileSync('nm', [...(dynamic ? ['-D'] : []), '--defined-only', file], { maxBuffer: 256 << 20 }).toString();
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+) ([tTwWiI]) (\S+)$/.exec(line);
    if (m) out.push([m[3].replace(/@.*$/, ''), parseInt(m[1], 16)]);
  }
  return out;
}
const addrOf = (syms: [string, number][], name: string) => syms.find(([n]) => n === name)![1];

describe('ELF reader', () => {
  it('finds the functions of a PIE test binary where nm says they are', () => {
    const bin = compileFixture('nested-burn');
    const elf = ElfSymbols.read(bin);
    expect(elf.kind).toBe('dyn');
    expect(elf.table).toBe('symtab');
    expect(elf.buildId).toMatch(/^[0-9a-f]{40}$/);
    const nm = nmText(bin);
    for (const fn of ['outer_fn', 'middle_fn', 'burn_fn', 'main']) {
      const addr = addrOf(nm, fn);
      expect(addr).toBeGreaterThan(0);
      expect(elf.lookup(addr)).toEqual({ name: fn, offset: 0 });
      expect(elf.lookup(addr + 3)?.name).toBe(fn);
    }
  });

  it('reads libc (stripped: .dynsym only) and agrees with nm -D on every exported function', () => {
    const libc = fs.realpathSync('/lib/x86_64-linux-gnu/libc.so.6');
    const elf = ElfSymbols.read(libc);
    expect(elf.table).toBe('dynsym');
    const nm = nmText(libc, true);
    const byAddr = new Map<number, string[]>();
    for (const [name, addr] of nm) byAddr.set(addr, [...(byAddr.get(addr) ?? []), name]);
    let checked = 0;
    for (const [addr, aliases] of byAddr) {
      const hit = elf.lookup(addr);
      expect(hit?.offset).toBe(0);
      // Aliases share an address; the name must be one of those at that address.
      expect(aliases).toContain(hit!.name);
      checked++;
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it('reads the 100 MB non-PIE node binary by its tables alone', () => {
    const node = fs.realpathSync(process.execPath);
    const elf = ElfSymbols.read(node);
    expect(elf.kind).toBe('exec');
    expect(elf.symbolCount).toBeGreaterThan(10_000);
    const nm = nmText(node);
    const addr = addrOf(nm, 'uv_run');
    expect(elf.lookup(addr + 1)?.name).toBe('uv_run');
    // Non-PIE: file offsets map to the link-time addresses of the text segment.
    const text = elf.segments.find((s) => s.exec)!;
    expect(elf.fileOffsetToVaddr(text.offset + 16)).toBe(text.vaddr + 16);
  });

  it('names what is wrong with a file that is not ELF or is cut short', () => {
    const dir = tempDir();
    const notElf = path.join(dir, 'not-elf');
    fs.writeFileSync(notElf, 'just some text that is long enough to hold a header, really it is long');
    expect(() => ElfSymbols.read(notElf)).toThrow(/not-elf: not an ELF file \(bad magic\)/);
    const cut = path.join(dir, 'cut');
    fs.writeFileSync(cut, fs.readFileSync(compileFixture('nested-burn')).subarray(0, 200));
    expect(() => ElfSymbols.read(cut)).toThrow(ElfError);
    expect(() => ElfSymbols.read(cut)).toThrow(/beyond the end of the 200-byte file/);
    expect(() => ElfSymbols.read(path.join(dir, 'missing'))).toThrow(/missing: cannot open: ENOENT/);
  });
});

describe('kallsyms', () => {
  it('names kernel text addresses and refuses hidden addresses', () => {
    const k = Kallsyms.load();
    expect(k.size).toBeGreaterThan(10_000);
    const line = fs
      .readFileSync('/proc/kallsyms', 'latin1')
      .split('\n')
      .find((l) => / T vfs_read$/.test(l))!;
    const addr = BigInt(`0x${line.split(' ')[0]}`);
    expect(k.lookup(addr)).toBe('vfs_read');
    expect(k.lookup(addr + 5n)).toBe('vfs_read');
    expect(k.lookup(0x1000n)).toBeUndefined();
    expect(() => Kallsyms.parse('0000000000000000 T a\n0000000000000000 t b\n')).toThrow(KallsymsError);
    expect(() => Kallsyms.parse('0000000000000000 T a\n')).toThrow(/kptr_restrict/);
  });
});

describe('perf map', () => {
  it('reads appended lines, keeps a partial line, and prefers the newest of overlapping entries', () => {
    const file = path.join(tempDir(), 'perf-1.map');
    fs.writeFileSync(file, '1000 100 JS:*old /a.js:1:1\n2000 10 Builtin:X\n10');
    const m = new PerfMap(file);
    expect(m.refresh()).toBe(true);
    expect(m.lookup(0x1050)).toBe('JS:*old /a.js:1:1');
    expect(m.lookup(0x2009)).toBe('Builtin:X');
    expect(m.lookup(0x200f)).toBe('Builtin:X');
    expect(m.lookup(0x2010)).toBeUndefined();
    fs.appendFileSync(file, '40 20 JS:*new /a.js:9:1\n');
    m.refresh();
    expect(m.size).toBe(3);
    expect(m.lookup(0x1045)).toBe('JS:*new /a.js:9:1');
    expect(m.lookup(0x1065)).toBe('JS:*old /a.js:1:1');
    expect(m.refresh()).toBe(true);
    expect(new PerfMap(path.join(tempDir(), 'nope.map')).refresh()).toBe(false);
  });
});

describe('Symbolizer on a prepared /proc', () => {
  it('notices a mapped file rewritten in place (same inode, new mtime) and reads its symbols again', () => {
    const dir = fs.mkdtempSync(path.join(tempDir(), 'fakeproc-'));
    const lib = path.join(dir, 'libwork.so');
    fs.copyFileSync(compileFixture('nested-burn'), lib);
    const ino = fs.statSync(lib).ino;
    const elf = ElfSymbols.read(lib);
    const burn = addrOf(nmText(lib), 'burn_fn');
    const seg = elf.segments.find((x) => x.exec)!;
    const fileOff = burn - seg.vaddr + seg.offset;
    // One mapping of the whole file from offset 0 at a made-up address, as maps would show it.
    const start = 0x7f0000000000;
    const end = start + 0x100000;
    const range = `${start.toString(16)}-${end.toString(16)}`;
    fs.mkdirSync(path.join(dir, '4242', 'map_files'), { recursive: true });
    fs.writeFileSync(path.join(dir, '4242', 'maps'), `${range} r-xp 00000000 fe:00 ${ino} ${lib}\n`);
    fs.symlinkSync(lib, path.join(dir, '4242', 'map_files', range));

    const s = new Symbolizer({ log, procDir: dir });
    const t0 = Date.now();
    s.beginPass(t0);
    expect(s.userFrames(4242, [start + fileOff + 1])).toEqual(['burn_fn']);

    // Rewrite the file in place with another program: same inode, other contents.
    const other = fs.readFileSync(compileFixture('many-stacks'));
    fs.writeFileSync(lib, other);
    fs.utimesSync(lib, new Date(), new Date(Date.now() + 5000));
    expect(fs.statSync(lib).ino).toBe(ino);
    const now = ElfSymbols.read(lib);
    const vaddr = now.fileOffsetToVaddr(fileOff + 1)!;
    const expected = now.lookup(vaddr)?.name ?? `libwork.so+0x${vaddr.toString(16)}`;
    expect(expected).not.toBe('burn_fn');
    s.beginPass(t0 + 11_000); // past the recheck interval
    expect(s.userFrames(4242, [start + fileOff + 1])).toEqual([expected]);
  });
});

describe('Symbolizer on a live process', () => {
  const children: { kill(): void }[] = [];
  afterAll(() => {
    children.forEach((c) => c.kill());
    fs.rmSync(tempDir(), { recursive: true, force: true });
  });

  it('names PIE addresses through /proc/PID/maps, and still names them after the process exits', async () => {
    const bin = compileFixture('nested-burn');
    const p = await run(bin, ['30']);
    children.push(p.child);
    const [, outer, middle, burn] = p.first.map((s) => parseInt(s, 16));
    const maps = parseMaps(fs.readFileSync(`/proc/${p.pid}/maps`, 'utf8'));
    const m = findMapping(maps, burn)!;
    expect(m.path).toBe(bin);
    expect(m.offset).toBeGreaterThan(0); // the text mapping does not start at file offset 0

    const s = new Symbolizer({ log });
    s.beginPass();
    // Innermost first; frames after the first are return addresses (one past a call).
    expect(s.userFrames(p.pid, [burn + 4, middle + 5, outer + 5])).toEqual(['burn_fn', 'middle_fn', 'outer_fn']);
    const libcMap = maps.find((x) => x.path.includes('libc.so'))!;
    const libcName = s.userFrames(p.pid, [libcMap.start + 0x10])[0];
    expect(libcName === UNKNOWN).toBe(false);
    expect(s.userFrames(p.pid, [8])).toEqual([UNKNOWN]);

    p.child.kill('SIGKILL');
    await p.done;
    s.beginPass(Date.now() + 60_000);
    // New addresses of the dead process: its maps are remembered and the file is still there.
    expect(s.userFrames(p.pid, [middle + 2])).toEqual(['middle_fn']);
  });

  it('names JIT frames from the perf map of a node process run with --perf-basic-prof', async () => {
    const script = path.join(tempDir(), 'jit.js');
    fs.writeFileSync(
      script,
      `function hotJsFunction(n){let x=0;for(let i=0;i<n;i++){x+=Math.sqrt(i)}return x}
       let s=0;for(let k=0;k<200;k++)s+=hotJsFunction(1e5);
       console.log(process.pid); setTimeout(()=>{}, 30000);`,
    );
    const p = await run(process.execPath, ['--perf-basic-prof', script]);
    children.push(p.child);
    onTestFinished(() => fs.rmSync(`/tmp/perf-${p.pid}.map`, { force: true }));
    const map = fs.readFileSync(`/tmp/perf-${p.pid}.map`, 'utf8');
    const line = map.split('\n').find((l) => l.includes('hotJsFunction'))!;
    const [start] = line.split(' ');
    const s = new Symbolizer({ log });
    s.beginPass();
    const name = s.userFrames(p.pid, [parseInt(start, 16) + 2])[0];
    expect(name).toMatch(/hotJsFunction/);
    p.child.kill();
  });
});
