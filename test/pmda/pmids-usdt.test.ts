// The uprobe/USDT and runtime modules keep pmdabcc's PMIDs, types, semantics, units and
// indoms (../shared/docs/pmdabcc-pmids-more.txt; QA 1127, 1150, 1151/1175, 1173, 1179).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { metaTable } from '../../tools/gen-meta';
import { pmidString, PM_SEM, PM_TYPE } from '../../src/pcp/types';

const MORE = path.resolve(__dirname, '../../../shared/docs/pmdabcc-pmids-more.txt');
const CLUSTERS = new Set(['16', '17', '101', '102', '110']);

describe('uprobe/USDT modules: pmdabcc PMIDs', () => {
  const table = metaTable();
  const ours = new Map([...table.byPmid.values()].map((e) => [pmidString(e.pmid), e]));

  it('every PMID of clusters 16, 17, 101, 102, 110 names the same metric, u64, with pmdabcc semantics and units', () => {
    const lines = fs
      .readFileSync(MORE, 'utf8')
      .split('\n')
      .filter((l) => /^149\./.test(l) && CLUSTERS.has(l.split('.')[1]!));
    expect(lines.length).toBe(13);
    for (const [id, name] of lines.map((l) => l.split('\t') as [string, string])) {
      const e = ours.get(id);
      expect(e?.spec.name, id).toBe(name);
      expect(e!.spec.type, name).toBe(PM_TYPE.U64);
      const cluster = Number(id.split('.')[1]);
      const isAvg = name.endsWith('latency.avg');
      expect(e!.spec.sem, name).toBe(isAvg ? PM_SEM.INSTANT : PM_SEM.COUNTER);
      if (name.includes('latency')) expect(e!.spec.units, name).toMatchObject({ dimTime: 1, scaleTime: 1, dimCount: 0 });
      else expect(e!.spec.units, name).toMatchObject({ dimCount: 1, dimTime: 0, dimSpace: 0 });
      // Singular for the JVM thread counters, else the module's own indom (serial = cluster).
      if (cluster === 110) expect(e!.spec.indom, name).toBeNull();
      else expect(e!.spec.indom, name).toBe(cluster);
    }
  });
});
