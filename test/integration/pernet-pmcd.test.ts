// The per-process network, I/O, page cache and lock modules through the real pmcd, as PCP QA
// checked pmdabcc's: 1286 (netproc, exact values per process), 1168 (klockstat via pmrep), 1116
// (bioperpid), 1178 (tcpperpid), 1176 (cachestat). The test writes its own
// ebpf.conf sections, restarts the installed agent, and restores both afterwards.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, QA1286 } from '../helpers/netproc-pair';
import { CONF, ensureInstalled, restartAgent, sh, waitFor, withSection } from '../helpers/pmcd';

let savedConf: string | null = null;
const MODULES = ['netproc', 'klockstat', 'bioperpid', 'tcpperpid', 'cachestat'];

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
  let conf = withSection(savedConf, 'netproc', 'enabled = true\nremove_stopped_processes = false');
  for (const m of ['klockstat', 'bioperpid', 'tcpperpid', 'cachestat']) conf = withSection(conf, m, 'enabled = true');
  fs.writeFileSync(CONF, conf);
  await restartAgent();
  for (const m of MODULES) await waitFor(`${m} to run`, () => state(m) === 'running', 30_000);
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

  it('QA 1168: pmrep reads klockstat after a contended-mutex workload', () => {
    sh('/usr/bin/perl', [path.join(__dirname, '../helpers/mutex_contend.pl'), '4', '20000']);
    const count = values('bcc.kernel.lock.mutex.spin.count');
    const why = spawnSync('pminfo', ['-f', 'bcc.pmda.module.variant', 'bcc.pmda.module.error'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes('klockstat')).join('; ');
    expect([...count.values()].some(([n, v]) => /pipe_(read|write)$/.test(n) && Number(v) > 0), `${[...count.values()].slice(0, 10).join(' ')} / ${why}`).toBe(true);
    // pmrep is pmpython: the system python3 (npm's PATH may find another one first).
    const r = spawnSync('pmrep', ['-g', '-r', '-1', '-s', '1', 'bcc.kernel.lock.mutex.spin.avg'], { encoding: 'utf8', env: { ...process.env, PATH: '/usr/bin:/bin:/usr/sbin:/sbin' } });
    expect(r.status, r.stderr).toBe(0);
    // QA 1168's filter: digits dropped, instance names replaced, one line per distinct result.
    const lines = new Set(
      r.stdout
        .split('\n')
        .filter((l) => l.includes('bcc.kernel.lock.mutex.spin.avg'))
        .map((l) => l.replace(/[0-9]/g, '').replace(/".*"/g, '"inst"').replace('[  ', '[ ')),
    );
    expect([...lines], r.stdout).toEqual(['[ ] - bcc.kernel.lock.mutex.spin.avg["inst"] - nanosec']);
    expect(spawnSync('pminfo', ['-f', 'bcc.kernel.lock.mutex.hold.count'], { encoding: 'utf8' }).stdout).toMatch(/No value\(s\) available|no values/i);
  });

  it('QA 1116: bioperpid shows dd 20 MiB O_DIRECT within 20 % on its <disk>::<pid> instance', () => {
    const file = path.join('/var/tmp', `bioperpid-pmcd-${process.pid}`);
    try {
      const r = spawnSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', 'count=20', 'oflag=direct'], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      const mine = [...values('bcc.proc.io.total').values()].filter(([n]) => n.endsWith(`::${String(r.pid).padStart(6, '0')}`));
      const total = mine.reduce((a, [, v]) => a + Number(v), 0);
      expect(total).toBeGreaterThanOrEqual(20 * 1024 * 1024 * 0.8);
      expect(total).toBeLessThanOrEqual(20 * 1024 * 1024 * 1.2);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('QA 1178: tcpperpid counts a closed loopback session for the process that opened it', async () => {
    // A server (test/helpers/tcp_session.py) and a client that stays alive after its session
    // closed, so its instance is still there when read (exited pids leave after two refreshes).
    const srv = spawn('/usr/bin/python3', [path.join(__dirname, '../helpers/tcp_session.py'), 'server'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<string>((resolve) => srv.stdout!.on('data', (d: Buffer) => /PORT (\d+)/.test(d.toString()) && resolve(/PORT (\d+)/.exec(d.toString())![1]!)));
    const code = `import socket,sys\ns=socket.create_connection(("127.0.0.1",${port}))\ns.sendall(b"c"*1000)\ngot=0\nwhile got<3000: got+=len(s.recv(3000-got))\ns.close()\nprint("closed",flush=True)\nsys.stdin.readline()`;
    const cli = spawn('/usr/bin/python3', ['-c', code], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await new Promise((r) => cli.stdout!.once('data', r));
      const name = String(cli.pid).padStart(6, '0');
      await waitFor('the session to be counted', () => [...values('bcc.proc.io.net.total.tx').values()].some(([n]) => n === name), 10_000);
      const tx = Number(new Map([...values('bcc.proc.io.net.total.tx').values()]).get(name));
      const rx = Number(new Map([...values('bcc.proc.io.net.total.rx').values()]).get(name));
      // bytes_acked / bytes_received count sequence space: SYN and FIN add up to 2 and 1.
      expect(tx).toBeGreaterThanOrEqual(1000);
      expect(tx).toBeLessThanOrEqual(1002);
      expect(rx).toBeGreaterThanOrEqual(3000);
      expect(rx).toBeLessThanOrEqual(3001);
    } finally {
      cli.stdin!.end('\n');
      srv.kill();
    }
  });

  it('QA 1176: cachestat moves with reads and writes', () => {
    const total = () => Number(spawnSync('pmprobe', ['-v', 'bcc.mem.vmstat.total'], { encoding: 'utf8' }).stdout.split(' ')[2]);
    const before = total();
    const file = path.join('/var/tmp', `cachestat-pmcd-${process.pid}`);
    try {
      sh('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', 'count=8']);
      sh('dd', [`if=${file}`, 'of=/dev/null', 'bs=64k']);
    } finally {
      fs.rmSync(file, { force: true });
    }
    expect(total() - before).toBeGreaterThanOrEqual(2048);
    expect(Number(spawnSync('pmprobe', ['-v', 'bcc.mem.vmstat.cached'], { encoding: 'utf8' }).stdout.split(' ')[2])).toBeGreaterThan(0);
  });
});
