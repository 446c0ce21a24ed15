// Symbolisation runs off the fetch path in time slices. The first pass over a busy machine
// reads kallsyms and the ELF tables of every sampled program (a node binary alone is
// ~150 ms), which done in one go could keep the agent from answering pmcd for seconds (pmcd
// gives up on an agent after 5). Drained stacks therefore wait in a queue that is worked off
// in slices of a few tens of milliseconds, the event loop serving PDUs in between.
//
// A profile session covers the queue positions between its start and its stop, so it holds
// exactly the samples the kernel recorded between the two stores, whenever they get named.
import type { HotStacks } from './hot-stacks';
import type { Sample } from './sample';
import type { Drained, RawStack } from './sampler';
import { stackInstanceName } from './stack-name';
import { ProfileTree } from './stack-tree';
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

interface Session {
  tree: ProfileTree;
  from: number;
  /** Queue position of the stop; Infinity while running. */
  to: number;
  done: (tree: ProfileTree) => void;
}

/** Queued stacks beyond this are dropped (and counted as lost): naming cannot keep up. */
const MAX_PENDING = 200_000;

export class Collector {
  private queue: RawStack[] = [];
  private head = 0;
  /** Absolute position of queue[0] (positions never restart). */
  private base = 0;
  private session: Session | null = null;
  readonly totals = newTotals();

  constructor(
    private readonly symbolizer: Symbolizer,
    /** The continuous window, or null when only sessions are wanted. */
    private readonly hot: HotStacks | null,
  ) {}

  /** Stacks waiting to be named. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  private get end(): number {
    return this.base + this.queue.length;
  }

  /** Samples dropped because the queue was full. */
  dropped = 0;

  push(d: Drained): void {
    this.totals.lost += d.lost;
    for (const s of d.stacks) {
      if (this.pending >= MAX_PENDING) {
        this.dropped += s.count;
        this.totals.lost += s.count;
        continue;
      }
      this.queue.push(s);
    }
  }

  /** Start a session with the samples pushed from now on. */
  startSession(done: (tree: ProfileTree) => void): void {
    this.session = { tree: new ProfileTree(), from: this.end, to: Infinity, done };
    this.finishSessionIfDone();
  }

  /** End the session after the samples pushed so far; `done` runs once they are named. */
  stopSession(): void {
    if (!this.session) return;
    this.session.to = this.end;
    this.finishSessionIfDone();
  }

  get sessionOpen(): boolean {
    return this.session !== null;
  }

  cancelSession(): void {
    this.session = null;
  }

  private finishSessionIfDone(): void {
    const s = this.session;
    if (s && this.base + this.head >= s.to) {
      this.session = null;
      s.done(s.tree);
    }
  }

  /**
   * Name queued stacks until the queue is empty or `budgetMs` has passed. Returns true when
   * the queue is empty. The window advances when a drain's stacks are all in.
   */
  run(budgetMs: number, now = Date.now()): boolean {
    const deadline = performance.now() + budgetMs;
    this.symbolizer.beginPass(now);
    let n = 0;
    while (this.head < this.queue.length) {
      // Check the clock every 32 stacks: a stack costs microseconds, an ELF read milliseconds.
      if ((n++ & 31) === 0 && n > 1 && performance.now() > deadline) break;
      const pos = this.base + this.head;
      const r = this.queue[this.head++];
      this.take(r, pos);
      if (this.session && pos + 1 >= this.session.to) this.finishSessionIfDone();
    }
    if (this.head >= this.queue.length) {
      this.base += this.queue.length;
      this.queue = [];
      this.head = 0;
      this.hot?.tick(now);
      this.finishSessionIfDone();
      return true;
    }
    return false;
  }

  private take(r: RawStack, pos: number): void {
    const s: Sample = {
      pid: r.tgid,
      comm: r.comm,
      count: r.count,
      // The stack map lists the leaf first; the tree and the names want the outermost first.
      user: r.user.length ? this.symbolizer.userFrames(r.tgid, r.user).reverse() : [],
      kernel: r.kernel.length ? this.symbolizer.kernelFrames(r.kernel).reverse() : [],
      userMissed: r.userMissed,
      kernelMissed: r.kernelMissed,
    };
    const t = this.totals;
    t.samples += s.count;
    if (s.userMissed) t.missedUser += s.count;
    if (s.kernelMissed) t.missedKernel += s.count;
    this.hot?.add(stackInstanceName(s), s.count);
    const sess = this.session;
    if (sess && pos >= sess.from && pos < sess.to) sess.tree.add(s);
  }

  /** Forget queued stacks (the sampler stopped for good). */
  clear(): void {
    this.base += this.queue.length;
    this.queue = [];
    this.head = 0;
  }
}
