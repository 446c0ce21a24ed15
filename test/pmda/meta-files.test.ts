// The files gen-meta writes for PCP's tools: the help database must carry every metric's and
// instance domain's full text (read back with PCP's own chkhelp), and the default ebpf.conf must
// show each default as text that parses back to that same default.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODULES } from '../../src/modules';
import { PMDA_SCHEMA, parseIni } from '../../src/pmda/config-file';
import { formatValue, type ConfigSchema } from '../../src/pmda/config-schema';
import { metaTable, renderConf, renderDomainH, renderPmns, renderRoot } from '../../tools/gen-meta';
import { helpEntries, renderHelpDb } from '../../tools/help-db';

const CHKHELP = '/usr/lib/pcp/bin/chkhelp';

function chkhelp(dir: string, ...args: string[]): string {
  const r = spawnSync(CHKHELP, ['-n', path.join(dir, 'root'), ...args], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`chkhelp ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

describe('help database (help.dir/help.pag)', () => {
  const table = metaTable();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ebpf-help-'));
  fs.writeFileSync(path.join(dir, 'pmns'), renderPmns(table));
  fs.writeFileSync(path.join(dir, 'root'), renderRoot());
  fs.writeFileSync(path.join(dir, 'domain.h'), renderDomainH());
  const db = renderHelpDb(helpEntries(table));
  fs.writeFileSync(path.join(dir, 'help.dir'), db.dir);
  fs.writeFileSync(path.join(dir, 'help.pag'), db.pag);
  const help = path.join(dir, 'help');

  it('passes chkhelp integrity check and holds an entry for every metric', () => {
    chkhelp(dir, help);
    expect(chkhelp(dir, '-e', help, 'bcc')).toBe('');
  });

  it('holds the full text of every metric, including those over newhelp\'s 1 KiB entry limit', () => {
    const long = [...table.byPmid.values()].filter((e) => e.spec.help.length > 1024);
    expect(long.length).toBeGreaterThan(0);
    for (const e of table.byPmid.values()) {
      const out = chkhelp(dir, '-H', '-O', help, e.spec.name);
      expect(out, e.spec.name).toContain(`${e.spec.name}: ${e.spec.oneline}\n`);
      expect(out, e.spec.name).toContain(e.spec.help.replace(/\n+$/, ''));
    }
  });

  it('holds every instance domain', () => {
    const out = chkhelp(dir, '-i', '-O', '-H', help);
    for (const d of table.indoms.values()) {
      expect(out).toContain(`InDom 149.${d.indom & 0x3fffff}: ${d.spec.oneline}`);
      expect(out).toContain(d.spec.help.replace(/\n+$/, ''));
    }
  });
});

describe('default ebpf.conf', () => {
  const conf = renderConf();
  const sections: Array<[string, ConfigSchema]> = [['pmda', PMDA_SCHEMA as ConfigSchema], ...MODULES.map((m) => [m.name, m.config] as [string, ConfigSchema])];

  it('shows each default as text that parses back to the same default', () => {
    for (const [section, schema] of sections) {
      for (const [key, spec] of Object.entries(schema)) {
        const text = formatValue(spec, spec.default);
        expect(text, `[${section}] ${key}`).not.toMatch(/\[object|undefined/);
        // Values may hold compiled regexes or closures: compare what they read back as.
        expect(formatValue(spec, spec.parse(text)), `[${section}] ${key}`).toBe(text);
        expect(conf).toContain(`#${key} = ${text}`);
      }
    }
  });

  it('uncommented, it is a valid config that changes nothing', () => {
    const active = conf.replace(/^#([a-z_]+ = )/gm, '$1');
    const raw = parseIni(active).raw;
    expect([...raw.keys()].sort()).toEqual(sections.map((s) => s[0]).sort());
    expect(raw.get('biotop')?.sort).toBe('-bytes');
  });
});
