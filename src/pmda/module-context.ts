// Builds the ModuleContext a module instance sees. Used by the agent runtime and by tests that
// drive one module against the real kernel without pmcd.
import * as path from 'node:path';
import type { Logger } from 'pino';
import { indom as makeIndom } from '../pcp/types';
import { parseSection, type ConfigSchema, type ConfigValues, type ConfigValuesOf } from './config-schema';
import { InstanceDomain } from './indom';
import type { ModuleContext, ModulePaths, ModuleSpec } from './module';

/** Per-module state the runtime exports under bcc.pmda.* */
export class ModuleState {
  state: 'disabled' | 'starting' | 'running' | 'failed' | 'stopped' = 'disabled';
  error = '';
  variant = '';
  lost = 0n;
  readonly indoms = new Map<number, InstanceDomain>();
}

export interface ContextOptions {
  domain: number;
  log: Logger;
  paths: ModulePaths;
  /** Raw key/values of the module's ebpf.conf section, `enabled` already removed. */
  raw?: Record<string, string>;
  /** Parsed values; when given, `raw` is ignored. */
  config?: ConfigValues;
  /** Persist instance ids under paths.stateDir (default true). */
  persist?: boolean;
}

export function makeModuleContext<S extends ConfigSchema>(
  spec: ModuleSpec<S>,
  opts: ContextOptions,
  state = new ModuleState(),
): ModuleContext<ConfigValuesOf<S>> {
  // Values given by a caller (tests) are trusted to match the schema; the runtime parses.
  const config = (opts.config as ConfigValuesOf<S> | undefined) ?? parseSection(spec.name, spec.config, opts.raw ?? {});
  const log = opts.log.child({ module: spec.name });
  for (const d of spec.indoms) {
    const id = makeIndom(opts.domain, d.serial);
    const file = opts.persist === false || d.persist === 'none' ? null : path.join(opts.paths.stateDir, `indom-${opts.domain}.${d.serial}.json`);
    const dom = new InstanceDomain(id, file, d.remember, d.persist === 'ids' ? 'ids' : 'names');
    if (dom.recovered) opts.log.warn({ module: spec.name, indom: id }, `instance-id state: ${dom.recovered}`);
    state.indoms.set(d.serial, dom);
  }
  return {
    domain: opts.domain,
    log,
    config,
    paths: opts.paths,
    status: {
      setVariant(v: string) {
        if (state.variant !== v) log.info({ variant: v }, 'attach variant');
        state.variant = v;
      },
      addLost(n: number | bigint) {
        state.lost += BigInt(n);
      },
    },
    indom(serial: number): InstanceDomain {
      const d = state.indoms.get(serial);
      if (!d) throw new Error(`module ${spec.name} has no indom with serial ${serial}`);
      return d;
    },
  };
}
