// pmdabcc's names and PMIDs are a compatibility promise: archives, pmie rules and dashboards
// refer to them. Every PMID of pmdabcc's 27 modules (../shared/docs/pmdabcc-pmids.txt plus
// ext4dist 149.5.0-3, and pmdabcc-pmids-more.txt) must name the same metric here; a module not
// built yet is listed as pending by name, and none of our metrics (the bcc.pmda.* self metrics
// included) may take a PMID or cluster that pmdabcc gave to another metric or module.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { metaTable, renderHelp, renderPmns } from '../../tools/gen-meta';
import { pmidCluster, pmidString, PM_SEM, PM_TYPE } from '../../src/pcp/types';
import { MODULES } from '../../src/modules';

// The shared docs sit beside the checkout (/work/main → /work/shared); a worktree one level
// deeper (/work/wt/<name>) finds them one level further up.
const DOCS = ['../../../shared/docs', '../../../../shared/docs'].map((d) => path.resolve(__dirname, d)).find((d) => fs.existsSync(d)) ?? path.resolve(__dirname, '../../../shared/docs');
const PMIDS = path.join(DOCS, 'pmdabcc-pmids.txt');
const PMIDS_MORE = path.join(DOCS, 'pmdabcc-pmids-more.txt');

/** pmdabcc modules of pmdabcc-pmids-more.txt by cluster; the ones not in MODULES yet are pending. */
const MORE_MODULES: Record<number, string> = {
  1: 'bioperpid', 2: 'sysfork', 11: 'tcpperpid', 13: 'exectop', 15: 'syscount', 16: 'ucalls', 17: 'ustat', 30: 'cachestat', 31: 'klockstat',
  40: 'netproc', 100: 'tracepoint_hits', 101: 'usdt_hits', 102: 'uprobe_hits', 103: 'kprobe_hits', 110: 'usdt_jvm_threads', 120: 'usdt_jvm_alloc',
};

function readPmids(file: string): [string, string][] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => /^149\./.test(l))
    .map((l) => l.split('\t') as [string, string]);
}

describe('pmdabcc compatibility', () => {
  const table = metaTable();
  const ours = new Map([...table.byPmid.values()].map((e) => [pmidString(e.pmid), e]));

  it('every pmdabcc PMID names the same metric', () => {
    const lines = fs.readFileSync(PMIDS, 'utf8').split('\n').filter((l) => /^149\./.test(l));
    expect(lines.length).toBeGreaterThan(40);
    const expected = lines.map((l) => l.split('\t') as [string, string]);
    for (const op of ['open', 'read', 'write', 'fsync'].entries()) expected.push([`149.5.${op[0]}`, `bcc.fs.ext4.latency.${op[1]}`]);
    for (const [id, name] of expected) expect(ours.get(id)?.spec.name, id).toBe(name);
  });

  const more = readPmids(PMIDS_MORE);
  const built = new Set(MODULES.map((m) => m.name));
  const pending = [...new Set(Object.values(MORE_MODULES))].filter((m) => !built.has(m));

  it('the other 16 modules: 16 clusters, every one named', () => {
    const clusters = new Set(more.map(([id]) => Number(id.split('.')[1])));
    expect(clusters.size).toBe(16);
    for (const c of clusters) expect(MORE_MODULES[c], `cluster ${c}`).toBeDefined();
  });

  for (const [cluster, module] of Object.entries(MORE_MODULES)) {
    const mine = more.filter(([id]) => id.split('.')[1] === cluster);
    it.skipIf(!built.has(module))(`${module} (149.${cluster}): every pmdabcc PMID names the same metric in our module`, () => {
      const spec = MODULES.find((m) => m.name === module)!;
      expect(spec.cluster).toBe(Number(cluster));
      expect(mine.length).toBeGreaterThan(0);
      for (const [id, name] of mine) expect(ours.get(id)?.spec.name, id).toBe(name);
      expect(spec.metrics.length, `${module} exports exactly pmdabcc's metrics`).toBe(mine.length);
    });
  }

  it(`modules pending in this tree (other branches add them): ${pending.join(', ') || 'none'}`, () => {
    // Not a pass for them: their PMIDs are only checked for clashes below until they land.
    for (const m of pending) expect(built.has(m)).toBe(false);
  });

  it('no PMID or cluster of ours clashes with a pmdabcc metric or module of another name', () => {
    const all = [...readPmids(PMIDS), ...more];
    const byPmid = new Map(all);
    const pmdabccNames = new Map<number, Set<string>>();
    for (const [id, name] of all) {
      const c = Number(id.split('.')[1]);
      if (!pmdabccNames.has(c)) pmdabccNames.set(c, new Set());
      pmdabccNames.get(c)!.add(name);
    }
    for (const e of table.byPmid.values()) {
      const id = pmidString(e.pmid);
      const theirs = byPmid.get(id);
      if (theirs !== undefined) {
        expect(e.spec.name, `${id} is pmdabcc's ${theirs}`).toBe(theirs);
        continue;
      }
      // An extra metric in a pmdabcc cluster is fine only inside the same module (same cluster, a sibling of pmdabcc's names).
      const names = pmdabccNames.get(Number(id.split('.')[1]));
      if (!names) continue;
      const siblings = [...table.byPmid.values()].filter((x) => pmidCluster(x.pmid) === pmidCluster(e.pmid)).map((x) => x.spec.name);
      expect(siblings.some((n) => names.has(n)), `${e.spec.name} (${id}) sits in pmdabcc's cluster of ${[...names].join(', ')}`).toBe(true);
    }
    // pmdabcc's cluster ranges (bcc.conf): 0-99 BCC tools, 100-199 PCP's own, 200-299 site-local.
    const self = table.byName.get('bcc.pmda.version')!;
    expect(Number(pmidString(self.pmid).split('.')[1])).toBeGreaterThanOrEqual(300);
  });

  it('histograms are u64 counters in units of count, one indom per module', () => {
    for (const name of ['bcc.runq.latency', 'bcc.disk.all.latency', 'bcc.fs.ext4.latency.read', 'bcc.fs.xfs.latency.fsync', 'bcc.fs.zfs.latency.open']) {
      const e = table.byName.get(name)!;
      expect(e.spec.type, name).toBe(PM_TYPE.U64);
      expect(e.spec.sem, name).toBe(PM_SEM.COUNTER);
      expect(e.spec.units, name).toMatchObject({ dimCount: 1, dimTime: 0, dimSpace: 0 });
      expect(table.indoms.get(e.indom)?.spec.labels, name).toEqual({ statistic: 'histogram' });
    }
  });

  it('help texts are ASCII: pmproxy 6.0.3 turns every byte >= 0x80 into U+FFFD in its JSON', () => {
    for (const e of table.byPmid.values()) {
      expect(e.spec.oneline, e.spec.name).toMatch(/^[\x20-\x7e]*$/);
      expect(e.spec.help, e.spec.name).toMatch(/^[\x20-\x7e\n]*$/);
    }
    for (const d of table.indoms.values()) expect(d.spec.oneline + d.spec.help).toMatch(/^[\x20-\x7e\n]*$/);
  });

  it('pmns and help list every metric', () => {
    const pmns = renderPmns(table);
    const help = renderHelp(table);
    for (const e of table.byPmid.values()) {
      const leaf = e.spec.name.split('.').pop()!;
      expect(pmns).toMatch(new RegExp(`\\b${leaf}\\s+BCC:${pmidString(e.pmid).split('.').slice(1).join(':')}\\b`));
      expect(help).toContain(`@ ${e.spec.name} ${e.spec.oneline}`);
    }
  });
});

// The per-process network, I/O, page cache and lock modules (issue 12), from pmdabcc-pmids-more.txt.
describe('pmdabcc compatibility: per-process network, I/O, page cache, locks', () => {
  const CLUSTERS = [40, 30, 31, 1, 11];
  it(`every PMID of clusters ${CLUSTERS.join(', ')} names the same metric`, () => {
    const ours = new Map([...metaTable().byPmid.values()].map((e) => [pmidString(e.pmid), e]));
    // ../shared beside the repository (a helper's worktree sits one level deeper).
    const file = ['../../../shared/docs', '../../../../shared/docs'].map((d) => path.resolve(__dirname, d, 'pmdabcc-pmids-more.txt')).find((f) => fs.existsSync(f));
    const more = fs.readFileSync(file ?? 'pmdabcc-pmids-more.txt (not found beside the repository)', 'utf8');
    const lines = more.split('\n').filter((l) => CLUSTERS.some((c) => l.startsWith(`149.${c}.`)));
    expect(lines.length).toBeGreaterThan(0);
    for (const [id, name] of lines.map((l) => l.split('\t') as [string, string])) expect(ours.get(id)?.spec.name, id).toBe(name);
  });
});
