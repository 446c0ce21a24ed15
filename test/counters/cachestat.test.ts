// cachestat against the real kernel, for one process (the process filter): reading a file whose
// pages were dropped (posix_fadvise DONTNEED on that file only: the machine is shared) misses,
// reading it again hits, writing a new file dirties its pages; buffers/cached are /proc/meminfo now.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachestat } from '../../src/modules/cachestat';
import { buildObjects, context, tmpRoot } from '../modules/hist-helpers';

const PAGES = 2048; // 8 MiB
const dir = fs.mkdtempSync('/var/tmp/cachestat-');
const file = path.join(dir, 'data');

beforeAll(() => {
  buildObjects('cachestat');
  fs.writeFileSync(file, Buffer.alloc(PAGES * 4096, 7));
  const fd = fs.openSync(file, 'r+');
  fs.fsyncSync(fd); // clean pages, so DONTNEED can drop them
  fs.closeSync(fd);
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

const NAMES = ['total', 'misses', 'hits', 'dirtied', 'buffers', 'cached'];
type M = { refresh(): void; fetch(i: number, c: { slot: number; ctxid: number }): unknown };

function read(m: M): Record<string, bigint> {
  m.refresh();
  return Object.fromEntries(NAMES.map((n, i) => [n, BigInt((m.fetch(i, { slot: 0, ctxid: 0 }) as { value: bigint | number }[])[0]!.value)]));
}

function phase(p: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve) => {
    p.stdout!.once('data', () => resolve());
    p.stdin!.write(`${line}\n`);
  });
}

const diff = (a: Record<string, bigint>, b: Record<string, bigint>) => Object.fromEntries(NAMES.slice(0, 4).map((n) => [n, Number(b[n]! - a[n]!)]));

describe('cachestat', () => {
  it('a cold read misses, a warm read hits, a write dirties (one process, filtered by pid)', async () => {
    const p = spawn('/usr/bin/python3', [path.join(__dirname, '../helpers/cache_reader.py')], { stdio: ['pipe', 'pipe', 'inherit'] });
    const { ctx, state } = context(cachestat, { process: String(p.pid) });
    const m = cachestat.create(ctx) as unknown as M & { start(): Promise<void>; stop(): Promise<void> };
    try {
      await m.start();
      expect(state.variant).toBe('tracepoint');
      const r0 = read(m);
      await phase(p, `cold ${file}`);
      const r1 = read(m);
      await phase(p, `warm ${file}`);
      const r2 = read(m);
      await phase(p, `write ${path.join(dir, 'new')} ${1024 * 4096}`);
      const r3 = read(m);
      const cold = diff(r0, r1);
      const warm = diff(r1, r2);
      const write = diff(r2, r3);
      expect(cold.misses).toBeGreaterThanOrEqual(PAGES * 0.95);
      expect(cold.misses).toBeLessThanOrEqual(PAGES * 1.1);
      expect(cold.total).toBeGreaterThanOrEqual(PAGES);
      expect(warm.misses).toBeLessThanOrEqual(PAGES * 0.02);
      expect(warm.hits).toBeGreaterThanOrEqual(PAGES);
      expect(warm.total).toBeGreaterThanOrEqual(PAGES);
      expect(warm.dirtied).toBe(0);
      expect(write.dirtied).toBeGreaterThan(0);
      expect(write.misses).toBeLessThanOrEqual(1024);
      // Counters never go back; buffers/cached are the current meminfo values, not running sums.
      for (const n of NAMES.slice(0, 4)) expect(r3[n]! >= r2[n]! && r2[n]! >= r1[n]! && r1[n]! >= r0[n]!).toBe(true);
      const cachedNow = BigInt(/^Cached:\s+(\d+)/m.exec(fs.readFileSync('/proc/meminfo', 'latin1'))![1]!) / 1024n;
      expect(Number(r3.cached! - cachedNow)).toBeLessThan(64);
      expect(Number(r3.cached!)).toBeLessThan(24 * 1024 + 1);
      expect(r3.buffers! < 24n * 1024n).toBe(true);
      p.stdin!.write('quit\n');
    } finally {
      p.kill();
      await m.stop();
    }
  });

  it('refuses bad option values, naming the key', () => {
    expect(() => context(cachestat, { variant: 'kprobe' })).toThrow(/variant: expected one of auto, tracepoint/);
    expect(() => context(cachestat, { process_refresh: 'soon' })).toThrow(/process_refresh: expected an integer/);
  });
});
