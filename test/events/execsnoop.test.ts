// execsnoop against the real kernel: real execs (spawned from this process, so their pid and
// ppid are known), read back through the module's fetch as pmcd would.
import { spawn, spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { PM_EVENT_FLAG, PM_IN_NULL, type EventRecord } from '../../src/pcp/types';
import { execsnoop } from '../../src/modules/execsnoop';
import { startModule, sleep, type Running } from './helpers';

const I = { comm: 0, pid: 1, ppid: 2, ret: 3, args: 4, uid: 5, seq: 6, lost: 7, records: 8 };
const ALL = [0, 1, 2, 3, 4, 5, 6];
const PMID = (item: number) => ((149 << 22) | (8 << 10) | item) >>> 0;

let marker = '';
let run: Running | null = null;
afterEach(async () => {
  await run?.stop();
  run = null;
});

function newMarker(): string {
  marker = `EVX${process.pid}q${Date.now().toString(36)}`;
  return marker;
}

/** Run /bin/echo with these args; resolves to the child's pid once it has exited. */
function echo(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = spawn('/bin/echo', args, { stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', () => resolve(c.pid!));
  });
}

async function storm(n: number, argsOf: (i: number) => string[]): Promise<number[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => echo(argsOf(i))));
}

function seqNow(r: Running): bigint {
  const s = r.fetch(I.seq);
  return s.length ? (s.find((v) => v.inst === 0)!.value as bigint) : 0n;
}

function paramsOf(rec: EventRecord): Record<number, unknown> {
  return Object.fromEntries(rec.params.map((p) => [p.pmid, p.value]));
}

describe('execsnoop', () => {
  it('finds every exec of a storm with pid, ppid, args, ret; seq advances by exactly N; nothing lost', async () => {
    const m = newMarker();
    const N = 40;
    run = await startModule(execsnoop, { process_count: '64', args: m });
    expect(run.state.variant).toMatch(/^tracepoint/);
    const before = seqNow(run);
    const pids = await storm(N, (i) => [`${m}-${i}`, `arg${i}`, 'two words']);
    await sleep(50);
    const rows = run.rows(ALL);
    const byArgs = new Map([...rows.values()].map((r) => [r[I.args] as string, r]));
    for (let i = 0; i < N; i++) {
      const row = byArgs.get(`/bin/echo ${m}-${i} arg${i} two words`);
      expect(row, `exec ${i}`).toBeDefined();
      expect(row![I.pid]).toBe(pids[i]);
      expect(row![I.ppid]).toBe(process.pid);
      expect(row![I.ret]).toBe(0);
      expect(row![I.comm]).toBe('echo');
      expect(row![I.uid]).toBe(process.getuid!());
    }
    expect(seqNow(run) - before).toBe(BigInt(N));
    // seq per slot: newest in "0", each slot one less than the slot before it.
    const seqs = run.fetch(I.seq);
    for (const { inst, value } of seqs) expect(value).toBe((seqs[0].value as bigint) - BigInt(inst));
    expect(run.fetch(I.lost)).toEqual([{ inst: PM_IN_NULL, value: 0n }]);
  });

  it('leaves unfilled slots without values and keeps only the newest process_count', async () => {
    const m = newMarker();
    run = await startModule(execsnoop, { process_count: '5', args: m });
    expect(run.fetch(I.pid)).toEqual([]);
    await echo([`${m}-a`]);
    expect(run.fetch(I.args).map((v) => v.value)).toEqual([`/bin/echo ${m}-a`]);
    for (let i = 0; i < 8; i++) await echo([`${m}-${i}`]);
    const args = run.fetch(I.args);
    expect(args.map((v) => v.inst)).toEqual([0, 1, 2, 3, 4]);
    expect(args.map((v) => v.value)).toEqual([7, 6, 5, 4, 3].map((i) => `/bin/echo ${m}-${i}`));
  });

  it('reports failed execs only with include_failed', async () => {
    const m = newMarker();
    const path = `/nonexistent-${m}/cmd`;
    run = await startModule(execsnoop, { args: m });
    spawnSync(path, ['x']);
    expect(run.fetch(I.args)).toEqual([]);
    await run.stop();
    run = await startModule(execsnoop, { args: m, include_failed: 'true' });
    const r = spawnSync(path, ['x']);
    expect(r.error).toBeDefined();
    const rows = run.rows(ALL);
    expect(rows.size).toBe(1);
    expect(rows.get(0)![I.ret]).toBe(-2); // ENOENT
    expect(rows.get(0)![I.args]).toBe(`${path} x`);
  });

  it('redacts secrets by default and with a configured pattern', async () => {
    const m = newMarker();
    run = await startModule(execsnoop, { args: m });
    await echo([m, 'password=hunter2', '--token', 'abc123', 'https://bob:s3cret@example.com/x', 'MYSQL_PWD=pw', 'plain']);
    expect(run.fetch(I.args)[0].value).toBe(`/bin/echo ${m} password=*** --token *** https://bob:***@example.com/x MYSQL_PWD=*** plain`);
    await run.stop();
    run = await startModule(execsnoop, { args: m, redact: 'default, card=\\d{4}-\\d{4}' });
    await echo([m, 'card=1234-5678', 'pwd=x']);
    expect(run.fetch(I.args)[0].value).toBe(`/bin/echo ${m} card=*** pwd=***`);
    await run.stop();
    run = await startModule(execsnoop, { args: m, redact: '' });
    await echo([m, 'password=visible']);
    expect(run.fetch(I.args)[0].value).toBe(`/bin/echo ${m} password=visible`);
  });

  it('returns a long argument exact up to 127 bytes and visibly truncated beyond, never mixed with another exec', async () => {
    const m = newMarker();
    run = await startModule(execsnoop, { args: m, process_count: '10' });
    const a127 = 'a'.repeat(127);
    const b300 = 'b'.repeat(300);
    const c128 = 'c'.repeat(128);
    // A long command line first, then short ones: stale bytes of it must never show up later.
    await echo([m, b300, c128, 'after']);
    await echo([m, 'x']);
    await echo([m, a127, 'y']);
    const args = run.fetch(I.args).map((v) => v.value);
    expect(args).toEqual([
      `/bin/echo ${m} ${a127} y`,
      `/bin/echo ${m} x`,
      `/bin/echo ${m} ${'b'.repeat(127)}... ${'c'.repeat(127)}... after`,
    ]);
  });

  it('keeps max_args words and marks the rest with " ..."', async () => {
    const m = newMarker();
    run = await startModule(execsnoop, { args: m, max_args: '4' });
    await echo([m, '1', '2', '3', '4', '5']);
    await echo([m, '1', '2']); // exactly max_args words: no marker
    expect(run.fetch(I.args).map((v) => v.value)).toEqual([`/bin/echo ${m} 1 2`, `/bin/echo ${m} 1 2 ...`]);
  });

  it('filters on command with a regex on comm', async () => {
    const m = newMarker();
    run = await startModule(execsnoop, { args: m, command: '^tru' });
    await echo([m]);
    spawnSync('/bin/true', [m]);
    const rows = run.rows(ALL);
    expect([...rows.values()].map((r) => r[I.comm])).toEqual(['true']);
  });

  it('event records: each marked exec exactly once per client across fetches, clients independent', async () => {
    const m = newMarker();
    run = await startModule(execsnoop, { args: m, process_count: '5' });
    const A = { slot: 1, ctxid: 0 };
    const B = { slot: 2, ctxid: 0 };
    expect(run.records(I.records, A)).toEqual([]); // registers A
    expect(run.records(I.records, B)).toEqual([]); // registers B
    const first = await storm(30, (i) => [`${m}-${i}`]);
    const recA1 = run.records(I.records, A);
    const second = await storm(30, (i) => [`${m}-${30 + i}`]);
    const recA2 = run.records(I.records, A);
    const recB = run.records(I.records, B);
    const pidsOf = (recs: EventRecord[]) => recs.map((r) => paramsOf(r)[PMID(I.pid)] as number).sort((a, b) => a - b);
    expect(pidsOf(recA1)).toEqual([...first].sort((a, b) => a - b));
    expect(pidsOf(recA2)).toEqual([...second].sort((a, b) => a - b));
    expect(pidsOf(recB)).toEqual([...first, ...second].sort((a, b) => a - b));
    expect(run.records(I.records, A)).toEqual([]);
    // Records carry the module's own metrics as parameters, a wall-clock time stamp and POINT.
    const r0 = recB[0];
    expect(r0.flags).toBe(PM_EVENT_FLAG.POINT);
    const p = paramsOf(r0);
    expect(Object.keys(p).map(Number).sort()).toEqual([0, 1, 2, 3, 4, 5, 6].map(PMID).sort());
    expect(p[PMID(I.ppid)]).toBe(process.pid);
    expect(String(p[PMID(I.args)])).toMatch(new RegExp(`^/bin/echo ${m}-\\d+$`));
    const t = Number(r0.sec) * 1000 + Number(r0.frac) / 1e6;
    expect(Math.abs(t - Date.now())).toBeLessThan(30_000);
    // seq parameters are distinct and cover exactly the 60 execs
    const seqs = recB.map((r) => paramsOf(r)[PMID(I.seq)] as bigint).sort((a, b) => (a < b ? -1 : 1));
    expect(seqs[59] - seqs[0]).toBe(59n);
    // A closed client is forgotten; its slot starts afresh.
    run.m.clientClosed!(A.slot);
    expect(run.records(I.records, A)).toEqual([]);
  });

  it('counts kernel-side losses when the ring is too small for a burst, and keeps serving', async () => {
    const m = newMarker();
    // One page of ring and no timer drain during the burst: ~1.6 KB records, only two fit.
    run = await startModule(execsnoop, { args: m, buffer_page_count: '1', poll_interval: '10000', max_args: '20' });
    const long = Array.from({ length: 12 }, (_, i) => `${i}`.repeat(120));
    await storm(20, (i) => [`${m}-${i}`, ...long]);
    const lost = run.fetch(I.lost)[0].value as bigint;
    expect(lost).toBeGreaterThan(0n);
    expect(run.state.lost).toBe(lost);
    // The kernel drops whatever does not fit, other processes' execs included.
    const seen = run.fetch(I.args).length;
    expect(seen).toBeLessThan(20);
    expect(BigInt(seen) + lost).toBeGreaterThanOrEqual(20n);
    // Still serving: the next exec is seen.
    await echo([`${m}-after`]);
    expect(run.fetch(I.args)[0].value).toBe(`/bin/echo ${m}-after`);
  });
});
