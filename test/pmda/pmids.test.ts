// pmdabcc's names and PMIDs are a compatibility promise: archives, pmie rules and dashboards
// refer to them. Every PMID of ../shared/docs/pmdabcc-pmids.txt (plus ext4dist, 149.5.0-3)
// must name the same metric here, and the generated pmns/help must carry every metric.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { metaTable, renderHelp, renderPmns } from '../../tools/gen-meta';
import { pmidString, PM_SEM, PM_TYPE } from '../../src/pcp/types';

const PMIDS = path.resolve(__dirname, '../../../shared/docs/pmdabcc-pmids.txt');

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
