// The agent half of the .eh_frame unwinder (bpf/include/unwind.bpf.h): which processes are
// sampled, which files they map, and each file's unwind table loaded once into the shared
// row map however many processes map it.
//
// Memory: the row map is sized by unwind_memory_limit and preallocated by the kernel; tables
// are placed in it first-fit and, when a new one does not fit, the least recently mapped ones
// are evicted (processes still mapping them fall back to frame pointers there). A table that
// cannot fit at all, or one evicted, counts as dropped. The JS copy of a table is discarded
// once it is in the map: a file is reread if it has to be loaded again.
//
// A process gets an entry when it is first sampled (the sampler's new-process ring), and again
// when a sample's pc lies outside every mapping its entry knows (a dlopen since): the BPF side
// asks at most once a second per process.
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import type { BpfMap } from '../../bpf';
import { ElfError, readLoadSegments, type ElfSegment } from './elf';
import { isFileMapping, parseMaps, type Mapping } from './proc-maps';
import { UNWIND_MAX_MAPS, type UnwindMaps } from './sampler';
import { buildUnwindTable, ROW_BYTES, UnwindTableError } from './unwind-table';

export const CHUNK_ROWS = 64;
export const CHUNK_BYTES = CHUNK_ROWS * ROW_BYTES;
const MAPPING_BYTES = 32;
/** Files larger than this get their table after the pending processes are served: node's
 *  takes most of a second to build, and a process forked from a node (before its exec) must
 *  not hold up the entry of the program it becomes. */
const BIG_FILE_BYTES = 16 * 1024 * 1024;

interface FileEntry {
  key: string;
  path: string;
  mtimeMs: number;
  size: number;
  segments: ElfSegment[];
  /** First chunk and chunks in the row map, or chunks 0 when not loaded. */
  chunk: number;
  chunks: number;
  rows: number;
  /** Why there is no table (not ELF, no CFI, too big), when there is none for good. */
  error: string | null;
  lastUsed: number;
  /** Processes whose entry points at this file's rows. */
  users: Set<number>;
}

interface ProcEntry {
  slot: number;
  mapsText: string;
  files: Set<FileEntry>;
}

export interface UnwinderStats {
  /** Bytes of the row map holding tables. */
  tableBytes: number;
  /** Kernel memory the unwinder's maps take (rows preallocated, mappings per slot). */
  mapBytes: number;
  files: number;
  processes: number;
  /** Tables that did not fit (or were evicted for others) and processes without a free slot. */
  dropped: number;
}

/** First-fit allocator of chunk ranges. */
class Chunks {
  /** Free ranges [start, length], sorted by start, never adjacent. */
  private free: Array<[number, number]>;
  used = 0;
  constructor(readonly total: number) {
    this.free = total > 0 ? [[0, total]] : [];
  }
  alloc(n: number): number {
    for (let i = 0; i < this.free.length; i++) {
      const f = this.free[i];
      if (f[1] < n) continue;
      const at = f[0];
      f[0] += n;
      f[1] -= n;
      if (f[1] === 0) this.free.splice(i, 1);
      this.used += n;
      return at;
    }
    return -1;
  }
  release(at: number, n: number): void {
    this.used -= n;
    let i = 0;
    while (i < this.free.length && this.free[i][0] < at) i++;
    this.free.splice(i, 0, [at, n]);
    // Coalesce with the neighbours.
    if (i + 1 < this.free.length && this.free[i][0] + this.free[i][1] === this.free[i + 1][0]) {
      this.free[i][1] += this.free[i + 1][1];
      this.free.splice(i + 1, 1);
    }
    if (i > 0 && this.free[i - 1][0] + this.free[i - 1][1] === at) {
      this.free[i - 1][1] += this.free[i][1];
      this.free.splice(i, 1);
    }
  }
}

export interface UnwinderOptions {
  maps: UnwindMaps;
  log: Logger;
  procDir?: string;
}

export class Unwinder {
  private readonly procDir: string;
  private readonly pending = new Set<number>();
  /** Big files waiting for their table, with a path to read each through. */
  private readonly deferred = new Map<FileEntry, { pid: number; candidates: string[] }>();
  private readonly files = new Map<string, FileEntry>();
  private readonly procs = new Map<number, ProcEntry>();
  private readonly freeSlots: number[] = [];
  private readonly chunks: Chunks;
  private dropped = 0;
  private readonly key4 = Buffer.alloc(4);
  private clock = 0;

  constructor(private readonly opts: UnwinderOptions) {
    this.procDir = opts.procDir ?? '/proc';
    this.chunks = new Chunks(opts.maps.rows.maxEntries);
    for (let s = opts.maps.procs.maxEntries - 1; s >= 0; s--) this.freeSlots.push(s);
  }

  /** A process was sampled for the first time, or asks for its maps to be reread. */
  observe(pid: number): void {
    if (pid > 0) this.pending.add(pid);
  }

  get busy(): boolean {
    return this.pending.size > 0 || this.deferred.size > 0;
  }

  get stats(): UnwinderStats {
    const m = this.opts.maps;
    return {
      tableBytes: this.chunks.used * CHUNK_BYTES,
      mapBytes: m.rows.maxEntries * CHUNK_BYTES + m.maps.maxEntries * MAPPING_BYTES,
      files: [...this.files.values()].filter((f) => f.chunks > 0).length,
      processes: this.procs.size,
      dropped: this.dropped,
    };
  }

  /** Frames walked by tables and by frame pointers, summed over CPUs (unwind_stats). */
  frameCounts(): { table: bigint; framePointer: bigint; truncated: bigint; rereads: bigint } {
    const m = this.opts.maps.stats;
    const get = (i: number) => {
      this.key4.writeUInt32LE(i, 0);
      const v = m.lookup(this.key4);
      if (!v) return 0n;
      let s = 0n;
      for (let o = 0; o + 8 <= v.length; o += m.cpuStride) s += v.readBigUInt64LE(o);
      return s;
    };
    return { table: get(0), framePointer: get(1), truncated: get(2), rereads: get(3) };
  }

  /** Update the entries of pending processes until `budgetMs` has passed; true when none is left. */
  run(budgetMs: number): boolean {
    const deadline = performance.now() + budgetMs;
    for (const pid of this.pending) {
      this.pending.delete(pid);
      try {
        this.update(pid);
      } catch (e) {
        this.opts.log.warn({ err: e, pid }, 'unwinder: cannot update a process');
      }
      if (performance.now() > deadline) break;
    }
    // Then one big table per call, when no process waits.
    if (this.pending.size === 0 && performance.now() < deadline) {
      for (const [f, at] of this.deferred) {
        this.deferred.delete(f);
        if (f.chunks === 0 && f.error === null && this.files.get(f.key) === f) {
          this.load(f, at.pid, at.candidates);
          // Its processes get their entries rewritten with it.
          for (const pid of f.users) {
            const p = this.procs.get(pid);
            if (p) p.mapsText = '';
            this.pending.add(pid);
          }
        }
        break;
      }
    }
    return !this.busy;
  }

  /** Forget processes that have exited (their files stay cached until evicted). */
  prune(): void {
    for (const pid of this.procs.keys()) {
      if (!fs.existsSync(`${this.procDir}/${pid}`)) this.forget(pid);
    }
  }

  private forget(pid: number): void {
    const p = this.procs.get(pid);
    if (!p) return;
    this.procs.delete(pid);
    for (const f of p.files) f.users.delete(pid);
    this.key4.writeUInt32LE(pid, 0);
    this.opts.maps.procs.delete(this.key4);
    this.freeSlots.push(p.slot);
  }

  private update(pid: number): void {
    let text: string;
    try {
      text = fs.readFileSync(`${this.procDir}/${pid}/maps`, 'utf8');
    } catch {
      this.forget(pid);
      return;
    }
    const known = this.procs.get(pid);
    if (known && known.mapsText === text) return;
    let p = known;
    if (!p) {
      const slot = this.freeSlots.pop();
      if (slot === undefined) {
        this.dropped++;
        return;
      }
      p = { slot, mapsText: '', files: new Set() };
      this.procs.set(pid, p);
    }
    p.mapsText = text;
    const maps = parseMaps(text);
    const files = new Map<Mapping, FileEntry>();
    for (const m of maps) {
      if (!isFileMapping(m)) continue;
      const f = this.fileFor(pid, m);
      if (f) files.set(m, f);
    }
    for (const f of p.files) f.users.delete(pid);
    p.files = new Set(files.values());
    for (const f of p.files) f.users.add(pid);
    this.write(pid, p, maps, files);
  }

  /** Write a process's mappings, then its entry. */
  private write(pid: number, p: ProcEntry, maps: Mapping[], files: Map<Mapping, FileEntry>): void {
    // More executable mappings than a slot holds: those with tables first, then the rest.
    let chosen = maps;
    if (maps.length > UNWIND_MAX_MAPS) {
      const withTable = maps.filter((m) => files.get(m)?.chunks);
      const rest = maps.filter((m) => !files.get(m)?.chunks);
      chosen = [...withTable, ...rest].slice(0, UNWIND_MAX_MAPS).sort((a, b) => a.start - b.start);
    }
    const mapsMap = this.opts.maps.maps;
    const v = Buffer.alloc(MAPPING_BYTES);
    for (let i = 0; i < chosen.length; i++) {
      const m = chosen[i];
      const f = files.get(m);
      v.fill(0);
      v.writeBigUInt64LE(BigInt(m.start), 0);
      v.writeBigUInt64LE(BigInt(m.end), 8);
      const vaddr = f && f.chunks ? fileOffsetToVaddr(f.segments, m.offset) : null;
      if (f && vaddr !== null) {
        // bias = runtime address − link-time address, modulo 2^64 (an ET_EXEC maps at its
        // link-time addresses: bias 0).
        v.writeBigUInt64LE(BigInt.asUintN(64, BigInt(m.start) - BigInt(vaddr)), 16);
        v.writeUInt32LE(f.chunk * CHUNK_ROWS, 24);
        v.writeUInt32LE(f.rows, 28);
      }
      this.key4.writeUInt32LE(p.slot * UNWIND_MAX_MAPS + i, 0);
      mapsMap.update(this.key4, v);
    }
    const e = Buffer.alloc(16);
    e.writeUInt32LE(p.slot, 0);
    e.writeUInt32LE(chosen.length, 4);
    this.key4.writeUInt32LE(pid, 0);
    try {
      this.opts.maps.procs.update(this.key4, e);
    } catch (err) {
      this.opts.log.warn({ err, pid }, 'unwinder: process entry refused');
    }
  }

  private fileFor(pid: number, m: Mapping): FileEntry | null {
    const key = `${m.dev}:${m.inode}`;
    const candidates = [`${this.procDir}/${pid}/map_files/${m.range}`, `${this.procDir}/${pid}/root${m.path}`];
    let f = this.files.get(key);
    if (f) {
      // A library rewritten in place keeps its inode: compare what the table was built from.
      let st: fs.Stats | null = null;
      try {
        st = fs.statSync(candidates[0]);
      } catch {
        st = null;
      }
      if (st && (st.mtimeMs !== f.mtimeMs || st.size !== f.size)) {
        this.unload(f);
        this.files.delete(key);
        f = undefined;
      }
    }
    if (!f) {
      const built = this.build(key, m, candidates);
      if (!built) return null;
      f = built;
      this.files.set(key, f);
    }
    f.lastUsed = ++this.clock;
    if (f.chunks === 0 && f.error === null) {
      if (f.size > BIG_FILE_BYTES) {
        if (!this.deferred.has(f)) this.deferred.set(f, { pid, candidates });
      } else this.load(f, pid, candidates);
    }
    return f;
  }

  private build(key: string, m: Mapping, candidates: string[]): FileEntry | null {
    for (const file of candidates) {
      let fd: number;
      try {
        fd = fs.openSync(file, 'r');
      } catch {
        continue;
      }
      try {
        const st = fs.fstatSync(fd);
        if (st.ino !== m.inode) continue;
        const f: FileEntry = {
          key,
          path: m.path,
          mtimeMs: st.mtimeMs,
          size: st.size,
          segments: [],
          chunk: 0,
          chunks: 0,
          rows: 0,
          error: null,
          lastUsed: 0,
          users: new Set(),
        };
        try {
          f.segments = readLoadSegments(fd, m.path);
        } catch (e) {
          if (!(e instanceof ElfError)) throw e;
          f.error = e.message;
        }
        return f;
      } finally {
        fs.closeSync(fd);
      }
    }
    return null;
  }

  /** Build the file's table and place it in the row map (evicting others if need be). */
  private load(f: FileEntry, pid: number, candidates: string[]): void {
    let table;
    for (const file of candidates) {
      let fd: number;
      try {
        fd = fs.openSync(file, 'r');
      } catch {
        continue;
      }
      try {
        table = buildUnwindTable(fd, f.path);
      } catch (e) {
        if (!(e instanceof ElfError) && !(e instanceof UnwindTableError)) throw e;
        f.error = e.message;
        this.opts.log.debug({ file: f.path, pid, reason: e.message }, 'unwinder: no table');
        return;
      } finally {
        fs.closeSync(fd);
      }
      break;
    }
    if (!table) return;
    const need = Math.ceil(table.rows / CHUNK_ROWS);
    let at = this.chunks.alloc(need);
    while (at < 0) {
      const victim = this.victim(f);
      if (!victim) break;
      this.unload(victim);
      this.dropped++;
      at = this.chunks.alloc(need);
    }
    if (at < 0) {
      this.dropped++;
      f.error = `its ${table.bytes}-byte table does not fit unwind_memory_limit`;
      this.opts.log.warn({ file: f.path, bytes: table.bytes }, 'unwinder: table does not fit unwind_memory_limit');
      return;
    }
    const buf = Buffer.alloc(CHUNK_BYTES);
    const rows = this.opts.maps.rows;
    for (let c = 0; c < need; c++) {
      buf.fill(0);
      const from = c * CHUNK_ROWS;
      table.pack(from, Math.min(table.rows, from + CHUNK_ROWS), buf, 0);
      this.key4.writeUInt32LE(at + c, 0);
      rows.update(this.key4, buf);
    }
    f.chunk = at;
    f.chunks = need;
    f.rows = table.rows;
  }

  /** The least recently mapped loaded table other than `keep`: unused ones first. */
  private victim(keep: FileEntry): FileEntry | null {
    let best: FileEntry | null = null;
    for (const f of this.files.values()) {
      if (f === keep || f.chunks === 0) continue;
      if (!best) best = f;
      else {
        const fu = f.users.size > 0;
        const bu = best.users.size > 0;
        if ((fu === bu && f.lastUsed < best.lastUsed) || (!fu && bu)) best = f;
      }
    }
    return best;
  }

  /** Take a table out of the row map; processes using it are rewritten without it first. */
  private unload(f: FileEntry): void {
    if (f.chunks === 0) return;
    const chunk = f.chunk;
    const chunks = f.chunks;
    f.chunks = 0;
    f.rows = 0;
    for (const pid of f.users) {
      const p = this.procs.get(pid);
      if (!p) continue;
      const maps = parseMaps(p.mapsText);
      const files = new Map<Mapping, FileEntry>();
      for (const m of maps) {
        const g = isFileMapping(m) ? this.files.get(`${m.dev}:${m.inode}`) : undefined;
        if (g) files.set(m, g);
      }
      this.write(pid, p, maps, files);
    }
    this.chunks.release(chunk, chunks);
  }

  /** Remove every process entry (the maps are about to close). */
  clear(): void {
    this.procs.clear();
    this.files.clear();
    this.pending.clear();
    this.deferred.clear();
  }
}

/** Link-time address of a mapping's file offset. A mapping starts at a page boundary, which
 *  may lie before its segment's (unaligned) file offset; offset and address agree modulo the
 *  page, so the difference holds for the whole page. */
function fileOffsetToVaddr(segments: ElfSegment[], off: number): number | null {
  for (const s of segments) {
    if (off >= s.offset - (s.offset % 4096) && off < s.offset + s.filesz) return off - s.offset + s.vaddr;
  }
  return null;
}
