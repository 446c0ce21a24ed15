// Least privilege: once its eBPF programs are loaded the agent runs as the pcp user with only
// the capabilities later attaches and symbol lookups need, no_new_privs set; a module started
// afterwards (a reload) still loads and attaches. [pmda] keep_root = true keeps root.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFetch, encodeInstanceReq, indom, pmid, PDU, PM_ERR } from '../../src/pcp';
import { startAgent, type AgentPipe } from '../helpers/agent-pipe';
import { SELF_CLUSTER } from '../../src/modules/pmda-self';

let agent: AgentPipe | null = null;
afterEach(() => {
  agent?.kill();
  agent = null;
});

// CAP_DAC_READ_SEARCH(2) CAP_SYS_PTRACE(19) CAP_SYSLOG(34) CAP_PERFMON(38) CAP_BPF(39) CAP_CHECKPOINT_RESTORE(40)
const KEPT = ((1n << 2n) | (1n << 19n) | (1n << 34n) | (1n << 38n) | (1n << 39n) | (1n << 40n)).toString(16).padStart(16, '0');

function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(\w+):\s+(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

async function waitLog(a: AgentPipe, re: RegExp, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!re.test(fs.readFileSync(a.log, 'utf8'))) {
    if (Date.now() > end) throw new Error(`log never matched ${re}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const conf = (extra: string, tcptop: string) => `[pmda]\nmodules = runqlat, tcptop, execsnoop\nallow_reload = true\n${extra}[tcptop]\n${tcptop}\n`;

describe('least privilege', () => {
  it('runs as pcp with six capabilities and no_new_privs; a reload still loads and attaches', async () => {
    agent = await startAgent(conf('', 'conn_count = 20'), ['--notready']);
    expect(await agent.next(60_000)).toMatchObject({ type: PDU.ERROR, code: PM_ERR.PMDAREADY });
    await waitLog(agent, /privileges dropped/);
    const st = status(agent.proc.pid!);
    expect(st.Uid).toBe(Array(4).fill(uidOf('pcp')).join('\t'));
    expect(st.CapEff).toBe(KEPT);
    expect(st.CapPrm).toBe(KEPT);
    expect(st.CapBnd).toBe(KEPT);
    expect(st.CapInh).toBe('0000000000000000');
    expect(st.CapAmb).toBe('0000000000000000');
    expect(st.NoNewPrivs).toBe('1');
    // Its state directory and log stay writable.
    expect(fs.statSync(path.join(agent.dir, 'state')).uid).toBe(uidOf('pcp'));
    expect(fs.statSync(agent.log).uid).toBe(uidOf('pcp'));

    // tcptop restarts as pcp: its programs load and attach with the kept capabilities.
    fs.writeFileSync(path.join(agent.dir, 'ebpf.conf'), conf('', 'conn_count = 3'));
    agent.proc.kill('SIGUSR2');
    await waitLog(agent, /"restarted":\["tcptop"\]/);
    agent.send(encodeFetch({ pmids: [pmid(149, SELF_CLUSTER, 1), pmid(149, SELF_CLUSTER, 2)] }));
    const r = await agent.next();
    if (r?.type !== PDU.RESULT) throw new Error('no result');
    const states = r.sets[0]!.values.map((v) => String(v.value));
    expect(states.filter((s) => s === 'running'), JSON.stringify(r.sets[1]!.values)).toHaveLength(3);
    agent.send(encodeInstanceReq({ indom: indom(149, 12) }));
    const ir = await agent.next();
    expect(ir?.type === PDU.INSTANCE && ir.instances.length).toBe(3);
    // execsnoop keeps seeing execs after the drop.
    const seq = async () => {
      agent!.send(encodeFetch({ pmids: [pmid(149, 8, 6)] }));
      const x = await agent!.next();
      return x?.type === PDU.RESULT ? x.sets[0]!.values.reduce((m, v) => (BigInt(v.value as bigint) > m ? BigInt(v.value as bigint) : m), 0n) : -1n;
    };
    const s0 = await seq();
    for (let i = 0; i < 5; i++) execFileSync('/bin/true');
    await new Promise((res) => setTimeout(res, 300));
    expect(await seq()).toBeGreaterThan(s0);
  });

  it('[pmda] keep_root = true keeps root, and says so', async () => {
    agent = await startAgent('[pmda]\nmodules = runqlat\nkeep_root = true\n', ['--notready']);
    expect(await agent.next(60_000)).toMatchObject({ type: PDU.ERROR, code: PM_ERR.PMDAREADY });
    await waitLog(agent, /keep_root = true: the agent keeps running as root/);
    const st = status(agent.proc.pid!);
    expect(st.Uid).toBe('0\t0\t0\t0');
    expect(st.NoNewPrivs).toBe('0');
  });
});

function uidOf(user: string): number {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
  if (!line) throw new Error(`no user ${user}`);
  return Number(line.split(':')[2]);
}
