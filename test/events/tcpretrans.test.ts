// tcpretrans: the bounded flow table on its own, then real retransmits forced in a network
// namespace (netem is not built here: nftables drops 30% of the segments to one port on input,
// so the sender retransmits; bpf-feasibility.md §1).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InstanceDomain } from '../../src/pmda/indom';
import { FlowTable, tcpretrans } from '../../src/modules/tcpretrans';
import { startModule, sleep, type Running } from './helpers';

const KPROBES = fs.existsSync('/sys/bus/event_source/devices/kprobe/type');
const NS = `evrt${process.pid}`;
// Each transfer gets its own server port so late retransmits of an earlier connection (a FIN
// whose ACK was dropped) cannot be mistaken for this one's; the drop rule covers the range.
const PORT0 = 5555;
let nextPort = PORT0;

describe('FlowTable', () => {
  const key = Buffer.alloc(40);

  it('keeps the flow_count most recently active flows and never reuses an id', () => {
    const d = new InstanceDomain(1, null);
    const t = new FlowTable(d, 3, 0);
    const ids = new Map<string, number>();
    for (let i = 0; i < 6; i++) {
      t.observe(`f${i}`, 1n, key, 1000 + i);
      t.prune(1000 + i);
      ids.set(`f${i}`, d.lookup(`f${i}`)!);
    }
    expect(t.size).toBe(3);
    expect(d.instances().map((x) => x.name)).toEqual(['f3', 'f4', 'f5']);
    expect(new Set(ids.values()).size).toBe(6);
    // f0 comes back: same id, its count continues from 1.
    t.observe('f0', 4n, key, 2000);
    t.prune(2000);
    expect(d.lookup('f0')).toBe(ids.get('f0'));
    expect(t.values().find((v) => v.inst === ids.get('f0'))!.value).toBe(5n);
    expect(t.size).toBe(3);
  });

  it('drops flows idle for flow_idle and returns their kernel keys', () => {
    const d = new InstanceDomain(1, null);
    const t = new FlowTable(d, 10, 1000);
    const k = Buffer.from('k'.repeat(40));
    t.observe('a', 2n, k, 0);
    t.observe('b', 1n, key, 500);
    expect(t.prune(1200).map((b) => b.toString())).toEqual(['k'.repeat(40)]);
    expect(d.instances().map((x) => x.name)).toEqual(['b']);
  });

  it('adds kernel counts as deltas and copes with a re-created kernel entry', () => {
    const d = new InstanceDomain(1, null);
    const t = new FlowTable(d, 10, 0);
    expect(t.observe('a', 3n, key, 0)).toBe(true);
    expect(t.observe('a', 3n, key, 1)).toBe(false);
    t.observe('a', 5n, key, 2);
    t.observe('a', 1n, key, 3); // the entry was deleted and counts again from 0
    expect(t.values()).toEqual([{ inst: d.lookup('a'), value: 6n }]);
  });
});

function netns(...args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', NS, ...args], { encoding: 'utf8', timeout: 60_000 });
}

/** Send `bytes` to a fresh server port inside the namespace. */
function transfer(host: string, bytes: number): { lport: number; port: number } {
  const PORT = nextPort++;
  const script = `
    const net = require('net');
    const srv = net.createServer((s) => { s.resume(); s.on('end', () => s.end()); });
    srv.listen(${PORT}, '${host}', () => {
      const c = net.connect(${PORT}, '${host}', () => {
        const port = c.localPort;
        c.end(Buffer.alloc(${bytes}, 'x'));
        c.resume();
        c.on('close', () => { srv.close(); process.stdout.write(String(port)); });
      });
    });`;
  return { lport: Number(netns(process.execPath, '-e', script)), port: PORT };
}

describe('tcpretrans in a lossy network namespace', () => {
  let run: Running | null = null;
  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', NS]);
    // One segment per packet: loopback otherwise passes 64 KB GSO packets, and a transfer of a
    // few of them can get through a 30% drop untouched.
    netns('ip', 'link', 'set', 'lo', 'up', 'mtu', '1500', 'gso_max_segs', '1');
    netns('nft', `add table inet loss; add chain inet loss in { type filter hook input priority 0; }; add rule inet loss in tcp dport ${PORT0}-${PORT0 + 999} numgen random mod 10 < 3 drop`);
  });
  afterAll(() => {
    execFileSync('ip', ['netns', 'del', NS]);
  });
  afterEach(async () => {
    await run?.stop();
    run = null;
  });

  describe.each(['tp_btf', 'tracepoint'])('%s', (variant) => {
    it.each([
      ['IPv4', '127.0.0.1'],
      ['IPv6', '::1'],
    ])('counts retransmits for exactly the lossy %s flow, named as pmdabcc', async (_n, host) => {
      run = await startModule(tcpretrans, { variant });
      expect(run.state.variant).toBe(`${variant}; tlp off`);
      const { lport, port } = transfer(host as string, 300_000);
      const data = `${host}:${lport}::${host}:${port}`;
      const reverse = `${host}:${port}::${host}:${lport}`;
      run.m.refresh!(new Set([0]));
      const d = run.state.indoms.get(9)!;
      const flows = new Map(run.fetch(0).map((v) => [d.nameOf(v.inst)!, v.value as bigint]));
      // The data direction lost 30% of its segments: it retransmitted. The reverse direction
      // may have retransmitted a FIN or SYN-ACK whose ACK was dropped; nothing else used the port.
      expect(flows.get(data)).toBeGreaterThan(0n);
      const others = [...flows.keys()].filter((n) => n.includes(`:${port}`) && n !== data && n !== reverse);
      expect(others).toEqual([]);
    });
  });

  it('keeps at most flow_count flows, the most recently active', async () => {
    run = await startModule(tcpretrans, { flow_count: '2' });
    const d = run.state.indoms.get(9)!;
    const names: string[] = [];
    for (let i = 0; i < 4; i++) {
      const x = transfer('127.0.0.1', 200_000);
      names.push(`127.0.0.1:${x.lport}::127.0.0.1:${x.port}`);
      run.fetch(0);
      await sleep(5);
    }
    const now = run.fetch(0).map((v) => d.nameOf(v.inst));
    expect(now.length).toBe(2); // four flows went through a table of two
    expect(now).toContain(names[3]);
    expect(now).not.toContain(names[0]);
  });

  it('lets idle flows go after flow_idle seconds', async () => {
    run = await startModule(tcpretrans, { flow_idle: '1' });
    const x = transfer('127.0.0.1', 200_000);
    const d = run.state.indoms.get(9)!;
    expect(run.fetch(0).some((v) => d.nameOf(v.inst) === `127.0.0.1:${x.lport}::127.0.0.1:${x.port}`)).toBe(true);
    await sleep(1100);
    expect(run.fetch(0).some((v) => d.nameOf(v.inst) === `127.0.0.1:${x.lport}::127.0.0.1:${x.port}`)).toBe(false);
  });

  it.skipIf(KPROBES)('runs without tail loss probes when include_tlp is set but kprobes are missing, and says why (skipped where kprobes exist)', async () => {
    run = await startModule(tcpretrans, { include_tlp: 'true' });
    expect(run.state.variant).toMatch(/^tp_btf; tlp unavailable: kprobes are not available/);
    const x = transfer('127.0.0.1', 200_000);
    const d = run.state.indoms.get(9)!;
    expect(run.fetch(0).some((v) => d.nameOf(v.inst) === `127.0.0.1:${x.lport}::127.0.0.1:${x.port}`)).toBe(true);
  });
});
