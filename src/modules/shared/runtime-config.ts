// Config keys and per-process attach shared by the language-runtime modules (ucalls, ustat,
// usdt_jvm_threads): `process` is required as in pmdabcc (these probes are per runtime, and
// a module without it would have nothing to attach to); `language` narrows what a process is
// taken for, else its runtime is detected from the probes its files declare.
import * as fs from 'node:fs';
import type { ConfigKey } from '../../pmda/config-schema';
import { cfg } from '../../pmda/config-schema';
import { ModuleUnavailable } from '../../pmda/module';
import { processKey, processRefreshKey, type ProcessSpec } from './filter';
import { LANGUAGES, detectRuntime, noRuntimeReason, type FoundRuntime, type Language } from './runtimes';
import { NotAttachable, probeFilesOf } from './usdt-procs';

export function languageKey(allowed: readonly Language[]): ConfigKey<Language | 'auto'> {
  return cfg.enumOf<Language | 'auto'>(
    'auto',
    ['auto', ...allowed],
    `Runtime of the traced processes (${allowed.join(', ')}); auto detects it per process from the USDT providers its executable and libraries declare.`,
  );
}

export function runtimeProcessConfig(allowed: readonly Language[] = LANGUAGES) {
  return {
    process: {
      ...processKey(),
      doc: 'Required. The processes to trace: PIDs, names or regular expressions as in pmdabcc. Every matching process is attached (pmdabcc took only the first) and processes started later are picked up every process_refresh seconds.',
    } satisfies ConfigKey<ProcessSpec | null>,
    process_refresh: processRefreshKey(),
    language: languageKey(allowed),
  };
}

/** The `process` option, or the module's clear refusal. */
export function requireProcess(p: ProcessSpec | null, module: string): ProcessSpec {
  if (!p) throw new ModuleUnavailable(`${module} needs the process option (the processes whose runtime probes to attach), as in pmdabcc`);
  return p;
}

function commOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'latin1').trim();
  } catch {
    return `pid ${pid}`;
  }
}

/** The runtime a process runs (throws NotAttachable saying why not). */
export function runtimeOf(pid: number, language: Language | 'auto', accept: (r: FoundRuntime) => boolean = () => true): FoundRuntime {
  const files = probeFilesOf(pid);
  const lang = language === 'auto' ? null : language;
  const found = detectRuntime(files, lang);
  if (!found || !accept(found)) throw new NotAttachable(noRuntimeReason(files, lang, commOf(pid)));
  return found;
}

/** The probe names of `wanted` that a runtime's file declares. */
export function present(found: FoundRuntime, wanted: readonly string[]): string[] {
  const names = new Set(found.file.probes.filter((p) => found.runtime.providers.includes(p.provider)).map((p) => p.name));
  return wanted.filter((w) => names.has(w));
}

/** The provider a runtime's file uses for probe `name`. */
export function providerOf(found: FoundRuntime, name: string): string {
  return found.file.probes.find((p) => p.name === name && found.runtime.providers.includes(p.provider))!.provider;
}

/** `present`, or NotAttachable naming what is missing. */
export function presentOrThrow(found: FoundRuntime, wanted: readonly string[], what: string): string[] {
  const p = present(found, wanted);
  if (p.length === 0) throw new NotAttachable(`${found.file.path} (${found.runtime.language}) has no ${what} probe (${wanted.join(', ')})`);
  return p;
}
