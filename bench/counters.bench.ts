// Costs of the counting tools:
//  1. syscount's overhead on a syscall-bound loop (`dd if=/dev/zero of=/dev/null bs=1
//     count=1M`: 2M read/write syscalls) as a ratio of wall time vs no module, latency off
//     (one exit hook) and on (entry + exit hooks and a start map), unfiltered as deployed;
//  2. kernel time per BPF program run (bpf_enable_stats) of each hook while dd runs;
//  3. tracepoint_hits and exectop per hooked event (getppid / failed exec loops).
// Run: npm run build && node dist/bench/counters.bench.js   (COUNTERS_BENCH_ROUNDS, default 3)
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { enableBpfStats } from '../src/bpf';
import { exectop } from '../src/modules/exectop';
import type { KeyedCounterTool } from '../src/modules/shared/keyed-counter';
import { syscount } from '../src/modules/syscount';
import { tracepoint_hits } from '../src/modules/tracepoint_hits';
import { makeModuleContext } from '../src/pmda/module-context';
import type { ModuleInstance, ModuleSpec } from '../src/pmda/module';

const ROOT = path.resolve(__dirname, '../..');
const BPF_DIR = path.join(ROOT, 'bpf/.output');
const STATE = fs.mkdtempSync(path.join(os.tmpdir(), 'counters-bench-'));
const log = pino({ level: 'warn' }, pino.destination({ dest: path.join(STATE, 'bench.log'), sync: true }));
const ROUNDS = Number(process.env.COUNTERS_BENCH_ROUNDS ?? 3);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function ddSeconds(): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('dd', ['if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=1M'], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`dd exited ${r.status}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function withModule<T>(spec: ModuleSpec, raw: Record<string, string>, f: (m: ModuleInstance) => T): Promise<T> {
  const ctx = makeModuleContext(spec, { domain: 149, log, paths: { bpfDir: BPF_DIR, stateDir: STATE }, raw, persist: false });
  const m = spec.create(ctx);
  await m.start();
  try {
    return f(m);
  } finally {
    await m.stop();
  }
}

function perRun(m: ModuleInstance, programs: string[], work: () => void): string {
  const obj = (m as KeyedCounterTool<never, never>).loaded!.obj;
  const stats = enableBpfStats();
  try {
    const before = programs.map((p) => obj.programStats(p));
    work();
    return programs
      .map((p, i) => {
        const a = obj.programStats(p);
        const runs = a.runCount - before[i]!.runCount;
        const ns = runs > 0n ? Number(a.runTimeNs - before[i]!.runTimeNs) / Number(runs) : NaN;
        return `${p} ${ns.toFixed(0)} ns/run over ${runs} runs`;
      })
      .join(', ');
  } finally {
    stats.close();
  }
}

async function main(): Promise<void> {
  execFileSync('make', ['-s', '-C', path.join(ROOT, 'bpf')], { stdio: 'inherit' });
  const base: number[] = [];
  const off: number[] = [];
  const on: number[] = [];
  ddSeconds(); // warm the page cache and the binary
  for (let r = 0; r < ROUNDS; r++) {
    base.push(ddSeconds());
    off.push(await withModule(syscount, { latency: 'false' }, () => ddSeconds()));
    on.push(await withModule(syscount, { latency: 'true' }, () => ddSeconds()));
  }
  const b = median(base);
  console.log(`syscount on dd bs=1 count=1M (2M syscalls), median of ${ROUNDS} rounds, interleaved:`);
  console.log(`  no module      ${b.toFixed(3)} s`);
  console.log(`  latency off    ${median(off).toFixed(3)} s  ratio ${(median(off) / b).toFixed(2)}x`);
  console.log(`  latency on     ${median(on).toFixed(3)} s  ratio ${(median(on) / b).toFixed(2)}x`);
  console.log(`  BPF per run, latency off: ${await withModule(syscount, {}, (m) => perRun(m, ['tpbtf_sys_exit'], ddSeconds))}`);
  console.log(`  BPF per run, latency on:  ${await withModule(syscount, { latency: 'true' }, (m) => perRun(m, ['tpbtf_sys_enter', 'tpbtf_sys_exit'], ddSeconds))}`);
  const getppid = () => execFileSync('perl', ['-e', 'for (1..200000) { getppid() }']);
  console.log(`tracepoint_hits (syscalls:sys_enter_getppid): ${await withModule(tracepoint_hits, { tracepoints: 'syscalls:sys_enter_getppid' }, (m) => perRun(m, ['tp_hit'], getppid))}`);
  const execs = () => execFileSync('perl', ['-e', "for (1..20000) { exec('/nonexistent/x') }"]);
  console.log(`exectop (failed execs): ${await withModule(exectop, {}, (m) => perRun(m, ['tp_exit_execve', 'tp_exit_execveat'], execs))}`);
  fs.rmSync(STATE, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
