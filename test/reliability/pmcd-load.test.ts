// Load through the real pmcd: ≥ 10 clients fetching every bcc metric while an exec storm runs.
// No client error, no event lost, no pmcd timeout, and the same agent process throughout.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAnswers, agentPids, CONF, ensureInstalled, REPO, sh, waitFor } from '../helpers/pmcd';

const CLIENTS = 10;
const SECONDS = 12;
const PMCD_LOG = '/var/log/pcp/pmcd/pmcd.log';

function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    p.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

function lostTotal(): bigint {
  const out = sh('pmprobe', ['-v', 'bcc.pmda.module.lost']).out;
  const m = /^bcc\.pmda\.module\.lost (\d+) (.*)$/m.exec(out);
  if (!m) throw new Error(`no bcc.pmda.module.lost: ${out}`);
  return m[2]!.trim().split(/\s+/).reduce((s, v) => s + BigInt(v), 0n);
}

function execSeq(): bigint {
  const out = sh('pmprobe', ['-v', 'bcc.proc.exec.seq']).out;
  const vals = (/^bcc\.proc\.exec\.seq -?\d+ ?(.*)$/m.exec(out)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
  return vals.reduce((mx, v) => (BigInt(v) > mx ? BigInt(v) : mx), 0n);
}

const PMSIGNAL = '/usr/lib/pcp/bin/pmsignal';
let savedConf: string | null = null;

/** Restart the agent through pmcd (kill, then pmcd's SIGHUP restarts it) so it reads CONF. */
async function restartAgent(): Promise<void> {
  const before = agentPids();
  for (const p of before) process.kill(p, 'SIGKILL');
  await waitFor('the old agent to go', () => agentPids().every((p) => !before.includes(p)), 10_000, 100);
  let lastHup = 0;
  await waitFor(
    'the agent to answer again',
    () => {
      if (agentPids().length === 0 && Date.now() - lastHup > 3000) {
        sh('pmprobe', ['-v', 'bcc.pmda.version'], { allowFail: true });
        sh(PMSIGNAL, ['-a', '-s', 'HUP', 'pmcd']);
        lastHup = Date.now();
      }
      return agentAnswers();
    },
    60_000,
    500,
  );
}

beforeAll(async () => {
  ensureInstalled();
  // The default configuration (every default module, execsnoop among them), whatever was left.
  const dflt = fs.readFileSync(path.join(REPO, 'ebpf.conf'), 'utf8');
  savedConf = fs.existsSync(CONF) ? fs.readFileSync(CONF, 'utf8') : null;
  if (savedConf !== dflt) {
    fs.writeFileSync(CONF, dflt);
    await restartAgent();
  } else savedConf = null;
  await waitFor('the agent to settle', () => agentAnswers() && !sh('pmprobe', ['-v', 'bcc.pmda.module.state']).out.includes('"starting"'), 60_000, 500);
});

afterAll(async () => {
  if (savedConf === null) return;
  fs.writeFileSync(CONF, savedConf);
  await restartAgent();
});

describe('load through pmcd', () => {
  it(`${CLIENTS} clients fetching every bcc metric during an exec storm: no errors, no losses, no timeouts`, async () => {
    const pid = agentPids();
    expect(pid).toHaveLength(1);
    const logStart = fs.statSync(PMCD_LOG).size;
    const lost0 = lostTotal();
    const seq0 = execSeq();
    const end = Date.now() + SECONDS * 1000;
    const storm = spawn('timeout', [String(SECONDS), 'sh', '-c', 'while :; do /bin/true; done'], { stdio: 'ignore' });
    const stormDone = new Promise((r) => storm.on('close', r));
    const failures: string[] = [];
    let fetches = 0;
    const client = async () => {
      while (Date.now() < end) {
        const r = await run('pminfo', ['-f', 'bcc']);
        fetches++;
        // Failed modules say "Operation not supported"; anything else is a real error.
        // Values (kernel stacks) may contain any word: look only at pminfo's own error lines.
        const bad = r.out.split('\n').filter((l) => /^\s*Error: (?!Operation not supported)|^pminfo:|No PMCD agent/.test(l));
        if (r.code !== 0 || bad.length > 0) failures.push(`exit ${r.code}: ${bad.slice(0, 3).join(' | ')}`);
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, client));
    await stormDone;
    const execs = execSeq() - seq0;
    const lost = lostTotal() - lost0;
    const pmcdLog = fs.readFileSync(PMCD_LOG, 'utf8').slice(logStart);
    if (process.env.SHOW_FIGURES) process.stderr.write(`load: ${CLIENTS} clients, ${fetches} pminfo -f bcc in ${SECONDS} s, ${execs} execs seen, ${lost} lost, ${failures.length} failures\n`);
    expect(failures).toEqual([]);
    expect(fetches).toBeGreaterThanOrEqual(CLIENTS);
    expect(execs).toBeGreaterThan(100n);
    expect(lost).toBe(0n);
    expect(pmcdLog).not.toMatch(/ebpf|dom 149|timeout/i);
    expect(agentPids()).toEqual(pid);
  }, 120_000);
});
