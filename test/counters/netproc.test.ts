// netproc against the real kernel: PCP QA 1286's exchange (one call each way, TCP 11/17 bytes,
// UDP 16/22) gives exactly those values per process, named as the proc PMDA names them; exited
// processes keep or lose their instances as remove_stopped_processes says; the process filter;
// each variant; a 10 000-connection churn against a tiny map stays bounded and counts its loss.
import { spawn, spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netproc } from '../../src/modules/netproc';
import type { KeyedCounterTool } from '../../src/modules/shared/keyed-counter';
import { procInstanceName } from '../../src/modules/shared/process-name';
import { exchange, PY, QA1286 } from '../helpers/netproc-pair';
import { buildObjects, context, sleep, tmpRoot } from '../modules/hist-helpers';

beforeAll(() => buildObjects('netproc'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

const CHURN = path.join(__dirname, '../helpers/netproc_churn.py');
const METRICS = Object.keys(QA1286);
const EXPECTED = QA1286;

type Tool = KeyedCounterTool<never, never> & { refresh(): void };
type Row = { inst: number; value: bigint };

function fetchAll(m: Tool): Map<string, Map<number, bigint>> {
  m.refresh();
  const out = new Map<string, Map<number, bigint>>();
  METRICS.forEach((name, item) => out.set(name, new Map((m.fetch(item, { slot: 0, ctxid: 0 }) as Row[]).map((r) => [r.inst, r.value]))));
  return out;
}

function indomNames(state: ReturnType<typeof context>['state']): Map<number, string> {
  return new Map(state.indoms.get(40)!.instances().map((i) => [i.id, i.name]));
}

describe('netproc', () => {
  for (const variant of ['auto', 'tp_btf', 'raw_tp', 'tracepoint']) {
    it(`QA 1286: one call each way, TCP 11/17 and UDP 16/22 bytes (variant ${variant})`, async () => {
      const { ctx, state } = context(netproc, { variant, remove_stopped_processes: 'false' });
      const m = netproc.create(ctx) as unknown as Tool;
      try {
        await m.start();
        expect(state.variant).toBe(variant === 'auto' ? 'tp_btf' : variant);
        const { server, client } = await exchange();
        const v = fetchAll(m);
        for (const name of METRICS) {
          const [c, s] = EXPECTED[name]!;
          expect({ name, client: v.get(name)!.get(client), server: v.get(name)!.get(server) }).toEqual({ name, client: BigInt(c), server: BigInt(s) });
        }
        // Both were gone before the first refresh named them: the bare zero-padded pid (as pmdabcc).
        const names = indomNames(state);
        expect(names.get(client)).toBe(String(client).padStart(6, '0'));
        expect(names.get(server)).toBe(String(server).padStart(6, '0'));
      } finally {
        await m.stop();
      }
    });
  }

  it('names a live process as the proc PMDA does; remove_stopped_processes drops it once gone', async () => {
    const { ctx, state } = context(netproc);
    const m = netproc.create(ctx) as unknown as Tool;
    await m.start();
    // A live process that talks UDP to itself, then waits for a line on stdin.
    const p = spawn(PY, ['-c', 'import socket,sys\nu=socket.socket(2,2)\nu.bind(("127.0.0.1",0))\nu.sendto(b"abc",u.getsockname())\nu.recv(10)\nprint("ok",flush=True)\nsys.stdin.readline()'], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await new Promise((r) => p.stdout!.once('data', r));
      const v = fetchAll(m);
      expect(v.get('udp.send.bytes')!.get(p.pid!)).toBe(3n);
      expect(v.get('udp.recv.calls')!.get(p.pid!)).toBe(1n);
      expect(indomNames(state).get(p.pid!)).toBe(`${String(p.pid).padStart(6, '0')} ${PY}`);
      p.stdin!.end('\n');
      await new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)));
      await sleep(1100); // the prune runs at most once a second
      const after = fetchAll(m);
      expect(after.get('udp.send.bytes')!.has(p.pid!)).toBe(false);
      expect(indomNames(state).has(p.pid!)).toBe(false);
    } finally {
      p.kill();
      await m.stop();
    }
  });

  it('the process filter counts only the named processes', async () => {
    const { ctx } = context(netproc, { process: String(process.pid) });
    const m = netproc.create(ctx) as unknown as Tool;
    const sock = dgram.createSocket('udp4');
    try {
      await m.start();
      const { server, client } = await exchange();
      await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
      await new Promise<void>((resolve, reject) => sock.send(Buffer.alloc(7), sock.address().port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      const v = fetchAll(m);
      for (const name of METRICS) {
        expect(v.get(name)!.has(server)).toBe(false);
        expect(v.get(name)!.has(client)).toBe(false);
      }
      expect(v.get('udp.send.bytes')!.get(process.pid)).toBe(7n);
      expect([...v.get('udp.send.calls')!.keys()]).toEqual([process.pid]);
    } finally {
      sock.close();
      await m.stop();
    }
  });

  it('a 10 000-connection churn against an 8-process map stays bounded and counts what it drops', async () => {
    // Instances kept after exit, so every child's final total can be read at the end.
    const { ctx, state } = context(netproc, { max_processes: '8', remove_stopped_processes: 'false' });
    const m = netproc.create(ctx) as unknown as Tool;
    try {
      await m.start();
      const map = m.loaded!.obj.map('counts');
      expect(map.maxEntries).toBe(8);
      const children: number[] = [];
      const churn = spawn(PY, [CHURN, '200', '50', '4'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let done = false;
      churn.stdout!.on('data', (d: Buffer) => {
        for (const l of d.toString().split('\n')) {
          const c = /CHILD (\d+)/.exec(l);
          if (c) children.push(Number(c[1]));
          if (l === 'DONE') done = true;
        }
      });
      const sends = new Map<number, bigint>();
      expect(state.lost).toBe(0n);
      let maxSeen = 0;
      while (!done) {
        const v = fetchAll(m).get('tcp.send.calls')!;
        for (const c of children) if (v.has(c)) sends.set(c, v.get(c)!);
        maxSeen = Math.max(maxSeen, map.lookupBatch().count);
        await sleep(50);
      }
      const v = fetchAll(m).get('tcp.send.calls')!;
      for (const c of children) if (v.has(c)) sends.set(c, v.get(c)!);
      expect(children).toHaveLength(200);
      const counted = [...sends.values()].reduce((a, b) => a + b, 0n);
      // Never more than each child made, never silent: what was not counted is in lost.
      for (const s of sends.values()) expect(s).toBeLessThanOrEqual(50n);
      expect(counted).toBeLessThan(10_000n);
      expect(state.lost).toBeGreaterThan(0n);
      expect(counted + state.lost).toBeGreaterThanOrEqual(10_000n);
      expect(maxSeen).toBeLessThanOrEqual(8);
      // Exited children's kernel entries were pruned; their instances keep the totals.
      await sleep(1100);
      fetchAll(m);
      expect(map.lookupBatch().count).toBeLessThan(8);
    } finally {
      await m.stop();
    }
  }, 120_000);

  it('refuses bad option values, naming the key', () => {
    expect(() => context(netproc, { max_processes: '0' })).toThrow(/max_processes: 0 is below the minimum 1/);
    expect(() => context(netproc, { remove_stopped_processes: 'maybe' })).toThrow(/remove_stopped_processes: expected true or false/);
    expect(() => context(netproc, { variant: 'kprobe' })).toThrow(/variant: expected one of/);
  });
});

describe('process instance names', () => {
  it('match the proc PMDA byte for byte (pminfo proc.psinfo.pid through pmcd)', () => {
    const r = spawnSync('pminfo', ['-f', 'proc.psinfo.pid'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`the proc PMDA is needed here: ${r.stderr}`);
    let compared = 0;
    for (const line of r.stdout.split('\n')) {
      const m = /^\s+inst \[(\d+) or "(.*)"\] value/.exec(line);
      if (!m) continue;
      const ours = procInstanceName(Number(m[1]));
      if (ours === null) continue; // exited since
      // A kworker's comm names the work it runs now; pmdaproc keeps the one it first saw.
      if (m[2]!.includes(' (kworker/')) continue;
      expect(ours).toBe(m[2]);
      compared++;
    }
    expect(compared).toBeGreaterThan(20);
  });

  it('a gone process has no name (the module then uses the bare pid)', () => {
    expect(procInstanceName(0x3fffff)).toBeNull();
  });
});
