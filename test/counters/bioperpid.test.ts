// bioperpid against the real kernel: dd writes 20 MiB with O_DIRECT; its "<disk>::<pid>"
// instance shows 20 MiB within 20 % on the root disk (PCP QA 1116) and exactly on a raw loop
// device; a dead process's instance leaves at the second refresh that finds it gone.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bioperpid } from '../../src/modules/bioperpid';
import { buildObjects, context, tmpRoot } from '../modules/hist-helpers';

beforeAll(() => buildObjects('bioperpid'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

const MiB20 = 20 * 1024 * 1024;
type M = { start(): Promise<void>; stop(): Promise<void>; refresh(): void; fetch(i: number, c: { slot: number; ctxid: number }): unknown };

function byName(m: M, state: ReturnType<typeof context>['state']): Map<string, bigint> {
  m.refresh();
  const names = new Map(state.indoms.get(1)!.instances().map((i) => [i.id, i.name]));
  return new Map((m.fetch(0, { slot: 0, ctxid: 0 }) as { inst: number; value: bigint }[]).map((x) => [names.get(x.inst)!, x.value]));
}

/** dd to `of` with O_DIRECT; its pid. */
function dd(of: string, extra: string[] = []): number {
  const r = spawnSync('dd', ['if=/dev/zero', `of=${of}`, 'bs=1M', 'count=20', 'oflag=direct', ...extra], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dd: ${r.stderr}`);
  return r.pid!;
}

const forPid = (v: Map<string, bigint>, pid: number) => [...v].filter(([n]) => n.endsWith(`::${String(pid).padStart(6, '0')}`));

describe('bioperpid', () => {
  it('QA 1116: dd 20 MiB O_DIRECT shows on its <disk>::<pid> instance within 20 %, and leaves two refreshes after it exited', async () => {
    const file = path.join('/var/tmp', `bioperpid-${process.pid}`);
    const { ctx, state } = context(bioperpid);
    const m = bioperpid.create(ctx) as unknown as M;
    try {
      await m.start();
      const pid = dd(file, ['conv=fsync']);
      const rows = forPid(byName(m, state), pid);
      expect(rows.length).toBeGreaterThan(0);
      for (const [n] of rows) expect(n).toMatch(/^[\w-]+::\d{6}$/);
      const total = rows.reduce((a, [, v]) => a + v, 0n);
      expect(Number(total)).toBeGreaterThanOrEqual(MiB20 * 0.8);
      expect(Number(total)).toBeLessThanOrEqual(MiB20 * 1.2);
      // Refreshes 1 and 2 after the exit: still there after the first sighting, gone after the second.
      expect(forPid(byName(m, state), pid).length).toBe(0);
    } finally {
      fs.rmSync(file, { force: true });
      await m.stop();
    }
  });

  it('exact on a raw loop device', async () => {
    const backing = path.join('/var/tmp', `bioperpid-loop-${process.pid}`);
    fs.writeFileSync(backing, Buffer.alloc(0));
    fs.truncateSync(backing, 32 * 1024 * 1024);
    const dev = execFileSync('losetup', ['--find', '--show', '--direct-io=on', backing], { encoding: 'utf8' }).trim();
    const { ctx, state } = context(bioperpid);
    const m = bioperpid.create(ctx) as unknown as M;
    try {
      await m.start();
      const pid = dd(dev);
      const v = byName(m, state);
      expect(v.get(`${path.basename(dev)}::${String(pid).padStart(6, '0')}`)).toBe(BigInt(MiB20));
    } finally {
      await m.stop();
      execFileSync('losetup', ['-d', dev]);
      fs.rmSync(backing, { force: true });
    }
  });

  it('refuses a variant it does not offer, naming the key', () => {
    expect(() => context(bioperpid, { variant: 'fentry' })).toThrow(/variant: expected one of auto, tp_btf/);
  });
});
