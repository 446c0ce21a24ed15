// bcc.pmda.*: the agent's own health. Users and the dashboard read here which modules run,
// which failed and why, which attach variant is live, and how many events were lost.
//
// Cluster 300: pmdabcc split its clusters into 0-99 (BCC tools), 100-199 (PCP's own modules:
// tracepoint_hits is 149.100) and 200-299 (site-local modules a site may have written), so the
// first cluster outside all three ranges can clash with no pmdabcc module, shipped or local.
// These metrics were 149.100.* before; the instance ids persisted for that indom move along.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PM_ERR, PM_IN_NULL, PM_SEM, PM_TYPE } from '../pcp/types';
import type { ModuleState } from '../pmda/module-context';
import { UNITS, type ModuleSpec } from '../pmda/module';

export const SELF_CLUSTER = 300;
export const SELF_INDOM = 300;
/** Where these metrics lived before (now pmdabcc's tracepoint_hits cluster). */
const OLD_SELF_INDOM = 100;

export interface SelfInfo {
  version: string;
  /** Module states in registry order, keyed by module name. */
  states: ReadonlyMap<string, ModuleState>;
  /** Configuration problems (section and key named); the agent kept serving the rest. */
  configErrors: readonly string[];
  /** Configuration reloads applied since the agent started. */
  reloads?: () => number;
  /** Start a reload of ebpf.conf; 0 or a negative PM_ERR code (e.g. not allowed). */
  reload?: () => number;
}

export function selfModule(info: SelfInfo): ModuleSpec {
  return {
    name: 'pmda',
    cluster: SELF_CLUSTER,
    defaultEnabled: true,
    config: {},
    indoms: [
      {
        serial: SELF_INDOM,
        oneline: 'tool modules of the eBPF agent',
        help: 'One instance per tool module known to the agent (runqlat, biolatency, execsnoop, ...), enabled or not.\n',
      },
    ],
    metrics: [
      {
        name: 'bcc.pmda.version',
        item: 0,
        type: PM_TYPE.STRING,
        sem: PM_SEM.DISCRETE,
        units: UNITS.none,
        indom: null,
        oneline: 'version of the eBPF agent (pmda-ebpf)',
        help: 'Version of pmda-ebpf, the agent that serves the bcc.* metrics from precompiled CO-RE eBPF programs.\nThe bcc.pmda.* metrics are in cluster 300 (149.300.*); they were 149.100.* before 149.100 went to tracepoint_hits, as in pmdabcc.\n',
      },
      {
        name: 'bcc.pmda.module.state',
        item: 1,
        type: PM_TYPE.STRING,
        sem: PM_SEM.INSTANT,
        units: UNITS.none,
        indom: SELF_INDOM,
        oneline: 'state of each tool module: running, starting, disabled, failed or stopped',
        help:
          'running: attached and serving; starting: loading its eBPF programs; disabled: turned off in ebpf.conf;\n' +
          'failed: could not start (see bcc.pmda.module.error); the other modules keep serving.\n',
      },
      {
        name: 'bcc.pmda.module.error',
        item: 2,
        type: PM_TYPE.STRING,
        sem: PM_SEM.INSTANT,
        units: UNITS.none,
        indom: SELF_INDOM,
        oneline: 'why a module failed (empty when it did not)',
        help: 'The error that stopped a module from starting: a missing kernel feature, a configuration error naming section and key, or a load/attach error with its errno.\n',
      },
      {
        name: 'bcc.pmda.module.variant',
        item: 3,
        type: PM_TYPE.STRING,
        sem: PM_SEM.INSTANT,
        units: UNITS.none,
        indom: SELF_INDOM,
        oneline: 'attach variant in use by each module',
        help: 'Which of the module\'s attach variants is live on this kernel, e.g. tp_btf, raw_tp, tracepoint, or syscall tracepoints with a filesystem filter.\n',
      },
      {
        name: 'bcc.pmda.module.lost',
        item: 4,
        type: PM_TYPE.U64,
        sem: PM_SEM.COUNTER,
        units: UNITS.count,
        indom: SELF_INDOM,
        oneline: 'events each module lost',
        help: 'Events a module could not deliver since the agent started: kernel ring buffer full, or a bounded queue overflowed.\n',
      },
      {
        name: 'bcc.pmda.config.errors',
        item: 5,
        type: PM_TYPE.STRING,
        sem: PM_SEM.INSTANT,
        units: UNITS.none,
        indom: null,
        oneline: 'problems found in ebpf.conf (empty when none)',
        help: 'Every configuration error the agent found at start-up or at the last reload, each naming its [section] and key, separated by "; ".\nA module whose section has an error is not started (see bcc.pmda.module.state); the others run.\nErrors of a rejected reload start with "reload rejected:"; the modules then kept running as they were.\n',
      },
      {
        name: 'bcc.pmda.control.reload',
        item: 6,
        type: PM_TYPE.U32,
        sem: PM_SEM.COUNTER,
        units: UNITS.count,
        indom: null,
        oneline: 'configuration reloads applied; store any value to re-read ebpf.conf',
        help:
          'Storing any value re-reads ebpf.conf without restarting the agent: only modules whose section changed stop and start,\n' +
          'the others keep their eBPF programs, counters and instance ids. A file with errors changes nothing and is reported in\n' +
          'bcc.pmda.config.errors. Refused (no permission) unless [pmda] allow_reload = true. SIGUSR2 to the agent does the same.\n' +
          'The value counts the reloads applied since the agent started.\n',
      },
    ],
    create(ctx) {
      const modules = ctx.indom(SELF_INDOM);
      const ids = new Map<string, number>();
      for (const [name, id] of legacyModuleIds(ctx.paths.stateDir, ctx.domain, info.states)) {
        if (modules.lookup(name) === undefined && modules.nameOf(id) === undefined) modules.define(id, name);
      }
      for (const name of info.states.keys()) ids.set(name, modules.ensure(name));
      modules.save();
      const each = <T>(pick: (s: ModuleState) => T) =>
        [...info.states].map(([name, s]) => ({ inst: ids.get(name)!, value: pick(s) }));
      return {
        async start() {},
        async stop() {},
        store(item) {
          if (item !== 6 || !info.reload) return PM_ERR.PERMISSION;
          return info.reload();
        },
        fetch(item) {
          switch (item) {
            case 0:
              return [{ inst: PM_IN_NULL, value: info.version }];
            case 1:
              return each((s) => s.state);
            case 2:
              return each((s) => s.error);
            case 3:
              return each((s) => s.variant);
            case 4:
              return each((s) => s.lost);
            case 5:
              return [{ inst: PM_IN_NULL, value: info.configErrors.join('; ') }];
            case 6:
              return [{ inst: PM_IN_NULL, value: info.reloads?.() ?? 0 }];
            default:
              return PM_ERR.PMID;
          }
        },
      };
    },
  };
}

/**
 * Module instance ids saved while these metrics were in cluster 100: kept (so archives line up)
 * and the old file moved aside, since indom 100 now belongs to tracepoint_hits. A file whose
 * names are not all module names is tracepoint_hits' own and is left alone.
 */
function legacyModuleIds(stateDir: string, domain: number, states: ReadonlyMap<string, ModuleState>): [string, number][] {
  const file = path.join(stateDir, `indom-${domain}.${OLD_SELF_INDOM}.json`);
  let names: Record<string, number>;
  try {
    names = (JSON.parse(fs.readFileSync(file, 'utf8')) as { names?: Record<string, number> }).names ?? {};
  } catch {
    return [];
  }
  const entries = Object.entries(names).filter(([, id]) => Number.isInteger(id) && id >= 0);
  if (entries.length === 0 || !entries.every(([n]) => states.has(n))) return [];
  try {
    fs.renameSync(file, `${file}.pre-cluster-${SELF_CLUSTER}`);
  } catch {
    return [];
  }
  return entries;
}
