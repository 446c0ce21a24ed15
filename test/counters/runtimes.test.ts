// ucalls, ustat and usdt_jvm_threads against the real kernel: Debian's python3.11 and
// OpenJDK 17 (its libjvm.so carries HotSpot's USDT probes), processes started after the
// module, a runtime without probes reported per process.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ucalls } from '../../src/modules/ucalls';
import { ustat } from '../../src/modules/ustat';
import { usdtJvmThreads } from '../../src/modules/usdt_jvm_threads';
import { readUsdtProbes } from '../../src/modules/profile/stapsdt';
import { ModuleUnavailable } from '../../src/pmda/module';
import { buildObjects, context, namedPerl, tmpRoot } from '../modules/hist-helpers';
import { JAVA, SCRIPTS, pyScript, runPy, totals, until } from './usdt-helpers';

beforeAll(() => buildObjects('uhits', 'ucalls'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

const K = 250;
const SLOW = 10;

function fetchValues(m: { refresh?(i: ReadonlySet<number>): void; fetch(i: number, c: { slot: number; ctxid: number }): unknown }, item: number) {
  m.refresh?.(new Set([item]));
  return m.fetch(item, { slot: 0, ctxid: 0 }) as { inst: number; value: bigint }[];
}

describe('ucalls', () => {
  it('counts calls per class.method and times them (python3.11, started after the module)', async () => {
    const file = pyScript('ucalls_a', `def g(i): return i\ndef f(): time.sleep(0.02)\nfor i in range(${K}): g(i)\nfor i in range(${SLOW}): f()`, { delay: 1.5 });
    const other = pyScript('ucalls_other', `def g(i): return i\nfor i in range(${4 * K}): g(i)`, { delay: 1.5 });
    const { ctx, state } = context(ucalls, { process: '.*/ucalls_a\\.py', latency: 'true', process_refresh: '1' });
    const m = ucalls.create(ctx);
    await m.start();
    const a = runPy(file);
    const b = runPy(other);
    try {
      expect(await until(() => state.variant === 'usdt 1 process (python)')).toBe(true);
      await a.done;
      await b.done;
      const base = `${SCRIPTS.slice(1).replace(/\//g, '.')}.ucalls_a.py`;
      const t = totals<'calls' | 'timed' | 'total_ns'>(m);
      expect(t.get(`${base}.g`)!.calls).toBe(BigInt(K));
      expect(t.get(`${base}.f`)!.calls).toBe(BigInt(SLOW));
      expect([...t.keys()].some((k) => k.includes('ucalls_other'))).toBe(false);
      // 10 calls of a 20 ms sleep: at least 200 000 usec in all, and not 1000x more.
      const ids = ctx.indom(16);
      const fId = ids.lookup(`${base}.f`)!;
      const cml = fetchValues(m, 2).find((v) => v.inst === fId)!.value;
      expect(cml).toBeGreaterThanOrEqual(BigInt(SLOW * 20000));
      expect(cml).toBeLessThan(BigInt(SLOW * 20000 * 5));
      const avg = fetchValues(m, 1).find((v) => v.inst === fId)!.value;
      expect(avg).toBeGreaterThanOrEqual(20000n);
      expect(avg).toBeLessThan(100000n);
    } finally {
      await a.end();
      await b.end();
      await m.stop();
    }
  });

  it('latency off: counts only (no latency values)', async () => {
    const file = pyScript('ucalls_b', `def g(i): return i\nfor i in range(${K}): g(i)`, { delay: 1.2 });
    const { ctx } = context(ucalls, { process: '.*/ucalls_b\\.py', process_refresh: '1' });
    const m = ucalls.create(ctx);
    await m.start();
    const a = runPy(file);
    try {
      await a.done;
      const t = totals<'calls' | 'timed' | 'total_ns'>(m);
      expect(t.get(`${SCRIPTS.slice(1).replace(/\//g, '.')}.ucalls_b.py.g`)!.calls).toBe(BigInt(K));
      expect(fetchValues(m, 1)).toEqual([]);
      expect(fetchValues(m, 2)).toEqual([]);
    } finally {
      await a.end();
      await m.stop();
    }
  });

  it('a runtime without probes is reported per process, the module keeps running', async () => {
    const perl = spawn(namedPerl('pmdanoprobes'), ['-e', 'sleep 30'], { stdio: 'ignore' });
    const { ctx, state } = context(ucalls, { process: 'pmdanoprobes' });
    const m = ucalls.create(ctx);
    try {
      await until(() => fs.existsSync(`/proc/${perl.pid}`));
      await m.start();
      expect(state.variant).toBe(`usdt 0 processes (none); 1 not attached (pid ${perl.pid}: pmdanoprobes: no USDT probes in its executable or libraries)`);
    } finally {
      perl.kill();
      await m.stop();
    }
  });

  it('needs process, as pmdabcc; refuses an unknown language', async () => {
    const { ctx } = context(ucalls, {});
    await expect(ucalls.create(ctx).start()).rejects.toThrow(ModuleUnavailable);
    await expect(ucalls.create(ctx).start()).rejects.toThrow(/needs the process option/);
    expect(() => context(ucalls, { process: 'x', language: 'cobol' })).toThrow(/language/);
  });
});

describe('ustat', () => {
  it('counts method calls and gc runs per PID', async () => {
    const N = 7;
    const file = pyScript('ustat_a', `def g(i): return i\nfor i in range(${K}): g(i)\nfor i in range(${N}): gc.collect()`, { delay: 1.2 });
    const { ctx } = context(ustat, { process: '.*/ustat_a\\.py', process_refresh: '1' });
    const m = ustat.create(ctx);
    await m.start();
    const a = runPy(file);
    try {
      await a.done;
      const row = totals<'method' | 'gc'>(m).get(String(a.p.pid))!;
      expect(row.method).toBeGreaterThanOrEqual(BigInt(K));
      expect(row.gc).toBeGreaterThanOrEqual(BigInt(N));
      expect(ctx.indom(17).lookup(String(a.p.pid))).toBe(a.p.pid);
    } finally {
      await a.end();
      await m.stop();
    }
  });
});

// HotSpot's probes: Debian's OpenJDK 17 libjvm.so carries them (thread__start/stop always on).
const LIBJVM = '/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so';
const hasJvmProbes = fs.existsSync(JAVA) && fs.existsSync(LIBJVM) && readUsdtProbes(LIBJVM).some((p) => p.name === 'thread__start');

describe.skipIf(!hasJvmProbes)('usdt_jvm_threads (OpenJDK 17 with HotSpot USDT probes)', () => {
  const T = 6;
  const src = path.join(SCRIPTS, 'JvmThreadsTest.java');
  fs.writeFileSync(
    src,
    `public class JvmThreadsTest { public static void main(String[] a) throws Exception {
      Thread.sleep(Long.parseLong(a[0]));
      Thread[] ts = new Thread[${T}];
      for (int i = 0; i < ts.length; i++) { ts[i] = new Thread(() -> { Object o = new int[16]; }); ts[i].start(); }
      for (Thread t : ts) t.join();
      System.out.println("done"); System.out.flush(); System.in.read(); } }`,
  );

  it('counts thread starts and stops of a JVM started after the module', async () => {
    const { ctx, state } = context(usdtJvmThreads, { process: '.*JvmThreadsTest.*', process_refresh: '1' });
    const m = usdtJvmThreads.create(ctx);
    await m.start();
    const j = spawn(JAVA, ['-Xshare:auto', src, '2500'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const done = new Promise<void>((r) => j.stdout!.on('data', (d: Buffer) => d.toString().includes('done') && r()));
    try {
      expect(await until(() => state.variant === 'usdt 1 process (java)', 10000)).toBe(true);
      await done;
      const r0 = fetchValues(m, 0);
      const r1 = fetchValues(m, 1);
      expect(r0[0]!.value).toBeGreaterThanOrEqual(BigInt(T));
      // HotSpot fires thread__stop after the join is released: it may trail a little.
      expect(await until(() => (fetchValues(m, 1)[0]?.value ?? 0n) >= BigInt(T))).toBe(true);
      void r1;
    } finally {
      j.kill('SIGKILL');
      await m.stop();
    }
  }, 30000);
});
