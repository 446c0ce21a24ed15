// Replies are bounded: a PMID named many times is computed once, and sets past
// [pmda] max_reply_bytes are answered PM_ERR_TOOBIG instead of being built.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFetch, encodeResult, pmid, PDU, PM_ERR, PM_TYPE, type ResultSet } from '../../src/pcp';
import { budgetSets, setBytes } from '../../src/pmda/reply-budget';
import { startAgent, type AgentPipe } from '../helpers/agent-pipe';

let agent: AgentPipe | null = null;
afterEach(() => {
  agent?.kill();
  agent = null;
});

describe('reply budget', () => {
  it('sizes sets at or just above what the encoder writes', () => {
    const sets: ResultSet[] = [
      { pmid: 1, type: PM_TYPE.STRING, values: [{ inst: 0, value: 'héllo' }, { inst: 1, value: 'x'.repeat(1001) }] },
      { pmid: 2, type: PM_TYPE.U64, values: [{ inst: 0, value: 5n }, { inst: 1, value: 7 }] },
      { pmid: 3, type: PM_TYPE.U32, values: [{ inst: 0, value: 5 }] },
      { pmid: 4, type: PM_TYPE.DOUBLE, values: [{ inst: 0, value: 0.5 }] },
      { pmid: 5, error: PM_ERR.PMID },
      { pmid: 6, type: PM_TYPE.STRING, values: [] },
    ];
    for (const s of sets) {
      const real = encodeResult([s]).length - 24;
      expect(setBytes(s), `pmid ${s.pmid}`).toBeGreaterThanOrEqual(real);
      expect(setBytes(s), `pmid ${s.pmid}`).toBeLessThanOrEqual(real + 16);
    }
  });

  it('answers sets past the cap with PM_ERR_TOOBIG, in request order', () => {
    const big: ResultSet = { pmid: 7, type: PM_TYPE.STRING, values: [{ inst: 0, value: 'y'.repeat(1000) }] };
    const small: ResultSet = { pmid: 8, type: PM_TYPE.U32, values: [{ inst: 0, value: 1 }] };
    const computed = new Map([[7, big], [8, small]]);
    const { sets, tooBig, bytes } = budgetSets([7, 7, 7, 8], computed, 24 + 4 * 8 + 2 * (setBytes(big) - 8) + setBytes(small) - 8);
    expect(sets).toEqual([big, big, { pmid: 7, error: PM_ERR.TOOBIG }, small]);
    expect(tooBig).toBe(1);
    expect(bytes).toBe(encodeResult(sets).length);
  });
});

describe('a FETCH naming bcc.proc.exec.args 16 000 times', () => {
  it('is computed once, answered within the cap, well under a second', async () => {
    const max = 4 * 1024 * 1024;
    agent = await startAgent(`[pmda]\nmodules = execsnoop\nmax_reply_bytes = ${max}\n[execsnoop]\nprocess_count = 50\nargs = arg18-z{120}\n`, ['--notready']);
    expect(await agent.next(60_000)).toMatchObject({ type: PDU.ERROR, code: PM_ERR.PMDAREADY });
    const longArgs = Array.from({ length: 19 }, (_, i) => `arg${i}-${'z'.repeat(120)}`);
    for (let i = 0; i < 60; i++) execFileSync('/bin/true', longArgs);
    const args = pmid(149, 8, 4);
    // Wait until the ring is full of the long command lines.
    let one: ResultSet | null = null;
    for (let t = 0; t < 50; t++) {
      agent.send(encodeFetch({ pmids: [args] }));
      const r = await agent.next();
      if (r?.type !== PDU.RESULT) throw new Error(`no result: ${JSON.stringify(r)}`);
      if (r.sets[0]!.numval === 50) {
        one = { pmid: args, type: PM_TYPE.STRING, values: r.sets[0]!.values.map((v) => ({ inst: v.inst, value: String(v.value) })) };
        break;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(one, 'execsnoop filled its 50 slots').not.toBeNull();
    const perSet = setBytes(one!);
    expect(perSet).toBeGreaterThan(50 * 1000);

    const request = encodeFetch({ pmids: new Array<number>(16_000).fill(args) });
    expect(request.length).toBeLessThan(65_536);
    const t0 = performance.now();
    agent.send(request);
    const r = await agent.next();
    const ms = performance.now() - t0;
    if (r?.type !== PDU.RESULT) throw new Error(`no result: ${JSON.stringify(r)}`);
    expect(r.sets).toHaveLength(16_000);
    const fitted = Math.floor((max - 24 - 16_000 * 8) / (perSet - 8));
    const withValues = r.sets.filter((s) => s.numval > 0);
    expect(withValues.length).toBeGreaterThanOrEqual(fitted - 1);
    expect(withValues.length).toBeLessThanOrEqual(fitted + 1);
    expect(r.sets.slice(withValues.length).every((s) => s.numval === PM_ERR.TOOBIG)).toBe(true);
    const replyBytes = encodeResult(r.sets.map((s) => (s.numval > 0 ? one! : { pmid: s.pmid, error: s.numval }))).length;
    expect(replyBytes).toBeLessThanOrEqual(max);
    // Without the cap this reply would be 16 000 × perSet bytes (~1 GB here).
    expect(16_000 * perSet).toBeGreaterThan(100 * max);
    expect(ms).toBeLessThan(1000);
    if (process.env.SHOW_FIGURES) process.stderr.write(`16000-duplicate fetch: ${ms.toFixed(0)} ms, ${withValues.length} sets with values, reply ${replyBytes} bytes\n`);
    expect(fs.readFileSync(agent.log, 'utf8')).toMatch(/fetch reply capped at \[pmda\] max_reply_bytes/);
  });
});
