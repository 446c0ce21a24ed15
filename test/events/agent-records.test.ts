// The event-record metric through the built agent on a pipe (as pmcd runs it) and through
// dbpmda (libpcp decoding the records): every marked exec exactly once per client.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFetch, pmid, PDU, PM_EVENT_FLAG, type EventArray, type EventRecord } from '../../src/pcp';
import { MODULES } from '../../src/modules';
import { AGENT, startAgent, type AgentPipe } from '../helpers/agent-pipe';
import { Dbpmda } from '../helpers/dbpmda';
import { sleep } from './helpers';

const RECORDS = pmid(149, 8, 8);
const P = { comm: pmid(149, 8, 0), pid: pmid(149, 8, 1), args: pmid(149, 8, 4), seq: pmid(149, 8, 6) };

function config(marker: string): string {
  return MODULES.map((m) => (m.name === 'execsnoop' ? `[execsnoop]\nenabled = true\nargs = ${marker}\nprocess_count = 5\n` : `[${m.name}]\nenabled = false\n`)).join('');
}

function echo(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = spawn('/bin/echo', args, { stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', () => resolve(c.pid!));
  });
}

let agent: AgentPipe | null = null;
afterEach(() => {
  agent?.kill();
  agent = null;
});

async function records(a: AgentPipe, slot: number): Promise<EventRecord[] | null> {
  a.send(encodeFetch({ from: slot, ctxid: 0, pmids: [RECORDS] }));
  const r = await a.next();
  if (r?.type !== PDU.RESULT) throw new Error(`expected a RESULT, got ${JSON.stringify(r)}`);
  const set = r.sets[0]!;
  if (set.numval < 0) return null; // module still starting (PM_ERR_AGAIN)
  return (set.values[0]!.value as EventArray).records;
}

const param = (r: EventRecord, id: number) => r.params.find((p) => p.pmid === id)?.value;

/** Fetch `slot`'s records until every pid of `want` is among them (the exec events reach the
 *  agent through its ring buffer poll, a little after the processes exit), with a deadline. */
async function recordsOf(a: AgentPipe, slot: number, want: number[]): Promise<EventRecord[]> {
  const got: EventRecord[] = [];
  const end = Date.now() + 10_000;
  for (;;) {
    got.push(...((await records(a, slot)) ?? []));
    const pids = new Set(got.map((r) => param(r, P.pid)));
    if (want.every((p) => pids.has(p)) || Date.now() > end) return got;
    await sleep(20);
  }
}

describe('event records through the agent', () => {
  it('delivers each marked exec exactly once to each of two clients, on the wire', async () => {
    const marker = `AGR${process.pid}x${Date.now().toString(36)}`;
    agent = await startAgent(config(marker));
    const A = 11;
    const B = 12;
    for (let i = 0; (await records(agent, A)) === null; i++) {
      if (i > 100) throw new Error('execsnoop did not start');
      await sleep(100);
    }
    expect(await records(agent, B)).toEqual([]);
    const first = await Promise.all(Array.from({ length: 25 }, (_, i) => echo([`${marker}-${i}`])));
    const a1 = await recordsOf(agent, A, first);
    const second = await Promise.all(Array.from({ length: 25 }, (_, i) => echo([`${marker}-${25 + i}`])));
    const a2 = await recordsOf(agent, A, second);
    const b = await recordsOf(agent, B, [...first, ...second]);
    const pids = (rs: EventRecord[]) => rs.map((r) => param(r, P.pid) as number).sort((x, y) => x - y);
    const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
    expect(pids(a1)).toEqual(sorted(first));
    expect(pids(a2)).toEqual(sorted(second));
    expect(pids(b)).toEqual(sorted([...first, ...second]));
    for (const r of b) {
      expect(r.flags).toBe(PM_EVENT_FLAG.POINT);
      expect(param(r, P.comm)).toBe('echo');
      expect(String(param(r, P.args))).toMatch(new RegExp(`^/bin/echo ${marker}-\\d+$`));
    }
    // Time stamps are wall-clock nanoseconds and follow the exec order (seq).
    const bySeq = [...b].sort((x, y) => Number((param(x, P.seq) as bigint) - (param(y, P.seq) as bigint)));
    for (let i = 1; i < bySeq.length; i++) {
      const t = (r: EventRecord) => BigInt(r.sec) * 1_000_000_000n + BigInt(r.frac);
      expect(t(bySeq[i]) >= t(bySeq[i - 1])).toBe(true);
    }
    expect(Math.abs(Number(bySeq[0].sec) - Date.now() / 1000)).toBeLessThan(60);
  });

  it('is decoded by libpcp (dbpmda) as the number of execs that happened', async () => {
    const marker = `DBR${process.pid}x${Date.now().toString(36)}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ev-dbpmda-'));
    fs.writeFileSync(path.join(dir, 'root'), 'root {\n\tbcc\t149:*:*\n}\n');
    fs.writeFileSync(path.join(dir, 'ebpf.conf'), config(marker));
    const db = new Dbpmda(path.join(dir, 'root'));
    const ANSWER = /value \[\d+ event records[^\]]*\]|Try again|Error/;
    const fetchRecords = async () => ANSWER.exec(await db.cmd('fetch bcc.proc.exec.records', ANSWER))![0];
    try {
      await db.cmd(`open pipe ${process.execPath} ${AGENT} -d 149 -l ${dir}/agent.log -c ${dir}/ebpf.conf --state-dir ${dir}/state`, /Start \S+ PMDA/);
      // Until the module has started, the agent answers PM_ERR_AGAIN ("Try again"); its first
      // answer with values has no records (the client has seen nothing yet).
      let first = await fetchRecords();
      for (const end = Date.now() + 30_000; !first.startsWith('value') && Date.now() < end; first = await fetchRecords()) await sleep(100);
      expect(first, db.output).toBe('value [0 event records]');
      for (let i = 0; i < 3; i++) spawnSync('/bin/echo', [`${marker}-${i}`]);
      // The three execs arrive with the agent's ring buffer polls: fetch until all are there
      // (one fetch or more), then once more: each exec is delivered once.
      let seen = 0;
      for (const end = Date.now() + 10_000; seen < 3 && Date.now() < end; await sleep(50)) {
        const answer = await fetchRecords();
        const n = Number(/^value \[(\d+) event records/.exec(answer)?.[1] ?? NaN);
        expect(answer, db.output).toMatch(n === 0 ? /^value \[0 event records\]$/ : /^value \[\d+ event records timestamps \d\d:\d\d:\d\d\.\d{9}\.\.\.\d\d:\d\d:\d\d\.\d{9}\]$/);
        seen += n;
      }
      expect(seen, db.output).toBe(3);
      expect(await fetchRecords(), db.output).toBe('value [0 event records]');
      expect(await db.close(), db.output).toBe(0);
    } finally {
      db.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
