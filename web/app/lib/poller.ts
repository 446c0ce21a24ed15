// One fetch per refresh for every metric the open panels want, with metadata discovery and
// instance-name resolution in between (names are looked up only for instance ids not seen
// before, like grafana-pcp's poller, and only for metrics whose panels need names).
import { PmapiClient, type ContextInfo, type FetchInstance, type MetricMeta } from './pmapi-client';

export interface Snapshot {
  /** pmproxy timestamp, seconds. */
  t: number;
  ctx: ContextInfo;
  values: Map<string, FetchInstance[]>;
  meta: ReadonlyMap<string, MetricMeta>;
  /** Wanted names the agent does not export (right now). */
  missing: ReadonlySet<string>;
  /** pmproxy's reason for each missing name. */
  missingReasons: ReadonlyMap<string, string>;
}

export interface PollRequest {
  names: readonly string[];
  /** Subset of `names` whose instance names must be resolved before the panels see them. */
  needNames: ReadonlySet<string>;
}

export class Poller {
  readonly meta = new Map<string, MetricMeta>();
  readonly missing = new Set<string>();
  readonly missingReasons = new Map<string, string>();
  /** indom id ("149.4") → instance id → name */
  readonly instanceNames = new Map<string, Map<number, string>>();
  private lastDiscovery = -Infinity;
  private discoveredCtx = -1;

  constructor(
    readonly client: PmapiClient,
    private readonly rediscoverMs = 10_000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  private async discover(names: readonly string[]): Promise<void> {
    const unknown = names.filter((n) => !this.meta.has(n));
    const ctx = this.client.ctx?.context ?? -1;
    const stale = this.now() - this.lastDiscovery >= this.rediscoverMs;
    const ctxChanged = ctx !== this.discoveredCtx;
    // New names are looked up at once; names known missing only every rediscoverMs (the agent
    // may be installed, or a module enabled, while the page is open).
    const toAsk = ctxChanged || stale ? names : unknown.filter((n) => !this.missing.has(n));
    if (toAsk.length === 0) return;
    const { found, missing, reasons } = await this.client.metrics(toAsk);
    for (const m of found) {
      this.meta.set(m.name, m);
      this.missing.delete(m.name);
      this.missingReasons.delete(m.name);
    }
    for (const n of missing) {
      this.meta.delete(n);
      this.missing.add(n);
      this.missingReasons.set(n, reasons.get(n) ?? 'not found');
    }
    if (ctxChanged || stale) {
      this.lastDiscovery = this.now();
      this.discoveredCtx = this.client.ctx?.context ?? -1;
    }
  }

  nameOf(metric: string, inst: number): string | undefined {
    const indom = this.meta.get(metric)?.indom;
    return indom ? this.instanceNames.get(indom)?.get(inst) : undefined;
  }

  namesOf(metric: string): ReadonlyMap<number, string> {
    const indom = this.meta.get(metric)?.indom;
    return (indom && this.instanceNames.get(indom)) || new Map();
  }

  /** Drop names no longer needed (stack names can be long and many). */
  forgetNames(metric: string, keep: ReadonlySet<number>): void {
    const indom = this.meta.get(metric)?.indom;
    const names = indom ? this.instanceNames.get(indom) : undefined;
    if (!names) return;
    for (const id of names.keys()) if (!keep.has(id)) names.delete(id);
  }

  /** Look up the instance ids not seen before, one request per indom (metrics can share one). */
  private async resolveNames(metrics: readonly string[], values: ReadonlyMap<string, FetchInstance[]>): Promise<void> {
    const byIndom = new Map<string, { metric: string; ids: Set<number> }>();
    for (const metric of metrics) {
      const indom = this.meta.get(metric)?.indom;
      if (!indom) continue;
      let names = this.instanceNames.get(indom);
      if (!names) {
        names = new Map();
        this.instanceNames.set(indom, names);
      }
      for (const i of values.get(metric) ?? []) {
        if (i.instance === null || names.has(i.instance)) continue;
        let e = byIndom.get(indom);
        if (!e) byIndom.set(indom, (e = { metric, ids: new Set() }));
        e.ids.add(i.instance);
      }
    }
    await Promise.all(
      [...byIndom].map(async ([indom, { metric, ids }]) => {
        // Ask for just the new ids: a histogram or stack indom reply can be large.
        const r = await this.client.indom(metric, ids.size <= 200 ? [...ids] : undefined);
        const names = this.instanceNames.get(indom)!;
        for (const i of r.instances) names.set(i.instance, i.name);
      }),
    );
  }

  async poll(req: PollRequest): Promise<Snapshot> {
    const ctx = await this.client.connect();
    // Fetch at the same time as the metadata is looked up: pmproxy drops names it does not know
    // from a fetch, so asking for not-yet-known names costs nothing and saves a round trip.
    const toFetch = req.names.filter((n) => !this.missing.has(n));
    const [, r] = await Promise.all([this.discover(req.names), toFetch.length > 0 ? this.client.fetch(toFetch) : Promise.resolve(null)]);
    const values = new Map<string, FetchInstance[]>();
    let t = Date.now() / 1000;
    if (r) {
      t = r.timestamp;
      for (const v of r.values) if (this.meta.has(v.name)) values.set(v.name, v.instances);
      await this.resolveNames([...values.keys()].filter((n) => req.needNames.has(n)), values);
    }
    return { t, ctx: this.client.ctx ?? ctx, values, meta: this.meta, missing: this.missing, missingReasons: this.missingReasons };
  }
}
