// ext4dist / xfsdist / zfsdist against the real kernel. A workload process (a perl copy with its
// own name, selected by the process filter so other activity on / stays out) opens, writes,
// fsyncs and reads a file; the module of that file's file system must count exactly those
// operations and the other modules nothing. xfs and btrfs live on loop mounts made here.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModuleUnavailable, type ModuleSpec } from '../../src/pmda/module';
import { EXT4, OPS, XFS, ZFS, ext4dist, opHook, precheck, xfsdist, zfsdist, type FsTarget } from '../../src/modules/fsdist';
import { HistogramTool } from '../../src/modules/shared/histogram-module';
import { filtersHolding } from '../helpers/bpf-maps';
import { releaseAll, type Step } from '../helpers/cleanup';
import { waitFor } from '../helpers/pmcd';
import { asValues, buildObjects, context, exited, namedPerl, tmpRoot, total } from './hist-helpers';

const N = 200;
// Per run of the workload: opens, reads, writes, fsyncs.
const EXPECT = { open: N + 1, read: N, write: N + 5, fsync: 6 };
const WORKLOAD = `
$| = 1; my ($dir, $n) = @ARGV; my $f = "$dir/pmdafs.dat"; my $buf = 'x' x 4096;
print "ready\\n"; my $go = <STDIN>;
for (1..$n) { open(my $h, '+>>', $f) or die "open: $!"; close($h) }
open(my $h, '+<', $f) or die "open: $!";
for (1..$n) { syswrite($h, $buf) == 4096 or die "write: $!" }
syscall(74, fileno($h)) == 0 or die "fsync: $!";      # x86_64 SYS_fsync, no module loading
sysseek($h, 0, 0);
for (1..$n) { sysread($h, my $b, 4096) }
for (1..5) { syswrite($h, $buf); syscall(74, fileno($h)) }
close($h); print "done\\n";
`;

const mounts: Record<string, string> = {};

function mountLoop(fstype: 'xfs' | 'btrfs'): string {
  const img = path.join(tmpRoot, `${fstype}.img`);
  const dir = path.join(tmpRoot, fstype);
  fs.mkdirSync(dir);
  execFileSync('truncate', ['-s', '512M', img]);
  execFileSync(`mkfs.${fstype}`, ['-q', '-f', img], { stdio: 'ignore' });
  execFileSync('mount', ['-t', fstype, '-o', 'loop', img, dir]); // autoclear: umount frees the loop device
  return dir;
}

beforeAll(() => {
  buildObjects('fsdist');
  mounts.xfs = mountLoop('xfs');
  mounts.btrfs = mountLoop('btrfs');
  mounts.ext4 = fs.mkdtempSync(path.join(tmpRoot, 'ext4-')); // / is ext4
  expect(execFileSync('stat', ['-f', '-c', '%T', mounts.ext4], { encoding: 'utf8' }).trim()).toBe('ext2/ext3');
}, 120_000);

afterAll(() =>
  releaseAll(
    ...(['xfs', 'btrfs'] as const).map((t): Step | null => (mounts[t] ? [`umount ${mounts[t]}`, () => execFileSync('umount', [mounts[t]], { stdio: 'pipe' })] : null)),
    ['remove the temp dir', () => fs.rmSync(tmpRoot, { recursive: true, force: true })],
  ),
);

type Hist = Record<(typeof OPS)[number], bigint>;

function read(m: HistogramTool | ReturnType<ModuleSpec['create']>): Hist {
  m.refresh?.(new Set([0, 1, 2, 3]));
  const out = {} as Hist;
  OPS.forEach((op, item) => (out[op] = total(asValues(m.fetch(item, { slot: 0, ctxid: 0 })))));
  return out;
}

function diff(a: Hist, b: Hist): Record<string, number> {
  return Object.fromEntries(OPS.map((op) => [op, Number(b[op] - a[op])]));
}

/** Run the workload in `dir` under the name pmdafs-wl; `between` reads the modules after its
 *  start-up (loader, perl) and before its file operations, once `filters` process filters
 *  (one per started module that selects pmdafs-wl) hold the workload's PID. */
async function runWorkload<T>(dir: string, filters: number, before: () => T): Promise<T> {
  const child = spawn(namedPerl('pmdafs-wl'), ['-e', WORKLOAD, dir, String(N)], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    expect((await lines.next()).value).toBe('ready');
    // The process filters find the workload on their next rescan of /proc (every second).
    await waitFor(`${filters} process filter(s) to hold pid ${child.pid}`, () => filtersHolding(child.pid!) >= filters, 10_000, 50);
    const snapshot = before();
    child.stdin!.write('go\n');
    expect((await lines.next()).value).toBe('done');
    await exited(child);
    return snapshot;
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

function start(spec: ModuleSpec, raw: Record<string, string> = {}) {
  const { ctx, state } = context(spec, { process: 'pmdafs-wl', process_refresh: '1', ...raw });
  const m = spec.create(ctx);
  return { m, state, ctx };
}

describe('fsdist modules', () => {
  for (const fstype of ['ext4', 'xfs', 'btrfs'] as const) {
    it(`workload on ${fstype}: ${fstype === 'btrfs' ? 'neither module' : `only ${fstype}dist`} counts it, exactly`, async () => {
      const ext4 = start(ext4dist);
      const xfs = start(xfsdist);
      try {
        await ext4.m.start();
        await xfs.m.start();
        expect(ext4.state.variant).toBe('tracepoint:syscalls');
        expect(xfs.state.variant).toBe('tracepoint:syscalls');
        const before = await runWorkload(mounts[fstype], 2, () => ({ ext4: read(ext4.m), xfs: read(xfs.m) }));
        const d = { ext4: diff(before.ext4, read(ext4.m)), xfs: diff(before.xfs, read(xfs.m)) };
        const zero = { open: 0, read: 0, write: 0, fsync: 0 };
        expect(d.ext4).toEqual(fstype === 'ext4' ? EXPECT : zero);
        expect(d.xfs).toEqual(fstype === 'xfs' ? EXPECT : zero);
      } finally {
        await releaseAll(['stop ext4dist', () => ext4.m.stop()], ['stop xfsdist', () => xfs.m.stop()]);
      }
    });
  }

  it('the object serves any file system by name: btrfs through the same code', async () => {
    const BTRFS: FsTarget = { fs: 'btrfs', module: 'btrfsdist', cluster: 6, funcs: { open: ['btrfs_file_open'], read: ['btrfs_file_read_iter'], write: ['btrfs_file_write_iter'], fsync: ['btrfs_sync_file'] } };
    const { ctx } = context(xfsdist, { process: 'pmdafs-wl', process_refresh: '1' });
    const m = new HistogramTool(ctx, {
      object: 'fsdist.bpf.o',
      hooks: OPS.map((op) => opHook(BTRFS, op)),
      histograms: 4,
      indomSerial: 6,
      itemToHistogram: (i) => i,
      filter: true,
      configure: (o) => o.setRodata({ target_fs: 'btrfs' }),
    });
    try {
      await m.start();
      const before = await runWorkload(mounts.btrfs, 1, () => read(m));
      expect(diff(before, read(m))).toEqual(EXPECT);
      // fsync on btrfs takes a transaction commit: not sub-microsecond.
      const fsync = asValues(m.fetch(3, { slot: 0, ctxid: 0 }));
      expect(fsync.filter((v) => v.inst >= 4).reduce((s, v) => s + v.value, 0n)).toBe(BigInt(EXPECT.fsync));
    } finally {
      await m.stop();
    }
  });

  it('ops: only the listed operations are attached; the others have no values', async () => {
    const { m, ctx } = start(xfsdist, { ops: 'write,fsync' });
    try {
      await m.start();
      const obj = (m as HistogramTool).object!;
      expect(obj.autoload('sys_enter_write')).toBe(true);
      expect(obj.autoload('sys_enter_read')).toBe(false);
      expect(obj.autoload('sys_enter_openat')).toBe(false);
      await runWorkload(mounts.xfs, 1, () => read(m));
      m.refresh?.(new Set([0, 1, 2, 3]));
      expect(m.fetch(0, { slot: 0, ctxid: 0 })).toEqual([]);
      expect(m.fetch(1, { slot: 0, ctxid: 0 })).toEqual([]);
      expect(total(asValues(m.fetch(2, { slot: 0, ctxid: 0 })))).toBe(BigInt(EXPECT.write));
      // One instance set for the four metrics: every metric with values lists every bucket.
      expect(asValues(m.fetch(3, { slot: 0, ctxid: 0 })).length).toBe(ctx.indom(6).instances().length);
    } finally {
      await m.stop();
    }
    expect(() => context(xfsdist, { ops: 'read,close' })).toThrow(/^\[xfsdist\] ops: "close" is not an operation/);
    expect(() => context(xfsdist, { ops: ' , ' })).toThrow(/^\[xfsdist\] ops: needs at least one/);
  });

  it('the process filter keeps other processes out', async () => {
    // A witness that selects the workload proves it ran and was seen.
    const xfs = start(xfsdist, { process: 'pmdafs-other' });
    const witness = start(xfsdist);
    try {
      await xfs.m.start();
      await witness.m.start();
      const before = await runWorkload(mounts.xfs, 1, () => ({ other: read(xfs.m), wl: read(witness.m) }));
      expect(diff(before.other, read(xfs.m))).toEqual({ open: 0, read: 0, write: 0, fsync: 0 });
      expect(diff(before.wl, read(witness.m))).toEqual(EXPECT);
    } finally {
      await releaseAll(['stop xfsdist', () => xfs.m.stop()], ['stop the witness', () => witness.m.stop()]);
    }
  });

  it('fentry (refused here) and kprobes (absent here) fall through to the syscall variant', async () => {
    const { ctx, state } = context(xfsdist, { process: 'pmdafs-wl' });
    const { loadWithVariants } = await import('../../src/bpf');
    // Force both probes to say yes so the real kernel refusals are what moves the chain.
    const hooks = OPS.map((op) => {
      const h = opHook(XFS, op);
      return { ...h, variants: h.variants.map((v) => (v.name === 'tracepoint:syscalls' ? v : { ...v, available: () => true as const })) };
    });
    const lines: string[] = [];
    const log = ctx.log.child({});
    const orig = log.info.bind(log);
    (log as unknown as { info: (...a: unknown[]) => void }).info = (o: unknown, msg?: string) => {
      if (msg === 'attach variant failed, trying the next') lines.push(`${(o as { variant: string }).variant}: ${(o as { reason: string }).reason}`);
      orig(o as object, msg);
    };
    const r = loadWithVariants(
      path.join(ctx.paths.bpfDir, 'fsdist.bpf.o'),
      hooks,
      (o) => {
        const named = new Set(hooks.flatMap((h) => h.variants.flatMap((v) => v.programs)));
        for (const p of o.programNames()) if (!named.has(p)) o.setAutoload(p, false);
        o.setRodata({ target_fs: 'xfs' });
        for (const op of OPS) for (const p of [`fentry_${op}`, `fexit_${op}`]) if (o.autoload(p)) o.setAttachTarget(p, XFS.funcs[op][0]);
      },
      log,
    );
    try {
      expect(Object.values(r.chosen)).toEqual(['tracepoint:syscalls', 'tracepoint:syscalls', 'tracepoint:syscalls', 'tracepoint:syscalls']);
      expect(lines.filter((l) => l.startsWith('fentry:')).length).toBe(4);
      expect(lines.find((l) => l.startsWith('fentry:'))).toMatch(/program f(entry|exit)_\w+ in .*fsdist.bpf.o: EPERM/);
      expect(lines.filter((l) => l.startsWith('kprobe:')).length).toBe(4);
      expect(lines.find((l) => l.startsWith('kprobe:'))).toMatch(/attach program kprobe_\w+ \(kprobe\/xfs_file_\w+\): ENOENT/);
    } finally {
      r.obj.close();
    }
    expect(state.variant).toBe('');
  });

  it('zfsdist is unavailable here, with the reason', async () => {
    const { ctx } = context(zfsdist);
    const err = await zfsdist
      .create(ctx)
      .start()
      .then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ModuleUnavailable);
    expect((err as Error).message).toBe(
      'no zfs in this kernel: "zfs" is not in /proc/filesystems and none of zpl_open, zpl_iter_read, zpl_iter_write, zpl_fsync exists (ZFS is an out-of-tree module and is not loaded)',
    );
    // ext4 and xfs are known to this kernel: no complaint.
    expect(() => precheck(EXT4)).not.toThrow();
    expect(() => precheck(XFS)).not.toThrow();
    expect(() => precheck(ZFS, new Set(['ext4', 'zfs']))).not.toThrow();
  });

  it('metric names and PMIDs are pmdabcc\'s', () => {
    for (const [spec, cluster] of [[ext4dist, 5], [xfsdist, 6], [zfsdist, 7]] as const) {
      expect(spec.cluster).toBe(cluster);
      expect(spec.indoms.map((d) => d.serial)).toEqual([cluster, 0x200 | cluster]);
      const hist = spec.metrics.filter((m) => m.name.includes('.latency.'));
      expect(hist.map((m) => [m.name.split('.').pop(), m.item, m.indom])).toEqual(OPS.map((op, i) => [op, i, cluster]));
      // Beyond pmdabcc: quantiles in the next free items, under latency_quantile (no pmdabcc leaf).
      const q = spec.metrics.filter((m) => m.name.includes('.latency_quantile.'));
      expect(q.map((m) => [m.name.split('.').pop(), m.item, m.indom])).toEqual(OPS.map((op, i) => [op, 4 + i, 0x200 | cluster]));
    }
    expect(xfsdist.metrics[1].name).toBe('bcc.fs.xfs.latency.read');
  });
});
