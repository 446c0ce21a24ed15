// Costs of the histogram tools (runqlat, biolatency, ext4/xfs/zfsdist):
//  1. scheduler overhead: `perf bench sched pipe` with runqlat attached vs not (target ≤ 1.10×),
//     with the histogram in a per-CPU array (what the agent uses) and in a shared array;
//  2. kernel time per BPF program run (bpf_enable_stats) for the same two layouts;
//  3. one histogram refresh (the batch read a fetch does) and module start times.
// Run: npm run build:ts && make -C bpf && node dist/bench/hist.bench.js
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { BPF_MAP_TYPE, enableBpfStats, possibleCpus } from '../src/bpf';
import { biolatency } from '../src/modules/biolatency';
import { ext4dist, xfsdist, zfsdist } from '../src/modules/fsdist';
import { HistogramTool } from '../src/modules/shared/histogram-module';
import { runqlat, runqlatHooks } from '../src/modules/runqlat';
import { makeModuleContext } from '../src/pmda/module-context';
import type { ModuleSpec } from '../src/pmda/module';

const ROOT = path.resolve(__dirname, '../..');
const BPF_DIR = path.join(ROOT, 'bpf/.output');
const STATE = fs.mkdtempSync(path.join(os.tmpdir(), 'hist-bench-'));
const LOG = path.join(STATE, 'bench.log');
const log = pino({ level: 'info' }, pino.destination({ dest: LOG, sync: true }));
const ROUNDS = Number(process.env.HIST_BENCH_ROUNDS ?? 7);
const LOOPS = Number(process.env.HIST_BENCH_LOOPS ?? 50000);

const ctxFor = (spec: ModuleSpec, raw: Record<string, string> = {}) =>
  makeModuleContext(spec, { domain: 149, log, paths: { bpfDir: BPF_DIR, stateDir: STATE }, raw, persist: false });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function runqlatTool(layout: 'percpu' | 'shared'): HistogramTool {
  return new HistogramTool(ctxFor(runqlat), {
    object: 'runqlat.bpf.o',
    hooks: runqlatHooks,
    histograms: 1,
    indomSerial: 4,
    itemToHistogram: (i) => (i === 0 ? 0 : undefined),
    filter: true,
    configure: (o) => {
      if (layout === 'shared') o.setMapType('hist', BPF_MAP_TYPE.ARRAY);
    },
  });
}

/** µs per round trip reported by perf bench sched pipe. */
function perfPipe(pinned: boolean): number {
  const args = ['bench', 'sched', 'pipe', '-l', String(LOOPS)];
  const r = pinned ? spawnSync('taskset', ['-c', '0', 'perf', ...args], { encoding: 'utf8' }) : spawnSync('perf', args, { encoding: 'utf8' });
  const m = /([\d.]+) usecs\/op/.exec(r.stdout ?? '');
  if (!m) throw new Error(`perf bench sched pipe: no usecs/op in output: ${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

async function schedOverhead(): Promise<string[]> {
  const lines: string[] = [];
  for (const pinned of [false, true]) {
    const t: Record<string, number[]> = { none: [], percpu: [], shared: [] };
    // Interleaved so that drift in the machine's load hits every configuration alike.
    for (let r = 0; r < ROUNDS; r++) {
      t.none.push(perfPipe(pinned));
      for (const layout of ['percpu', 'shared'] as const) {
        const m = runqlatTool(layout);
        await m.start();
        try {
          t[layout].push(perfPipe(pinned));
        } finally {
          await m.stop();
        }
      }
    }
    const base = median(t.none);
    const fmt = (k: string) => `${median(t[k]).toFixed(2)} µs/op (×${(median(t[k]) / base).toFixed(3)})`;
    lines.push(
      `  perf bench sched pipe -l ${LOOPS}${pinned ? ' (taskset -c 0)' : ' (unpinned)'}, median of ${ROUNDS}: ` +
        `none ${base.toFixed(2)} µs/op; runqlat per-CPU hist ${fmt('percpu')}; runqlat shared hist ${fmt('shared')}`,
    );
  }
  return lines;
}

async function programCosts(): Promise<string[]> {
  const lines: string[] = [];
  for (const layout of ['percpu', 'shared'] as const) {
    const m = runqlatTool(layout);
    await m.start();
    const stats = enableBpfStats();
    try {
      const obj = m.object!;
      const progs = obj.loadedPrograms();
      const before = Object.fromEntries(progs.map((p) => [p, obj.programStats(p)]));
      const usPerOp = perfPipe(false);
      let ns = 0;
      const parts = progs.map((p) => {
        const a = before[p];
        const b = obj.programStats(p);
        const n = Number(b.runCount - a.runCount);
        ns += Number(b.runTimeNs - a.runTimeNs);
        return `${p} ${n ? (Number(b.runTimeNs - a.runTimeNs) / n).toFixed(0) : '-'} ns × ${n}`;
      });
      // The programs' own CPU time per round trip: a load-independent view of the overhead
      // (it counts every task's switches meanwhile, so it slightly overstates the bench's share).
      const perOp = ns / LOOPS / 1000;
      lines.push(`  runqlat (${layout} hist) ns per program run during one perf bench: ${parts.join(', ')}`);
      lines.push(
        `    → BPF time per round trip ${perOp.toFixed(2)} µs = ${((100 * perOp) / usPerOp).toFixed(1)}% of the ${usPerOp.toFixed(1)} µs round trip`,
      );
    } finally {
      stats.close();
      await m.stop();
    }
  }
  return lines;
}

/** ns per call of fn, by this process's CPU time, median of rounds. */
function cpuTimed(fn: () => void): number {
  const rates: number[] = [];
  for (let warm = 0; warm < 2000; warm++) fn();
  for (let r = 0; r < 7; r++) {
    const c0 = process.cpuUsage();
    let n = 0;
    let used = 0;
    while (used < 100_000) {
      for (let i = 0; i < 100; i++) fn();
      n += 100;
      const c = process.cpuUsage(c0);
      used = c.user + c.system;
    }
    rates.push((used * 1000) / n);
  }
  return median(rates);
}

async function refreshCost(): Promise<string[]> {
  const lines: string[] = [];
  for (const [spec, items] of [
    [runqlat, [0]],
    [ext4dist, [0, 1, 2, 3]],
  ] as [ModuleSpec, number[]][]) {
    const ctx = ctxFor(spec);
    const m = spec.create(ctx) as HistogramTool;
    await m.start();
    try {
      const set = new Set<number>(items);
      execFileSync('perf', ['bench', 'sched', 'pipe', '-l', '2000'], { stdio: 'ignore' }); // some buckets filled
      const refresh = cpuTimed(() => m.refresh());
      const fetch = cpuTimed(() => {
        m.refresh();
        for (const i of set) m.fetch(i, { slot: 0, ctxid: 0 });
      });
      const map = m.object!.map('hist');
      lines.push(
        `  ${spec.name}: refresh (1 batch lookup of ${map.maxEntries} × ${possibleCpus()} CPU u64) ${(refresh / 1000).toFixed(1)} µs; ` +
          `refresh + fetch of ${set.size} metric(s) ${(fetch / 1000).toFixed(1)} µs (${ctx.indom(spec.indoms[0].serial).instances().length} buckets)`,
      );
    } finally {
      await m.stop();
    }
  }
  return lines;
}

async function startTimes(): Promise<string[]> {
  const lines: string[] = [];
  let allWall = 0;
  let allCpu = 0;
  for (const spec of [runqlat, biolatency, ext4dist, xfsdist, zfsdist] as ModuleSpec[]) {
    const wall: number[] = [];
    const cpu: number[] = [];
    let outcome = 'ok';
    for (let r = 0; r < 5; r++) {
      const m = spec.create(ctxFor(spec));
      const t0 = process.hrtime.bigint();
      const c0 = process.cpuUsage();
      try {
        await m.start();
      } catch (e) {
        outcome = `unavailable: ${(e as Error).message.slice(0, 60)}…`;
      }
      const c = process.cpuUsage(c0);
      wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
      // This process's CPU time, kernel work for it included (BTF parsing, verifier): on a
      // shared machine the wall time mostly measures the other tenants.
      cpu.push((c.user + c.system) / 1000);
      await m.stop();
    }
    allWall += median(wall);
    allCpu += median(cpu);
    lines.push(
      `  start ${spec.name.padEnd(10)} first ${wall[0].toFixed(0).padStart(4)} ms; median ${median(wall).toFixed(0).padStart(4)} ms wall, ` +
        `${median(cpu).toFixed(0).padStart(4)} ms CPU  (${outcome})`,
    );
  }
  lines.push(`  all five, one after another (medians): ${allWall.toFixed(0)} ms wall, ${allCpu.toFixed(0)} ms CPU (each load parses vmlinux BTF, ~75 ms CPU, inside libbpf 1.1)`);
  return lines;
}

async function main(): Promise<void> {
  const pmdabpf = spawnSync('pgrep', ['-x', 'pmdabpf']).status === 0;
  const out = [
    `histogram tools: node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)}` +
      (pmdabpf ? '; pmdabpf is running (its tp_btf runqlat is attached in every configuration, the baseline too)' : ''),
    ...(await startTimes()),
    ...(await refreshCost()),
    ...(await programCosts()),
    ...(await schedOverhead()),
  ];
  process.stdout.write(out.join('\n') + '\n');
  fs.rmSync(STATE, { recursive: true, force: true });
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\nlog: ${LOG}\n`);
  process.exit(1);
});
