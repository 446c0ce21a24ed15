// Memory soak of the installed agent under pmcd (issue 15, item 1): exec churn + clients
// fetching every bcc metric + a CPU burner for SOAK_MINUTES (default 30), then idle for
// SOAK_IDLE_MINUTES (default 2). RSS and high-water are sampled every 30 s. Target: RSS at the
// end within 10 % of RSS at 5 minutes (a plateau), and lower again once the load stops.
// Not part of `npm run bench` (it takes half an hour): `node dist/bench/soak.js`.
// Touches pmcd: run it under the shared lock (flock -o /tmp/pmcd.lock ...).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 30);
const IDLE_MINUTES = Number(process.env.SOAK_IDLE_MINUTES ?? 2);
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 20);
const SAMPLE_MS = 30_000;

function agentPid(): number {
  const r = spawnSync('pgrep', ['-f', '/var/lib/pcp/pmdas/ebpf/dist/src/main.js'], { encoding: 'utf8' });
  const pid = Number((r.stdout ?? '').split('\n')[0]);
  if (!pid) throw new Error('the agent is not running under pmcd (./Install first)');
  return pid;
}

function memMb(pid: number): { rss: number; hwm: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

async function main(): Promise<void> {
  const pid = agentPid();
  const t0 = Date.now();
  const end = t0 + MINUTES * 60_000;
  const procs: ChildProcess[] = [
    spawn('sh', ['-c', 'while :; do /bin/true x y z; done'], { stdio: 'ignore' }),
    spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }),
  ];
  let fetches = 0;
  let errors = 0;
  const client = async () => {
    while (Date.now() < end) {
      const r = await new Promise<number>((res) => spawn('pminfo', ['-f', 'bcc'], { stdio: 'ignore' }).on('close', (c) => res(c ?? -1)));
      fetches++;
      if (r !== 0) errors++;
    }
  };
  const samples: { min: number; rss: number; hwm: number }[] = [];
  const sampler = setInterval(() => {
    const m = memMb(pid);
    const min = (Date.now() - t0) / 60_000;
    samples.push({ min, ...m });
    process.stdout.write(`${min.toFixed(1).padStart(5)} min  RSS ${m.rss.toFixed(1)} MB  HWM ${m.hwm.toFixed(1)} MB  fetches ${fetches} errors ${errors}\n`);
  }, SAMPLE_MS);
  await Promise.all(Array.from({ length: CLIENTS }, client));
  for (const p of procs) p.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, IDLE_MINUTES * 60_000));
  clearInterval(sampler);
  if (agentPid() !== pid) throw new Error('the agent restarted during the soak');
  const at = (min: number) => samples.reduce((best, s) => (Math.abs(s.min - min) < Math.abs(best.min - min) ? s : best), samples[0]!);
  const five = at(Math.min(5, MINUTES));
  const last = at(MINUTES);
  const after = memMb(pid);
  const growth = (last.rss / five.rss - 1) * 100;
  process.stdout.write(
    `soak ${MINUTES} min, ${CLIENTS} clients: RSS ${five.rss.toFixed(1)} MB at ${five.min.toFixed(1)} min → ${last.rss.toFixed(1)} MB at ${last.min.toFixed(1)} min ` +
      `(${growth.toFixed(1)} %, target ≤ 10 %), ${after.rss.toFixed(1)} MB ${IDLE_MINUTES} min after the load (HWM ${after.hwm.toFixed(1)} MB); ${fetches} fetches, ${errors} errors\n`,
  );
  process.exit(growth <= 10 && errors === 0 ? 0 : 1);
}

main().catch((e: Error) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
