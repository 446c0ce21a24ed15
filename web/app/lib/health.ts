// The agent's own health (bcc.pmda.*): which modules run, which failed and why, and whether
// events are being lost, turned into the warnings the page shows at the top.

export interface ModuleHealth {
  name: string;
  state: string;
  error: string;
  variant: string;
  lost: number | null;
  /** Events lost per second over the last interval. */
  lostRate: number | null;
}

export interface Warning {
  kind: 'failed' | 'lost';
  module: string;
  text: string;
}

export class LossTracker {
  private last = new Map<string, { t: number; lost: number }>();
  /** Time (s) each module last lost events, to keep the warning up for a while. */
  private lastLossAt = new Map<string, { t: number; n: number }>();

  constructor(private holdSeconds = 30) {}

  /** Returns events/s lost since the previous call, or null for the first sample. */
  update(module: string, t: number, lost: number): number | null {
    const prev = this.last.get(module);
    this.last.set(module, { t, lost });
    if (!prev || t <= prev.t) return null;
    const d = lost - prev.lost;
    if (d < 0) return null; // agent restarted
    if (d > 0) {
      const held = this.lastLossAt.get(module);
      const recent = held && t - held.t <= this.holdSeconds ? held.n : 0;
      this.lastLossAt.set(module, { t, n: recent + d });
    }
    return d / (t - prev.t);
  }

  /** Events lost within the hold window, or 0. */
  recentLoss(module: string, now: number): number {
    const held = this.lastLossAt.get(module);
    return held && now - held.t <= this.holdSeconds ? held.n : 0;
  }
}

export function warningsFor(modules: readonly ModuleHealth[], loss: LossTracker, now: number): Warning[] {
  const out: Warning[] = [];
  for (const m of modules) {
    if (m.state === 'failed') {
      out.push({ kind: 'failed', module: m.name, text: `module ${m.name} failed${m.error ? `: ${m.error}` : ''}` });
    }
    const n = loss.recentLoss(m.name, now);
    if (n > 0) out.push({ kind: 'lost', module: m.name, text: `module ${m.name} lost ${n} event${n === 1 ? '' : 's'} in the last 30 s` });
  }
  return out;
}
