// Shared by the histogram module tests: a module context against the real kernel, and real
// workloads run under a chosen process name (a copy of perl, so /proc/PID/comm is that name).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { makeModuleContext, ModuleState } from '../../src/pmda/module-context';
import type { ModuleContext, ModuleSpec } from '../../src/pmda/module';
import { PM_IN_NULL } from '../../src/pcp/types';

export const ROOT = path.resolve(__dirname, '../..');
export const BPF_DIR = path.join(ROOT, 'bpf/.output');
export const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pmdahist-mod-'));

export function buildObjects(...names: string[]): void {
  for (const n of names) execFileSync('make', ['-s', '-C', path.join(ROOT, 'bpf'), `.output/${n}.bpf.o`], { stdio: 'inherit' });
}

export function context(spec: ModuleSpec, raw: Record<string, string> = {}, stateDir = fs.mkdtempSync(path.join(tmpRoot, 'state-'))) {
  const state = new ModuleState();
  const log = pino({ level: 'info' }, pino.destination({ dest: path.join(tmpRoot, `${spec.name}.log`), sync: true }));
  const ctx: ModuleContext = makeModuleContext(spec, { domain: 149, log, paths: { bpfDir: BPF_DIR, stateDir }, raw }, state);
  return { ctx, state, stateDir };
}

/** Path of a perl copy named `name` (comm = name, up to 15 characters). */
export function namedPerl(name: string): string {
  const exe = path.join(tmpRoot, name);
  if (!fs.existsSync(exe)) {
    fs.copyFileSync('/usr/bin/perl', exe);
    fs.chmodSync(exe, 0o755);
  }
  return exe;
}

// Two processes bouncing one byte over two pipes: every round trip is two wakeups.
// With a delay, both processes exist (and can be found by a /proc rescan) before the first byte.
export const PINGPONG = `
my ($n, $delay) = @ARGV; pipe(my $r1, my $w1); pipe(my $r2, my $w2); my $b;
if (!fork()) { select(undef, undef, undef, $delay) if $delay; for (1..$n) { sysread($r1, $b, 1); syswrite($w2, "x", 1) } exit 0 }
select(undef, undef, undef, $delay) if $delay;
for (1..$n) { syswrite($w1, "x", 1); sysread($r2, $b, 1) } wait;
`;

/** Run a pipe ping-pong of n round trips under `name`, to completion. */
export function pingPong(name: string, n: number): void {
  execFileSync(namedPerl(name), ['-e', PINGPONG, String(n), '0'], { stdio: 'ignore' });
}

// The same, started now but held until go(): both processes exist (and print their PIDs) and
// sleep until then, so a test can wait for the process filter to hold them first.
const PINGPONG_HELD = `
$| = 1; my ($n) = @ARGV; pipe(my $r1, my $w1); pipe(my $r2, my $w2); my $b;
my $kid = fork() // die;
if (!$kid) { for (1..$n) { sysread($r1, $b, 1); syswrite($w2, "x", 1) } exit 0 }
print "$$ $kid\\n"; my $go = <STDIN>;
for (1..$n) { syswrite($w1, "x", 1); sysread($r2, $b, 1) } wait;
`;

export interface HeldWorkload {
  child: ChildProcess;
  /** The PIDs of both processes, once they exist. */
  pids: Promise<number[]>;
  go(): void;
}

/** A pipe ping-pong of n round trips under `name`, in the background, held until go(). */
export function pingPongHeld(name: string, n: number): HeldWorkload {
  const child = spawn(namedPerl(name), ['-e', PINGPONG_HELD, String(n)], { stdio: ['pipe', 'pipe', 'ignore'] });
  const pids = new Promise<number[]>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim().split(' ').map(Number));
    });
    child.once('exit', (code) => reject(new Error(`the held ping-pong exited (${code}) before printing its PIDs`)));
  });
  return { child, pids, go: () => child.stdin!.end('go\n') };
}

export function exited(c: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (c.exitCode !== null ? resolve(c.exitCode) : c.once('exit', (code) => resolve(code))));
}

export type Values = { inst: number; value: bigint }[];

export function asValues(r: unknown): Values {
  if (typeof r === 'number') throw new Error(`fetch returned error ${r}`);
  return r as Values;
}

export function total(v: Values): bigint {
  return v.reduce((s, x) => s + x.value, 0n);
}

export function notSingular(v: Values): boolean {
  return v.every((x) => x.inst !== PM_IN_NULL);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
