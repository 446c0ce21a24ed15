// profile's cost on the agent side, with real sampling of real CPU burners:
//  1. agent CPU per second of the whole profile module (timer drains every second plus one
//     refresh+fetch of bcc.proc.stacks per second, as pmcd at a 1 s interval) at 47 Hz and at
//     999 Hz, both CPUs sampled, two burners keeping both CPUs busy;
//  2. one drain (flip + batch read + stack lookups) and its symbolisation with ~1,000 distinct
//     stacks in the maps: cold (first pass: kallsyms, ELF files read) and warm.
//  3. (unwind) the .eh_frame unwinder against the kernel's frame-pointer walker on the same
//     burners: BPF time per sample (bpf_stats: it runs in the sampled task's interrupt, not
//     in the agent), agent CPU at 47 and 999 Hz, and the unwind tables of the largest files
//     on the host (node, libc, python): build time and bytes per MB of text.
// Run: npm run build:ts && make -C bpf && node dist/bench/profile.bench.js
//      PROFILE_BENCH_PARTS=unwind node dist/bench/profile.bench.js   (the unwinder only)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { enableBpfStats, onlineCpus } from '../src/bpf';
import { readLoadSegments } from '../src/modules/profile/elf';
import { Unwinder } from '../src/modules/profile/unwinder';
import { buildUnwindTable } from '../src/modules/profile/unwind-table';
import { profile } from '../src/modules/profile';
import { Collector } from '../src/modules/profile/collect';
import { HotStacks } from '../src/modules/profile/hot-stacks';
import { Sampler } from '../src/modules/profile/sampler';
import { Symbolizer } from '../src/modules/profile/symbolizer';
import { parseProcessSpec, TaskFilter } from '../src/modules/shared/filter';
import { InstanceDomain } from '../src/pmda/indom';
import { makeModuleContext } from '../src/pmda/module-context';

const ROOT = path.resolve(__dirname, '../..');
const BPF_DIR = process.env.BPF_DIR ?? path.join(ROOT, 'bpf/.output');
const FIXTURES = path.join(ROOT, 'test/profile/fixtures');
const RUN_S = Number(process.env.PROFILE_BENCH_SECONDS ?? 10);
/** Which parts to run: cpu, stacks (both by default). */
const PARTS = (process.env.PROFILE_BENCH_PARTS ?? 'cpu,stacks').split(',');
/** Sampling rates of the CPU part. */
const RATES = (process.env.PROFILE_BENCH_HZ ?? '47,999').split(',').map(Number);
const log = pino({ level: 'silent' });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'profile-bench-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function compile(name: string, flags = ['-O1', '-fno-omit-frame-pointer', '-fno-optimize-sibling-calls']): string {
  const out = path.join(tmp, `${name}${flags.join('')}`);
  execFileSync('cc', [...flags, '-o', out, path.join(FIXTURES, `${name}.c`)]);
  return out;
}

function burners(bin: string, args: string[], n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(bin, args, { stdio: 'ignore' }));
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

async function moduleCpu(freq: number, bin: string, onlyBurners: boolean, unwinder = 'frame_pointer'): Promise<string> {
  const kids = burners(bin, [String(RUN_S + 6), '10'], 2);
  await sleep(100);
  try {
    const stateDir = path.join(tmp, `state-${freq}`);
    const ctx = makeModuleContext(profile, {
      domain: 149,
      log,
      paths: { bpfDir: BPF_DIR, stateDir },
      raw: { sample_frequency: String(freq), unwinder, ...(onlyBurners ? { process: kids.map((k) => k.pid).join(','), include_idle: 'false' } : {}) },
      persist: false,
    });
    const m = profile.create(ctx);
    await m.start();
    const items = new Set([1, 2]);
    const client = { slot: 0, ctxid: 0 };
    // Warm-up: the first passes read the ELF files of everything running and name a backlog.
    for (let i = 0; i < 4; i++) {
      await sleep(1000);
      m.refresh!(items);
      m.fetch(1, client);
    }
    const samples0 = (m.fetch(2, client) as { value: bigint }[])[0].value;
    const rss0 = process.memoryUsage().rss;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let instances = 0;
    for (let i = 0; i < RUN_S; i++) {
      await sleep(1000);
      m.refresh!(items);
      instances = (m.fetch(1, client) as unknown[]).length;
    }
    const wall = (performance.now() - t0) / 1000;
    const used = process.cpuUsage(c0);
    const cpu = cpuMs(used);
    const sysShare = used.system / (used.user + used.system);
    const samples = (m.fetch(2, client) as { value: bigint }[])[0].value - samples0;
    const rss = process.memoryUsage().rss;
    await m.stop();
    return (
      `  ${String(freq).padStart(3)} Hz, ${unwinder.padEnd(13)}, ${onlyBurners ? 'burners only ' : 'every process'}: ${(cpu / wall).toFixed(1).padStart(5)} ms CPU per second (${(cpu / wall / 10).toFixed(2)}% of one CPU, ${(sysShare * 100).toFixed(0)}% in the kernel)` +
      `   ${(Number(samples) / wall).toFixed(0).padStart(5)} samples/s named (timers fire ${freq * onlineCpus().length}/s)   ${instances} bcc.proc.stacks instances   RSS ${(rss / 2 ** 20).toFixed(0)} MiB (${((rss - rss0) / 2 ** 20).toFixed(1)} MiB growth)\n`
    );
  } finally {
    kids.forEach((k) => k.kill('SIGKILL'));
  }
}

async function thousandStacks(bin: string): Promise<string> {
  const kids = burners(bin, ['40', '10'], 2);
  await sleep(200);
  const filter = new TaskFilter(parseProcessSpec(kids.map((k) => k.pid).join(','))!, null, log);
  const sampler = new Sampler({
    bpfFile: path.join(BPF_DIR, 'profile.bpf.o'),
    cpus: onlineCpus(),
    frequency: 999,
    userStacksOnly: false,
    kernelStacksOnly: false,
    includeIdle: false,
    stackStorageSize: 16384,
    configure: (o) => filter.configure(o),
    log,
  });
  const lines: string[] = [];
  try {
    sampler.start();
    filter.start(sampler.objectHandle!);
    sampler.drain();
    const symbolizer = new Symbolizer({ log });
    const hot = new HotStacks(new InstanceDomain(0, null), { windowMs: 60_000, maxStacks: 100, maxTracked: 100_000 });
    const collector = new Collector(symbolizer, hot);
    interface Round {
      keys: number;
      distinct: number;
      /** wall and CPU ms of the kernel-map drain, and of naming and aggregating */
      read: number;
      readCpu: number;
      sym: number;
      symCpu: number;
      missed: number;
    }
    const rounds: Round[] = [];
    for (let r = 0; r < 5; r++) {
      await sleep(5000);
      const missedBefore = collector.totals.missedUser;
      const before = hot.tracked;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const d = sampler.drain();
      const t1 = performance.now();
      const c1 = process.cpuUsage();
      collector.push(d);
      collector.run(Infinity);
      const t2 = performance.now();
      const c2 = process.cpuUsage();
      rounds.push({
        keys: d.stacks.length,
        distinct: hot.tracked - (r === 0 ? 0 : before),
        read: t1 - t0,
        readCpu: cpuMs(c1) - cpuMs(c0),
        sym: t2 - t1,
        symCpu: cpuMs(c2) - cpuMs(c1),
        missed: collector.totals.missedUser - missedBefore,
      });
    }
    const f = (x: number) => x.toFixed(1).padStart(6);
    const line = (x: Round) =>
      `drain ${f(x.readCpu)} ms CPU (${f(x.read)} wall) + symbolise ${f(x.symCpu)} ms CPU (${f(x.sym)} wall) = ${f(x.readCpu + x.symCpu)} ms CPU, ` +
      `${(((x.readCpu + x.symCpu) * 1000) / x.keys).toFixed(0)} µs per key`;
    const cold = rounds[0];
    lines.push(`  cold (first pass)  : ${cold.keys} (process, stack) keys, ${cold.distinct} distinct named stacks; ${line(cold)}`);
    const warm = rounds.slice(1).sort((a, b) => a.readCpu + a.symCpu - (b.readCpu + b.symCpu));
    const med = warm[Math.floor(warm.length / 2)];
    lines.push(`  warm (median of ${warm.length}) : ${med.keys} keys; ${line(med)}`);
    lines.push(`  user stacks lost to stack-map collisions in the median pass: ${med.missed} samples; ids stored now ${sampler.storedStacks}`);
  } finally {
    filter.stop();
    sampler.stop();
    kids.forEach((k) => k.kill('SIGKILL'));
  }
  return `${lines.join('\n')}\n`;
}

/** BPF ns per sample of each user-stack walker, on the same burners. */
async function bpfPerSample(bin: string, mode: 'eh_frame' | 'frame_pointer'): Promise<string> {
  const kids = burners(bin, ['20', '10'], 2);
  await sleep(100);
  const stats = enableBpfStats();
  const filter = new TaskFilter(parseProcessSpec(kids.map((k) => k.pid).join(','))!, null, log);
  const sampler = new Sampler({
    bpfFile: path.join(BPF_DIR, 'profile.bpf.o'),
    cpus: onlineCpus(),
    frequency: 999,
    userStacksOnly: false,
    kernelStacksOnly: false,
    includeIdle: false,
    stackStorageSize: 16384,
    unwinder: mode,
    unwindChunks: 8192,
    unwindProcs: 64,
    configure: (o) => filter.configure(o),
    onNewProcess: (pid) => unwinder?.observe(pid),
    log,
  });
  let unwinder: Unwinder | null = null;
  try {
    sampler.start();
    filter.start(sampler.objectHandle!);
    const maps = sampler.unwindMaps();
    unwinder = maps ? new Unwinder({ maps, log }) : null;
    for (const k of kids) unwinder?.observe(k.pid!);
    unwinder?.run(Infinity);
    await sleep(500);
    sampler.drain();
    const prog = mode === 'eh_frame' ? 'sample_unwind' : 'sample';
    const s0 = sampler.objectHandle!.programStats(prog);
    for (let i = 0; i < 5; i++) {
      await sleep(1000);
      sampler.drain();
    }
    const s1 = sampler.objectHandle!.programStats(prog);
    const runs = Number(s1.runCount - s0.runCount);
    const ns = Number(s1.runTimeNs - s0.runTimeNs) / Math.max(1, runs);
    const f = unwinder?.frameCounts();
    const frames = f ? `, frames by tables ${f.table}, by frame pointers ${f.framePointer}` : '';
    return `  ${mode.padEnd(13)}: ${ns.toFixed(0).padStart(6)} ns per sample (${runs} samples${frames})\n`;
  } finally {
    filter.stop();
    sampler.stop();
    stats.close();
    kids.forEach((k) => k.kill('SIGKILL'));
  }
}

/** Unwind tables of the largest binaries: build time, rows, bytes per MB of text. */
function tables(): string {
  const files = ['/usr/bin/node', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/usr/bin/python3.11', '/usr/lib/x86_64-linux-gnu/liblzma.so.5'].filter((f) => fs.existsSync(f));
  let out = '';
  for (const file of files) {
    const fd = fs.openSync(file, 'r');
    try {
      const text = readLoadSegments(fd, file)
        .filter((x) => x.exec)
        .reduce((n, x) => n + x.filesz, 0);
      const times: number[] = [];
      let t = buildUnwindTable(fd, file);
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        t = buildUnwindTable(fd, file);
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      out +=
        `  ${path.basename(file).padEnd(16)} text ${(text / 2 ** 20).toFixed(1).padStart(5)} MB: ${String(t.functions.start.length).padStart(6)} FDEs, ${String(t.rows).padStart(7)} rows, ` +
        `${(t.bytes / 2 ** 20).toFixed(2).padStart(5)} MiB = ${((t.bytes / text) * 1000).toFixed(0).padStart(4)} KB per MB of text; built in ${times[1].toFixed(0)} ms (median of 3)\n`;
    } finally {
      fs.closeSync(fd);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const bin = compile('fanout-stacks');
  process.stdout.write(
    `profile: ${onlineCpus().length} CPUs sampled, 2 burners (fanout-stacks: 1024 distinct user stacks), load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}\n`,
  );
  if (PARTS.includes('cpu')) {
    process.stdout.write(
      `agent CPU over ${RUN_S} s, drain every second + one refresh/fetch of bcc.proc.stacks per second\n` +
        '(burners only: process filter on the burners = steady state; every process: also names whatever else starts meanwhile):\n',
    );
    const scopes = (process.env.PROFILE_BENCH_SCOPE ?? 'burners,all').split(',');
    for (const hz of RATES) {
      if (scopes.includes('burners')) process.stdout.write(await moduleCpu(hz, bin, true));
      if (scopes.includes('all')) process.stdout.write(await moduleCpu(hz, bin, false));
    }
  }
  if (PARTS.includes('unwind')) {
    // The same burners built without frame pointers: what the unwinder is for.
    const nofp = compile('fanout-stacks', ['-O2', '-fomit-frame-pointer']);
    process.stdout.write('unwind tables (built off the fetch path, once per file):\n' + tables());
    process.stdout.write('BPF time per sample, 999 Hz, 2 burners (fanout-stacks -O2 -fomit-frame-pointer):\n');
    for (const mode of ['frame_pointer', 'eh_frame'] as const) process.stdout.write(await bpfPerSample(nofp, mode));
    process.stdout.write(`agent CPU over ${RUN_S} s, burners only, same burners:\n`);
    for (const hz of RATES) for (const mode of ['frame_pointer', 'eh_frame']) process.stdout.write(await moduleCpu(hz, nofp, true, mode));
  }
  if (PARTS.includes('stacks')) {
    process.stdout.write('refresh + symbolise ~1,000 distinct stacks (999 Hz for 5 s between drains):\n');
    process.stdout.write(await thousandStacks(bin));
  }
}

main()
  .catch((e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exitCode = 1;
  })
  .finally(() => fs.rmSync(tmp, { recursive: true, force: true }));
