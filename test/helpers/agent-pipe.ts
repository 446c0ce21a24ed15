// Runs the built agent as pmcd would (pipes on fd 0/1) and talks PDUs to it directly: for the
// protocol edge cases (malformed input) that pmcd and dbpmda never send.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodePdu, encodeCreds, PduFramer, type Pdu } from '../../src/pcp';

export const REPO = path.resolve(__dirname, '../..');
export const AGENT = path.join(REPO, 'dist/src/main.js');

export interface AgentPipe {
  proc: ChildProcessWithoutNullStreams;
  dir: string;
  log: string;
  send(buf: Buffer): void;
  /** Next PDU from the agent, or null if none arrives within `ms`. */
  next(ms?: number): Promise<Pdu | null>;
  /** Exit code once the agent exits (or null after `ms`). */
  exited(ms?: number): Promise<number | null>;
  kill(): void;
}

export async function startAgent(config = '', extraArgs: string[] = []): Promise<AgentPipe> {
  if (!fs.existsSync(AGENT)) throw new Error(`${AGENT} missing: run npm run build first`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-'));
  fs.writeFileSync(path.join(dir, 'ebpf.conf'), config);
  const log = path.join(dir, 'agent.log');
  const proc = spawn(
    process.execPath,
    [AGENT, '-d', '149', '-l', log, '-c', path.join(dir, 'ebpf.conf'), '--state-dir', path.join(dir, 'state'), ...extraArgs],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const framer = new PduFramer({ maxLen: 64 * 1024 * 1024 });
  const queue: Pdu[] = [];
  let wake: (() => void) | null = null;
  proc.stdout.on('data', (c: Buffer) => {
    for (const b of framer.push(c)) queue.push(decodePdu(b));
    wake?.();
  });
  let code: number | null = null;
  const exitP = new Promise<number>((res) => proc.on('exit', (c) => res((code = c ?? -1))));
  const next = async (ms = 10_000): Promise<Pdu | null> => {
    const deadline = Date.now() + ms;
    while (queue.length === 0) {
      if (Date.now() > deadline || code !== null) return queue.shift() ?? null;
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
      wake = null;
    }
    return queue.shift()!;
  };
  const pipe: AgentPipe = {
    proc,
    dir,
    log,
    send: (b) => proc.stdin.write(b),
    next,
    exited: (ms = 5000) => Promise.race([exitP, new Promise<null>((r) => setTimeout(() => r(null), ms))]),
    kill: () => proc.kill('SIGKILL'),
  };
  const creds = await next(5000);
  if (!creds || creds.type !== 0x700c) throw new Error(`agent sent ${creds ? creds.type : 'nothing'} instead of CREDS`);
  pipe.send(encodeCreds({ from: 1, flags: 0 }));
  return pipe;
}

/** A config that turns every tool module off (the runtime alone answers). */
export function allModulesOff(names: string[]): string {
  return names.map((n) => `[${n}]\nenabled = false\n`).join('');
}
