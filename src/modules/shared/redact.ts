// Hiding secrets in command lines before they become metric values. execsnoop exports every
// command line on the host to anyone allowed to fetch metrics (pmcd's default access is open
// to local clients, and pmlogger archives keep them), and command lines do carry passwords
// and tokens. So execsnoop redacts by default, with patterns for the common ways secrets are
// passed; `redact =` (empty) turns it off, and `redact = default, <regex>, ...` adds to them.
//
// A match is replaced by "***", keeping enough to say what was hidden:
//   - a regex with capturing groups: only the captured text is replaced;
//   - a regex without groups whose match has "=" (key=value): what follows the first "=";
//   - otherwise the whole match.
// Patterns are case-insensitive.
import type { ConfigKey } from '../../pmda/config-schema';

export const MASK = '***';

/** The built-in patterns (`default` in the option stands for all of them). */
export const DEFAULT_REDACT: readonly string[] = [
  // key=value / key:value where the key names a secret: --password=x, MYSQL_PWD=x, api_key:x
  '(?<![a-z0-9])(?:[a-z0-9_.-]*[_.-])?(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)[=:](\\S+)',
  // the same as separate arguments: --password x, -password x, --token x
  '(?<![a-z0-9-])--?(?:password|passwd|passphrase|secret|token|api-key|access-key)\\s+(\\S+)',
  // user:password@ in URLs
  '://[^/\\s:@]+:([^/\\s@]+)@',
  // curl-style -u user:password / --user user:password
  '(?<![a-z0-9-])(?:-u|--user)\\s+[^\\s:]+:(\\S+)',
  // HTTP Authorization headers passed on the command line
  'authorization:\\s*(?:bearer|basic|token)\\s+(\\S+)',
];

export interface RedactRule {
  source: string;
  re: RegExp;
  groups: boolean;
  /** The pattern as written: a list of rules joined with commas reads back as the same list. */
  toString(): string;
}

export function compileRule(source: string): RedactRule {
  let re: RegExp;
  try {
    // d: group positions, to replace only what a group captured.
    re = new RegExp(source, 'gid');
  } catch (e) {
    throw new Error(`"${source}" is not a valid regular expression: ${(e as Error).message}`);
  }
  // A regex that can match the empty string would never advance over the text.
  if (re.test('')) throw new Error(`"${source}" matches the empty string`);
  re.lastIndex = 0;
  const groups = new RegExp(`${source}|`).exec('')!.length > 1;
  return { source, re, groups, toString: () => source };
}

/**
 * Split the option's comma list. Commas inside (), [], {} or escaped with a backslash belong to
 * the regex, so "a{1,3}" stays whole; write "\," for a literal comma elsewhere.
 */
export function splitPatterns(raw: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i];
    if (ch === '\\' && i + 1 < raw.length) {
      if (raw[i + 1] === ',' && depth === 0 && !inClass) cur += ',';
      else cur += ch + raw[i + 1];
      i++;
      continue;
    }
    if (inClass) {
      if (ch === ']') inClass = false;
    } else if (ch === '[') inClass = true;
    else if (ch === '(' || ch === '{') depth++;
    else if ((ch === ')' || ch === '}') && depth > 0) depth--;
    else if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  out.push(cur.trim());
  return out.filter((s) => s.length > 0);
}

export function parseRedact(raw: string): RedactRule[] {
  const rules: RedactRule[] = [];
  for (const item of splitPatterns(raw)) {
    if (item === 'default') rules.push(...DEFAULT_REDACT.map(compileRule));
    else rules.push(compileRule(item));
  }
  return rules;
}

export function redactKey(): ConfigKey<RedactRule[]> {
  return {
    default: DEFAULT_REDACT.map(compileRule),
    doc:
      'Regular expressions (comma list, case-insensitive) whose matches in args are replaced by ***: only the ' +
      'captured groups when the regex has some, else what follows "=" in a key=value match, else the whole ' +
      'match. "default" stands for the built-in patterns (passwords, tokens, API keys as key=value or as the ' +
      'next argument, user:password@ in URLs, curl -u, Authorization headers), which apply when the option is ' +
      'absent; an empty value turns redaction off.',
    parse: parseRedact,
    // The built-in list reads back as the word a user types for it.
    format: (rules) =>
      rules.length === DEFAULT_REDACT.length && rules.every((r, i) => r.source === DEFAULT_REDACT[i])
        ? 'default'
        : rules.map((r) => r.source).join(', '),
  };
}

/** Apply every rule in turn. */
export function redact(text: string, rules: readonly RedactRule[]): string {
  let s = text;
  for (const rule of rules) {
    rule.re.lastIndex = 0;
    if (!rule.re.test(s)) continue;
    rule.re.lastIndex = 0;
    let out = '';
    let at = 0;
    for (const m of s.matchAll(rule.re)) {
      const start = m.index!;
      const end = start + m[0].length;
      out += s.slice(at, start);
      if (rule.groups) {
        // Replace each captured span; the rest of the match stays.
        let p = start;
        const spans = (m.indices ?? []).slice(1).filter((x): x is [number, number] => x !== undefined && x[1] > x[0]);
        spans.sort((a, b) => a[0] - b[0]);
        for (const [gs, ge] of spans) {
          if (gs < p) continue; // nested group inside one already masked
          out += s.slice(p, gs) + MASK;
          p = ge;
        }
        out += s.slice(p, end);
      } else {
        const eq = m[0].indexOf('=');
        out += eq >= 0 && eq < m[0].length - 1 ? m[0].slice(0, eq + 1) + MASK : MASK;
      }
      at = end;
    }
    s = out + s.slice(at);
  }
  return s;
}
