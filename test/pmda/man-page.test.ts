// pmdaebpf(1) is generated from the metric and configuration tables: man renders it cleanly,
// and it lists every metric, every configuration key and every PCP tool file under pcp/.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODULES } from '../../src/modules';
import { PMDA_SCHEMA } from '../../src/pmda/config-file';
import { formatValue } from '../../src/pmda/config-schema';
import { metaTable } from '../../tools/gen-meta';
import { renderManPage, roff } from '../../tools/man-page';
import { readToolbox } from '../../tools/toolbox';

const REPO = path.resolve(__dirname, '../..');

describe('pmdaebpf(1)', () => {
  const table = metaTable();
  const box = readToolbox(path.join(REPO, 'pcp'));
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ebpf-man-')), 'pmdaebpf.1');
  fs.writeFileSync(file, renderManPage(table, MODULES, PMDA_SCHEMA, '9.9.9', box));
  // Wide lines and no hyphenation, so names are found whole.
  const r = spawnSync('man', ['-l', file], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '400', MAN_KEEP_FORMATTING: '', LANG: 'C' } });
  const text = r.stdout.replace(/\u2010|\u2011/g, '-');

  it('renders with man -l, without warnings', () => {
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(text).toMatch(/^PMDAEBPF\(1\)/);
    for (const s of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'CONFIGURATION', 'METRICS', 'PCP TOOLS', 'FILES', 'TROUBLESHOOTING', 'SEE ALSO']) expect(text).toMatch(new RegExp(`^${s}$`, 'm'));
  });

  it('lists every metric with its PMID and oneline', () => {
    for (const e of table.byPmid.values()) {
      expect(text, e.spec.name).toContain(`${e.spec.name} (149.`);
      expect(text, e.spec.name).toContain(e.spec.oneline.slice(0, 40));
    }
  });

  it('lists every configuration key of every section with its default as typed', () => {
    const sections: Array<[string, Record<string, { default: unknown; doc: string }>]> = [['pmda', PMDA_SCHEMA], ...MODULES.map((m) => [m.name, m.config] as [string, typeof m.config])];
    for (const [name, schema] of sections) {
      const at = text.indexOf(`[${name}]\n`);
      expect(at, name).toBeGreaterThan(0);
      for (const [k, spec] of Object.entries(schema)) {
        const def = formatValue(spec as never, spec.default as never);
        expect(text.slice(at), `[${name}] ${k}`).toContain(`${k} = ${def === '' ? '(empty)' : def}`);
      }
    }
  });

  it('lists every pmlogconf group, pmrep metricset and pmieconf rule under pcp/', () => {
    expect(box.pmlogconf.length).toBeGreaterThan(10);
    for (const g of box.pmlogconf) expect(text).toContain(g.group);
    expect(box.pmrep.length).toBeGreaterThanOrEqual(10);
    for (const s of box.pmrep) expect(text).toContain(`:${s.name}`);
    expect(box.pmieconf.map((x) => x.rule).sort()).toEqual(['ebpf.events_lost', 'ebpf.module_failed', 'ebpf.runq_latency', 'ebpf.tcp_retrans']);
    for (const x of box.pmieconf) expect(text).toContain(x.rule);
  });

  it('escapes text that roff would read as requests or escapes', () => {
    expect(roff('.start\nback\\slash a-b x,y')).toBe('\\&.start\nback\\eslash a\\-b x,\\:y');
  });
});
