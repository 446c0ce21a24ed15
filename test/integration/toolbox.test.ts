// The PCP toolbox around the agent, with the real tools: Install puts the pmlogconf groups,
// pmrep metricsets, pmieconf rules and man page where PCP looks (and without newhelp warnings);
// `pmlogconf -c` picks the groups up and pmlogger records them; every pmrep metricset prints
// rows; `pmieconf list` shows the rules and each rule fires under a real workload; Remove takes
// the files away again.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentAnswers, CONF, install, PMDA_DIR, REPO, sh, waitFor } from '../helpers/pmcd';

const ENV = { ...process.env, PATH: `/usr/bin:/bin:/usr/sbin:/sbin:${process.env.PATH}` }; // pmrep: Debian's python3
const VAR = '/var/lib/pcp';
const LOGCONF = `${VAR}/config/pmlogconf/ebpf`;
const IECONF = `${VAR}/config/pmieconf/ebpf`;
const PMREP = '/etc/pcp/pmrep/ebpf.conf';
const MAN = '/usr/share/man/man1/pmdaebpf.1.gz';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ebpf-toolbox-'));
let installOut = '';
let savedConf: string | null = null;

function run(cmd: string, args: string[], timeout = 60_000): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: ENV, timeout, cwd: tmp });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

beforeAll(() => {
  savedConf = fs.existsSync(CONF) ? fs.readFileSync(CONF, 'utf8') : null;
  installOut = install();
}, 240_000);

afterAll(() => {
  if (savedConf !== null) fs.writeFileSync(CONF, savedConf);
  else fs.rmSync(CONF, { force: true });
  install();
  fs.rmSync(tmp, { recursive: true, force: true });
}, 240_000);

describe('Install', () => {
  it('prints no newhelp warning and installs the toolbox files and the man page', () => {
    expect(installOut).not.toMatch(/newhelp|truncated|long line/);
    for (const d of [LOGCONF, IECONF]) {
      const src = path.join(REPO, 'pcp', path.basename(path.dirname(d)), 'ebpf');
      expect(fs.readdirSync(d).sort()).toEqual(fs.readdirSync(src).sort());
    }
    expect(fs.readFileSync(PMREP, 'utf8')).toBe(fs.readFileSync(path.join(REPO, 'pcp/pmrep/ebpf.conf'), 'utf8'));
    expect(fs.existsSync(`${PMDA_DIR}/pmdaebpf.1`)).toBe(true);
    const page = run('man', ['pmdaebpf']);
    expect(page).toMatch(/pmdaebpf\s+[-\u2010]\s+eBPF\s+performance\s+metrics\s+domain\s+agent/);
    expect(page).toContain('bcc.runq.latency_quantile');
  });
});

describe('pmlogconf and pmlogger', () => {
  it('pmlogconf -c offers the groups whose metrics exist; pmlogger records them', async () => {
    const cfg = path.join(tmp, 'pmlogger.config');
    run('/usr/lib/pcp/bin/pmlogconf', ['-c', cfg]);
    const text = fs.readFileSync(cfg, 'utf8');
    for (const g of ['runqlat', 'biolatency', 'ext4dist', 'execsnoop', 'execsnoop-params', 'tcplife', 'tcplife-params', 'tcpretrans', 'biotop', 'tcptop', 'pmda']) {
      expect(text, g).toMatch(new RegExp(`^#\\+ ebpf/${g}:y:`, 'm'));
    }
    expect(text).toMatch(/^#\+ ebpf\/profile:n:/m); // offered, off: large
    expect(text).toMatch(/^#\+ ebpf\/zfsdist:x:/m); // no zfs here: no values, excluded
    expect(text).toMatch(/log advisory on once \{\n(\s+bcc\.proc\.exec\.\w+\n)+\}/);

    const archive = path.join(tmp, 'arch');
    const logger = spawn('/usr/lib/pcp/bin/pmlogger', ['-c', cfg, '-T', '12sec', archive], { env: ENV, cwd: tmp });
    let err = '';
    logger.stderr.on('data', (d) => (err += d));
    const marker = `tbmark${process.pid}`;
    // Records come from the first fetch on (a client gets the events since its previous fetch):
    // exec a marker a few times after pmlogger has surely started.
    for (const at of [3000, 2000, 2000]) {
      await new Promise((r) => setTimeout(r, at));
      execFileSync('/bin/echo', [marker]);
    }
    const code = await new Promise<number | null>((r) => logger.on('close', r));
    expect(code, err).toBe(0);
    const names = run('pminfo', ['-a', archive, 'bcc']);
    for (const m of ['bcc.runq.latency', 'bcc.runq.latency_quantile', 'bcc.disk.all.latency', 'bcc.fs.ext4.latency.read', 'bcc.fs.ext4.latency_quantile.read',
      'bcc.proc.exec.records', 'bcc.proc.exec.args', 'bcc.proc.io.net.tcp.records', 'bcc.proc.io.net.tcp.dport', 'bcc.io.net.tcp.retrans.count',
      'bcc.proc.io.perdev.bytes', 'bcc.proc.io.net.tcptop.tx', 'bcc.pmda.module.state']) {
      expect(names, m).toContain(`${m}\n`);
    }
    expect(names).not.toContain('bcc.proc.stacks');
    // Every exec, with its parameters named (their descriptors were logged once).
    const dump = run('pmdumplog', [archive, 'bcc.proc.exec.records']);
    expect(dump).toMatch(new RegExp(`bcc\\.proc\\.exec\\.args.*"/bin/echo ${marker}"`));
    const q = run('pmdumplog', [archive, 'bcc.runq.latency_quantile']);
    expect(q).toMatch(/bcc\.runq\.latency_quantile[\s\S]*inst \[2 or "p99"\] value \d/);
  }, 120_000);
});

describe('pmrep metricsets', () => {
  const sets = fs
    .readFileSync(path.join(REPO, 'pcp/pmrep/ebpf.conf'), 'utf8')
    .split('\n')
    .map((l) => /^\[([\w-]+)\]$/.exec(l.trim())?.[1])
    .filter((s): s is string => !!s);

  it('pmrep :bcc-runq prints quantile rows in usec', () => {
    const out = run('pmrep', [':bcc-runq', '-s', '3', '-t', '1']).trim().split('\n');
    expect(out[1]).toMatch(/p50\s+p90\s+p99\s+p99\.9/);
    expect(out[2]).toMatch(/microsec/);
    // Three samples; the last has every quantile and the wakeup rate as numbers.
    expect(out.slice(3)).toHaveLength(3);
    expect(out.at(-1)!.trim().split(/\s+/).map(Number).every((v) => Number.isFinite(v))).toBe(true);
  });

  it('every metricset runs and prints rows', () => {
    expect(sets.length).toBeGreaterThanOrEqual(10);
    for (const s of sets) {
      const out = run('pmrep', [`:${s}`, '-s', '2', '-t', '1']);
      expect(out.trim().split('\n').length, s).toBeGreaterThan(2);
    }
    expect(run('pmrep', [':bcc-pmda', '-s', '1'])).toMatch(/runqlat\s+running/);
  });
});

describe('pmieconf rules', () => {
  const hog = path.join(tmp, 'tbhog');
  const NS = `tbrt${process.pid}`;

  beforeAll(async () => {
    // runqlat counts only the hogs (a clean signal on a shared machine); execsnoop gets a ring
    // too small for a burst; biotop gets a bad key, so it fails.
    fs.copyFileSync('/usr/bin/yes', hog);
    fs.writeFileSync(
      CONF,
      '[runqlat]\nprocess = tbhog\nprocess_refresh = 1\n[execsnoop]\nbuffer_page_count = 1\npoll_interval = 10000\nmax_args = 20\n[biotop]\nsort = nonsense\n',
    );
    install();
    await waitFor('biotop to be reported failed', () => /"biotop"\] value "failed"/.test(run('pminfo', ['-f', 'bcc.pmda.module.state'])), 20_000);
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up', 'mtu', '1500', 'gso_max_segs', '1']);
    execFileSync('ip', ['netns', 'exec', NS, 'nft', 'add table inet loss; add chain inet loss in { type filter hook input priority 0; }; add rule inet loss in tcp dport 7000-7999 numgen random mod 10 < 3 drop']);
  }, 240_000);

  afterAll(() => {
    spawnSync('ip', ['netns', 'del', NS]);
  });

  /** A pmie config of the installed ebpf rules, every one evaluated each second, printing when it fires. */
  function pmieConfig(): string {
    const f = path.join(tmp, `pmie-${Date.now()}.config`);
    const rules = `${VAR}/config/pmieconf/global:${IECONF}`;
    run('pmieconf', ['-r', rules, '-F', '-f', f]);
    const set = (...a: string[]) => run('pmieconf', ['-r', rules, '-f', f, 'modify', ...a]);
    set('global', 'user_action', 'yes');
    set('global', 'syslog_action', 'no');
    for (const r of ['runq_latency', 'tcp_retrans', 'events_lost', 'module_failed']) set(`ebpf.${r}`, 'delta', '1 sec');
    set('ebpf.runq_latency', 'threshold', '2');
    set('ebpf.runq_latency', 'lookback', '1');
    set('ebpf.tcp_retrans', 'threshold', '1');
    return f;
  }

  function pmie(config: string, seconds: number): Promise<string> {
    return new Promise((resolve) => {
      const p = spawn('pmie', ['-c', config, '-T', `${seconds}sec`], { env: ENV, cwd: tmp });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (out += d));
      p.on('close', () => resolve(out));
    });
  }

  it('pmieconf list shows the four rules', () => {
    const out = run('pmieconf', ['list', 'ebpf']);
    for (const r of ['ebpf.runq_latency', 'ebpf.tcp_retrans', 'ebpf.events_lost', 'ebpf.module_failed']) expect(out).toContain(`rule: ${r}`);
  });

  it('each rule fires under its workload, and the run queue rule not without it', async () => {
    const config = pmieConfig();
    const quiet = await pmie(config, 4);
    expect(quiet).not.toContain('eBPF run queue latency p99 high');
    expect(quiet).toMatch(/eBPF agent module failed biotop failed@/);
    expect(quiet).not.toMatch(/zfsdist/); // expected to fail where ZFS is absent

    const watching = pmie(config, 9);
    // Three CPU hogs on one CPU: each waits for the other two (milliseconds).
    const hogs = [0, 1, 2].map(() => spawn('taskset', ['-c', '1', hog], { stdio: 'ignore' }));
    // Lossy transfers inside the namespace: retransmits.
    const script = `
      const net = require('net'); let port = 7000; const end = Date.now() + 6000;
      (function next() {
        if (Date.now() > end) return;
        const p = port++;
        const srv = net.createServer((s) => { s.resume(); s.on('end', () => s.end()); });
        srv.listen(p, '127.0.0.1', () => {
          const c = net.connect(p, '127.0.0.1', () => { c.end(Buffer.alloc(2e6, 'x')); c.resume(); });
          c.on('close', () => { srv.close(); next(); });
        });
      })();`;
    const transfers = spawn('ip', ['netns', 'exec', NS, process.execPath, '-e', script], { stdio: 'ignore' });
    // Bursts of long execs: more than the one-page ring holds between drains.
    const long = Array.from({ length: 12 }, (_, i) => `${i}`.repeat(120));
    for (let b = 0; b < 4; b++) {
      await Promise.all(Array.from({ length: 20 }, () => new Promise((r) => spawn('/bin/true', long).on('close', r))));
      await new Promise((r) => setTimeout(r, 1000));
    }
    const out = await watching;
    for (const h of hogs) h.kill('SIGKILL');
    transfers.kill('SIGKILL');
    expect(out).toMatch(/eBPF run queue latency p99 high [\d.]+/);
    expect(out).toMatch(/eBPF TCP retransmits [\d.]+ retrans\/s@/);
    expect(out).toMatch(/eBPF agent losing events [\d.]+/);
    expect(run('pminfo', ['-f', 'bcc.pmda.module.lost'])).toMatch(/"execsnoop"\] value [1-9]/);
    expect(out).toMatch(/eBPF agent module failed biotop failed@/);
  }, 120_000);
});

describe('Remove', () => {
  it('deletes the toolbox files and the man page; Install brings them back', () => {
    sh(`${PMDA_DIR}/Remove`, []);
    for (const f of [LOGCONF, IECONF, PMREP, MAN]) expect(fs.existsSync(f), f).toBe(false);
    installOut = install();
    for (const f of [LOGCONF, IECONF, PMREP, MAN]) expect(fs.existsSync(f), f).toBe(true);
  }, 240_000);
});
