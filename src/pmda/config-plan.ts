// What a parsed ebpf.conf asks for: per tool module run (with its section), stay off, or stay
// off because of an error. Computed the same way at start-up and on a reload, and every
// module section is checked against its schema here, before anything is stopped or started,
// so that a reload can refuse a bad file as a whole.
import { moduleSection, pmdaSettings, type ConfigLoad, type PmdaSettings } from './config-file';
import { ConfigError, parseSection } from './config-schema';
import type { ModuleSpec } from './module';
import { pmdabccCompat } from './pmdabcc-compat';

/** Where the no-op notes of pmdabcc's keys go (the agent's log). */
export interface PlanLog {
  info(o: object, msg: string): void;
}

export type ModulePlan =
  | { kind: 'run'; rest: Record<string, string> }
  | { kind: 'off' }
  | { kind: 'error'; error: string };

export interface ConfigPlan {
  settings: PmdaSettings;
  modules: Map<string, ModulePlan>;
  /** Every problem found, each naming its file/line or [section] and key. */
  errors: string[];
  /** Why no tool module may start, or null. */
  fatal: string | null;
}

/** At most this many errors are kept for bcc.pmda.config.errors; the rest are counted. */
export const MAX_CONFIG_ERRORS = 20;

export function planConfig(load: ConfigLoad, specs: readonly ModuleSpec[], log: PlanLog = { info() {} }): ConfigPlan {
  const errors: string[] = [];
  if (load.fatal) errors.push(load.fatal);
  for (const [sec, why] of load.broken) if (sec !== 'pmda' || why !== load.fatal) errors.push(why);
  const { settings, errors: keyErrors } = pmdaSettings(load.raw);
  for (const e of keyErrors) errors.push(e.message);
  const known = new Set(specs.map((m) => m.name));
  for (const name of settings.modules) {
    if (!known.has(name)) errors.push(new ConfigError('pmda', 'modules', `unknown module "${name}" (known: ${[...known].join(', ')})`).message);
  }
  for (const section of load.raw.keys()) {
    if (section !== 'pmda' && !known.has(section)) {
      errors.push(new ConfigError(section, '*', `unknown section (known: pmda, ${[...known].join(', ')})`).message);
    }
  }
  const modules = new Map<string, ModulePlan>();
  for (const spec of specs) modules.set(spec.name, planModule(load, spec, settings.modules, log));
  if (!load.fatal) for (const p of modules.values()) if (p.kind === 'error' && !errors.includes(p.error)) errors.push(p.error);
  if (errors.length > MAX_CONFIG_ERRORS) {
    const more = errors.length - MAX_CONFIG_ERRORS;
    errors.splice(MAX_CONFIG_ERRORS, more, `... and ${more} more configuration errors`);
  }
  return { settings, modules, errors, fatal: load.fatal };
}

function planModule(load: ConfigLoad, spec: ModuleSpec, only: readonly string[], log: PlanLog): ModulePlan {
  if (load.fatal) return { kind: 'error', error: `not started: configuration unusable (${load.fatal})` };
  const broken = load.broken.get(spec.name);
  if (broken) return { kind: 'error', error: broken };
  let enabled: boolean;
  let rest: Record<string, string>;
  try {
    ({ enabled, rest } = moduleSection(load.raw, spec.name, spec.defaultEnabled));
    // pmdabcc's common keys and its global process_refresh, for a site's bcc.conf.
    rest = pmdabccCompat(spec, rest, load.raw.get('pmda'), log);
    if (only.length > 0) enabled = only.includes(spec.name);
    if (!enabled) return { kind: 'off' };
    parseSection(spec.name, spec.config, rest);
  } catch (e) {
    return { kind: 'error', error: (e as Error).message };
  }
  return { kind: 'run', rest };
}

/** Equal keys: the module would run exactly as before. */
export function planKey(p: ModulePlan): string {
  return p.kind === 'run' ? `run ${JSON.stringify(Object.entries(p.rest).sort())}` : p.kind === 'off' ? 'off' : `error ${p.error}`;
}
