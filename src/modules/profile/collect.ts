// One drain's work after the kernel maps are read: name every stack's frames and hand the
// samples to the continuous window and, while a profile runs, to its tree.
import type { HotStacks } from './hot-stacks';
import type { Sample } from './sample';
import type { Drained } from './sampler';
import { stackInstanceName } from './stack-name';
import type { ProfileTree } from './stack-tree';
import type { Symbolizer } from './symbolizer';

export interface SampleTotals {
  samples: number;
  missedUser: number;
  missedKernel: number;
  lost: number;
}

export function newTotals(): SampleTotals {
  return { samples: 0, missedUser: 0, missedKernel: 0, lost: 0 };
}

export function collect(
  drained: Drained,
  symbolizer: Symbolizer,
  hot: HotStacks,
  session: ProfileTree | null,
  totals: SampleTotals,
  now: number,
): void {
  totals.lost += drained.lost;
  symbolizer.beginPass(now);
  for (const r of drained.stacks) {
    const s: Sample = {
      pid: r.tgid,
      comm: r.comm,
      count: r.count,
      // The stack map lists the leaf first; the tree and the names want the outermost first.
      user: r.user.length ? symbolizer.userFrames(r.tgid, r.user).reverse() : [],
      kernel: r.kernel.length ? symbolizer.kernelFrames(r.kernel).reverse() : [],
      userMissed: r.userMissed,
      kernelMissed: r.kernelMissed,
    };
    totals.samples += s.count;
    if (s.userMissed) totals.missedUser += s.count;
    if (s.kernelMissed) totals.missedKernel += s.count;
    hot.add(stackInstanceName(s), s.count);
    session?.add(s);
  }
  hot.tick(now);
}
