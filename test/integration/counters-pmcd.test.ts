// The counting tools through the real pmcd, re-enacting PCP QA 1115 (sysfork), 1124
// (tracepoint_hits), 1172 (syscount) and 1181 (kprobe_hits): each metric's PMID, data type,
// indom, semantics and units as pmdabcc's, and a value that a real workload moved (exactly,
// where the workload is exact: a process filter keeps everyone else's activity out).
// 1124 traced random:urandom_read, which kernels since 5.18 no longer have: getppid's syscall
// tracepoint stands in. 1181 traced kprobe:sched_exec: this kernel has no kprobes, so the
// module must be failed with that reason while the others serve.
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONF, install, pminfo, waitFor } from '../helpers/pmcd';
import { worker } from '../counters/worker';

const N = 97;
const CONFIG = `[pmda]
modules = sysfork,exectop,syscount,tracepoint_hits,kprobe_hits
process_refresh = 1

[sysfork]
process = pmdaqa-fork

[exectop]
process = pmdaqa-exec

[syscount]
module = syscount
cluster = 15
process = pmdaqa-sc
latency = true

[tracepoint_hits]
module = tracepoint_hits
cluster = 100
compile_test = True
tracepoints = syscalls:sys_enter_getppid,random:urandom_read
process = pmdaqa-tp

[kprobe_hits]
kprobes = kprobe:sched_exec
`;

let saved: string | null = null;
const workers = {
  fork: worker('pmdaqa-fork', `for (1..${N}) { my $c = fork(); if (!$c) { POSIX::_exit(0) } waitpid($c, 0) }`.replace('POSIX::_exit', 'require POSIX; POSIX::_exit')),
  exec: worker('pmdaqa-exec', `for (1..${N}) { exec('/nonexistent/pmda-qa') }`),
  sc: worker('pmdaqa-sc', `for (1..${N}) { getppid() }`),
  tp: worker('pmdaqa-tp', `for (1..${N}) { getppid() }`),
};

function values(metric: string): Map<string, string> {
  const out = pminfo('-f', metric);
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const inst = /^\s+inst \[\d+ or "(.*)"\] value (.*)$/.exec(line);
    if (inst) m.set(inst[1]!, inst[2]!.replace(/^"|"$/g, ''));
    const single = /^\s+value (.*)$/.exec(line);
    if (single) m.set('', single[1]!);
  }
  return m;
}

/** QA's check: `pminfo -dmtT` shows pmdabcc's descriptor. */
function expectDesc(metric: string, pmid: string, type: string, indom: string, sem: string, units: string, oneline: string): void {
  const out = pminfo('-dmtT', metric);
  expect(out).toContain(`${metric} PMID: ${pmid} [${oneline}]`);
  expect(out).toMatch(new RegExp(`Data Type: ${type}\\s+InDom: ${indom.replace(/\./g, '\\.')}`));
  expect(out).toMatch(new RegExp(`Semantics: ${sem}\\s+Units: ${units}\\n`));
}

beforeAll(async () => {
  saved = fs.existsSync(CONF) ? fs.readFileSync(CONF, 'utf8') : null;
  await Promise.all(Object.values(workers).map((w) => w.ready));
  fs.writeFileSync(CONF, CONFIG);
  install();
  await waitFor('the counting modules to start', () => ['sysfork', 'exectop', 'syscount', 'tracepoint_hits'].every((m) => values('bcc.pmda.module.state').get(m) === 'running'), 60_000);
  await new Promise((r) => setTimeout(r, 1500)); // a rescan has put the workers in the filters
}, 240_000);

afterAll(() => {
  for (const w of Object.values(workers)) w.stop();
  if (saved !== null) fs.writeFileSync(CONF, saved);
  else fs.rmSync(CONF, { force: true });
  install();
}, 240_000);

describe('counting tools through pmcd (QA 1115, 1124, 1172, 1181)', () => {
  it('1115 sysfork: 149.2.0 u64 counter count, +N for N forks', async () => {
    expectDesc('bcc.proc.sysfork', '149.2.0', '64-bit unsigned int', 'PM_INDOM_NULL', 'counter', 'count', 'fork rate');
    const before = BigInt(values('bcc.proc.sysfork').get('')!);
    await workers.fork.run();
    expect(BigInt(values('bcc.proc.sysfork').get('')!) - before).toBe(BigInt(N));
  });

  it('exectop: 149.13.0 per command name, N failed execs of the filtered process', async () => {
    expectDesc('bcc.proc.exec.count', '149.13.0', '64-bit unsigned int', '149.13', 'counter', 'count', 'exec');
    await workers.exec.run();
    expect(values('bcc.proc.exec.count').get('pmdaqa-exec')).toBe(String(N));
  });

  it('1172 syscount: count/latency.avg/latency.cml descriptors, N getppid, latency non-zero', async () => {
    expectDesc('bcc.proc.syscall.count', '149.15.0', '64-bit unsigned int', '149.15', 'counter', 'count', 'syscall count');
    expectDesc('bcc.proc.syscall.latency.avg', '149.15.1', '64-bit unsigned int', '149.15', 'instant', 'nanosec', 'syscall avg latency');
    expectDesc('bcc.proc.syscall.latency.cml', '149.15.2', '64-bit unsigned int', '149.15', 'counter', 'nanosec', 'syscall cml latency');
    const before = BigInt(values('bcc.proc.syscall.count').get('getppid') ?? '0');
    await workers.sc.run();
    expect(BigInt(values('bcc.proc.syscall.count').get('getppid')!) - before).toBe(BigInt(N));
    expect(Number(values('bcc.proc.syscall.latency.cml').get('getppid'))).toBeGreaterThan(0);
    expect(Number(values('bcc.proc.syscall.latency.avg').get('getppid'))).toBeGreaterThan(0);
  });

  it('1124 tracepoint_hits: 149.100.0 per category:event, N hits; the missing tracepoint reported', async () => {
    expectDesc('bcc.tracepoint.hits', '149.100.0', '64-bit unsigned int', '149.100', 'counter', 'count', 'tracepoint hit count');
    const before = BigInt(values('bcc.tracepoint.hits').get('syscalls:sys_enter_getppid')!);
    await workers.tp.run();
    expect(BigInt(values('bcc.tracepoint.hits').get('syscalls:sys_enter_getppid')!) - before).toBe(BigInt(N));
    expect(values('bcc.pmda.module.variant').get('tracepoint_hits')).toBe('tracepoint (1 of 1 attached; unknown: random:urandom_read)');
  });

  it('1181 kprobe_hits: descriptors as pmdabcc; no kprobes here, so failed with the reason, and the rest serve', () => {
    expectDesc('bcc.kprobe.hits.count', '149.103.0', '64-bit unsigned int', '149.103', 'counter', 'count', 'kprobe count');
    expectDesc('bcc.kprobe.hits.fail', '149.103.1', '64-bit unsigned int', '149.103', 'counter', 'count', 'kprobe fail count');
    expectDesc('bcc.kprobe.hits.latency.avg', '149.103.2', '64-bit unsigned int', '149.103', 'instant', 'nanosec', 'kprobe avg latency');
    expectDesc('bcc.kprobe.hits.latency.cml', '149.103.3', '64-bit unsigned int', '149.103', 'counter', 'nanosec', 'kprobe cml latency');
    expect(values('bcc.pmda.module.state').get('kprobe_hits')).toBe('failed');
    expect(values('bcc.pmda.module.error').get('kprobe_hits')).toMatch(/kprobes are not available on this kernel/);
    expect(values('bcc.pmda.module.state').get('syscount')).toBe('running');
  });

  it('pmdabcc common keys in the sections were accepted (no config errors)', () => {
    expect(values('bcc.pmda.config.errors').get('')).toBe('""');
  });
});
