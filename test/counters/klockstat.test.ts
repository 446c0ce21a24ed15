// klockstat against the real kernel: processes contending one pipe's mutex make the pipe
// functions' spin.count and spin.total grow; hold answers no values here (no kprobes) and the
// variant says why; stack_depth, caller_filter, use_caller_offset and stack_storage_size change
// what is named and kept; bad values are refused naming the key.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { klockstat } from '../../src/modules/klockstat';
import { buildObjects, context, namedPerl, tmpRoot } from '../modules/hist-helpers';

beforeAll(() => buildObjects('klockstat'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

const WORK = path.join(__dirname, '../helpers/mutex_contend.pl');
type M = { start(): Promise<void>; stop(): Promise<void>; refresh(): void; fetch(i: number, c: { slot: number; ctxid: number }): unknown };
type Row = { inst: number; value: bigint | number };

function byName(m: M, state: ReturnType<typeof context>['state'], item: number): Map<string, number> {
  m.refresh();
  const names = new Map(state.indoms.get(31)!.instances().map((i) => [i.id, i.name]));
  const r = m.fetch(item, { slot: 0, ctxid: 0 });
  if (!Array.isArray(r)) throw new Error(`fetch ${item}: ${String(r)}`);
  return new Map((r as Row[]).map((x) => [names.get(x.inst)!, Number(x.value)]));
}

function contend(comm: string): void {
  execFileSync(namedPerl(comm), [WORK, '4', '20000'], { stdio: 'ignore', timeout: 60_000 });
}

// The pipe functions take the pipe's mutex: pipe_read/pipe_write, anon_pipe_read/_write since 6.14.
const pipeCallers = (v: Map<string, number>) => [...v].filter(([n]) => /^(anon_)?pipe_(read|write)$/.test(n));
const PIPE_PREFIX = /\banon_pipe_read\b/.test(fs.readFileSync('/proc/kallsyms', 'latin1')) ? 'anon_pipe_' : 'pipe_';

describe('klockstat', () => {
  for (const variant of ['auto', 'tracepoint']) {
    it(`contended pipe mutex: the pipe functions' spin.count and spin.total grow (variant ${variant})`, async () => {
      const { ctx, state } = context(klockstat, { variant });
      const m = klockstat.create(ctx) as unknown as M;
      try {
        await m.start();
        expect(state.variant).toMatch(new RegExp(`^${variant === 'auto' ? 'tp_btf' : variant} \\(contended waits only\\); hold: no values, kprobes are not available`));
        contend('pmdalock');
        const count = pipeCallers(byName(m, state, 1));
        const total = pipeCallers(byName(m, state, 3));
        expect(count.length, `callers seen: ${[...byName(m, state, 1).keys()].slice(0, 20).join(', ')}`).toBeGreaterThan(0);
        expect(count.reduce((a, [, v]) => a + v, 0)).toBeGreaterThan(10);
        expect(total.reduce((a, [, v]) => a + v, 0)).toBeGreaterThan(0);
        const avg = byName(m, state, 0);
        const max = byName(m, state, 2);
        for (const [n, c] of count) {
          const t = byName(m, state, 3).get(n)!;
          expect(avg.get(n)).toBe(Math.floor(t / c));
          expect(max.get(n)!).toBeLessThanOrEqual(t);
        }
        // Every instance is a single function name (stack_depth 1).
        for (const n of byName(m, state, 1).keys()) expect(n).toMatch(/^[\w.]+$|^<Missed Kernel Stack>$/);
        // hold: no values without kprobes.
        for (const item of [4, 5, 6, 7]) expect(byName(m, state, item).size).toBe(0);
      } finally {
        await m.stop();
      }
    });
  }

  it('stack_depth, caller_filter and use_caller_offset shape the names', async () => {
    const { ctx, state } = context(klockstat, { stack_depth: '2', caller_filter: PIPE_PREFIX, use_caller_offset: 'true' });
    const m = klockstat.create(ctx) as unknown as M;
    try {
      await m.start();
      contend('pmdalock2');
      const names = [...byName(m, state, 1).keys()];
      expect(names.length).toBeGreaterThan(0);
      for (const n of names) expect(n).toMatch(new RegExp(`^${PIPE_PREFIX}\\w+\\+0x[0-9a-f]+\\+\\w+\\+0x[0-9a-f]+$`));
    } finally {
      await m.stop();
    }
  });

  it('the process filter leaves other processes out', async () => {
    const { ctx, state } = context(klockstat, { process: 'no-such-process-here' });
    const m = klockstat.create(ctx) as unknown as M;
    try {
      await m.start();
      contend('pmdalock3');
      expect(pipeCallers(byName(m, state, 1))).toEqual([]);
    } finally {
      await m.stop();
    }
  });

  it('a tiny stack_storage_size loses stacks and counts them', async () => {
    const { ctx, state } = context(klockstat, { stack_storage_size: '64' });
    const m = klockstat.create(ctx) as unknown as M & { loaded: { obj: { map(n: string): { maxEntries: number } } } };
    try {
      await m.start();
      expect(m.loaded.obj.map('stacks').maxEntries).toBe(64);
    } finally {
      await m.stop();
    }
  });

  it('refuses bad option values, naming the key', () => {
    expect(() => context(klockstat, { stack_depth: '0' })).toThrow(/stack_depth: 0 is below the minimum 1/);
    expect(() => context(klockstat, { stack_storage_size: 'lots' })).toThrow(/stack_storage_size: expected an integer/);
    expect(() => context(klockstat, { use_caller_offset: 'perhaps' })).toThrow(/use_caller_offset: expected true or false/);
    expect(() => context(klockstat, { variant: 'fentry' })).toThrow(/variant: expected one of/);
  });
});
