// The profile module against the real kernel (no pmcd): perf_event sampling of known
// workloads, names in the JSON tree and in bcc.proc.stacks, pmstore start/stop, bounds.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { checkSampleRate, profile } from '../../src/modules/profile';
import { PM_ERR, PM_IN_NULL } from '../../src/pcp/types';
import { makeModuleContext } from '../../src/pmda/module-context';
import type { ModuleContext, ModuleInstance } from '../../src/pmda/module';
import { BPF_DIR, compileFixture, run, runGated, sleep, tempDir, testLog, type Running } from './helpers';

const log = testLog('profile-module');
const client = { slot: 0, ctxid: 0 };
const ALL = new Set([0, 1, 2, 3, 4, 5]);

beforeAll(() => {
  execFileSync('make', ['-s', '-C', path.resolve(__dirname, '../../bpf'), '.output/profile.bpf.o']);
});

let stateN = 0;
function make(raw: Record<string, string>): { m: ModuleInstance; ctx: ModuleContext } {
  const stateDir = path.join(tempDir(), `state-${stateN++}`);
  const ctx = makeModuleContext(profile, { domain: 149, log, paths: { bpfDir: BPF_DIR, stateDir }, raw });
  return { m: profile.create(ctx), ctx };
}

function profileJson(m: ModuleInstance): { status: string; data: TreeNode | null } {
  m.refresh?.(new Set([0]));
  const r = m.fetch(0, client);
  if (typeof r === 'number') throw new Error(`fetch failed: ${r}`);
  expect(r[0].inst).toBe(PM_IN_NULL);
  return JSON.parse(r[0].value as string);
}

/** pmdabcc's status goes through "stopping" while the last samples are named. */
async function stoppedProfile(m: ModuleInstance): Promise<{ status: string; data: TreeNode | null }> {
  for (let i = 0; i < 200; i++) {
    const v = profileJson(m);
    if (v.status !== 'stopping') return v;
    await sleep(100);
  }
  throw new Error('profile still stopping after 20 s');
}

interface TreeNode {
  name: string;
  libtype: string | null;
  value: number;
  children: TreeNode[];
}

/** The nodes called `name` (not below another such node), each with the names above it. */
function nodesNamed(n: TreeNode, name: string, above: string[] = []): { node: TreeNode; above: string[] }[] {
  if (n.name === name) return [{ node: n, above }];
  return n.children.flatMap((c) => nodesNamed(c, name, [...above, n.name]));
}

function stacks(m: ModuleInstance, ctx: ModuleContext): { name: string; value: bigint }[] {
  m.refresh?.(ALL);
  const r = m.fetch(1, client);
  if (typeof r === 'number') throw new Error(`fetch failed: ${r}`);
  const d = ctx.indom(14);
  return r.map(({ inst, value }) => ({ name: d.nameOf(inst)!, value: value as bigint }));
}

function single(m: ModuleInstance, item: number): bigint {
  const r = m.fetch(item, client);
  if (typeof r === 'number') throw new Error(`fetch failed: ${r}`);
  return r[0].value as bigint;
}

/** Is `want` a subsequence of `frames` in order, adjacent? */
function containsRun(frames: string[], want: string[]): boolean {
  for (let i = 0; i + want.length <= frames.length; i++) if (want.every((w, j) => frames[i + j] === w)) return true;
  return false;
}

const running: Running[] = [];
let instance: ModuleInstance | null = null;
afterEach(async () => {
  await instance?.stop();
  instance = null;
  for (const r of running.splice(0)) r.child.kill('SIGKILL');
});
afterAll(() => fs.rmSync(tempDir(), { recursive: true, force: true }));

describe('profile module on the real kernel', () => {
  it('puts main → outer_fn → middle_fn → burn_fn, in that order, in the JSON tree and in bcc.proc.stacks', async () => {
    const bin = compileFixture('nested-burn');
    const { m, ctx } = make({ allow_store: 'true', sample_frequency: '199' });
    instance = m;
    await m.start();
    expect(profileJson(m)).toEqual({ status: 'stopped', data: null });
    expect(m.store!(0, PM_IN_NULL, 'start', client)).toBe(0);
    expect(profileJson(m)).toEqual({ status: 'started', data: null });

    const p = await run(bin, ['2.5']);
    running.push(p);
    await p.done;

    expect(m.store!(0, PM_IN_NULL, 'stop', client)).toBe(0);
    const v = await stoppedProfile(m);
    expect(v.status).toBe('stopped');
    const root = v.data!;
    expect(root.name).toBe('root');
    expect(root.libtype).toBeNull();
    const comm = root.children.find((c) => c.name === 'nested-burn')!;
    expect(comm.libtype).toBe('user');
    // ~2.5 s at 199 Hz of one busy thread is up to ~500 samples; the two CPUs are shared with
    // whatever else runs, so only ask for enough to make the shape below meaningful.
    expect(comm.value).toBeGreaterThan(30);
    // Every burn_fn node, with the names on the way to it; its value counts its subtree.
    const burns = nodesNamed(comm, 'burn_fn');
    if (process.env.PROFILE_DEBUG) console.error(burns.map((b) => `${b.node.value} ${b.above.join(';')}`).join('\n'));
    const burnSamples = burns.reduce((sum, b) => sum + b.node.value, 0);
    expect(burnSamples / comm.value).toBeGreaterThan(0.8);
    for (const b of burns) expect(b.above.slice(-3)).toEqual(['main', 'outer_fn', 'middle_fn']);
    // The tree's value is the subtree's sample count.
    expect(root.value).toBe(root.children.reduce((s, c) => s + c.value, 0));

    // The same order in the continuous metric's instance names, which start with "comm,pid".
    const hot = stacks(m, ctx).filter((s) => s.name.startsWith(`nested-burn,${p.pid}\n`));
    expect(hot.length).toBeGreaterThan(0);
    const withBurn = hot.filter((s) => s.name.split('\n').includes('burn_fn'));
    expect(withBurn.length).toBeGreaterThan(0);
    for (const s of withBurn) {
      expect(containsRun(s.name.split('\n'), ['main', 'outer_fn', 'middle_fn', 'burn_fn'])).toBe(true);
      expect(s.name).not.toContain(' ');
      expect(s.value).toBeGreaterThan(0n);
    }
    expect(single(m, 2)).toBeGreaterThanOrEqual(BigInt(comm.value));
  });

  it('names a JS function of a node script run with --perf-basic-prof', async () => {
    const script = path.join(tempDir(), 'hot.js');
    fs.writeFileSync(
      script,
      `function spinInJavaScript(n){let x=0;for(let i=0;i<n;i++){x+=Math.sqrt(i)%7}return x}
       console.log(process.pid);
       const end=Date.now()+3000;let s=0;while(Date.now()<end)s+=spinInJavaScript(2e5);`,
    );
    const p = await runGated(process.execPath, ['--perf-basic-prof', script]);
    running.push(p);
    onTestFinished(() => fs.rmSync(`/tmp/perf-${p.pid}.map`, { force: true }));
    const { m, ctx } = make({ sample_frequency: '199', process: String(p.pid) });
    instance = m;
    await m.start();
    p.go();
    await p.done;
    const names = stacks(m, ctx)
      .filter((s) => s.name.startsWith(`node,${p.pid}\n`))
      .map((s) => s.name);
    const js = names.filter((n) => n.includes('spinInJavaScript'));
    expect(js.length).toBeGreaterThan(0);
    // The JIT frame is a perf-map name ("JS:*spinInJavaScript /path:1:10") with its space as "_".
    expect(js[0].split('\n').find((f) => f.includes('spinInJavaScript'))).toMatch(/^JS:.spinInJavaScript_\//);
  });

  it('refuses stores by default with PM_ERR_PERMISSION and bad commands with PM_ERR_BADSTORE', async () => {
    const { m } = make({ continuous: 'false' });
    instance = m;
    await m.start();
    expect(m.store!(0, PM_IN_NULL, 'start', client)).toBe(PM_ERR.PERMISSION);
    expect(m.store!(0, PM_IN_NULL, 'start', client)).toBe(-12387);
    expect(profileJson(m).status).toBe('stopped');
    expect(m.store!(1, 0, 'start', client)).toBe(PM_ERR.PERMISSION);

    const { m: open } = make({ continuous: 'false', allow_store: 'yes' });
    await open.start();
    try {
      expect(open.store!(0, PM_IN_NULL, 'begin', client)).toBe(PM_ERR.BADSTORE);
      // continuous off: the sampler runs only between start and stop.
      expect(open.store!(0, PM_IN_NULL, 'start', client)).toBe(0);
      expect(profileJson(open).status).toBe('started');
      expect(open.store!(0, PM_IN_NULL, 'start', client)).toBe(0); // already started: no change
      await sleep(300);
      expect(open.store!(0, PM_IN_NULL, 'stop', client)).toBe(0);
      const v = await stoppedProfile(open);
      expect(v.status).toBe('stopped');
      expect(v.data!.name).toBe('root');
      expect(open.store!(0, PM_IN_NULL, 'stop', client)).toBe(0);
    } finally {
      await open.stop();
    }
  });

  it('keeps bcc.proc.stacks to max_stacks instances when there are more distinct stacks, ids never reused', async () => {
    const bin = compileFixture('many-stacks');
    const p = await runGated(bin, ['4', '30']);
    running.push(p);
    const { m, ctx } = make({ sample_frequency: '499', max_stacks: '5', process: String(p.pid), include_idle: 'false', allow_store: 'true' });
    instance = m;
    await m.start();
    p.go();
    // The on-demand tree is not bounded: it shows how many distinct stacks there were.
    expect(m.store!(0, PM_IN_NULL, 'start', client)).toBe(0);
    const seen = new Map<number, string>();
    let maxActive = 0;
    for (let i = 0; i < 8; i++) {
      await sleep(500);
      m.refresh?.(ALL);
      const r = m.fetch(1, client) as { inst: number; value: FetchValueBig }[];
      maxActive = Math.max(maxActive, r.length);
      for (const { inst } of r) {
        const name = ctx.indom(14).nameOf(inst)!;
        if (seen.has(inst)) expect(seen.get(inst)).toBe(name);
        seen.set(inst, name);
      }
    }
    await p.done;
    expect(m.store!(0, PM_IN_NULL, 'stop', client)).toBe(0);
    expect(maxActive).toBe(5);
    const comm = (await stoppedProfile(m)).data!.children.find((c) => c.name === 'many-stacks')!;
    // Distinct recursion depths above leaf_burn = distinct stacks the program ran in.
    const depths = new Set<number>();
    const walk = (n: TreeNode, depth: number) => {
      const d = depth + (n.name === 'depth_fn' ? 1 : 0);
      if (n.name === 'leaf_burn') depths.add(d);
      n.children.forEach((c) => walk(c, d));
    };
    walk(comm, 0);
    expect(depths.size).toBeGreaterThan(5);
    expect(single(m, 2)).toBeGreaterThan(100n);
  });

  it('sees kernel frames of a syscall-heavy process, and does not call a user-mode sample\'s absent kernel stack missing', async () => {
    const dd = await runGated('dd', ['if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=400000', 'status=none']);
    running.push(dd);
    const { m, ctx } = make({ sample_frequency: '499', process: String(dd.pid) });
    instance = m;
    await m.start();
    dd.go();
    expect(await dd.done).toBe(0);
    const names = stacks(m, ctx)
      .filter((s) => s.name.startsWith('dd,'))
      .map((s) => s.name.split('\n'));
    expect(names.length).toBeGreaterThan(0);
    // A syscall-heavy dd spends time in the kernel: kernel frames after the user ones.
    const isKernel = (f: string) => /^(entry_SYSCALL_64|do_syscall_64|__x64_sys_|ksys_|vfs_)/.test(f);
    expect(names.some((n) => n.some(isKernel))).toBe(true);
    // Samples taken in user mode have no kernel stack (-EFAULT): no placeholder for them.
    const userOnly = names.filter((n) => !n.some(isKernel) && !n.some((f) => f.includes('Missed')));
    expect(userOnly.length).toBeGreaterThan(0);
    expect(single(m, 4)).toBeLessThan(single(m, 2));
  });

  it('counts stacks the kernel could not store (a stack map far too small) and names them [Missed User Stack]', async () => {
    const bin = compileFixture('fanout-stacks');
    const p = await runGated(bin, ['3', '8']); // 256 distinct user stacks
    running.push(p);
    // 16 ids per stack map: most of 256 stacks collide (-EEXIST) or find it full (-ENOMEM).
    const { m, ctx } = make({ sample_frequency: '499', process: String(p.pid), stack_storage_size: '16', include_idle: 'false' });
    instance = m;
    await m.start();
    p.go();
    await p.done;
    const missed = single(m, 3);
    expect(missed).toBeGreaterThan(0n);
    expect(missed).toBeLessThanOrEqual(single(m, 2));
    const names = stacks(m, ctx).map((s) => s.name.split('\n'));
    expect(names.some((n) => n[1] === '[Missed_User_Stack]')).toBe(true);
  });

  it('honours cpu, kernel_stacks_only and refuses contradictory or impossible settings with the key named', async () => {
    expect(() => make({ user_stacks_only: 'true', kernel_stacks_only: 'true' })).toThrow(/\[profile\] kernel_stacks_only: cannot be true together with user_stacks_only/);
    const { m: bad } = make({ cpu: '4000' });
    await expect(bad.start()).rejects.toThrow(/\[profile\] cpu: CPU 4000 is not online/);
    expect(() => checkSampleRate(12501, 12500)).toThrow(/\[profile\] sample_frequency: 12501 Hz is above kernel.perf_event_max_sample_rate \(12500\)/);
    expect(() => checkSampleRate(12500, 12500)).not.toThrow();

    // Pinned to CPU 0, the only CPU sampled here (taskset execs the burner: same PID).
    const p = await runGated('taskset', ['-c', '0', compileFixture('nested-burn'), '3']);
    running.push(p);
    const variants: string[] = [];
    const stateDir = path.join(tempDir(), `state-${stateN++}`);
    const ctx = makeModuleContext(profile, { domain: 149, log, paths: { bpfDir: BPF_DIR, stateDir }, raw: { cpu: '0', kernel_stacks_only: 'true', sample_frequency: '499', process: String(p.pid) } });
    ctx.status.setVariant = (v: string) => void variants.push(v);
    const m = profile.create(ctx);
    instance = m;
    await m.start();
    expect(variants[0]).toMatch(/^perf_event\(cpu-clock, 499 Hz, cpus 0\) filter process=\d+$/);
    p.go();
    await p.done;
    const names = stacks(m, ctx).map((s) => s.name.split('\n'));
    expect(names.length).toBeGreaterThan(0);
    // No user frames at all: only "comm,pid" and kernel frames (or nothing, in user mode).
    for (const n of names) expect(n.some((f) => ['main', 'burn_fn', 'outer_fn'].includes(f))).toBe(false);
    expect(single(m, 3)).toBe(0n);
  });
});

type FetchValueBig = bigint;
