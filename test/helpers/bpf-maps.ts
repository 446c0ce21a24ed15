// Looks into the kernel's BPF maps from outside the agent (bpftool), so a test can wait for a
// condition the kernel side decides — "the process filter now holds this PID" — instead of
// sleeping for a rescan period and hoping.
import { execFileSync } from 'node:child_process';

interface DumpedMap {
  id: number;
  elements?: { key?: unknown; formatted?: { key?: unknown } }[];
}

/** A key as a number: bpftool prints it formatted (BTF) or as little-endian hex bytes. */
function keyNumber(e: NonNullable<DumpedMap['elements']>[number]): number | null {
  if (typeof e.formatted?.key === 'number') return e.formatted.key;
  if (typeof e.key === 'number') return e.key;
  if (Array.isArray(e.key)) return e.key.reduceRight((n: number, b: string) => n * 256 + parseInt(b, 16), 0);
  return null;
}

/** The keys of each live BPF map named `name` (several modules, or agents, may own one). */
export function mapKeys(name: string): Set<number>[] {
  const out = execFileSync('bpftool', ['-j', 'map', 'dump', 'name', name], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const parsed = JSON.parse(out || '[]') as DumpedMap[] | DumpedMap;
  return (Array.isArray(parsed) ? parsed : [parsed]).map((m) => {
    const keys = new Set<number>();
    for (const e of m.elements ?? []) {
      const k = keyNumber(e);
      if (k !== null) keys.add(k);
    }
    return keys;
  });
}

/** How many process filters (bpf/include/filter.bpf.h: filter_tgids) hold `pid`. Workload
 *  PIDs are fresh, so only the filters of the modules a test started can hold them. */
export function filtersHolding(pid: number): number {
  return mapKeys('filter_tgids').filter((k) => k.has(pid)).length;
}
