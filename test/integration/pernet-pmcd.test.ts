// The per-process network, I/O, page cache and lock modules through the real pmcd, as PCP QA
// checked pmdabcc's: 1286 (netproc, exact values per process). The test writes its own
// ebpf.conf sections, restarts the installed agent, and restores both afterwards.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, QA1286 } from '../helpers/netproc-pair';
import { CONF, ensureInstalled, restartAgent, waitFor, withSection } from '../helpers/pmcd';

let savedConf: string | null = null;

/** pminfo -f output → instance id → [name, value text]. */
function values(metric: string): Map<number, [string, string]> {
  const out = spawnSync('pminfo', ['-f', metric], { encoding: 'utf8' }).stdout ?? '';
  const m = new Map<number, [string, string]>();
  for (const line of out.split('\n')) {
    const inst = /^\s+inst \[(\d+) or "(.*)"\] value (.*)$/.exec(line);
    if (inst) m.set(Number(inst[1]), [inst[2]!, inst[3]!]);
  }
  return m;
}

const state = (module: string) => spawnSync('pminfo', ['-f', 'bcc.pmda.module.state'], { encoding: 'utf8' }).stdout.match(new RegExp(`"${module}"\\] value "(\\w+)"`))?.[1];

beforeAll(async () => {
  ensureInstalled();
  savedConf = fs.existsSync(CONF) ? fs.readFileSync(CONF, 'utf8') : '';
  // QA 1286's configuration: the processes are gone when the values are read.
  fs.writeFileSync(CONF, withSection(savedConf, 'netproc', 'enabled = true\nremove_stopped_processes = false'));
  await restartAgent();
  await waitFor('netproc to run', () => state('netproc') === 'running', 30_000);
});

afterAll(async () => {
  if (savedConf !== null) fs.writeFileSync(CONF, savedConf);
  await restartAgent();
});

describe('per-process modules through pmcd', () => {
  it('QA 1286: netproc reports exactly one call each way, TCP 11/17 and UDP 16/22 bytes', async () => {
    const { server, client } = await exchange();
    for (const [leaf, [c, s]] of Object.entries(QA1286)) {
      const metric = `bcc.proc.net.${leaf}`;
      const d = spawnSync('pminfo', ['-d', metric], { encoding: 'utf8' }).stdout;
      expect(d).toContain('Data Type: 64-bit unsigned int  InDom: 149.40 0x25400028');
      expect(d).toContain(`Semantics: counter  Units: ${leaf.endsWith('bytes') ? 'byte' : 'count'}`);
      const v = values(metric);
      // QA 1286's _pid_filter: the id is the pid, the name "%06d" or "%06d argv0".
      for (const [pid, want] of [[client, c], [server, s]] as const) {
        const [name, value] = v.get(pid) ?? ['(none)', '(none)'];
        expect(name, metric).toMatch(new RegExp(`^${String(pid).padStart(6, '0')}( /usr/bin/python3)?$`));
        expect(Number(value), `${metric} pid ${pid}`).toBe(want);
      }
    }
    expect(spawnSync('pminfo', ['-T', 'bcc.proc.net.tcp.send.calls'], { encoding: 'utf8' }).stdout).toContain('number of TCP send calls (tcp_sendmsg())');
  });
});
