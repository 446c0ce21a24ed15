// Units, not just counts: every latency histogram gets a workload whose latency is known or
// bounded from both sides, and the samples must land in the log2 slots (microseconds) that
// follow. A lost or doubled unit conversion in the eBPF code (ns -> µs) moves every sample ten
// slots and fails here; a count-only test would not notice.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModuleContext, ModuleInstance, ModuleSpec } from '../../src/pmda/module';
import { biolatency } from '../../src/modules/biolatency';
import { ext4dist } from '../../src/modules/fsdist';
import { runqlat } from '../../src/modules/runqlat';
import { ddDirectWrite, diskStat, makeLoop } from '../helpers/block';
import { asValues, buildObjects, context, exited, namedPerl, tmpRoot } from './hist-helpers';

beforeAll(() => buildObjects('runqlat', 'biolatency', 'fsdist'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

interface Bucket {
  /** Instance name, e.g. "16384-32767" or "loop3::16384-32767". */
  name: string;
  lo: number;
  hi: number;
  n: number;
}

/** The histogram of `item` as buckets with their bounds (from the instance names). */
function buckets(spec: ModuleSpec, ctx: ModuleContext, m: ModuleInstance, item: number): Bucket[] {
  const serial = spec.metrics.find((x) => x.item === item)!.indom!;
  m.refresh?.(new Set([item]));
  return asValues(m.fetch(item, { slot: 0, ctxid: 0 })).map(({ inst, value }) => {
    const name = ctx.indom(serial).nameOf(inst)!;
    const [, lo, hi] = /(\d+)-(\d+)$/.exec(name)!.map(Number);
    return { name, lo, hi, n: Number(value) };
  });
}

/** What `after` holds beyond `before`, non-empty buckets only. */
function grown(before: Bucket[], after: Bucket[]): Bucket[] {
  const was = new Map(before.map((b) => [b.name, b.n]));
  return after.map((b) => ({ ...b, n: b.n - (was.get(b.name) ?? 0) })).filter((b) => b.n > 0);
}

const show = (bs: Bucket[]) => bs.map((b) => `${b.name}: ${b.n}`).join(', ');
const count = (bs: Bucket[]) => bs.reduce((s, b) => s + b.n, 0);

async function stopAll(...ms: (ModuleInstance | null)[]): Promise<void> {
  const errors: unknown[] = [];
  for (const m of ms) await m?.stop().catch((e: unknown) => errors.push(e));
  if (errors.length) throw new Error(`stop failed: ${errors.map(String).join('; ')}`);
}

function lineReader(c: ChildProcess): () => Promise<string> {
  const it = createInterface({ input: c.stdout! })[Symbol.asyncIterator]();
  return async () => {
    const r = await it.next();
    if (r.done) throw new Error('the workload ended early');
    return r.value as string;
  };
}

// runqlat: a waiter made runnable while a real-time hog (SCHED_FIFO 10) spins SPIN_MS on the
// same CPU waits for the rest of the spin, then runs at once (it is SCHED_FIFO 5: no CFS task,
// such as a CPU burner, goes first). The controller, real-time on another CPU, wakes the
// waiter as soon as the hog says it spins: each wakeup has a run queue latency of SPIN_MS
// less the microseconds of that hand-over.
const SPIN_MS = 24; // 24 000 µs: the middle of the 16384-32767 slot
const WAKEUPS = 15;
const RUNQ = `
my ($n, $spin, $cpu, $waiter) = @ARGV;
pipe(my $hr, my $hw); pipe(my $sr, my $sw); pipe(my $wr, my $ww); pipe(my $br, my $bw);
my $hog = fork() // die;
if (!$hog) {
  open(STDIN, '<&', $hr) or die; open(STDOUT, '>&', $sw) or die; close($_) for $hw, $sr, $wr, $ww, $br, $bw;
  exec('taskset', '-c', $cpu, 'chrt', '-f', '10', $^X, '-e',
       'use Time::HiRes qw(time); my $s = shift; while (sysread(STDIN, my $b, 1)) { syswrite(STDOUT, "s", 1); my $e = time + $s / 1000; 1 while time < $e }', $spin) or die;
}
my $w = fork() // die;
if (!$w) {
  open(STDIN, '<&', $wr) or die; open(STDOUT, '>&', $bw) or die; close($_) for $hr, $hw, $sr, $sw, $ww, $br;
  exec('taskset', '-c', $cpu, 'chrt', '-f', '5', $waiter, '-e', 'while (sysread(STDIN, my $b, 1)) { syswrite(STDOUT, "x", 1) }') or die;
}
close($_) for $hr, $sw, $wr, $bw;
$| = 1; print "ready\\n"; my $go = <STDIN>;
# Wake the hog, wait until it spins, wake the waiter, wait until the waiter ran (so the hog is
# idle again), pause.
for (1..$n) { syswrite($hw, "x", 1); sysread($sr, my $s, 1); syswrite($ww, "x", 1); sysread($br, my $b, 1); select(undef, undef, undef, 0.01) }
close($hw); close($ww); waitpid($hog, 0); waitpid($w, 0); print "done\\n";
`;

describe('latency units: samples land in the slots their known latency gives', () => {
  it(`runqlat: a wakeup held ${SPIN_MS} ms behind a real-time hog on the same CPU counts in 16384-32767 µs`, async () => {
    const cpu = String(os.cpus().length - 1);
    // The controller runs on another CPU: on the hog's, the hog would hold up the controller's
    // second write instead of the waiter.
    const ctl = spawn('taskset', ['-c', '0', 'chrt', '-f', '5', namedPerl('pmdarq-ctl'), '-e', RUNQ, String(WAKEUPS), String(SPIN_MS), cpu, namedPerl('pmdarq-wait')], { stdio: ['pipe', 'pipe', 'inherit'] });
    let m: ModuleInstance | null = null;
    try {
      const line = lineReader(ctl);
      expect(await line()).toBe('ready');
      // The waiter exists before the start: the filter's first scan of /proc finds it.
      const { ctx } = context(runqlat, { process: 'pmdarq-wait' });
      m = runqlat.create(ctx);
      await m.start();
      const before = buckets(runqlat, ctx, m, 0);
      ctl.stdin!.write('go\n');
      expect(await line()).toBe('done');
      expect(await exited(ctl)).toBe(0);
      const got = grown(before, buckets(runqlat, ctx, m, 0));
      const held = got.filter((b) => b.name === '16384-32767');
      // Every held wakeup; at most a few more (the waiter's last wakeup at EOF, unheld).
      expect(count(held), show(got)).toBe(WAKEUPS);
      expect(count(got), show(got)).toBeLessThanOrEqual(WAKEUPS + 3);
      // Nothing above the spin's slot: an upper bound as well as a lower one.
      expect(got.filter((b) => b.lo > 32767), show(got)).toEqual([]);
    } finally {
      if (ctl.exitCode === null) ctl.kill('SIGKILL');
      await stopAll(m);
    }
  });

  // biolatency: O_DIRECT writes to a loop device of our own that writes through to the disk
  // under /. Per request, the histogram's latency (issue to completion) is within the kernel's
  // own accounting for the device (request start to completion, /sys/block/X/stat, in ms) and
  // within dd's wall time; from below, it is most of the kernel's (issue follows start by
  // microseconds on a loop device, whose requests take far longer).
  it('biolatency: per-request latencies of a loop device sum to the kernel\'s write time and fit in dd\'s wall time', async () => {
    const COUNT = 200;
    const loop = makeLoop(64, true);
    let m: ModuleInstance | null = null;
    try {
      const { ctx } = context(biolatency);
      m = biolatency.create(ctx);
      await m.start();
      ddDirectWrite(loop.dev, 1); // first touch outside the window
      const mine = (bs: Bucket[]) => bs.filter((b) => b.name.startsWith(`${loop.name}::`));
      const before = mine(buckets(biolatency, ctx, m, 1));
      const k0 = diskStat(loop.name);
      const wallUs = ddDirectWrite(loop.dev, COUNT);
      const k1 = diskStat(loop.name);
      const got = grown(before, mine(buckets(biolatency, ctx, m, 1)));
      const kernelUs = (k1.writeMs - k0.writeMs) * 1000;
      const why = `${show(got)}; kernel ${k1.writes - k0.writes} writes in ${kernelUs} µs, dd ${wallUs} µs`;
      expect(k1.writes - k0.writes).toBe(COUNT);
      expect(count(got), why).toBe(COUNT);
      // Enough time for the comparison to mean something (ms resolution of the reference).
      expect(kernelUs, why).toBeGreaterThanOrEqual(10_000);
      const atLeast = got.reduce((s, b) => s + b.n * b.lo, 0);
      const below = got.reduce((s, b) => s + b.n * (b.hi + 1), 0);
      expect(atLeast, why).toBeLessThanOrEqual(Math.min(kernelUs + 1000, wallUs));
      expect(below, why).toBeGreaterThanOrEqual(kernelUs / 2);
    } finally {
      try {
        await stopAll(m);
      } finally {
        loop.release();
      }
    }
  });

  // ext4dist: one read() of a large cached file, timed around the syscall by the workload
  // itself. The syscall-tracepoint variant measures that same call, so its latency is at most
  // the measured wall time, and at least half of it (the clock reads and the syscall entry
  // and exit are microseconds, the copy is milliseconds).
  it('ext4dist: each read of 32 MiB lands in a slot between half its wall time and its wall time', async () => {
    const READS = 5;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmda-ebpf-fsread-'));
    const WL = `
      use Time::HiRes qw(time); $| = 1; my ($f, $n) = @ARGV; my $sz = 32 << 20;
      open(my $h, '+>', $f) or die; syswrite($h, 'x' x $sz) == $sz or die; sysseek($h, 0, 0); sysread($h, my $w, $sz);
      print "ready\\n"; my $go = <STDIN>;
      for (1..$n) { sysseek($h, 0, 0); my $t = time; sysread($h, my $b, $sz) == $sz or die; print int((time - $t) * 1e6), "\\n" }
      print "done\\n";`;
    const wl = spawn(namedPerl('pmdafs-big'), ['-e', WL, path.join(dir, 'big'), String(READS)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let m: ModuleInstance | null = null;
    try {
      const line = lineReader(wl);
      expect(await line()).toBe('ready');
      const { ctx } = context(ext4dist, { process: 'pmdafs-big' });
      m = ext4dist.create(ctx);
      await m.start();
      const before = buckets(ext4dist, ctx, m, 1);
      wl.stdin!.write('go\n');
      const walls: number[] = [];
      for (let l = await line(); l !== 'done'; l = await line()) walls.push(Number(l));
      const got = grown(before, buckets(ext4dist, ctx, m, 1));
      const why = `${show(got)}; reads took ${walls.join(', ')} µs`;
      expect(walls.length).toBe(READS);
      expect(count(got), why).toBe(READS);
      for (const b of got) {
        expect(b.lo, why).toBeLessThanOrEqual(Math.max(...walls));
        expect(b.hi + 1, why).toBeGreaterThan(Math.min(...walls) / 2);
      }
    } finally {
      if (wl.exitCode === null) wl.kill('SIGKILL');
      try {
        await stopAll(m);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});
