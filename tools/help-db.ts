// Writes help.dir/help.pag, PCP's version-2 help database (what newhelp builds and
// pmdaOpenHelp/chkhelp read), straight from the metric tables. newhelp truncates any entry
// over 1 KiB and any line over 128 bytes; the agent serves the full texts over the wire, so the
// files on disk must carry the same full texts: the reader has no such limits.
import * as os from 'node:os';
import type { MetricTable } from '../src/pmda/metric-table';

export interface HelpEntry {
  /** The key newhelp stores: a PMID, or an instance domain with bit 31 set ("not a PMID"). */
  key: number;
  /** Name as newhelp writes it before the oneline (metric name, or domain.serial). */
  name: string;
  oneline: string;
  help: string;
}

const INDOM_FLAG = 0x80000000;
// "PcPh" and "1" (index file) + version "2", as newhelp writes them.
const DIR_MAGIC = 0x50635068;
const DIR_VERSION = 0x31000000 | (0x32 << 16);

export function helpEntries(t: MetricTable): HelpEntry[] {
  const out: HelpEntry[] = [];
  for (const e of t.metrics()) out.push({ key: e.pmid >>> 0, name: e.spec.name, oneline: e.spec.oneline, help: e.spec.help });
  for (const d of t.indoms.values()) {
    const domain = (d.indom >>> 22) & 0x1ff;
    const serial = d.indom & 0x3fffff;
    out.push({ key: (d.indom | INDOM_FLAG) >>> 0, name: `${domain}.${serial}`, oneline: d.spec.oneline, help: d.spec.help });
  }
  return out;
}

/** The .dir index and .pag texts. Byte order is the host's, as newhelp writes them. */
export function renderHelpDb(entries: HelpEntry[]): { dir: Buffer; pag: Buffer } {
  const le = os.endianness() === 'LE';
  const parts: Buffer[] = [Buffer.from('PcPh22\n', 'latin1')];
  let off = parts[0]!.length;
  const add = (s: string): number => {
    const at = off;
    const b = Buffer.from(s, 'latin1');
    parts.push(b);
    off += b.length;
    return at;
  };
  const idx: Array<[number, number, number]> = [];
  for (const e of entries) {
    add(`\n@ ${e.name} `);
    const oneline = add(`${e.oneline}\0`);
    const text = add(`${e.help.replace(/\n+$/, '')}\0`);
    idx.push([e.key, oneline, text]);
  }
  // newhelp's order: PMIDs before instance domains, each by their low 22 bits.
  const rank = (k: number) => (k & INDOM_FLAG ? 2 ** 22 : 0) + (k & 0x3fffff);
  idx.sort((a, b) => rank(a[0]) - rank(b[0]));
  const dir = Buffer.alloc((idx.length + 1) * 12);
  const put = (i: number, v: number) => (le ? dir.writeUInt32LE(v >>> 0, i * 4) : dir.writeUInt32BE(v >>> 0, i * 4));
  put(0, DIR_MAGIC);
  put(1, DIR_VERSION);
  put(2, idx.length);
  idx.forEach(([k, o, t], i) => {
    put(3 * (i + 1), k);
    put(3 * (i + 1) + 1, o);
    put(3 * (i + 1) + 2, t);
  });
  return { dir, pag: Buffer.concat(parts) };
}
