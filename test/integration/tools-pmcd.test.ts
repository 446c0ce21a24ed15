// The tools through the real pmcd with real workloads, as users see them: pminfo/pmval values,
// pmstore, pmie rules and pmlogger archives. The module-level tests prove each tool in depth;
// these prove the whole path kernel → agent → pmcd → client.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeLoop } from '../helpers/block';
import { ensureInstalled, pminfo, sh, waitFor } from '../helpers/pmcd';

/** pminfo -f output → instance name → value text (quotes stripped). Singular: key ''. */
function values(metric: string): Map<string, string> {
  const out = spawnSync('pminfo', ['-f', metric], { encoding: 'utf8' }).stdout ?? '';
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const inst = /^\s+inst \[\d+ or "(.*)"\] value (.*)$/.exec(line);
    if (inst) m.set(inst[1]!, inst[2]!.replace(/^"|"$/g, ''));
    const single = /^\s+value (.*)$/.exec(line);
    if (single) m.set('', single[1]!.replace(/^"|"$/g, ''));
  }
  return m;
}

/** One pminfo -f of several per-row metrics (one fetch: one table) → rows by instance. */
function rowsOf(metrics: string[]): Record<string, string>[] {
  const out = spawnSync('pminfo', ['-f', ...metrics], { encoding: 'utf8' }).stdout ?? '';
  const rows = new Map<string, Record<string, string>>();
  let metric = '';
  for (const line of out.split('\n')) {
    if (/^\S/.test(line)) metric = line.trim();
    const inst = /^\s+inst \[(\d+) or "(.*)"\] value (.*)$/.exec(line);
    if (inst && metric) {
      const r = rows.get(inst[1]!) ?? {};
      r[metric] = inst[3]!.replace(/^"|"$/g, '');
      rows.set(inst[1]!, r);
    }
  }
  return [...rows.values()];
}

const sum = (metric: string) => [...values(metric).values()].reduce((a, v) => a + Number(v), 0);
const state = (module: string) => values('bcc.pmda.module.state').get(module);

function running(module: string): boolean {
  return state(module) === 'running';
}

beforeAll(() => {
  ensureInstalled();
});

describe('tools through pmcd', () => {
  it('runqlat: a pipe ping-pong makes bcc.runq.latency buckets grow', () => {
    expect(state('runqlat')).toBe('running');
    const before = sum('bcc.runq.latency');
    sh('perf', ['bench', 'sched', 'pipe', '-l', '20000']);
    const after = sum('bcc.runq.latency');
    expect(after - before).toBeGreaterThan(20_000);
    const names = [...values('bcc.runq.latency').keys()];
    expect(names[0]).toBe('0-1');
    for (const n of names) expect(n).toMatch(/^\d+-\d+$/);
    expect(pminfo('-l', 'bcc.runq.latency')).toMatch(/"lower_bound":\d+.*"statistic":"histogram".*"upper_bound":\d+|"statistic":"histogram"/s);
  });

  it('biolatency: 200 O_DIRECT writes add about 200 events', async () => {
    expect(state('biolatency')).toBe('running');
    const file = path.join('/var/tmp', `bio-${process.pid}`);
    const before = sum('bcc.disk.all.latency');
    sh('dd', ['if=/dev/zero', `of=${file}`, 'bs=64k', 'count=200', 'oflag=direct']);
    fs.rmSync(file, { force: true });
    await waitFor('completions to be counted', () => sum('bcc.disk.all.latency') - before >= 190, 10_000);
    expect(sum('bcc.disk.all.latency') - before).toBeLessThan(200 * 1.5);
  });

  it('ext4dist: 20 fsyncs on the root fs show in bcc.fs.ext4.latency.fsync', () => {
    expect(state('ext4dist')).toBe('running');
    const before = sum('bcc.fs.ext4.latency.fsync');
    const file = path.join('/var/tmp', `fs-${process.pid}`);
    sh('/usr/bin/python3', ['-c', `import os\nfd=os.open(${JSON.stringify(file)}, os.O_CREAT|os.O_WRONLY)\nfor _ in range(20):\n  os.write(fd, b'x'*4096); os.fsync(fd)\nos.close(fd)\nos.unlink(${JSON.stringify(file)})`]);
    expect(sum('bcc.fs.ext4.latency.fsync') - before).toBeGreaterThanOrEqual(20);
  });

  it('zfsdist: reported unavailable with a reason, the rest serve', () => {
    expect(state('zfsdist')).toBe('failed');
    expect(values('bcc.pmda.module.error').get('zfsdist')).toMatch(/zfs/i);
    const r = spawnSync('pminfo', ['-f', 'bcc.fs.zfs.latency.read'], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toMatch(/Operation not supported/);
  });

  it('execsnoop: a marked exec shows with its arguments', async () => {
    expect(state('execsnoop')).toBe('running');
    const marker = `pmcd-exec-${process.pid}-${Date.now()}`;
    sh('/bin/echo', [marker, 'second-arg']);
    await waitFor('the exec to show', () => [...values('bcc.proc.exec.args').values()].some((a) => a.includes(marker)), 10_000);
    // Every client exec shifts the ring, so read the fields in ONE fetch (pmprobe fetches all
    // its metrics together, values in the same instance order) and match them by position.
    const probe = sh('pmprobe', ['-v', 'bcc.proc.exec.args', 'bcc.proc.exec.comm', 'bcc.proc.exec.ret']).out;
    const field = (name: string) => {
      const line = probe.split('\n').find((l) => l.startsWith(`${name} `))!;
      return [...line.slice(name.length).matchAll(/"([^"]*)"|(-?\d+)/g)].slice(1).map((m) => m[1] ?? m[2]!);
    };
    const args = field('bcc.proc.exec.args');
    const i = args.findIndex((a) => a.includes(marker));
    expect(i, probe).toBeGreaterThanOrEqual(0);
    expect(args[i]).toBe(`/bin/echo ${marker} second-arg`);
    expect(field('bcc.proc.exec.comm')[i]).toBe('echo');
    expect(field('bcc.proc.exec.ret')[i]).toBe('0');
  });

  it('tcplife: a loopback session of known size shows its bytes', async () => {
    expect(state('tcplife')).toBe('running');
    const payload = Buffer.alloc(100_000, 7);
    const server = net.createServer((s) => {
      let got = 0;
      s.on('data', (d) => {
        got += d.length;
        if (got === payload.length) s.end(payload.subarray(0, 50_000));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => c.write(payload));
      c.on('data', () => {});
      c.on('end', () => c.end());
      c.on('close', () => resolve());
      c.on('error', reject);
    });
    server.close();
    await waitFor('the session to show', () => [...values('bcc.proc.io.net.tcp.dport').values()].includes(String(port)), 10_000);
    const dports = values('bcc.proc.io.net.tcp.dport');
    const slot = [...dports].find(([, p]) => p === String(port))![0];
    const tx = Number(values('bcc.proc.io.net.tcp.tx').get(slot));
    const rx = Number(values('bcc.proc.io.net.tcp.rx').get(slot));
    expect(Math.abs(tx - 100_000)).toBeLessThanOrEqual(2);
    expect(Math.abs(rx - 50_000)).toBeLessThanOrEqual(2);
    expect(values('bcc.proc.io.net.tcp.daddr').get(slot)).toBe('127.0.0.1');
  });

  it('biotop: the O_DIRECT writes of one dd to a loop device add up, across intervals, to exactly what it wrote', async () => {
    expect(state('biotop')).toBe('running');
    const COUNT = 400;
    const loop = makeLoop(64);
    try {
      const dd = spawn('dd', ['if=/dev/zero', `of=${loop.dev}`, 'bs=64k', `count=${COUNT}`, 'oflag=direct'], { stdio: 'ignore' });
      const ddDone = new Promise<number>((r) => dd.on('exit', (c) => r(c ?? -1)));
      // The rows cover the last interval (1 s). Each interval's row of dd is counted once: a
      // new interval shows as a new (io, bytes, duration) of the row, read in one fetch; it is
      // read several times per interval, so none is missed.
      const intervals: string[] = [];
      let exited = false;
      void ddDone.then(() => (exited = true));
      const end = Date.now() + 20_000;
      let quietSince = 0;
      while (Date.now() < end) {
        const rows = rowsOf(['bcc.proc.io.perdev.pid', 'bcc.proc.io.perdev.disk', 'bcc.proc.io.perdev.io', 'bcc.proc.io.perdev.bytes', 'bcc.proc.io.perdev.duration', 'bcc.proc.io.perdev.direction']);
        const row = rows.find((r) => r['bcc.proc.io.perdev.pid'] === String(dd.pid) && r['bcc.proc.io.perdev.disk'] === loop.name && r['bcc.proc.io.perdev.direction'] === 'W');
        const key = row ? `${row['bcc.proc.io.perdev.io']}/${row['bcc.proc.io.perdev.bytes']}/${row['bcc.proc.io.perdev.duration']}` : '';
        if (row && key !== intervals[intervals.length - 1]) intervals.push(key);
        if (!row && exited) {
          // Gone after dd ended: its last interval has been read.
          if (!quietSince) quietSince = Date.now();
          if (Date.now() - quietSince > 1500) break;
        } else quietSince = 0;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await ddDone).toBe(0);
      const io = intervals.reduce((n, k) => n + Number(k.split('/')[0]), 0);
      const bytes = intervals.reduce((n, k) => n + Number(k.split('/')[1]), 0);
      expect(io, intervals.join(', ')).toBe(COUNT);
      expect(bytes, intervals.join(', ')).toBe(COUNT * 65536);
    } finally {
      loop.release();
    }
  });

  it('profile: pmstore is refused unless ebpf.conf allows it', () => {
    const r = spawnSync('pmstore', ['bcc.proc.profile', 'start'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/No permission/);
    expect(JSON.parse(values('bcc.proc.profile').get('')!)).toMatchObject({ status: 'stopped' });
  });

  it('pmie: a rule on the run queue histogram fires', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmie-'));
    fs.writeFileSync(path.join(dir, 'rules'), 'some_inst ( bcc.runq.latency > 0 ) -> print "runq events in bucket %i";\n');
    const burner = spawnSync('sh', ['-c', 'perf bench sched pipe -l 200000 >/dev/null 2>&1 & sleep 0; pmie -c rules -t 1sec -T 4sec; wait'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    expect(burner.stdout + burner.stderr).toMatch(/runq events in bucket \d+-\d+/);
  });

  it('pmlogger: an archive of bcc.proc.exec.records during an exec storm holds every marked exec once', async () => {
    if (!running('execsnoop')) throw new Error('execsnoop not running');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmlogger-'));
    // pmlogger stores descriptors only of metrics it logs: the event parameters are logged
    // once so that pmdumplog can print them (README: archiving event records).
    const params = ['comm', 'pid', 'ppid', 'ret', 'args', 'uid', 'seq'].map((f) => `\tbcc.proc.exec.${f}`).join('\n');
    fs.writeFileSync(path.join(dir, 'config'), `log mandatory on 1 sec {\n\tbcc.proc.exec.records\n\tbcc.runq.latency\n}\nlog mandatory on once {\n${params}\n}\n`);
    const archive = path.join(dir, 'storm');
    const logger = spawnSync('sh', ['-c', `pmlogger -c config -t 1sec -T 9sec -l ${dir}/pmlogger.log ${archive} & sleep 2; ` + `for i in $(seq 1 150); do /bin/true storm-mark-$i; done; wait`], { cwd: dir, encoding: 'utf8', timeout: 90_000 });
    expect(logger.status, logger.stderr).toBe(0);
    const dump = sh('pmdumplog', ['-a', archive, 'bcc.proc.exec.records'], { timeout: 60_000 }).out;
    for (let i = 1; i <= 150; i++) {
      const hits = dump.match(new RegExp(`value "/bin/true storm-mark-${i}"`, 'g')) ?? [];
      expect(hits.length, `storm-mark-${i}`).toBe(1);
    }
  }, 120_000);
});
