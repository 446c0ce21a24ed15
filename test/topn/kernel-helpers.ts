// Shared by the biotop and tcptop kernel tests: build the objects, drive a module through
// makeModuleContext, run workloads whose pids we know, and read a top-N table back as rows.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { ModuleState, makeModuleContext } from '../../src/pmda/module-context';
import type { ModuleInstance, ModuleSpec } from '../../src/pmda/module';

export const ROOT = path.resolve(__dirname, '../..');
export const BPF_DIR = path.join(ROOT, 'bpf/.output');
export const log = pino({ level: 'debug' }, pino.destination({ dest: '/tmp/topn-test.log', sync: true }));

export function buildObjects(...names: string[]): void {
  execFileSync('make', ['-s', '-C', path.join(ROOT, 'bpf'), ...names.map((n) => `.output/${n}.bpf.o`)], { stdio: 'pipe' });
}

export interface Running {
  module: ModuleInstance;
  state: ModuleState;
}

export function create(spec: ModuleSpec, raw: Record<string, string>): Running {
  const state = new ModuleState();
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topn-state-'));
  const ctx = makeModuleContext(spec, { domain: 149, log, paths: { bpfDir: BPF_DIR, stateDir }, raw, persist: false }, state);
  return { module: spec.create(ctx), state };
}

/** Every metric of the module, fetched once after one refresh, as rows keyed by metric leaf. */
export function rows(spec: ModuleSpec, m: ModuleInstance, refresh = true): Record<string, unknown>[] {
  if (refresh) m.refresh?.(new Set(spec.metrics.map((x) => x.item)));
  const out: Record<string, unknown>[] = [];
  for (const metric of spec.metrics) {
    const leaf = metric.name.slice(metric.name.lastIndexOf('.') + 1);
    const got = m.fetch(metric.item, { slot: 0, ctxid: 0 });
    if (typeof got === 'number') throw new Error(`fetch ${metric.name} gave error ${got}`);
    for (const { inst, value } of got) (out[inst] ??= {})[leaf] = value;
  }
  // slots are filled from 0 without gaps
  for (let i = 0; i < out.length; i++) if (!out[i]) throw new Error(`slot ${i} empty below a filled one`);
  return out;
}

/** Run a command to completion; resolves with its pid. */
export function run(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(child.pid!) : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err}`))));
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
