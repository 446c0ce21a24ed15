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

/**
 * Ids are reserved this many at a time in a marker file whose *name* holds the high-water mark
 * (`<file>.hwm-<n>`): a directory entry is renamed atomically, so even when the state file
 * itself is lost or corrupt, no id below the mark is handed out again.
 */
export const HWM_STEP = 1024;

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
  /** Ids below this are reserved on disk (the marker's number); 0 = no marker yet. */
  private reserved = 0;
  /** What was wrong with the state file when it was loaded (for the log), or null. */
  recovered: string | null = null;

  constructor(
    readonly indom: number,
    private readonly file: string | null,
    private readonly maxRemembered = MAX_REMEMBERED,
    private readonly persist: 'names' | 'ids' = 'names',
  ) {
    if (file) this.load(file);
  }

  private load(file: string): void {
    this.reserved = this.readMarker(file);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.recovered = `cannot read ${file}: ${(e as Error).message}`;
      else if (this.reserved > 0) this.recovered = `${file} is missing`;
      this.next = this.reserved;
      return;
    }
    let p: Persisted;
    try {
      p = JSON.parse(text) as Persisted;
      if (typeof p !== 'object' || p === null || typeof p.names !== 'object' || p.names === null || !Number.isInteger(p.next)) {
        throw new Error('not an instance-id state file');
      }
    } catch (e) {
      // Power loss before this file was fsync'd, or a damaged disk: keep it for a post-mortem
      // and start above every id that could have been handed out.
      const aside = `${file}.corrupt-${Date.now()}`;
      try {
        fs.renameSync(file, aside);
      } catch {
        // Unmovable: it is overwritten at the next save.
      }
      this.recovered = `${file} is corrupt (${text.length === 0 ? 'empty' : (e as Error).message}); moved to ${aside}, ids start at ${this.reserved}`;
      this.next = this.reserved;
      return;
    }
    const names = this.persist === 'names' ? p.names : {};
    for (const [name, id] of Object.entries(names)) {
      if (!Number.isInteger(id) || id < 0 || this.byId.has(id)) continue;
      this.byName.set(name, id);
      this.byId.set(id, name);
      this.seen.set(name, p.seen?.[name] ?? 0);
    }
    let next = Math.max(p.next | 0, 0);
    for (const id of this.byId.keys()) next = Math.max(next, id + 1);
    this.next = next;
  }

  private markerPrefix(file: string): string {
    return `${path.basename(file)}.hwm-`;
  }

  /** The highest reserved mark among this file's markers (0 when none). */
  private readMarker(file: string): number {
    let best = 0;
    let entries: string[];
    try {
      entries = fs.readdirSync(path.dirname(file));
    } catch {
      return 0;
    }
    const prefix = this.markerPrefix(file);
    for (const e of entries) {
      if (!e.startsWith(prefix)) continue;
      const n = Number(e.slice(prefix.length));
      if (Number.isSafeInteger(n) && n > best) best = n;
    }
    return best;
  }

  /** Move the marker past `next` (renaming it: atomic), before any id at or above it is saved. */
  private reserve(file: string, dirFd: number): void {
    if (this.next <= this.reserved) return;
    const want = Math.ceil((this.next + 1) / HWM_STEP) * HWM_STEP;
    const dir = path.dirname(file);
    const prefix = this.markerPrefix(file);
    const to = path.join(dir, `${prefix}${want}`);
    const from = this.reserved > 0 ? path.join(dir, `${prefix}${this.reserved}`) : null;
    if (from && fs.existsSync(from)) fs.renameSync(from, to);
    else fs.closeSync(fs.openSync(to, 'w'));
    fs.fsyncSync(dirFd);
    this.reserved = want;
  }

  /**
   * Write the name→id map if it changed since the last save: to a temporary file, fsync'd,
   * renamed over the old one, and the directory fsync'd, so that after a crash or power loss
   * the file is the old or the new map, never a torn one.
   */
  save(): void {
    if (!this.file || !this.dirty) return;
    this.cull();
    const p: Persisted =
      this.persist === 'names'
        ? { version: 1, names: Object.fromEntries(this.byName), next: this.next, seen: Object.fromEntries(this.seen) }
        : { version: 1, names: {}, next: this.next };
    const dir = path.dirname(this.file);
    fs.mkdirSync(dir, { recursive: true });
    const dirFd = fs.openSync(dir, 'r');
    try {
      this.reserve(this.file, dirFd);
      const tmp = `${this.file}.tmp`;
      const fd = fs.openSync(tmp, 'w');
      try {
        fs.writeSync(fd, JSON.stringify(p));
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, this.file);
      fs.fsyncSync(dirFd);
    } finally {
      fs.closeSync(dirFd);
    }
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
