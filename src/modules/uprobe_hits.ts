// uprobe_hits → bcc.uprobe.hits (pmdabcc cluster 102): calls of user-space functions, per
// `lib::symbol` (e.g. c::strlen), from uprobes attached for every process that maps the
// library (bpf/uhits.bpf.c, program uprobe_hit; the attach cookie is the instance's index).
// The `process` option filters in the kernel (filter.bpf.h), as pmdabcc's PID filter did.
import type { BpfLink, BpfObject } from '../bpf';
import { PM_SEM } from '../pcp/types';
import { ModuleUnavailable, UNITS } from '../pmda/module';
import { filterConfig } from './shared/filter';
import { defineKeyedCounter, derive } from './shared/keyed-counter';
import { resolveLibrary } from './shared/libpath';
import { targetProbeListKey, type ProbeItem } from './shared/probe-list';
import { attachFunction } from './shared/uprobe-target';

interface Resolved {
  name: string;
  item: ProbeItem;
  file: string;
}

/** Instance names and files of the configured uprobes, deduplicated, in order. */
function resolveAll(items: readonly ProbeItem[]): { ok: Resolved[]; bad: string[] } {
  const seen = new Set<string>();
  const ok: Resolved[] = [];
  const bad: string[] = [];
  for (const item of items) {
    const name = `${item.target}::${item.probe}`;
    if (seen.has(name)) continue;
    seen.add(name);
    try {
      ok.push({ name, item, file: resolveLibrary(item.target) });
    } catch (e) {
      bad.push(`${item.target}:${item.probe}: ${(e as Error).message}`);
    }
  }
  return { ok, bad };
}

/** Per module start: what attached and what did not (for the status line). */
const attachState = new WeakMap<object, { names: string[]; failed: string[] }>();

export const uprobeHits = defineKeyedCounter({
  name: 'uprobe_hits',
  cluster: 102,
  // pmdabcc shipped it off.
  defaultEnabled: false,
  indom: {
    serial: 102,
    oneline: 'uprobes as library::symbol',
    help: 'One instance per configured uprobe, named library::symbol as written in the uprobes option (e.g. c::strlen).\n',
  },
  object: 'uhits.bpf.o',
  filter: true,
  config: {
    ...filterConfig(),
    uprobes: targetProbeListKey(
      'uprobes',
      'c:malloc,c:strlen',
      'Functions to count: a comma list of library:symbol (library as a name such as c, found like the dynamic loader does, or an absolute path), or a file with one per line (relative names are in /etc/pcp/ebpf).',
    ),
  },
  hooks: (c, ctx) => {
    if (c.uprobes.length === 0) throw new ModuleUnavailable('no uprobes configured (set uprobes = library:symbol,...)');
    const { ok, bad } = resolveAll(c.uprobes);
    const state = { names: ok.map((r) => r.name), failed: [...bad] };
    attachState.set(ctx, state);
    return [
      {
        name: 'uprobes',
        variants: [
          {
            name: 'uprobe',
            programs: ['uprobe_hit'],
            available: () => (ok.length ? true : `no configured uprobe resolves: ${bad.join('; ')}`),
            attach(obj: BpfObject): BpfLink[] {
              const links: BpfLink[] = [];
              state.failed = [...bad];
              ok.forEach((r, index) => {
                try {
                  links.push(attachFunction(obj, 'uprobe_hit', r.file, r.item.probe, { pid: -1, cookie: index }));
                } catch (e) {
                  state.failed.push(`${r.item.target}:${r.item.probe}: ${(e as Error).message}`);
                  ctx.log.warn({ uprobe: r.name, err: (e as Error).message }, 'uprobe not attached');
                }
              });
              if (links.length === 0) throw new ModuleUnavailable(`no uprobe attached: ${state.failed.join('; ')}`);
              return links;
            },
          },
        ],
      },
    ];
  },
  started(_loaded, ctx) {
    const s = attachState.get(ctx);
    if (!s) return;
    ctx.log.info({ uprobes: s.names, failed: s.failed }, 'uprobes attached');
    if (s.failed.length) ctx.status.setVariant(`uprobe (${s.failed.length} not attached: ${s.failed.join('; ')})`);
  },
  keyName: (key, _c, ctx) => {
    const names = attachState.get(ctx)?.names ?? [];
    return names[key.readUInt32LE(4)] ?? null;
  },
  value: { struct: 'hit_counts', sum: ['hits'] },
  metrics: [
    {
      name: 'bcc.uprobe.hits',
      item: 0,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      oneline: 'uprobe hit count',
      help:
        'uprobe hit count: calls of each configured user-space function since the agent started, in every process that maps its library ' +
        '(only the processes chosen by the process option, when set).\n',
      value: derive.field('hits'),
    },
  ],
});
