// A dbpmda session against the built agent: dbpmda forks it on pipes exactly as pmcd does and
// resolves names through the agent's own PMNS replies (dynamic `bcc 149:*:*` root).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODULES } from '../../src/modules';
import { AGENT, allModulesOff } from '../helpers/agent-pipe';
import { buildVersion } from '../helpers/pmcd';

describe('dbpmda session', () => {
  it('children, traverse, pmid, desc, fetch, text, instance, label', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dbpmda-'));
    fs.writeFileSync(path.join(dir, 'root'), 'root {\n\tbcc\t149:*:*\n}\n');
    fs.writeFileSync(path.join(dir, 'ebpf.conf'), allModulesOff(MODULES.map((m) => m.name)));
    const cmds = [
      `open pipe ${process.execPath} ${AGENT} -d 149 -l ${dir}/agent.log -c ${dir}/ebpf.conf --state-dir ${dir}/state`,
      'children bcc.pmda',
      'traverse bcc.pmda.module',
      'pmid bcc.pmda.module.lost',
      'name 149.300.3',
      'desc bcc.pmda.module.lost',
      'fetch bcc.pmda.version',
      'getiname on',
      'fetch bcc.pmda.module.state',
      'instance 149.300',
      'text bcc.pmda.module.variant',
      'text indom 149.300',
      'label domain',
      'label cluster 149.300',
      'desc 149.300.99',
      'close',
    ];
    const r = spawnSync('dbpmda', ['-n', path.join(dir, 'root'), '-e', '-f'], { input: cmds.join('\n') + '\n', encoding: 'utf8', timeout: 60_000 });
    const out = r.stdout + r.stderr;
    expect(r.status, out).toBe(0);
    expect(out).toMatch(/Metric: bcc\.pmda\n\s+leaf version\n\s+non-leaf module\n\s+non-leaf config/);
    for (const leaf of ['state', 'error', 'variant', 'lost']) expect(out).toContain(`   bcc.pmda.module.${leaf}\n`);
    expect(out).toMatch(/Metric: bcc\.pmda\.module\.lost\n\s+149\.300\.4/);
    expect(out).toMatch(/PMID: 149\.300\.3\n\s+bcc\.pmda\.module\.variant/);
    expect(out).toMatch(/Data Type: 64-bit unsigned int\s+InDom: 149\.300 0x2540012c\n\s+Semantics: counter\s+Units: count/);
    expect(out).toContain(`value "${buildVersion()}"`);
    for (const [i, m] of MODULES.entries()) {
      expect(out).toContain(`inst [${i} or "${m.name}"] value "disabled"`);
      expect(out).toContain(`[${String(i).padStart(3)}] inst: ${i} name: "${m.name}"`);
    }
    expect(out).toContain('[attach variant in use by each module]');
    expect(out).toContain('[tool modules of the eBPF agent]');
    expect(out).toMatch(/Labels:\n\s+agent="ebpf"/);
    expect(out).toMatch(/Cluster: 149\.300\nLabels:\n\s+bcc_module="pmda"/);
    expect(out).toMatch(/PMID: 149\.300\.99\nError PDU: Unknown or illegal metric identifier/);
  });
});
