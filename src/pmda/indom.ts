// Instance domains with stable ids. An id, once given to a name, is never given to another name,
// across restarts too: the mapping is persisted as JSON in the state directory (like pmdaCache).
// Dashboards (grafana-pcp's poller, Vector's heat map) rely on this.
import * as fs from 'node:fs';
import * as path from 'node:path';

export type LabelValue = string | number | boolean | null;

export interface Instance {
  id: number;
  name: string;
}

interface Persisted {
  version: 1;
  names: Record<string, number>;
  next: number;
}

export class InstanceDomain {
  private byName = new Map<string, number>();
  private byId = new Map<number, string>();
  private active = new Set<number>();
  private instLabels = new Map<number, Record<string, LabelValue>>();
  private next = 0;
  private dirty = false;
  private sorted: Instance[] | null = null;

  constructor(
    readonly indom: number,
    private readonly file: string | null,
  ) {
    if (file) this.load(file);
  }

  private load(file: string): void {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      return;
    }
    try {
      const p = JSON.parse(text) as Persisted;
      for (const [name, id] of Object.entries(p.names)) {
        if (!Number.isInteger(id) || id < 0 || this.byId.has(id)) continue;
        this.byName.set(name, id);
        this.byId.set(id, name);
      }
      this.next = Math.max(p.next | 0, ...[...this.byId.keys()].map((i) => i + 1), 0);
    } catch {
      // A corrupt cache file must not stop the agent; ids restart from the highest seen.
    }
  }

  /** Write the name→id map if it changed since the last save. */
  save(): void {
    if (!this.file || !this.dirty) return;
    const p: Persisted = { version: 1, names: Object.fromEntries(this.byName), next: this.next };
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(p));
    fs.renameSync(tmp, this.file);
    this.dirty = false;
  }

  /** The id for `name`, creating it (next free id) if new; marks it active. */
  ensure(name: string, labels?: Record<string, LabelValue>): number {
    let id = this.byName.get(name);
    if (id === undefined) {
      id = this.next++;
      while (this.byId.has(id)) id = this.next++;
      this.byName.set(name, id);
      this.byId.set(id, name);
      this.dirty = true;
    }
    if (!this.active.has(id)) {
      this.active.add(id);
      this.sorted = null;
    }
    if (labels) this.instLabels.set(id, labels);
    return id;
  }

  /**
   * Fixed-shape indoms (histogram slots, ring slots) whose id is the position. The name must
   * keep its id; a conflicting persisted entry is an error in the shape, so it throws.
   */
  define(id: number, name: string, labels?: Record<string, LabelValue>): void {
    const had = this.byId.get(id);
    if (had !== undefined && had !== name) throw new Error(`indom ${this.indom}: id ${id} is "${had}", not "${name}"`);
    const hadId = this.byName.get(name);
    if (hadId !== undefined && hadId !== id) throw new Error(`indom ${this.indom}: "${name}" is id ${hadId}, not ${id}`);
    if (had === undefined) {
      this.byId.set(id, name);
      this.byName.set(name, id);
      this.next = Math.max(this.next, id + 1);
      this.dirty = true;
    }
    if (!this.active.has(id)) {
      this.active.add(id);
      this.sorted = null;
    }
    if (labels) this.instLabels.set(id, labels);
  }

  /** Drop an instance from the current set; its id stays reserved for its name. */
  deactivate(id: number): void {
    if (this.active.delete(id)) this.sorted = null;
    this.instLabels.delete(id);
  }

  isActive(id: number): boolean {
    return this.active.has(id);
  }

  /** Active instances in id order. */
  instances(): readonly Instance[] {
    if (!this.sorted) {
      this.sorted = [...this.active].sort((a, b) => a - b).map((id) => ({ id, name: this.byId.get(id)! }));
    }
    return this.sorted;
  }

  nameOf(id: number): string | undefined {
    return this.active.has(id) ? this.byId.get(id) : undefined;
  }

  /**
   * libpcp_pmda's rule: an exact match, or, when the request has no space, a match on the part
   * of an instance name before its first space.
   */
  lookup(name: string): number | undefined {
    const id = this.byName.get(name);
    if (id !== undefined && this.active.has(id)) return id;
    if (name.includes(' ')) return undefined;
    for (const inst of this.instances()) {
      const sp = inst.name.indexOf(' ');
      if (sp >= 0 && inst.name.slice(0, sp) === name) return inst.id;
    }
    return undefined;
  }

  labelsOf(id: number): Record<string, LabelValue> | undefined {
    return this.instLabels.get(id);
  }
}
