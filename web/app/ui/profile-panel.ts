// pmdabcc's on-demand profiler: pmstore bcc.proc.profile start|stop, then the JSON tree it
// leaves in the metric. The agent (or pmcd) may refuse the store; say so plainly.
import { PROFILE } from '../lib/metric-names';
import { StoreRefused, type PmapiClient } from '../lib/pmapi-client';
import type { Snapshot } from '../lib/poller';
import { parseProfileValue, type ProfileValue } from '../lib/profile-json';
import { h, panelFrame, setText, type PanelFrame } from './dom';
import { FlameView } from './flame-view';
import { missingNote, setNote, type Panel, type Wants } from './panel';

export class ProfilePanel implements Panel {
  readonly frame: PanelFrame;
  readonly view: FlameView;
  private startBtn: HTMLButtonElement;
  private stopBtn: HTMLButtonElement;
  private statusEl: HTMLSpanElement;
  private messageEl: HTMLDivElement;
  private lastText: string | null = null;
  private current: ProfileValue | null = null;
  private lastAsked = -Infinity;
  private busyUntil = 0;

  constructor(private readonly client: PmapiClient) {
    this.frame = panelFrame('profile', 'On-demand profile', `${PROFILE} · pmstore start/stop`, false);
    // Disabled until the first fetch says what the profiler is doing.
    this.startBtn = h('button', { type: 'button', class: 'profile-start', disabled: true, onclick: () => void this.control('start') }, 'Start profiling');
    this.stopBtn = h('button', { type: 'button', class: 'profile-stop', disabled: true, onclick: () => void this.control('stop') }, 'Stop and show');
    this.statusEl = h('span', { class: 'profile-status' }, 'status unknown');
    this.messageEl = h('div', { class: 'profile-message', role: 'alert', hidden: true });
    this.frame.tools.append(this.startBtn, this.stopBtn, this.statusEl);
    this.view = new FlameView('samples', 'no profile yet: start, wait, then stop');
    this.frame.body.append(this.messageEl, this.view.element);
  }

  wants(): Wants {
    // The value can hold a large tree: ask every second only while a run is in flight.
    const s = this.current?.status;
    const active = s === 'starting' || s === 'started' || s === 'stopping' || Date.now() < this.busyUntil;
    if (active || Date.now() - this.lastAsked >= 10_000) return { names: [PROFILE], needNames: [] };
    return { names: [], needNames: [] };
  }

  private showMessage(text: string): void {
    this.messageEl.hidden = text === '';
    setText(this.messageEl, text);
  }

  private async control(action: 'start' | 'stop'): Promise<void> {
    this.showMessage('');
    this.busyUntil = Date.now() + 15_000;
    this.startBtn.disabled = true;
    this.stopBtn.disabled = true;
    try {
      await this.client.store(PROFILE, action);
      setText(this.statusEl, action === 'start' ? 'starting…' : 'stopping…');
    } catch (e) {
      if (e instanceof StoreRefused) {
        this.showMessage(
          e.permission
            ? `The agent did not allow "${action}": ${e.reason}. Profile start/stop is off unless allow_store = true is set in the [profile] section of the agent's ebpf.conf (and pmcd accepts stores only from local clients). The continuous flame graph above needs no store.`
            : `"${action}" failed: ${e.reason}`,
        );
      } else {
        this.showMessage(`"${action}" failed: ${(e as Error).message}`);
      }
      this.busyUntil = 0;
    } finally {
      this.syncButtons();
    }
  }

  private syncButtons(): void {
    const s = this.current?.status;
    const available = this.current !== null;
    this.startBtn.disabled = !available || !(s === 'stopped' || s === undefined);
    this.stopBtn.disabled = !available || !(s === 'started' || s === 'starting');
  }

  update(snap: Snapshot): void {
    const missing = missingNote(snap, [PROFILE], 'profile');
    if (missing) {
      setNote(this.frame, missing, 'warn');
      this.current = null;
      this.syncButtons();
      return;
    }
    const v = snap.values.get(PROFILE);
    if (!v) return this.syncButtons();
    this.lastAsked = Date.now();
    const text = v[0]?.value;
    if (typeof text !== 'string') return this.syncButtons();
    if (text !== this.lastText) {
      this.lastText = text;
      try {
        this.current = parseProfileValue(text);
        setNote(this.frame, '');
        if (this.current.data) this.view.setTree(this.current.data);
      } catch (e) {
        setNote(this.frame, (e as Error).message, 'warn');
      }
      setText(this.statusEl, `status: ${this.current?.status ?? 'unreadable'}`);
      if (this.current && this.current.status === 'stopped') this.busyUntil = 0;
    }
    this.syncButtons();
  }
}
