// Quantile metrics through the real pmcd: for one client (one context) every fetch's quantiles
// equal the reference computation on the bucket deltas that same client saw (the first fetch:
// the totals since the agent started), and a workload of known latency moves them: during
// `perf bench sched pipe` most wakeups are the benchmark's, each waiting less than one of its
// round trips, so the window's p50 is at most perf's usecs/op.
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { quantile, QUANTILES } from '../../src/modules/shared/quantiles';
import { HIST_MAX_SLOTS } from '../../src/modules/shared/histogram';
import { agentAnswers, install } from '../helpers/pmcd';

const SAMPLER = path.join(__dirname, '../helpers/pmapi-sample.py');
const ENV = { ...process.env, PATH: `/usr/bin:/bin:${process.env.PATH}` };
type Sample = Record<string, Record<string, number>>;

function parse(out: string): Sample[] {
  return out.trim().split('\n').map((l) => JSON.parse(l) as Sample);
}

/** Start the sampler (one context, n fetches `every` s apart); resolves with its samples. */
function sample(metrics: string[], n: number, every: number): Promise<Sample[]> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/python3', [SAMPLER, metrics.join(','), String(n), String(every)], { env: ENV });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? resolve(parse(out)) : reject(new Error(`sampler exited ${code}: ${err}`))));
  });
}

const slotOf = (bucket: string) => {
  const lo = Number(bucket.split('-')[0]);
  return lo === 0 ? 0 : Math.log2(lo);
};

function counts(h: Record<string, number>): number[] {
  const c = new Array<number>(HIST_MAX_SLOTS).fill(0);
  for (const [b, v] of Object.entries(h)) c[slotOf(b)] = v;
  return c;
}

function expectReference(hist: string, qm: string, samples: Sample[]): void {
  let prev = new Array<number>(HIST_MAX_SLOTS).fill(0);
  for (const [i, s] of samples.entries()) {
    const now = counts(s[hist]!);
    const delta = now.map((v, k) => v - prev[k]!);
    for (const { name, q } of QUANTILES) {
      const want = quantile(delta, q);
      const got = s[qm]![name];
      if (want === null) expect(got, `${qm} ${name} sample ${i}`).toBeUndefined();
      else expect(Math.abs(got! - want) / want, `${qm} ${name} sample ${i}: ${got} vs ${want}`).toBeLessThan(1e-9);
    }
    prev = now;
  }
}

beforeAll(() => {
  // The installed agent must be one with quantiles (a test ensures its own configuration).
  if (!agentAnswers() || spawnSync('pminfo', ['bcc.runq.latency_quantile']).status !== 0) install();
}, 240_000);

describe('quantiles through pmcd', () => {
  it('equal the reference on the bucket deltas each fetch of one context saw, for every histogram', async () => {
    const pairs = [
      ['bcc.runq.latency', 'bcc.runq.latency_quantile'],
      ['bcc.disk.all.latency', 'bcc.disk.all.latency_quantile'],
      ['bcc.fs.ext4.latency.read', 'bcc.fs.ext4.latency_quantile.read'],
    ];
    const samples = await sample(pairs.flat(), 4, 0.5);
    expect(samples).toHaveLength(4);
    // The first fetch covers the time since the agent started: the run queue saw events by now.
    expect(Object.keys(samples[0]!['bcc.runq.latency_quantile']!)).toEqual(['p50', 'p90', 'p99', 'p99.9']);
    for (const [h, q] of pairs) expectReference(h!, q!, samples);
  }, 60_000);

  it('two clients get their own windows', async () => {
    const [a, b] = await Promise.all([
      sample(['bcc.runq.latency', 'bcc.runq.latency_quantile'], 3, 0.4),
      sample(['bcc.runq.latency', 'bcc.runq.latency_quantile'], 2, 1.1),
    ]);
    expectReference('bcc.runq.latency', 'bcc.runq.latency_quantile', a!);
    expectReference('bcc.runq.latency', 'bcc.runq.latency_quantile', b!);
  }, 60_000);

  it('perf bench sched pipe: the window p50 drops to at most one benchmark round trip', async () => {
    const m = ['bcc.runq.latency', 'bcc.runq.latency_quantile'];
    const idle = await sample(m, 2, 0.5);
    const perf = spawn('perf', ['bench', 'sched', 'pipe', '-l', '150000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let perfOut = '';
    perf.stdout.on('data', (d) => (perfOut += d));
    const done = new Promise<number | null>((r) => perf.on('close', r));
    await new Promise((r) => setTimeout(r, 300));
    const busy = await sample(m, 2, 0.5); // second fetch: a window inside the benchmark
    expect(await done).toBe(0);
    const usecsPerOp = Number(/([\d.]+) usecs\/op/.exec(perfOut)?.[1]);
    expect(usecsPerOp).toBeGreaterThan(0);
    const events = (s: Sample[]) => counts(s[1]!['bcc.runq.latency']!).reduce((a, v, k) => a + v - counts(s[0]!['bcc.runq.latency']!)[k]!, 0);
    const idleRate = events(idle) / 0.5;
    const busyRate = events(busy) / 0.5;
    const idleP = idle[1]!['bcc.runq.latency_quantile']!;
    const busyP = busy[1]!['bcc.runq.latency_quantile']!;
    console.log(`idle: ${idleRate.toFixed(0)} wakeups/s p50 ${idleP.p50?.toFixed(1)} p99 ${idleP.p99?.toFixed(1)} usec; ` +
      `perf bench sched pipe (${usecsPerOp} usecs/op): ${busyRate.toFixed(0)} wakeups/s p50 ${busyP.p50!.toFixed(1)} p99 ${busyP.p99!.toFixed(1)} usec`);
    // The benchmark's wakeups are most of the window (each loop is two of them) ...
    expect(busyRate).toBeGreaterThan(2 * idleRate);
    // ... and each waits less than one round trip.
    expect(busyP.p50!).toBeLessThanOrEqual(usecsPerOp);
    expectReference('bcc.runq.latency', 'bcc.runq.latency_quantile', busy);
  }, 90_000);
});
