// The keyed-counter shape: a BPF hash map from a key (syscall number, comm, pid, probe index,
// caller…) to a struct of u64 counters, read in one batch per fetch and exported as counter
// metrics with one instance per key name (or one singular value). Most of pmdabcc's counting
// tools (syscount, exectop, sysfork, tracepoint/uprobe/usdt hits, netproc, cachestat…) are a
// declaration on it: object + hooks, the value struct's fields, how a key is named, metrics
// derived from the summed fields.
//
// Counters never go back: each kernel entry's last value is remembered, so an entry that is
// deleted (by us or by the tool's own pruning) and re-created counts on from its instance's
// total. Value field offsets come from the object's BTF (each must be a u64), never from
// constants copied out of the C. Kernel inserts that failed because the map was full are read
// from `drops` (bpf/include/maps.bpf.h) into the module's lost count.
import type { BpfMap, BpfObject, Hook, Loaded } from '../../bpf';
import { DropCounter } from '../../bpf/ringbuf';
import { PM_ERR, PM_IN_NULL, PM_TYPE } from '../../pcp/types';
import type { ConfigSchema, ConfigValuesOf } from '../../pmda/config-schema';
import type { InstanceDomain } from '../../pmda/indom';
import { defineModule, type FetchResult, type IndomSpec, type MetricSpec, type ModuleContext, type ModuleSpec } from '../../pmda/module';
import { TaskFilter } from './filter';
import { ToolInstance, type ToolLoad } from './tool';

/** A metric of a keyed-counter tool: a MetricSpec without item/indom bookkeeping, plus its value. */
export interface KeyedMetric<F extends string> extends Omit<MetricSpec, 'indom' | 'type'> {
  type?: MetricSpec['type'];
  /** The exported value from an instance's totals; undefined leaves the instance out (e.g. avg of 0 calls). */
  value(t: Readonly<Record<F, bigint>>): number | bigint | undefined;
}

/** An instance for a key: its name, and optionally a fixed id (netproc uses the pid). */
export type KeyName = string | { name: string; id: number } | null;

export interface KeyedCounterDecl<S extends ConfigSchema, F extends string> {
  name: string;
  cluster: number;
  defaultEnabled: boolean;
  /** The instance domain (serial = cluster, as pmdabcc), or null: every key sums into one value. */
  indom: IndomSpec | null;
  metrics: KeyedMetric<F>[];
  config: S;
  object: string;
  hooks(c: ConfigValuesOf<S>, ctx: ModuleContext<ConfigValuesOf<S>>): Hook[];
  /** The counting map (default 'counts'). */
  map?: string;
  /** The value struct and its u64 fields; `max` fields keep the highest value, the others sum. */
  value: {
    struct: string;
    sum: readonly F[];
    max?: readonly F[];
    /**
     * Counters derived per refresh from the other fields' increments (not in the struct), summed
     * like them: for ratios of counts that must never go back (cachestat's misses = added - dirtied
     * of each interval, clamped at 0, as pmdabcc derived it).
     */
    perInterval?: { fields: readonly F[]; step(delta: Readonly<Record<F, bigint>>): Partial<Record<F, bigint>> };
  };
  /** Name the key at `off` in `keys` (keySize bytes); null skips the entry. Called once per new kernel entry. */
  keyName?(key: Buffer, c: ConfigValuesOf<S>, ctx: ModuleContext<ConfigValuesOf<S>>): KeyName;
  /** The process/cgroup filter keys are in `config` and filter.bpf.h is in the object. */
  filter?: boolean;
  /** Before load (rodata, map sizes). */
  configure?(obj: BpfObject, c: ConfigValuesOf<S>, ctx: ModuleContext<ConfigValuesOf<S>>): void;
  /** After attach: anything the tool keeps running (rescans…). Return a stop function, if any. */
  started?(loaded: Loaded, ctx: ModuleContext<ConfigValuesOf<S>>, tool: KeyedCounterTool<S, F>): (() => void) | void;
  /**
   * Entries whose subject is gone (e.g. an exited process), asked at most every pruneMs: the
   * kernel entry is deleted; with `drop`, the instance leaves the indom too (else it keeps its total).
   */
  gone?: { everyMs: number; test(name: string, key: Buffer, ctx: ModuleContext<ConfigValuesOf<S>>): boolean; drop: boolean | ((c: ConfigValuesOf<S>) => boolean) };
  /** Most instances kept; beyond it the longest-unchanged leave (counted as lost). Default 65536. */
  maxInstances?: number;
}

interface Entry {
  /** Index into `totals` of the instance this key counts into; -1 when the key is skipped. */
  inst: Instance | null;
  last: bigint[];
}

interface Instance {
  name: string;
  id: number;
  sums: bigint[];
  /** When a total last changed (refresh counter), for eviction. */
  changed: number;
  /** The sums at the last perInterval step. */
  stepped?: bigint[];
}

/** The live tool: reads the map, keeps per-instance totals, answers fetches. */
export class KeyedCounterTool<S extends ConfigSchema, F extends string> extends ToolInstance<ConfigValuesOf<S>> {
  private map: BpfMap | null = null;
  private drops: DropCounter | null = null;
  private offsets: number[] = [];
  private isMax: boolean[] = [];
  private readonly fields: F[];
  /** Fields read from the kernel (the rest are perInterval). */
  private readonly kernelFields: number;
  private readonly entries = new Map<string, Entry>();
  private readonly instances = new Map<string, Instance>();
  /** Instances with a fixed id (a pid), by id. */
  private readonly byId = new Map<number, Instance>();
  private readonly indom: InstanceDomain | null;
  private generation = 0;
  private prunedAt = 0;
  loaded: Loaded | null = null;

  constructor(
    ctx: ModuleContext<ConfigValuesOf<S>>,
    private readonly decl: KeyedCounterDecl<S, F>,
  ) {
    super(ctx);
    this.fields = [...decl.value.sum, ...(decl.value.max ?? [])];
    this.kernelFields = this.fields.length;
    this.fields.push(...(decl.value.perInterval?.fields ?? []));
    this.indom = decl.indom ? ctx.indom(decl.indom.serial) : null;
  }

  protected open(): void {
    const c = this.ctx.config;
    const filter = this.decl.filter ? TaskFilter.fromConfig(c as Record<string, unknown>, this.ctx.log) : null;
    const load: ToolLoad = {
      object: this.decl.object,
      hooks: this.decl.hooks(c, this.ctx),
      variant: (c as Record<string, unknown>).variant as string | undefined,
      configure: (o) => {
        filter?.configure(o);
        this.decl.configure?.(o, c, this.ctx);
      },
    };
    const loaded = this.load(load);
    this.loaded = loaded;
    const obj = loaded.obj;
    this.map = obj.map(this.decl.map ?? 'counts');
    this.bindValueLayout(obj);
    this.drops = hasMap(obj, 'drops') ? new DropCounter(obj.map('drops')) : null;
    if (filter?.active) {
      filter.start(obj);
      this.closer.add('process filter', filter, (f) => f.stop());
      this.ctx.log.info({ filter: filter.describe() }, 'filter on');
    }
    const stop = this.decl.started?.(loaded, this.ctx, this);
    if (stop) this.closer.add('tool tasks', stop, (s) => s());
    this.closer.add('map reader', this, (t) => {
      t.map = null;
      t.drops = null;
      t.loaded = null;
    });
  }

  /** Offsets of the declared u64 fields in the value struct, from the object's BTF. */
  private bindValueLayout(obj: BpfObject): void {
    const v = this.decl.value;
    const layout = obj.structLayout(v.struct);
    if (!layout) throw new Error(`${this.decl.object}: no BTF for struct ${v.struct} (is it the map's __type(value, …)?)`);
    if (layout.size !== this.map!.valueSize) {
      throw new Error(`${this.decl.object}: struct ${v.struct} is ${layout.size} bytes but map ${this.map!.name} holds ${this.map!.valueSize}-byte values`);
    }
    this.offsets = this.fields.slice(0, this.kernelFields).map((f) => {
      const l = layout.fields.get(f);
      if (!l) throw new Error(`${this.decl.object}: struct ${v.struct} has no field ${f} (it has ${[...layout.fields.keys()].join(', ')})`);
      if (l.size !== 8) throw new Error(`${this.decl.object}: struct ${v.struct}.${f} is ${l.size} bytes; counters are u64`);
      return l.offset;
    });
    this.isMax = this.fields.map((f) => (v.max ?? []).includes(f));
  }

  refresh(): void {
    const map = this.map;
    if (!map) return;
    this.generation++;
    const { count, keys, values } = map.lookupBatch();
    const ks = map.keySize;
    const ncpu = map.perCpu ? map.valueBytes / map.cpuStride : 1;
    const seen = new Set<string>();
    const cur: bigint[] = new Array(this.kernelFields);
    for (let i = 0; i < count; i++) {
      const kOff = i * ks;
      const id = keys.toString('latin1', kOff, kOff + ks);
      seen.add(id);
      let e = this.entries.get(id);
      if (!e) {
        e = { inst: this.instanceFor(Buffer.from(keys.subarray(kOff, kOff + ks))), last: new Array(this.fields.length).fill(0n) };
        this.entries.set(id, e);
      }
      const vOff = i * map.valueBytes;
      for (let f = 0; f < this.kernelFields; f++) {
        let s = 0n;
        for (let c = 0; c < ncpu; c++) {
          const x = values.readBigUInt64LE(vOff + c * map.cpuStride + this.offsets[f]!);
          s = this.isMax[f] ? (x > s ? x : s) : s + x;
        }
        cur[f] = s;
      }
      const inst = e.inst;
      for (let f = 0; f < this.kernelFields; f++) {
        const now = cur[f]!;
        if (this.isMax[f]) {
          if (inst && now > inst.sums[f]!) {
            inst.sums[f] = now;
            inst.changed = this.generation;
          }
        } else {
          // A smaller value means the entry was deleted and re-created: it counts from 0.
          const d = now >= e.last[f]! ? now - e.last[f]! : now;
          if (inst && d > 0n) {
            inst.sums[f] = inst.sums[f]! + d;
            inst.changed = this.generation;
          }
        }
        e.last[f] = now;
      }
    }
    if (this.decl.value.perInterval) this.stepIntervals(this.decl.value.perInterval);
    // Entries the kernel no longer holds (deleted, evicted): their counts are already in the totals.
    if (this.entries.size > seen.size) for (const id of this.entries.keys()) if (!seen.has(id)) this.entries.delete(id);
    this.prune();
    const d = this.drops?.delta() ?? 0n;
    if (d > 0n) this.ctx.status.addLost(d);
  }

  private stepIntervals(p: NonNullable<KeyedCounterDecl<S, F>['value']['perInterval']>): void {
    for (const inst of this.instances.values()) {
      if (inst.changed !== this.generation) continue;
      const before = inst.stepped ?? new Array(this.fields.length).fill(0n);
      const delta = Object.fromEntries(this.fields.map((f, i) => [f, i < this.kernelFields ? inst.sums[i]! - before[i]! : 0n])) as Record<F, bigint>;
      const out = p.step(delta);
      for (let i = this.kernelFields; i < this.fields.length; i++) {
        const d = out[this.fields[i]!] ?? 0n;
        if (d > 0n) inst.sums[i] = inst.sums[i]! + d;
      }
      inst.stepped = [...inst.sums];
    }
  }

  private instanceFor(key: Buffer): Instance | null {
    if (!this.indom) return this.single();
    const n = this.decl.keyName ? this.decl.keyName(key, this.ctx.config, this.ctx) : null;
    if (n === null) return null;
    const name = typeof n === 'string' ? n : n.name;
    let inst = this.instances.get(name);
    if (!inst) {
      let id: number;
      if (typeof n === 'string') id = this.indom.ensure(name);
      else {
        // A fixed id is a pid: a new process that got an exited one's pid takes over its id.
        const prev = this.byId.get(n.id);
        if (prev) this.forget(prev);
        this.indom.rebind(n.id, name);
        id = n.id;
      }
      inst = { name, id, sums: new Array(this.fields.length).fill(0n), changed: this.generation };
      this.instances.set(name, inst);
      if (typeof n !== 'string') this.byId.set(id, inst);
      this.evict();
    }
    return inst;
  }

  private single(): Instance {
    let inst = this.instances.get('');
    if (!inst) {
      inst = { name: '', id: PM_IN_NULL, sums: new Array(this.fields.length).fill(0n), changed: 0 };
      this.instances.set('', inst);
    }
    return inst;
  }

  /** Past maxInstances, the instances unchanged the longest leave (their counts are lost). */
  private evict(): void {
    const max = this.decl.maxInstances ?? 65536;
    if (this.instances.size <= max) return;
    const victims = [...this.instances.values()].sort((a, b) => a.changed - b.changed).slice(0, this.instances.size - max);
    for (const v of victims) this.forget(v);
    this.ctx.status.addLost(victims.length);
    this.ctx.log.warn({ evicted: victims.length, max }, 'too many instances: the longest-unchanged left');
  }

  private forget(inst: Instance): void {
    this.instances.delete(inst.name);
    if (this.byId.get(inst.id) === inst) this.byId.delete(inst.id);
    if (this.indom && inst.id !== PM_IN_NULL) this.indom.deactivate(inst.id);
    for (const e of this.entries.values()) if (e.inst === inst) e.inst = null;
  }

  private prune(): void {
    const g = this.decl.gone;
    if (!g || !this.map) return;
    const now = Date.now();
    if (now - this.prunedAt < g.everyMs) return;
    this.prunedAt = now;
    const dead = new Set<Instance>();
    for (const [id, e] of this.entries) {
      if (!e.inst) continue;
      const key = Buffer.from(id, 'latin1');
      if (!g.test(e.inst.name, key, this.ctx)) continue;
      this.map.delete(key);
      this.entries.delete(id);
      dead.add(e.inst);
    }
    const drop = typeof g.drop === 'function' ? g.drop(this.ctx.config) : g.drop;
    if (drop) for (const inst of dead) this.forget(inst);
  }

  fetch(item: number): FetchResult {
    const m = this.decl.metrics.find((x) => x.item === item);
    if (!m) return PM_ERR.PMID;
    if (!this.map && this.generation === 0) return PM_ERR.AGAIN;
    const out: { inst: number; value: number | bigint }[] = [];
    for (const inst of this.instances.values()) {
      const t = Object.fromEntries(this.fields.map((f, i) => [f, inst.sums[i]!])) as Record<F, bigint>;
      const v = m.value(t);
      if (v !== undefined) out.push({ inst: inst.id, value: v });
    }
    if (this.indom) out.sort((a, b) => a.inst - b.inst);
    return out;
  }

  /** Current totals by instance name (tests, benchmarks). */
  totals(): Map<string, Record<F, bigint>> {
    const out = new Map<string, Record<F, bigint>>();
    for (const inst of this.instances.values()) out.set(inst.name, Object.fromEntries(this.fields.map((f, i) => [f, inst.sums[i]!])) as Record<F, bigint>);
    return out;
  }
}

function hasMap(obj: BpfObject, name: string): boolean {
  try {
    obj.map(name);
    return true;
  } catch {
    return false;
  }
}

/** The ModuleSpec of a keyed-counter tool: metric specs and pmns/help come from the declaration. */
export function defineKeyedCounter<S extends ConfigSchema, F extends string>(decl: KeyedCounterDecl<S, F>): ModuleSpec<S> {
  const indom = decl.indom?.serial ?? null;
  return defineModule({
    name: decl.name,
    cluster: decl.cluster,
    defaultEnabled: decl.defaultEnabled,
    metrics: decl.metrics.map(({ value: _v, type, ...m }) => ({ ...m, type: type ?? PM_TYPE.U64, indom })),
    indoms: decl.indom ? [decl.indom] : [],
    config: decl.config,
    create: (ctx) => new KeyedCounterTool(ctx, decl),
  });
}

/** Common derived values. */
export const derive = {
  /** Average of a total over a count (0 calls: no value). */
  avg<F extends string>(total: F, count: F) {
    return (t: Readonly<Record<F, bigint>>) => (t[count] === 0n ? undefined : Number(t[total]) / Number(t[count]));
  },
  field<F extends string>(f: F) {
    return (t: Readonly<Record<F, bigint>>) => t[f];
  },
};

