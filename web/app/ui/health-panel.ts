// Agent health from bcc.pmda.*: module states, variants, errors and lost events. Polled even when
// the panel is closed, because the warnings at the top of the page come from it.
import { formatClock, formatCount, formatRate } from '../lib/format';
import { LossTracker, warningsFor, type ModuleHealth, type Warning } from '../lib/health';
import { PMDA_ERROR, PMDA_LOST, PMDA_METRICS, PMDA_STATE, PMDA_VARIANT, PMDA_VERSION } from '../lib/metric-names';
import type { Poller, Snapshot } from '../lib/poller';
import { panelFrame, type PanelFrame } from './dom';
import { moduleStates, numericValues, setNote, type Panel, type Wants } from './panel';
import { TableView } from './table-view';

export class HealthPanel implements Panel {
  readonly frame: PanelFrame;
  readonly alwaysPoll = true;
  private table: TableView<ModuleHealth>;
  private loss = new LossTracker(30);
  version: string | null = null;
  warnings: Warning[] = [];

  constructor() {
    this.frame = panelFrame('health', 'Agent health', 'bcc.pmda.* · module states, attach variants, lost events');
    this.table = new TableView<ModuleHealth>(
      [
        { key: 'name', label: 'module', value: (r) => r.name },
        { key: 'state', label: 'state', value: (r) => r.state },
        { key: 'variant', label: 'variant', value: (r) => r.variant },
        { key: 'lost', label: 'lost events', value: (r) => r.lost, numeric: true, format: (v) => (typeof v === 'number' ? formatCount(v) : '') },
        { key: 'lostRate', label: 'lost/s', value: (r) => r.lostRate, numeric: true, format: (v) => (typeof v === 'number' ? formatRate(v) : '') },
        { key: 'error', label: 'error', value: (r) => r.error },
      ],
      { rowKey: (r) => r.name, sort: { key: 'name', dir: 'asc' }, empty: 'no module information (bcc.pmda.* not available)' },
    );
    this.frame.body.append(this.table.element);
  }

  wants(): Wants {
    return { names: [...PMDA_METRICS], needNames: [PMDA_STATE, PMDA_ERROR, PMDA_VARIANT, PMDA_LOST] };
  }

  update(snap: Snapshot, poller: Poller): void {
    if (snap.missing.has(PMDA_STATE)) {
      setNote(this.frame, `${PMDA_STATE} is not exported: the eBPF agent is not installed in pmcd, or is an older bcc agent without health metrics.`, 'warn');
      this.version = null;
      this.warnings = [];
      moduleStates.clear();
      this.table.setRows([]);
      return;
    }
    const v = snap.values.get(PMDA_VERSION)?.[0]?.value;
    this.version = typeof v === 'string' ? v : null;
    const byInst = new Map<number, ModuleHealth>();
    const row = (inst: number): ModuleHealth => {
      let r = byInst.get(inst);
      if (!r) {
        r = { name: poller.nameOf(PMDA_STATE, inst) ?? `module ${inst}`, state: '', error: '', variant: '', lost: null, lostRate: null };
        byInst.set(inst, r);
      }
      return r;
    };
    for (const i of snap.values.get(PMDA_STATE) ?? []) if (i.instance !== null) row(i.instance).state = String(i.value);
    for (const i of snap.values.get(PMDA_ERROR) ?? []) if (i.instance !== null) row(i.instance).error = String(i.value);
    for (const i of snap.values.get(PMDA_VARIANT) ?? []) if (i.instance !== null) row(i.instance).variant = String(i.value);
    for (const [inst, lost] of numericValues(snap.values.get(PMDA_LOST))) {
      const r = row(inst);
      r.lost = lost;
      r.lostRate = this.loss.update(r.name, snap.t, lost);
    }
    const rows = [...byInst.values()];
    moduleStates.clear();
    for (const r of rows) moduleStates.set(r.name, { state: r.state, error: r.error });
    this.warnings = warningsFor(rows, this.loss, snap.t);
    const running = rows.filter((r) => r.state === 'running').length;
    setNote(this.frame, `${running} of ${rows.length} modules running · as of ${formatClock(snap.t)}`);
    this.table.setRows(rows);
  }
}
