// ext4dist, xfsdist, zfsdist → bcc.fs.{ext4,xfs,zfs}.latency.{open,read,write,fsync}
// (pmdabcc clusters 5, 6, 7): per-operation latency histograms of one file system type.
// One BPF object (bpf/fsdist.bpf.c) serves all three; `target_fs` picks the file system.
//
// Per operation the variants are: fentry/fexit on the file system's functions → kprobes on
// them → syscall tracepoints with the fd resolved to its file and filtered by the file
// system's name at entry. Only the enabled operations (`ops`) are attached: the syscall variant
// costs ~0.4 usec on every read/write system-wide, whatever the file system.
import * as fs from 'node:fs';
import { kernelFeatures, type BpfObject, type Hook, type Variant } from '../bpf';
import { PM_SEM, PM_TYPE } from '../pcp/types';
import type { ConfigKey } from '../pmda/config-schema';
import { ModuleUnavailable, UNITS, defineModule, type MetricSpec } from '../pmda/module';
import { filterConfig } from './shared/filter';
import { HISTOGRAM_UNITS_HELP } from './shared/histogram';
import { HistogramTool } from './shared/histogram-module';
import { quantileIndom, quantileIndomSerial, quantileMetric } from './shared/quantiles';

/** Quantile metric items follow the histograms': open, read, write, fsync → 4..7. */
const QUANTILE_ITEM0 = 4;

export const OPS = ['open', 'read', 'write', 'fsync'] as const;
export type Op = (typeof OPS)[number];

/** The syscalls whose latency stands for each operation in the syscall variant. */
export const OP_SYSCALLS: Record<Op, string[]> = {
  open: ['open', 'openat', 'openat2', 'creat'],
  read: ['read', 'pread64', 'readv', 'preadv', 'preadv2'],
  write: ['write', 'pwrite64', 'writev', 'pwritev', 'pwritev2'],
  fsync: ['fsync', 'fdatasync'],
};

export const SYSCALL_VARIANT = 'tracepoint:syscalls';

export interface FsTarget {
  /** s_type->name, as in /proc/filesystems */
  fs: string;
  module: string;
  cluster: number;
  /** Kernel functions per operation, first existing one wins (older names after newer). */
  funcs: Record<Op, string[]>;
}

export const EXT4: FsTarget = {
  fs: 'ext4',
  module: 'ext4dist',
  cluster: 5,
  funcs: { open: ['ext4_file_open'], read: ['ext4_file_read_iter'], write: ['ext4_file_write_iter'], fsync: ['ext4_sync_file'] },
};
export const XFS: FsTarget = {
  fs: 'xfs',
  module: 'xfsdist',
  cluster: 6,
  funcs: { open: ['xfs_file_open'], read: ['xfs_file_read_iter'], write: ['xfs_file_write_iter'], fsync: ['xfs_file_fsync'] },
};
export const ZFS: FsTarget = {
  fs: 'zfs',
  module: 'zfsdist',
  cluster: 7,
  funcs: {
    open: ['zpl_open'],
    read: ['zpl_iter_read', 'zpl_aio_read', 'zpl_read'],
    write: ['zpl_iter_write', 'zpl_aio_write', 'zpl_write'],
    fsync: ['zpl_fsync'],
  },
};

/** File systems the running kernel knows (/proc/filesystems). */
export function kernelFilesystems(file = '/proc/filesystems'): Set<string> {
  const out = new Set<string>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const name = line.split('\t').pop()?.trim();
    if (name) out.add(name);
  }
  return out;
}

export const opsKey: ConfigKey<Op[]> = {
  default: [...OPS],
  doc: 'Operations to measure, a comma list of open, read, write, fsync (default all). On kernels without fentry or kprobes each one costs a syscall tracepoint pair on every such syscall system-wide, so leave out what you do not need.',
  parse(raw) {
    const items = [...new Set(raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0))];
    if (items.length === 0) throw new Error('needs at least one of open, read, write, fsync (set enabled = false to switch the module off)');
    for (const i of items) if (!(OPS as readonly string[]).includes(i)) throw new Error(`"${i}" is not an operation (expected open, read, write, fsync)`);
    return OPS.filter((o) => items.includes(o));
  },
};

function firstFunc(candidates: string[], exists: (f: string) => boolean): string | undefined {
  return candidates.find(exists);
}

/** The variant chain of one operation on one file system. */
export function opHook(t: FsTarget, op: Op): Hook {
  const btfFunc = () => firstFunc(t.funcs[op], (f) => kernelFeatures.hasBtfType(f, 'func'));
  const fentry: Variant = {
    name: 'fentry',
    programs: [`fentry_${op}`, `fexit_${op}`],
    available() {
      const f = btfFunc();
      if (!f) return `no ${t.funcs[op].join('/')} in the kernel BTF`;
      return kernelFeatures.fentryAvailable(f) || 'fentry/fexit refused by this kernel (BPF trampolines unavailable)';
    },
  };
  let kfunc: string | undefined;
  const kprobe: Variant = {
    name: 'kprobe',
    programs: [`kprobe_${op}`, `kretprobe_${op}`],
    available() {
      if (!kernelFeatures.kprobesAvailable()) return 'kprobes unavailable (no kprobe PMU or kprobe_events)';
      kfunc = firstFunc(t.funcs[op], (f) => kernelFeatures.hasKsym(f));
      return kfunc ? true : `no ${t.funcs[op].join('/')} in /proc/kallsyms`;
    },
    attach(obj: BpfObject) {
      const f = kfunc ?? t.funcs[op][0];
      return [obj.attachKprobe(`kprobe_${op}`, f, false), obj.attachKprobe(`kretprobe_${op}`, f, true)];
    },
  };
  const present = () => OP_SYSCALLS[op].filter((s) => kernelFeatures.hasTracepoint('syscalls', `sys_enter_${s}`) && kernelFeatures.hasTracepoint('syscalls', `sys_exit_${s}`));
  const syscalls: Variant = {
    name: SYSCALL_VARIANT,
    // Filled at availability time: only the syscalls this kernel has (no open/creat on arm64).
    programs: OP_SYSCALLS[op].flatMap((s) => [`sys_enter_${s}`, `sys_exit_${s}`]),
    available() {
      const have = present();
      if (have.length === 0) return `no syscalls:sys_enter/exit tracepoints for ${OP_SYSCALLS[op].join(', ')}`;
      syscalls.programs = have.flatMap((s) => [`sys_enter_${s}`, `sys_exit_${s}`]);
      return true;
    },
  };
  return { name: op, variants: [fentry, kprobe, syscalls] };
}

/** fentry/fexit programs are bare SEC("fentry"): give each enabled one its function. */
function setFentryTargets(t: FsTarget, obj: BpfObject): void {
  for (const op of OPS) {
    for (const p of [`fentry_${op}`, `fexit_${op}`]) {
      if (!obj.autoload(p)) continue;
      const f = firstFunc(t.funcs[op], (fn) => kernelFeatures.hasBtfType(fn, 'func'));
      if (f) obj.setAttachTarget(p, f);
    }
  }
}

function metrics(t: FsTarget): MetricSpec[] {
  const what: Record<Op, string> = {
    open: 'file opens',
    read: 'reads',
    write: 'writes',
    fsync: 'fsyncs (fsync and fdatasync)',
  };
  return OPS.map((op, item) => ({
    name: `bcc.fs.${t.fs}.latency.${op}`,
    item,
    type: PM_TYPE.U64,
    sem: PM_SEM.COUNTER,
    units: UNITS.count,
    indom: t.cluster,
    oneline: `${t.fs} ${op} latency histogram (log2 usec buckets)`,
    help:
      `Latency of ${what[op]} on ${t.fs} file systems. Where the kernel allows fentry or kprobes, ` +
      `the time spent in ${t.funcs[op][0]}; otherwise (see bcc.pmda.module.variant) the time of the ` +
      `${OP_SYSCALLS[op].join('/')} system calls on regular files of ${t.fs}` +
      (op === 'open' ? ', including path lookup' : '') +
      '; the syscall variant does not see io_uring, aio, mmap faults or in-kernel callers such as nfsd. ' +
      HISTOGRAM_UNITS_HELP +
      ` The four ${t.fs} metrics share one instance set; a bucket with no events for this operation reads 0. ` +
      'An operation left out of the "ops" option has no values.',
  }));
}

function quantileMetrics(t: FsTarget): MetricSpec[] {
  return OPS.map((op, i) => quantileMetric(`bcc.fs.${t.fs}.latency_quantile.${op}`, QUANTILE_ITEM0 + i, quantileIndomSerial(t.cluster), `${t.fs} ${op} latency`));
}

function spec(t: FsTarget) {
  return defineModule({
    name: t.module,
    cluster: t.cluster,
    defaultEnabled: true,
    metrics: [...metrics(t), ...quantileMetrics(t)],
    indoms: [
      {
        serial: t.cluster,
        oneline: `${t.fs} operation latency buckets (usec ranges)`,
        help: `log2 buckets of ${t.fs} open/read/write/fsync latency, named "low-high" in microseconds; ids rise with the bucket bounds.`,
        labels: { statistic: 'histogram' },
      },
      quantileIndom(quantileIndomSerial(t.cluster), `${t.fs} operation latency`),
    ],
    config: { ...filterConfig(), ops: opsKey },
    create(ctx) {
      const ops = ctx.config.ops;
      const hooks = ops.map((op) => opHook(t, op));
      return new HistogramTool(ctx, {
        object: 'fsdist.bpf.o',
        hooks,
        histograms: OPS.length,
        indomSerial: t.cluster,
        itemToHistogram: (item) => (item >= 0 && item < OPS.length ? (ops.includes(OPS[item]) ? item : null) : undefined),
        quantiles: {
          indomSerial: quantileIndomSerial(t.cluster),
          itemToHistogram: (item) => {
            const i = item - QUANTILE_ITEM0;
            return i >= 0 && i < OPS.length ? (ops.includes(OPS[i]!) ? i : null) : undefined;
          },
        },
        filter: true,
        precheck: () => precheck(t),
        configure(o) {
          o.setRodata({ target_fs: t.fs });
          setFentryTargets(t, o);
        },
      });
    },
  });
}

/** The file system must exist in this kernel (built in or module loaded). */
export function precheck(t: FsTarget, filesystems = kernelFilesystems()): void {
  if (filesystems.has(t.fs)) return;
  // kallsyms is slow to read (~0.2 s) and only matters where kprobes could use it.
  const kprobes = kernelFeatures.kprobesAvailable();
  const anyFunc = OPS.some((op) => t.funcs[op].some((f) => kernelFeatures.hasBtfType(f, 'func') || (kprobes && kernelFeatures.hasKsym(f))));
  if (anyFunc) return; // functions without a registered type: a module being loaded; let the variants decide
  const funcs = [...new Set(OPS.map((op) => t.funcs[op][0]))].join(', ');
  throw new ModuleUnavailable(
    `no ${t.fs} in this kernel: "${t.fs}" is not in /proc/filesystems and none of ${funcs} exists` +
      (t.fs === 'zfs' ? ' (ZFS is an out-of-tree module and is not loaded)' : ''),
  );
}

export const ext4dist = spec(EXT4);
export const xfsdist = spec(XFS);
export const zfsdist = spec(ZFS);
