// ebpf.conf: an ini file, `[pmda]` plus one section per module (pmdabcc's bcc.conf shape).
// Parsing only splits sections and keys; each section's values are checked by its schema.
// It fails closed: a syntax error spoils only the section it is in (that module stays off),
// and a file that cannot be trusted at all (unreadable, not a regular file, too large, a
// broken [pmda] section, lines outside any section) starts no tool module.
import * as fs from 'node:fs';
import { ConfigError, cfg, parseSection, quote, type ConfigSchema, type ConfigValues } from './config-schema';

export type RawConfig = Map<string, Record<string, string>>;

/** A config file bigger than this is refused: the real one is a few kB. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

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

export interface ParsedConfig {
  /** Sections that parsed cleanly. */
  raw: RawConfig;
  /** Sections with a syntax error → the first error; those modules stay off. */
  broken: Map<string, string>;
  /** Why nothing in the file can be trusted (no tool module starts), or null. */
  fatal: string | null;
}

const HEADER = /^\[([A-Za-z0-9_.-]+)\]$/;
/** What a header with a typo still names, to know which module to keep off. */
const LOOSE_HEADER = /^\[\s*([A-Za-z0-9_.-]+)/;
const KEY_VALUE = /^([A-Za-z0-9_]+)\s*[=:]\s*(.*)$/;

export function parseIni(text: string, file = 'ebpf.conf'): ParsedConfig {
  const raw: RawConfig = new Map();
  const broken = new Map<string, string>();
  let fatal: string | null = null;
  const err = (line: number, reason: string) => new ConfigSyntaxError(file, line, reason).message;
  // The current section's name; null before the first header or after an unnamed broken one.
  let name: string | null = null;
  let section: Record<string, string> | null = null;
  const spoil = (sec: string, why: string) => {
    if (!broken.has(sec)) broken.set(sec, why);
    raw.delete(sec);
    section = null;
  };
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length && fatal === null; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      const sec = HEADER.exec(line);
      if (sec) {
        name = sec[1]!;
        if (raw.has(name) || broken.has(name)) {
          spoil(name, err(i + 1, `section [${name}] appears twice`));
        } else {
          section = {};
          raw.set(name, section);
        }
        continue;
      }
      const loose = LOOSE_HEADER.exec(line);
      if (!loose) {
        fatal = err(i + 1, `section header names no section: ${quote(line)}`);
        break;
      }
      name = loose[1]!;
      spoil(name, err(i + 1, `broken section header ${quote(line)}`));
      continue;
    }
    if (name === null) {
      fatal = err(i + 1, `${quote(line)} is outside any [section]`);
      break;
    }
    if (section === null) continue; // rest of a spoiled section
    const kv = KEY_VALUE.exec(line);
    if (!kv) {
      spoil(name, err(i + 1, `expected "[section]" or "key = value", got ${quote(line)}`));
      continue;
    }
    if (Object.prototype.hasOwnProperty.call(section, kv[1]!)) {
      spoil(name, err(i + 1, `key "${kv[1]}" is set twice in [${name}]`));
      continue;
    }
    (section as Record<string, string>)[kv[1]!] = kv[2]!;
  }
  if (fatal === null && broken.has('pmda')) fatal = broken.get('pmda')!;
  return { raw, broken, fatal };
}

export interface ConfigLoad extends ParsedConfig {
  /** Said in the log: e.g. that the default file is missing and built-in defaults apply. */
  notes: string[];
}

/**
 * Read and split the file. `explicit`: named with -c (a missing file is then an error; the
 * default file missing only means it was never installed, and built-in defaults apply).
 * Never blocks: a FIFO or device is refused by fstat before any read.
 */
export function readConfigFile(file: string, explicit = true): ConfigLoad {
  const refuse = (why: string): ConfigLoad => ({ raw: new Map(), broken: new Map(), fatal: `cannot use config ${file}: ${why}`, notes: [] });
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' && !explicit) {
      return { raw: new Map(), broken: new Map(), fatal: null, notes: [`no config file ${file}: built-in defaults apply`] };
    }
    return refuse(err.code === 'ENOENT' ? 'no such file' : err.message);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return refuse('not a regular file');
    if (st.size > MAX_CONFIG_BYTES) return refuse(`${st.size} bytes is larger than the ${MAX_CONFIG_BYTES} byte limit`);
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (;;) {
      const got = fs.readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n > MAX_CONFIG_BYTES) return refuse(`larger than the ${MAX_CONFIG_BYTES} byte limit`);
    }
    const text = buf.subarray(0, n);
    if (text.includes(0)) return refuse('binary content (NUL bytes)');
    return { ...parseIni(text.toString('utf8'), file), notes: [] };
  } catch (e) {
    return refuse((e as Error).message);
  } finally {
    fs.closeSync(fd);
  }
}

/** Keys of the [pmda] section. */
export const PMDA_SCHEMA = {
  modules: cfg.list([], 'Modules to run; empty means every module whose own section does not say enabled = false and that is enabled by default.'),
  state_dir: cfg.string('', 'Where stable instance ids are kept (default $PCP_VAR_DIR/config/pmda/ebpf). Read at start-up only.'),
  log_level: cfg.enumOf('info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const, 'Log level of the agent log.'),
  max_reply_bytes: cfg.int(
    8 * 1024 * 1024,
    { min: 256 * 1024, max: 256 * 1024 * 1024 },
    'Largest fetch reply the agent builds, in bytes; metrics past it are answered with PM_ERR_TOOBIG.',
  ),
  allow_reload: cfg.bool(
    false,
    'Allow pmstore bcc.pmda.control.reload to re-read this file without a restart (SIGUSR2 to the agent always does). Only modules whose section changed restart.',
  ),
  keep_root: cfg.bool(
    false,
    'Keep running as root with every capability (for debugging). By default the agent becomes the pcp user once its eBPF programs are loaded, keeping only the capabilities later attaches and symbol lookups need. Read at start-up only.',
  ),
  // pmdabcc's [pmda] keys (src/pmda/pmdabcc-compat.ts): process_refresh is every module's default.
  process_refresh: cfg.int(5, { min: 0, max: 3600 }, "Default of each module's process_refresh (seconds between rescans for the process filter), as pmdabcc's global key."),
  prefix: cfg.enumOf('bcc.', ['bcc.'] as const, "pmdabcc's metric name prefix; only its default bcc. is supported."),
  module_failure_fatal: cfg.bool(false, "pmdabcc's key; accepted and ignored: a module that fails never stops the others here."),
} satisfies ConfigSchema;

export interface PmdaSettings {
  modules: string[];
  state_dir: string;
  log_level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  max_reply_bytes: number;
  allow_reload: boolean;
  keep_root: boolean;
  process_refresh: number;
  prefix: 'bcc.';
  module_failure_fatal: boolean;
}

/**
 * The [pmda] settings, key by key: an unknown key or a bad value is reported and that key
 * keeps its default; the other keys still apply.
 */
export function pmdaSettings(raw: RawConfig): { settings: PmdaSettings; errors: ConfigError[] } {
  const sec = raw.get('pmda') ?? {};
  const errors: ConfigError[] = [];
  const good: Record<string, string> = {};
  for (const [k, v] of Object.entries(sec)) {
    try {
      parseSection('pmda', PMDA_SCHEMA, { [k]: v });
      good[k] = v;
    } catch (e) {
      errors.push(e as ConfigError);
    }
  }
  return { settings: parseSection('pmda', PMDA_SCHEMA, good) as unknown as PmdaSettings, errors };
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
