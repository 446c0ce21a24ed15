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

describe('usdt_hits', () => {
  it('expands probe regexes against the notes; reports what matches nothing; stays off with nothing to attach', async () => {
    const { ctx } = context(usdtHits, {});
    await expect(usdtHits.create(ctx).start()).rejects.toThrow(/no usdts configured/);
    const { ctx: c2 } = context(usdtHits, { usdts: `${PYTHON}:nosuchprobe` });
    await expect(usdtHits.create(c2).start()).rejects.toThrow(/no such probe; it has audit, gc__done/);
    const { ctx: c3 } = context(usdtHits, { usdts: '/usr/bin/perl:.*' });
    await expect(usdtHits.create(c3).start()).rejects.toThrow(/has no USDT probes/);
  });

  it('traces every matching process, picks up one started later, keeps another out, releases the links of one that exits', async () => {
    const mine = pyScript('usdt_mine', `def f(i): return i\nfor i in range(${K}): f(i)`, { delay: 1.5 });
    const other = pyScript('usdt_other', `def g(i): return i\nfor i in range(${3 * K}): g(i)`, { delay: 1.5 });
    const linksBefore = kernelLinks('usdt_hit');
    const { ctx, state } = context(usdtHits, { usdts: `${PYTHON}:function__(entry|return),${PYTHON}:gc__start`, process: '.*/usdt_mine\\.py', process_refresh: '1' });
    const m = usdtHits.create(ctx);
    await m.start();
    expect(state.variant).toMatch(/^usdt 0 processes/);
    const b = runPy(other);
    const a = runPy(mine); // started after the module: found by the rescan within its 1.5 s sleep
    try {
      expect(await until(() => state.variant.startsWith('usdt 1 process '))).toBe(true);
      expect(kernelLinks('usdt_hit')).toBeGreaterThanOrEqual(linksBefore + 3);
      await a.done;
      await b.done;
      const t = totals<'hits'>(m);
      const entries = t.get(`${PYTHON}::function__entry`)!.hits;
      expect(entries).toBeGreaterThanOrEqual(BigInt(K));
      expect(entries).toBeLessThan(BigInt(K + 20)); // the other script's 3K calls are not here
      expect(t.get(`${PYTHON}::function__return`)!.hits).toBeGreaterThanOrEqual(BigInt(K));
      await a.end();
      expect(await until(() => state.variant.startsWith('usdt 0 processes'))).toBe(true);
      expect(kernelLinks('usdt_hit')).toBe(linksBefore);
    } finally {
      await a.end();
      await b.end();
      await m.stop();
    }
    expect(kernelLinks('usdt_hit')).toBe(linksBefore);
  });

  it('without process, counts every process running the binary (semaphores raised by the kernel)', async () => {
    const s = pyScript('usdt_all', `def f(i): return i\nfor i in range(${K}): f(i)`, { delay: 0.5 });
    const { ctx, state } = context(usdtHits, { usdts: `${PYTHON}:function__entry` });
    const m = usdtHits.create(ctx);
    await m.start();
    const a = runPy(s);
    try {
      expect(state.variant).toBe('usdt all processes');
      await a.done;
      expect(totals<'hits'>(m).get(`${PYTHON}::function__entry`)!.hits).toBeGreaterThanOrEqual(BigInt(K));
    } finally {
      await a.end();
      await m.stop();
    }
  });
});
