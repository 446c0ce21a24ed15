// Workloads for the profile tests: C burners compiled with frame pointers into a temp
// directory, and processes started from them.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';

export const FIXTURES = path.join(__dirname, 'fixtures');
export const BPF_DIR = path.resolve(__dirname, '../../bpf/.output');

let tmp: string | null = null;
export function tempDir(): string {
  if (!tmp) tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'profile-test-'));
  return tmp;
}

const FRAME_POINTERS = ['-O1', '-fno-omit-frame-pointer', '-fno-optimize-sibling-calls'];

/** Compile test/profile/fixtures/<name>.c (with frame pointers unless other flags are given;
 *  extra libraries after the flags, e.g. '-ldl'); returns the binary's path. */
export function compileFixture(name: string, flags: string[] = FRAME_POINTERS): string {
  const tag = flags === FRAME_POINTERS ? '' : flags.join('').replace(/[^A-Za-z0-9]/g, '');
  const out = path.join(tempDir(), `${tag ? `${name}-${tag}` : name}${flags.includes('-shared') ? '.so' : ''}`);
  if (!fs.existsSync(out)) {
    execFileSync('cc', ['-g', ...flags.filter((f) => !f.startsWith('-l')), '-o', out, path.join(FIXTURES, `${name}.c`), ...flags.filter((f) => f.startsWith('-l'))]);
  }
  return out;
}

export interface Running {
  child: ChildProcess;
  pid: number;
  /** The first line the program printed, split on spaces. */
  first: string[];
  done: Promise<number | null>;
}

export interface Gated extends Running {
  /** Let the program start its work. */
  go(): void;
}

/**
 * A program that waits: its PID is known (for a `process` filter) but it does nothing until
 * go(), so a workload cannot finish while the module under test is still starting.
 */
export async function runGated(cmd: string, args: string[]): Promise<Gated> {
  const quoted = [cmd, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = await run('sh', ['-c', `echo $$; read go; exec ${quoted}`], true);
  return { ...r, go: () => r.child.stdin!.end('go\n') };
}

/** Start a program and wait for its first output line. */
export function run(cmd: string, args: string[], stdin = false): Promise<Running> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'inherit'] });
    const done = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    let buf = '';
    let started = false;
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0 && !started) {
        started = true;
        resolve({ child, pid: child.pid!, first: buf.slice(0, nl).trim().split(/\s+/), done });
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (!buf.includes('\n')) reject(new Error(`${cmd} exited with ${code} before printing`));
    });
  });
}

export function testLog(name: string) {
  return pino({ level: 'debug' }, pino.destination({ dest: path.join(os.tmpdir(), `${name}.log`), sync: true }));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
