// ebpf.conf fails closed, through the built agent: whatever is wrong with the file, no module
// the operator did not ask for starts, the self metrics still serve and say why.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFetch, encodeInstanceReq, indom, pmid, PDU } from '../../src/pcp';
import { MODULES } from '../../src/modules';
import { allModulesOff, startAgent, type AgentPipe } from '../helpers/agent-pipe';
import { SELF_CLUSTER, SELF_INDOM } from '../../src/modules/pmda-self';

const NAMES = MODULES.map((m) => m.name);
let agent: AgentPipe | null = null;
afterEach(() => {
  agent?.kill();
  agent = null;
});

/** bcc.pmda.module.state/error per module and bcc.pmda.config.errors. */
async function health(a: AgentPipe): Promise<{ modules: Record<string, { state: string; error: string }>; errors: string }> {
  a.send(encodeInstanceReq({ indom: indom(149, SELF_INDOM) }));
  const ir = await a.next();
  if (ir?.type !== PDU.INSTANCE) throw new Error(`no instance reply: ${JSON.stringify(ir)}`);
  const names = new Map(ir.instances.map((i) => [i.inst, i.name!]));
  a.send(encodeFetch({ pmids: [pmid(149, SELF_CLUSTER, 1), pmid(149, SELF_CLUSTER, 2), pmid(149, SELF_CLUSTER, 5)] }));
  const r = await a.next();
  if (r?.type !== PDU.RESULT) throw new Error(`no result: ${JSON.stringify(r)}`);
  const modules: Record<string, { state: string; error: string }> = {};
  for (const v of r.sets[0]!.values) modules[names.get(v.inst)!] = { state: String(v.value), error: '' };
  for (const v of r.sets[1]!.values) modules[names.get(v.inst)!]!.error = String(v.value);
  return { modules, errors: String(r.sets[2]!.values[0]!.value) };
}

function expectNothingStarted(h: Awaited<ReturnType<typeof health>>, why: RegExp): void {
  for (const n of NAMES) {
    expect(h.modules[n]?.state, n).toBe('failed');
    expect(h.modules[n]?.error, n).toMatch(/^not started: configuration unusable/);
  }
  expect(h.errors).toMatch(why);
  expect(h.errors.length).toBeLessThan(400);
}

describe('a bad ebpf.conf fails closed', () => {
  it('binary junk: no tool module starts, the agent says why', async () => {
    agent = await startAgent('');
    fs.writeFileSync(path.join(agent.dir, 'junk.conf'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff)));
    agent.kill();
    agent = await startAgent('', ['-c', path.join(agent.dir, 'junk.conf')]);
    expectNothingStarted(await health(agent), /junk.conf: binary content/);
  });

  it('a 10 MB file: refused with a short error', async () => {
    agent = await startAgent(`[runqlat]\n${'x'.repeat(10 * 1024 * 1024)}\n`);
    expectNothingStarted(await health(agent), /ebpf.conf: 10485771 bytes is larger than the 1048576 byte limit/);
  });

  it('a FIFO: refused without blocking, the agent answers at once', async () => {
    const dir = fs.mkdtempSync('/tmp/fifo-');
    execFileSync('mkfifo', [path.join(dir, 'ebpf.conf')]);
    agent = await startAgent('', ['-c', path.join(dir, 'ebpf.conf')]);
    expectNothingStarted(await health(agent), /ebpf.conf: not a regular file/);
    fs.rmSync(dir, { recursive: true });
  });

  it('a missing -c file and an unreadable file: no tool module starts', async () => {
    agent = await startAgent('', ['-c', '/nonexistent/ebpf.conf']);
    expectNothingStarted(await health(agent), /cannot use config \/nonexistent\/ebpf.conf: no such file/);
    expect(fs.readFileSync(agent.log, 'utf8')).toMatch(/configuration unusable: no tool module starts/);
    agent.kill();
    agent = await startAgent('', ['-c', '/proc/self/mem']);
    expectNothingStarted(await health(agent), /cannot use config \/proc\/self\/mem: .*(EIO|input\/output error)/i);
  });

  it('a broken [pmda] section: no tool module starts', async () => {
    agent = await startAgent(`${allModulesOff(NAMES)}[pmda]\nmodules = runqlat\n[pmda]\n`);
    expectNothingStarted(await health(agent), /section \[pmda\] appears twice/);
  });

  it('a duplicate section, a duplicate key, a broken header: only that module stays off, with the error', async () => {
    const others = allModulesOff(NAMES.filter((n) => !['runqlat', 'biolatency', 'execsnoop'].includes(n)));
    agent = await startAgent(`[runqlat]\nenabled = false\n[runqlat]\n[biolatency]\nenabled = false\nenabled = false\n[execsnoop\nenabled = false\n${others}`);
    const h = await health(agent);
    expect(h.modules.runqlat).toEqual({ state: 'failed', error: expect.stringMatching(/ebpf.conf:3: section \[runqlat\] appears twice$/) });
    expect(h.modules.biolatency).toEqual({ state: 'failed', error: expect.stringMatching(/ebpf.conf:6: key "enabled" is set twice in \[biolatency\]$/) });
    expect(h.modules.execsnoop).toEqual({ state: 'failed', error: expect.stringMatching(/ebpf.conf:7: broken section header "\[execsnoop"$/) });
    for (const n of NAMES.filter((x) => !['runqlat', 'biolatency', 'execsnoop'].includes(x))) expect(h.modules[n]?.state, n).toBe('disabled');
    expect(h.errors.split('; ')).toHaveLength(3);
  });

  it('an unknown [pmda] key is reported; the other [pmda] keys still apply', async () => {
    agent = await startAgent('[pmda]\nlog_levle = debug\nmodules = runqlat\n[runqlat]\nenabled = maybe\n');
    const h = await health(agent);
    expect(h.errors).toMatch(/^\[pmda\] log_levle: unknown key/);
    // modules = runqlat applied: every other default-on module stays off.
    for (const n of NAMES.filter((x) => x !== 'runqlat')) expect(h.modules[n]?.state, n).toBe('disabled');
    expect(h.modules.runqlat).toEqual({ state: 'failed', error: '[runqlat] enabled: expected true or false, got "maybe"' });
  });
});
