// Every FFI declaration of the agent: libbpf.so.1 (1.1.x API) and the few libc calls it needs.
// Pointers to libbpf objects stay opaque koffi externals; byte buffers are passed as Node
// Buffers to `void *` parameters, which koffi hands over without copying.
import koffi from 'koffi';

type Ptr = unknown; // an opaque native pointer (koffi external) or null
export type NativePtr = Ptr;

const lib = koffi.load('libbpf.so.1');
const libc = koffi.load('libc.so.6');

function optionalFunc(l: koffi.IKoffiLib, decl: string): unknown {
  try {
    return l.func(decl);
  } catch {
    return undefined;
  }
}

/** ring_buffer_sample_fn (only the callback ring reader of the benchmarks uses it). */
export const SampleFn = koffi.proto('int ring_buffer_sample_fn(void *ctx, void *data, size_t size)');

/** libbpf_print_fn_t. va_list decays to a pointer in a parameter list (x86_64 and arm64 ABIs). */
export const PrintFn = koffi.proto('int libbpf_print_fn(int level, void *fmt, void *ap)');

/** struct bpf_uprobe_opts (libbpf 1.1 layout, 40 bytes; `sz` tells libbpf which fields we know). */
const UPROBE_OPTS = koffi.struct('bpf_uprobe_opts', {
  sz: 'size_t',
  ref_ctr_offset: 'size_t',
  bpf_cookie: 'uint64_t',
  retprobe: 'bool',
  func_name: 'const char *',
});
export interface UprobeOpts {
  sz: number;
  ref_ctr_offset: number;
  bpf_cookie: bigint | number;
  retprobe: boolean;
  func_name: string | null;
}
export const UPROBE_OPTS_SIZE = koffi.sizeof(UPROBE_OPTS);

/** struct bpf_usdt_opts (libbpf >= 1.0). */
const USDT_OPTS = koffi.struct('bpf_usdt_opts', { sz: 'size_t', usdt_cookie: 'uint64_t' });
export interface UsdtOpts {
  sz: number;
  usdt_cookie: bigint | number;
}
export const USDT_OPTS_SIZE = koffi.sizeof(USDT_OPTS);

export const L = {
  libbpf_version_string: lib.func('const char *libbpf_version_string(void)') as () => string,
  libbpf_set_print: lib.func('void *libbpf_set_print(libbpf_print_fn *fn)') as (fn: unknown) => Ptr,
  libbpf_num_possible_cpus: lib.func('int libbpf_num_possible_cpus(void)') as () => number,
  libbpf_probe_bpf_prog_type: lib.func('int libbpf_probe_bpf_prog_type(int type, void *opts)') as (
    type: number,
    opts: null,
  ) => number,

  bpf_object__open_file: lib.func('void *bpf_object__open_file(const char *path, void *opts)') as (
    path: string,
    opts: null,
  ) => Ptr,
  bpf_object__load: lib.func('int bpf_object__load(void *obj)') as (obj: Ptr) => number,
  bpf_object__close: lib.func('void bpf_object__close(void *obj)') as (obj: Ptr) => void,
  bpf_object__name: lib.func('const char *bpf_object__name(void *obj)') as (obj: Ptr) => string,
  bpf_object__next_program: lib.func('void *bpf_object__next_program(void *obj, void *prev)') as (
    obj: Ptr,
    prev: Ptr,
  ) => Ptr,
  bpf_object__next_map: lib.func('void *bpf_object__next_map(void *obj, void *prev)') as (obj: Ptr, prev: Ptr) => Ptr,
  bpf_object__find_program_by_name: lib.func('void *bpf_object__find_program_by_name(void *obj, const char *name)') as (
    obj: Ptr,
    name: string,
  ) => Ptr,
  bpf_object__find_map_by_name: lib.func('void *bpf_object__find_map_by_name(void *obj, const char *name)') as (
    obj: Ptr,
    name: string,
  ) => Ptr,
  bpf_object__btf: lib.func('void *bpf_object__btf(void *obj)') as (obj: Ptr) => Ptr,

  bpf_program__name: lib.func('const char *bpf_program__name(void *prog)') as (prog: Ptr) => string,
  bpf_program__section_name: lib.func('const char *bpf_program__section_name(void *prog)') as (prog: Ptr) => string,
  bpf_program__set_autoload: lib.func('int bpf_program__set_autoload(void *prog, bool autoload)') as (
    prog: Ptr,
    on: boolean,
  ) => number,
  bpf_program__autoload: lib.func('bool bpf_program__autoload(void *prog)') as (prog: Ptr) => boolean,
  bpf_program__fd: lib.func('int bpf_program__fd(void *prog)') as (prog: Ptr) => number,
  bpf_program__attach: lib.func('void *bpf_program__attach(void *prog)') as (prog: Ptr) => Ptr,
  bpf_program__attach_perf_event: lib.func('void *bpf_program__attach_perf_event(void *prog, int pfd)') as (
    prog: Ptr,
    pfd: number,
  ) => Ptr,
  bpf_program__set_attach_target: lib.func(
    'int bpf_program__set_attach_target(void *prog, int attach_prog_fd, const char *attach_func_name)',
  ) as (prog: Ptr, fd: number, func: string) => number,
  bpf_program__attach_kprobe: lib.func('void *bpf_program__attach_kprobe(void *prog, bool retprobe, const char *func_name)') as (
    prog: Ptr,
    retprobe: boolean,
    func: string,
  ) => Ptr,
  ring_buffer__new: lib.func('void *ring_buffer__new(int map_fd, ring_buffer_sample_fn *cb, void *ctx, void *opts)') as (
    fd: number,
    cb: unknown,
    ctx: null,
    opts: null,
  ) => Ptr,
  ring_buffer__consume: lib.func('int ring_buffer__consume(void *rb)') as (rb: Ptr) => number,
  ring_buffer__free: lib.func('void ring_buffer__free(void *rb)') as (rb: Ptr) => void,
  bpf_program__attach_uprobe_opts: lib.func(
    'void *bpf_program__attach_uprobe_opts(void *prog, int pid, const char *binary_path, size_t func_offset, const bpf_uprobe_opts *opts)',
  ) as (prog: Ptr, pid: number, binary: string, funcOffset: number, opts: UprobeOpts) => Ptr,
  bpf_program__attach_usdt: lib.func(
    'void *bpf_program__attach_usdt(void *prog, int pid, const char *binary_path, const char *provider, const char *name, const bpf_usdt_opts *opts)',
  ) as (prog: Ptr, pid: number, binary: string, provider: string, name: string, opts: UsdtOpts) => Ptr,
  bpf_link__destroy: lib.func('int bpf_link__destroy(void *link)') as (link: Ptr) => number,
  /** struct bpf_tracepoint_opts { size_t sz; __u64 bpf_cookie; } (libbpf >= 0.8): one program attached per tracepoint, told apart by its cookie. */
  bpf_program__attach_tracepoint_opts: lib.func(
    'void *bpf_program__attach_tracepoint_opts(void *prog, const char *category, const char *name, void *opts)',
  ) as (prog: Ptr, category: string, name: string, opts: Buffer) => Ptr,
  /** struct bpf_kprobe_opts (libbpf 1.1): { size_t sz; __u64 bpf_cookie; size_t offset; bool retprobe; } = 32 bytes. */
  bpf_program__attach_kprobe_opts: lib.func('void *bpf_program__attach_kprobe_opts(void *prog, const char *func, void *opts)') as (
    prog: Ptr,
    func: string,
    opts: Buffer,
  ) => Ptr,
  bpf_program__attach_iter: lib.func('void *bpf_program__attach_iter(void *prog, void *opts)') as (prog: Ptr, opts: null) => Ptr,
  bpf_link__fd: lib.func('int bpf_link__fd(void *link)') as (link: Ptr) => number,
  bpf_iter_create: lib.func('int bpf_iter_create(int link_fd)') as (linkFd: number) => number,

  bpf_map__name: lib.func('const char *bpf_map__name(void *map)') as (map: Ptr) => string,
  bpf_map__fd: lib.func('int bpf_map__fd(void *map)') as (map: Ptr) => number,
  bpf_map__type: lib.func('int bpf_map__type(void *map)') as (map: Ptr) => number,
  bpf_map__key_size: lib.func('uint32_t bpf_map__key_size(void *map)') as (map: Ptr) => number,
  bpf_map__value_size: lib.func('uint32_t bpf_map__value_size(void *map)') as (map: Ptr) => number,
  bpf_map__max_entries: lib.func('uint32_t bpf_map__max_entries(void *map)') as (map: Ptr) => number,
  bpf_map__set_max_entries: lib.func('int bpf_map__set_max_entries(void *map, uint32_t n)') as (
    map: Ptr,
    n: number,
  ) => number,
  bpf_map__set_type: lib.func('int bpf_map__set_type(void *map, int type)') as (map: Ptr, type: number) => number,
  bpf_map__is_internal: lib.func('bool bpf_map__is_internal(void *map)') as (map: Ptr) => boolean,
  bpf_map__initial_value: lib.func('void *bpf_map__initial_value(void *map, _Out_ size_t *psize)') as (
    map: Ptr,
    psize: number[],
  ) => Ptr,
  bpf_map__set_initial_value: lib.func('int bpf_map__set_initial_value(void *map, void *data, size_t size)') as (
    map: Ptr,
    data: Buffer,
    size: number,
  ) => number,

  bpf_map_lookup_elem: lib.func('int bpf_map_lookup_elem(int fd, void *key, void *value)') as (
    fd: number,
    key: Buffer,
    value: Buffer,
  ) => number,
  bpf_map_update_elem: lib.func('int bpf_map_update_elem(int fd, void *key, void *value, uint64_t flags)') as (
    fd: number,
    key: Buffer,
    value: Buffer,
    flags: number,
  ) => number,
  bpf_map_delete_elem: lib.func('int bpf_map_delete_elem(int fd, void *key)') as (fd: number, key: Buffer) => number,
  bpf_map_lookup_batch: lib.func(
    'int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, void *count, void *opts)',
  ) as (fd: number, inBatch: Buffer | null, outBatch: Buffer, keys: Buffer, values: Buffer, count: Buffer, opts: null) => number,
  bpf_map_lookup_and_delete_batch: lib.func(
    'int bpf_map_lookup_and_delete_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, void *count, void *opts)',
  ) as (fd: number, inBatch: Buffer | null, outBatch: Buffer, keys: Buffer, values: Buffer, count: Buffer, opts: null) => number,
  bpf_prog_load: lib.func(
    'int bpf_prog_load(int type, const char *name, const char *license, void *insns, size_t cnt, void *opts)',
  ) as (type: number, name: string | null, license: string, insns: Buffer, cnt: number, opts: Buffer) => number,

  bpf_obj_get_info_by_fd: lib.func('int bpf_obj_get_info_by_fd(int fd, void *info, void *info_len)') as (
    fd: number,
    info: Buffer,
    len: Buffer,
  ) => number,
  bpf_enable_stats: lib.func('int bpf_enable_stats(int type)') as (type: number) => number,

  btf__load_vmlinux_btf: lib.func('void *btf__load_vmlinux_btf(void)') as () => Ptr,
  btf__free: lib.func('void btf__free(void *btf)') as (btf: Ptr) => void,
  btf__find_by_name_kind: lib.func('int btf__find_by_name_kind(void *btf, const char *name, uint32_t kind)') as (
    btf: Ptr,
    name: string,
    kind: number,
  ) => number,
  btf__type_by_id: lib.func('void *btf__type_by_id(void *btf, uint32_t id)') as (btf: Ptr, id: number) => Ptr,
  btf__resolve_size: lib.func('long btf__resolve_size(void *btf, uint32_t type_id)') as (btf: Ptr, id: number) => number,
  btf__name_by_offset: lib.func('const char *btf__name_by_offset(void *btf, uint32_t off)') as (
    btf: Ptr,
    off: number,
  ) => string | null,
};

export const C = {
  vsnprintf: libc.func('int vsnprintf(void *buf, size_t n, void *fmt, void *ap)') as (
    buf: Buffer,
    n: number,
    fmt: Ptr,
    ap: Ptr,
  ) => number,
  dlopen: libc.func('void *dlopen(const char *file, int mode)') as (file: string, mode: number) => Ptr,
  dlsym: libc.func('void *dlsym(void *handle, const char *name)') as (h: Ptr, name: string) => Ptr,
  dlclose: libc.func('int dlclose(void *handle)') as (h: Ptr) => number,
  strerror: libc.func('const char *strerror(int errnum)') as (e: number) => string,
  close: libc.func('int close(int fd)') as (fd: number) => number,
  mount: libc.func('int mount(const char *src, const char *target, const char *type, unsigned long flags, void *data)') as (
    src: string,
    target: string,
    type: string,
    flags: number,
    data: null,
  ) => number,
  mmap: libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)') as (
    addr: null,
    len: number,
    prot: number,
    flags: number,
    fd: number,
    off: number,
  ) => Ptr,
  munmap: libc.func('int munmap(void *addr, size_t length)') as (addr: Ptr, len: number) => number,
  sysconf: libc.func('long sysconf(int name)') as (name: number) => number,
  clock_gettime: libc.func('int clock_gettime(int clk, void *ts)') as (clk: number, ts: Buffer) => number,
  /** glibc only; absent (undefined) on a libc without it (musl). */
  malloc_trim: optionalFunc(libc, 'int malloc_trim(size_t pad)') as ((pad: number) => number) | undefined,
  /** syscall(2) is variadic: extra arguments are passed as (type, value) pairs. */
  syscall: libc.func('long syscall(long number, ...)') as (n: number, ...typedArgs: unknown[]) => number,
};

export const RTLD_NOW = 2;
export const RTLD_NOLOAD = 4;

/** The address a native pointer holds. */
export function addressOf(ptr: Ptr): bigint {
  return koffi.address(ptr) as bigint;
}

/** errno of the last call on this thread (koffi saves it right after each native call). */
export function lastErrno(): number {
  return koffi.errno();
}

/** Copy `len` bytes at a native address into a fresh Buffer. */
export function readNative(ptr: Ptr, len: number): Buffer {
  if (len === 0) return Buffer.alloc(0);
  return Buffer.from(new Uint8Array(koffi.view(ptr, len)));
}

/** `n` consecutive u32 at a native address. */
export function readU32s(ptr: Ptr, n: number): number[] {
  return koffi.decode(ptr, 'uint32_t', n) as number[];
}

export { koffi };

// Constants from linux/bpf.h and linux/btf.h that the face uses.
export const BPF_MAP_TYPE = {
  HASH: 1,
  ARRAY: 2,
  PROG_ARRAY: 3,
  PERF_EVENT_ARRAY: 4,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  STACK_TRACE: 7,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  RINGBUF: 27,
} as const;
export const BPF_PROG_TYPE_TRACING = 26;
export const BPF_TRACE_FENTRY = 24;
export const BTF_KIND = { INT: 1, PTR: 2, STRUCT: 4, TYPEDEF: 8, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15 } as const;
export const LIBBPF_PRINT_LEVEL = { WARN: 0, INFO: 1, DEBUG: 2 } as const;
