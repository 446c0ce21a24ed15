// kprobe_hits: this kernel has no kprobes, so the module must fail with that reason (and the
// agent keeps the other modules; see the pmcd test). Where kprobes exist, the attaching path
// runs: a filtered process calls getppid N times and the kernel's __x64_sys_getppid counts N.
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kprobe_hits, kprobeFunctions, kprobesHere } from '../../src/modules/kprobe_hits';
import { buildObjects, context, tmpRoot } from '../modules/hist-helpers';
import { byName, worker } from './worker';

beforeAll(() => buildObjects('kprobe_hits'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

const here = kprobesHere();
const N = 101;

describe('kprobe_hits', () => {
  it('parses pmdabcc\'s kprobes and ret_chk options', () => {
    expect(kprobeFunctions({ text: '', source: 'inline', items: ['kprobe:sched_exec', 'vfs_read', 'kprobe:vfs_read'] })).toEqual(['sched_exec', 'vfs_read']);
    expect(() => context(kprobe_hits, { ret_chk: 'is bad' })).toThrow(/\[kprobe_hits\] ret_chk: expected an operator/);
    expect(() => context(kprobe_hits, { ret_chk: '< 0' })).not.toThrow();
  });

  it.skipIf(here === true)(`fails with the reason where the kernel has no kprobes (here: ${here === true ? 'kprobes exist' : here})`, async () => {
    const { ctx } = context(kprobe_hits, { kprobes: 'kprobe:sched_exec' });
    const m = kprobe_hits.create(ctx);
    await expect(m.start()).rejects.toThrow(/kprobes are not available on this kernel/);
    await m.stop();
  });

  it.skipIf(here !== true)(`counts calls, failures and latency per function (skipped here: ${here === true ? '' : here})`, async () => {
    const w = worker('pmdakp-hits', `for (1..${N}) { getppid() }`);
    await w.ready;
    const { ctx } = context(kprobe_hits, { kprobes: 'kprobe:__x64_sys_getppid', process: String(w.pid), latency: 'true', ret_chk: '< 0' });
    const m = kprobe_hits.create(ctx);
    try {
      await m.start();
      const indom = ctx.indom(103);
      await w.run();
      expect(byName(m, 0, indom).get('__x64_sys_getppid')).toBe(BigInt(N));
      expect(byName(m, 1, indom).get('__x64_sys_getppid')).toBe(0n);
      expect(byName(m, 3, indom).get('__x64_sys_getppid')! > 0n).toBe(true);
    } finally {
      w.stop();
      await m.stop();
    }
  });
});
