// ebpf.conf: an ini file, `[pmda]` plus one section per module (pmdabcc's bcc.conf shape).
// Parsing only splits sections and keys; each section's values are checked by its schema.
import * as fs from 'node:fs';
import { ConfigError, cfg, parseSection, type ConfigSchema, type ConfigValues } from './config-schema';

export type RawConfig = Map<string, Record<string, string>>;

export class ConfigSyntaxError extends Error {
  override name = 'ConfigSyntaxError';
  constructor(
    readonly file: string,
    readonly line: number,
    reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
  }
}

export function parseIni(text: string, file = 'ebpf.conf'): RawConfig {
  const out: RawConfig = new Map();
  let section: Record<string, string> | null = null;
  const lines = text.split(/\r?\n/);
  lines.forEach((rawLine, i) => {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const sec = /^\[([A-Za-z0-9_.-]+)\]$/.exec(line);
    if (sec) {
      const name = sec[1]!;
      if (out.has(name)) throw new ConfigSyntaxError(file, i + 1, `section [${name}] appears twice`);
      section = {};
      out.set(name, section);
      return;
    }
    const kv = /^([A-Za-z0-9_]+)\s*[=:]\s*(.*)$/.exec(line);
    if (!kv) throw new ConfigSyntaxError(file, i + 1, `expected "[section]" or "key = value", got "${line}"`);
    if (!section) throw new ConfigSyntaxError(file, i + 1, `"${kv[1]}" is outside any [section]`);
    if (Object.prototype.hasOwnProperty.call(section, kv[1]!)) {
      throw new ConfigSyntaxError(file, i + 1, `key "${kv[1]}" is set twice in its section`);
    }
    section[kv[1]!] = kv[2]!;
  });
  return out;
}

export function readConfigFile(file: string): RawConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') return new Map();
    throw new Error(`cannot read config ${file}: ${err.message}`);
  }
  return parseIni(text, file);
}

/** Keys of the [pmda] section. */
export const PMDA_SCHEMA = {
  modules: cfg.list([], 'Modules to run; empty means every module whose own section does not say enabled = false and that is enabled by default.'),
  state_dir: cfg.string('', 'Where stable instance ids are kept (default $PCP_VAR_DIR/config/pmda/ebpf).'),
  log_level: cfg.enumOf('info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const, 'Log level of the agent log.'),
  // pmdabcc's [pmda] keys (src/pmda/pmdabcc-compat.ts): process_refresh is every module's default.
  process_refresh: cfg.int(5, { min: 0, max: 3600 }, "Default of each module's process_refresh (seconds between rescans for the process filter), as pmdabcc's global key."),
  prefix: cfg.enumOf('bcc.', ['bcc.'] as const, "pmdabcc's metric name prefix; only its default bcc. is supported."),
  module_failure_fatal: cfg.bool(false, "pmdabcc's key; accepted and ignored: a module that fails never stops the others here."),
} satisfies ConfigSchema;

export interface PmdaSettings {
  modules: string[];
  state_dir: string;
  log_level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  process_refresh: number;
  prefix: 'bcc.';
  module_failure_fatal: boolean;
}

export function pmdaSettings(raw: RawConfig): PmdaSettings {
  return parseSection('pmda', PMDA_SCHEMA, raw.get('pmda') ?? {}) as unknown as PmdaSettings;
}

/** Split a module section into its `enabled` flag and the rest for the module's own schema. */
export function moduleSection(
  raw: RawConfig,
  name: string,
  defaultEnabled: boolean,
): { enabled: boolean; rest: Record<string, string> } {
  const sec = { ...(raw.get(name) ?? {}) };
  let enabled = defaultEnabled;
  if ('enabled' in sec) {
    try {
      enabled = cfg.bool(defaultEnabled, '').parse(sec.enabled!);
    } catch (e) {
      throw new ConfigError(name, 'enabled', (e as Error).message);
    }
    delete sec.enabled;
  }
  return { enabled, rest: sec };
}

export type { ConfigValues };
