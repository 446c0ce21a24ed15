// The .eh_frame unwinder end to end on the real kernel: the sampler's sample_unwind program,
// the agent's tables (Unwinder) and the symboliser, on programs built without frame pointers
// and on Debian's own xz. Each case also runs the kernel's frame-pointer walker on the same
// workload, and prints both shares, so the difference is on record.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onlineCpus } from '../../src/bpf';
import { Sampler } from '../../src/modules/profile/sampler';
import { Symbolizer } from '../../src/modules/profile/symbolizer';
import { Unwinder } from '../../src/modules/profile/unwinder';
import { parseProcessSpec, TaskFilter } from '../../src/modules/shared/filter';
import { BPF_DIR, compileFixture, runGated, sleep, tempDir, testLog } from './helpers';

const log = testLog('profile-unwind');

beforeAll(() => {
  execFileSync('make', ['-s', '-C', path.resolve(__dirname, '../../bpf'), '.output/profile.bpf.o']);
});
afterAll(() => fs.rmSync(tempDir(), { recursive: true, force: true }));

type Mode = 'eh_frame' | 'frame_pointer';

interface Profiled {
  /** User frames of the target's samples, outermost first, one entry per sample. */
  stacks: string[][];
  variant: string;
  unwinder: Unwinder | null;
  /** The unwinder's frame counters, read before the maps closed. */
  frames: ReturnType<Unwinder['frameCounts']> | null;
  tableBytes: number;
}

/** Sample every CPU at 199 Hz while `cmd` runs, only it (a process filter: the unwinder then
 *  builds tables for it alone, not for everything else this shared machine runs); its samples,
 *  named. `killAfterMs`: stop it then. */
async function profile(mode: Mode, cmd: string, args: string[], killAfterMs = 0): Promise<Profiled> {
  const gated = await runGated(cmd, args);
  const filter = new TaskFilter(parseProcessSpec(String(gated.pid))!, null, log);
  const start = async () => {
    gated.go();
    if (killAfterMs) setTimeout(() => gated.child.kill(), killAfterMs);
    return { pid: gated.pid, done: gated.done };
  };
  const symbolizer = new Symbolizer({ log });
  let unwinder: Unwinder | null = null;
  const s = new Sampler({
    bpfFile: path.join(BPF_DIR, 'profile.bpf.o'),
    cpus: onlineCpus(),
    frequency: 199,
    userStacksOnly: true,
    kernelStacksOnly: false,
    includeIdle: false,
    stackStorageSize: 4096,
    unwinder: mode,
    unwindChunks: 4096,
    unwindProcs: 64,
    configure: (o) => filter.configure(o),
    onNewProcess: (tgid) => {
      symbolizer.observe(tgid);
      if (unwinder) {
        unwinder.observe(tgid);
        // As the module does: processes first, big tables (node's) in later turns.
        const step = () => {
          if (unwinder && !unwinder.run(25)) setImmediate(step);
        };
        step();
      }
    },
    log,
  });
  const variant = s.start();
  filter.start(s.objectHandle!);
  const maps = s.unwindMaps();
  if (maps) unwinder = new Unwinder({ maps, log });
  const stacks: string[][] = [];
  let frames: Profiled['frames'] = null;
  let tableBytes = 0;
  try {
    const p = await start();
    let finished = false;
    void p.done.then(() => (finished = true));
    const take = () => {
      for (const r of s.drain().stacks) {
        if (r.tgid !== p.pid || r.user.length === 0) continue;
        symbolizer.beginPass();
        const names = symbolizer.userFrames(r.tgid, r.user).reverse();
        for (let i = 0; i < r.count; i++) stacks.push(names);
      }
    };
    while (!finished) {
      await sleep(250);
      take();
    }
    take();
    frames = unwinder?.frameCounts() ?? null;
    tableBytes = unwinder?.stats.tableBytes ?? 0;
  } finally {
    filter.stop();
    s.stop();
  }
  return { stacks, variant, unwinder, frames, tableBytes };
}

/** The most common stacks, for the log of a failing run. */
function top(stacks: string[][], n = 3): string {
  const c = new Map<string, number>();
  for (const f of stacks) c.set(f.join(';'), (c.get(f.join(';')) ?? 0) + 1);
  return [...c].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `    ${v} ${k}`).join('\n');
}

/** Share of stacks that satisfy `ok`. */
function share(stacks: string[][], ok: (frames: string[]) => boolean): number {
  return stacks.length ? stacks.filter(ok).length / stacks.length : 0;
}

/** `want` appears in order, consecutively, in `frames`. */
function chainIn(frames: string[], want: string[]): boolean {
  for (let i = 0; i + want.length <= frames.length; i++) if (want.every((w, k) => frames[i + k] === w)) return true;
  return false;
}

const CHAIN = ['main', 'chain_a', 'chain_b', 'chain_c'];
/** libc's start routine: __libc_start_call_main, or __libc_start_main (under one of its
 *  aliases, __libc_start_main_alias_2 with libc's debug symbols) where only .dynsym names it. */
const libcStart = (f: string[]) => f.some((x) => /^__libc_start_(call_)?main/.test(x));

describe('eh_frame unwinder', () => {
  for (const flags of [
    ['-O2', '-fomit-frame-pointer'],
    ['-O1', '-fomit-frame-pointer'],
  ]) {
    it(`walks main → chain_a → chain_b → chain_c of a gcc ${flags.join(' ')} program`, async () => {
      const bin = compileFixture('unwind-chain', [...flags, '-lpthread']);
      const eh = await profile('eh_frame', bin, ['2']);
      const fp = await profile('frame_pointer', bin, ['2']);
      expect(eh.variant).toMatch(/user stacks eh_frame/);
      expect(fp.variant).toMatch(/user stacks frame_pointer/);
      const leafy = (st: string[][]) => st.filter((f) => f[f.length - 1] === 'chain_c');
      const ehShare = share(leafy(eh.stacks), (f) => chainIn(f, CHAIN) && libcStart(f));
      const fpShare = share(leafy(fp.stacks), (f) => chainIn(f, CHAIN));
      console.log(`${flags.join(' ')}: whole chain in ${(ehShare * 100).toFixed(1)}% of ${leafy(eh.stacks).length} samples (eh_frame), ${(fpShare * 100).toFixed(1)}% of ${leafy(fp.stacks).length} (frame pointers)`);
      console.log(top(leafy(eh.stacks)));
      expect(leafy(eh.stacks).length).toBeGreaterThan(50);
      expect(ehShare).toBeGreaterThanOrEqual(0.9);
      expect(fpShare).toBeLessThan(ehShare);
      // The tables did the walking (the program has no frame pointers to fall back on).
      expect(eh.frames!.table).toBeGreaterThan(0n);
    });
  }

  it('walks every thread of a multi-threaded program to its thread start', async () => {
    const bin = compileFixture('unwind-chain', ['-O2', '-fomit-frame-pointer', '-lpthread']);
    const eh = await profile('eh_frame', bin, ['1.5', '2']);
    const leafy = eh.stacks.filter((f) => f[f.length - 1] === 'chain_c');
    expect(leafy.length).toBeGreaterThan(50);
    // Threads run thread_main (static, inlined or not) under libc's start_thread and clone3.
    const ok = share(leafy, (f) => chainIn(f, ['chain_a', 'chain_b', 'chain_c']) && /^(__clone3|clone3|libc\.so\.6\+)/.test(f[0]) && !f.includes('main'));
    console.log(`threads: ${(ok * 100).toFixed(1)}% of ${leafy.length} samples reach libc's thread start\n${top(leafy)}`);
    expect(ok).toBeGreaterThanOrEqual(0.9);
  });

  it('walks into a library dlopened after the process was first sampled', async () => {
    const lib = compileFixture('unwind-lib', ['-O2', '-fomit-frame-pointer', '-shared', '-fPIC']);
    const bin = compileFixture('unwind-dlopen', ['-O2', '-fomit-frame-pointer', '-ldl']);
    const eh = await profile('eh_frame', bin, [lib, '2']);
    const inLib = eh.stacks.filter((f) => f[f.length - 1] === 'lib_c');
    expect(inLib.length).toBeGreaterThan(50);
    const ok = share(inLib, (f) => chainIn(f, ['main', 'lib_a', 'lib_b', 'lib_c']) && libcStart(f));
    console.log(`dlopen: whole chain in ${(ok * 100).toFixed(1)}% of ${inLib.length} samples\n${top(inLib)}`);
    // The first samples after the dlopen, before the agent has reread the maps, may miss.
    expect(ok).toBeGreaterThanOrEqual(0.9);
    expect(eh.frames!.rereads).toBeGreaterThan(0n);
  });

  it("walks Debian's xz -9 (no frame pointers) through liblzma to libc's start routine", async () => {
    const data = path.join(tempDir(), 'random.bin');
    execFileSync('head', ['-c', String(32 << 20), '/dev/urandom'], { maxBuffer: 64 << 20, stdio: ['ignore', fs.openSync(data, 'w'), 'inherit'] });
    const xz: [string, string[], number] = ['xz', ['-9', '-c', '-T1', data], 2500];
    const reach = (f: string[]) => libcStart(f) && f.some((x) => x.startsWith('lzma_') || x.startsWith('liblzma.so'));
    const eh = await profile('eh_frame', ...xz);
    const fp = await profile('frame_pointer', ...xz);
    const ehShare = share(eh.stacks, reach);
    const fpShare = share(fp.stacks, reach);
    console.log(`xz -9: ${(ehShare * 100).toFixed(1)}% of ${eh.stacks.length} samples reach __libc_start_main through liblzma (eh_frame), ${(fpShare * 100).toFixed(1)}% of ${fp.stacks.length} (frame pointers)`);
    console.log(top(eh.stacks, 5));
    expect(eh.stacks.length).toBeGreaterThan(100);
    expect(ehShare).toBeGreaterThanOrEqual(0.9);
    expect(eh.tableBytes).toBeGreaterThan(0);
  });
});
