// tracepoint_hits against the real kernel: one generic program attached per tracepoint with a
// cookie; a process filtered by PID calls getppid N times and syscalls:sys_enter_getppid
// counts exactly N; patterns expand against the kernel's list; unknown ones are reported.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as pathMod from 'node:path';
import { BpfObject } from '../../src/bpf';
import { attachAll, expandTracepoints, kernelTracepoints, tracepoint_hits } from '../../src/modules/tracepoint_hits';
import { BPF_DIR } from '../modules/hist-helpers';
import { readProbeList } from '../../src/modules/shared/probe-list';
import { buildObjects, context, tmpRoot } from '../modules/hist-helpers';
import { byName, worker } from './worker';

beforeAll(() => buildObjects('tracepoint_hits'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

const N = 157;

describe('tracepoint_hits', () => {
  it('expands $-anchored patterns against the running kernel, in order, without duplicates', () => {
    const all = kernelTracepoints();
    expect(all).toContain('sched:sched_process_exec');
    const { found, unknown } = expandTracepoints(['sched:sched_process_(exec|exit)', 'sched:sched_process_exec', 'nope:nothing', 'sched:sched_process_e'], all);
    expect(found).toEqual(['sched:sched_process_exec', 'sched:sched_process_exit']);
    expect(unknown).toEqual(['nope:nothing', 'sched:sched_process_e']);
  });

  it('reads a list from a file, skipping blank and commented lines (relative to the config dir)', () => {
    const dir = fs.mkdtempSync(path.join(tmpRoot, 'conf-'));
    fs.writeFileSync(path.join(dir, 'tp.conf'), '# counted\nsched:sched_process_exec\n\nsyscalls:sys_enter_getppid\n');
    expect(readProbeList('tp.conf', dir)!.items).toEqual(['sched:sched_process_exec', 'syscalls:sys_enter_getppid']);
    expect(() => readProbeList('missing.conf', dir)).toThrow(/names a file, and .*missing.conf cannot be read: ENOENT/);
  });

  it('counts exactly N hits of a filtered process, per tracepoint; unknown ones reported', async () => {
    const w = worker('pmdatp-hits', `for (1..${N}) { getppid() }`);
    await w.ready;
    const { ctx, state } = context(tracepoint_hits, { process: String(w.pid), tracepoints: 'syscalls:sys_enter_getppid,syscalls:sys_exit_getpp.*,nope:nothing' });
    const m = tracepoint_hits.create(ctx);
    try {
      await m.start();
      expect(state.variant).toBe('tracepoint (2 of 2 attached; unknown: nope:nothing)');
      const indom = ctx.indom(100);
      const before = byName(m, 0, indom);
      expect([...before.keys()].sort()).toEqual(['syscalls:sys_enter_getppid', 'syscalls:sys_exit_getppid']);
      await w.run();
      const after = byName(m, 0, indom);
      for (const tp of ['syscalls:sys_enter_getppid', 'syscalls:sys_exit_getppid']) expect(after.get(tp)! - before.get(tp)!, tp).toBe(BigInt(N));
    } finally {
      w.stop();
      await m.stop();
    }
  });

  it('without tracepoints, or with none matching, the module does not start and says why', async () => {
    for (const [raw, why] of [
      [{}, /tracepoints is not set/],
      [{ tracepoints: 'random:urandom_read' }, /no matching tracepoints found on this kernel for random:urandom_read/],
    ] as const) {
      const { ctx } = context(tracepoint_hits, raw);
      const m = tracepoint_hits.create(ctx);
      await expect(m.start()).rejects.toThrow(why);
      await m.stop();
    }
  });

  it('a tracepoint that cannot attach is reported and the others attach', () => {
    const obj = BpfObject.open(pathMod.join(BPF_DIR, 'tracepoint_hits.bpf.o'));
    const { ctx } = context(tracepoint_hits, { tracepoints: 'sched:sched_process_exec' });
    try {
      obj.setMapMaxEntries('counts', 2);
      obj.load();
      // Listed by the kernel a moment ago but gone now (a module unloaded): attach fails with ENOENT.
      const plan = { tracepoints: ['sched:sched_process_exec', 'pmda_gone:no_such_event'], failed: [] as string[], notes: [] };
      const links = attachAll(obj, plan, ctx);
      expect(links).toHaveLength(1);
      expect(plan.failed).toHaveLength(1);
      expect(plan.failed[0]).toMatch(/^pmda_gone:no_such_event \(.*ENOENT/);
      const none = { tracepoints: ['pmda_gone:no_such_event'], failed: [] as string[], notes: [] };
      expect(() => attachAll(obj, none, ctx)).toThrow(/no tracepoint could be attached: pmda_gone:no_such_event/);
    } finally {
      obj.close();
    }
  });

  it('max_tracepoints bounds the attachments', async () => {
    const { ctx, state } = context(tracepoint_hits, { tracepoints: 'sched:.*', max_tracepoints: '3' });
    const m = tracepoint_hits.create(ctx);
    try {
      await m.start();
      expect(state.variant).toMatch(/^tracepoint \(3 of 3 attached; \d+ over max_tracepoints not attached\)$/);
      expect(byName(m, 0, ctx.indom(100)).size).toBe(3);
    } finally {
      await m.stop();
    }
  });
});
