// kprobe_hits → bcc.kprobe.hits.* (pmdabcc cluster 103): calls, failed calls and latency of
// configured kernel functions, per function and (details) per `<pid>::<function>`.
// Needs kprobes: where the kernel has none (this project's test machine) the module fails with
// that reason and the others keep serving. fentry/fexit would be cheaper, but each needs its
// own program per target function; they are left for kernels that have them (none here).
import * as fs from 'node:fs';
import { kernelFeatures, needKprobes, type BpfLink, type BpfObject } from '../bpf';
import { PM_SEM } from '../pcp/types';
import { ConfigError, cfg, type ConfigKey } from '../pmda/config-schema';
import { ModuleUnavailable, UNITS, type ModuleContext } from '../pmda/module';
import { filterConfig } from './shared/filter';
import { defineKeyedCounter } from './shared/keyed-counter';
import { probeListKey, type ProbeList } from './shared/probe-list';
import { errnoKey } from './syscount';

const DETAIL_PIDS = 128;
const OPS = ['==', '!=', '<', '<=', '>', '>='] as const;

export interface RetCheck {
  op: number;
  value: number;
  text: string;
}

/** pmdabcc's ret_chk: a relational operator and a number, e.g. "!= 0" or "< 0". */
export function retCheckKey(): ConfigKey<RetCheck> {
  return {
    default: { op: 1, value: 0, text: '!= 0' },
    doc: 'When a return counts as a failure (bcc.kprobe.hits.fail): an operator (== != < <= > >=) and a number, as in pmdabcc. Default "!= 0".',
    parse(raw) {
      const m = /^\s*(==|!=|<=|>=|<|>)\s*(-?\d+)\s*$/.exec(raw);
      if (!m) throw new Error(`expected an operator (== != < <= > >=) and a number, e.g. "!= 0", got "${raw}"`);
      return { op: OPS.indexOf(m[1] as (typeof OPS)[number]), value: Number(m[2]), text: `${m[1]} ${m[2]}` };
    },
    format: (r) => r.text,
  };
}

/** pmdabcc's list entries are "kprobe:func" (the prefix optional); duplicates dropped. */
export function kprobeFunctions(list: ProbeList): string[] {
  const out: string[] = [];
  for (const item of list.items) {
    const f = item.replace(/^kprobe:/, '');
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(f)) throw new ConfigError('kprobe_hits', 'kprobes', `"${item}" is not a kernel function name`);
    if (!out.includes(f)) out.push(f);
  }
  return out;
}

type Fields = 'calls' | 'fails' | 'lat_ns' | 'timed';
const funcs = new WeakMap<object, string[]>();

function functionsOf(c: { kprobes: ProbeList | null }, ctx: ModuleContext<unknown>): string[] {
  let f = funcs.get(ctx);
  if (f) return f;
  if (!c.kprobes) throw new ModuleUnavailable('[kprobe_hits] kprobes is not set: name the kernel functions to count (kprobe:func list or a file)');
  f = kprobeFunctions(c.kprobes);
  ctx.log.info({ kprobes: f }, `found ${f.length} kprobes`);
  funcs.set(ctx, f);
  return f;
}

/** Attach the entry (with latency) and return programs to every function, slot = cookie. */
export function attachKprobes(obj: BpfObject, functions: readonly string[], latency: boolean): BpfLink[] {
  const links: BpfLink[] = [];
  functions.forEach((f, slot) => {
    if (latency) links.push(obj.attachKprobe('kp_entry', f, false, BigInt(slot)));
    links.push(obj.attachKprobe('kp_return', f, true, BigInt(slot)));
  });
  return links;
}

function alive(pid: number): boolean {
  return fs.existsSync(`/proc/${pid}`);
}

export const kprobe_hits = defineKeyedCounter({
  name: 'kprobe_hits',
  cluster: 103,
  // pmdabcc shipped it off.
  defaultEnabled: false,
  indom: {
    serial: 103,
    oneline: 'kernel functions counted',
    help: 'One instance per configured kernel function; with the details option also <pid>::<function> for each filtered process.\n',
  },
  object: 'kprobe_hits.bpf.o',
  filter: true,
  config: {
    ...filterConfig(),
    kprobes: probeListKey('Kernel functions to count: a comma list of kprobe:function (the prefix may be left out), or a file of such lines. Required.'),
    errno: errnoKey('Count only calls returning this errno (negated): a name (EPERM) or a number, as in pmdabcc. Empty: every call.'),
    ret_chk: retCheckKey(),
    details: cfg.bool(false, `Also count per process, as <pid>::<function> instances (needs the process option; at most ${DETAIL_PIDS} processes, as pmdabcc).`),
    latency: cfg.bool(false, 'Measure latency (latency.avg, latency.cml) with an entry probe as well as the return probe.'),
  },
  hooks: (c, ctx) => {
    if (c.details && !c.process) throw new ConfigError('kprobe_hits', 'details', 'needs the process option: details are per filtered process, as in pmdabcc');
    const f = functionsOf(c, ctx as ModuleContext<unknown>);
    return [
      {
        name: 'kprobes',
        variants: [
          {
            name: 'kprobe',
            programs: c.latency ? ['kp_entry', 'kp_return'] : ['kp_return'],
            available: needKprobes(...f),
            attach: (obj) => attachKprobes(obj, f, c.latency),
          },
        ],
      },
    ];
  },
  configure(obj, c, ctx) {
    const f = functionsOf(c, ctx as ModuleContext<unknown>);
    obj.setRodata({ latency_on: c.latency, details_on: c.details, errno_only: c.errno, ret_op: c.ret_chk.op, ret_val: c.ret_chk.value });
    obj.setMapMaxEntries('counts', f.length * (c.details ? DETAIL_PIDS + 1 : 1));
    if (!c.latency) obj.setMapMaxEntries('start', 1);
  },
  keyName: (key, _c, ctx) => {
    const f = funcs.get(ctx)?.[key.readUInt32LE(4)];
    if (f === undefined) return null;
    const tgid = key.readUInt32LE(0);
    return tgid === 0 ? f : `${tgid}::${f}`;
  },
  gone: { everyMs: 5000, test: (_n, key) => key.readUInt32LE(0) !== 0 && !alive(key.readUInt32LE(0)), drop: true },
  value: { struct: 'kp_counts', sum: ['calls', 'fails', 'lat_ns', 'timed'] },
  metrics: [
    {
      name: 'bcc.kprobe.hits.count',
      item: 0,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      oneline: 'kprobe count',
      help: 'kprobe count: calls of each configured kernel function since the agent started, counted as they return (narrowed by the process and errno options).\n',
      value: (t: Readonly<Record<Fields, bigint>>) => t.calls,
    },
    {
      name: 'bcc.kprobe.hits.fail',
      item: 1,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      oneline: 'kprobe fail count',
      help: 'kprobe fail count: calls whose return value passed the ret_chk test (default "!= 0"), since the agent started.\n',
      value: (t: Readonly<Record<Fields, bigint>>) => t.fails,
    },
    {
      name: 'bcc.kprobe.hits.latency.avg',
      item: 2,
      sem: PM_SEM.INSTANT,
      units: UNITS.nsec,
      oneline: 'kprobe avg latency',
      help: 'kprobe avg latency: mean time from entry to return, in nanoseconds, of the calls counted since the agent started. Only with latency = true.\n',
      value: (t: Readonly<Record<Fields, bigint>>) => (t.timed === 0n ? undefined : t.lat_ns / t.timed),
    },
    {
      name: 'bcc.kprobe.hits.latency.cml',
      item: 3,
      sem: PM_SEM.COUNTER,
      units: UNITS.nsec,
      oneline: 'kprobe cml latency',
      help: 'kprobe cml latency: total time from entry to return, in nanoseconds, of the calls counted since the agent started. Only with latency = true.\n',
      value: (t: Readonly<Record<Fields, bigint>>) => (t.timed === 0n ? undefined : t.lat_ns),
    },
  ],
});

/** Whether this kernel can run the module (tests skip with the reason where it cannot). */
export function kprobesHere(): true | string {
  return kernelFeatures.kprobesAvailable() ? true : 'kprobes are not available on this kernel (no kprobe PMU or kprobe_events)';
}
