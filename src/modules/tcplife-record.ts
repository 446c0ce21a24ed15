// tcplife's record: struct tcplife_event as the ring buffer delivers it, decoded.
// The declaration is in tcplife.ts.
import type { ExpectedLayout } from '../bpf';
import { cString, formatAddress, type TcpConnection } from './shared/bytes';

// struct tcplife_event in tcplife.bpf.c
const E_TS = 0;
const E_SPAN = 8;
const E_RX = 16;
const E_TX = 24;
const E_PID = 32;
const E_FAMILY = 36;
const E_LPORT = 38;
const E_DPORT = 40;
const E_SADDR = 48;
const E_DADDR = 64;
const E_COMM = 80;
const E_SIZE = 96;

/** What decodeSession assumes, checked against the object's BTF at load. */
export const SESSION_LAYOUT: ExpectedLayout = {
  struct: 'tcplife_event',
  size: E_SIZE,
  fields: {
    ts_ns: E_TS,
    span_us: E_SPAN,
    rx_b: E_RX,
    tx_b: E_TX,
    pid: E_PID,
    family: E_FAMILY,
    lport: E_LPORT,
    dport: E_DPORT,
    saddr: { offset: E_SADDR, size: 16 },
    daddr: { offset: E_DADDR, size: 16 },
    comm: { offset: E_COMM, size: 16 },
  },
};

export interface TcpSession extends TcpConnection {
  ts: bigint;
  /** µs, clamped to u32 as pmdabcc's metric type */
  duration: number;
}

export function decodeSession(buf: Buffer, off: number, len: number): TcpSession {
  if (len < E_SIZE) throw new Error(`tcplife record of ${len} bytes, expected ${E_SIZE}`);
  const family = buf.readUInt16LE(off + E_FAMILY);
  const span = buf.readBigUInt64LE(off + E_SPAN);
  return {
    ts: buf.readBigUInt64LE(off + E_TS),
    pid: buf.readUInt32LE(off + E_PID),
    comm: cString(buf, off + E_COMM, 16),
    laddr: formatAddress(family, buf, off + E_SADDR),
    lport: buf.readUInt16LE(off + E_LPORT),
    daddr: formatAddress(family, buf, off + E_DADDR),
    dport: buf.readUInt16LE(off + E_DPORT),
    tx: buf.readBigUInt64LE(off + E_TX),
    rx: buf.readBigUInt64LE(off + E_RX),
    duration: span > 0xffffffffn ? 0xffffffff : Number(span),
  };
}

/** pmdabcc's comma list of ports; the BPF side compares against at most MAX_PORTS. */
