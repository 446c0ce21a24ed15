// Continuous CPU flame graph from bcc.proc.stacks: per-stack sample rates summed over a chosen
// window, refreshed every few seconds (a flame graph redrawn every second cannot be read).
import { counterRates, type CounterSample } from '../lib/counter-rate';
import { buildFlameTree, parseStackInstance, StackWindow, type ParsedStack } from '../lib/flame-tree';
import { STACKS } from '../lib/metric-names';
import type { Poller, Snapshot } from '../lib/poller';
import { h, panelFrame, type PanelFrame } from './dom';
import { FlameView } from './flame-view';
import { missingNote, numericValues, setNote, type Panel, type Wants } from './panel';

const WINDOWS = [10, 30, 60, 300];

export class StacksPanel implements Panel {
  readonly frame: PanelFrame;
  readonly view: FlameView;
  private window = new StackWindow(Math.max(...WINDOWS) + 5);
  private prev: CounterSample | undefined;
  private parsed = new Map<number, ParsedStack | null>();
  private windowSeconds: number;
  private splitByPid = false;
  private paused = false;
  private lastDraw = -Infinity;
  private lastPrune = 0;
  private dirty = true;

  constructor(
    windowSeconds: number,
    private readonly redrawSeconds = 3,
  ) {
    this.windowSeconds = WINDOWS.includes(windowSeconds) ? windowSeconds : 30;
    this.frame = panelFrame('flame', 'CPU flame graph (continuous)', `${STACKS} · Σ samples/s over the window; click a frame to zoom`);
    this.view = new FlameView('samples/s·Σ', 'no stack samples in this window yet');
    const sel = h('select', { 'aria-label': 'window' });
    for (const w of WINDOWS) sel.append(h('option', { value: w, selected: w === this.windowSeconds }, w < 60 ? `last ${w} s` : `last ${w / 60} min`));
    sel.addEventListener('change', () => {
      this.windowSeconds = Number(sel.value);
      this.dirty = true;
    });
    const split = h('input', { type: 'checkbox', 'aria-label': 'split by PID' });
    split.addEventListener('change', () => {
      this.splitByPid = split.checked;
      this.dirty = true;
    });
    const pause = h('input', { type: 'checkbox', 'aria-label': 'pause' });
    pause.addEventListener('change', () => {
      this.paused = pause.checked;
      this.dirty = true;
    });
    this.frame.tools.append(sel, h('label', {}, split, ' split by PID'), h('label', {}, pause, ' pause'));
    this.frame.body.append(this.view.element);
  }

  wants(): Wants {
    return { names: [STACKS], needNames: [STACKS] };
  }

  update(snap: Snapshot, poller: Poller): void {
    const missing = missingNote(snap, [STACKS], 'profile');
    if (missing) {
      setNote(this.frame, missing, 'warn');
      this.view.setTree(null);
      return;
    }
    const values = numericValues(snap.values.get(STACKS));
    const cur = { t: snap.t, values };
    // A stack that leaves the agent's hot set and comes back keeps its id and its count, so an
    // instance missing from the previous fetch has no rate yet (its value is not "since then").
    const { rates, resets } = counterRates(this.prev, cur);
    this.prev = cur;
    if (resets.length === 0) this.window.push(snap.t, rates);
    if (snap.t - this.lastPrune > 30) {
      // Stack names are long; keep only those still inside the longest window.
      const keep = this.window.liveIds();
      for (const id of values.keys()) keep.add(id);
      poller.forgetNames(STACKS, keep);
      for (const id of this.parsed.keys()) if (!keep.has(id)) this.parsed.delete(id);
      this.lastPrune = snap.t;
    }
    setNote(this.frame, this.paused ? 'paused: the graph keeps the data it had; new samples are still collected' : '');
    if (this.paused || (!this.dirty && snap.t - this.lastDraw < this.redrawSeconds)) return;
    this.dirty = false;
    this.lastDraw = snap.t;
    const sums = this.window.sum(this.windowSeconds);
    const stacks: { stack: ParsedStack; value: number }[] = [];
    for (const [id, value] of sums) {
      let p = this.parsed.get(id);
      if (p === undefined) {
        const name = poller.nameOf(STACKS, id);
        if (name === undefined) continue;
        p = parseStackInstance(name);
        this.parsed.set(id, p);
      }
      if (p) stacks.push({ stack: p, value });
    }
    this.view.setTree(buildFlameTree(stacks, { splitByPid: this.splitByPid }));
  }
}
