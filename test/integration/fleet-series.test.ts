// Many hosts the PCP way: pmlogger archives from each host, loaded into Redis by pmseries and
// queried through pmproxy's /series REST API. On this one machine two "hosts" are two archives
// of this host's agent recorded under different hostnames (pmlogrewrite), one while idle and one
// while `perf bench sched pipe` runs; /series/query answers per host, and the per-host values
// tell the hosts apart. A private redis-server and pmproxy on private ports: the machine's
// pmproxy is left alone.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAnswers, install, waitFor } from '../helpers/pmcd';

const BIN = '/usr/lib/pcp/bin';
const REDIS_PORT = 6391;
const PROXY_PORT = 44391;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ebpf-fleet-'));
const kids: ChildProcess[] = [];
const haveRedis = fs.existsSync('/usr/bin/redis-server');

function run(cmd: string, args: string[], timeout = 60_000): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout, cwd: tmp });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

async function get<T>(p: string): Promise<T> {
  const r = await fetch(`http://127.0.0.1:${PROXY_PORT}${p}`);
  expect(r.status, p).toBe(200);
  return (await r.json()) as T;
}

/** Record the run queue metrics for a few seconds, then relabel the archive as `host`. */
async function record(host: string, during?: () => ChildProcess): Promise<string> {
  const cfg = path.join(tmp, 'logger.config');
  fs.writeFileSync(cfg, 'log mandatory on 1 sec { bcc.runq.latency bcc.runq.latency_quantile }\n');
  const load = during?.();
  const base = path.join(tmp, `raw-${host}`);
  run(`${BIN}/pmlogger`, ['-c', cfg, '-T', '6sec', base]);
  load?.kill('SIGKILL');
  const rw = path.join(tmp, `rewrite-${host}`);
  fs.writeFileSync(rw, `global { hostname -> ${host} }\n`);
  const out = path.join(tmp, host);
  run(`${BIN}/pmlogrewrite`, ['-c', rw, base, out]);
  expect(run('pmdumplog', ['-l', out])).toContain(`Performance metrics from host ${host}`);
  return out;
}

beforeAll(async () => {
  if (!haveRedis) return;
  if (!agentAnswers() || spawnSync('pminfo', ['bcc.runq.latency_quantile']).status !== 0) install();
  kids.push(spawn('redis-server', ['--port', String(REDIS_PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp], { stdio: 'ignore' }));
  await waitFor('redis', () => spawnSync('redis-cli', ['-p', String(REDIS_PORT), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG', 10_000);
  const conf = path.join(tmp, 'pmproxy.conf');
  fs.writeFileSync(
    conf,
    `[pmproxy]\npcp.enabled = true\nhttp.enabled = true\nredis.enabled = true\nsecure.enabled = false\n` +
      `[redis]\nenabled = true\nservers = 127.0.0.1:${REDIS_PORT}\n[discover]\nenabled = false\n[pmseries]\nenabled = true\n[pmsearch]\nenabled = false\n`,
  );
  kids.push(
    spawn(`${BIN}/pmproxy`, ['-f', '-A', '-U', 'root', '-c', conf, '-p', String(PROXY_PORT), '-s', path.join(tmp, 'pmproxy.socket'), '-l', path.join(tmp, 'pmproxy.log')], { stdio: 'ignore' }),
  );
  await waitFor('pmproxy', () => spawnSync('curl', ['-sf', `http://127.0.0.1:${PROXY_PORT}/series/ping`]).status === 0, 15_000);
}, 240_000);

afterAll(() => {
  for (const k of kids) k.kill('SIGTERM');
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!haveRedis)('archives of two hosts in pmseries, queried through pmproxy', () => {
  it('/series/query answers per host; the busy host has the lower p50', async () => {
    const idle = await record('ebpfidle');
    const busy = await record('ebpfbusy', () => spawn('perf', ['bench', 'sched', 'pipe', '-l', '100000000'], { stdio: 'ignore' }));
    for (const a of [idle, busy]) run('pmseries', ['-p', String(REDIS_PORT), '--load', `{source.path: "${a}"}`]);

    expect((await get<string[]>('/series/sources?match=*')).filter((s) => s.startsWith('ebpf')).sort()).toEqual(['ebpfbusy', 'ebpfidle']);
    const p50: Record<string, number> = {};
    const seen: string[] = [];
    for (const host of ['ebpfidle', 'ebpfbusy']) {
      const ids = await get<string[]>(`/series/query?expr=${encodeURIComponent(`bcc.runq.latency_quantile{hostname=="${host}"}`)}`);
      expect(ids, host).toHaveLength(1);
      seen.push(ids[0]!);
      // The question a fleet view asks: each host's run queue quantiles over the recent past.
      const expr = `bcc.runq.latency_quantile{hostname=="${host}"}[samples:10]`;
      const values = await get<Array<{ series: string; instance: string; value: string }>>(`/series/query?expr=${encodeURIComponent(expr)}`);
      expect(values.length, host).toBeGreaterThanOrEqual(4 * 3); // 4 quantiles x several samples
      expect(new Set(values.map((v) => v.series))).toEqual(new Set(ids));
      const inst = await get<Array<{ instance: string; name: string }>>(`/series/instances?series=${ids[0]}`);
      const p50id = inst.find((i) => i.name === 'p50')!.instance;
      const xs = values.filter((v) => v.instance === p50id).map((v) => Number(v.value)).sort((a, b) => a - b);
      p50[host] = xs[Math.floor(xs.length / 2)]!;
    }
    expect(new Set(seen).size).toBe(2); // a series of its own per host
    console.log(`median p50 per host: ${JSON.stringify(p50)} usec`);
    // perf bench sched pipe fills the window with its own short waits (a context switch).
    expect(p50.ebpfbusy!).toBeLessThan(p50.ebpfidle!);
  }, 120_000);
});
