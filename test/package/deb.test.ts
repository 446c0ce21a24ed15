// The Debian package, end to end on this machine's real dpkg, apt, pmcd and pmcd's rc script:
// `npm run package` builds it; its contents and Depends are what a production host needs and
// nothing more; `apt-get install` leaves .NeedInstall and pmcd's start script installs the agent;
// an upgrade to a rebuilt package with a bumped version restarts the agent once and keeps the
// instance ids and ebpf.conf edits; removal takes the agent out of pmcd and leaves only what a
// purge takes; purge takes that. Afterwards the source-tree install is restored as it was.
//
// It replaces the shared installed agent for ~2 minutes: run it under /tmp/pmcd.lock.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PMDA_DIR, REPO, agentAnswers, agentPids, install, sh, waitFor } from '../helpers/pmcd';

const PKG = 'pcp-pmda-ebpf';
const CONF_DIR = '/etc/pcp/ebpf';
const CONF = `${CONF_DIR}/ebpf.conf`;
const STATE_DIR = '/var/lib/pcp/config/pmda/ebpf';
const LOG = '/var/log/pcp/pmcd/ebpf.log';
const PMCD_CONF = '/etc/pcp/pmcd/pmcd.conf';
// The manifest's extras (packaging/deb/manifest): where each lands on the host.
const EXTRAS: { src: string; file: string; installed: string }[] = [
  { src: 'pcp/pmlogconf/ebpf', file: 'placeholder-group', installed: '/var/lib/pcp/config/pmlogconf/ebpf' },
  { src: 'pcp/pmieconf/ebpf', file: 'placeholder-rule', installed: '/var/lib/pcp/config/pmieconf/ebpf' },
  { src: 'pcp/pmrep', file: 'placeholder.conf', installed: '/etc/pcp/pmrep' },
];
const DEV_ONLY = ['compiler', 'clang', 'llvm', 'gcc', 'make', 'bpftool', 'libbpf-dev', 'chromium', 'npm', 'xfsprogs', 'btrfs-progs', 'nftables', 'strace'];

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pmda-ebpf-deb-'));
const stub = path.join(work, 'stub');
const pkgJson = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
  version: string;
  devDependencies: Record<string, string>;
};
const v1 = pkgJson.version;
const v2 = v1.replace(/^(\d+)\.(\d+)\.(\d+)/, (_m, a, b, c) => `${a}.${b}.${Number(c) + 1}`);
let deb1 = '';
let deb2 = '';
let saved = { conf: false, state: false };

function apt(...args: string[]): string {
  // pcp's scripts call systemctl, which fails on a machine not booted with systemd (setup.sh).
  return sh('env', [
    'DEBIAN_FRONTEND=noninteractive',
    'apt-get', '-y', '-q', '-o', 'DPkg::Lock::Timeout=120', '-o', `DPkg::Path=${stub}:/usr/sbin:/usr/bin:/sbin:/bin`, ...args,
  ], { timeout: 180_000 }).out;
}

function debField(deb: string, field: string): string {
  return sh('dpkg-deb', ['-f', deb, field], { allowFail: true }).out.trim();
}

function debFiles(deb: string): string[] {
  return sh('dpkg-deb', ['-c', deb]).out.split('\n').filter(Boolean).map((l) => l.split(/\s+/).slice(5).join(' ').replace(/^\./, ''));
}

function pmcdConfHasAgent(): boolean {
  return /^ebpf\s/m.test(fs.readFileSync(PMCD_CONF, 'utf8'));
}

function version(): string {
  const out = sh('pminfo', ['-f', 'bcc.pmda.version'], { allowFail: true }).out;
  return /value "([^"]*)"/.exec(out)?.[1] ?? '';
}

/** The live runq latency buckets (name → instance id), as a fetch reports them. */
function runqIds(): Map<string, number> {
  const out = sh('pminfo', ['-f', 'bcc.runq.latency'], { allowFail: true }).out;
  return new Map([...out.matchAll(/inst \[(\d+) or "([^"]+)"\]/g)].map((m) => [m[2]!, Number(m[1])]));
}

/** Every instance id the agent keeps in its state directory: file → name → id. */
function keptIds(): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const f of fs.readdirSync(STATE_DIR).filter((n) => /^indom-.*\.json$/.test(n))) {
    out[f] = (JSON.parse(fs.readFileSync(path.join(STATE_DIR, f), 'utf8')) as { names: Record<string, number> }).names;
  }
  return out;
}

function moduleState(module: string): string {
  const out = sh('pminfo', ['-f', 'bcc.pmda.module.state'], { allowFail: true }).out;
  return new RegExp(`"${module}"\\] value "([^"]*)"`).exec(out)?.[1] ?? '';
}

/** dpkg's status of the package; '' when dpkg no longer knows it (never installed, or purged). */
function pkgStatus(): string {
  const r = sh('dpkg-query', ['-W', '-f=${Status}', PKG], { allowFail: true });
  return r.code === 0 && !r.out.endsWith('not-installed') ? r.out.trim() : '';
}

describe('the Debian package', () => {
  beforeAll(() => {
    fs.mkdirSync(stub);
    fs.writeFileSync(path.join(stub, 'systemctl'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  });

  afterAll(() => {
    // Whatever happened above: no package, the saved configuration and ids back, and the
    // source-tree install as the rest of the suite expects it.
    try {
      if (pkgStatus() !== '') apt('purge', PKG);
    } finally {
      if (saved.conf) {
        fs.rmSync(CONF_DIR, { recursive: true, force: true });
        fs.renameSync(path.join(work, 'conf.saved'), CONF_DIR);
      }
      if (saved.state) {
        fs.rmSync(STATE_DIR, { recursive: true, force: true });
        fs.renameSync(path.join(work, 'state.saved'), STATE_DIR);
      }
      install();
      fs.rmSync(work, { recursive: true, force: true });
    }
  }, 300_000);

  it('npm run package builds pcp-pmda-ebpf_<package.json version>_<arch>.deb', () => {
    sh('npm', ['run', 'package', '--', path.join(work, 'v1')], { timeout: 300_000 });
    const arch = sh('dpkg', ['--print-architecture']).out.trim();
    deb1 = path.join(work, 'v1', `${PKG}_${v1.replace('-', '~')}_${arch}.deb`);
    expect(fs.existsSync(deb1)).toBe(true);
    expect(debField(deb1, 'Version')).toBe(v1.replace('-', '~'));
    // Reproducible: packaging the same tree again gives the same bytes.
    sh('sh', [path.join(REPO, 'tools/package-deb.sh'), path.join(work, 'again')], { timeout: 180_000 });
    const sum = (f: string) => sh('sha256sum', [f]).out.split(' ')[0];
    expect(sum(path.join(work, 'again', path.basename(deb1)))).toBe(sum(deb1));

    // The rebuilt package for the upgrade: the same tree with a bumped package.json and, where
    // the tree has none yet, placeholder PCP toolbox files and man page to prove the manifest.
    const copy = path.join(work, 'tree');
    sh('cp', ['-al', REPO, copy]);
    fs.rmSync(path.join(copy, 'package.json'));
    fs.writeFileSync(path.join(copy, 'package.json'), JSON.stringify({ ...pkgJson, version: v2 }, null, 2));
    for (const e of EXTRAS) {
      if (fs.existsSync(path.join(REPO, e.src))) continue;
      fs.mkdirSync(path.join(copy, e.src), { recursive: true });
      fs.writeFileSync(path.join(copy, e.src, e.file), `# placeholder written by ${path.relative(REPO, __filename)}\n`);
    }
    if (!fs.existsSync(path.join(REPO, 'pmdaebpf.1'))) fs.writeFileSync(path.join(copy, 'pmdaebpf.1'), '.TH PMDAEBPF 1\n.SH NAME\npmdaebpf \\- placeholder\n');
    sh('sh', [path.join(copy, 'tools/package-deb.sh'), path.join(work, 'v2')], { timeout: 180_000 });
    deb2 = path.join(work, 'v2', `${PKG}_${v2.replace('-', '~')}_${arch}.deb`);
    expect(fs.existsSync(deb2)).toBe(true);
  }, 600_000);

  it('holds the agent, its production modules and PCP files, and depends on nothing for building or testing', () => {
    for (const deb of [deb1, deb2]) {
      expect(debField(deb, 'Depends')).toBe('pcp, nodejs (>= 20), libbpf1');
      for (const f of ['Pre-Depends', 'Recommends']) {
        for (const dev of DEV_ONLY) expect(debField(deb, f)).not.toMatch(new RegExp(`\\b${dev}\\b`));
      }
      const files = debFiles(deb);
      for (const f of ['pmdaebpf', 'Install', 'Remove', 'pmns', 'help', 'domain.h', 'root', 'package.json', 'ebpf.conf', 'dist/src/main.js', 'bpf/.output/runqlat.bpf.o', 'node_modules/koffi/package.json', 'node_modules/pino/package.json']) {
        expect(files).toContain(`${PMDA_DIR}/${f}`);
      }
      expect(files).toContain(CONF);
      expect(sh('sh', ['-c', `dpkg-deb --ctrl-tarfile ${deb} | tar -xO ./conffiles`]).out).toContain(`${CONF}\n`);
      // No development module, no test or fixture, no TypeScript source, no foreign koffi binary.
      for (const dev of Object.keys(pkgJson.devDependencies)) {
        expect(files.filter((f) => f.startsWith(`${PMDA_DIR}/node_modules/${dev}/`))).toEqual([]);
      }
      expect(files.filter((f) => /\/(test|tests|__tests__|fixtures)\/|\.test\.[jt]s$|evbench/.test(f))).toEqual([]);
      expect(files.filter((f) => /\.ts$/.test(f) && !/\.d\.ts$/.test(f))).toEqual([]);
      const koffiBuilds = new Set(files.filter((f) => f.includes('/koffi/build/koffi/')).map((f) => f.split('/koffi/build/koffi/')[1]!.split('/')[0]).filter(Boolean));
      expect([...koffiBuilds]).toEqual([`${process.platform}_${process.arch}`]);
      const launcher = sh('sh', ['-c', `dpkg-deb --fsys-tarfile ${deb} | tar -xO .${PMDA_DIR}/pmdaebpf`]).out;
      expect(launcher).toContain(`exec /usr/bin/node ${PMDA_DIR}/dist/src/main.js`);
    }
    const files2 = debFiles(deb2);
    for (const e of EXTRAS) {
      const want = fs.existsSync(path.join(REPO, e.src)) ? fs.readdirSync(path.join(REPO, e.src)) : [e.file];
      for (const f of want) expect(files2).toContain(`${e.installed}/${f}`);
    }
    expect(files2).toContain('/usr/share/man/man1/pmdaebpf.1.gz');
  });

  it('installs without starting anything; pmcd\'s start script then runs the pending Install', async () => {
    // Take the source-tree install away completely (afterAll puts it back).
    sh(path.join(REPO, 'Remove'), [], { allowFail: true, timeout: 120_000 });
    fs.rmSync(PMDA_DIR, { recursive: true, force: true });
    if (fs.existsSync(CONF_DIR)) {
      fs.renameSync(CONF_DIR, path.join(work, 'conf.saved'));
      saved.conf = true;
    }
    if (fs.existsSync(STATE_DIR)) {
      fs.renameSync(STATE_DIR, path.join(work, 'state.saved'));
      saved.state = true;
    }
    expect(pmcdConfHasAgent()).toBe(false);

    apt('install', deb1);
    expect(pkgStatus()).toBe('install ok installed');
    expect(fs.existsSync(`${PMDA_DIR}/.NeedInstall`)).toBe(true);
    expect(pmcdConfHasAgent()).toBe(false);
    expect(agentPids()).toEqual([]);

    sh('/etc/init.d/pmcd', ['restart'], { timeout: 120_000 });
    await waitFor('the pending Install to finish', () => !fs.readdirSync(PMDA_DIR).some((f) => f.startsWith('.NeedInstall.pending') || f === '.NeedInstall'), 120_000);
    expect(fs.readdirSync(PMDA_DIR).filter((f) => f.startsWith('.Need'))).toEqual([]);
    await waitFor('the agent to answer', agentAnswers, 60_000);
    expect(pmcdConfHasAgent()).toBe(true);
    expect(version()).toMatch(new RegExp(`^${v1.replace(/\./g, '\\.')}(\\+[0-9a-f]+)?$`));
  }, 300_000);

  it('upgrades to the bumped package: one restart, the same instance ids, the edited ebpf.conf kept', async () => {
    await waitFor('runqlat instances', () => runqIds().size >= 3, 30_000);
    const before = runqIds();
    const keptBefore = keptIds();
    expect(Object.keys(keptBefore).length).toBeGreaterThan(0);
    const pidsBefore = agentPids();
    expect(pidsBefore.length).toBe(1);
    // An administrator's edit: turn biolatency off (its section's commented-out enabled line).
    const text = fs.readFileSync(CONF, 'utf8');
    const edited = text.replace(/(\[biolatency\][^[]*?)#\s*enabled\s*=\s*\w+/, '$1enabled = false') + '# kept across upgrades\n';
    expect(edited).toContain('enabled = false');
    fs.writeFileSync(CONF, edited);

    apt('install', deb2);
    expect(pkgStatus()).toBe('install ok installed');
    await waitFor('the new agent to answer', () => version().startsWith(v2), 60_000);
    expect(fs.readFileSync(CONF, 'utf8')).toBe(edited);
    expect(fs.readdirSync(CONF_DIR)).toEqual(['ebpf.conf']);
    expect(moduleState('biolatency')).toBe('disabled');
    const pidsAfter = agentPids();
    expect(pidsAfter.length).toBe(1);
    expect(pidsAfter).not.toEqual(pidsBefore);
    // Restarted once: the log Install rotated holds one start, of the new version.
    const starts = fs.readFileSync(LOG, 'utf8').split('\n').filter((l) => l.includes('pmda-ebpf starting'));
    expect(starts.length).toBe(1);
    expect(starts[0]).toContain(`"version":"${v2}`);
    expect(fs.readdirSync(PMDA_DIR).filter((f) => f.startsWith('.Need'))).toEqual([]);
    // Buckets come back as the new agent sees them again: every one that has keeps its id, and
    // every id the old agent kept on disk is still there, for every instance domain.
    await waitFor('runqlat buckets again', () => [...runqIds().keys()].filter((n) => before.has(n)).length >= 3, 30_000);
    const after = runqIds();
    for (const [name, id] of after) if (before.has(name)) expect({ name, id }).toEqual({ name, id: before.get(name) });
    const keptAfter = keptIds();
    for (const [file, names] of Object.entries(keptBefore)) {
      for (const [name, id] of Object.entries(names)) expect({ file, name, id: keptAfter[file]?.[name] }).toEqual({ file, name, id });
    }
    for (const e of EXTRAS) expect(fs.readdirSync(e.installed).length).toBeGreaterThan(0);
  }, 300_000);

  it('removal takes the agent out of pmcd and leaves only what a purge takes; purge takes that', async () => {
    const owned = sh('dpkg', ['-L', PKG]).out.split('\n').filter((f) => f && fs.existsSync(f) && !fs.statSync(f).isDirectory());
    const conffiles = sh('dpkg-query', ['-W', '-f=${Conffiles}', PKG]).out.split('\n').map((l) => l.trim().split(' ')[0]!).filter(Boolean);
    expect(conffiles).toContain(CONF);
    // An administrator's state_dir elsewhere, shared with a file of theirs: the purge (which runs
    // after dpkg deleted ebpf.conf) takes the agent's instance ids there and nothing else.
    const alt = path.join(work, 'alt-state');
    fs.mkdirSync(alt);
    for (const f of ['indom-149.4.json', 'indom-149.4.json.hwm-64', 'indom-149.4.json.corrupt-1']) fs.writeFileSync(path.join(alt, f), '{}');
    fs.writeFileSync(path.join(alt, 'theirs'), 'kept');
    const text = fs.readFileSync(CONF, 'utf8');
    fs.writeFileSync(CONF, text.replace(/^#\s*state_dir\s*=.*$/m, `state_dir = ${alt}`));
    expect(fs.readFileSync(CONF, 'utf8')).toContain(`state_dir = ${alt}`);

    apt('remove', PKG);
    expect(pkgStatus()).toBe('deinstall ok config-files');
    expect(pmcdConfHasAgent()).toBe(false);
    expect(sh('pminfo', ['bcc'], { allowFail: true }).code).not.toBe(0);
    await waitFor('the agent process to exit', () => agentPids().length === 0, 10_000);
    expect(fs.existsSync(PMDA_DIR)).toBe(false);
    expect(owned.filter((f) => fs.existsSync(f))).toEqual(conffiles.filter((f) => owned.includes(f)));
    expect(fs.readdirSync(STATE_DIR).some((f) => f.startsWith('indom-'))).toBe(true);

    apt('purge', PKG);
    expect(pkgStatus()).toBe('');
    for (const gone of [CONF_DIR, STATE_DIR, LOG, ...conffiles]) expect({ gone, exists: fs.existsSync(gone) }).toEqual({ gone, exists: false });
    expect(fs.readdirSync(alt)).toEqual(['theirs']);
    expect(fs.existsSync(`${STATE_DIR}.location`)).toBe(false);
  }, 300_000);
});
