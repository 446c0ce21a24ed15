// A flame graph (d3-flame-graph) that survives live refreshes: the zoomed frame is found again
// by its path of names in the new tree, and the search is applied again.
import flamegraph, { type FlameGraph, type FlameHierarchyNode } from 'd3-flame-graph';
import { select } from 'd3-selection';
import type { FlameNode } from '../lib/flame-tree';
import { findPath } from '../lib/flame-tree';
import { clear, h } from './dom';

function pathOf(d: FlameHierarchyNode): string[] {
  const names: string[] = [];
  for (let n: FlameHierarchyNode | null = d; n && n.parent; n = n.parent) names.unshift(n.data.name);
  return names;
}

function fmt(v: number): string {
  return v >= 100 || Number.isInteger(v) ? Math.round(v).toLocaleString('en-US') : v.toFixed(1);
}

export class FlameView {
  readonly element: HTMLDivElement;
  readonly controls: HTMLDivElement;
  private graphEl: HTMLDivElement;
  private details: HTMLDivElement;
  private searchInput: HTMLInputElement;
  private chart: FlameGraph | null = null;
  private tree: FlameNode | null = null;
  private zoomPath: string[] = [];
  private term = '';
  private width = 0;

  constructor(
    private readonly unit: string,
    private readonly emptyText: string,
  ) {
    this.searchInput = h('input', { type: 'search', placeholder: 'search frames', 'aria-label': 'search frames', class: 'flame-search' });
    this.searchInput.addEventListener('input', () => {
      this.term = this.searchInput.value.trim();
      this.applySearch();
    });
    const reset = h('button', { type: 'button', class: 'flame-reset', onclick: () => this.resetZoom() }, 'Reset zoom');
    this.controls = h('div', { class: 'flame-controls' }, this.searchInput, reset);
    this.details = h('div', { class: 'flame-details', role: 'status' });
    this.graphEl = h('div', { class: 'flame-graph' });
    this.element = h('div', { class: 'flame', 'data-frames': 0 }, this.controls, this.graphEl, this.details);
    new ResizeObserver(() => {
      const w = Math.floor(this.graphEl.clientWidth);
      if (w > 0 && Math.abs(w - this.width) > 8) {
        this.width = w;
        this.rebuild();
      }
    }).observe(this.graphEl);
  }

  setTree(tree: FlameNode | null): void {
    this.tree = tree;
    if (!tree || tree.value <= 0) {
      this.chart?.destroy();
      this.chart = null;
      clear(this.graphEl);
      this.graphEl.append(h('div', { class: 'empty' }, this.emptyText));
      this.element.dataset.frames = '0';
      return;
    }
    if (!this.chart) {
      this.rebuild();
      return;
    }
    this.chart.update(tree);
    this.restoreView();
  }

  private rebuild(): void {
    this.chart?.destroy();
    this.chart = null;
    clear(this.graphEl);
    const tree = this.tree;
    if (!tree || tree.value <= 0) {
      this.setTree(tree);
      return;
    }
    const width = Math.max(320, this.width || this.graphEl.clientWidth || 800);
    const unit = this.unit;
    this.chart = flamegraph()
      .width(width)
      .cellHeight(18)
      .minFrameSize(1)
      // Live data: transitions would be running all the time.
      .transitionDuration(0)
      .sort(true)
      .setDetailsElement(this.details)
      .setLabelHandler((d) => `${d.data.name} — ${fmt(d.value)} ${unit} (${((100 * d.value) / (tree.value || 1)).toFixed(1)}%)`)
      .setSearchMatch((d, term) => term.length > 0 && d.data.name.toLowerCase().includes(term.toLowerCase()))
      .setSearchHandler((results, sum, total) => {
        this.details.textContent = this.term ? `search "${this.term}": ${results.length} frames, ${fmt(sum)} of ${fmt(total)} ${unit} (${total > 0 ? ((100 * sum) / total).toFixed(1) : '0'}%)` : '';
      })
      .onClick((d) => {
        this.zoomPath = pathOf(d);
      });
    select(this.graphEl).datum(tree).call(this.chart as never);
    this.restoreView();
  }

  private restoreView(): void {
    const chart = this.chart;
    const tree = this.tree;
    if (!chart || !tree) return;
    this.element.dataset.frames = String(this.graphEl.querySelectorAll('g.frame').length);
    if (this.zoomPath.length > 0) {
      if (!findPath(tree, this.zoomPath)) {
        this.zoomPath = [];
      } else {
        const root = select(this.graphEl).datum() as FlameHierarchyNode;
        let node: FlameHierarchyNode | undefined = root;
        for (const name of this.zoomPath) node = node?.children?.find((c) => c.data.name === name);
        if (node) chart.zoomTo(node);
      }
    }
    this.applySearch();
  }

  private applySearch(): void {
    if (!this.chart) return;
    if (this.term) this.chart.search(this.term);
    else this.chart.clear();
  }

  resetZoom(): void {
    this.zoomPath = [];
    this.chart?.resetZoom();
  }

  /** Names of frames drawn (for tests and the read-out). */
  frameNames(): string[] {
    return [...this.graphEl.querySelectorAll('g.frame')].map((g) => g.getAttribute('name') ?? '');
  }
}
