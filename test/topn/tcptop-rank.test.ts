// tcptop's ranking and address formatting on hand-built map entries (struct conn_key /
// conn_val in bpf/tcptop.bpf.c), and the variant option's effect on the hooks.
import { describe, expect, it } from 'vitest';
import { formatAddress, rankConnections, tcptop, tcptopHooks } from '../../src/modules/tcptop';
import { forceVariant } from '../../src/modules/shared/tool';
import { parseSection } from '../../src/pmda/config-schema';

function addr(text: string): Buffer {
  const b = Buffer.alloc(16);
  if (text.includes('.')) text.split('.').forEach((o, i) => (b[i] = Number(o)));
  else {
    // full (uncompressed) IPv6 groups only, enough for the fixtures below
    text.split(':').forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  }
  return b;
}

interface Conn {
  pid: number;
  family: 2 | 10;
  l: string;
  lport: number;
  d: string;
  dport: number;
  rx: number;
  tx: number;
  comm: string;
}

function pack(conns: Conn[]) {
  const keys = Buffer.alloc(conns.length * 44);
  const values = Buffer.alloc(conns.length * 32);
  conns.forEach((c, i) => {
    const k = i * 44;
    keys.writeUInt32LE(c.pid, k);
    keys.writeUInt16LE(c.family, k + 4);
    keys.writeUInt16LE(c.lport, k + 6);
    keys.writeUInt16LE(c.dport, k + 8);
    addr(c.l).copy(keys, k + 12);
    addr(c.d).copy(keys, k + 28);
    values.writeBigUInt64LE(BigInt(c.rx), i * 32);
    values.writeBigUInt64LE(BigInt(c.tx), i * 32 + 8);
    values.write(c.comm, i * 32 + 16);
  });
  return { keys, values, count: conns.length };
}

describe('formatAddress', () => {
  it('prints IPv4 dotted and IPv6 the way inet_ntop does', () => {
    expect(formatAddress(2, addr('127.0.0.1'), 0)).toBe('127.0.0.1');
    expect(formatAddress(10, addr('0:0:0:0:0:0:0:1'), 0)).toBe('::1');
    expect(formatAddress(10, addr('0:0:0:0:0:ffff:c0a8:102'), 0)).toBe('::ffff:192.168.1.2');
    expect(formatAddress(10, addr('fe80:0:0:0:0:0:0:1'), 0)).toBe('fe80::1');
    expect(formatAddress(10, addr('2001:db8:0:0:1:0:0:1'), 0)).toBe('2001:db8::1:0:0:1');
    expect(formatAddress(10, addr('0:0:0:0:0:0:0:0'), 0)).toBe('::');
  });
});

describe('tcptop ranking', () => {
  const conns: Conn[] = [
    { pid: 5, family: 2, l: '10.0.0.1', lport: 22, d: '10.0.0.9', dport: 50000, rx: 100, tx: 900, comm: 'sshd' },
    { pid: 6, family: 10, l: '0:0:0:0:0:0:0:1', lport: 8080, d: '0:0:0:0:0:0:0:1', dport: 41000, rx: 5000, tx: 0, comm: 'node' },
    { pid: 7, family: 2, l: '127.0.0.1', lport: 1, d: '127.0.0.1', dport: 2, rx: 10, tx: 10, comm: 'curl' },
    { pid: 8, family: 2, l: '127.0.0.1', lport: 3, d: '127.0.0.1', dport: 4, rx: 500, tx: 500, comm: 'tie' },
  ];

  it('orders by rx + tx, most first, and decodes every field', () => {
    const { keys, values, count } = pack(conns);
    const rows = rankConnections(keys, values, count, 10);
    expect(rows.map((r) => r.pid)).toEqual([6, 5, 8, 7]);
    expect(rows[0]).toEqual({ pid: 6, comm: 'node', laddr: '::1', lport: 8080, daddr: '::1', dport: 41000, rx: 5000n, tx: 0n });
    expect(rows[1]).toEqual({ pid: 5, comm: 'sshd', laddr: '10.0.0.1', lport: 22, daddr: '10.0.0.9', dport: 50000, rx: 100n, tx: 900n });
  });

  it('keeps the limit, and equal totals rank the same whatever order the kernel returned', () => {
    for (const order of [conns, [...conns].reverse()]) {
      const { keys, values, count } = pack(order);
      expect(rankConnections(keys, values, count, 3).map((r) => r.pid)).toEqual([6, 5, 8]);
    }
  });
});

describe('tcptop options', () => {
  it('has pmdabcc\'s keys with their defaults, plus the filter and variant keys', () => {
    const c = parseSection('tcptop', tcptop.config, {});
    expect(c).toMatchObject({ interval: 1, conn_count: 20, process: null, variant: 'auto' });
    expect(() => parseSection('tcptop', tcptop.config, { variant: 'ebpf' })).toThrow(/\[tcptop\] variant: expected one of auto, fexit, kprobe, tp_btf, raw_tp, tracepoint, syscalls/);
    expect(() => parseSection('tcptop', tcptop.config, { conn_count: 'many' })).toThrow(/\[tcptop\] conn_count: expected an integer/);
  });

  it('variant = X leaves only X in the hook (the loader turns the autoload of every other program off); auto keeps the chain', () => {
    const v = forceVariant(tcptopHooks(), 'syscalls')[0]!.variants;
    expect(v.map((x) => x.name)).toEqual(['syscalls']);
    expect(forceVariant(tcptopHooks(), 'auto')[0]!.variants.map((x) => x.name)).toEqual(['fexit', 'kprobe', 'tp_btf', 'raw_tp', 'tracepoint', 'syscalls']);
  });
});
