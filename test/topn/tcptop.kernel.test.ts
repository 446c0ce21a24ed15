// tcptop against the real kernel: a python process moves known byte counts over loopback TCP
// (IPv4 and IPv6, both directions); its client and server rows must carry exactly those bytes,
// with the right addresses and ports, through every attach variant this kernel has.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { beforeAll, describe, expect, it } from 'vitest';
import { kernelFeatures } from '../../src/bpf';
import { tcptop } from '../../src/modules/tcptop';
import { ModuleUnavailable } from '../../src/pmda/module';
import { buildObjects, create, rows, sleep } from './kernel-helpers';

const SCRIPT = path.join(__dirname, 'fixtures/tcp_transfer.py');

interface Conn {
  client_port: number;
  server_port: number;
  up: number;
  down: number;
}

interface Transfer {
  pid: number;
  /** Let the transfers run; resolves when the process has exited. */
  go(): Promise<Conn[]>;
}

/** Start the workload process; it waits for go() so a module can be started on its pid first. */
function transfer(family: 4 | 6, sizes: number[], paceMs = 0): Promise<Transfer> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [SCRIPT, String(family), ...sizes.map(String)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PACE_MS: String(paceMs) },
    });
    const conns: Conn[] = [];
    let err = '';
    let done: ((c: Conn[]) => void) | null = null;
    let fail: ((e: Error) => void) | null = null;
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) done?.(conns);
      else {
        const e = new Error(`tcp_transfer.py exit ${code}: ${err}`);
        (fail ?? reject)(e);
      }
    });
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      if (line === 'ready') {
        resolve({
          pid: child.pid!,
          go: () =>
            new Promise((res, rej) => {
              done = res;
              fail = rej;
              child.stdin.end('go\n');
            }),
        });
      } else conns.push(JSON.parse(line) as Conn);
    });
  });
}

const LOOP = { 4: '127.0.0.1', 6: '::1' } as const;

/** Both rows of each connection (client side, server side) with exact bytes. */
function expectConnRows(table: Record<string, unknown>[], pid: number, family: 4 | 6, conns: Conn[]): void {
  const show = () => JSON.stringify(table, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
  for (const c of conns) {
    const client = table.find((r) => r.pid === pid && r.lport === c.client_port && r.dport === c.server_port);
    const server = table.find((r) => r.pid === pid && r.lport === c.server_port && r.dport === c.client_port);
    expect(client, `client row of ${JSON.stringify(c)} in ${show()}`).toBeDefined();
    expect(server, `server row of ${JSON.stringify(c)} in ${show()}`).toBeDefined();
    expect(client).toMatchObject({ comm: 'python3', laddr: LOOP[family], daddr: LOOP[family], tx: BigInt(c.up), rx: BigInt(c.down) });
    expect(server).toMatchObject({ comm: 'python3', laddr: LOOP[family], daddr: LOOP[family], tx: BigInt(c.down), rx: BigInt(c.up) });
  }
}

beforeAll(() => buildObjects('tcptop'));

describe('tcptop on the real kernel', () => {
  for (const variant of ['tp_btf', 'raw_tp', 'tracepoint', 'syscalls']) {
    it(`variant ${variant}: IPv4 and IPv6 loopback transfers give exact rx/tx per connection`, async () => {
      const t = create(tcptop, { interval: '0', conn_count: '200', variant });
      await t.module.start();
      try {
        expect(t.state.variant).toBe(variant);
        const v4 = await transfer(4, [1_000_000]);
        const c4 = await v4.go();
        const v6 = await transfer(6, [30_000]);
        const c6 = await v6.go();
        const table = rows(tcptop, t.module);
        expectConnRows(table, v4.pid, 4, c4);
        expectConnRows(table, v6.pid, 6, c6);
        // ranked by rx + tx, most first
        for (let i = 1; i < table.length; i++) {
          expect(Number(table[i - 1]!.rx) + Number(table[i - 1]!.tx)).toBeGreaterThanOrEqual(Number(table[i]!.rx) + Number(table[i]!.tx));
        }
        // values cover one interval: the next one starts empty for these processes
        expect(rows(tcptop, t.module).filter((r) => r.pid === v4.pid || r.pid === v6.pid)).toEqual([]);
      } finally {
        await t.module.stop();
      }
    });
  }

  it.skipIf(!kernelFeatures.hasBtfType('btf_trace_sock_send_length', 'typedef'))(
    'auto takes the first variant the kernel accepts (tp_btf here: no fexit, no kprobes)',
    async () => {
      const t = create(tcptop, {});
      await t.module.start();
      const expected = kernelFeatures.fentryAvailable('tcp_sendmsg') ? 'fexit' : kernelFeatures.kprobesAvailable() ? 'kprobe' : 'tp_btf';
      expect(t.state.variant).toBe(expected);
      await t.module.stop();
    },
  );

  it.skipIf(kernelFeatures.fentryAvailable('tcp_sendmsg') || kernelFeatures.kprobesAvailable())(
    'fexit and kprobe variants are reported unavailable with the reason on a kernel without trampolines or kprobes',
    async () => {
      await expect(create(tcptop, { variant: 'fexit' }).module.start()).rejects.toThrow(ModuleUnavailable);
      await expect(create(tcptop, { variant: 'fexit' }).module.start()).rejects.toThrow(/fentry\/fexit cannot be loaded/);
      await expect(create(tcptop, { variant: 'kprobe' }).module.start()).rejects.toThrow(/kprobes are not available/);
    },
  );

  it('conn_count keeps exactly that many rows, the biggest connections', async () => {
    const w = await transfer(4, [10_000, 60_000, 20_000, 50_000, 30_000, 40_000]);
    // filtered on the workload's pid so other traffic on the machine cannot take a rank
    const t = create(tcptop, { interval: '0', conn_count: '4', process: String(w.pid) });
    await t.module.start();
    try {
      const conns = await w.go();
      const table = rows(tcptop, t.module);
      expect(table).toHaveLength(4);
      const big = conns.filter((c) => c.up >= 50_000);
      expectConnRows(table, w.pid, 4, big);
      // the 60 000 connection's two rows come before the 50 000 one's
      expect(table.slice(0, 2).every((r) => r.rx === 60_000n || r.tx === 60_000n)).toBe(true);
    } finally {
      await t.module.stop();
    }
  });

  it('the process option counts only the chosen processes', async () => {
    const chosen = await transfer(4, [25_000]);
    const other = await transfer(6, [25_000]);
    const t = create(tcptop, { interval: '0', conn_count: '200', process: String(chosen.pid) });
    await t.module.start();
    try {
      const [c] = await Promise.all([chosen.go(), other.go()]);
      const table = rows(tcptop, t.module);
      expectConnRows(table, chosen.pid, 4, c);
      expect(table.every((r) => r.pid === chosen.pid)).toBe(true);
    } finally {
      await t.module.stop();
    }
  });

  it('nothing is lost between intervals: a transfer drained 20+ times still sums to its exact bytes', async () => {
    const w = await transfer(6, [16 * 1024 * 1024], 1);
    const t = create(tcptop, { interval: '0', conn_count: '1000', process: String(w.pid) });
    await t.module.start();
    try {
      const sums = new Map<string, { rx: bigint; tx: bigint }>();
      let drains = 0;
      const take = () => {
        drains++;
        for (const r of rows(tcptop, t.module)) {
          const k = `${r.lport}>${r.dport}`;
          const s = sums.get(k) ?? { rx: 0n, tx: 0n };
          s.rx += r.rx as bigint;
          s.tx += r.tx as bigint;
          sums.set(k, s);
        }
      };
      let finished = false;
      const run = w.go().finally(() => (finished = true));
      while (!finished) {
        take();
        await sleep(2);
      }
      const [c] = await run;
      // a program that read the old generation just before a flip writes into the drained map;
      // that count is read when the same map is drained again, two refreshes later
      take();
      take();
      expect(drains).toBeGreaterThan(20);
      expect(sums.get(`${c!.client_port}>${c!.server_port}`)).toEqual({ tx: BigInt(c!.up), rx: BigInt(c!.down) });
      expect(sums.get(`${c!.server_port}>${c!.client_port}`)).toEqual({ tx: BigInt(c!.down), rx: BigInt(c!.up) });
    } finally {
      await t.module.stop();
    }
  });
});
