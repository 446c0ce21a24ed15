// runqlat against the real kernel: a pipe ping-pong (two wakeups per round trip) must land in
// bcc.runq.latency buckets, in every attach variant, and the process/cgroup filters must keep a
// second workload out.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroup2Mount } from '../../src/modules/shared/filter';
import { bucketName } from '../../src/modules/shared/histogram';
import { HistogramTool } from '../../src/modules/shared/histogram-module';
import { runqlat, runqlatHooks } from '../../src/modules/runqlat';
import { filtersHolding } from '../helpers/bpf-maps';
import { waitFor } from '../helpers/pmcd';
import { PINGPONG, asValues, buildObjects, context, exited, namedPerl, pingPong, pingPongHeld, tmpRoot, total, type Values } from './hist-helpers';

const N = 3000;

beforeAll(() => buildObjects('runqlat'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

function fetchAll(m: { refresh?(items: ReadonlySet<number>): void; fetch(item: number, c: { slot: number; ctxid: number }): unknown }): Values {
  m.refresh?.(new Set([0]));
  return asValues(m.fetch(0, { slot: 0, ctxid: 0 }));
}

/** The module with only one variant of the hook left (to prove each variant on its own). */
function onlyVariant(name: string, raw: Record<string, string> = {}) {
  const { ctx, state } = context(runqlat, raw);
  const hooks = runqlatHooks.map((h) => ({ ...h, variants: h.variants.filter((v) => v.name === name) }));
  const m = new HistogramTool(ctx, { object: 'runqlat.bpf.o', hooks, histograms: 1, indomSerial: 4, itemToHistogram: (i) => (i === 0 ? 0 : undefined), filter: true });
  return { m, state, ctx };
}

describe('runqlat module', () => {
  it('ping-pong round trips land in the buckets (default variant chain)', async () => {
    const { ctx, state } = context(runqlat);
    const m = runqlat.create(ctx);
    try {
      await m.start();
      expect(state.variant).toBe('tp_btf');
      const before = fetchAll(m);
      expect(before[0]).toMatchObject({ inst: 0 });
      pingPong('pmdarq-pp', N);
      const after = fetchAll(m);
      const grew = total(after) - total(before);
      // Two wakeups per round trip, plus whatever else ran meanwhile.
      expect(grew).toBeGreaterThanOrEqual(BigInt(2 * N * 0.95));
      // Instances: "0-1" up to the highest non-empty bucket, ids = slots, counters never go back.
      const inst = ctx.indom(4).instances();
      expect(inst.map((i) => i.id)).toEqual(inst.map((_, i) => i));
      expect(inst.map((i) => i.name)).toEqual(inst.map((_, i) => bucketName(i)));
      expect(after.map((v) => v.inst)).toEqual(inst.map((i) => i.id));
      expect(after[after.length - 1].value).toBeGreaterThan(0n);
      for (const v of before) expect(after[v.inst].value >= v.value).toBe(true);
      expect(ctx.indom(4).labelsOf(2)).toEqual({ lower_bound: 4, upper_bound: 7 });
    } finally {
      await m.stop();
    }
  });

  for (const variant of ['tp_btf', 'raw_tp', 'tracepoint']) {
    it(`variant ${variant} on its own counts the ping-pong`, async () => {
      const { m, state } = onlyVariant(variant);
      try {
        await m.start();
        expect(state.variant).toBe(variant);
        const before = total(fetchAll(m));
        pingPong('pmdarq-pp', N);
        expect(total(fetchAll(m)) - before).toBeGreaterThanOrEqual(BigInt(2 * N * 0.95));
      } finally {
        await m.stop();
      }
    });

    it(`variant ${variant}: the process filter counts the named workload only, including one started later`, async () => {
      const { m } = onlyVariant(variant, { process: 'pmdarq-a', process_refresh: '1' });
      try {
        await m.start();
        const t0 = total(fetchAll(m));
        pingPong('pmdarq-b', N);
        const t1 = total(fetchAll(m));
        expect(t1 - t0).toBe(0n); // nothing named pmdarq-a ran
        // Started after the module: found by a rescan of /proc, which the test waits for.
        const a = pingPongHeld('pmdarq-a', N);
        try {
          const pids = await a.pids;
          await waitFor(`the process filter to hold ${pids.join(' and ')}`, () => pids.every((p) => filtersHolding(p) > 0), 10_000, 50);
          a.go();
          expect(await exited(a.child)).toBe(0);
        } finally {
          if (a.child.exitCode === null) a.child.kill('SIGKILL');
        }
        const t2 = total(fetchAll(m));
        expect(t2 - t1).toBeGreaterThanOrEqual(BigInt(2 * N * 0.95));
        expect(t2 - t1).toBeLessThanOrEqual(BigInt(2 * N * 1.05));
      } finally {
        await m.stop();
      }
    });
  }

  const mount = cgroup2Mount();
  it.skipIf(!mount)('the cgroup filter counts tasks of that cgroup v2 only', async () => {
    const dir = path.join(mount!, `pmda-ebpf-rq-${process.pid}`);
    fs.mkdirSync(dir);
    try {
      const { ctx } = context(runqlat, { cgroup: path.basename(dir) });
      const m = runqlat.create(ctx);
      try {
        await m.start();
        const t0 = total(fetchAll(m));
        pingPong('pmdarq-out', N);
        const t1 = total(fetchAll(m));
        expect(t1 - t0).toBe(0n);
        // The shell moves itself into the cgroup, then becomes the workload.
        execFileSync('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec "$0" -e "$1" ${N} 0`, namedPerl('pmdarq-in'), PINGPONG], { stdio: 'ignore' });
        const t2 = total(fetchAll(m));
        expect(t2 - t1).toBeGreaterThanOrEqual(BigInt(2 * N * 0.95));
      } finally {
        await m.stop();
      }
    } finally {
      fs.rmdirSync(dir);
    }
  });

  it('a bad process option is a config error naming section and key', () => {
    expect(() => context(runqlat, { process: 'a,[' })).toThrow(/^\[runqlat\] process: "\[" is neither a PID/);
    expect(() => context(runqlat, { queued: 'true' })).toThrow(/^\[runqlat\] queued: unknown key/);
  });

  it('a cgroup that does not exist fails the start with a clear reason', async () => {
    const { ctx } = context(runqlat, { cgroup: '/pmda-ebpf-no-such-cgroup' });
    await expect(runqlat.create(ctx).start()).rejects.toThrow(/"\/pmda-ebpf-no-such-cgroup" is not a cgroup v2 directory/);
  });

  it('stop releases every fd', async () => {
    const { ctx } = context(runqlat, { process: 'pmdarq-a' });
    const before = fs.readdirSync('/proc/self/fd').length;
    const m = runqlat.create(ctx);
    try {
      await m.start();
      expect(fs.readdirSync('/proc/self/fd').length).toBeGreaterThan(before);
    } finally {
      await m.stop();
    }
    expect(fs.readdirSync('/proc/self/fd').length).toBe(before);
  });
});

