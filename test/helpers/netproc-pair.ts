// PCP QA 1286's exchange (test/helpers/netproc_pair.py): a server and a client over loopback,
// one call each way, TCP 11/17 bytes and UDP 16/22. Resolves once both have exited.
import { execFile, spawn } from 'node:child_process';
import * as path from 'node:path';

export const PY = '/usr/bin/python3';
const PAIR = path.join(__dirname, 'netproc_pair.py');

/** QA 1286's values by metric leaf: [client, server]. */
export const QA1286: Record<string, [number, number]> = {
  'tcp.send.calls': [1, 1],
  'tcp.send.bytes': [11, 17],
  'tcp.recv.calls': [1, 1],
  'tcp.recv.bytes': [17, 11],
  'udp.send.calls': [1, 1],
  'udp.send.bytes': [16, 22],
  'udp.recv.calls': [1, 1],
  'udp.recv.bytes': [22, 16],
};

export async function exchange(): Promise<{ server: number; client: number }> {
  const server = spawn(PY, [PAIR, 'server'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ports = await new Promise<string[]>((resolve, reject) => {
    server.stdout!.on('data', (d: Buffer) => {
      const m = /PORTS (\d+) (\d+)/.exec(d.toString());
      if (m) resolve([m[1]!, m[2]!]);
    });
    server.on('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  const client = await new Promise<number>((resolve, reject) => {
    const c = execFile(PY, [PAIR, 'client', ...ports], (err) => (err ? reject(err) : resolve(c.pid!)));
  });
  await new Promise((r) => (server.exitCode !== null ? r(null) : server.once('exit', r)));
  return { server: server.pid!, client };
}
