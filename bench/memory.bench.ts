// Agent memory and start-to-ready per module set: spawns the built agent on a pipe as pmcd
// would (--notready), times exec → PMDAREADY, and reads RSS, high-water and anonymous memory
// 3 s after ready. Targets: RSS <= 64 MB; start-to-ready with the histogram modules <= 1 s.
// Needs root (BPF); does not touch pmcd.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MODULES } from '../src/modules';
import { startUntilReady, stopAgent } from './agent-ready';

const HIST = ['runqlat', 'biolatency', 'ext4dist', 'xfsdist', 'zfsdist'];
const ALL = MODULES.map((m) => m.name);

async function measure(on: string[]): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-mem-'));
  const conf = path.join(dir, 'ebpf.conf');
  fs.writeFileSync(conf, ALL.map((m) => `[${m}]\nenabled = ${on.includes(m)}\n`).join(''));
  const { proc: p, readyMs } = await startUntilReady(conf);
  await new Promise((r) => setTimeout(r, 3000));
  const status = fs.readFileSync(`/proc/${p.pid}/status`, 'utf8');
  const rollup = fs.readFileSync(`/proc/${p.pid}/smaps_rollup`, 'utf8');
  const mb = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0) / 1024;
  await stopAgent(p);
  const label = on.length === 0 ? 'no modules' : on.length === ALL.length ? 'all modules' : on.join(',');
  return `${label.padEnd(48)} ready ${readyMs.toFixed(0).padStart(5)} ms  RSS ${mb(status, 'VmRSS').toFixed(1).padStart(6)} MB  HWM ${mb(status, 'VmHWM').toFixed(1).padStart(6)} MB  anon ${mb(rollup, 'Anonymous').toFixed(1).padStart(5)} MB  PSS ${mb(rollup, 'Pss').toFixed(1).padStart(5)} MB`;
}

async function main(): Promise<void> {
  const sets: string[][] = [[], ...ALL.map((m) => [m]), HIST, ALL];
  for (const s of sets) process.stdout.write(`${await measure(s)}\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`memory bench failed: ${e.message}\n`);
  process.exit(1);
});
