// A sortable table. Rows are re-rendered only when their content or the sort changes; each cell
// carries its raw value in data-value (the text is the human-readable form).
import { sortRows, type Cell, type SortDir } from '../lib/slot-table';
import { clear, h, setText } from './dom';

export interface Column<R> {
  key: string;
  label: string;
  value: (row: R) => Cell;
  format?: (v: Cell, row: R) => string;
  numeric?: boolean;
  title?: string;
}

interface LiveRow {
  tr: HTMLTableRowElement;
  cells: HTMLTableCellElement[];
}

export interface TableOptions<R> {
  rowKey: (row: R) => string;
  sort: { key: string; dir: SortDir };
  empty: string;
  /** Rows shown at most (after sorting). */
  limit?: number;
}

export class TableView<R> {
  readonly element: HTMLDivElement;
  private tbody: HTMLTableSectionElement;
  private headers = new Map<string, HTMLTableCellElement>();
  private rows: readonly R[] = [];
  private sort: { key: string; dir: SortDir };
  private signature = '';
  private seenKeys = new Set<string>();
  private live = new Map<string, LiveRow>();
  private emptyText: string;

  constructor(
    private readonly columns: readonly Column<R>[],
    private readonly opts: TableOptions<R>,
  ) {
    this.sort = { ...opts.sort };
    this.emptyText = opts.empty;
    const headRow = h('tr');
    for (const c of columns) {
      const th = h('th', { scope: 'col', class: c.numeric ? 'num' : undefined, title: c.title }, h('button', { type: 'button', onclick: () => this.toggleSort(c.key) }, c.label));
      this.headers.set(c.key, th);
      headRow.append(th);
    }
    this.tbody = h('tbody');
    this.element = h('div', { class: 'table-wrap' }, h('table', { class: 'data' }, h('thead', {}, headRow), this.tbody));
    this.markSort();
  }

  setEmptyText(text: string): void {
    if (text !== this.emptyText) {
      this.emptyText = text;
      this.signature = '';
      this.render();
    }
  }

  private toggleSort(key: string): void {
    const col = this.columns.find((c) => c.key === key)!;
    this.sort = this.sort.key === key ? { key, dir: this.sort.dir === 'asc' ? 'desc' : 'asc' } : { key, dir: col.numeric ? 'desc' : 'asc' };
    this.markSort();
    this.signature = '';
    this.render();
  }

  private markSort(): void {
    for (const [k, th] of this.headers) th.setAttribute('aria-sort', k === this.sort.key ? (this.sort.dir === 'asc' ? 'ascending' : 'descending') : 'none');
  }

  setRows(rows: readonly R[]): void {
    this.rows = rows;
    this.render();
  }

  private render(): void {
    const col = this.columns.find((c) => c.key === this.sort.key) ?? this.columns[0]!;
    let rows = sortRows(this.rows, col.value, this.sort.dir);
    if (this.opts.limit !== undefined) rows = rows.slice(0, this.opts.limit);
    const texts = rows.map((r) => this.columns.map((c) => this.text(c, r)));
    const keys = rows.map(this.opts.rowKey);
    const sig = JSON.stringify([keys, texts, this.sort]);
    if (sig === this.signature) return;
    this.signature = sig;
    if (rows.length === 0) {
      this.live.clear();
      clear(this.tbody);
      this.tbody.append(h('tr', { class: 'empty' }, h('td', { colspan: this.columns.length }, this.emptyText)));
      return;
    }
    this.tbody.querySelector('tr.empty')?.remove();
    // Keyed update: an event row stays the same element for as long as it is shown, so a refresh
    // that adds two execs touches two rows, not two hundred.
    const firstRender = this.seenKeys.size === 0;
    const next = new Map<string, LiveRow>();
    rows.forEach((r, i) => {
      const key = keys[i]!;
      let live = this.live.get(key);
      if (!live || next.has(key)) {
        live = { tr: h('tr', { 'data-key': key }), cells: [] };
        for (const c of this.columns) {
          const td = h('td', { class: c.numeric ? 'num' : undefined, 'data-col': c.key });
          live.tr.append(td);
          live.cells.push(td);
        }
      }
      this.columns.forEach((c, j) => {
        const td = live!.cells[j]!;
        const v = c.value(r);
        const raw = v === null ? null : String(v);
        if (td.getAttribute('data-value') !== raw) {
          if (raw === null) td.removeAttribute('data-value');
          else td.setAttribute('data-value', raw);
        }
        setText(td, texts[i]![j]!);
      });
      live.tr.classList.toggle('fresh', !firstRender && !this.seenKeys.has(key));
      next.set(key, live);
    });
    for (const [key, live] of this.live) if (next.get(key) !== live) live.tr.remove();
    let at = this.tbody.firstElementChild;
    for (const live of next.values()) {
      if (live.tr !== at) this.tbody.insertBefore(live.tr, at);
      else at = at.nextElementSibling;
    }
    this.live = next;
    for (const k of keys) this.seenKeys.add(k);
    if (this.seenKeys.size > 5000) this.seenKeys = new Set(keys);
  }

  private text(c: Column<R>, r: R): string {
    const v = c.value(r);
    if (c.format) return c.format(v, r);
    return v === null ? '' : String(v);
  }
}
