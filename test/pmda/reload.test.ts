// Applying an ebpf.conf change without restarting the agent: only the module whose section
// changed restarts; the others keep their eBPF programs and counters; a bad file changes
// nothing and is reported; the store trigger is refused unless [pmda] allow_reload is set.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFetch, encodeInstanceReq, encodeStore, indom, pmid, PDU, PM_ERR, PM_TYPE, type Pdu } from '../../src/pcp';
import { MODULES } from '../../src/modules';
import { allModulesOff, startAgent, type AgentPipe } from '../helpers/agent-pipe';
import { SELF_CLUSTER } from '../../src/modules/pmda-self';

let agent: AgentPipe | null = null;
afterEach(() => {
  agent?.kill();
  agent = null;
});

const RUNQ_LATENCY = pmid(149, 4, 0);
const RELOADS = pmid(149, SELF_CLUSTER, 6);
const CONFIG_ERRORS = pmid(149, SELF_CLUSTER, 5);
const STATES = pmid(149, SELF_CLUSTER, 1);

async function ask(a: AgentPipe, buf: Buffer): Promise<Pdu> {
  a.send(buf);
  const r = await a.next();
  if (!r) throw new Error('no reply');
  return r;
}

async function fetchSets(a: AgentPipe, pmids: number[]) {
  const r = await ask(a, encodeFetch({ pmids }));
  if (r.type !== PDU.RESULT) throw new Error(`no result: ${JSON.stringify(r)}`);
  return r.sets;
}

/** Total count of the runqlat histogram (a BPF map: it restarts at 0 if the module restarts). */
async function runqTotal(a: AgentPipe): Promise<bigint> {
  const [s] = await fetchSets(a, [RUNQ_LATENCY]);
  return s!.values.reduce((sum, v) => sum + BigInt(v.value as number | bigint), 0n);
}

async function tcptopRows(a: AgentPipe): Promise<number> {
  const r = await ask(a, encodeInstanceReq({ indom: indom(149, 12) }));
  if (r.type !== PDU.INSTANCE) throw new Error(`no instances: ${JSON.stringify(r)}`);
  return r.instances.length;
}

async function until<T>(what: string, f: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: last ${String(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const reloadStore = () => encodeStore({ sets: [{ pmid: RELOADS, type: PM_TYPE.U32, values: [{ inst: -1 >>> 0, value: 1 }] }] });
const conf = (tcptop: string, modules = 'runqlat, tcptop') => `[pmda]\nmodules = ${modules}\nallow_reload = true\n[tcptop]\n${tcptop}\n`;

describe('configuration reload without a restart', () => {
  it('changes [tcptop] conn_count while runqlat keeps counting; a bad file changes nothing', async () => {
    agent = await startAgent(conf('conn_count = 20'), ['--notready']);
    expect(await agent.next(60_000)).toMatchObject({ type: PDU.ERROR, code: PM_ERR.PMDAREADY });
    const file = path.join(agent.dir, 'ebpf.conf');
    expect(await tcptopRows(agent)).toBe(20);
    const before = await until('runqlat events', () => runqTotal(agent!), (n) => n > 0n);

    fs.writeFileSync(file, conf('conn_count = 5'));
    expect(await ask(agent, reloadStore())).toMatchObject({ type: PDU.ERROR, code: 0 });
    await until('the reload', async () => (await fetchSets(agent!, [RELOADS]))[0]!.values[0]?.value, (v) => v === 1);
    expect(await tcptopRows(agent)).toBe(5);
    const after = await runqTotal(agent);
    // Not reset: the same BPF map kept counting through the reload.
    expect(after).toBeGreaterThanOrEqual(before);
    const log = fs.readFileSync(agent.log, 'utf8');
    expect(log).toMatch(/"restarted":\["tcptop"\].*configuration reloaded/);

    // A bad file: nothing stops, the errors are reported as a rejected reload.
    fs.writeFileSync(file, conf('conn_count = many'));
    agent.proc.kill('SIGUSR2');
    const errors = await until('the rejection', async () => String((await fetchSets(agent!, [CONFIG_ERRORS]))[0]!.values[0]!.value), (e) => e !== '');
    expect(errors).toBe('reload rejected: [tcptop] conn_count: expected an integer, got "many"');
    expect(await tcptopRows(agent)).toBe(5);
    expect((await fetchSets(agent, [RELOADS]))[0]!.values[0]!.value).toBe(1);
    expect(await runqTotal(agent)).toBeGreaterThanOrEqual(after);

    // Turning one module off at run time; runqlat again untouched.
    fs.writeFileSync(file, conf('conn_count = 5', 'runqlat'));
    agent.proc.kill('SIGUSR2');
    await until('the second reload', async () => (await fetchSets(agent!, [RELOADS]))[0]!.values[0]?.value, (v) => v === 2);
    const states = (await fetchSets(agent, [STATES, CONFIG_ERRORS]));
    expect(states[1]!.values[0]!.value).toBe('');
    const stateValues = states[0]!.values.map((v) => String(v.value));
    expect(stateValues.filter((s) => s === 'running')).toHaveLength(1); // runqlat
    expect(await tcptopRows(agent)).toBe(0);
    expect(await runqTotal(agent)).toBeGreaterThanOrEqual(after);
  });

  it('the store is refused unless [pmda] allow_reload = true', async () => {
    agent = await startAgent(allModulesOff(MODULES.map((m) => m.name)));
    expect(await ask(agent, reloadStore())).toMatchObject({ type: PDU.ERROR, code: PM_ERR.PERMISSION });
    expect((await fetchSets(agent, [RELOADS]))[0]!.values[0]!.value).toBe(0);
  });
});
