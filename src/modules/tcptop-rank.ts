// tcptop's user-space half: one interval's (conn_key → conn_val) batch decoded and ranked.
// The declaration is in tcptop.ts.
import type { ExpectedLayout } from '../bpf';
import { cString, formatAddress, u64Number, type TcpConnection } from './shared/bytes';
import { selectTop } from './shared/topn';

// struct conn_key / conn_val in tcptop.bpf.c
const KEY_SIZE = 44;
const K_PID = 0;
const K_FAMILY = 4;
const K_LPORT = 6;
const K_DPORT = 8;
const K_LADDR = 12;
const K_DADDR = 28;
const VAL_SIZE = 32;
const V_RX = 0;
const V_TX = 8;
const V_COMM = 16;

/** What the decoder below assumes, checked against the object's BTF at load. */
export const CONN_LAYOUTS: ExpectedLayout[] = [
  {
    struct: 'conn_key',
    size: KEY_SIZE,
    fields: { pid: K_PID, family: K_FAMILY, lport: K_LPORT, dport: K_DPORT, laddr: { offset: K_LADDR, size: 16 }, daddr: { offset: K_DADDR, size: 16 } },
  },
  { struct: 'conn_val', size: VAL_SIZE, fields: { rx: V_RX, tx: V_TX, comm: { offset: V_COMM, size: 16 } } },
];

/** One row: a process's connection and its bytes in the interval. */
export type ConnRow = TcpConnection;

/** The best `limit` connections of one interval, most bytes (rx + tx) first. */
export function rankConnections(keys: Buffer, values: Buffer, count: number, limit: number): ConnRow[] {
  const total = new Float64Array(count);
  for (let i = 0; i < count; i++) total[i] = u64Number(values, i * VAL_SIZE + V_RX) + u64Number(values, i * VAL_SIZE + V_TX);
  const before = (a: number, b: number): boolean => {
    if (total[a] !== total[b]) return total[a]! > total[b]!;
    // ties: a fixed order of the key bytes, so equal rows never swap places between intervals
    // (Buffer#compare compares the source range, the last two arguments, against the target's)
    return keys.compare(keys, b * KEY_SIZE, (b + 1) * KEY_SIZE, a * KEY_SIZE, (a + 1) * KEY_SIZE) < 0;
  };
  return selectTop(count, limit, before).map((i) => {
    const k = i * KEY_SIZE;
    const v = i * VAL_SIZE;
    const family = keys.readUInt16LE(k + K_FAMILY);
    return {
      pid: keys.readUInt32LE(k + K_PID),
      comm: cString(values, v + V_COMM, 16),
      laddr: formatAddress(family, keys, k + K_LADDR),
      lport: keys.readUInt16LE(k + K_LPORT),
      daddr: formatAddress(family, keys, k + K_DADDR),
      dport: keys.readUInt16LE(k + K_DPORT),
      rx: values.readBigUInt64LE(v + V_RX),
      tx: values.readBigUInt64LE(v + V_TX),
    };
  });
}
