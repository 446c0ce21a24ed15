// The kernel half of profile on its own: every timer sample counted once across the two map
// generations, and new processes announced while they still run.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onlineCpus } from '../../src/bpf';
import { Sampler } from '../../src/modules/profile/sampler';
import { BPF_DIR, compileFixture, runGated, sleep, tempDir, testLog } from './helpers';

const log = testLog('profile-sampler');

beforeAll(() => {
  execFileSync('make', ['-s', '-C', path.resolve(__dirname, '../../bpf'), '.output/profile.bpf.o']);
});
afterAll(() => fs.rmSync(tempDir(), { recursive: true, force: true }));

function sampler(extra: Partial<ConstructorParameters<typeof Sampler>[0]> = {}): Sampler {
  return new Sampler({
    bpfFile: path.join(BPF_DIR, 'profile.bpf.o'),
    cpus: onlineCpus(),
    frequency: 199,
    userStacksOnly: false,
    kernelStacksOnly: false,
    includeIdle: true,
    stackStorageSize: 16384,
    log,
    ...extra,
  });
}

describe('Sampler', () => {
  it('counts each cpu-clock sample once: rate × CPUs × seconds, across many generation flips', async () => {
    // A fixed period (5 ms of each CPU's clock), not a frequency the kernel has to converge on.
    const s = sampler({ frequency: undefined, period: 5_000_000 });
    s.start();
    try {
      await sleep(200);
      s.drain();
      const t0 = performance.now();
      let total = 0;
      for (let i = 0; i < 12; i++) {
        await sleep(250);
        for (const r of s.drain().stacks) total += r.count;
      }
      const expected = ((performance.now() - t0) / 1000) * 200 * onlineCpus().length;
      // Never more than the timers fired: nothing is counted twice across the two generations.
      // Fewer is normal here: an idle vCPU of this VM halts and its cpu-clock timer fires late
      // (measured 0.66-1.0 of the nominal rate depending on how idle the machine is).
      expect(total / expected).toBeLessThan(1.05);
      expect(total / expected).toBeGreaterThan(0.5);
    } finally {
      s.stop();
    }
  });

  it('announces a newly sampled (or newly exec\'d) process within milliseconds, while its /proc/PID/maps can still be read', async () => {
    const seen = new Map<number, boolean>();
    const s = sampler({
      frequency: 999,
      onNewProcess: (tgid) => {
        // The gated program is "sh" until it execs: an exec is announced again.
        if (seen.get(tgid)) return;
        let readable = false;
        try {
          readable = fs.readFileSync(`/proc/${tgid}/maps`, 'utf8').includes('nested-burn');
        } catch {
          readable = false;
        }
        seen.set(tgid, readable);
      },
    });
    s.start();
    try {
      // 300 ms of CPU, then exit: gone long before a once-a-second drain would look at it.
      const p = await runGated(compileFixture('nested-burn'), ['0.3']);
      p.go();
      await p.done;
      // The announcement was made (or not) while it ran; its callback may still be queued.
      for (const end = Date.now() + 5000; !seen.has(p.pid) && Date.now() < end; ) await sleep(10);
      expect(seen.get(p.pid)).toBe(true);
    } finally {
      s.stop();
    }
  });
});
