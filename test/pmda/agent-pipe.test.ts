// The built agent on a pipe, fed what pmcd never sends: truncated and oversized PDUs, unknown
// types, unknown PMIDs/indoms/instances. Every request gets the spec's error reply or the agent
// leaves cleanly with a log line; it never hangs.
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  encodeDescReq,
  encodeFetch,
  encodeInstanceReq,
  encodeLabelReq,
  encodePmnsChild,
  encodePmnsTraverse,
  encodeProfile,
  encodeTextReq,
  encodeError,
  indom,
  pmid,
  PDU,
  PM_ERR,
  PM_LABEL,
  PM_TEXT,
} from '../../src/pcp';
import { MODULES } from '../../src/modules';
import { allModulesOff, startAgent, type AgentPipe } from '../helpers/agent-pipe';
import { SELF_CLUSTER, SELF_INDOM } from '../../src/modules/pmda-self';
import { buildVersion } from '../helpers/pmcd';

const OFF = allModulesOff(MODULES.map((m) => m.name));
let agent: AgentPipe | null = null;
afterEach(() => {
  agent?.kill();
  agent = null;
});

const header = (len: number, type: number) => {
  const b = Buffer.alloc(12);
  b.writeInt32BE(len, 0);
  b.writeInt32BE(type, 4);
  return b;
};

describe('agent on a pipe', () => {
  it('answers the core requests and the spec errors', async () => {
    agent = await startAgent(OFF);
    agent.send(encodeFetch({ pmids: [pmid(149, SELF_CLUSTER, 0), pmid(149, 9, 9)] }));
    const r = await agent.next();
    expect(r?.type).toBe(PDU.RESULT);
    if (r?.type !== PDU.RESULT) return;
    expect(r.sets[0]!.numval).toBe(1);
    expect(r.sets[0]!.values[0]!.value).toBe(buildVersion());
    expect(r.sets[1]!.numval).toBe(PM_ERR.PMID);

    agent.send(encodeDescReq({ pmid: pmid(149, 9, 9) }));
    expect(await agent.next()).toMatchObject({ type: PDU.ERROR, code: PM_ERR.PMID });
    agent.send(encodeInstanceReq({ indom: indom(149, 77) }));
    expect(await agent.next()).toMatchObject({ type: PDU.ERROR, code: PM_ERR.INDOM });
    agent.send(encodeInstanceReq({ indom: indom(149, SELF_INDOM), inst: 9999 }));
    expect(await agent.next()).toMatchObject({ type: PDU.ERROR, code: PM_ERR.INST });
    agent.send(encodeInstanceReq({ indom: indom(149, SELF_INDOM), name: 'no-such-module' }));
    expect(await agent.next()).toMatchObject({ type: PDU.ERROR, code: PM_ERR.INST });
    agent.send(encodeTextReq({ ident: pmid(149, 9, 9), textType: PM_TEXT.PMID | PM_TEXT.ONELINE }));
    expect(await agent.next()).toMatchObject({ type: PDU.ERROR, code: PM_ERR.TEXT });
    agent.send(encodePmnsChild({ name: 'bcc.nothing', subtype: 1 }));
    expect(await agent.next()).toMatchObject({ type: PDU.ERROR, code: PM_ERR.NAME });
    agent.send(encodePmnsTraverse({ name: 'bcc.pmda.module' }));
    const t = await agent.next();
    expect(t).toMatchObject({ type: PDU.PMNS_NAMES });
    if (t?.type === PDU.PMNS_NAMES) expect(t.names).toContain('bcc.pmda.module.state');
    // Labels never answer with an error, even for unknown idents.
    agent.send(encodeLabelReq({ ident: indom(149, 77), labelType: PM_LABEL.INDOM }));
    expect(await agent.next()).toMatchObject({ type: PDU.LABEL, sets: [] });
  });

  it('applies the last profile to later fetches', async () => {
    agent = await startAgent(OFF);
    const modules = indom(149, SELF_INDOM);
    agent.send(encodeProfile({ ctxid: 0, globalState: 0, profiles: [{ indom: modules, state: 1, instances: [0] }] }));
    agent.send(encodeFetch({ pmids: [pmid(149, SELF_CLUSTER, 1)] }));
    const r = await agent.next();
    if (r?.type !== PDU.RESULT) throw new Error('no result');
    expect(r.sets[0]!.values.map((v) => v.inst)).toEqual([0]);
    agent.send(encodeFetch({ pmids: [pmid(149, SELF_CLUSTER, 1)] }));
    const again = await agent.next();
    if (again?.type !== PDU.RESULT) throw new Error('no result');
    expect(again.sets[0]!.values.map((v) => v.inst)).toEqual([0]);
  });

  it('answers an unknown PDU type with an error and keeps serving', async () => {
    agent = await startAgent(OFF);
    const odd = Buffer.concat([header(16, 0x7077), Buffer.alloc(4)]);
    agent.send(odd);
    expect(await agent.next()).toMatchObject({ type: PDU.ERROR, code: PM_ERR.NYI });
    agent.send(encodeDescReq({ pmid: pmid(149, SELF_CLUSTER, 0) }));
    expect(await agent.next()).toMatchObject({ type: PDU.DESC, pmid: pmid(149, SELF_CLUSTER, 0) });
  });

  it('answers a request whose body does not decode with EPROTO and keeps serving', async () => {
    agent = await startAgent(OFF);
    const fetch = encodeFetch({ pmids: [pmid(149, SELF_CLUSTER, 0)] });
    fetch.writeInt32BE(5, 24); // numpmid 5 but only one PMID follows
    agent.send(fetch);
    expect(await agent.next()).toMatchObject({ type: PDU.ERROR, code: -71 });
    expect(fs.readFileSync(agent.log, 'utf8')).toMatch(/malformed PDU/);
    agent.send(encodeDescReq({ pmid: pmid(149, SELF_CLUSTER, 0) }));
    expect(await agent.next()).toMatchObject({ type: PDU.DESC });
  });

  it('a length word below the header size: logged, clean exit, no reply', async () => {
    agent = await startAgent(OFF);
    agent.send(header(8, PDU.FETCH));
    expect(await agent.exited()).toBe(1);
    expect(fs.readFileSync(agent.log, 'utf8')).toMatch(/unframeable input from pmcd/);
  });

  it('a truncated PDU or a length larger than the data, then EOF: logged, exit 0', async () => {
    agent = await startAgent(OFF);
    const fetch = encodeFetch({ pmids: [pmid(149, SELF_CLUSTER, 0)] });
    agent.send(fetch.subarray(0, fetch.length - 3));
    expect(await agent.next(500)).toBeNull();
    agent.proc.stdin.end();
    expect(await agent.exited()).toBe(0);
    expect(fs.readFileSync(agent.log, 'utf8')).toMatch(/stdin closed inside a PDU/);

    agent = await startAgent(OFF);
    agent.send(Buffer.concat([header(4096, PDU.FETCH), Buffer.alloc(20)]));
    expect(await agent.next(500)).toBeNull();
    agent.proc.stdin.end();
    expect(await agent.exited()).toBe(0);
  });

  it('drops per-client state on NOTCONN without replying, and exits on SIGTERM', async () => {
    agent = await startAgent(OFF);
    agent.send(encodeError({ code: PM_ERR.NOTCONN, from: 3 }));
    agent.send(encodeDescReq({ pmid: pmid(149, SELF_CLUSTER, 0) }));
    expect(await agent.next()).toMatchObject({ type: PDU.DESC });
    agent.proc.kill('SIGTERM');
    expect(await agent.exited()).toBe(0);
  });

  it('reports config errors by section and key and serves the rest', async () => {
    agent = await startAgent(`${OFF}[pmda]\nlog_level = loud\n[nosuch]\nx = 1\n`);
    agent.send(encodeFetch({ pmids: [pmid(149, SELF_CLUSTER, 5), pmid(149, SELF_CLUSTER, 0)] }));
    const r = await agent.next();
    if (r?.type !== PDU.RESULT) throw new Error('no result');
    const errors = String(r.sets[0]!.values[0]!.value);
    expect(errors).toContain('[pmda] log_level: expected one of');
    expect(errors).toContain('[nosuch] *: unknown section');
    expect(r.sets[1]!.numval).toBe(1);
  });
});
