// Workloads for the uprobe/USDT module tests: python3.11 scripts (Debian's python3.11 has USDT
// probes), a JVM, and a way to count the kernel's BPF links.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { KeyedCounterTool } from '../../src/modules/shared/keyed-counter';

export const PYTHON = '/usr/bin/python3.11';
export const JAVA = '/usr/lib/jvm/java-17-openjdk-amd64/bin/java';
/** No '-' in the path: pmdabcc's instance-name sanitising stops at the first one. */
export const SCRIPTS = '/tmp/pmdaebpf_usdt';
fs.mkdirSync(SCRIPTS, { recursive: true });

/** Write a python script under a unique name; `body` runs after `delay` seconds with a profile hook set (CPython 3.11 fires function probes only then). */
export function pyScript(name: string, body: string, opts: { delay?: number; hook?: boolean } = {}): string {
  const file = path.join(SCRIPTS, `${name}.py`);
  const hook = opts.hook ?? true;
  fs.writeFileSync(
    file,
    [
      'import sys, time, gc, ctypes',
      `time.sleep(${opts.delay ?? 0})`,
      hook ? 'sys.setprofile(lambda *a: None)' : '',
      body,
      hook ? 'sys.setprofile(None)' : '',
      'print("done", flush=True)',
      'sys.stdin.readline()',
    ].join('\n'),
  );
  return file;
}

/** Run a script; resolves when it printed "done" (it then waits on stdin until kill/end). */
export function runPy(file: string): { p: ChildProcess; done: Promise<void>; end: () => Promise<void> } {
  const p = spawn(PYTHON, [file], { stdio: ['pipe', 'pipe', 'inherit'] });
  const done = new Promise<void>((resolve, reject) => {
    p.stdout!.on('data', (d: Buffer) => d.toString().includes('done') && resolve());
    p.on('exit', (code) => reject(new Error(`${file} exited ${code} before done`)));
  });
  const exited = new Promise<void>((r) => p.on('exit', () => r()));
  return {
    p,
    done,
    end: async () => {
      p.stdin!.end();
      p.kill();
      await exited;
    },
  };
}

export function totals<F extends string>(m: unknown): Map<string, Record<F, bigint>> {
  const t = m as KeyedCounterTool<never, F>;
  t.refresh();
  return t.totals();
}

/** Links the kernel holds (bpftool link list), optionally only of one program name. */
export function kernelLinks(program?: string): number {
  const out = JSON.parse(execFileSync('bpftool', ['-j', 'link', 'list'], { encoding: 'utf8' })) as { prog_id: number }[];
  if (!program) return out.length;
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'list'], { encoding: 'utf8' })) as { id: number; name?: string }[];
  const ids = new Set(progs.filter((p) => p.name === program.slice(0, 15)).map((p) => p.id));
  return out.filter((l) => ids.has(l.prog_id)).length;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll until cond() or timeout. */
export async function until(cond: () => boolean, ms = 8000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(100);
  }
  return cond();
}
