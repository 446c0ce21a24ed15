// pmdabcc's bcc.proc.profile tree: root → comm → user frames (outermost first) → kernel
// frames, each node {"name", "libtype", "value", "children"} with value = samples in the
// subtree. The JSON text is written the way pmdabcc's Python json.dumps wrote it (", " and
// ": " separators, non-ASCII as \u escapes), so readers that compared strings keep working.
import { MISSED_KERNEL, MISSED_USER, type Sample } from './sample';

type LibType = 'user' | 'kernel' | null;

class Node {
  value = 0;
  readonly children = new Map<string, Node>();
  constructor(
    readonly name: string,
    readonly libtype: LibType,
  ) {}
}

/** Past this many nodes new frames go to one placeholder per comm: a long session cannot
 *  grow the agent without bound. */
const DEFAULT_MAX_NODES = 500_000;
export const TRUNCATED = '[Truncated: too many distinct frames]';

export class ProfileTree {
  private readonly root = new Node('root', null);
  private nodes = 1;

  constructor(private readonly maxNodes = DEFAULT_MAX_NODES) {}

  get nodeCount(): number {
    return this.nodes;
  }

  get total(): number {
    return this.root.value;
  }

  private child(parent: Node, name: string, libtype: LibType, path: Node[]): Node | null {
    let c = parent.children.get(name);
    if (!c) {
      if (this.nodes >= this.maxNodes) return null;
      c = new Node(name, libtype);
      parent.children.set(name, c);
      this.nodes++;
    }
    path.push(c);
    return c;
  }

  add(s: Sample): void {
    const path: Node[] = [this.root];
    const comm = this.child(this.root, s.comm, 'user', path);
    if (comm) {
      const frames: [string, LibType][] = [];
      if (s.userMissed) frames.push([MISSED_USER, 'user']);
      else for (const f of s.user) frames.push([f, 'user']);
      if (s.kernelMissed) frames.push([MISSED_KERNEL, 'kernel']);
      else for (const f of s.kernel) frames.push([f, 'kernel']);
      let at = comm;
      for (const [name, lib] of frames) {
        const next = this.child(at, name, lib, path);
        if (!next) {
          // Out of nodes: count the rest under one shared placeholder (never refused: it may exist).
          let t = at.children.get(TRUNCATED);
          if (!t) {
            t = new Node(TRUNCATED, lib);
            at.children.set(TRUNCATED, t);
          }
          path.push(t);
          break;
        }
        at = next;
      }
    }
    for (const n of path) n.value += s.count;
  }

  /** The tree as pmdabcc's JSON text. */
  toJson(): string {
    const out: string[] = [];
    writeNode(this.root, out);
    return out.join('');
  }
}

function writeNode(n: Node, out: string[]): void {
  out.push('{"name": ', pyString(n.name), ', "libtype": ', n.libtype === null ? 'null' : pyString(n.libtype));
  out.push(', "value": ', String(n.value), ', "children": [');
  // Hottest first: the order flame graph widgets draw left to right when they do not sort.
  const kids = [...n.children.values()].sort((a, b) => b.value - a.value || (a.name < b.name ? -1 : 1));
  kids.forEach((c, i) => {
    if (i) out.push(', ');
    writeNode(c, out);
  });
  out.push(']}');
}

const SHORT: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

/** A JSON string as Python's json.dumps (ensure_ascii) writes it. */
export function pyString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    const code = s.charCodeAt(i);
    const short = SHORT[ch];
    if (short) out += short;
    else if (code < 0x20 || code > 0x7e) {
      // UTF-16 code units: an astral character comes out as its surrogate pair, as in Python.
      out += code === 0x7f ? ch : `\\u${code.toString(16).padStart(4, '0')}`;
    } else out += ch;
  }
  return `${out}"`;
}

/** bcc.proc.profile's value. */
export function profileValue(status: string, data: string | null): string {
  return `{"status": ${pyString(status)}, "data": ${data ?? 'null'}}`;
}
