// A client for pmproxy's /pmapi REST API (PMWEBAPI(3)) that keeps one context alive: it creates
// the context, re-creates it when pmproxy forgets it (restart, or polltimeout expiry while the tab
// slept) and retries the request once. Works with the browser's and Node's fetch.

export interface ContextInfo {
  context: number;
  hostspec: string;
  source?: string;
  labels: Record<string, unknown>;
}

export interface MetricMeta {
  name: string;
  pmid: string;
  indom: string | null;
  type: string;
  sem: string;
  units: string;
  labels?: Record<string, unknown>;
  'text-oneline'?: string;
  'text-help'?: string;
}

export interface FetchInstance {
  instance: number | null;
  value: number | string;
}

export interface FetchMetric {
  pmid: string;
  name: string;
  instances: FetchInstance[];
}

export interface FetchResponse {
  context: number;
  timestamp: number;
  values: FetchMetric[];
}

export interface IndomInstance {
  instance: number;
  name: string;
  labels?: Record<string, unknown>;
}

export interface IndomResponse {
  indom: string;
  instances: IndomInstance[];
  labels?: Record<string, unknown>;
}

/** pmproxy answered with an error (HTTP status and its message). */
export class PmapiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'PmapiError';
  }
}

/** pmproxy (or the dashboard server in front of it) could not be reached. */
export class PmapiUnreachable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PmapiUnreachable';
  }
}

/** A store that pmcd or the agent refused, with pmproxy's reason. */
export class StoreRefused extends Error {
  constructor(
    readonly metric: string,
    readonly reason: string,
    readonly permission: boolean,
  ) {
    super(`store to ${metric} refused: ${reason}`);
    this.name = 'StoreRefused';
  }
}

export interface ClientOptions {
  /** Origin of the API; '' for the page's own origin (the dashboard server forwards /pmapi). */
  base?: string;
  hostspec?: string;
  /** Seconds pmproxy keeps an idle context. */
  polltimeout?: number;
  timeoutMs?: number;
  onContext?: (ctx: ContextInfo) => void;
}

function isExpired(message: string): boolean {
  return /unknown context identifier|expired context identifier/i.test(message);
}

export class PmapiClient {
  ctx: ContextInfo | null = null;
  contextsCreated = 0;
  private connecting: Promise<ContextInfo> | null = null;
  private readonly base: string;

  constructor(private readonly opts: ClientOptions = {}) {
    this.base = (opts.base ?? '').replace(/\/$/, '');
  }

  private async request(path: string, params: Record<string, string>): Promise<unknown> {
    const qs = new URLSearchParams(params).toString();
    const url = `${this.base}${path}${qs ? `?${qs}` : ''}`;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.opts.timeoutMs ?? 10_000);
    let res: Response;
    try {
      res = await fetch(url, { signal: ac.signal, headers: { Accept: 'application/json' } });
    } catch (e) {
      const why = ac.signal.aborted ? `no answer within ${this.opts.timeoutMs ?? 10_000} ms` : (e as Error).message;
      throw new PmapiUnreachable(`pmproxy unreachable (${why})`);
    } finally {
      clearTimeout(timer);
    }
    let body: unknown;
    const text = await res.text();
    try {
      body = JSON.parse(text);
    } catch {
      if (res.status >= 502 && res.status <= 504) throw new PmapiUnreachable(`pmproxy unreachable (HTTP ${res.status})`);
      throw new PmapiError(res.status, `pmproxy sent a reply that is not JSON (HTTP ${res.status}, ${text.length} bytes): ${text.slice(0, 120)}`);
    }
    const b = body as { message?: string; success?: boolean; unreachable?: boolean };
    if (res.status >= 502 && res.status <= 504) throw new PmapiUnreachable(b.message ?? `pmproxy unreachable (HTTP ${res.status})`);
    if (!res.ok || b.success === false) throw new PmapiError(res.status, b.message ?? `HTTP ${res.status}`);
    return body;
  }

  /** Create (or return) the context. Concurrent callers share one creation. */
  async connect(): Promise<ContextInfo> {
    if (this.ctx) return this.ctx;
    if (!this.connecting) {
      const params: Record<string, string> = { polltimeout: String(this.opts.polltimeout ?? 30) };
      if (this.opts.hostspec) params.hostspec = this.opts.hostspec;
      this.connecting = (this.request('/pmapi/context', params) as Promise<ContextInfo>)
        .then((c) => {
          if (typeof c?.context !== 'number') throw new PmapiError(200, 'pmproxy answered /pmapi/context without a context number');
          this.ctx = { context: c.context, hostspec: c.hostspec ?? '', source: c.source, labels: c.labels ?? {} };
          this.contextsCreated++;
          this.opts.onContext?.(this.ctx);
          return this.ctx;
        })
        .finally(() => {
          this.connecting = null;
        });
    }
    return this.connecting;
  }

  /** Forget the context (e.g. after pmproxy went away); the next call creates a new one. */
  reset(): void {
    this.ctx = null;
  }

  private async call(verb: string, params: Record<string, string>): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      const ctx = await this.connect();
      try {
        return await this.request(`/pmapi/${ctx.context}/${verb}`, params);
      } catch (e) {
        if (e instanceof PmapiError && isExpired(e.message) && attempt === 0) {
          if (this.ctx === ctx) this.ctx = null;
          continue;
        }
        if (e instanceof PmapiUnreachable) this.ctx = null;
        throw e;
      }
    }
  }

  /** Metadata of the names that exist; the rest are listed as missing. */
  /**
   * Metadata of the names that exist; the rest are listed as missing, each with pmproxy's reason
   * ("Unknown metric name": not in the namespace; "failed to lookup metric name": in the
   * namespace but its agent did not answer, e.g. while it starts).
   */
  async metrics(names: readonly string[]): Promise<{ found: MetricMeta[]; missing: string[]; reasons: Map<string, string> }> {
    const reasons = new Map<string, string>();
    if (names.length === 0) return { found: [], missing: [], reasons };
    let metrics: (MetricMeta & { success?: boolean; message?: string })[];
    try {
      const r = (await this.call('metric', { names: names.join(',') })) as { metrics: (MetricMeta & { success?: boolean; message?: string })[] };
      metrics = r.metrics ?? [];
    } catch (e) {
      // A single unknown name is an HTTP 400 rather than a list entry.
      if (e instanceof PmapiError && /Unknown metric name|failed to lookup/i.test(e.message)) {
        for (const n of names) reasons.set(n, e.message);
        return { found: [], missing: [...names], reasons };
      }
      throw e;
    }
    const found = metrics.filter((m) => m.success !== false && typeof m.pmid === 'string');
    for (const m of metrics) if (m.success === false) reasons.set(m.name, m.message ?? 'not found');
    const have = new Set(found.map((m) => m.name));
    return { found, missing: names.filter((n) => !have.has(n)), reasons };
  }

  async fetch(names: readonly string[]): Promise<FetchResponse> {
    const r = (await this.call('fetch', { names: names.join(',') })) as FetchResponse;
    if (typeof r.timestamp !== 'number' || !Array.isArray(r.values)) throw new PmapiError(200, 'pmproxy fetch reply has no timestamp/values');
    return r;
  }

  /** Instances of a metric's indom; only `instances` when given (pmproxy's order is not sorted). */
  async indom(metric: string, instances?: readonly number[]): Promise<IndomResponse> {
    const params: Record<string, string> = { name: metric };
    if (instances && instances.length > 0) params.instance = instances.join(',');
    const r = (await this.call('indom', params)) as IndomResponse;
    if (!Array.isArray(r.instances)) throw new PmapiError(200, `pmproxy indom reply for ${metric} has no instances`);
    return r;
  }

  async children(prefix: string): Promise<{ leaf: string[]; nonleaf: string[] }> {
    try {
      const r = (await this.call('children', { prefix })) as { leaf?: string[]; nonleaf?: string[] };
      return { leaf: r.leaf ?? [], nonleaf: r.nonleaf ?? [] };
    } catch (e) {
      if (e instanceof PmapiError && /Unknown metric name/i.test(e.message)) return { leaf: [], nonleaf: [] };
      throw e;
    }
  }

  async store(metric: string, value: string): Promise<void> {
    try {
      await this.call('store', { name: metric, value });
    } catch (e) {
      if (e instanceof PmapiError) {
        const permission = /No permission|PM_ERR_PERMISSION|permission/i.test(e.message);
        throw new StoreRefused(metric, e.message, permission);
      }
      throw e;
    }
  }
}
