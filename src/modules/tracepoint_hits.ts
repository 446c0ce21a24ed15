// tracepoint_hits → bcc.tracepoint.hits (pmdabcc cluster 100): hits per `category:event`.
// `tracepoints` entries are regular expressions anchored at both ends (pmdabcc appended "$" and
// matched from the start), expanded against the running kernel's tracepoints; one generic
// program (bpf/tracepoint_hits.bpf.c) is attached to each with its slot as the BPF cookie.
// A tracepoint that will not attach is reported (log and bcc.pmda.module.variant) and the rest
// attach, as pmdabcc's compile_test did; none attaching fails the module.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tracefsRoot, type BpfLink, type BpfObject } from '../bpf';
import { PM_SEM } from '../pcp/types';
import { cfg } from '../pmda/config-schema';
import { ModuleUnavailable, UNITS, type ModuleContext } from '../pmda/module';
import { filterConfig } from './shared/filter';
import { defineKeyedCounter, derive } from './shared/keyed-counter';
import { probeListKey, type ProbeList } from './shared/probe-list';

/** The running kernel's tracepoints as "category:event". */
export function kernelTracepoints(root = tracefsRoot()): string[] {
  if (!root) throw new ModuleUnavailable('tracefs is not mounted: the kernel\'s tracepoints cannot be listed');
  const text = fs.readFileSync(path.join(root, 'available_events'), 'utf8');
  return text.split('\n').filter((l) => /^[^:\s]+:[^:\s]+$/.test(l));
}

/** Expand pmdabcc-style patterns (whole-name regexes) against the kernel's tracepoints, in configured order, no duplicates. */
export function expandTracepoints(patterns: readonly string[], available: readonly string[]): { found: string[]; unknown: string[] } {
  const found: string[] = [];
  const seen = new Set<string>();
  const unknown: string[] = [];
  for (const p of patterns) {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${p})$`);
    } catch (e) {
      throw new Error(`tracepoint pattern "${p}" is not a regular expression: ${(e as Error).message}`);
    }
    const hits = available.filter((t) => re.test(t));
    if (hits.length === 0) unknown.push(p);
    for (const t of hits) {
      if (seen.has(t)) continue;
      seen.add(t);
      found.push(t);
    }
  }
  return { found, unknown };
}

interface Plan {
  tracepoints: string[];
  failed: string[];
  notes: string[];
}
const plans = new WeakMap<object, Plan>();

function plan(c: { tracepoints: ProbeList | null; max_tracepoints: number }, ctx: ModuleContext<unknown>): Plan {
  let p = plans.get(ctx);
  if (p) return p;
  if (!c.tracepoints) throw new ModuleUnavailable('[tracepoint_hits] tracepoints is not set: name the tracepoints to count (category:event list, regexes allowed, or a file)');
  ctx.log.info({ tracepoints: c.tracepoints.items, from: c.tracepoints.source }, 'configured tracepoints');
  const { found, unknown } = expandTracepoints(c.tracepoints.items, kernelTracepoints());
  const notes: string[] = [];
  if (unknown.length) {
    ctx.log.warn({ unknown }, 'ignoring tracepoints this kernel does not have');
    notes.push(`unknown: ${unknown.join(',')}`);
  }
  if (found.length === 0) throw new ModuleUnavailable(`no matching tracepoints found on this kernel for ${c.tracepoints.items.join(',')}`);
  let tracepoints = found;
  if (found.length > c.max_tracepoints) {
    ctx.log.warn({ matched: found.length, max: c.max_tracepoints }, 'more tracepoints matched than max_tracepoints: the first ones are counted');
    notes.push(`${found.length - c.max_tracepoints} over max_tracepoints not attached`);
    tracepoints = found.slice(0, c.max_tracepoints);
  }
  ctx.log.info({ count: tracepoints.length }, `found ${tracepoints.length} tracepoints`);
  p = { tracepoints, failed: [], notes };
  plans.set(ctx, p);
  return p;
}

export function attachAll(obj: BpfObject, p: Plan, ctx: ModuleContext<unknown>): BpfLink[] {
  const links: BpfLink[] = [];
  p.tracepoints.forEach((tp, slot) => {
    const [category, event] = tp.split(':') as [string, string];
    try {
      links.push(obj.attachTracepoint('tp_hit', category, event, BigInt(slot)));
    } catch (e) {
      p.failed.push(`${tp} (${(e as Error).message})`);
      ctx.log.warn({ tracepoint: tp, err: (e as Error).message }, 'tracepoint not attached; the others are');
    }
  });
  if (links.length === 0) throw new ModuleUnavailable(`no tracepoint could be attached: ${p.failed.join('; ')}`);
  return links;
}

export const tracepoint_hits = defineKeyedCounter({
  name: 'tracepoint_hits',
  cluster: 100,
  // pmdabcc shipped it off.
  defaultEnabled: false,
  indom: {
    serial: 100,
    oneline: 'kernel tracepoints counted',
    help: 'One instance per tracepoint counted, named category:event as in tracefs (e.g. sched:sched_process_exec).\n',
  },
  object: 'tracepoint_hits.bpf.o',
  filter: true,
  config: {
    ...filterConfig(),
    tracepoints: probeListKey(
      'Tracepoints to count: a comma list of category:event, each a regular expression matched against the whole name (sched:.*), ' +
        'or a file of such lines (relative to the config directory). Required.',
    ),
    max_tracepoints: cfg.int(1000, { min: 1, max: 20000 }, 'Most tracepoints attached (each is one kernel perf event); beyond it the first ones matched are counted.'),
    compile_test: cfg.bool(true, 'pmdabcc\'s option; accepted for compatibility: each tracepoint is always tried on its own and one that cannot attach is skipped.'),
  },
  hooks: (c, ctx) => {
    const p = plan(c, ctx as ModuleContext<unknown>);
    return [
      {
        name: 'tracepoints',
        variants: [{ name: 'tracepoint', programs: ['tp_hit'], available: () => true, attach: (obj) => attachAll(obj, p, ctx as ModuleContext<unknown>) }],
      },
    ];
  },
  configure(obj, c, ctx) {
    obj.setMapMaxEntries('counts', plan(c, ctx as ModuleContext<unknown>).tracepoints.length);
  },
  started(_loaded, ctx) {
    const p = plans.get(ctx)!;
    const attached = p.tracepoints.length - p.failed.length;
    const notes = [...p.notes, ...(p.failed.length ? [`not attached: ${p.failed.join('; ')}`] : [])];
    ctx.status.setVariant(`tracepoint (${attached} of ${p.tracepoints.length} attached${notes.length ? `; ${notes.join('; ')}` : ''})`);
  },
  keyName: (key, c, ctx) => {
    const p = plans.get(ctx);
    const slot = key.readUInt32LE(0);
    const tp = p?.tracepoints[slot];
    // Slots of tracepoints that did not attach stay out of the indom.
    return tp === undefined || p!.failed.some((f) => f.startsWith(`${tp} `)) ? null : tp;
  },
  value: { struct: 'tp_counts', sum: ['hits'] },
  metrics: [
    {
      name: 'bcc.tracepoint.hits',
      item: 0,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      oneline: 'tracepoint hit count',
      help: 'tracepoint hit count: times each configured kernel tracepoint fired since the agent started (only in the filtered processes with the process or cgroup option).\n',
      value: derive.field('hits'),
    },
  ],
});
