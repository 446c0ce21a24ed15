// Tables built from several metrics over one instance domain (one column per metric leaf, one
// row per instance), the way grafana-pcp's metrics_table and Vector's MultiTable read them.
// Only instances that have a value appear, so unfilled ring or top-N slots vanish.

export type Cell = string | number | null;

export interface InstanceValue {
  instance: number | null;
  value: string | number;
}

export interface SlotRow {
  inst: number;
  cells: Record<string, Cell>;
}

/** `byLeaf` maps a column key (metric leaf) to that metric's fetched instances. */
export function joinByInstance(byLeaf: ReadonlyMap<string, readonly InstanceValue[]>): SlotRow[] {
  const rows = new Map<number, SlotRow>();
  for (const [leaf, values] of byLeaf) {
    for (const v of values) {
      if (v.instance === null) continue;
      let row = rows.get(v.instance);
      if (!row) {
        row = { inst: v.instance, cells: {} };
        rows.set(v.instance, row);
      }
      row.cells[leaf] = v.value;
    }
  }
  for (const row of rows.values()) for (const leaf of byLeaf.keys()) if (!(leaf in row.cells)) row.cells[leaf] = null;
  return [...rows.values()].sort((a, b) => a.inst - b.inst);
}

export type SortDir = 'asc' | 'desc';

export function compareCells(a: Cell, b: Cell): number {
  // Empty cells sort last either way round is less surprising than first.
  if (a === null || a === '') return b === null || b === '' ? 0 : 1;
  if (b === null || b === '') return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const na = Number(a);
  const nb = Number(b);
  if (typeof a === 'string' && typeof b === 'string' && a.trim() !== '' && b.trim() !== '' && Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return String(a).localeCompare(String(b));
}

export function sortRows<T>(rows: readonly T[], cell: (row: T) => Cell, dir: SortDir): T[] {
  const sign = dir === 'asc' ? 1 : -1;
  return rows
    .map((row, i) => ({ row, i }))
    .sort((x, y) => {
      const a = cell(x.row);
      const b = cell(y.row);
      const aEmpty = a === null || a === '';
      const bEmpty = b === null || b === '';
      if (aEmpty || bEmpty) return aEmpty === bEmpty ? x.i - y.i : aEmpty ? 1 : -1;
      return sign * compareCells(a, b) || x.i - y.i;
    })
    .map((x) => x.row);
}
