// Agent memory and start-to-ready per module set: spawns the built agent on a pipe as pmcd
// would (--notready), times exec → PMDAREADY, and reads RSS, high-water and anonymous memory
// 3 s after ready. Targets: RSS <= 64 MB; start-to-ready with the histogram modules <= 1 s.
// Needs root (BPF); does not touch pmcd.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MODULES } from '../src/modules';
import { decodePdu, encodeCreds, PduFramer, PDU, PM_ERR } from '../src/pcp';

const AGENT = path.resolve(__dirname, '../src/main.js');
const HIST = ['runqlat', 'biolatency', 'ext4dist', 'xfsdist', 'zfsdist'];
const ALL = MODULES.map((m) => m.name);

async function measure(on: string[]): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-mem-'));
  const conf = path.join(dir, 'ebpf.conf');
  fs.writeFileSync(conf, ALL.map((m) => `[${m}]\nenabled = ${on.includes(m)}\n`).join(''));
  const t0 = process.hrtime.bigint();
  const p = spawn(process.execPath, [AGENT, '-d', '149', '-l', path.join(dir, 'agent.log'), '-c', conf, '--state-dir', path.join(dir, 'state'), '--notready'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const framer = new PduFramer();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('agent not ready within 30 s')), 30_000);
    p.stdout.on('data', (c: Buffer) => {
      for (const b of framer.push(c)) {
        const pdu = decodePdu(b);
        if (pdu.type === PDU.CREDS) p.stdin.write(encodeCreds({ from: 1, flags: 0 }));
        if (pdu.type === PDU.ERROR && pdu.code === PM_ERR.PMDAREADY) {
          clearTimeout(timer);
          resolve();
        }
      }
    });
  });
  const readyMs = Number(process.hrtime.bigint() - t0) / 1e6;
  await new Promise((r) => setTimeout(r, 3000));
  const status = fs.readFileSync(`/proc/${p.pid}/status`, 'utf8');
  const rollup = fs.readFileSync(`/proc/${p.pid}/smaps_rollup`, 'utf8');
  const mb = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0) / 1024;
  p.stdin.end();
  await new Promise((r) => p.on('exit', r));
  const label = on.length === 0 ? 'no modules' : on.length === ALL.length ? 'all modules' : on.join(',');
  return `${label.padEnd(48)} ready ${readyMs.toFixed(0).padStart(5)} ms  RSS ${mb(status, 'VmRSS').toFixed(1).padStart(6)} MB  HWM ${mb(status, 'VmHWM').toFixed(1).padStart(6)} MB  anon ${mb(rollup, 'Anonymous').toFixed(1).padStart(5)} MB  PSS ${mb(rollup, 'Pss').toFixed(1).padStart(5)} MB`;
}

async function main(): Promise<void> {
  const sets: string[][] = [[], ...ALL.map((m) => [m]), HIST, ALL];
  for (const s of sets) process.stdout.write(`${await measure(s)}\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`memory bench failed: ${e.message}\n`);
  process.exit(1);
});
