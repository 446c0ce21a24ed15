// kill -9 of the installed agent under the real pmcd: pmcd restarts it, and the kernel's eBPF
// programs, links and maps return exactly to the count they had (nothing leaks across a
// crash: every object is held by the agent's file descriptors only, none is pinned).
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { agentAnswers, agentPids, ensureInstalled, sh, waitFor } from '../helpers/pmcd';

const PMSIGNAL = '/usr/lib/pcp/bin/pmsignal';
const KILLS = 3;

function bpfCounts(): { progs: number; links: number; maps: number } {
  const count = (what: string) => (JSON.parse(execFileSync('bpftool', [what, 'show', '-j'], { encoding: 'utf8' })) as unknown[]).length;
  return { progs: count('prog'), links: count('link'), maps: count('map') };
}

/** The agent answers and no module is still starting (its BPF objects are all loaded). */
function settled(): boolean {
  if (!agentAnswers()) return false;
  const out = sh('pmprobe', ['-v', 'bcc.pmda.module.state'], { allowFail: true }).out;
  return /^bcc\.pmda\.module\.state \d+ /m.test(out) && !out.includes('"starting"');
}

beforeAll(() => ensureInstalled());

describe('kill -9 through pmcd', () => {
  it(`${KILLS} kills: pmcd restarts the agent and BPF programs, links and maps return to the baseline`, async () => {
    await waitFor('the agent to settle', settled, 60_000, 500);
    const baseline = bpfCounts();
    expect(baseline.progs).toBeGreaterThan(0);
    const seen: { progs: number; links: number; maps: number }[] = [];
    for (let i = 0; i < KILLS; i++) {
      const before = agentPids();
      expect(before.length).toBe(1);
      process.kill(before[0]!, 'SIGKILL');
      await waitFor('the agent to die', () => !agentPids().includes(before[0]!), 10_000, 100);
      // pmcd notices on its next request to the agent; SIGHUP then restarts it at once.
      let lastHup = 0;
      const restarted = () => {
        if (agentPids().length === 0 && Date.now() - lastHup > 3000) {
          sh('pmprobe', ['-v', 'bcc.pmda.version'], { allowFail: true });
          sh(PMSIGNAL, ['-a', '-s', 'HUP', 'pmcd']);
          lastHup = Date.now();
        }
        return agentPids().some((p) => p !== before[0]) && settled();
      };
      await waitFor('pmcd to restart the agent', restarted, 60_000, 500);
      // The old agent's objects are freed once its last fd is closed: wait for the count to settle.
      let now = bpfCounts();
      const end = Date.now() + 10_000;
      while (JSON.stringify(now) !== JSON.stringify(baseline) && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 250));
        now = bpfCounts();
      }
      seen.push(now);
    }
    for (const s of seen) expect(s).toEqual(baseline);
    if (process.env.SHOW_FIGURES) process.stderr.write(`kill -9 ×${KILLS}: baseline ${JSON.stringify(baseline)}, after each ${JSON.stringify(seen)}\n`);
  }, 240_000);
});
