// Names for sampled addresses. Kernel frames: /proc/kallsyms. User frames: the process's
// executable mappings (/proc/PID/maps), then the mapped file's ELF symbols (cached per file),
// or, in anonymous memory, the JIT's perf map (/tmp/perf-PID.map). What cannot be named is
// "module+0xoffset" (a file without that symbol) or "[unknown]".
//
// Processes come and go between a sample and its symbolisation (a drain runs every second),
// so what was learnt about a process (maps, perf map) is kept for a while after it was last
// seen: stacks of a process that has just exited still get names.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { ElfError, ElfSymbols } from './elf';
import { Kallsyms, KallsymsError } from './kallsyms';
import { PerfMap } from './perf-map';
import { readFunctionRanges, type FunctionRanges } from './unwind-table';
import { findMapping, isAnonymous, isFileMapping, parseMaps, type Mapping } from './proc-maps';

export const UNKNOWN = '[unknown]';

export interface SymbolizerOptions {
  log: Logger;
  procDir?: string;
  /** Where JIT compilers write perf-PID.map (V8 hard-codes /tmp). */
  tmpDir?: string;
  kallsymsFile?: string;
  /** Reread a live process's maps when they are older than this (exec, dlopen). */
  mapsTtlMs?: number;
  /** Forget a process (maps, perf map, names) not seen for this long. */
  processIdleMs?: number;
  /** ELF files whose symbols are kept. */
  maxElfFiles?: number;
  /** Directory of detached debug files by build id (/usr/lib/debug/.build-id/ab/cdef.debug). */
  debugDir?: string;
}

interface ElfEntry {
  /** Segments come from the mapped file, symbols may come from its detached debug file. */
  segments: ElfSymbols | null;
  symbols: ElfSymbols | null;
  lastUsed: number;
  /** The file's mtime and size when read: a library rewritten in place keeps its inode. */
  mtimeMs: number;
  size: number;
  checkedAt: number;
  /** Function ranges from the call-frame information, read at the first address no symbol
   *  covers (null: none, or unreadable). */
  functions?: FunctionRanges | null;
}

/** How often a cached file's mtime and size are compared with the file's. */
const ELF_RECHECK_MS = 10_000;

interface Proc {
  pid: number;
  maps: Mapping[];
  mapsText: string;
  mapsReadAt: number;
  /** Pass in which maps were last (re)read, so a miss rereads them at most once per pass. */
  mapsPass: number;
  alive: boolean;
  perfMap: PerfMap | null;
  perfMapPass: number;
  names: Map<number, string>;
  lastUsed: number;
}

const MAX_NAMES_PER_PROC = 100_000;
const MAX_KERNEL_NAMES = 200_000;
/** Kernel addresses that miss (BPF programs loaded since) reread kallsyms at most this often:
 *  a reread costs a few hundred ms of CPU, and such frames are rare. */
const KALLSYMS_RETRY_MS = 300_000;

export class Symbolizer {
  private readonly log: Logger;
  private readonly procDir: string;
  private readonly tmpDir: string;
  private readonly kallsymsFile: string;
  private readonly mapsTtlMs: number;
  private readonly processIdleMs: number;
  private readonly maxElfFiles: number;
  private readonly debugDir: string;
  private kallsyms: Kallsyms | null = null;
  private kallsymsTriedAt = -Infinity;
  private readonly kernelNames = new Map<bigint, string>();
  private readonly procs = new Map<number, Proc>();
  private readonly elves = new Map<string, ElfEntry>();
  private pass = 0;
  private now = Date.now();
  private readonly warned = new Set<string>();

  constructor(opts: SymbolizerOptions) {
    this.log = opts.log;
    this.procDir = opts.procDir ?? '/proc';
    this.tmpDir = opts.tmpDir ?? '/tmp';
    this.kallsymsFile = opts.kallsymsFile ?? '/proc/kallsyms';
    this.mapsTtlMs = opts.mapsTtlMs ?? 5_000;
    this.processIdleMs = opts.processIdleMs ?? 120_000;
    this.maxElfFiles = opts.maxElfFiles ?? 128;
    this.debugDir = opts.debugDir ?? '/usr/lib/debug/.build-id';
  }

  /** Start a symbolisation pass (one drain); forgets processes and files idle too long. */
  beginPass(now = Date.now()): void {
    this.pass++;
    this.now = now;
    for (const [pid, p] of this.procs) if (now - p.lastUsed > this.processIdleMs) this.procs.delete(pid);
    if (this.elves.size > this.maxElfFiles) {
      const byAge = [...this.elves].sort((a, b) => a[1].lastUsed - b[1].lastUsed);
      for (const [key] of byAge.slice(0, this.elves.size - this.maxElfFiles)) this.dropElf(key);
    }
  }

  get stats(): { processes: number; elfFiles: number; kernelNames: number } {
    return { processes: this.procs.size, elfFiles: this.elves.size, kernelNames: this.kernelNames.size };
  }

  private warnOnce(key: string, obj: object, msg: string): void {
    if (this.warned.has(key)) return;
    if (this.warned.size > 1000) this.warned.clear();
    this.warned.add(key);
    this.log.warn(obj, msg);
  }

  // ---- kernel ----

  private loadKallsyms(): void {
    this.kallsymsTriedAt = this.now;
    try {
      this.kallsyms = Kallsyms.load(this.kallsymsFile);
      this.kernelNames.clear();
    } catch (e) {
      if (!(e instanceof KallsymsError)) throw e;
      this.warnOnce('kallsyms', { err: e.message }, 'kernel frames cannot be named');
    }
  }

  /** Read kallsyms now (a few hundred ms) rather than at the first kernel frame. */
  preloadKernel(): void {
    this.now = Date.now();
    if (!this.kallsyms) this.loadKallsyms();
  }

  /** Name of one kernel address (a return address unless `leaf`). */
  kernelFrame(addr: bigint, leaf: boolean): string {
    const key = leaf ? addr : addr - 1n;
    const hit = this.kernelNames.get(key);
    if (hit !== undefined) return hit;
    if (!this.kallsyms) this.loadKallsyms();
    let name = this.kallsyms?.lookup(key);
    if (name === undefined && this.now - this.kallsymsTriedAt > KALLSYMS_RETRY_MS) {
      this.loadKallsyms();
      name = this.kallsyms?.lookup(key);
    }
    const out = name ?? UNKNOWN;
    if (this.kernelNames.size >= MAX_KERNEL_NAMES) this.kernelNames.clear();
    this.kernelNames.set(key, out);
    return out;
  }

  /** Kernel frames as the stack map gives them (innermost first), named, innermost first. */
  kernelFrames(addrs: readonly bigint[]): string[] {
    return addrs.map((a, i) => this.kernelFrame(a, i === 0));
  }

  // ---- user ----

  /**
   * A process is new or has exec'd: read its mappings now, while it runs (its stacks are
   * named later, maybe after it exited), and forget names learnt from an earlier image.
   */
  observe(pid: number, now = Date.now()): void {
    this.now = now;
    const known = this.procs.has(pid);
    const p = this.proc(pid);
    if (known) this.readMaps(p);
  }

  private readText(file: string): string | null {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return null;
    }
  }

  private perfMapFile(pid: number): string {
    // The JIT names the file with the PID it sees, which differs inside a PID namespace; the
    // file is then in the process's own /tmp.
    const status = this.readText(`${this.procDir}/${pid}/status`);
    const ns = status ? /^NSpid:\s*(.*)$/m.exec(status) : null;
    const ids = ns ? ns[1].trim().split(/\s+/) : [];
    const inner = ids.length ? Number(ids[ids.length - 1]) : pid;
    if (inner === pid) return path.join(this.tmpDir, `perf-${pid}.map`);
    return `${this.procDir}/${pid}/root${path.join(this.tmpDir, `perf-${inner}.map`)}`;
  }

  private proc(pid: number): Proc {
    let p = this.procs.get(pid);
    if (!p) {
      p = {
        pid,
        maps: [],
        mapsText: '',
        mapsReadAt: -Infinity,
        mapsPass: -1,
        alive: true,
        perfMap: null,
        perfMapPass: -1,
        names: new Map(),
        lastUsed: this.now,
      };
      this.procs.set(pid, p);
      this.readMaps(p);
      const file = this.perfMapFile(pid);
      if (fs.existsSync(file)) {
        p.perfMap = new PerfMap(file);
        p.perfMap.refresh();
        p.perfMapPass = this.pass;
      }
    } else if (p.alive && this.now - p.mapsReadAt > this.mapsTtlMs && p.mapsPass !== this.pass) {
      this.readMaps(p);
      this.revalidate(p);
    }
    p.lastUsed = this.now;
    return p;
  }

  /** (Re)read maps; a process that has gone keeps the maps it had. */
  private readMaps(p: Proc): void {
    p.mapsPass = this.pass;
    const text = this.readText(`${this.procDir}/${p.pid}/maps`);
    if (text === null || text === '') {
      p.alive = false;
      return;
    }
    p.mapsReadAt = this.now;
    if (text === p.mapsText) return;
    p.mapsText = text;
    p.maps = parseMaps(text);
    p.names.clear(); // exec or a new process with a reused PID: old names may be wrong
  }

  /** A cached file still the same? (checked at most every ELF_RECHECK_MS) */
  private stillValid(e: ElfEntry, p: Proc, m: Mapping): boolean {
    if (this.now - e.checkedAt < ELF_RECHECK_MS || !e.segments) return true;
    e.checkedAt = this.now;
    let st: fs.Stats;
    try {
      st = fs.statSync(`${this.procDir}/${p.pid}/map_files/${m.range}`);
    } catch {
      return true; // the process is gone: nothing better to compare with
    }
    return st.mtimeMs === e.mtimeMs && st.size === e.size;
  }

  /** Drop cached files of p that changed on disk (names are cached per address, so this is
   *  checked when the maps are reread, not on lookups). */
  private revalidate(p: Proc): void {
    let changed = false;
    for (const m of p.maps) {
      if (!isFileMapping(m)) continue;
      const key = `${m.dev}:${m.inode}`;
      const e = this.elves.get(key);
      if (e && !this.stillValid(e, p, m)) {
        this.dropElf(key);
        changed = true;
      }
    }
    // Names learnt from the old contents may be in any process's cache: start over.
    if (changed) for (const q of this.procs.values()) q.names.clear();
  }

  /** Forget a cached file and release the descriptor its names may be read through. */
  private dropElf(key: string): void {
    const e = this.elves.get(key);
    if (!e) return;
    this.elves.delete(key);
    e.segments?.close();
    if (e.symbols !== e.segments) e.symbols?.close();
  }

  private elfFor(p: Proc, m: Mapping): ElfEntry {
    const key = `${m.dev}:${m.inode}`;
    let e = this.elves.get(key);
    if (!e) {
      e = { segments: null, symbols: null, lastUsed: this.now, mtimeMs: 0, size: 0, checkedAt: this.now };
      // map_files is the very file that is mapped (even deleted, or in another mount
      // namespace); the path through the process's root is next; the plain path last, and
      // only if it is still the same inode.
      const candidates = [`${this.procDir}/${p.pid}/map_files/${m.range}`, `${this.procDir}/${p.pid}/root${m.path}`, m.path];
      let lastErr = '';
      for (const file of candidates) {
        let fd: number;
        try {
          fd = fs.openSync(file, 'r');
        } catch (err) {
          lastErr = `${file}: ${(err as NodeJS.ErrnoException).code}`;
          continue;
        }
        try {
          const st = fs.fstatSync(fd);
          if (st.ino !== m.inode) {
            lastErr = `${file}: inode differs from the mapped file's (replaced on disk)`;
            continue;
          }
          e.mtimeMs = st.mtimeMs;
          e.size = st.size;
          e.segments = ElfSymbols.readFd(fd, m.path);
          e.symbols = e.segments;
          break;
        } catch (err) {
          if (!(err instanceof ElfError)) throw err;
          lastErr = err.message;
          break;
        } finally {
          fs.closeSync(fd);
        }
      }
      if (!e.segments) this.warnOnce(`elf:${key}`, { file: m.path, reason: lastErr }, 'cannot read symbols of a mapped file');
      else if (e.segments.table !== 'symtab' && e.segments.buildId) {
        const id = e.segments.buildId;
        const debug = path.join(this.debugDir, id.slice(0, 2), `${id.slice(2)}.debug`);
        if (fs.existsSync(debug)) {
          try {
            const d = ElfSymbols.read(debug);
            if (d.table === 'symtab') e.symbols = d;
          } catch (err) {
            if (!(err instanceof ElfError)) throw err;
            this.warnOnce(`debug:${debug}`, { file: debug, reason: err.message }, 'unreadable debug file');
          }
        }
      }
      this.elves.set(key, e);
    }
    e.lastUsed = this.now;
    return e;
  }

  private functionsOf(e: ElfEntry, p: Proc, m: Mapping): FunctionRanges | null {
    if (e.functions !== undefined) return e.functions;
    e.functions = null;
    for (const file of [`${this.procDir}/${p.pid}/map_files/${m.range}`, `${this.procDir}/${p.pid}/root${m.path}`]) {
      let fd: number;
      try {
        fd = fs.openSync(file, 'r');
      } catch {
        continue;
      }
      try {
        if (fs.fstatSync(fd).ino !== m.inode) continue;
        e.functions = readFunctionRanges(fd, m.path);
      } catch (err) {
        if (!(err instanceof ElfError)) throw err;
      } finally {
        fs.closeSync(fd);
      }
      break;
    }
    return e.functions;
  }

  private jitName(p: Proc, addr: number): string | undefined {
    if (!p.perfMap) {
      // The JIT may have started writing after we first looked; check once per pass.
      if (p.perfMapPass === this.pass || !p.alive) return undefined;
      p.perfMapPass = this.pass;
      const file = this.perfMapFile(p.pid);
      if (!fs.existsSync(file)) return undefined;
      p.perfMap = new PerfMap(file);
      p.perfMap.refresh();
    }
    let name = p.perfMap.lookup(addr);
    if (name === undefined && p.perfMapPass !== this.pass) {
      p.perfMapPass = this.pass;
      p.perfMap.refresh();
      name = p.perfMap.lookup(addr);
    }
    return name;
  }

  private nameUser(p: Proc, addr: number): string {
    let m = findMapping(p.maps, addr);
    if (!m && p.alive && p.mapsPass !== this.pass) {
      this.readMaps(p);
      m = findMapping(p.maps, addr);
    }
    if (m && isFileMapping(m)) {
      const e = this.elfFor(p, m);
      const fileOff = addr - m.start + m.offset;
      const vaddr = e.segments?.fileOffsetToVaddr(fileOff) ?? fileOff;
      const hit = e.symbols?.lookup(vaddr);
      if (hit) return hit.name;
      const jit = this.jitName(p, addr);
      if (jit !== undefined) return jit;
      // Stripped code: the start of the enclosing function (from its FDE), so that all the
      // samples of one function make one frame, not one per address.
      const fn = this.functionsOf(e, p, m)?.startOf(vaddr) ?? vaddr;
      return `${path.basename(m.path)}+0x${fn.toString(16)}`;
    }
    if (m && !isAnonymous(m)) return m.path || UNKNOWN; // [vdso], [vsyscall]
    return this.jitName(p, addr) ?? UNKNOWN;
  }

  /** Names of one user stack of process `pid` (addresses innermost first, as the stack map
   *  gives them), innermost first. */
  userFrames(pid: number, addrs: readonly number[]): string[] {
    const p = this.proc(pid);
    const out: string[] = new Array(addrs.length);
    for (let i = 0; i < addrs.length; i++) {
      // A return address points after the call; the call itself is one byte earlier, which
      // matters when the call is the last instruction of a function.
      const a = i === 0 ? addrs[i] : addrs[i] - 1;
      let name = p.names.get(a);
      if (name === undefined) {
        name = a >= 2 ** 53 ? UNKNOWN : this.nameUser(p, a);
        if (p.names.size >= MAX_NAMES_PER_PROC) p.names.clear();
        p.names.set(a, name);
      }
      out[i] = name;
    }
    return out;
  }
}
