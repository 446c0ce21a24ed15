// pmdabcc's probe lists (`uprobes`, `usdts`): either a comma list of `target:probe` items or
// the name of a file with one item per line (blank lines and lines with '#' ignored, as
// pmdabcc's read_probe_conf). A relative file name is looked up in /etc/pcp/ebpf (pmdabcc
// looked in its own directory, which we do not have).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ConfigKey } from '../../pmda/config-schema';

export const PROBE_LIST_DIR = '/etc/pcp/ebpf';
const MAX_ITEMS = 4096;

export interface ProbeItem {
  /** Library or binary: before the last ':' (paths never contain one in practice). */
  target: string;
  /** Symbol or probe name (a regex for usdts). */
  probe: string;
}

export function parseProbeList(raw: string, what: string): ProbeItem[] {
  const v = raw.trim();
  if (v === '') return [];
  let items: string[];
  if (v.includes(':')) items = v.split(',');
  else {
    const file = path.isAbsolute(v) ? v : path.join(PROBE_LIST_DIR, v);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(`cannot read the ${what} file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    items = text.split('\n').filter((l) => !l.includes('#'));
  }
  const out: ProbeItem[] = [];
  for (const it of items.map((s) => s.trim()).filter((s) => s !== '')) {
    const colon = it.lastIndexOf(':');
    if (colon <= 0 || colon === it.length - 1) throw new Error(`"${it}" is not of the form <library or binary>:<${what === 'usdts' ? 'probe' : 'symbol'}>`);
    out.push({ target: it.slice(0, colon), probe: it.slice(colon + 1) });
    if (out.length > MAX_ITEMS) throw new Error(`more than ${MAX_ITEMS} ${what}`);
  }
  return out;
}

export function probeListKey(what: 'uprobes' | 'usdts', def: string, doc: string): ConfigKey<ProbeItem[]> {
  return { default: def ? parseProbeList(def, what) : [], doc, parse: (raw) => parseProbeList(raw, what) };
}
