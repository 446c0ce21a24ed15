// Vitest global set-up: every test runs against the build under test.
//  1. Build (npm run build) when any build input is newer than the last build's `build-id`
//     stamp, or an output is missing — the no-change path is a directory walk, not a rebuild.
//  2. Install the agent when pmcd's agent reports another build id (or none) in
//     bcc.pmda.version, so pmcd/pmproxy tests never measure an agent another tree installed.
// It takes no lock: the caller holds /tmp/pmcd.lock around the whole vitest run.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
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

export default function setup(): void {
  const t0 = Date.now();
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
}
