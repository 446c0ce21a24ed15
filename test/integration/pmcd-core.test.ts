// The installed agent under the real pmcd: values through pminfo/pmprobe, restart after a
// crash, configuration errors reported while the rest serves, Remove and Install.
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAnswers, agentPids, buildVersion, CONF, ensureInstalled, install, PMDA_DIR, pminfo, restartAgent, sh, waitFor } from '../helpers/pmcd';

let savedConf: string | null = null;

beforeAll(() => {
  ensureInstalled();
  savedConf = fs.existsSync(CONF) ? fs.readFileSync(CONF, 'utf8') : null;
});

afterAll(async () => {
  if (savedConf !== null) fs.writeFileSync(CONF, savedConf);
  if (!fs.existsSync(`${PMDA_DIR}/Install`) || !agentAnswers()) install();
  else await restartAgent();
});

describe('agent under pmcd', () => {
  it('pminfo -dfT bcc.pmda shows descriptors, values and help', () => {
    const out = pminfo('-dfT', 'bcc.pmda');
    expect(out).toMatch(/bcc\.pmda\.version\n\s+Data Type: string\s+InDom: PM_INDOM_NULL 0xffffffff\n\s+Semantics: discrete\s+Units: none\nHelp:\n.*pmda-ebpf/);
    // The build under test, exactly: "<package version>+<build id>".
    expect(out).toContain(`value "${buildVersion()}"`);
    expect(buildVersion()).toMatch(/^\d+\.\d+\.\d+\+[0-9a-f]{16}$/);
    expect(out).toMatch(/bcc\.pmda\.module\.state\n[\s\S]*?inst \[\d+ or "runqlat"\] value "(running|disabled|failed)"/);
    expect(out).toMatch(/bcc\.pmda\.module\.lost\n\s+Data Type: 64-bit unsigned int\s+InDom: 149\.300/);
    const probe = sh('pmprobe', ['-v', 'bcc.pmda.version', 'bcc.pmda.module.state']).out;
    expect(probe).toContain(`bcc.pmda.version 1 "${buildVersion()}"`);
    expect(probe).toMatch(/^bcc\.pmda\.module\.state [1-9]\d* /m);
    const labels = pminfo('-l', 'bcc.pmda.module.state');
    expect(labels).toContain('"agent":"ebpf"');
    expect(labels).toContain('"bcc_module":"pmda"');
  });

  it('kill -9: pmcd restarts the agent and it answers again', async () => {
    const [pid] = agentPids();
    expect(pid).toBeGreaterThan(0);
    process.kill(pid!, 'SIGKILL');
    // pmcd notices a dead agent only when it next talks to it (a client request), then
    // restarts it by itself (PMCD_RESTART_AGENTS), at most once a minute: keep asking.
    await waitFor('pmcd to restart the agent', () => agentAnswers() && agentPids().some((p) => p !== pid), 75_000, 500);
  }, 90_000);

  it('a config with an unknown key and a bad value: errors name section and key, the rest serves', async () => {
    fs.writeFileSync(CONF, `${savedConf ?? ''}\n[tcpretrans_typo]\nenabled = true\n`.replace(/\[runqlat\][^[]*/, '[runqlat]\ncolour = red\n'));
    await restartAgent();
    const errors = pminfo('-f', 'bcc.pmda.config.errors');
    expect(errors).toContain('[runqlat] colour: unknown key');
    expect(errors).toContain('[tcpretrans_typo] *: unknown section');
    const state = pminfo('-f', 'bcc.pmda.module.state');
    expect(state).toMatch(/"runqlat"\] value "failed"/);
    expect(pminfo('-f', 'bcc.pmda.module.error')).toMatch(/"runqlat"\] value "\[runqlat\] colour: unknown key/);
    expect(pminfo('-f', 'bcc.pmda.version')).toContain(`value "${buildVersion()}"`);
    fs.writeFileSync(CONF, savedConf ?? '');
    await restartAgent();
    expect(pminfo('-f', 'bcc.pmda.config.errors')).toMatch(/value ""/);
  }, 120_000);

  it('Remove leaves no pmcd.conf line, no namespace, no process; Install brings it back', () => {
    const removed = sh(`${PMDA_DIR}/Remove`, []).out;
    expect(removed).toContain('Check bcc metrics have gone away ... OK');
    expect(fs.readFileSync('/etc/pcp/pmcd/pmcd.conf', 'utf8')).not.toMatch(/^ebpf\s/m);
    expect(sh('pminfo', ['bcc'], { allowFail: true }).code).not.toBe(0);
    expect(agentPids()).toEqual([]);
    const out = install();
    expect(out).toContain('Waiting for the ebpf agent to report ready ... ready');
    expect(agentAnswers()).toBe(true);
  }, 240_000);
});
