// grafana-pcp's "PCP Vector: eBPF/BCC Overview" dashboard (grafana-pcp v6.1.0,
// src/datasources/vector/dashboards/pcp-vector-bcc-overview.jsonnet) sends these exact
// queries through pmproxy's /pmapi the way its Vector datasource does (context with
// hostspec pcp://127.0.0.1 and polltimeout = refresh 1 s + grace 10 s; one /metric call for all
// targets; one /fetch per refresh for all targets; /indom of a metric when new instance ids
// appear). Every target must come back in the shape its panel needs.
//
// Needs the real agent installed in pmcd (the lead's Install); until then it fails on missing
// metrics, which is what a Grafana user would see too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loopbackTransfer, startDd, type Running, type Transfer } from '../../bench/web-workloads';

const PMPROXY = process.env.PMPROXY_URL ?? 'http://localhost:44322';

const HEATMAP_TARGETS = ['bcc.runq.latency', 'bcc.disk.all.latency'];
const TCPTOP_TARGETS = ['pid', 'comm', 'laddr', 'lport', 'daddr', 'dport', 'rx', 'tx'].map((l) => `bcc.proc.io.net.tcptop.${l}`);
const TCPLIFE_TARGETS = ['pid', 'comm', 'laddr', 'lport', 'daddr', 'dport', 'rx', 'tx', 'duration'].map((l) => `bcc.proc.io.net.tcp.${l}`);
const ALL_TARGETS = [...HEATMAP_TARGETS, ...TCPTOP_TARGETS, ...TCPLIFE_TARGETS];
// grafana-pcp data_processor.ts: number fields are these PCP types; anything else is "other".
const NUMBER_TYPES = ['32', 'u32', '64', 'u64', 'float', 'double'];
// The heatmap's series name is group 2 of this regex on the instance name (upper bound).
const HEATMAP_NAME = /^(.+?)\-(.+?)$/;

interface Meta {
  name: string;
  indom: string | null;
  type: string;
  sem: string;
  success?: boolean;
}
interface FetchReply {
  timestamp: number;
  values: { name: string; instances: { instance: number | null; value: number | string }[] }[];
}

async function api<T>(path: string, params: Record<string, string>): Promise<T> {
  const res = await fetch(`${PMPROXY}${path}?${new URLSearchParams(params)}`);
  const body = (await res.json()) as T & { message?: string };
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${body.message ?? ''}`);
  return body;
}

/** What the Vector datasource's poller keeps per metric. */
class GrafanaPoller {
  ctx = 0;
  meta = new Map<string, Meta>();
  instances = new Map<string, Map<number, string>>();
  snapshots: FetchReply[] = [];

  async init(): Promise<string[]> {
    const c = await api<{ context: number }>('/pmapi/context', { hostspec: 'pcp://127.0.0.1', polltimeout: '11' });
    this.ctx = c.context;
    const r = await api<{ metrics: Meta[] }>(`/pmapi/${this.ctx}/metric`, { names: ALL_TARGETS.join(',') });
    for (const m of r.metrics) if (m.success !== false) this.meta.set(m.name, m);
    return ALL_TARGETS.filter((n) => !this.meta.has(n));
  }

  async poll(): Promise<FetchReply> {
    const r = await api<FetchReply>(`/pmapi/${this.ctx}/fetch`, { names: ALL_TARGETS.join(',') });
    for (const v of r.values) {
      const known = this.instances.get(v.name) ?? new Map<number, string>();
      this.instances.set(v.name, known);
      if (v.instances.some((i) => i.instance !== null && !known.has(i.instance))) {
        const ind = await api<{ instances: { instance: number; name: string }[] }>(`/pmapi/${this.ctx}/indom`, { name: v.name });
        for (const i of ind.instances) known.set(i.instance, i.name);
      }
    }
    this.snapshots.push(r);
    return r;
  }

  values(name: string, snap = this.snapshots[this.snapshots.length - 1]!): Map<number, number | string> {
    const v = snap.values.find((x) => x.name === name);
    return new Map((v?.instances ?? []).map((i) => [i.instance as number, i.value]));
  }
}

const g = new GrafanaPoller();
let missing: string[] = [];
let dd: Running | undefined;
let transfer: Transfer | undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** bcc.pmda.module.state by module name, to say why a table is empty. */
const moduleStates = new Map<string, string>();

beforeAll(async () => {
  missing = await g.init();
  try {
    const st = await api<FetchReply>(`/pmapi/${g.ctx}/fetch`, { names: 'bcc.pmda.module.state' });
    const ind = await api<{ instances: { instance: number; name: string }[] }>(`/pmapi/${g.ctx}/indom`, { name: 'bcc.pmda.module.state' });
    const names = new Map(ind.instances.map((i) => [i.instance, i.name]));
    for (const i of st.values[0]?.instances ?? []) moduleStates.set(names.get(i.instance as number) ?? String(i.instance), String(i.value));
  } catch {
    // Only for messages; an agent without bcc.pmda.* is still checked below.
  }
  if (missing.length > 0) return;
  dd = startDd();
  await g.poll();
  // A transfer that spans several tcptop intervals; poll while it runs, and after it closed.
  const t = loopbackTransfer(2_500_000, 3);
  for (let i = 0; i < 4; i++) {
    await sleep(1000);
    await g.poll();
  }
  transfer = await t;
  for (let i = 0; i < 2; i++) {
    await sleep(1000);
    await g.poll();
  }
}, 60_000);

afterAll(() => dd?.stop());

describe('grafana-pcp "PCP Vector: eBPF/BCC Overview" through pmproxy', () => {
  it('every target of the dashboard is a metric the agent exports', () => {
    expect(missing, `missing metrics (agent not installed in pmcd, or a module not running): ${missing.join(', ')}`).toEqual([]);
  });

  it('every target comes back in every fetch, or the panel shows "metric not found"', () => {
    expect(missing).toEqual([]);
    for (const snap of g.snapshots) expect(snap.values.map((v) => v.name).sort()).toEqual([...ALL_TARGETS].sort());
  });

  it('heatmaps: counters with an instance domain whose names are "lo-hi" with numeric bounds', () => {
    expect(missing).toEqual([]);
    for (const name of HEATMAP_TARGETS) {
      const m = g.meta.get(name)!;
      expect(m.sem, name).toBe('counter');
      expect(m.indom, name).not.toBeNull();
      expect(NUMBER_TYPES, name).toContain(m.type);
      const inst = g.instances.get(name)!;
      expect(inst.size, `${name} has buckets`).toBeGreaterThan(0);
      const byId = [...inst].sort((a, b) => a[0] - b[0]);
      let prevUpper = -Infinity;
      for (const [id, iname] of byId) {
        const match = HEATMAP_NAME.exec(iname);
        expect(match, `${name} instance ${id} "${iname}"`).not.toBeNull();
        const lo = Number(match![1]);
        const hi = Number(match![2]);
        expect(Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi, `${name} "${iname}"`).toBe(true);
        // Vector v2 draws rows by instance id: ids must rise with the bucket bounds.
        expect(hi, `${name}: ids rise with bucket order`).toBeGreaterThan(prevUpper);
        prevUpper = hi;
      }
    }
  });

  it('heatmaps: rate conversion gives events/s in some bucket (run queue always; disk with dd running)', () => {
    expect(missing).toEqual([]);
    for (const name of HEATMAP_TARGETS) {
      const snaps = g.snapshots;
      const first = g.values(name, snaps[0]!);
      const last = g.values(name, snaps[snaps.length - 1]!);
      const dt = snaps[snaps.length - 1]!.timestamp - snaps[0]!.timestamp;
      let events = 0;
      for (const [id, v] of last) events += (Number(v) - Number(first.get(id) ?? 0)) / dt;
      expect(events, `${name} events/s over the test`).toBeGreaterThan(0);
    }
  });

  it.each([
    ['active TCP sessions', TCPTOP_TARGETS],
    ['tcp lifespans', TCPLIFE_TARGETS],
  ] as const)('table "%s": leaf names give the columns, and the transfer shows as a row with every column filled', (_title, targets) => {
    expect(missing).toEqual([]);
    const portLeaf = 'lport';
    const prefix = targets[0]!.slice(0, targets[0]!.lastIndexOf('.') + 1);
    expect(targets.map((t) => t.slice(prefix.length))).toEqual(targets.map((t) => t.split('.').pop()));
    for (const t of targets) {
      const m = g.meta.get(t)!;
      expect(m.indom, `${t} has instances (one row per instance)`).not.toBeNull();
      const leaf = t.split('.').pop()!;
      if (['comm', 'laddr', 'daddr'].includes(leaf)) expect(m.type, t).toBe('string');
      else expect(NUMBER_TYPES, t).toContain(m.type);
    }
    // metrics_table: one row per instance id that has a value; the cell is the last value.
    const rowsOf = (snap: FetchReply) => {
      const ids = new Set<number>();
      for (const t of targets) for (const id of g.values(t, snap).keys()) ids.add(id);
      return [...ids].map((id) => Object.fromEntries(targets.map((t) => [t.split('.').pop()!, g.values(t, snap).get(id)])));
    };
    const ports = [transfer!.serverPort, transfer!.clientPort];
    const rows = g.snapshots.flatMap(rowsOf).filter((r) => ports.includes(Number(r[portLeaf])));
    const module = prefix.includes('tcptop') ? 'tcptop' : 'tcplife';
    expect(rows.length, `${prefix}* shows the loopback transfer (ports ${ports.join(', ')}); agent module ${module}: ${moduleStates.get(module) ?? 'unknown'}`).toBeGreaterThan(0);
    const full = rows.find((r) => targets.every((t) => r[t.split('.').pop()!] !== undefined));
    expect(full, `${prefix}* row with every column`).toBeDefined();
    expect(full!.laddr).toBe('127.0.0.1');
    expect(full!.daddr).toBe('127.0.0.1');
  });
});
