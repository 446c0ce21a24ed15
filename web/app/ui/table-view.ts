// A sortable table. Rows are re-rendered only when their content or the sort changes; each cell
// carries its raw value in data-value (the text is the human-readable form).
import { sortRows, type Cell, type SortDir } from '../lib/slot-table';
import { clear, h } from './dom';

export interface Column<R> {
  key: string;
  label: string;
  value: (row: R) => Cell;
  format?: (v: Cell, row: R) => string;
  numeric?: boolean;
  title?: string;
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
    const sig = JSON.stringify([rows.map(this.opts.rowKey), texts, this.sort]);
    if (sig === this.signature) return;
    this.signature = sig;
    clear(this.tbody);
    if (rows.length === 0) {
      this.tbody.append(h('tr', { class: 'empty' }, h('td', { colspan: this.columns.length }, this.emptyText)));
      return;
    }
    const firstRender = this.seenKeys.size === 0;
    rows.forEach((r, i) => {
      const key = this.opts.rowKey(r);
      const isNew = !firstRender && !this.seenKeys.has(key);
      const tr = h('tr', { 'data-key': key, class: isNew ? 'fresh' : undefined });
      this.columns.forEach((c, j) => {
        const v = c.value(r);
        tr.append(h('td', { class: c.numeric ? 'num' : undefined, 'data-col': c.key, 'data-value': v === null ? undefined : String(v) }, texts[i]![j]!));
      });
      this.tbody.append(tr);
    });
    for (const r of rows) this.seenKeys.add(this.opts.rowKey(r));
    if (this.seenKeys.size > 5000) this.seenKeys = new Set(rows.map(this.opts.rowKey));
  }

  private text(c: Column<R>, r: R): string {
    const v = c.value(r);
    if (c.format) return c.format(v, r);
    return v === null ? '' : String(v);
  }
}
