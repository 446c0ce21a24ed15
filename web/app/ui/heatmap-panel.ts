// Heat map panels: runqlat and biolatency (fixed metrics) and the fs latency of a chosen
// filesystem and operation.
import { HeatmapSeries } from '../lib/heatmap-series';
import { FS_OPS, FS_PREFIX, fsLatency } from '../lib/metric-names';
import type { Poller, Snapshot } from '../lib/poller';
import { h, panelFrame, type PanelFrame } from './dom';
import { HeatmapView } from './heatmap-view';
import { missingNote, moduleNote, numericValues, setNote, type Panel, type Wants } from './panel';

export class HeatmapPanel implements Panel {
  readonly frame: PanelFrame;
  protected view: HeatmapView;
  protected series: HeatmapSeries;

  constructor(
    id: string,
    title: string,
    protected metric: string,
    protected module: string,
    protected readonly windowSeconds: number,
  ) {
    this.frame = panelFrame(id, title, `${metric} · events/s per latency bucket`);
    this.series = new HeatmapSeries(windowSeconds);
    this.view = new HeatmapView(windowSeconds);
    this.frame.body.append(this.view.element);
  }

  wants(): Wants {
    return { names: [this.metric], needNames: [this.metric] };
  }

  update(snap: Snapshot, poller: Poller): void {
    const missing = missingNote(snap, [this.metric], this.module);
    if (missing) {
      setNote(this.frame, missing, 'warn');
      this.view.render(this.series, snap.t);
      return;
    }
    const values = snap.values.get(this.metric);
    if (values) this.series.ingest(snap.t, numericValues(values), (i) => poller.nameOf(this.metric, i));
    const notes: string[] = [];
    const mod = moduleNote(this.module);
    if (mod) notes.push(mod);
    if (this.series.ignored.size > 0) notes.push(`instances that are not "lo-hi" buckets were left out: ${[...this.series.ignored].slice(0, 5).join(', ')}`);
    if (this.series.resets > 0) notes.push('counters went back (agent restarted): that interval is skipped');
    if (!this.series.hasEvents() && this.series.columns.length > 0) notes.push('no events in this window');
    setNote(this.frame, notes.join('; '), mod ? 'warn' : 'info');
    this.view.render(this.series, snap.t);
  }
}

const FS_PREFERENCE = ['ext4', 'xfs', 'btrfs', 'zfs'];

/** bcc.fs.<fs>.latency.<op>, with the filesystems the agent exports offered in a list. */
export class FsHeatmapPanel extends HeatmapPanel {
  private fsSelect: HTMLSelectElement;
  private opSelect: HTMLSelectElement;
  private fsList: string[] = [];
  private lastListing = -Infinity;

  constructor(
    windowSeconds: number,
    private fs: string | null,
    private op: string,
  ) {
    // pmdabcc's modules were ext4dist, xfsdist, zfsdist: one per filesystem.
    super('fs-latency', 'Filesystem latency', fsLatency(fs ?? 'ext4', op), `${fs ?? 'ext4'}dist`, windowSeconds);
    this.fsSelect = h('select', { 'aria-label': 'filesystem', onchange: () => this.choose(this.fsSelect.value, this.op) });
    this.opSelect = h('select', { 'aria-label': 'operation', onchange: () => this.choose(this.fs ?? 'ext4', this.opSelect.value) });
    for (const o of FS_OPS) this.opSelect.append(h('option', { value: o, selected: o === op }, o));
    this.frame.tools.append(h('label', {}, 'filesystem ', this.fsSelect), h('label', {}, ' operation ', this.opSelect));
    this.setFsOptions(fs ? [fs] : FS_PREFERENCE);
  }

  private setFsOptions(list: string[]): void {
    const cur = this.fs ?? list[0] ?? 'ext4';
    const all = list.includes(cur) ? list : [cur, ...list];
    if (all.join() === this.fsList.join()) return;
    this.fsList = all;
    while (this.fsSelect.firstChild) this.fsSelect.firstChild.remove();
    for (const f of all) this.fsSelect.append(h('option', { value: f, selected: f === cur }, f));
  }

  private choose(fs: string, op: string): void {
    this.fs = fs;
    this.op = op;
    this.metric = fsLatency(fs, op);
    this.module = `${fs}dist`;
    this.series = new HeatmapSeries(this.windowSeconds);
    (this.frame.root.querySelector('.subtitle') as HTMLElement).textContent = `${this.metric} · events/s per latency bucket`;
  }

  /** Which filesystems the agent exports, asked now and then (cheap: one /pmapi/children). */
  async refreshFsList(poller: Poller, nowMs: number): Promise<void> {
    if (nowMs - this.lastListing < 30_000) return;
    this.lastListing = nowMs;
    const { nonleaf } = await poller.client.children(FS_PREFIX);
    const rank = (fs: string) => (FS_PREFERENCE.includes(fs) ? FS_PREFERENCE.indexOf(fs) : FS_PREFERENCE.length);
    const found = [...nonleaf].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    if (found.length === 0) return;
    if (this.fs === null) this.choose(found[0]!, this.op);
    this.setFsOptions(found);
  }

  override update(snap: Snapshot, poller: Poller): void {
    void this.refreshFsList(poller, Date.now()).catch(() => undefined);
    super.update(snap, poller);
  }
}
