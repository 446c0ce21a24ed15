// The part of d3-flame-graph 5 the dashboard uses (the package ships no types).
declare module 'd3-flame-graph' {
  export interface FlameHierarchyNode {
    data: { name: string; value: number; libtype?: string; children?: unknown[] };
    value: number;
    depth: number;
    parent: FlameHierarchyNode | null;
    children?: FlameHierarchyNode[];
    x0: number;
    x1: number;
  }
  export interface FlameGraph {
    (selection: unknown): void;
    width(w: number): FlameGraph;
    cellHeight(h: number): FlameGraph;
    minFrameSize(px: number): FlameGraph;
    transitionDuration(ms: number): FlameGraph;
    sort(s: boolean | ((a: FlameHierarchyNode, b: FlameHierarchyNode) => number)): FlameGraph;
    title(t: string): FlameGraph;
    selfValue(b: boolean): FlameGraph;
    inverted(b: boolean): FlameGraph;
    update(data?: unknown): FlameGraph;
    search(term: string): void;
    clear(): void;
    resetZoom(): void;
    zoomTo(node: FlameHierarchyNode): void;
    onClick(f: (d: FlameHierarchyNode) => void): FlameGraph;
    setDetailsElement(el: HTMLElement | null): FlameGraph;
    setSearchMatch(f: (d: FlameHierarchyNode, term: string) => boolean): FlameGraph;
    setLabelHandler(f: (d: FlameHierarchyNode) => string): FlameGraph;
    setSearchHandler(f: (results: FlameHierarchyNode[], sum: number, total: number) => void): FlameGraph;
    destroy(): FlameGraph;
  }
  export default function flamegraph(): FlameGraph;
}
