// The uprobe/USDT modules through the real pmcd, re-enacting PCP QA 1127 (uprobe_hits), 1150
// (usdt_hits), 1173 (ucalls), 1179 (ustat) and 1175 (usdt_jvm_threads): each metric's PMID,
// type, semantics and units as pmdabcc's, and a non-zero value from a real workload. Debian's
// pmcd has no USDT probes (QA 1150 traced pmcd's), so python3.11's are used; QA 1173 traced
// pmdabcc's own python, here a python3.11 script. The test installs this tree's build with its
// own configuration and restores the previous one afterwards.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONF, install, pminfo, waitFor } from '../helpers/pmcd';
import { JAVA, PYTHON, SCRIPTS } from '../counters/usdt-helpers';
import { readUsdtProbes } from '../../src/modules/profile/stapsdt';

let savedConf: string | null = null;
let py: ChildProcess | null = null;
const SCRIPT = path.join(SCRIPTS, 'pmcd_ucalls.py');
const JAVA_SRC = path.join(SCRIPTS, 'PmcdJvmTest.java');
const LIBJVM = '/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so';
const hasJvmProbes = fs.existsSync(JAVA) && fs.existsSync(LIBJVM) && readUsdtProbes(LIBJVM).some((p) => p.name === 'thread__start');

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

/** pminfo -dfmtT's descriptor block, as the QA tests check it. */
function descriptor(metric: string, pmid: string, indom: string, sem: string, units: string): string {
  const out = pminfo('-dfmtT', metric);
  expect(out).toContain(`${metric} PMID: ${pmid}`);
  expect(out).toMatch(new RegExp(`Data Type: 64-bit unsigned int\\s+InDom: ${indom.replace(/\./g, '\\.')}`));
  expect(out).toMatch(new RegExp(`Semantics: ${sem}\\s+Units: ${units}`));
  return out;
}

beforeAll(() => {
  savedConf = fs.existsSync(CONF) ? fs.readFileSync(CONF, 'utf8') : null;
  fs.writeFileSync(
    SCRIPT,
    'import sys, time, gc\nsys.setprofile(lambda *a: None)\ndef f(): time.sleep(0.005)\nwhile True:\n  f()\n  gc.collect()\n',
  );
  py = spawn(PYTHON, [SCRIPT], { stdio: 'ignore' });
  fs.writeFileSync(
    CONF,
    [
      '[pmda]',
      'modules = uprobe_hits,usdt_hits,ucalls,ustat,usdt_jvm_threads',
      '[uprobe_hits]',
      'uprobes = c:strlen',
      '[usdt_hits]',
      `usdts = ${PYTHON}:function__entry,${PYTHON}:gc__.*`,
      'process = .*/pmcd_ucalls\\.py',
      '[ucalls]',
      'process = .*/pmcd_ucalls\\.py',
      'latency = true',
      '[ustat]',
      'process = .*/pmcd_ucalls\\.py',
      '[usdt_jvm_threads]',
      'process = .*PmcdJvmTest.*',
      'process_refresh = 1',
      '',
    ].join('\n'),
  );
  install();
}, 240_000);

afterAll(() => {
  py?.kill();
  if (savedConf !== null) fs.writeFileSync(CONF, savedConf);
  else fs.rmSync(CONF, { force: true });
  install();
}, 240_000);

describe('uprobe and USDT modules through pmcd (QA 1127, 1150, 1173, 1179, 1175)', () => {
  it('every module runs; variants say what is traced', () => {
    const st = values('bcc.pmda.module.state');
    for (const m of ['uprobe_hits', 'usdt_hits', 'ucalls', 'ustat', 'usdt_jvm_threads']) expect(st.get(m), m).toBe('running');
    const v = values('bcc.pmda.module.variant');
    expect(v.get('ucalls')).toBe('usdt 1 process (python)');
    expect(v.get('uprobe_hits')).toBe('uprobe');
  });

  it('QA 1127: bcc.uprobe.hits c::strlen', async () => {
    descriptor('bcc.uprobe.hits', '149.102.0', '149.102', 'counter', 'count');
    spawnSync('ls', ['-la', '/usr/bin'], { stdio: 'ignore' });
    await waitFor('c::strlen to count', () => Number(values('bcc.uprobe.hits').get('c::strlen') ?? 0) > 0, 10_000);
  });

  it('QA 1150: bcc.usdt.hits per binary::probe', async () => {
    descriptor('bcc.usdt.hits', '149.101.0', '149.101', 'counter', 'count');
    await waitFor('function__entry to count', () => Number(values('bcc.usdt.hits').get(`${PYTHON}::function__entry`) ?? 0) > 0, 10_000);
    expect(Number(values('bcc.usdt.hits').get(`${PYTHON}::gc__start`))).toBeGreaterThan(0);
  });

  it('QA 1173: bcc.proc.ucall.count and latency.cml for a known function', async () => {
    const f = `${SCRIPTS.slice(1).replace(/\//g, '.')}.pmcd_ucalls.py.f`;
    descriptor('bcc.proc.ucall.count', '149.16.0', '149.16', 'counter', 'count');
    descriptor('bcc.proc.ucall.latency.avg', '149.16.1', '149.16', 'instant', 'microsec');
    descriptor('bcc.proc.ucall.latency.cml', '149.16.2', '149.16', 'counter', 'microsec');
    await waitFor('f to be counted', () => Number(values('bcc.proc.ucall.count').get(f) ?? 0) > 0, 10_000);
    expect(Number(values('bcc.proc.ucall.latency.cml').get(f))).toBeGreaterThan(0);
    // f sleeps 5 ms: its average is about 5000 usec, not 1000x off.
    const avg = Number(values('bcc.proc.ucall.latency.avg').get(f));
    expect(avg).toBeGreaterThanOrEqual(5000);
    expect(avg).toBeLessThan(50_000);
  });

  it('QA 1179: bcc.proc.ustat.* per plain PID', async () => {
    for (const [i, n] of ['thread', 'method', 'object', 'class', 'except', 'gc'].entries()) descriptor(`bcc.proc.ustat.${n}`, `149.17.${i}`, '149.17', 'counter', 'count');
    const pid = String(py!.pid);
    await waitFor('method and gc to count', () => Number(values('bcc.proc.ustat.method').get(pid) ?? 0) > 0 && Number(values('bcc.proc.ustat.gc').get(pid) ?? 0) > 0, 10_000);
  });

  it.skipIf(!hasJvmProbes)('QA 1175: no values before a JVM runs, thread starts once one started later is picked up', async () => {
    const before = descriptor('bcc.usdt.jvm.threads.start', '149.110.0', 'PM_INDOM_NULL 0xffffffff', 'counter', 'count');
    expect(before).toMatch(/No value\(s\) available!|value 0/);
    fs.writeFileSync(
      JAVA_SRC,
      'public class PmcdJvmTest { public static void main(String[] a) throws Exception { Thread.sleep(2500); for (int i = 0; i < 4; i++) { Thread t = new Thread(() -> {}); t.start(); t.join(); } Thread.sleep(60000); } }',
    );
    const j = spawn(JAVA, [JAVA_SRC], { stdio: 'ignore' });
    try {
      await waitFor('thread starts', () => Number(values('bcc.usdt.jvm.threads.start').get('') ?? 0) >= 4, 20_000);
      // HotSpot fires thread__stop after the join is released: it may trail the starts a little.
      await waitFor('thread stops', () => Number(values('bcc.usdt.jvm.threads.stop').get('') ?? 0) >= 4, 10_000);
    } finally {
      j.kill('SIGKILL');
    }
  }, 30_000);
});
