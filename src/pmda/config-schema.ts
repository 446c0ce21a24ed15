// Typed keys for ebpf.conf sections. A module declares its keys with these builders; the
// runtime parses its section and turns any problem into a ConfigError naming section and key.

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly section: string,
    readonly key: string,
    readonly reason: string,
  ) {
    super(`[${short(section)}] ${short(key)}: ${reason}`);
  }
}

const short = (name: string) => (name.length > QUOTE_BYTES ? quote(name) : name);

/** Longest part of an offending text quoted in an error (log line and bcc.pmda.config.errors). */
export const QUOTE_BYTES = 80;

/**
 * An offending text for an error message: double-quoted, control and non-ASCII characters
 * escaped, cut to about QUOTE_BYTES with the full length said, so junk cannot flood the log.
 */
export function quote(text: string): string {
  const cut = text.length > QUOTE_BYTES ? text.slice(0, QUOTE_BYTES) : text;
  const esc = cut.replace(/[^\x20-\x7e]|["\\]/g, (c) => {
    if (c === '"' || c === '\\') return `\\${c}`;
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
  return text.length > QUOTE_BYTES ? `"${esc}"... (${Buffer.byteLength(text)} bytes)` : `"${esc}"`;
}

export interface ConfigKey<T> {
  default: T;
  /** Parse the raw text; throw an Error whose message says what is wrong (section/key are added). */
  parse(raw: string): T;
  doc: string;
  /** The value as a user would type it in ebpf.conf (for the default in the generated file and
   *  man page); without it, lists are comma-joined, regexes shown by source, null as empty. */
  format?(value: T): string;
}

/** `value` of `key` as ebpf.conf text: what parse() turns back into the same value. */
export function formatValue<T>(key: ConfigKey<T>, value: T): string {
  if (key.format) return key.format(value);
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.join(',');
  if (value instanceof RegExp) return value.source;
  return String(value);
}

export type ConfigSchema = Record<string, ConfigKey<unknown>>;
export type ConfigValues = Record<string, unknown>;
/** The parsed values of a schema, each key typed by its builder: a module reads them with no casts. */
export type ConfigValuesOf<S extends ConfigSchema> = { [K in keyof S]: S[K] extends ConfigKey<infer T> ? T : never };

const TRUE = new Set(['true', 'yes', 'on', '1']);
const FALSE = new Set(['false', 'no', 'off', '0']);

export const cfg = {
  bool(def: boolean, doc: string): ConfigKey<boolean> {
    return {
      default: def,
      doc,
      parse(raw) {
        const v = raw.trim().toLowerCase();
        if (TRUE.has(v)) return true;
        if (FALSE.has(v)) return false;
        throw new Error(`expected true or false, got ${quote(raw)}`);
      },
    };
  },
  int(def: number, range: { min?: number; max?: number }, doc: string): ConfigKey<number> {
    return {
      default: def,
      doc,
      parse(raw) {
        const v = raw.trim();
        if (!/^-?\d+$/.test(v)) throw new Error(`expected an integer, got ${quote(raw)}`);
        const n = Number(v);
        if (range.min !== undefined && n < range.min) throw new Error(`${n} is below the minimum ${range.min}`);
        if (range.max !== undefined && n > range.max) throw new Error(`${n} is above the maximum ${range.max}`);
        return n;
      },
    };
  },
  string(def: string, doc: string): ConfigKey<string> {
    return { default: def, doc, parse: (raw) => raw.trim() };
  },
  enumOf<T extends string>(def: T, allowed: readonly T[], doc: string): ConfigKey<T> {
    return {
      default: def,
      doc,
      parse(raw) {
        const v = raw.trim() as T;
        if (!allowed.includes(v)) throw new Error(`expected one of ${allowed.join(', ')}, got ${quote(raw)}`);
        return v;
      },
    };
  },
  /** Comma-separated list of strings (empty → []). */
  list(def: string[], doc: string): ConfigKey<string[]> {
    return {
      default: def,
      doc,
      parse: (raw) =>
        raw
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s.length > 0),
    };
  },
  /** Comma-separated list of integers in a range (ports, PIDs). */
  intList(def: number[], range: { min: number; max: number }, doc: string): ConfigKey<number[]> {
    return {
      default: def,
      doc,
      parse(raw) {
        return raw
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s.length > 0)
          .map((s) => {
            if (!/^\d+$/.test(s)) throw new Error(`${quote(s)} is not a whole number`);
            const n = Number(s);
            if (n < range.min || n > range.max) throw new Error(`${n} is outside ${range.min}..${range.max}`);
            return n;
          });
      },
    };
  },
  /** A single regular expression (empty → null). */
  regex(doc: string): ConfigKey<RegExp | null> {
    return {
      default: null,
      doc,
      parse(raw) {
        const v = raw.trim();
        if (v === '') return null;
        try {
          return new RegExp(v);
        } catch (e) {
          throw new Error(`not a valid regular expression: ${quote((e as Error).message)}`);
        }
      },
    };
  },
};

/** Parse one section's raw key/values against a schema (plus `enabled`). Unknown keys are errors. */
export function parseSection<S extends ConfigSchema>(
  section: string,
  schema: S,
  raw: Record<string, string>,
): ConfigValuesOf<S> {
  const out: ConfigValues = {};
  for (const [key, spec] of Object.entries(schema)) out[key] = spec.default;
  for (const [key, text] of Object.entries(raw)) {
    const spec = schema[key];
    if (!spec) {
      const known = Object.keys(schema).sort().join(', ');
      throw new ConfigError(section, key, `unknown key (known keys: ${known || 'none'})`);
    }
    try {
      out[key] = spec.parse(text);
    } catch (e) {
      throw new ConfigError(section, key, (e as Error).message);
    }
  }
  return out as ConfigValuesOf<S>;
}
