// usdt_hits → bcc.usdt.hits (pmdabcc cluster 101): firings of USDT probes, per
// `<binary path>::<probe>`, through libbpf's USDT support (bpf/uhits.bpf.c, program usdt_hit;
// the attach cookie is the instance's index). Probe names in `usdts` are regexes matched
// against the binary's .note.stapsdt.
//
// With `process`, every matching process is attached on its own (pmdabcc traced only the
// first) and the set follows a rescan every process_refresh seconds; a process that exits
// releases its uprobes. Without `process` (pmdabcc refused that) the probes are attached for
// every process that runs the binary, present and future, with one uprobe per probe site: the
// kernel keeps each process's semaphore raised for as long as the probe is attached.
import type { BpfLink, BpfObject } from '../bpf';
import { PM_SEM } from '../pcp/types';
import { ModuleUnavailable, UNITS } from '../pmda/module';
import { readUsdtProbes } from './profile/stapsdt';
import { processKey, processRefreshKey, type ProcessSpec } from './shared/filter';
import { defineKeyedCounter, derive } from './shared/keyed-counter';
import { targetProbeListKey, type ProbeItem } from './shared/probe-list';
import { NotAttachable, ProcessAttachments, attachEach, probeFilesOf, sameFile } from './shared/usdt-procs';

interface Target {
  /** Instance name: binary::probe */
  name: string;
  binary: string;
  provider: string;
  probe: string;
}

/** Expand the configured items against each binary's notes; items that match nothing are reported. */
export function expandUsdts(items: readonly ProbeItem[]): { targets: Target[]; unmatched: string[] } {
  const targets: Target[] = [];
  const unmatched: string[] = [];
  const seen = new Set<string>();
  for (const it of items) {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${it.probe})$`);
    } catch (e) {
      throw new ModuleUnavailable(`usdts: "${it.probe}" is not a usable regular expression: ${(e as Error).message}`);
    }
    let probes;
    try {
      probes = readUsdtProbes(it.target);
    } catch (e) {
      unmatched.push(`${it.target}:${it.probe} (${(e as Error).message})`);
      continue;
    }
    if (probes.length === 0) {
      unmatched.push(`${it.target}:${it.probe} (${it.target} has no USDT probes)`);
      continue;
    }
    let n = 0;
    for (const p of probes) {
      if (!re.test(p.name)) continue;
      n++;
      const name = `${it.target}::${p.name}`;
      if (seen.has(name)) continue;
      seen.add(name);
      targets.push({ name, binary: it.target, provider: p.provider, probe: p.name });
    }
    if (n === 0) unmatched.push(`${it.target}:${it.probe} (no such probe; it has ${[...new Set(probes.map((p) => p.name))].join(', ')})`);
  }
  return { targets, unmatched };
}

interface State {
  targets: Target[];
  unmatched: string[];
  procs: ProcessAttachments | null;
}
const states = new WeakMap<object, State>();

function attachAll(obj: BpfObject, targets: readonly Target[], all: readonly Target[], pid: number): BpfLink[] {
  return attachEach(targets, (t) => obj.attachUsdt('usdt_hit', { binary: t.binary, provider: t.provider, name: t.probe, pid, cookie: all.indexOf(t) }));
}

export const usdtHits = defineKeyedCounter({
  name: 'usdt_hits',
  cluster: 101,
  // pmdabcc shipped it off.
  defaultEnabled: false,
  indom: {
    serial: 101,
    oneline: 'USDT probes as binary::probe',
    help: 'One instance per USDT probe matched by the usdts option, named <binary path>::<probe name>.\n',
  },
  object: 'uhits.bpf.o',
  config: {
    usdts: targetProbeListKey(
      'usdts',
      '',
      'USDT probes to count: a comma list of <binary path>:<probe> where probe is a regular expression matched against the probe names in the binary (readelf -n), or a file with one per line (relative names are in /etc/pcp/ebpf).',
    ),
    process: {
      ...processKey(),
      doc:
        'Only these processes (PIDs, names, regular expressions as in pmdabcc); each is attached on its own and processes started later are picked up. ' +
        'Unset: every process running the binaries, present and future (pmdabcc required this option).',
    } satisfies ReturnType<typeof processKey>,
    process_refresh: processRefreshKey(),
  },
  hooks: (c, ctx) => {
    if (c.usdts.length === 0) throw new ModuleUnavailable('no usdts configured (set usdts = <binary path>:<probe regex>,...)');
    const { targets, unmatched } = expandUsdts(c.usdts);
    if (unmatched.length) ctx.log.warn({ unmatched }, 'usdts that match no probe');
    if (targets.length === 0) throw new ModuleUnavailable(`no matching USDT probes: ${unmatched.join('; ')}`);
    ctx.log.info({ usdts: targets.map((t) => t.name) }, `found ${targets.length} USDT probes`);
    states.set(ctx, { targets, unmatched, procs: null });
    const systemWide = c.process === null;
    return [
      {
        name: 'usdt',
        variants: [
          {
            name: 'usdt',
            programs: ['usdt_hit'],
            available: () => true,
            attach: (obj) => (systemWide ? attachAll(obj, targets, targets, -1) : []),
          },
        ],
      },
    ];
  },
  started(loaded, ctx) {
    const st = states.get(ctx)!;
    const c = ctx.config;
    const tail = st.unmatched.length ? `; unmatched: ${st.unmatched.join('; ')}` : '';
    if (c.process === null) {
      ctx.status.setVariant(`usdt all processes${tail}`);
      return;
    }
    const binaries = [...new Set(st.targets.map((t) => t.binary))];
    const procs = new ProcessAttachments(
      c.process as ProcessSpec,
      (pid) => {
        const mapped = probeFilesOf(pid);
        const mine = st.targets.filter((t) => mapped.some((f) => sameFile(f.file, t.binary)));
        if (mine.length === 0) throw new NotAttachable(`maps none of ${binaries.join(', ')}`);
        return { links: attachAll(loaded.obj, mine, st.targets, pid), what: [...new Set(mine.map((t) => t.binary))].join('+') };
      },
      ctx.log,
      c.process_refresh * 1000,
      () => ctx.status.setVariant(procs.summary('usdt') + tail),
    );
    st.procs = procs;
    procs.start();
    ctx.status.setVariant(procs.summary('usdt') + tail);
    return () => procs.stop();
  },
  keyName: (key, _c, ctx) => states.get(ctx)?.targets[key.readUInt32LE(4)]?.name ?? null,
  value: { struct: 'hit_counts', sum: ['hits'] },
  metrics: [
    {
      name: 'bcc.usdt.hits',
      item: 0,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      oneline: 'USDT hit count',
      help:
        'USDT hit count: firings of each USDT probe matched by the usdts option since the agent started, in the processes chosen by the ' +
        'process option (every matching process, including ones started later), or in every process running the binary when process is unset.\n',
      value: derive.field('hits'),
    },
  ],
});
