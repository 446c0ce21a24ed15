// Reading C values out of the byte records and map entries the BPF programs produce; one copy
// for every tool.
import * as net from 'node:net';

export const AF_INET = 2;
export const AF_INET6 = 10;

/** A NUL-terminated string in a fixed-size char[size] field (a task comm, a path). */
export function cString(buf: Buffer, off: number, size: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end < 0 || end > off + size ? off + size : end);
}

/** A u64 field as a double: exact below 2^53 (byte and nanosecond counts of one interval are). */
export function u64Number(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * 0x1_0000_0000;
}

/** An address as the kernel keeps it (network order) in the usual text form: dotted IPv4,
 *  RFC 5952 IPv6 (inet_ntop's, e.g. "::1", "::ffff:127.0.0.1"). */
export function formatAddress(family: number, buf: Buffer, off: number): string {
  if (family === AF_INET) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(off + i).toString(16));
  // SocketAddress stores the address binary and prints it back through inet_ntop.
  return new net.SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

/** A process's TCP connection as the TCP tools (tcplife, tcptop) report it, with its bytes. */
export interface TcpConnection {
  pid: number;
  comm: string;
  laddr: string;
  lport: number;
  daddr: string;
  dport: number;
  rx: bigint;
  tx: bigint;
}
