// uprobe_hits and usdt_hits against the real kernel, with real workloads: Debian's
// python3.11 (8 USDT probes) and libc. Exact counts where the workload is exact.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uprobeHits } from '../../src/modules/uprobe_hits';
import { usdtHits } from '../../src/modules/usdt_hits';
import { readUsdtProbes } from '../../src/modules/profile/stapsdt';
import { resolveLibrary } from '../../src/modules/shared/libpath';
import { ModuleUnavailable } from '../../src/pmda/module';
import { buildObjects, context, tmpRoot } from '../modules/hist-helpers';
import { PYTHON, SCRIPTS, kernelLinks, pyScript, runPy, sleep, totals, until } from './usdt-helpers';

beforeAll(() => buildObjects('uhits'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

const K = 250;

describe('stapsdt notes', () => {
  it('lists python3.11 probes with their semaphores, and none for a binary without notes', () => {
    const probes = readUsdtProbes(PYTHON);
    const names = probes.map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(['function__entry', 'function__return', 'gc__start', 'gc__done', 'line', 'audit']));
    expect(probes.every((p) => p.provider === 'python' && p.semaphore !== 0)).toBe(true);
    expect(probes.find((p) => p.name === 'function__entry')!.args.split(' ')).toHaveLength(3);
    expect(readUsdtProbes('/usr/bin/perl')).toEqual([]);
  });
});

describe('uprobe_hits', () => {
  it('resolves c like the loader', () => {
    expect(fs.realpathSync(resolveLibrary('c'))).toBe(fs.realpathSync(execFileSync('sh', ['-c', "ldconfig -p | awk '/libc.so.6 .*x86-64/ {print $NF; exit}'"], { encoding: 'utf8' }).trim()));
    expect(() => resolveLibrary('no_such_lib_xyz')).toThrow(/not found/);
  });

  it('counts exactly the calls of a libc function in the filtered process, not another one', async () => {
    const mine = pyScript('uprobe_mine', `l = ctypes.CDLL("libc.so.6")\nfor i in range(${K}): l.labs(-i)`, { delay: 0.8, hook: false });
    const other = pyScript('uprobe_other', `l = ctypes.CDLL("libc.so.6")\nfor i in range(${3 * K}): l.labs(-i)`, { delay: 0.8, hook: false });
    const { ctx, state } = context(uprobeHits, { uprobes: 'c:labs,c:strlen', process: '.*/uprobe_mine\\.py', process_refresh: '1' });
    const m = uprobeHits.create(ctx);
    const a = runPy(mine);
    const b = runPy(other);
    try {
      await m.start();
      expect(state.variant).toBe('uprobe');
      await a.done;
      await b.done;
      const t = totals<'hits'>(m);
      expect(t.get('c::labs')?.hits).toBe(BigInt(K));
      // strlen is a GNU indirect function: attached at the implementation the loader picked.
      expect(t.get('c::strlen')?.hits ?? 0n).toBeGreaterThan(0n);
    } finally {
      await a.end();
      await b.end();
      await m.stop();
    }
  });

  it('ls x10 (a named copy, filtered by PID): c::strlen grows by at least 10; an unfiltered ls is kept out', async () => {
    const ls = path.join(tmpRoot, 'pmdaupls');
    fs.copyFileSync('/bin/ls', ls);
    fs.chmodSync(ls, 0o755);
    // Each ls lives a few ms, too short for a /proc rescan to find: stop each before its exec
    // and name the stopped shells' PIDs in the filter (the PID survives the exec).
    const kids = Array.from({ length: 10 }, () => spawn('sh', ['-c', `kill -STOP $$; exec ${ls} -la /usr/bin`], { stdio: 'ignore' }));
    const exited = kids.map((k) => new Promise((r) => k.on('exit', r)));
    const stopped = (pid: number) => fs.readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]!.startsWith('T');
    expect(await until(() => kids.every((k) => stopped(k.pid!)))).toBe(true);
    const { ctx } = context(uprobeHits, { uprobes: 'c:strlen', process: kids.map((k) => k.pid).join(','), process_refresh: '0' });
    const m = uprobeHits.create(ctx);
    try {
      await m.start();
      execFileSync('ls', ['-la', '/usr/bin'], { stdio: 'ignore' }); // not ours
      expect(totals<'hits'>(m).get('c::strlen')?.hits ?? 0n).toBe(0n);
      for (const k of kids) k.kill('SIGCONT');
      await Promise.all(exited);
      expect(totals<'hits'>(m).get('c::strlen')!.hits).toBeGreaterThanOrEqual(10n);
    } finally {
      for (const k of kids) k.kill('SIGKILL');
      await m.stop();
    }
  });

  it('stays off with a clear error when nothing is configured or nothing resolves', async () => {
    const { ctx } = context(uprobeHits, { uprobes: '' });
    await expect(uprobeHits.create(ctx).start()).rejects.toThrow(ModuleUnavailable);
    const { ctx: c2 } = context(uprobeHits, { uprobes: 'nosuchlibxyz:foo' });
    await expect(uprobeHits.create(c2).start()).rejects.toThrow(/nosuchlibxyz:foo: library "nosuchlibxyz" not found/);
  });
});
