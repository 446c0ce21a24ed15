// pmdabcc's probe lists (`tracepoints`, `kprobes`, `uprobes`, `usdts`): a comma list when the
// value has a ":" in it, else a file with one probe per line (blank lines and lines with a
// "#" skipped), as pmdabcc's read_probe_conf did. A relative file name is relative to the
// agent's configuration directory ($PCP_SYSCONF_DIR/ebpf), where pmdabcc's was its own.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ConfigKey } from '../../pmda/config-schema';
import { pcpDirs } from '../../pmda/pcp-env';

export interface ProbeList {
  /** The option text, for logs. */
  text: string;
  /** Where the list came from: 'inline' or the file read. */
  source: string;
  items: string[];
}

export function readProbeList(raw: string, baseDir = path.join(pcpDirs().sysconfDir, 'ebpf')): ProbeList | null {
  const text = raw.trim();
  if (text === '') return null;
  if (text.includes(':')) {
    const items = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    return { text, source: 'inline', items };
  }
  const file = path.isAbsolute(text) ? text : path.join(baseDir, text);
  let body: string;
  try {
    body = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`"${text}" has no ":" so it names a file, and ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const items = body.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.includes('#'));
  if (items.length === 0) throw new Error(`${file} lists no probe`);
  return { text, source: file, items };
}

/** A config key holding such a list (null when unset). */
export function probeListKey(doc: string): ConfigKey<ProbeList | null> {
  return { default: null, doc, parse: (raw) => readProbeList(raw), format: (l) => l?.text ?? '' };
}

/** One `target:probe` item of a `uprobes` or `usdts` list. */
export interface ProbeItem {
  /** Library or binary: before the last ':' (paths never contain one in practice). */
  target: string;
  /** Symbol or probe name (a regex for usdts). */
  probe: string;
}

const MAX_ITEMS = 4096;

/** A `uprobes`/`usdts` list (inline or a file, as readProbeList) split into targets and probes. */
export function parseProbeList(raw: string, what: 'uprobes' | 'usdts'): ProbeItem[] {
  const list = readProbeList(raw);
  if (!list) return [];
  if (list.items.length > MAX_ITEMS) throw new Error(`more than ${MAX_ITEMS} ${what}`);
  return list.items.map((it) => {
    const colon = it.lastIndexOf(':');
    if (colon <= 0 || colon === it.length - 1) throw new Error(`"${it}" is not of the form <library or binary>:<${what === 'usdts' ? 'probe' : 'symbol'}>`);
    return { target: it.slice(0, colon), probe: it.slice(colon + 1) };
  });
}

/** A config key holding a `uprobes`/`usdts` list, with pmdabcc's default. */
export function targetProbeListKey(what: 'uprobes' | 'usdts', def: string, doc: string): ConfigKey<ProbeItem[]> {
  return {
    default: def ? parseProbeList(def, what) : [],
    doc,
    parse: (raw) => parseProbeList(raw, what),
    format: (items) => items.map((i) => `${i.target}:${i.probe}`).join(','),
  };
}
