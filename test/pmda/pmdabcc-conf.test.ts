// A pmdabcc site's bcc.conf keeps working: pmdabcc's common keys in every module section
// (accepted when they agree, a ConfigError naming section and key when they ask for another
// cluster, prefix or module), [pmda] process_refresh as every module's default, and Install's
// import of bcc.conf into ebpf.conf, tried on pmdabcc's own default bcc.conf and on a site's.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { MODULES } from '../../src/modules';
import { parseIni, pmdaSettings } from '../../src/pmda/config-file';
import { parseSection } from '../../src/pmda/config-schema';
import { pmdabccCompat } from '../../src/pmda/pmdabcc-compat';
import { importBccConf } from '../../tools/import-bcc-conf';

const FIXTURE = path.join(__dirname, 'fixtures/pmdabcc-bcc.conf');
const log = pino({ level: 'silent' });
const spec = (n: string) => MODULES.find((m) => m.name === n)!;

describe('pmdabcc common keys', () => {
  it("pmdabcc's default bcc.conf: every section of a module we have passes, common keys and options alike", () => {
    const raw = parseIni(fs.readFileSync(FIXTURE, 'utf8')).raw;
    let checked = 0;
    for (const [section, keys] of raw) {
      const m = MODULES.find((x) => x.name === section);
      if (!m) continue;
      const rest = pmdabccCompat(m, keys, raw.get('pmda'), log);
      expect(() => parseSection(m.name, m.config, rest), section).not.toThrow();
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(14);
    expect(pmdaSettings(raw).settings).toMatchObject({ modules: ['netproc'], process_refresh: 60, prefix: 'bcc.' });
  });

  it('agreeing values are no-ops; another cluster, prefix or module is an error naming section and key', () => {
    const s = spec('syscount');
    expect(pmdabccCompat(s, { module: 'syscount', cluster: '15', prefix: 'bcc.', debug: 'True', pmda_indom_cache: 'False', latency: 'True' }, undefined, log)).toEqual({ latency: 'True' });
    expect(pmdabccCompat(spec('ext4dist'), { module: 'fs.ext4dist', cluster: '5' }, undefined, log)).toEqual({});
    expect(() => pmdabccCompat(s, { cluster: '215' }, undefined, log)).toThrow(/\[syscount\] cluster: syscount is cluster 15 .* cannot move to "215"/);
    expect(() => pmdabccCompat(s, { prefix: 'site.' }, undefined, log)).toThrow(/\[syscount\] prefix: .*"site." is not supported/);
    expect(() => pmdabccCompat(s, { module: 'exectop' }, undefined, log)).toThrow(/\[syscount\] module: "exectop" would load another module/);
    expect(() => pmdabccCompat(s, { debug: 'sometimes' }, undefined, log)).toThrow(/\[syscount\] debug: expected true or false/);
  });

  it('[pmda] process_refresh is the default of each module with a process filter; its own key wins', () => {
    const s = spec('syscount');
    expect(pmdabccCompat(s, {}, { process_refresh: '60' }, log)).toEqual({ process_refresh: '60' });
    expect(pmdabccCompat(s, { process_refresh: '7' }, { process_refresh: '60' }, log)).toEqual({ process_refresh: '7' });
    expect(parseSection('syscount', s.config, pmdabccCompat(s, {}, { process_refresh: '60' }, log)).process_refresh).toBe(60);
  });
});

describe('Install imports bcc.conf', () => {
  it("pmdabcc's default: its module list (netproc) and process_refresh", () => {
    const r = importBccConf(fs.readFileSync(FIXTURE, 'utf8'), 'bcc.conf');
    const conf = parseIni(r.text).raw;
    expect(conf.get('pmda')).toEqual({ modules: 'netproc', process_refresh: '60' });
    expect(r.notMapped.join('\n')).toMatch(/module_failure_fatal = True: dropped/);
  });

  it("a site's bcc.conf: enabled modules and their options carried over, the rest reported", () => {
    const site = fs
      .readFileSync(FIXTURE, 'utf8')
      .replace('modules = netproc', 'modules = syscount,tracepoint_hits,kprobe_hits,exectop,ext4dist,usdt_jvm_alloc')
      .replace('#process = java\n#errno = EPERM', 'process = java\nerrno = EPERM\nfrobnicate = yes')
      .replace('module = exectop\ncluster = 13', 'module = exectop\ncluster = 213');
    const r = importBccConf(site, 'bcc.conf');
    const conf = parseIni(r.text).raw;
    expect(conf.get('pmda')!.modules).toBe('syscount,tracepoint_hits,kprobe_hits,exectop,ext4dist,usdt_jvm_alloc');
    expect(conf.get('syscount')).toEqual({ process: 'java', errno: 'EPERM' });
    expect(conf.get('tracepoint_hits')).toEqual({ compile_test: 'True', tracepoints: 'random:urandom_read' });
    expect(conf.get('kprobe_hits')).toEqual({ kprobes: 'kprobe:sched_fork' });
    expect(conf.get('exectop')).toEqual({});
    expect(conf.get('ext4dist')).toEqual({});
    expect(conf.has('usdt_jvm_alloc')).toBe(false); // the one pmdabcc module not here (PCP retired it)
    expect(conf.has('runqlat')).toBe(false); // not enabled at the site: not carried over
    const report = r.notMapped.join('\n');
    expect(report).toMatch(/\[syscount\] frobnicate = yes: \[syscount\] frobnicate: unknown key/);
    expect(report).toMatch(/\[exectop\] cluster: .*cannot move to "213"/);
    expect(report).toMatch(/module usdt_jvm_alloc: not in this agent yet/);
    // Every imported section parses under the agent's own rules.
    for (const [section, keys] of conf) if (section !== 'pmda') expect(() => parseSection(section, spec(section).config, pmdabccCompat(spec(section), keys, conf.get('pmda'), log))).not.toThrow();
  });

  it('the command writes ebpf.conf and prints the mapping; an existing ebpf.conf is left alone', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bccimport-'));
    const to = path.join(dir, 'ebpf.conf');
    const script = path.join(__dirname, '../../dist/tools/import-bcc-conf.js');
    const r = spawnSync(process.execPath, [script, FIXTURE, to], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/mapped: \[pmda\] process_refresh = 60/);
    // netproc is here now: mapped, not reported.
    expect(r.stdout).not.toMatch(/NOT mapped: module netproc/);
    expect(fs.readFileSync(to, 'utf8')).toMatch(/^modules = netproc$/m);
    const again = spawnSync(process.execPath, [script, FIXTURE, to], { encoding: 'utf8' });
    expect(again.stdout).toMatch(/exists: nothing imported/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
