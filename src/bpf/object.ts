// One compiled BPF object (.bpf.o): open, configure before load (autoload, .rodata globals,
// map sizes), load, attach, read maps and globals, close. Without a generated skeleton, the
// globals are located through the object's own BTF: the DATASEC of a section lists each
// variable's offset and size.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { structLayout, verifyLayout, type ExpectedLayout, type StructLayout } from './btf-layout';
import { BpfError } from './errors';
import { BTF_KIND, C, L, UPROBE_OPTS_SIZE, USDT_OPTS_SIZE, lastErrno, readNative, readU32s, type NativePtr } from './libbpf';
import { BpfLink } from './link';
import { captureWarnings } from './log';
import { BpfMap } from './map';
import { openCpuClockEvent, type PerfEventOptions } from './perf-event';

export type GlobalValue = number | bigint | boolean | string | Buffer;

/** Where a uprobe goes: a function (by name, resolved by libbpf in the file's symbols) or a file offset. */
export interface UprobeTarget {
  /** The ELF file (executable or shared library), an absolute path. */
  binary: string;
  /** Symbol name; with `offset`, the offset is within the function. */
  func?: string;
  /** File offset (without `func`) or offset within `func`. */
  offset?: number;
  /** -1: every process that maps the file; else only this one. */
  pid?: number;
  /** Value the program reads with bpf_get_attach_cookie(). */
  cookie?: bigint | number;
  retprobe?: boolean;
  /** File offset of a USDT semaphore the kernel increments while attached. */
  refCtrOffset?: number;
}

/** A USDT probe to attach (libbpf >= 1.0 resolves sites, arguments and semaphores itself). */
export interface UsdtTarget {
  binary: string;
  provider: string;
  name: string;
  /** -1: every process that maps the file; else only this one. */
  pid?: number;
  /** Value the program reads with bpf_usdt_cookie(). */
  cookie?: bigint | number;
}

export interface ProgramStats {
  id: number;
  runTimeNs: bigint;
  runCount: bigint;
  recursionMisses: bigint;
}

// struct bpf_prog_info up to attach_btf_id (run_time_ns @192, run_cnt @200, recursion_misses @208).
const PROG_INFO_SIZE = 232;
const BPF_STATS_RUN_TIME = 0;

/**
 * Turn on the kernel's per-program run time accounting (it costs a little on every run, so it
 * is off by default) until the returned handle is closed.
 */
export function enableBpfStats(): { close(): void } {
  const fd = L.bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) throw new BpfError('enable BPF stats', fd);
  let open = true;
  return {
    close() {
      if (open) C.close(fd);
      open = false;
    },
  };
}

interface VarInfo {
  offset: number;
  size: number;
}

let ncpusCache = 0;
/** Possible CPUs (per-CPU map values have one slot per possible CPU, online or not). */
export function possibleCpus(): number {
  if (!ncpusCache) {
    const n = L.libbpf_num_possible_cpus();
    if (n <= 0) throw new BpfError('libbpf_num_possible_cpus', n);
    ncpusCache = n;
  }
  return ncpusCache;
}

/** Online CPU numbers, from /sys/devices/system/cpu/online ("0-3,6"). */
export function onlineCpus(): number[] {
  const text = fs.readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  const out: number[] = [];
  for (const part of text.split(',')) {
    const [a, b] = part.split('-').map(Number);
    for (let c = a; c <= (b ?? a); c++) out.push(c);
  }
  return out;
}

export function libbpfVersion(): string {
  return L.libbpf_version_string();
}

/** The program named in libbpf's warnings about a failed load ("prog 'x': ..."), if any. */
function failingProgram(messages: string[]): string | undefined {
  for (const m of messages) {
    const hit = /prog '([^']+)': (?:BPF program load failed|failed to load|failed to find|failed to resolve|failed to prepare|relo|-- BEGIN)/.exec(m);
    if (hit) return hit[1];
  }
  for (const m of messages) {
    const hit = /prog '([^']+)'/.exec(m);
    if (hit) return hit[1];
  }
  return undefined;
}

/** The last lines of a verifier log in the messages, to put in an error. */
function verifierTail(messages: string[]): string | undefined {
  const log = messages.find((m) => m.includes('-- BEGIN PROG LOAD LOG --'));
  if (!log) return undefined;
  const body = log.split('\n').filter((l) => l && !l.includes('PROG LOAD LOG'));
  return body.length ? `verifier: ${body.slice(-3).join(' | ')}` : undefined;
}

export class BpfObject {
  private ptr: NativePtr;
  private loaded = false;
  private readonly links = new Set<BpfLink>();
  private readonly maps = new Map<string, BpfMap>();
  private readonly sections = new Map<string, Map<string, VarInfo>>();

  private constructor(
    ptr: NativePtr,
    readonly file: string,
  ) {
    this.ptr = ptr;
  }

  static open(file: string): BpfObject {
    try {
      fs.accessSync(file, fs.constants.R_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
      throw new BpfError('open object', os.constants.errno[code as keyof typeof os.constants.errno] ?? 0, file, 'run `make -C bpf` to build the BPF objects');
    }
    const { result, messages } = captureWarnings(() => L.bpf_object__open_file(file, null));
    if (!result) throw new BpfError('open object', lastErrno(), file, messages.slice(-2).join(' | ') || undefined);
    return new BpfObject(result, file);
  }

  private get handle(): NativePtr {
    if (this.ptr === null) throw new BpfError('use object', 0, this.file, 'the object is closed');
    return this.ptr;
  }

  get isLoaded(): boolean {
    return this.loaded;
  }

  programNames(): string[] {
    const out: string[] = [];
    for (let p = L.bpf_object__next_program(this.handle, null); p; p = L.bpf_object__next_program(this.handle, p)) {
      out.push(L.bpf_program__name(p));
    }
    return out;
  }

  private prog(name: string): NativePtr {
    const p = L.bpf_object__find_program_by_name(this.handle, name);
    if (!p) throw new BpfError('find program', 0, `${this.file}: program ${name}`, `the object has ${this.programNames().join(', ')}`);
    return p;
  }

  sectionOf(program: string): string {
    return L.bpf_program__section_name(this.prog(program));
  }

  setAutoload(program: string, on: boolean): void {
    const rc = L.bpf_program__set_autoload(this.prog(program), on);
    if (rc < 0) throw new BpfError('set autoload', rc, `program ${program}`, this.loaded ? 'the object is already loaded' : undefined);
  }

  autoload(program: string): boolean {
    return L.bpf_program__autoload(this.prog(program));
  }

  /**
   * Target kernel function of an fentry/fexit program declared as bare SEC("fentry") (one
   * program serving several functions, chosen at run time); before load.
   */
  setAttachTarget(program: string, func: string): void {
    const rc = L.bpf_program__set_attach_target(this.prog(program), 0, func);
    if (rc < 0) throw new BpfError('set attach target', rc, `program ${program} → ${func}`, this.loaded ? 'the object is already loaded' : undefined);
  }

  /** Variables of an internal data section (.rodata, .bss, .data) by name, from the object's BTF. */
  private varsOf(section: string): Map<string, VarInfo> {
    let vars = this.sections.get(section);
    if (vars) return vars;
    vars = new Map();
    const btf = L.bpf_object__btf(this.handle);
    const id = btf ? L.btf__find_by_name_kind(btf, section, BTF_KIND.DATASEC) : -1;
    if (id > 0) {
      const t = L.btf__type_by_id(btf, id);
      const vlen = readU32s(t, 2)[1] & 0xffff;
      const words = readU32s(t, 3 + 3 * vlen);
      for (let i = 0; i < vlen; i++) {
        const [typeId, offset, size] = words.slice(3 + 3 * i, 6 + 3 * i);
        const vt = L.btf__type_by_id(btf, typeId);
        const name = L.btf__name_by_offset(btf, readU32s(vt, 1)[0]);
        if (name) vars.set(name, { offset, size });
      }
    }
    this.sections.set(section, vars);
    return vars;
  }

  /** `struct <name>` as the compiler laid it out (from the object's BTF), or null if absent. */
  structLayout(name: string): StructLayout | null {
    return structLayout(L.bpf_object__btf(this.handle), name);
  }

  /** Check a decoder's offsets against the object's own struct; throws naming struct and field. */
  verifyLayout(want: ExpectedLayout): StructLayout {
    return verifyLayout(L.bpf_object__btf(this.handle), this.file, want);
  }

  private internalMap(section: string): NativePtr {
    const m = L.bpf_object__find_map_by_name(this.handle, section);
    if (!m) throw new BpfError('find map', 0, `${this.file}: ${section}`, `the object has no ${section} section`);
    return m;
  }

  /** Set `const volatile` globals by name; only before load (the kernel freezes .rodata). */
  setRodata(values: Record<string, GlobalValue>): void {
    this.setGlobals('.rodata', values);
  }

  /** Set initial values of globals in .rodata, .data or .bss before load. */
  setGlobals(section: string, values: Record<string, GlobalValue>): void {
    if (this.loaded) throw new BpfError(`set ${section}`, 0, this.file, `${Object.keys(values).join(', ')}: the object is already loaded`);
    const vars = this.varsOf(section);
    const map = this.internalMap(section);
    const psize = [0];
    const ptr = L.bpf_map__initial_value(map, psize);
    if (!ptr) throw new BpfError(`set ${section}`, lastErrno(), this.file);
    const data = readNative(ptr, psize[0]);
    for (const [name, value] of Object.entries(values)) {
      const v = vars.get(name);
      if (!v) {
        throw new BpfError(`set ${section}`, 0, `${this.file}: ${name}`, `no such variable (the section has ${[...vars.keys()].join(', ') || 'none'})`);
      }
      encodeGlobal(data, v, name, value);
    }
    const rc = L.bpf_map__set_initial_value(map, data, data.length);
    if (rc < 0) throw new BpfError(`set ${section}`, rc, this.file);
  }

  /**
   * The current bytes of a global in .bss or .data after load. Read from the kernel's map:
   * without a skeleton, libbpf's initial-value copy is not the live memory.
   */
  readGlobal(name: string): Buffer {
    for (const section of ['.bss', '.data', '.rodata']) {
      const v = this.varsOf(section).get(name);
      if (!v) continue;
      if (!this.loaded) throw new BpfError('read global', 0, `${this.file}: ${name}`, 'the object is not loaded');
      const m = this.internalMap(section);
      const value = Buffer.alloc(L.bpf_map__value_size(m));
      const rc = L.bpf_map_lookup_elem(L.bpf_map__fd(m), Buffer.alloc(4), value);
      if (rc < 0) throw new BpfError('read global', rc, `${this.file}: ${name}`);
      return value.subarray(v.offset, v.offset + v.size);
    }
    throw new BpfError('read global', 0, `${this.file}: ${name}`, 'no such variable in .bss, .data or .rodata');
  }

  setMapMaxEntries(map: string, n: number): void {
    const m = L.bpf_object__find_map_by_name(this.handle, map);
    if (!m) throw new BpfError('find map', 0, `${this.file}: map ${map}`);
    const rc = L.bpf_map__set_max_entries(m, n);
    if (rc < 0) throw new BpfError('set max_entries', rc, `map ${map}`, this.loaded ? 'the object is already loaded' : undefined);
  }

  /** Change a map's type before load, e.g. a per-CPU array to a shared one (benchmarks compare them). */
  setMapType(map: string, type: number): void {
    const m = L.bpf_object__find_map_by_name(this.handle, map);
    if (!m) throw new BpfError('find map', 0, `${this.file}: map ${map}`);
    const rc = L.bpf_map__set_type(m, type);
    if (rc < 0) throw new BpfError('set map type', rc, `map ${map}`, this.loaded ? 'the object is already loaded' : undefined);
  }

  /** Load every program with autoload on. A failure leaves the object unusable (close it). */
  load(): void {
    const { result, messages } = captureWarnings(() => L.bpf_object__load(this.handle));
    const rc = result ?? -1;
    if (rc < 0) {
      const program = failingProgram(messages);
      const err = new BpfError(
        'load',
        rc,
        program ? `program ${program} in ${this.file}` : this.file,
        verifierTail(messages),
      );
      err.program = program;
      throw err;
    }
    this.loaded = true;
  }

  map(name: string): BpfMap {
    let m = this.maps.get(name);
    if (!m) {
      if (!this.loaded) throw new BpfError('map', 0, `${this.file}: map ${name}`, 'load the object first');
      const p = L.bpf_object__find_map_by_name(this.handle, name);
      if (!p) throw new BpfError('find map', 0, `${this.file}: map ${name}`);
      m = new BpfMap(p, possibleCpus());
      this.maps.set(name, m);
    }
    return m;
  }

  private track(ptr: NativePtr, description: string): BpfLink {
    const link = new BpfLink(ptr, description, (l) => this.links.delete(l));
    this.links.add(link);
    return link;
  }

  /** Attach by section (tracepoint, tp_btf, raw_tp, kprobe, uprobe with a path...). */
  attach(program: string): BpfLink {
    const p = this.prog(program);
    const desc = `program ${program} (${L.bpf_program__section_name(p)})`;
    const { result, messages } = captureWarnings(() => L.bpf_program__attach(p));
    if (!result) {
      const err = new BpfError('attach', lastErrno(), desc, messages.at(-1));
      err.program = program;
      throw err;
    }
    return this.track(result, desc);
  }

  /**
   * Attach a program (declared as bare SEC("tracepoint")) to category:event with a BPF cookie
   * the program reads with bpf_get_attach_cookie(): one program serves many tracepoints.
   */
  attachTracepoint(program: string, category: string, event: string, cookie = 0n): BpfLink {
    const p = this.prog(program);
    const desc = `program ${program} (tracepoint/${category}/${event})`;
    const opts = Buffer.alloc(16);
    opts.writeBigUInt64LE(16n, 0);
    opts.writeBigUInt64LE(cookie, 8);
    const { result, messages } = captureWarnings(() => L.bpf_program__attach_tracepoint_opts(p, category, event, opts));
    if (!result) {
      const err = new BpfError('attach', lastErrno(), desc, messages.at(-1));
      err.program = program;
      throw err;
    }
    return this.track(result, desc);
  }

  /** Run a BPF iterator program once and return what it printed (bpf_seq_printf). */
  iterate(program: string): string {
    const p = this.prog(program);
    const desc = `program ${program} (${L.bpf_program__section_name(p)})`;
    const { result, messages } = captureWarnings(() => L.bpf_program__attach_iter(p, null));
    if (!result) throw new BpfError('attach', lastErrno(), desc, messages.at(-1));
    const link = this.track(result, desc);
    try {
      const fd = L.bpf_iter_create(L.bpf_link__fd(result));
      if (fd < 0) throw new BpfError('bpf_iter_create', lastErrno(), desc);
      const chunks: Buffer[] = [];
      try {
        const buf = Buffer.alloc(64 * 1024);
        for (let n = fs.readSync(fd, buf); n > 0; n = fs.readSync(fd, buf)) chunks.push(Buffer.from(buf.subarray(0, n)));
      } finally {
        fs.closeSync(fd);
      }
      return Buffer.concat(chunks).toString('utf8');
    } finally {
      link.destroy();
    }
  }

  /** Attach a kprobe (or kretprobe) program declared as bare SEC("kprobe") to `func`; a cookie goes to bpf_get_attach_cookie(). */
  attachKprobe(program: string, func: string, retprobe = false, cookie?: bigint): BpfLink {
    const p = this.prog(program);
    const desc = `program ${program} (${retprobe ? 'kretprobe' : 'kprobe'}/${func})`;
    const { result, messages } = captureWarnings(() => {
      if (cookie === undefined) return L.bpf_program__attach_kprobe(p, retprobe, func);
      const opts = Buffer.alloc(32);
      opts.writeBigUInt64LE(32n, 0);
      opts.writeBigUInt64LE(cookie, 8);
      opts.writeUInt8(retprobe ? 1 : 0, 24);
      return L.bpf_program__attach_kprobe_opts(p, func, opts);
    });
    if (!result) {
      const err = new BpfError('attach', lastErrno(), desc, messages.at(-1));
      err.program = program;
      throw err;
    }
    return this.track(result, desc);
  }

  /** Attach a SEC("uprobe")/SEC("uretprobe") program to a user-space function or offset. */
  attachUprobe(program: string, t: UprobeTarget): BpfLink {
    const p = this.prog(program);
    const pid = t.pid ?? -1;
    const where = `${t.binary}:${t.func ?? ''}${t.offset ? `+0x${t.offset.toString(16)}` : ''}`;
    const desc = `program ${program} (${t.retprobe ? 'uretprobe' : 'uprobe'} ${where}${pid >= 0 ? ` pid ${pid}` : ''})`;
    const opts = {
      sz: UPROBE_OPTS_SIZE,
      ref_ctr_offset: t.refCtrOffset ?? 0,
      bpf_cookie: t.cookie ?? 0,
      retprobe: t.retprobe ?? false,
      func_name: t.func ?? null,
    };
    const { result, messages } = captureWarnings(() => L.bpf_program__attach_uprobe_opts(p, pid, t.binary, t.offset ?? 0, opts));
    if (!result) {
      const err = new BpfError('attach', lastErrno(), desc, messages.at(-1));
      err.program = program;
      throw err;
    }
    return this.track(result, desc);
  }

  /**
   * Attach a SEC("usdt") program to every site of a USDT probe in `binary` (one link for all
   * sites; destroying it detaches them all and drops the semaphore references).
   */
  attachUsdt(program: string, t: UsdtTarget): BpfLink {
    const p = this.prog(program);
    const pid = t.pid ?? -1;
    const desc = `program ${program} (usdt ${t.binary}:${t.provider}:${t.name}${pid >= 0 ? ` pid ${pid}` : ''})`;
    const opts = { sz: USDT_OPTS_SIZE, usdt_cookie: t.cookie ?? 0 };
    const { result, messages } = captureWarnings(() => L.bpf_program__attach_usdt(p, pid, t.binary, t.provider, t.name, opts));
    if (!result) {
      const err = new BpfError('attach', lastErrno(), desc, messages.at(-1));
      err.program = program;
      throw err;
    }
    return this.track(result, desc);
  }

  /** Attach a perf_event program to a software cpu-clock event on one CPU. */
  attachPerfEvent(program: string, opts: PerfEventOptions): BpfLink {
    const p = this.prog(program);
    const fd = openCpuClockEvent(opts);
    const desc = `program ${program} (perf_event cpu-clock cpu ${opts.cpu})`;
    const { result, messages } = captureWarnings(() => L.bpf_program__attach_perf_event(p, fd));
    if (!result) {
      const e = lastErrno();
      C.close(fd);
      const err = new BpfError('attach', e, desc, messages.at(-1));
      err.program = program;
      throw err;
    }
    // The link owns the perf fd from here: bpf_link__destroy closes it.
    return this.track(result, desc);
  }

  /**
   * Kernel statistics of a loaded program: how often it ran and how often it was skipped
   * because another BPF program was already running on that CPU (recursion_misses: events the
   * program never saw). run_time_ns/run_cnt only advance while enableBpfStats() is held.
   */
  programStats(program: string): ProgramStats {
    const fd = L.bpf_program__fd(this.prog(program));
    if (fd < 0) throw new BpfError('program stats', fd, `program ${program}`, 'is it loaded?');
    const info = Buffer.alloc(PROG_INFO_SIZE);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(PROG_INFO_SIZE);
    const rc = L.bpf_obj_get_info_by_fd(fd, info, len);
    if (rc < 0) throw new BpfError('program stats', rc, `program ${program}`);
    const got = len.readUInt32LE(0);
    const u64 = (off: number) => (got >= off + 8 ? info.readBigUInt64LE(off) : 0n);
    return { id: info.readUInt32LE(4), runTimeNs: u64(192), runCount: u64(200), recursionMisses: u64(208) };
  }

  /** Names of the programs that were loaded (autoload on at load time). */
  loadedPrograms(): string[] {
    return this.programNames().filter((p) => L.bpf_program__fd(this.prog(p)) >= 0);
  }

  /** Detach every link and free the object (maps and programs); idempotent. */
  close(): void {
    if (this.ptr === null) return;
    const errors: unknown[] = [];
    for (const l of [...this.links]) {
      try {
        l.destroy();
      } catch (e) {
        errors.push(e);
      }
    }
    L.bpf_object__close(this.ptr);
    this.ptr = null;
    this.maps.clear();
    if (errors.length) throw errors[0];
  }
}

function encodeGlobal(data: Buffer, v: VarInfo, name: string, value: GlobalValue): void {
  const bad = (why: string) => new BpfError('set global', 0, name, why);
  const at = data.subarray(v.offset, v.offset + v.size);
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    if (bytes.length >= v.size) throw bad(`"${value}" needs ${bytes.length + 1} bytes with its NUL, the variable has ${v.size}`);
    at.fill(0);
    bytes.copy(at);
    return;
  }
  if (Buffer.isBuffer(value)) {
    if (value.length > v.size) throw bad(`${value.length} bytes do not fit in ${v.size}`);
    at.fill(0);
    value.copy(at);
    return;
  }
  let n: bigint;
  if (typeof value === 'boolean') n = value ? 1n : 0n;
  else if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw bad(`${value} is not an integer`);
    n = BigInt(value);
  } else n = value;
  if (![1, 2, 4, 8].includes(v.size)) throw bad(`a ${v.size}-byte variable takes a string or Buffer, not a number`);
  const bits = BigInt(v.size * 8);
  const min = -(1n << (bits - 1n));
  const max = (1n << bits) - 1n;
  if (n < min || n > max) throw bad(`${value} does not fit in ${v.size} bytes`);
  let u = BigInt.asUintN(v.size * 8, n);
  for (let i = 0; i < v.size; i++, u >>= 8n) at[i] = Number(u & 0xffn);
}
