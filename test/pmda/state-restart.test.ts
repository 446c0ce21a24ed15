// Instance ids survive a crash of the state file: the built agent is stopped, its state file
// truncated (as a power loss before an fsync could leave it), and restarted: no id is reused.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeInstanceReq, indom, PDU } from '../../src/pcp';
import { MODULES } from '../../src/modules';
import { allModulesOff, startAgent, type AgentPipe } from '../helpers/agent-pipe';
import { SELF_INDOM } from '../../src/modules/pmda-self';

let agent: AgentPipe | null = null;
afterEach(() => {
  agent?.kill();
  agent = null;
});

async function moduleIds(a: AgentPipe): Promise<Map<string, number>> {
  a.send(encodeInstanceReq({ indom: indom(149, SELF_INDOM) }));
  const r = await a.next();
  if (r?.type !== PDU.INSTANCE) throw new Error(`no instance reply: ${JSON.stringify(r)}`);
  return new Map(r.instances.map((i) => [i.name!, i.inst]));
}

describe('instance-id state after a crash', () => {
  it('a truncated state file: moved aside, logged, and ids start above every id handed out', async () => {
    const conf = allModulesOff(MODULES.map((m) => m.name));
    agent = await startAgent(conf);
    const state = path.join(agent.dir, 'state');
    const before = await moduleIds(agent);
    expect(before.size).toBe(MODULES.length);
    agent.proc.kill('SIGTERM');
    expect(await agent.exited()).toBe(0);
    const file = path.join(state, `indom-149.${SELF_INDOM}.json`);
    fs.truncateSync(file, 7);

    agent = await startAgent(conf, ['--state-dir', state]);
    const after = await moduleIds(agent);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [name, id] of after) expect([...before.values()], name).not.toContain(id);
    expect(fs.readFileSync(agent.log, 'utf8')).toMatch(/instance-id state: .*indom-149\.300\.json is corrupt .*moved to/);
    expect(fs.readdirSync(state).filter((f) => f.startsWith(`indom-149.${SELF_INDOM}.json.corrupt-`))).toHaveLength(1);
  });
});
