// Seeded PDU fuzzing of the built agent on a pipe: mutations of the golden PDUs (bit flips,
// lying inner lengths and counts, truncation, extension, random types, spliced headers,
// split and merged writes). After every mutated PDU a probe must be answered; input that
// cannot be framed at all must end in a clean exit with a log line. Any crash or hang fails.
// FUZZ_SEED and FUZZ_COUNT reproduce or extend a run.
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeDescReq, pmid, PDU } from '../../src/pcp';
import { MODULES } from '../../src/modules';
import { allModulesOff, startAgent, type AgentPipe } from '../helpers/agent-pipe';
import { loadVectors } from '../pcp/vectors';
import { SELF_CLUSTER } from '../../src/modules/pmda-self';

const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const COUNT = Number(process.env.FUZZ_COUNT ?? 20_000);
/** The agent's frame limit (PduFramer's default): longer length words are unframeable. */
const MAX_PDU = 1024 * 1024;

/** mulberry32: small, seedable, good enough to pick mutations. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 0x00ffffff, 0x4000, 12, 16];

function mutate(golden: Buffer[], r: () => number): { bytes: Buffer; op: string } {
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  let b = Buffer.from(pick(golden));
  const ops = 1 + Math.floor(r() * 3);
  const names: string[] = [];
  for (let k = 0; k < ops; k++) {
    const op = Math.floor(r() * 7);
    switch (op) {
      case 0: {
        // bit flips anywhere past the length word
        const flips = 1 + Math.floor(r() * 8);
        for (let i = 0; i < flips && b.length > 4; i++) {
          const at = 4 + Math.floor(r() * (b.length - 4));
          b[at]! ^= 1 << Math.floor(r() * 8);
        }
        names.push('flip');
        break;
      }
      case 1: {
        // an interesting word (counts, lengths, offsets) at an aligned place past the length
        if (b.length >= 8) {
          const at = 4 + 4 * Math.floor(r() * Math.floor((b.length - 4) / 4));
          if (at + 4 <= b.length) b.writeUInt32BE(pick(INTERESTING), at);
        }
        names.push('word');
        break;
      }
      case 2:
        b = b.subarray(0, 12 + Math.floor(r() * Math.max(1, b.length - 12)));
        names.push('truncate');
        break;
      case 3: {
        const extra = Buffer.alloc(Math.floor(r() * 256));
        for (let i = 0; i < extra.length; i++) extra[i] = Math.floor(r() * 256);
        b = Buffer.concat([b, extra]);
        names.push('extend');
        break;
      }
      case 4:
        b.writeUInt32BE(r() < 0.8 ? 0x7000 + Math.floor(r() * 0x20) : Math.floor(r() * 2 ** 32), 4);
        names.push('type');
        break;
      case 5: {
        const other = pick(golden);
        b = Buffer.concat([b.subarray(0, 12), other.subarray(Math.min(12, other.length))]);
        names.push('splice');
        break;
      }
      default:
        // huge count in the first body word (numpmid, numinst, numsets ...)
        if (b.length >= 16) b.writeUInt32BE(pick([0x7fffffff, 0xffffffff, 0x10000000, 65536, 16384]), 12);
        names.push('count');
    }
  }
  // The frame stays consistent: its length word says what follows (lies are inside the body).
  b.writeUInt32BE(b.length, 0);
  return { bytes: b, op: names.join('+') };
}

let agent: AgentPipe | null = null;
afterEach(() => {
  agent?.kill();
  agent = null;
});

describe('PDU fuzzing through the built agent', () => {
  const golden = loadVectors().map((v) => v.bytes);

  it(`${COUNT} mutations of ${golden.length} golden PDUs: every probe answered (seed ${SEED})`, async () => {
    const r = rng(SEED);
    // runqlat on: fetch, instance and label paths reach a real module, not just the self metrics.
    const others = allModulesOff(MODULES.map((m) => m.name).filter((n) => n !== 'runqlat'));
    agent = await startAgent(others, ['--notready']);
    expect(await agent.next(60_000)).toMatchObject({ type: PDU.ERROR });
    const tally = new Map<string, number>();
    let replies = 0;
    for (let i = 0; i < COUNT; i++) {
      const { bytes, op } = mutate(golden, r);
      const probe = pmid(149, SELF_CLUSTER, i % 6);
      const probeBuf = encodeDescReq({ pmid: probe });
      const how = r();
      if (how < 0.5) agent.send(Buffer.concat([bytes, probeBuf]));
      else if (how < 0.8) {
        agent.send(bytes);
        agent.send(probeBuf);
      } else {
        // split writes: the framer must reassemble across arbitrary chunk boundaries
        const all = Buffer.concat([bytes, probeBuf]);
        let at = 0;
        while (at < all.length) {
          const n = 1 + Math.floor(r() * 16);
          agent.send(all.subarray(at, at + n));
          at += n;
        }
      }
      for (;;) {
        const reply = await agent.next(5000);
        if (reply === null) {
          const code = agent.proc.exitCode;
          throw new Error(`mutation ${i} (${op}, seed ${SEED}) ${code === null ? 'hung' : `made the agent exit ${code}`}: ${bytes.toString('hex').slice(0, 400)}`);
        }
        if (reply.type === PDU.DESC && reply.pmid === probe) break;
        replies++;
      }
      tally.set(op.split('+')[0]!, (tally.get(op.split('+')[0]!) ?? 0) + 1);
    }
    expect(agent.proc.exitCode).toBeNull();
    expect([...tally.values()].reduce((a, b) => a + b, 0)).toBe(COUNT);
    expect(tally.size).toBe(7);
    // Mutated requests were answered too (errors mostly), not silently swallowed.
    expect(replies).toBeGreaterThan(COUNT / 4);
    if (process.env.SHOW_FIGURES) process.stderr.write(`fuzz: ${COUNT} mutations, ${replies} replies to mutated PDUs, ops ${JSON.stringify(Object.fromEntries(tally))}\n`);
  });

  it('unframeable length words: a clean exit with a log line, every time', async () => {
    const r = rng(SEED + 1);
    const lengths = [0, 4, 11, -1, 0x80000000, MAX_PDU + 1, 0x7fffffff, Math.floor(MAX_PDU + 1 + r() * 1e8)];
    const off = allModulesOff(MODULES.map((m) => m.name));
    for (const len of lengths) {
      agent = await startAgent(off);
      const b = Buffer.from(golden[Math.floor(r() * golden.length)]!);
      b.writeInt32BE(len | 0, 0);
      agent.send(Buffer.concat([b, encodeDescReq({ pmid: pmid(149, SELF_CLUSTER, 0) })]));
      expect(await agent.exited(5000), `length ${len}`).toBe(1);
      expect(fs.readFileSync(agent.log, 'utf8'), `length ${len}`).toMatch(/unframeable input from pmcd/);
      agent = null;
    }
  });
});
