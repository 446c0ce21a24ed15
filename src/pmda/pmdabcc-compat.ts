// A pmdabcc site's bcc.conf keeps working: its common keys are understood here, once, for every
// module section, before the module's own schema sees the rest.
//   module, cluster, prefix: pmdabcc let a site load a module file under another cluster or
//     metric prefix. Ours are fixed (the PMIDs and names are the compatibility promise), so a
//     value that agrees is accepted and logged as a no-op, and one that asks for something
//     else is a clear ConfigError for that module only (fail closed: it does not start).
//   debug: pmdabcc printed its generated BPF text; there is none here. Accepted, a no-op.
//   pmda_indom_cache: pmdabcc could switch its instance cache off; ids here are always kept
//     (a restart never renumbers instances). Accepted, a no-op.
// And pmdabcc's global `[pmda] process_refresh` is the default of each module's own.
import { ConfigError, cfg } from './config-schema';
import type { ModuleSpec } from './module';

/** Keys pmdabcc accepted in every module section. */
export const PMDABCC_COMMON_KEYS = ['module', 'cluster', 'prefix', 'debug', 'pmda_indom_cache'] as const;

/** pmdabcc's module file name for a module ("fs.ext4dist" for ext4dist). */
export function pmdabccModuleName(name: string): string {
  return /^(ext4|xfs|zfs)dist$/.test(name) ? `fs.${name}` : name;
}

/**
 * The module's section without pmdabcc's common keys (checked here), plus [pmda]
 * process_refresh when the module has that key and its section does not set it.
 */
export function pmdabccCompat(spec: ModuleSpec, section: Record<string, string>, pmda: Record<string, string> | undefined, log: { info(o: object, msg: string): void }): Record<string, string> {
  const rest = { ...section };
  const noop: Record<string, string> = {};
  for (const key of PMDABCC_COMMON_KEYS) {
    if (!(key in rest)) continue;
    const v = rest[key]!.trim();
    delete rest[key];
    switch (key) {
      case 'module':
        if (v !== spec.name && v !== pmdabccModuleName(spec.name)) {
          throw new ConfigError(spec.name, key, `"${v}" would load another module into this section; [${spec.name}] always runs ${spec.name} (remove the key, or name the section after the module)`);
        }
        break;
      case 'cluster':
        if (v !== String(spec.cluster)) {
          throw new ConfigError(spec.name, key, `${spec.name} is cluster ${spec.cluster} (pmdabcc's PMIDs 149.${spec.cluster}.*) and cannot move to "${v}"`);
        }
        break;
      case 'prefix':
        if (v !== 'bcc.') throw new ConfigError(spec.name, key, `metric names keep pmdabcc's default prefix "bcc."; "${v}" is not supported`);
        break;
      case 'debug':
      case 'pmda_indom_cache':
        try {
          cfg.bool(false, '').parse(v);
        } catch (e) {
          throw new ConfigError(spec.name, key, (e as Error).message);
        }
        break;
    }
    noop[key] = v;
  }
  if (Object.keys(noop).length) log.info({ module: spec.name, keys: noop }, 'pmdabcc keys accepted; nothing to do (they agree with this agent)');
  const global = pmda?.process_refresh;
  if (global !== undefined && 'process_refresh' in spec.config && !('process_refresh' in rest)) rest.process_refresh = global;
  return rest;
}
