// Table panels: event rings (execsnoop, tcplife: rows accumulate, de-duplicated by seq), top-N
// snapshots (tcptop, biotop: the last interval), and tcpretrans (one counter per flow).
import { counterRates } from '../lib/counter-rate';
import { EventLog, type EventRow, type EventSlot, type Fields } from '../lib/event-log';
import { formatBytes, formatClock, formatCount, formatMicros, formatRate } from '../lib/format';
import { tableNames, TCP_RETRANS, type TableMetrics } from '../lib/metric-names';
import type { Poller, Snapshot } from '../lib/poller';
import { joinByInstance, type Cell, type SlotRow } from '../lib/slot-table';
import { panelFrame, type PanelFrame } from './dom';
import { availabilityNote, missingNote, numericValues, setNote, type Panel, type Wants } from './panel';
import { TableView, type Column } from './table-view';

export interface FieldSpec {
  key: string;
  label: string;
  kind?: 'bytes' | 'micros' | 'number' | 'text';
  title?: string;
}

function formatter(kind: FieldSpec['kind']): ((v: Cell) => string) | undefined {
  const num = (f: (n: number) => string) => (v: Cell) => (typeof v === 'number' ? f(v) : v === null ? '' : String(v));
  if (kind === 'bytes') return num(formatBytes);
  if (kind === 'micros') return num(formatMicros);
  return undefined;
}

function fieldColumns<R>(fields: readonly FieldSpec[], get: (r: R, key: string) => Cell): Column<R>[] {
  return fields.map((f) => ({
    key: f.key,
    label: f.label,
    title: f.title,
    numeric: f.kind === 'bytes' || f.kind === 'micros' || f.kind === 'number',
    value: (r: R) => get(r, f.key),
    format: formatter(f.kind),
  }));
}

function slotsOf(snap: Snapshot, m: TableMetrics): SlotRow[] {
  const byLeaf = new Map(m.leaves.map((l) => [l, snap.values.get(m.prefix + l) ?? []] as const));
  return joinByInstance(byLeaf);
}

/** execsnoop / tcplife: every event once, newest first, kept across refreshes. */
export class EventTablePanel implements Panel {
  readonly frame: PanelFrame;
  private log: EventLog;
  private table: TableView<EventRow>;

  constructor(
    id: string,
    title: string,
    private readonly metrics: TableMetrics,
    private readonly module: string,
    fields: readonly FieldSpec[],
    private readonly ringOption: string,
    capacity = 200,
  ) {
    this.frame = panelFrame(id, title, `${metrics.prefix}* · newest first`);
    this.log = new EventLog(capacity);
    const cols: Column<EventRow>[] = [
      { key: '_seen', label: 'seen', value: (r) => r.seenAt, format: (v) => (typeof v === 'number' ? formatClock(v) : ''), numeric: true, title: 'when this page first saw the event' },
      { key: '_seq', label: 'seq', value: (r) => r.seq, numeric: true, title: `${metrics.seq ?? 'sequence number'}: tells new events from ones already shown` },
      ...fieldColumns<EventRow>(fields, (r, k) => r.fields[k] ?? null),
    ];
    this.table = new TableView(cols, { rowKey: (r) => r.key, sort: { key: '_seq', dir: 'desc' }, empty: 'no events yet', limit: capacity });
    this.frame.body.append(this.table.element);
  }

  wants(): Wants {
    return { names: tableNames(this.metrics), needNames: [] };
  }

  update(snap: Snapshot): void {
    const names = this.metrics.leaves.map((l) => this.metrics.prefix + l);
    const missing = missingNote(snap, names, this.module);
    if (missing) {
      setNote(this.frame, missing, 'warn');
      this.table.setRows(this.log.rows());
      return;
    }
    const seqs = numericValues(this.metrics.seq ? snap.values.get(this.metrics.seq) : undefined);
    const slots: EventSlot[] = slotsOf(snap, this.metrics).map((r) => ({ seq: seqs.get(r.inst), fields: r.cells as Fields }));
    this.log.ingest(slots, snap.t);
    const notes: string[] = [];
    if (this.metrics.seq && snap.missing.has(this.metrics.seq)) notes.push(`${this.metrics.seq} is not exported: rows are told apart by their content, so two identical events show once`);
    if (this.log.missedTotal > 0) {
      notes.push(
        `${this.log.missedTotal} events went through the agent's ring between two refreshes and are not shown (a shorter refresh or a larger ring, ${this.ringOption} in the agent's [${this.module}] section, keeps more)`,
      );
    }
    if (this.log.restarts > 0) notes.push('the agent restarted; rows before it are kept');
    const mod = availabilityNote(snap, names, this.module);
    if (mod) notes.unshift(mod);
    setNote(this.frame, notes.join('; '), this.log.missedTotal > 0 || mod ? 'warn' : 'info');
    this.table.setRows(this.log.rows());
  }
}

/** tcptop / biotop: the agent's top-N slots of the last interval, as they are now. */
export class TopTablePanel implements Panel {
  readonly frame: PanelFrame;
  private table: TableView<SlotRow>;

  constructor(
    id: string,
    title: string,
    private readonly metrics: TableMetrics,
    private readonly module: string,
    fields: readonly FieldSpec[],
    sortKey: string,
  ) {
    this.frame = panelFrame(id, title, `${metrics.prefix}* · last interval`);
    this.table = new TableView(fieldColumns<SlotRow>(fields, (r, k) => r.cells[k] ?? null), {
      rowKey: (r) => String(r.inst),
      sort: { key: sortKey, dir: 'desc' },
      empty: 'nothing in the last interval',
    });
    this.frame.body.append(this.table.element);
  }

  wants(): Wants {
    return { names: tableNames(this.metrics), needNames: [] };
  }

  update(snap: Snapshot): void {
    const missing = missingNote(snap, tableNames(this.metrics), this.module);
    setNote(this.frame, availabilityNote(snap, tableNames(this.metrics), this.module), 'warn');
    this.table.setRows(missing ? [] : slotsOf(snap, this.metrics));
  }
}

interface FlowRow {
  inst: number;
  flow: string;
  local: string;
  remote: string;
  total: number;
  rate: number | null;
}

/** pmdabcc names flows "<saddr>:<lport>::<daddr>:<dport>". */
export function splitFlow(name: string): { local: string; remote: string } {
  const i = name.indexOf('::');
  if (i < 0) return { local: name, remote: '' };
  return { local: name.slice(0, i), remote: name.slice(i + 2) };
}

export class RetransPanel implements Panel {
  readonly frame: PanelFrame;
  private table: TableView<FlowRow>;
  private prev: { t: number; values: Map<number, number> } | undefined;

  constructor() {
    this.frame = panelFrame('tcpretrans', 'TCP retransmits (tcpretrans)', `${TCP_RETRANS} · per flow`);
    this.table = new TableView<FlowRow>(
      [
        { key: 'local', label: 'local', value: (r) => r.local },
        { key: 'remote', label: 'remote', value: (r) => r.remote },
        { key: 'total', label: 'retransmits', value: (r) => r.total, numeric: true, format: (v) => (typeof v === 'number' ? formatCount(v) : '') },
        { key: 'rate', label: 'per second', value: (r) => r.rate, numeric: true, format: (v) => (typeof v === 'number' ? formatRate(v) : '') },
      ],
      { rowKey: (r) => String(r.inst), sort: { key: 'total', dir: 'desc' }, empty: 'no retransmits seen' },
    );
    this.frame.body.append(this.table.element);
  }

  wants(): Wants {
    return { names: [TCP_RETRANS], needNames: [TCP_RETRANS] };
  }

  update(snap: Snapshot, poller: Poller): void {
    const missing = missingNote(snap, [TCP_RETRANS], 'tcpretrans');
    setNote(this.frame, availabilityNote(snap, [TCP_RETRANS], 'tcpretrans'), 'warn');
    if (missing) return this.table.setRows([]);
    const values = numericValues(snap.values.get(TCP_RETRANS));
    const { rates } = counterRates(this.prev, { t: snap.t, values });
    this.prev = { t: snap.t, values };
    const rows: FlowRow[] = [];
    for (const [inst, total] of values) {
      const flow = poller.nameOf(TCP_RETRANS, inst) ?? `instance ${inst}`;
      rows.push({ inst, flow, ...splitFlow(flow), total, rate: rates.get(inst) ?? null });
    }
    this.table.setRows(rows);
  }
}
