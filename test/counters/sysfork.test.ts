// sysfork against the real kernel: a process filtered by name forks exactly N times and the
// counter rises by exactly N; each variant on its own, and the shape's forced variant loads
// only that variant's program.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sysfork } from '../../src/modules/sysfork';
import type { KeyedCounterTool } from '../../src/modules/shared/keyed-counter';
import { buildObjects, context, namedPerl, tmpRoot } from '../modules/hist-helpers';

beforeAll(() => buildObjects('sysfork'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

const N = 137;

function value(m: { refresh?(i: ReadonlySet<number>): void; fetch(i: number, c: { slot: number; ctxid: number }): unknown }): bigint {
  m.refresh?.(new Set([0]));
  const r = m.fetch(0, { slot: 0, ctxid: 0 }) as { inst: number; value: bigint }[];
  expect(r).toHaveLength(1);
  expect(r[0]!.inst).toBe(0xffffffff);
  return r[0]!.value;
}

/** A perl named `comm` that waits for a line on stdin, then forks n children (which exit at once). */
function forker(comm: string, n: number) {
  const p = spawn(namedPerl(comm), ['-e', `<STDIN>; for (1..${n}) { my $c = fork(); if (!$c) { POSIX::_exit(0) } waitpid($c, 0) } print "done\\n"`, '-MPOSIX'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const done = new Promise<void>((resolve, reject) => {
    p.stdout!.on('data', (d: Buffer) => d.toString().includes('done') && resolve());
    p.on('exit', (code) => (code ? reject(new Error(`forker exited ${code}`)) : undefined));
  });
  return { go: () => p.stdin!.write('go\n'), done, stop: () => p.kill() };
}

describe('sysfork', () => {
  for (const variant of ['auto', 'tp_btf', 'raw_tp', 'tracepoint']) {
    it(`counts exactly the N forks of a filtered process (variant ${variant})`, async () => {
      const comm = `pmdafork-${variant.slice(0, 5)}`;
      const f = forker(comm, N);
      const { ctx, state } = context(sysfork, { process: comm, variant });
      const m = sysfork.create(ctx);
      try {
        await m.start();
        expect(state.variant).toBe(variant === 'auto' ? 'tp_btf' : variant);
        const prog = { auto: 'tpbtf_fork', tp_btf: 'tpbtf_fork', raw_tp: 'rawtp_fork', tracepoint: 'tp_fork' }[variant]!;
        expect((m as KeyedCounterTool<never, 'forks'>).loaded!.obj.loadedPrograms()).toEqual([prog]);
        const before = value(m);
        f.go();
        await f.done;
        expect(value(m) - before).toBe(BigInt(N));
      } finally {
        f.stop();
        await m.stop();
      }
    });
  }

  it('unfiltered, counts the forks of the whole host (at least ours)', async () => {
    const { ctx } = context(sysfork);
    const m = sysfork.create(ctx);
    const f = forker('pmdafork-all', N);
    try {
      await m.start();
      const before = value(m);
      f.go();
      await f.done;
      expect(value(m) - before).toBeGreaterThanOrEqual(BigInt(N));
    } finally {
      f.stop();
      await m.stop();
    }
  });

  it('refuses a variant the tool does not offer', async () => {
    expect(() => context(sysfork, { variant: 'kprobe' })).toThrow(/variant: expected one of auto, tp_btf, raw_tp, tracepoint/);
  });

  it('stop after stop and stop after a failed start are harmless', async () => {
    const { ctx } = context(sysfork, { cgroup: '/' });
    const m = sysfork.create(ctx);
    await m.start().catch(() => undefined);
    await m.stop();
    await m.stop();
  });
});
