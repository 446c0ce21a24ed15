// Issue 2/3 benchmark: pmFetch latency through pmcd for this agent's metrics beside PCP's C
// pmdabpf (bpf.runq.latency, 63 instances), measured in one run by the same client
// (python3-pcp, bench/pmfetch.py); the agent's RSS; start-to-ready time of the agent.
// Needs root, pmcd running and this agent installed (./setup.sh). pmdabpf is installed for the
// comparison and removed again if it was not there before.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startUntilReady, stopAgent } from './agent-ready';

const REPO = path.resolve(__dirname, '../..');
const BPF_DIR = '/var/lib/pcp/pmdas/bpf';
const CONF = '/etc/pcp/ebpf/ebpf.conf';
const N = Number(process.env.BENCH_FETCHES ?? 2000);

function sh(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', cwd, input: '', stdio: ['pipe', 'pipe', 'pipe'] });
}

function pids(pattern: string): number[] {
  const r = spawnSync('pgrep', ['-f', pattern], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n').filter(Boolean).map(Number);
}

function memOf(pid: number): { rssMB: number; hwmMB: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return { rssMB: kb('VmRSS') / 1024, hwmMB: kb('VmHWM') / 1024 };
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

const probe = (name: string) => spawnSync('pmprobe', ['-v', name], { encoding: 'utf8' }).stdout ?? '';

/** Time exec → PMDAREADY of the built agent with `config`. */
async function startToReady(config: string): Promise<number> {
  const { proc, readyMs } = await startUntilReady(config, 20_000);
  await stopAgent(proc);
  return readyMs;
}

async function main(): Promise<void> {
  if (!/^bcc\.pmda\.version 1 /m.test(probe('bcc.pmda.version'))) throw new Error('the agent is not installed/answering: run ./setup.sh');

  const hadBpf = fs.readFileSync('/etc/pcp/pmcd/pmcd.conf', 'utf8').match(/^bpf\s/m) !== null;
  if (!hadBpf) {
    process.stdout.write('installing PCP pmdabpf for the comparison ...\n');
    sh('./Install', [], BPF_DIR);
    await waitFor(() => /^bpf\.runq\.latency [1-9]/m.test(probe('bpf.runq.latency')), 30_000);
  }

  // A 64-instance metric of this agent: the execsnoop ring with process_count = 64, filled.
  const saved = fs.existsSync(CONF) ? fs.readFileSync(CONF, 'utf8') : '';
  const restart = async () => {
    for (const p of pids('pmdas/ebpf/dist/src/main.js')) process.kill(p, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    sh('/usr/lib/pcp/bin/pmsignal', ['-a', '-s', 'HUP', 'pmcd']);
    await waitFor(() => /^bcc\.pmda\.version 1 /m.test(probe('bcc.pmda.version')), 30_000);
  };
  try {
    fs.writeFileSync(CONF, `${saved.replace(/^\[execsnoop\][^[]*/m, '')}\n[execsnoop]\nenabled = true\nprocess_count = 64\n`);
    await restart();
    for (let i = 0; i < 80; i++) spawnSync('/bin/true', [`bench-${i}`]);
    await new Promise((r) => setTimeout(r, 1500));

    const metrics = ['bcc.proc.exec.args', 'bcc.proc.exec.pid', 'bcc.runq.latency', 'bpf.runq.latency', 'bcc.pmda.version'];
    const out = sh('/usr/bin/python3', [path.join(REPO, 'bench/pmfetch.py'), String(N), ...metrics]);
    const r = JSON.parse(out) as Record<string, { ninst: number; median_us: number; p99_us: number }>;
    process.stdout.write(`pmFetch through pmcd, ${N} fetches each (python3-pcp client, same run):\n`);
    for (const [m, v] of Object.entries(r)) {
      process.stdout.write(`  ${m.padEnd(22)} ${String(v.ninst).padStart(3)} inst  median ${v.median_us.toFixed(1).padStart(7)} µs  p99 ${v.p99_us.toFixed(1).padStart(7)} µs\n`);
    }
    const ours = r['bcc.runq.latency']!;
    const theirs = r['bpf.runq.latency']!;
    const exec64 = r['bcc.proc.exec.args']!;
    process.stdout.write(`  ratio bcc.runq.latency / bpf.runq.latency: median ${(ours.median_us / theirs.median_us).toFixed(2)}  p99 ${(ours.p99_us / theirs.p99_us).toFixed(2)} (target <= 1.0)\n`);
    process.stdout.write(`  ratio 64-inst bcc.proc.exec.args / bpf.runq.latency: median ${(exec64.median_us / theirs.median_us).toFixed(2)}\n`);

    const [agentPid] = pids('pmdas/ebpf/dist/src/main.js');
    const [bpfPid] = pids('pmdas/bpf/pmdabpf');
    if (agentPid) {
      const m = memOf(agentPid);
      process.stdout.write(`agent memory: RSS ${m.rssMB.toFixed(1)} MB, high-water ${m.hwmMB.toFixed(1)} MB (target RSS <= 64 MB)\n`);
    }
    if (bpfPid) {
      const m = memOf(bpfPid);
      process.stdout.write(`pmdabpf memory: RSS ${m.rssMB.toFixed(1)} MB, high-water ${m.hwmMB.toFixed(1)} MB\n`);
    }

    const times: number[] = [];
    for (let i = 0; i < 5; i++) times.push(await startToReady(CONF));
    times.sort((a, b) => a - b);
    process.stdout.write(`start-to-ready (exec → PMDAREADY, default modules), 5 runs: median ${times[2]!.toFixed(0)} ms, min ${times[0]!.toFixed(0)} ms, max ${times[4]!.toFixed(0)} ms (target <= 1000 ms)\n`);
  } finally {
    fs.writeFileSync(CONF, saved);
    await restart();
    if (!hadBpf) sh('./Remove', [], BPF_DIR);
  }
}

main().catch((e: Error) => {
  process.stderr.write(`core bench failed: ${e.message}\n`);
  process.exit(1);
});
