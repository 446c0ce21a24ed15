// The shared process/cgroup filter: parsing and matching against a fake /proc, then the real
// thing: filter.bpf.h in the fixture object counting getppid() calls of real processes.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BpfObject } from '../../src/bpf';
import { parseSection } from '../../src/pmda/config-schema';
import {
  TaskFilter,
  cgroup2Mount,
  filterConfig,
  matchProcesses,
  parseProcessSpec,
  resolveCgroupId,
} from '../../src/modules/shared/filter';

const ROOT = path.resolve(__dirname, '../..');
const FIXTURE = path.join(ROOT, 'bpf/.output/fixtures/face.bpf.o');
const log = pino({ level: 'warn' }, pino.destination('/tmp/pmda-ebpf-filter-test.log'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pmdaflt-'));

describe('parseProcessSpec', () => {
  it('splits PIDs from names and anchors the patterns', () => {
    const s = parseProcessSpec(' 12, sshd ,python3 .*app.py,34 ')!;
    expect(s.pids).toEqual([12, 34]);
    expect(s.names).toEqual(['sshd', 'python3 .*app.py']);
    expect(s.patterns[1].test('python3 /srv/app.py')).toBe(true);
    expect(s.patterns[1].test('xpython3 /srv/app.py')).toBe(false);
    expect(s.text).toBe('12,sshd,python3 .*app.py,34');
  });

  it('empty means no filter', () => {
    expect(parseProcessSpec('')).toBeNull();
    expect(parseProcessSpec(' , ')).toBeNull();
  });

  it('bad items are config errors naming section, key and item', () => {
    const schema = filterConfig();
    expect(() => parseSection('runqlat', schema, { process: 'ok,(' })).toThrow(
      /^\[runqlat\] process: "\(" is neither a PID, nor a usable name or regular expression/,
    );
    expect(() => parseSection('runqlat', schema, { process: '0' })).toThrow(/\[runqlat\] process: PID 0 is outside/);
    expect(() => parseSection('runqlat', schema, { process_refresh: '-1' })).toThrow(/\[runqlat\] process_refresh: -1 is below/);
    const ok = parseSection('runqlat', schema, { process: 'a', cgroup: '/x', process_refresh: '0' });
    expect(ok.cgroup).toBe('/x');
    expect(ok.process_refresh).toBe(0);
  });
});

describe('matchProcesses (fake /proc)', () => {
  const proc = path.join(tmp, 'proc');
  beforeAll(() => {
    const mk = (pid: number, comm: string, argv: string[], state = 'S') => {
      fs.mkdirSync(path.join(proc, String(pid)), { recursive: true });
      fs.writeFileSync(path.join(proc, String(pid), 'stat'), `${pid} (${comm}) ${state} 1 ${pid} ${pid} 0 -1\n`);
      fs.writeFileSync(path.join(proc, String(pid), 'cmdline'), argv.length ? argv.join('\0') + '\0' : '');
    };
    mk(10, 'sshd', ['/usr/sbin/sshd', '-D']);
    mk(11, 'python3', ['python3', '/srv/app.py', '--port', '80']);
    mk(12, 'kworker/0:1', []);
    mk(13, 'bash', ['bash']);
    mk(14, 'odd) name', ['odd']);
    mk(15, 'bash', [], 'Z'); // a zombie keeps its comm
    fs.mkdirSync(path.join(proc, 'self'), { recursive: true });
    fs.mkdirSync(path.join(proc, '99'), { recursive: true }); // exited: no files
  });

  it('matches comm exactly, command lines by anchored regex, PIDs as given', () => {
    const src = { root: proc };
    expect([...matchProcesses(parseProcessSpec('sshd')!, src)]).toEqual([10]);
    expect([...matchProcesses(parseProcessSpec('ssh')!, src)]).toEqual([]);
    expect([...matchProcesses(parseProcessSpec('python3 /srv/app.py.*')!, src)]).toEqual([11]);
    expect([...matchProcesses(parseProcessSpec('kworker.*')!, src)]).toEqual([]); // no command line
    expect([...matchProcesses(parseProcessSpec('bash,500')!, src)].sort()).toEqual([13, 500]);
    // A ')' inside comm does not shift the state field: 14 is running, so its command line counts.
    expect([...matchProcesses(parseProcessSpec('od.')!, src)]).toEqual([14]);
  });
});

describe('resolveCgroupId', () => {
  const mount = cgroup2Mount();
  it.skipIf(!mount)('gives the directory inode for a full path and for a /proc/PID/cgroup style path', () => {
    const ino = fs.statSync(mount!, { bigint: true }).ino;
    expect(resolveCgroupId(mount!).id).toBe(ino);
    expect(resolveCgroupId('/').id).toBe(ino);
  });

  it('refuses what is not a cgroup v2 directory', () => {
    expect(() => resolveCgroupId('/pmda-ebpf-no-such-cgroup')).toThrow(/"\/pmda-ebpf-no-such-cgroup" is not a cgroup v2 directory \((cgroup2 is mounted at|no cgroup2)/);
    expect(() => resolveCgroupId(tmp)).toThrow(/is not a cgroup v2 directory/);
  });
});

// ---- real processes, real BPF ----

/** A copy of perl under `name` (so its comm is `name`) calling getppid() in a loop. */
function worker(name: string): ChildProcess {
  const exe = path.join(tmp, name);
  if (!fs.existsSync(exe)) fs.copyFileSync('/usr/bin/perl', exe), fs.chmodSync(exe, 0o755);
  return spawn(exe, ['-e', 'while (1) { getppid() for 1..20; select(undef, undef, undef, 0.01) }'], { stdio: 'ignore' });
}

const children: ChildProcess[] = [];
function start(name: string): ChildProcess {
  const c = worker(name);
  children.push(c);
  return c;
}
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function loadFixture(f: TaskFilter): BpfObject {
  const obj = BpfObject.open(FIXTURE);
  for (const p of obj.programNames()) obj.setAutoload(p, p === 'f_filter');
  f.configure(obj);
  obj.load();
  obj.attach('f_filter');
  f.start(obj);
  return obj;
}

function counted(obj: BpfObject): Map<number, bigint> {
  const r = obj.map('per_tgid').lookupBatch();
  const out = new Map<number, bigint>();
  for (let i = 0; i < r.count; i++) out.set(r.keys.readUInt32LE(i * 4), r.values.readBigUInt64LE(i * 8));
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(20);
}

describe('TaskFilter on the kernel', () => {
  beforeAll(() => execFileSync('make', ['-s', '-C', path.join(ROOT, 'bpf'), 'fixtures'], { stdio: 'inherit' }));

  it('no filter: every process counts', async () => {
    const f = new TaskFilter(null, null, log);
    expect(f.active).toBe(false);
    const obj = loadFixture(f);
    const a = start('pmdaflt-a');
    const b = start('pmdaflt-b');
    await waitFor(() => counted(obj).has(a.pid!) && counted(obj).has(b.pid!));
    expect(counted(obj).has(a.pid!)).toBe(true);
    expect(counted(obj).has(b.pid!)).toBe(true);
    obj.close();
  });

  it('a process name selects its processes, excludes others, and follows new and exited ones', async () => {
    const a1 = start('pmdaflt-a');
    const b = start('pmdaflt-b');
    await waitFor(() => fs.existsSync(`/proc/${b.pid}/comm`) && fs.readFileSync(`/proc/${b.pid}/comm`, 'utf8').startsWith('pmdaflt-b'));
    await waitFor(() => fs.readFileSync(`/proc/${a1.pid}/comm`, 'utf8').startsWith('pmdaflt-a'));
    const f = new TaskFilter(parseProcessSpec('pmdaflt-a'), null, log, 100);
    const obj = loadFixture(f);
    expect([...f.pids()]).toEqual([a1.pid]);
    await waitFor(() => (counted(obj).get(a1.pid!) ?? 0n) > 40n);
    await sleep(100);
    const seen = counted(obj);
    expect(seen.get(a1.pid!)! > 40n).toBe(true);
    expect(seen.has(b.pid!)).toBe(false);
    expect(seen.has(process.pid)).toBe(false);

    // Started after load: picked up by the rescan, no reload.
    const a2 = start('pmdaflt-a');
    await waitFor(() => (counted(obj).get(a2.pid!) ?? 0n) > 0n);
    expect(counted(obj).get(a2.pid!)! > 0n).toBe(true);

    // Exited: dropped from the map.
    a1.kill('SIGKILL');
    await waitFor(() => !f.pids().has(a1.pid!));
    expect(f.pids().has(a1.pid!)).toBe(false);
    expect(f.pids().has(a2.pid!)).toBe(true);
    expect(obj.map('filter_tgids').lookupBatch().count).toBe(1);
    f.stop();
    obj.close();
  });

  it('a regular expression on the command line selects processes', async () => {
    const a = start('pmdaflt-a');
    const b = start('pmdaflt-b');
    await waitFor(() => fs.readFileSync(`/proc/${b.pid}/cmdline`, 'latin1').includes('getppid'));
    await waitFor(() => fs.readFileSync(`/proc/${a.pid}/cmdline`, 'latin1').includes('getppid'));
    const f = new TaskFilter(parseProcessSpec('.*/pmdaflt-b -e .*'), null, log, 0);
    const obj = loadFixture(f);
    await waitFor(() => counted(obj).has(b.pid!));
    await sleep(100);
    expect(counted(obj).has(b.pid!)).toBe(true);
    expect(counted(obj).has(a.pid!)).toBe(false);
    f.stop();
    obj.close();
  });

  const mount = cgroup2Mount();
  it.skipIf(!mount)('a cgroup v2 directory selects the tasks in it', async () => {
    const dir = path.join(mount!, `pmda-ebpf-test-${process.pid}`);
    fs.mkdirSync(dir);
    try {
      const inside = start('pmdaflt-a');
      const outside = start('pmdaflt-b');
      fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(inside.pid));
      const f = new TaskFilter(null, path.relative(mount!, dir), log);
      expect(f.cgroup!.id).toBe(fs.statSync(dir, { bigint: true }).ino);
      const obj = loadFixture(f);
      await waitFor(() => counted(obj).has(inside.pid!));
      await sleep(100);
      expect(counted(obj).has(inside.pid!)).toBe(true);
      expect(counted(obj).has(outside.pid!)).toBe(false);
      expect(counted(obj).has(process.pid)).toBe(false);
      obj.close();
      inside.kill('SIGKILL');
      await waitFor(() => fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').trim() === '');
    } finally {
      for (const c of children.splice(0)) c.kill('SIGKILL');
      await waitFor(() => {
        try {
          fs.rmdirSync(dir);
          return true;
        } catch {
          return false;
        }
      });
    }
  });
});
