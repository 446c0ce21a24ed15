// What ucalls costs a traced program: a function-call-heavy python3.11 loop timed with no
// module, with ucalls counting (latency off: one uprobe per call) and with latency on (two
// uprobes per call: entry and return), interleaved rounds, medians. The loop runs with a
// profile hook set in every configuration (CPython 3.11 fires its function probes only then);
// the hook is `lambda *a: None`, so the baseline is the interpreter's own cost of running
// with a hook and the ratios are what the probes add.
// Run: npm run build:ts && make -C bpf && node dist/bench/usdt.bench.js
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { ucalls } from '../src/modules/ucalls';
import { makeModuleContext } from '../src/pmda/module-context';

const ROOT = path.resolve(__dirname, '../..');
const BPF_DIR = path.join(ROOT, 'bpf/.output');
const STATE = fs.mkdtempSync(path.join(os.tmpdir(), 'usdt-bench-'));
const log = pino({ level: 'warn' }, pino.destination({ dest: path.join(STATE, 'bench.log'), sync: true }));
const ROUNDS = Number(process.env.USDT_BENCH_ROUNDS ?? 5);
const CALLS = Number(process.env.USDT_BENCH_CALLS ?? 300_000);
const PYTHON = '/usr/bin/python3.11';
const SCRIPT = path.join(STATE, 'ucallsbench.py');

fs.writeFileSync(
  SCRIPT,
  [
    'import sys, time',
    'def g(i): return i',
    'sys.setprofile(lambda *a: None)',
    't = time.perf_counter()',
    `for i in range(${CALLS}): g(i)`,
    'd = time.perf_counter() - t',
    'sys.setprofile(None)',
    'print(d)',
  ].join('\n'),
);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const run = () => Number(execFileSync(PYTHON, [SCRIPT], { encoding: 'utf8' }).trim());

async function withModule<T>(latency: boolean, fn: () => T): Promise<T> {
  const ctx = makeModuleContext(ucalls, {
    domain: 149,
    log,
    paths: { bpfDir: BPF_DIR, stateDir: STATE },
    raw: { process: '.*/ucallsbench\\.py', latency: String(latency), process_refresh: '0' },
    persist: false,
  });
  const m = ucalls.create(ctx);
  await m.start();
  try {
    // process_refresh 0: the one scan at start finds the python that waits on stdin.
    return fn();
  } finally {
    await m.stop();
  }
}

/** One timed run of the script with the module attached to it before it starts its loop. */
async function timed(config: 'none' | 'count' | 'latency'): Promise<number> {
  if (config === 'none') return run();
  // The module attaches to processes it finds; start python first, paused on stdin, then the module.
  const { spawn } = await import('node:child_process');
  const p = spawn(PYTHON, ['-c', `import sys; sys.stdin.readline(); exec(open(${JSON.stringify(SCRIPT)}).read())`, SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => p.on('exit', () => r()));
  await new Promise((r) => setTimeout(r, 150));
  return withModule(config === 'latency', async () => {
    p.stdin!.write('go\n');
    await exited;
    return Number(out.trim());
  });
}

async function main(): Promise<void> {
  const t: Record<'none' | 'count' | 'latency', number[]> = { none: [], count: [], latency: [] };
  for (let r = 0; r < ROUNDS; r++) for (const c of ['none', 'count', 'latency'] as const) t[c].push(await timed(c));
  const base = median(t.none);
  const lines = [
    `ucalls on a python3.11 loop of ${CALLS} calls (profile hook set in all), median of ${ROUNDS}:`,
    `  no module        ${(base * 1000).toFixed(1)} ms  (${((base / CALLS) * 1e9).toFixed(0)} ns/call)`,
  ];
  for (const c of ['count', 'latency'] as const) {
    const v = median(t[c]);
    lines.push(
      `  ucalls ${c === 'count' ? 'latency=off' : 'latency=on '} ${(v * 1000).toFixed(1)} ms  ratio ${(v / base).toFixed(2)}x  +${(((v - base) / CALLS) * 1e9).toFixed(0)} ns/call`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
  fs.rmSync(STATE, { recursive: true, force: true });
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
