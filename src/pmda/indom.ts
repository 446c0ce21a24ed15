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
  /** Epoch seconds each name was last active; old inactive names are culled past the limit. */
  seen?: Record<string, number>;
}

/**
 * Names kept per indom once inactive. Flows with ephemeral ports (tcpretrans) would otherwise
 * grow the state file forever. Culling never frees an id: `next` only grows, so a culled name
 * that returns gets a new id, and no id ever names two things.
 */
export const MAX_REMEMBERED = 4096;

export class InstanceDomain {
  private byName = new Map<string, number>();
  private byId = new Map<number, string>();
  private active = new Set<number>();
  private instLabels = new Map<number, Record<string, LabelValue>>();
  private next = 0;
  private dirty = false;
  /** A name got its id since the last save: persist before any client can see that id. */
  private fresh = false;
  private sorted: Instance[] | null = null;
  private seen = new Map<string, number>();

  constructor(
    readonly indom: number,
    private readonly file: string | null,
    private readonly maxRemembered = MAX_REMEMBERED,
    private readonly persist: 'names' | 'ids' = 'names',
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
      const names = this.persist === 'names' ? p.names : {};
      for (const [name, id] of Object.entries(names)) {
        if (!Number.isInteger(id) || id < 0 || this.byId.has(id)) continue;
        this.byName.set(name, id);
        this.byId.set(id, name);
        this.seen.set(name, p.seen?.[name] ?? 0);
      }
      this.next = Math.max(p.next | 0, ...[...this.byId.keys()].map((i) => i + 1), 0);
    } catch {
      // A corrupt cache file must not stop the agent; ids restart from the highest seen.
    }
  }

  /** Write the name→id map if it changed since the last save. */
  save(): void {
    if (!this.file || !this.dirty) return;
    this.cull();
    const p: Persisted =
      this.persist === 'names'
        ? { version: 1, names: Object.fromEntries(this.byName), next: this.next, seen: Object.fromEntries(this.seen) }
        : { version: 1, names: {}, next: this.next };
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(p));
    fs.renameSync(tmp, this.file);
    this.dirty = false;
    this.fresh = false;
  }

  /** True when a name got a new id since the last save. */
  hasNewNames(): boolean {
    return this.fresh;
  }

  private cull(): void {
    if (this.byName.size - this.active.size <= this.maxRemembered) return;
    const now = Math.floor(Date.now() / 1000);
    for (const id of this.active) this.seen.set(this.byId.get(id)!, now);
    const idle = [...this.byName.keys()].filter((n) => !this.active.has(this.byName.get(n)!));
    idle.sort((a, b) => (this.seen.get(a) ?? 0) - (this.seen.get(b) ?? 0));
    for (const name of idle.slice(0, idle.length - this.maxRemembered)) {
      const id = this.byName.get(name)!;
      this.byName.delete(name);
      this.byId.delete(id);
      this.seen.delete(name);
    }
  }

  private touch(name: string): void {
    this.seen.set(name, Math.floor(Date.now() / 1000));
    this.dirty = true;
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
      this.fresh = true;
    }
    if (!this.active.has(id)) {
      this.active.add(id);
      this.sorted = null;
      this.touch(name);
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
      this.fresh = true;
    }
    if (!this.active.has(id)) {
      this.active.add(id);
      this.sorted = null;
    }
    if (labels) this.instLabels.set(id, labels);
  }

  /**
   * Indoms whose id is a process id (netproc, as the proc PMDA): the kernel reuses pids, so a
   * new process takes over its id from whatever name had it (which then has no id).
   */
  rebind(id: number, name: string): void {
    const had = this.byId.get(id);
    if (had !== undefined && had !== name) {
      this.byName.delete(had);
      this.seen.delete(had);
      this.byId.delete(id);
      this.active.delete(id);
    }
    const hadId = this.byName.get(name);
    if (hadId !== undefined && hadId !== id) {
      this.byId.delete(hadId);
      this.active.delete(hadId);
      this.byName.delete(name);
    }
    this.define(id, name);
    this.sorted = null;
  }

  /** Drop an instance from the current set; its id stays reserved for its name. */
  deactivate(id: number): void {
    if (this.active.delete(id)) {
      this.sorted = null;
      const name = this.byId.get(id);
      if (name !== undefined) this.touch(name);
    }
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
