// Helpers for tests against the real pmcd with the installed agent (test/global-setup.ts installs
// this tree's build before any test runs).
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const REPO = path.resolve(__dirname, '../..');
export const PMDA_DIR = '/var/lib/pcp/pmdas/ebpf';
export const CONF = '/etc/pcp/ebpf/ebpf.conf';

export function sh(cmd: string, args: string[], opts: { input?: string; allowFail?: boolean; timeout?: number } = {}): { out: string; code: number } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input ?? '', timeout: opts.timeout ?? 120_000 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (!opts.allowFail && r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${out}`);
  return { out, code: r.status ?? -1 };
}

/** The version the agent of this tree reports: package version + build id (tools/build-id.ts). */
export function buildVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
  return `${pkg.version}+${fs.readFileSync(path.join(REPO, 'build-id'), 'utf8').trim()}`;
}

/** bcc.pmda.version as pmcd's agent answers it, or null when no agent answers. */
export function agentVersion(): string | null {
  const r = spawnSync('pmprobe', ['-v', 'bcc.pmda.version'], { encoding: 'utf8' });
  const m = /^bcc\.pmda\.version 1 "(.*)"$/m.exec(r.stdout ?? '');
  return m ? m[1] : null;
}

export function pmcdRunning(): boolean {
  return /^pmcd\.version 1$/m.test(spawnSync('pmprobe', ['pmcd.version'], { encoding: 'utf8' }).stdout ?? '');
}

/** True when pmcd's agent answers and is this tree's build (not one another tree installed). */
export function agentAnswers(): boolean {
  return agentVersion() === buildVersion();
}

/** Run Install from the source tree (deploys the current build). */
export function install(): string {
  return sh(path.join(REPO, 'Install'), [], { timeout: 180_000 }).out;
}

export function ensureInstalled(): void {
  if (!agentAnswers()) install();
}

export function agentPids(): number[] {
  const r = spawnSync('pgrep', ['-f', `${PMDA_DIR}/dist/src/main.js`], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n').filter(Boolean).map(Number);
}

export async function waitFor(what: string, cond: () => boolean, ms = 30_000, every = 250): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

export function pminfo(...args: string[]): string {
  return execFileSync('pminfo', args, { encoding: 'utf8' });
}

const PMSIGNAL = '/usr/lib/pcp/bin/pmsignal';

/** Restart the agent (to read a changed ebpf.conf). pmcd restarts dead agents by itself at
 *  most once a minute; SIGHUP asks it at once. */
export async function restartAgent(): Promise<void> {
  const before = agentPids();
  for (const p of before) process.kill(p, 'SIGKILL');
  await waitFor('the old agent to go', () => agentPids().every((p) => !before.includes(p)), 10_000);
  // pmcd notices the death on its next request to the agent; only then does SIGHUP restart it.
  await waitFor('pmcd to notice the agent died', () => /-12386|No PMCD agent/.test(sh('pmprobe', ['-v', 'bcc.pmda.version'], { allowFail: true }).out) || agentPids().length > 0, 10_000);
  sh(PMSIGNAL, ['-a', '-s', 'HUP', 'pmcd']);
  await waitFor('the agent to answer again', agentAnswers, 30_000, 500);
}

/** `conf` with section [name] replaced by `body` (appended when the section is absent). */
export function withSection(conf: string, name: string, body: string): string {
  const re = new RegExp(`^\\[${name}\\][^[]*`, 'm');
  const text = `[${name}]\n${body.trim()}\n\n`;
  return re.test(conf) ? conf.replace(re, text) : `${conf}\n${text}`;
}
