// syscount against the real kernel: a process filtered by PID makes exactly N getppid() and
// M failing open()s; counts are exact per syscall name, per <pid>::<name> with details, and
// the errno / failed options keep only the failing calls. Latency of a known sleep is
// measured. The syscall table comes from the running kernel, with no off-by-one at the top.
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syscallTable } from '../../src/bpf';
import { syscount } from '../../src/modules/syscount';
import { buildObjects, BPF_DIR, context, tmpRoot } from '../modules/hist-helpers';
import { byName, worker } from './worker';

beforeAll(() => buildObjects('syscount', 'syscall_table'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

const N = 211;
const M = 17;
const SNIPPET = `for (1..${N}) { getppid() } for (1..${M}) { open(my $f, '<', '/nonexistent/pmda-ebpf') }`;

async function run(raw: Record<string, string>, comm: string, snippet = SNIPPET) {
  const w = worker(comm, snippet);
  await w.ready;
  const { ctx, state } = context(syscount, { process: String(w.pid), ...raw });
  const m = syscount.create(ctx);
  try {
    await m.start();
  } catch (e) {
    w.stop();
    throw e;
  }
  const indom = ctx.indom(15);
  const before = byName(m, 0, indom);
  await w.run();
  const delta = (after: Map<string, bigint>, name: string) => (after.get(name) ?? 0n) - (before.get(name) ?? 0n);
  // The worker stays alive until stop(): details of a process that exited are pruned.
  const stop = async () => {
    w.stop();
    await m.stop();
  };
  return { m, ctx, state, indom, delta, after: () => byName(m, 0, indom), pid: w.pid, stop };
}

describe('syscount', () => {
  it('the kernel syscall table names the syscalls, highest number included', () => {
    const t = syscallTable(BPF_DIR, context(syscount).ctx.log);
    expect(t.name(0)).toBe('read');
    expect(t.name(39)).toBe('getpid');
    expect(t.name(110)).toBe('getppid');
    expect(t.name(257)).toBe('openat');
    expect(t.names.get(t.max)).toBeDefined();
    expect(t.max).toBeGreaterThan(400); // 6.x kernels: well past 6.1's uapi header (451)
    expect(t.name(t.max + 1)).toBe(`UNDEF${t.max + 1}`);
  });

  for (const variant of ['auto', 'tp_btf', 'raw_tp', 'tracepoint']) {
    it(`counts exactly N getppid and M openat of a filtered process (variant ${variant}, latency on)`, async () => {
      const r = await run({ variant, latency: 'true' }, `pmdasc-${variant.slice(0, 5)}`);
      try {
        expect(r.state.variant).toBe(variant === 'auto' ? 'tp_btf' : variant);
        const after = r.after();
        expect(r.delta(after, 'getppid')).toBe(BigInt(N));
        expect(r.delta(after, 'openat')).toBe(BigInt(M));
        const cml = byName(r.m, 2, r.indom);
        const avg = byName(r.m, 1, r.indom);
        expect(cml.get('getppid')! > 0n).toBe(true);
        expect(avg.get('getppid')).toBeLessThanOrEqual(cml.get('getppid')!);
      } finally {
        await r.stop();
      }
    });
  }

  it('latency off: counts only, no latency values and no entry program', async () => {
    const r = await run({}, 'pmdasc-nolat');
    try {
      expect(r.delta(r.after(), 'getppid')).toBe(BigInt(N));
      expect(byName(r.m, 1, r.indom).size).toBe(0);
      expect(byName(r.m, 2, r.indom).size).toBe(0);
      expect((r.m as unknown as { loaded: { obj: { loadedPrograms(): string[] } } }).loaded.obj.loadedPrograms()).toEqual(['tpbtf_sys_exit']);
    } finally {
      await r.stop();
    }
  });

  it('latency of a 20 ms sleep is measured in nanoseconds', async () => {
    const r = await run({ latency: 'true' }, 'pmdasc-sleep', 'for (1..5) { select(undef, undef, undef, 0.02) }');
    try {
      const avg = byName(r.m, 1, r.indom);
      const sel = [...avg].find(([n]) => /select/.test(n));
      expect(sel, [...avg.keys()].join(',')).toBeDefined();
      expect(sel![1]).toBeGreaterThanOrEqual(15_000_000n);
      expect(sel![1]).toBeLessThan(2_000_000_000n);
    } finally {
      await r.stop();
    }
  });

  it('errno=ENOENT keeps only the failing openat calls; failed=true the same', async () => {
    for (const raw of [{ errno: 'ENOENT' }, { errno: '2' }, { failed: 'true' }]) {
      const r = await run(raw, 'pmdasc-errno');
      try {
        const after = r.after();
        expect(r.delta(after, 'openat'), JSON.stringify(raw)).toBe(BigInt(M));
        expect(r.delta(after, 'getppid'), JSON.stringify(raw)).toBe(0n);
      } finally {
        await r.stop();
      }
    }
  });

  it('details: <pid>::<syscall> instances of the filtered process', async () => {
    const r = await run({ details: 'true' }, 'pmdasc-detail');
    try {
      const after = r.after();
      expect(r.delta(after, `${r.pid}::getppid`)).toBe(BigInt(N));
      expect(r.delta(after, 'getppid')).toBe(BigInt(N));
    } finally {
      await r.stop();
    }
  });

  it('refuses bad options with errors naming the key', () => {
    expect(() => context(syscount, { errno: 'EWHAT' })).toThrow(/\[syscount\] errno: unknown errno name "EWHAT"/);
    expect(() => context(syscount, { latency: 'maybe' })).toThrow(/\[syscount\] latency: expected true or false/);
  });

  it('details without a process filter is a clear error, not a silent no-op', async () => {
    const { ctx } = context(syscount, { details: 'true' });
    const m = syscount.create(ctx);
    await expect(m.start()).rejects.toThrow(/\[syscount\] details: needs the process option/);
    await m.stop();
  });
});
