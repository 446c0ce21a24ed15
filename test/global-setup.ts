// Vitest global set-up: every test runs against the build under test.
//  1. Build (npm run build) when any build input is newer than the last build's `build-id`
//     stamp, or an output is missing — the no-change path is a directory walk, not a rebuild.
//  2. Install the agent when pmcd's agent reports another build id (or none) in
//     bcc.pmda.version, so pmcd/pmproxy tests never measure an agent another tree installed.
// It takes no lock: the caller holds /tmp/pmcd.lock around the whole vitest run.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { agentVersion, buildVersion, pmcdRunning, REPO } from './helpers/pmcd';

/** What `npm run build` reads: a change below any of these rebuilds. */
const INPUTS = ['src', 'tools', 'bench', 'web', 'bpf', 'test/bpf/fixtures', 'tsconfig.json', 'package.json', 'package-lock.json', 'Install', 'Remove'];
/** Skipped while walking the inputs: outputs and dependencies. */
const NOT_INPUTS = new Set(['.output', 'node_modules', 'vmlinux.h']);
/** Outputs the tests use; a missing one forces a build even when the stamp looks fresh. */
const OUTPUTS = ['dist/src/main.js', 'dist/tools/gen-meta.js', 'dist/web/server/main.js', 'dist/web/public/app.js', 'pmns', 'help', 'root', 'ebpf.conf'];

function newestMtime(abs: string): number {
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs; // a deleted file changes its directory's mtime
  for (const e of fs.readdirSync(abs)) if (!NOT_INPUTS.has(e)) newest = Math.max(newest, newestMtime(path.join(abs, e)));
  return newest;
}

/** Why a build is needed, or null when the last build is current. */
export function staleReason(): string | null {
  const stamp = path.join(REPO, 'build-id');
  if (!fs.existsSync(stamp)) return 'no build-id (never fully built)';
  const missing = OUTPUTS.find((o) => !fs.existsSync(path.join(REPO, o)));
  if (missing) return `${missing} is missing`;
  const sources = fs.readdirSync(path.join(REPO, 'bpf')).filter((n) => n.endsWith('.bpf.c'));
  const obj = sources.find((s) => !fs.existsSync(path.join(REPO, 'bpf/.output', s.replace(/\.c$/, '.o'))));
  if (obj) return `the object of bpf/${obj} is missing`;
  const built = fs.statSync(stamp).mtimeMs;
  const changed = INPUTS.find((i) => newestMtime(path.join(REPO, i)) > built);
  return changed ? `${changed} changed since the last build` : null;
}

function run(what: string, cmd: string, args: string[], log: string): void {
  const fd = fs.openSync(log, 'w');
  try {
    const r = spawnSync(cmd, args, { cwd: REPO, stdio: ['ignore', fd, fd], timeout: 600_000 });
    if (r.status !== 0) {
      const tail = fs.readFileSync(log, 'utf8').split('\n').slice(-40).join('\n');
      throw new Error(`global set-up: ${what} failed (exit ${r.status ?? r.signal}); full log ${log}:\n${tail}`);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Kernel objects under `dir` that outlive a run: mounts and loop devices over its files. */
function kernelLeftovers(dir: string): { what: string; release: () => void }[] {
  const out: { what: string; release: () => void }[] = [];
  const mounts = fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && m.startsWith(`${dir}/`))
    .reverse(); // innermost first
  for (const m of mounts) out.push({ what: `mount ${m}`, release: () => void spawnSync('umount', ['-l', m]) });
  const loops = spawnSync('losetup', ['-l', '-n', '-O', 'NAME,BACK-FILE'], { encoding: 'utf8' }).stdout ?? '';
  for (const l of loops.split('\n')) {
    const [dev, file] = l.trim().split(/\s+/, 2);
    if (dev && file?.startsWith(`${dir}/`)) out.push({ what: `loop device ${dev} over ${file}`, release: () => void spawnSync('losetup', ['-d', dev]) });
  }
  return out;
}

/** Test cgroups (named pmda-ebpf-*) made since `since` and left behind. */
function cgroupLeftovers(since: number): { what: string; release: () => void }[] {
  const out: { what: string; release: () => void }[] = [];
  const roots = fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup2' || f[2] === 'cgroup')
    .map((f) => f[1]!);
  for (const root of roots) {
    for (const e of fs.readdirSync(root, { withFileTypes: true })) {
      const p = path.join(root, e.name);
      if (e.isDirectory() && e.name.startsWith('pmda-ebpf-') && fs.statSync(p).mtimeMs >= since) out.push({ what: `cgroup ${p}`, release: () => fs.rmdirSync(p) });
    }
  }
  return out;
}

export default function setup(): () => void {
  const t0 = Date.now();
  // Every temp file and directory of this run lives under one directory (os.tmpdir() reads
  // TMPDIR; the test workers inherit it), so nothing a failed test left there outlives the
  // run. Mode 1777 like /tmp: pmcd's agents and other users may have to read what is there.
  const runTmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pmda-ebpf-test-'));
  fs.chmodSync(runTmp, 0o1777);
  process.env.TMPDIR = runTmp;
  const logDir = path.join(REPO, 'test-artifacts');
  fs.mkdirSync(logDir, { recursive: true });
  const why = staleReason();
  if (why) {
    process.stderr.write(`global set-up: building (${why}) ...\n`);
    run('npm run build', 'npm', ['run', 'build'], path.join(logDir, 'build.log'));
  }
  const want = buildVersion();
  if (!pmcdRunning()) {
    // Only pmcd tests need the agent; they fail on their own (ensureInstalled) without pmcd.
    process.stderr.write('global set-up: pmcd is not running: the agent was not installed\n');
  } else {
    const have = agentVersion();
    if (have !== want) {
      process.stderr.write(`global set-up: pmcd runs agent ${have ?? '(none)'}, this build is ${want}: installing ...\n`);
      run('./Install', path.join(REPO, 'Install'), [], path.join(logDir, 'install.log'));
      const now = agentVersion();
      if (now !== want) throw new Error(`global set-up: after Install the agent reports ${now ?? '(nothing)'}, not ${want}`);
    }
  }
  process.stderr.write(`global set-up: agent ${want} ready in ${((Date.now() - t0) / 1000).toFixed(2)} s\n`);
  return () => teardown(runTmp, t0);
}

/** Release what tests left behind, and fail the run for kernel objects a test did not release:
 *  a leak there is a test bug (it lingers across runs), a leftover file is not. */
function teardown(runTmp: string, since: number): void {
  const leaks = [...kernelLeftovers(runTmp), ...cgroupLeftovers(since)];
  const failed: string[] = [];
  for (const l of leaks) {
    try {
      l.release();
    } catch (e) {
      failed.push(`${l.what}: ${(e as Error).message}`);
    }
  }
  const files = fs.readdirSync(runTmp);
  try {
    fs.rmSync(runTmp, { recursive: true, force: true });
  } catch (e) {
    failed.push(`${runTmp}: ${(e as Error).message}`);
  }
  if (files.length) process.stderr.write(`global teardown: removed ${files.length} temp entries the tests left in ${runTmp}\n`);
  if (leaks.length || failed.length) {
    throw new Error(
      `tests left kernel objects behind (released now): ${leaks.map((l) => l.what).join('; ') || 'none'}` + (failed.length ? `\ncleanup failed: ${failed.join('; ')}` : ''),
    );
  }
}
