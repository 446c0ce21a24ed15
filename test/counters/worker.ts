// A perl process that waits for "go" on stdin, runs a snippet, and says "done": the counting
// tests filter on its PID and read deltas around the snippet, so the counts are exact.
import { spawn } from 'node:child_process';
import { namedPerl } from '../modules/hist-helpers';

export function worker(comm: string, snippet: string) {
  const p = spawn(namedPerl(comm), ['-e', `$| = 1; print "ready\\n"; <STDIN>; ${snippet}; print "done\\n"; <STDIN>;`], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const waitFor = (word: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => out.includes(word) && resolve();
      p.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        check();
      });
      p.on('exit', (code) => reject(new Error(`worker exited ${code} before "${word}"`)));
      check();
    });
  const ready = waitFor('ready');
  return {
    pid: p.pid!,
    ready,
    async run() {
      await ready;
      p.stdin!.write('go\n');
      await waitFor('done');
    },
    stop: () => p.kill(),
  };
}

type Fetchable = { refresh?(i: ReadonlySet<number>): void; fetch(i: number, c: { slot: number; ctxid: number }): unknown };

/** Values of one metric item by instance name. */
export function byName(m: Fetchable, item: number, indom: { nameOf(id: number): string | undefined }): Map<string, bigint> {
  m.refresh?.(new Set([item]));
  const r = m.fetch(item, { slot: 0, ctxid: 0 });
  if (!Array.isArray(r)) throw new Error(`fetch of item ${item} failed: ${r}`);
  return new Map((r as { inst: number; value: bigint }[]).map((v) => [indom.nameOf(v.inst) ?? `#${v.inst}`, BigInt(v.value)]));
}
