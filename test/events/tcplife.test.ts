// tcplife against the real kernel: loopback TCP sessions of known sizes from this process.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ModuleUnavailable, type FetchValue } from '../../src/pmda/module';
import { parseSection } from '../../src/pmda/config-schema';
import { tcplife } from '../../src/modules/tcplife';
import { startModule, sleep, type Running } from './helpers';

const I = { pid: 0, comm: 1, laddr: 2, lport: 3, daddr: 4, dport: 5, tx: 6, rx: 7, duration: 8, seq: 9, lost: 10, records: 11 };
const ALL = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const PMID = (item: number) => ((149 << 22) | (3 << 10) | item) >>> 0;

let run: Running | null = null;
afterEach(async () => {
  await run?.stop();
  run = null;
});

interface Exchange {
  serverPort: number;
  clientPort: number;
  /** process.hrtime.bigint() just before the connect: no session of this exchange is older. */
  t0: bigint;
}

/** Client sends `n` bytes, the server holds the session `holdMs`, answers n/2 and closes, the
 *  client closes. Both ends report the session once their sockets reach TCP_CLOSE, which
 *  happens in softirq after close() returns: callers wait for the sessions (sessionsOf). */
async function exchange(host: string, n: number, holdMs = 0): Promise<Exchange> {
  const server = net.createServer((s) => {
    let got = 0;
    s.on('data', (d) => {
      got += d.length;
      if (got === n) setTimeout(() => s.end(Buffer.alloc(n / 2, 'y')), holdMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const serverPort = (server.address() as net.AddressInfo).port;
  let clientPort = 0;
  const t0 = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    const c = net.connect(serverPort, host, () => {
      clientPort = c.localPort!;
      c.write(Buffer.alloc(n, 'x'));
    });
    let got = 0;
    c.on('data', (d) => (got += d.length));
    c.on('end', () => {
      expect(got).toBe(n / 2);
      c.end();
    });
    c.on('close', () => resolve());
    c.on('error', reject);
  });
  await new Promise<void>((r) => server.close(() => r()));
  return { serverPort, clientPort, t0 };
}

/** Wait (with a deadline) until `pick` finds `want` sessions; the microseconds since `since`
 *  when they were there bound every one of their durations from above. */
async function sessionsOf(r: Running, pick: (s: Record<number, FetchValue>) => boolean, want: number, since = process.hrtime.bigint()) {
  const end = Date.now() + 5000;
  for (;;) {
    const found = sessions(r).filter(pick);
    const wallUs = Number((process.hrtime.bigint() - since) / 1000n);
    if (found.length >= want || Date.now() > end) return { found, wallUs };
    await sleep(10);
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A server on `port` that closes each connection at once, and one connection to it. */
async function exchangeOn(port: number): Promise<void> {
  const server = net.createServer((c) => c.end());
  await new Promise<void>((r, j) => server.once('error', j).listen(port, '127.0.0.1', () => r()));
  await new Promise<void>((r) => net.connect(port, '127.0.0.1').on('close', () => r()).resume());
  await new Promise<void>((r) => server.close(() => r()));
}

function sessions(r: Running): Record<number, FetchValue>[] {
  return [...r.rows(ALL).values()];
}

const near = (v: FetchValue, want: number) => {
  expect(typeof v).toBe('bigint');
  expect(Number(v)).toBeGreaterThanOrEqual(want);
  expect(Number(v)).toBeLessThanOrEqual(want + 2);
};

const HOLD_MS = 100;
const KPROBES = fs.existsSync('/sys/bus/event_source/devices/kprobe/type');
const COMM = fs.readFileSync('/proc/self/comm', 'utf8').trim();

describe.each(['tp_btf', 'tracepoint'])('tcplife (%s)', (variant) => {
  it.each([
    ['IPv4', '127.0.0.1', 100_000],
    ['IPv6', '::1', 30_000],
  ])('reports one session each way for a %s exchange with the bytes sent and received', async (_name, host, n) => {
    run = await startModule(tcplife, { variant, session_count: '50' });
    expect(run.state.variant).toBe(variant);
    const x = await exchange(host as string, n as number, HOLD_MS);
    const isClient = (s: Record<number, FetchValue>) => s[I.lport] === x.clientPort && s[I.dport] === x.serverPort;
    const isServer = (s: Record<number, FetchValue>) => s[I.lport] === x.serverPort && s[I.dport] === x.clientPort;
    const { found, wallUs } = await sessionsOf(run, (s) => isClient(s) || isServer(s), 2, x.t0);
    const client = found.filter(isClient);
    const server = found.filter(isServer);
    expect(client.length).toBe(1);
    expect(server.length).toBe(1);
    const c = client[0];
    const s = server[0];
    near(c[I.tx], n as number);
    near(c[I.rx], (n as number) / 2);
    near(s[I.tx], (n as number) / 2);
    near(s[I.rx], n as number);
    expect(c[I.laddr]).toBe(host);
    expect(c[I.daddr]).toBe(host);
    expect(s[I.laddr]).toBe(host);
    expect(c[I.pid]).toBe(process.pid);
    expect(c[I.comm]).toBe(COMM);
    // Microseconds: both sessions lasted at least the server's hold, and at most the wall time
    // from before the connect to when they were seen.
    for (const x of [c, s]) {
      expect(x[I.duration] as number).toBeGreaterThanOrEqual(HOLD_MS * 1000);
      expect(x[I.duration] as number).toBeLessThanOrEqual(wallUs);
    }
    expect(run.fetch(I.lost)[0].value).toBe(0n);
  });
});

describe('tcplife', () => {
  it('filters on local and remote ports in the kernel', async () => {
    const port = await freePort();
    // The filtered-out exchange goes first: once the wanted session is there, so would it be.
    run = await startModule(tcplife, { dport: `${port},1` });
    await exchange('127.0.0.1', 2000); // another port: filtered out
    await exchangeOn(port);
    await sessionsOf(run, (s) => s[I.dport] === port, 1);
    let all = sessions(run);
    expect(all.length).toBe(1);
    expect(all[0][I.dport]).toBe(port);
    await run.stop();
    run = await startModule(tcplife, { lport: String(port) });
    await exchange('127.0.0.1', 2000);
    await exchangeOn(port);
    await sessionsOf(run, (s) => s[I.lport] === port, 1);
    all = sessions(run);
    expect(all.length).toBe(1);
    expect(all[0][I.lport]).toBe(port);
  });

  it('filters on the owning process', async () => {
    // An unfiltered witness on the same tracepoints: once it has the session, the filtered
    // module's program has run for it too.
    const witness = await startModule(tcplife, {});
    try {
      run = await startModule(tcplife, { process: '1' });
      const x = await exchange('127.0.0.1', 1000);
      expect((await sessionsOf(witness, (s) => s[I.lport] === x.clientPort, 1)).found.length).toBe(1);
      expect(sessions(run).filter((s) => s[I.pid] === process.pid)).toEqual([]);
    } finally {
      await witness.stop();
    }
    await run.stop();
    run = await startModule(tcplife, { process: String(process.pid) });
    const x = await exchange('127.0.0.1', 1000);
    const mine = (await sessionsOf(run, (s) => s[I.lport] === x.clientPort, 1)).found;
    expect(mine.length).toBe(1);
    expect(mine[0][I.pid]).toBe(process.pid);
  });

  it('gives every session once to each client of the records metric', async () => {
    run = await startModule(tcplife, { session_count: '2' });
    const A = { slot: 4, ctxid: 1 };
    run.records(I.records, A);
    const xs: Exchange[] = [];
    for (let i = 0; i < 5; i++) xs.push(await exchange('127.0.0.1', 1000));
    // Wait for both ends of the last exchange (earlier ones closed before it started).
    const recs = run.records(I.records, A);
    const lportOf = (r: (typeof recs)[number]) => r.params.find((p) => p.pmid === PMID(I.lport))!.value;
    const last = xs[xs.length - 1];
    for (const end = Date.now() + 5000; Date.now() < end; await sleep(10)) {
      const ports = recs.map(lportOf);
      if (ports.includes(last.clientPort) && ports.includes(last.serverPort)) break;
      recs.push(...run.records(I.records, A));
    }
    const lports = recs.map(lportOf);
    for (const x of xs) {
      expect(lports.filter((p) => p === x.clientPort).length).toBe(1);
      expect(lports.filter((p) => p === x.serverPort).length).toBe(1);
    }
    const one = recs.find((r) => r.params.find((p) => p.pmid === PMID(I.lport))!.value === xs[0].clientPort)!;
    expect(one.params.map((p) => p.pmid)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(PMID));
    expect(run.records(I.records, A).length).toBeLessThan(recs.length);
  });

  it('counts sessions lost to a full ring and keeps serving', async () => {
    run = await startModule(tcplife, { buffer_page_count: '1', poll_interval: '10000' });
    for (let i = 0; i < 40; i++) await exchange('127.0.0.1', 100); // 80 sessions, ~39 fit in a page
    const lost = run.fetch(I.lost)[0].value as bigint;
    expect(lost).toBeGreaterThan(0n);
    expect(run.state.lost).toBe(lost);
    const x = await exchange('127.0.0.1', 100);
    expect((await sessionsOf(run, (s) => s[I.lport] === x.clientPort, 1)).found.length).toBe(1);
  });

  it.skipIf(KPROBES)('reports the kprobe variant unavailable with the reason, not a crash (skipped where the kernel has kprobes)', async () => {
    await expect(startModule(tcplife, { variant: 'kprobe' })).rejects.toThrow(ModuleUnavailable);
    await expect(startModule(tcplife, { variant: 'kprobe' })).rejects.toThrow(/kprobes are not available/);
  });

  it('refuses more ports than the kernel side compares', () => {
    const ports = Array.from({ length: 17 }, (_, i) => String(1000 + i)).join(',');
    expect(() => parseSection('tcplife', tcplife.config, { lport: ports })).toThrow(/\[tcplife\] lport: 17 ports given, at most 16/);
  });
});
