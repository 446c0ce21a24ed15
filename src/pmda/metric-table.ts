// The agent's view of every metric: PMID → spec and owning module, the namespace tree for the
// PMNS PDUs, and the indom table. Built once from the module specs; checked for the mistakes
// that would otherwise only show up as a confused pmcd (duplicate PMIDs, leaf-and-node names).
import { indom as makeIndom, pmid as makePmid, pmidString } from '../pcp/types';
import type { IndomSpec, MetricSpec, ModuleSpec } from './module';

export interface MetricEntry {
  pmid: number;
  spec: MetricSpec;
  module: ModuleSpec;
  /** Full indom id or PM_INDOM_NULL. */
  indom: number;
}

export interface IndomEntry {
  indom: number;
  spec: IndomSpec;
  module: ModuleSpec;
}

interface NameNode {
  children: Map<string, NameNode>;
  pmid?: number;
}

export class MetricTable {
  readonly byPmid = new Map<number, MetricEntry>();
  readonly byName = new Map<string, MetricEntry>();
  readonly indoms = new Map<number, IndomEntry>();
  readonly clusters = new Map<number, ModuleSpec>();
  private readonly root: NameNode = { children: new Map() };

  constructor(
    readonly domain: number,
    modules: readonly ModuleSpec[],
  ) {
    for (const m of modules) {
      const owner = this.clusters.get(m.cluster);
      if (owner) throw new Error(`cluster ${m.cluster} used by both ${owner.name} and ${m.name}`);
      this.clusters.set(m.cluster, m);
      for (const d of m.indoms) {
        const id = makeIndom(domain, d.serial);
        const other = this.indoms.get(id);
        if (other) throw new Error(`indom serial ${d.serial} used by both ${other.module.name} and ${m.name}`);
        this.indoms.set(id, { indom: id, spec: d, module: m });
      }
      for (const s of m.metrics) this.add(m, s);
    }
  }

  private add(m: ModuleSpec, s: MetricSpec): void {
    const id = makePmid(this.domain, m.cluster, s.item);
    const dup = this.byPmid.get(id);
    if (dup) throw new Error(`PMID ${pmidString(id)} used by both ${dup.spec.name} and ${s.name}`);
    if (this.byName.has(s.name)) throw new Error(`metric name ${s.name} defined twice`);
    if (s.indom !== null && !m.indoms.some((d) => d.serial === s.indom)) {
      throw new Error(`${s.name}: indom serial ${s.indom} is not declared by module ${m.name}`);
    }
    const entry: MetricEntry = {
      pmid: id,
      spec: s,
      module: m,
      indom: s.indom === null ? 0xffffffff : makeIndom(this.domain, s.indom),
    };
    this.byPmid.set(id, entry);
    this.byName.set(s.name, entry);
    let node = this.root;
    const parts = s.name.split('.');
    parts.forEach((part, i) => {
      if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(part)) throw new Error(`metric name ${s.name}: bad component "${part}"`);
      if (node.pmid !== undefined) throw new Error(`${s.name}: ${parts.slice(0, i).join('.')} is already a leaf`);
      let next = node.children.get(part);
      if (!next) {
        next = { children: new Map() };
        node.children.set(part, next);
      }
      node = next;
    });
    if (node.children.size > 0) throw new Error(`${s.name} is already a non-leaf node`);
    node.pmid = id;
  }

  private find(name: string): NameNode | undefined {
    let node: NameNode | undefined = this.root;
    for (const part of name.split('.')) {
      node = node.children.get(part);
      if (!node) return undefined;
    }
    return node;
  }

  /** Direct children of a non-leaf: [name, isLeaf]. Undefined for unknown names or leaves. */
  children(name: string): [string, boolean][] | undefined {
    const node = this.find(name);
    if (!node || node.pmid !== undefined) return undefined;
    return [...node.children].map(([k, v]) => [k, v.pmid !== undefined]);
  }

  /** Full names of every leaf at or below `name` (a leaf gives itself). */
  traverse(name: string): string[] | undefined {
    const node = this.find(name);
    if (!node) return undefined;
    const out: string[] = [];
    const walk = (n: NameNode, prefix: string): void => {
      if (n.pmid !== undefined) out.push(prefix);
      for (const [k, c] of n.children) walk(c, `${prefix}.${k}`);
    };
    walk(node, name);
    return out;
  }

  isNonLeaf(name: string): boolean {
    const node = this.find(name);
    return node !== undefined && node.pmid === undefined;
  }

  /** Leaves in PMID order: the pmns/help generator's input. */
  metrics(): MetricEntry[] {
    return [...this.byPmid.values()].sort((a, b) => a.pmid - b.pmid);
  }
}
