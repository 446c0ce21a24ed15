// Flame graphs from bcc.proc.stacks: a counter per distinct stack whose instance name is
// "comm,pid" on the first line, then one frame per line, outermost first. The first line may
// carry a short id token before the comm (the agent keeps names unique with it). The value shown
// per stack is the sum of its per-second rates over the chosen window, as grafana-pcp does.

export interface ParsedStack {
  comm: string;
  pid: number | null;
  frames: string[];
}

export interface FlameNode {
  name: string;
  /** Total including children, as d3-flame-graph and bcc.proc.profile expect. */
  value: number;
  children: FlameNode[];
  libtype?: string;
}

// The id token is separated by ASCII spaces only: the agent writes spaces inside comms and frames
// as U+00A0, which \s would also match.
const FIRST_LINE = /^(?:([#@]?[0-9a-fA-F]{1,16}:?) +)?(.*?), *(\d+),?$/;

/**
 * pmproxy 6.0.3 writes every byte >= 0x80 of a string as \uFFFD in its JSON, so the agent's
 * U+00A0 (for spaces inside frames, 2 bytes in UTF-8) and U+201A (for commas, 3 bytes) arrive as
 * runs of U+FFFD. Put the characters back; a run of another length stays as it came.
 */
export function repairPmproxyText(s: string): string {
  if (!s.includes('\uFFFD')) return s;
  return s.replace(/\uFFFD+/g, (run) => (run.length === 2 ? '\u00a0' : run.length === 3 ? '\u201a' : run));
}

export function parseStackInstance(rawName: string): ParsedStack | null {
  const name = repairPmproxyText(rawName);
  const lines = name.split('\n');
  const first = (lines[0] ?? '').trim();
  const frames = lines
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  if (first.length === 0 && frames.length === 0) return null;
  const m = FIRST_LINE.exec(first);
  if (m && m[2]!.length > 0) return { comm: m[2]!, pid: Number(m[3]), frames };
  // Not "comm,pid": keep the whole line as the process label rather than dropping the stack.
  return { comm: first.replace(/,$/, '') || '[unknown]', pid: null, frames };
}

/** Kernel frames are marked the way perf/stackcollapse do: "func_[k]" or "[k] func". */
export function frameLibtype(frame: string): string | undefined {
  if (/_\[k\]$/.test(frame) || /^\[k\]\s/.test(frame)) return 'kernel';
  return undefined;
}

interface BuildNode {
  name: string;
  value: number;
  libtype?: string;
  children: Map<string, BuildNode>;
}

function child(parent: BuildNode, name: string, libtype?: string): BuildNode {
  let c = parent.children.get(name);
  if (!c) {
    c = { name, value: 0, children: new Map() };
    if (libtype) c.libtype = libtype;
    parent.children.set(name, c);
  }
  return c;
}

function freeze(n: BuildNode): FlameNode {
  const out: FlameNode = {
    name: n.name,
    value: n.value,
    children: [...n.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map(freeze),
  };
  if (n.libtype) out.libtype = n.libtype;
  return out;
}

export interface BuildOptions {
  /** Add a "pid N" level under each comm. */
  splitByPid?: boolean;
  rootName?: string;
  /** Drop stacks whose weight is at or below this. */
  minValue?: number;
}

export function buildFlameTree(stacks: Iterable<{ stack: ParsedStack; value: number }>, opts: BuildOptions = {}): FlameNode {
  const root: BuildNode = { name: opts.rootName ?? 'all', value: 0, children: new Map() };
  const min = opts.minValue ?? 0;
  for (const { stack, value } of stacks) {
    if (!(value > min)) continue;
    root.value += value;
    let node = child(root, stack.comm);
    node.value += value;
    if (opts.splitByPid && stack.pid !== null) {
      node = child(node, `pid ${stack.pid}`);
      node.value += value;
    }
    for (const f of stack.frames) {
      node = child(node, f, frameLibtype(f));
      node.value += value;
    }
  }
  return freeze(root);
}

/** Sparse per-fetch rates of every stack, kept for the longest window the UI offers. */
export class StackWindow {
  private samples: { t: number; rates: Map<number, number> }[] = [];

  constructor(private keepSeconds = 300) {}

  push(t: number, rates: Map<number, number>): void {
    const sparse = new Map<number, number>();
    for (const [k, v] of rates) if (v > 0) sparse.set(k, v);
    this.samples.push({ t, rates: sparse });
    while (this.samples.length > 0 && this.samples[0]!.t < t - this.keepSeconds) this.samples.shift();
  }

  /** Sum of rates per stack over the last `seconds` (ending at the newest sample). */
  sum(seconds: number): Map<number, number> {
    const out = new Map<number, number>();
    const last = this.samples[this.samples.length - 1];
    if (!last) return out;
    const from = last.t - seconds;
    for (const s of this.samples) {
      if (s.t <= from) continue;
      for (const [k, v] of s.rates) out.set(k, (out.get(k) ?? 0) + v);
    }
    return out;
  }

  /** Stack ids still referenced by some sample (others' names can be forgotten). */
  liveIds(): Set<number> {
    const ids = new Set<number>();
    for (const s of this.samples) for (const k of s.rates.keys()) ids.add(k);
    return ids;
  }

  get length(): number {
    return this.samples.length;
  }

  clear(): void {
    this.samples = [];
  }
}

/** Find the node at a path of names (root excluded); used to keep a zoom across refreshes. */
export function findPath(root: FlameNode, path: readonly string[]): FlameNode | null {
  let node: FlameNode | undefined = root;
  for (const name of path) {
    node = node.children.find((c) => c.name === name);
    if (!node) return null;
  }
  return node;
}
