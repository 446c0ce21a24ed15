// A scripted stand-in for pmproxy's /pmapi, for testing the page's rendering layer alone
// (ui.test.ts). The proof against the real pmproxy and agent is e2e-live.test.ts.
import type { Route } from 'playwright-core';

interface FakeMetric {
  pmid: string;
  indom: string | null;
  type: string;
  sem: string;
  units: string;
  /** instance id → [name, value] at fetch number n */
  values: (n: number) => Map<number | null, [string, number | string]>;
}

export class FakePmproxy {
  fetches = 0;
  contexts = 0;
  private ctx = 1000;
  private forget = new Set<number>();
  stores: string[] = [];
  /** Accept bcc.proc.profile start/stop (the agent's allow_store = true). */
  allowStore = false;
  private profile = '{"status":"stopped","data":null}';
  readonly metrics = new Map<string, FakeMetric>();

  constructor() {
    const hist = (pmid: string, indom: string, buckets: (n: number) => [number, string, number][]): FakeMetric => ({
      pmid,
      indom,
      type: 'u64',
      sem: 'counter',
      units: 'count',
      values: (n) => new Map(buckets(n).map(([id, name, v]) => [id, [name, v]])),
    });
    // Bucket "256-511" (id 8) only appears from the 3rd fetch on: it must land above "2-3".
    this.metrics.set(
      'bcc.runq.latency',
      hist('149.4.0', '149.4', (n) => [
        [0, '0-1', 100 * n],
        [1, '2-3', 40 * n],
        ...(n >= 3 ? ([[8, '256-511', 25 * (n - 2)]] as [number, string, number][]) : []),
      ]),
    );
    this.metrics.set('bcc.disk.all.latency', hist('149.0.0', '149.0', (n) => [[5, '64-127', 7 * n]]));
    // execsnoop: 2 new execs per fetch, a ring of 5 slots, newest in slot 0.
    const ring = (leaf: string, type: string, f: (seq: number) => number | string): FakeMetric => ({
      pmid: `149.8.${leaf}`,
      indom: '149.8',
      type,
      sem: 'instant',
      units: 'none',
      values: (n) => {
        const m = new Map<number | null, [string, number | string]>();
        const newest = 2 * n;
        for (let slot = 0; slot < 5 && newest - slot > 0; slot++) m.set(slot, [String(slot), f(newest - slot)]);
        return m;
      },
    });
    this.metrics.set('bcc.proc.exec.comm', ring('comm', 'string', () => 'true'));
    this.metrics.set('bcc.proc.exec.pid', ring('pid', 'u32', (s) => 5000 + s));
    this.metrics.set('bcc.proc.exec.ppid', ring('ppid', 'u32', () => 1));
    this.metrics.set('bcc.proc.exec.ret', ring('ret', '32', () => 0));
    this.metrics.set('bcc.proc.exec.args', ring('args', 'string', (s) => `/bin/true ui-marker-${s}`));
    this.metrics.set('bcc.proc.exec.seq', ring('seq', 'u64', (s) => s));
    const one = (pmid: string, type: string, v: number | string): FakeMetric => ({
      pmid,
      indom: '149.3',
      type,
      sem: 'instant',
      units: 'none',
      values: () => new Map([[0, ['0', v]]]),
    });
    this.metrics.set('bcc.proc.io.net.tcp.pid', one('149.3.0', 'u32', 4321));
    this.metrics.set('bcc.proc.io.net.tcp.comm', one('149.3.1', 'string', 'node'));
    this.metrics.set('bcc.proc.io.net.tcp.laddr', one('149.3.2', 'string', '127.0.0.1'));
    this.metrics.set('bcc.proc.io.net.tcp.lport', one('149.3.3', 'u32', 40000));
    this.metrics.set('bcc.proc.io.net.tcp.daddr', one('149.3.4', 'string', '127.0.0.1'));
    this.metrics.set('bcc.proc.io.net.tcp.dport', one('149.3.5', 'u32', 5555));
    this.metrics.set('bcc.proc.io.net.tcp.tx', one('149.3.6', 'u64', 3_456_789));
    this.metrics.set('bcc.proc.io.net.tcp.rx', one('149.3.7', 'u64', 12));
    this.metrics.set('bcc.proc.io.net.tcp.duration', one('149.3.8', 'u32', 2_500_000));
    this.metrics.set('bcc.proc.io.net.tcp.seq', one('149.3.9', 'u64', 1));
    const mods = ['runqlat', 'biotop', 'execsnoop'];
    const perModule = (pmid: string, type: string, sem: string, f: (mod: string, n: number) => number | string): FakeMetric => ({
      pmid,
      indom: '149.300',
      type,
      sem,
      units: 'none',
      values: (n) => new Map(mods.map((m, i) => [i, [m, f(m, n)]])),
    });
    this.metrics.set('bcc.pmda.version', { pmid: '149.300.0', indom: null, type: 'string', sem: 'discrete', units: 'none', values: () => new Map([[null, ['', '0.1.0']]]) });
    this.metrics.set('bcc.pmda.module.state', perModule('149.300.1', 'string', 'instant', (m) => (m === 'biotop' ? 'failed' : 'running')));
    this.metrics.set('bcc.pmda.module.error', perModule('149.300.2', 'string', 'instant', (m) => (m === 'biotop' ? 'no tracepoint block:block_io_start' : '')));
    this.metrics.set('bcc.pmda.module.variant', perModule('149.300.3', 'string', 'instant', (m) => (m === 'biotop' ? '' : 'tp_btf')));
    this.metrics.set('bcc.pmda.module.lost', perModule('149.300.4', 'u64', 'counter', (m, n) => (m === 'execsnoop' && n >= 4 ? 17 : 0)));
    this.metrics.set('bcc.proc.stacks', {
      pmid: '149.14.1',
      indom: '149.14',
      type: 'u64',
      sem: 'counter',
      units: 'count',
      values: (n) =>
        new Map([
          [3, ['burner,42\n_start\nmain\ndashboard_burner_spin', 50 * n]],
          [9, ['dd,7\n_start\nmain\nwrite\nvfs_write', 5 * n]],
        ]),
    });
    this.metrics.set('bcc.proc.profile', { pmid: '149.14.0', indom: null, type: 'string', sem: 'instant', units: 'none', values: () => new Map([[null, ['', this.profile]]]) });
  }

  /** Make pmproxy forget the current context before the next request. */
  forgetContext(): void {
    this.forget.add(this.ctx);
  }

  private reply(route: Route, status: number, body: unknown): Promise<void> {
    return route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) });
  }

  async handle(route: Route): Promise<void> {
    const url = new URL(route.request().url());
    const m = /^\/pmapi\/(?:(\d+)\/)?(\w+)$/.exec(url.pathname);
    if (!m) return this.reply(route, 400, { message: 'no handler', success: false });
    const ctx = m[1] ? Number(m[1]) : null;
    const verb = m[2]!;
    const p = url.searchParams;
    if (verb === 'context') {
      this.ctx++;
      this.contexts++;
      return this.reply(route, 200, { context: this.ctx, hostspec: 'fakehost', labels: { hostname: 'fakehost' } });
    }
    if (ctx === null || ctx !== this.ctx || this.forget.has(ctx)) {
      return this.reply(route, 400, { context: ctx, message: `unknown context identifier: ${ctx}`, success: false });
    }
    const names = (p.get('names') ?? p.get('name') ?? '').split(',').filter(Boolean);
    switch (verb) {
      case 'metric':
        return this.reply(route, 200, {
          context: ctx,
          metrics: names.map((n) => {
            const x = this.metrics.get(n);
            return x ? { name: n, pmid: x.pmid, indom: x.indom, type: x.type, sem: x.sem, units: x.units } : { name: n, message: 'Unknown metric name', success: false };
          }),
        });
      case 'fetch': {
        this.fetches++;
        const n = this.fetches;
        const values = names
          .filter((name) => this.metrics.has(name))
          .map((name) => {
            const x = this.metrics.get(name)!;
            return { pmid: x.pmid, name, instances: [...x.values(n)].map(([instance, [, value]]) => ({ instance, value })) };
          });
        return this.reply(route, 200, { context: ctx, timestamp: 1_800_000_000 + n, values });
      }
      case 'indom': {
        const x = this.metrics.get(names[0]!);
        if (!x) return this.reply(route, 400, { message: `${names[0]} - failed to lookup metric`, success: false });
        const want = p.get('instance')?.split(',').map(Number);
        const all = new Map<number, string>();
        for (let n = 1; n <= this.fetches + 1; n++) for (const [id, [iname]] of x.values(n)) if (id !== null) all.set(id, iname);
        const instances = [...all].filter(([id]) => !want || want.includes(id)).map(([instance, name]) => ({ instance, name }));
        return this.reply(route, 200, { context: ctx, indom: x.indom, instances });
      }
      case 'children':
        return this.reply(route, 400, { message: 'child traversal failed - Unknown metric name', success: false });
      case 'store':
        this.stores.push(`${p.get('name')}=${p.get('value')}`);
        if (this.allowStore && p.get('name') === 'bcc.proc.profile') {
          // pmdabcc's tree: root, comm, user frames outermost first, then kernel frames.
          const tree = {
            name: 'root',
            libtype: '',
            value: 40,
            children: [
              {
                name: 'burner',
                libtype: 'user',
                value: 40,
                children: [
                  { name: 'main', libtype: 'user', value: 40, children: [{ name: 'profile_hot_fn', libtype: 'user', value: 30, children: [{ name: 'asm_sysvec_apic_timer_interrupt', libtype: 'kernel', value: 4, children: [] }] }] },
                ],
              },
            ],
          };
          this.profile = JSON.stringify(p.get('value') === 'start' ? { status: 'started', data: null } : { status: 'stopped', data: tree });
          return this.reply(route, 200, { context: ctx, success: true });
        }
        return this.reply(route, 400, {
          context: ctx,
          message: `failed to store value to metric ${p.get('name')}: No permission to perform requested operation`,
          success: false,
        });
      default:
        return this.reply(route, 400, { message: `no handler for ${verb}`, success: false });
    }
  }
}
