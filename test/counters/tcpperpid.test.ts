// tcpperpid against the real kernel: one loopback session (client sends 1000 bytes, server 3000)
// gives exactly those tx/rx for each pid, in the closed-session mode and with highres; dport and
// lport select one side; the process filter; bad values refused naming the key.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tcpperpid } from '../../src/modules/tcpperpid';
import { buildObjects, context, sleep, tmpRoot } from '../modules/hist-helpers';

beforeAll(() => buildObjects('tcpperpid'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

const PY = '/usr/bin/python3';
const SESSION = path.join(__dirname, '../helpers/tcp_session.py');
type M = { start(): Promise<void>; stop(): Promise<void>; refresh(): void; fetch(i: number, c: { slot: number; ctxid: number }): unknown };

async function server() {
  const p = spawn(PY, [SESSION, 'server'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    p.stdout!.on('data', (d: Buffer) => {
      const m = /PORT (\d+)/.exec(d.toString());
      if (m) resolve(Number(m[1]));
    });
    p.on('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  return { pid: p.pid!, port, done: new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r))) };
}

function client(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = execFile(PY, [SESSION, 'client', String(port)], (err) => (err ? reject(err) : resolve(c.pid!)));
  });
}

function read(m: M, state: ReturnType<typeof context>['state']): Map<string, { tx: bigint; rx: bigint }> {
  m.refresh();
  const names = new Map(state.indoms.get(11)!.instances().map((i) => [i.id, i.name]));
  const tx = m.fetch(0, { slot: 0, ctxid: 0 }) as { inst: number; value: bigint }[];
  const rx = new Map((m.fetch(1, { slot: 0, ctxid: 0 }) as { inst: number; value: bigint }[]).map((x) => [x.inst, x.value]));
  return new Map(tx.map((x) => [names.get(x.inst)!, { tx: x.value, rx: rx.get(x.inst)! }]));
}

/**
 * highres counts data bytes exactly. A closed session reports the kernel's bytes_acked and
 * bytes_received (as tcplife and pmdabcc), which count sequence space: the SYN and the FIN
 * add one each to what was sent, the FIN one to what was received.
 */
function expectBytes(got: { tx: bigint; rx: bigint } | undefined, tx: bigint, rx: bigint, exact: boolean): void {
  expect(got).toBeDefined();
  if (exact) return void expect(got).toEqual({ tx, rx });
  expect(got!.tx >= tx && got!.tx <= tx + 2n && got!.rx >= rx && got!.rx <= rx + 1n, JSON.stringify({ got: String(got!.tx) + '/' + String(got!.rx), tx: String(tx), rx: String(rx) })).toBe(true);
}

const pid6 = (pid: number) => String(pid).padStart(6, '0');

async function session(raw: Record<string, string>, portKey?: 'dport' | 'lport') {
  const s = await server();
  const { ctx, state } = context(tcpperpid, portKey ? { ...raw, [portKey]: String(s.port) } : raw);
  const m = tcpperpid.create(ctx) as unknown as M;
  try {
    await m.start();
    const c = await client(s.port);
    await s.done;
    await sleep(100);
    return { v: read(m, state), client: pid6(c), server: pid6(s.pid), state };
  } finally {
    await m.stop();
  }
}

describe('tcpperpid', () => {
  for (const highres of ['false', 'true']) {
    it(`one loopback session: exact tx/rx per pid (highres ${highres})`, async () => {
      const { v, client: c, server: s, state } = await session({ highres });
      expect(state.variant).toBe('tp_btf');
      expectBytes(v.get(c), 1000n, 3000n, highres === 'true');
      expectBytes(v.get(s), 3000n, 1000n, highres === 'true');
    });
  }

  for (const highres of ['false', 'true']) {
    it(`dport selects the client's side, lport the server's (highres ${highres})`, async () => {
      const d = await session({ highres }, 'dport');
      expectBytes(d.v.get(d.client), 1000n, 3000n, highres === 'true');
      expect(d.v.has(d.server)).toBe(false);
      const l = await session({ highres }, 'lport');
      expectBytes(l.v.get(l.server), 3000n, 1000n, highres === 'true');
      expect(l.v.has(l.client)).toBe(false);
    });
  }

  it('the process filter counts only the named processes', async () => {
    const { v, client: c, server: s } = await session({ process: 'no-such-process-here' });
    expect(v.has(c)).toBe(false);
    expect(v.has(s)).toBe(false);
  });

  it('refuses bad option values, naming the key', () => {
    expect(() => context(tcpperpid, { dport: '80,http' })).toThrow(/dport: /);
    expect(() => context(tcpperpid, { lport: '70000' })).toThrow(/lport: /);
    expect(() => context(tcpperpid, { highres: 'sometimes' })).toThrow(/highres: expected true or false/);
    expect(() => context(tcpperpid, { buffer_page_count: '48' })).toThrow(/buffer_page_count: 48 is not a power of two/);
  });
});
