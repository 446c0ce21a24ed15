// Starts the built agent on a pipe as pmcd would (--notready), answers its credentials and
// resolves once it announces PMDAREADY: the start-to-ready measurement both benches share.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodePdu, encodeCreds, PduFramer, PDU, PM_ERR } from '../src/pcp';

const AGENT = path.resolve(__dirname, '../src/main.js');

export type AgentProcess = ChildProcessByStdio<Writable, Readable, null>;

export async function startUntilReady(config: string, timeoutMs = 30_000): Promise<{ proc: AgentProcess; readyMs: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ready-'));
  const t0 = process.hrtime.bigint();
  const proc = spawn(process.execPath, [AGENT, '-d', '149', '-l', path.join(dir, 'agent.log'), '-c', config, '--state-dir', path.join(dir, 'state'), '--notready'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const framer = new PduFramer();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent not ready within ${timeoutMs / 1000} s`)), timeoutMs);
    proc.stdout.on('data', (c: Buffer) => {
      for (const b of framer.push(c)) {
        const pdu = decodePdu(b);
        if (pdu.type === PDU.CREDS) proc.stdin.write(encodeCreds({ from: 1, flags: 0 }));
        if (pdu.type === PDU.ERROR && pdu.code === PM_ERR.PMDAREADY) {
          clearTimeout(timer);
          resolve();
        }
      }
    });
  });
  return { proc, readyMs: Number(process.hrtime.bigint() - t0) / 1e6 };
}

/** Close the agent's stdin (its normal way out) and wait for it to exit. */
export async function stopAgent(proc: AgentProcess): Promise<void> {
  const exited = new Promise((r) => proc.on('exit', r));
  proc.stdin.end();
  await exited;
}
