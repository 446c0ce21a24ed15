// biolatency against the real kernel: O_DIRECT writes on / must show up in bcc.disk.all.latency,
// one sample per completed request, in every attach variant and with queued on or off. The
// kernel's own per-disk counters (/sys/block/*/stat) over the same window are the reference.
// Other tests may do disk I/O at the same time (this machine is shared): requests already in
// flight when the window opens, or completing between the two reads that close it, are in
// one count and not the other, hence the tolerance. The variant tests write to a raw loop
// device, where O_DIRECT cannot fall back to buffered writes (a file system may), so every one
// of the COUNT requests must be seen.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_INDOM, biolatency, biolatencyHooks, diskName } from '../../src/modules/biolatency';
import { HistogramTool } from '../../src/modules/shared/histogram-module';
import { kernelFeatures } from '../../src/bpf';
import { asValues, buildObjects, context, tmpRoot, total, type Values } from './hist-helpers';

const COUNT = 200;
const file = path.join(tmpRoot, 'dd.out'); // tmpRoot is under /tmp, on the root file system

beforeAll(() => buildObjects('biolatency'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

function fetchAll(m: HistogramTool): Values {
  m.refresh?.(new Set([0]));
  return asValues(m.fetch(0, { slot: 0, ctxid: 0 }));
}

/** Requests completed on every whole disk so far: reads, writes, discards and flushes. */
function completedRequests(): number {
  let n = 0;
  for (const d of fs.readdirSync('/sys/block')) {
    const f = fs.readFileSync(`/sys/block/${d}/stat`, 'utf8').trim().split(/\s+/).map(Number);
    n += f[0] + f[4] + (f[11] ?? 0) + (f[15] ?? 0);
  }
  return n;
}

function dd(count: number, target = file): void {
  execFileSync('dd', ['if=/dev/zero', `of=${target}`, 'bs=64k', `count=${count}`, 'oflag=direct', 'conv=notrunc'], { stdio: 'ignore' });
}

let loopDev = '';
beforeAll(() => {
  const img = path.join(tmpRoot, 'variants.img');
  execFileSync('truncate', ['-s', '32M', img]);
  loopDev = execFileSync('losetup', ['-f', '--show', img], { encoding: 'utf8' }).trim();
});
afterAll(() => {
  if (loopDev) execFileSync('losetup', ['-d', loopDev]);
});

async function measure(m: HistogramTool, target = file) {
  try {
    await m.start();
    dd(1, target); // the file exists and is allocated before the window
    const h0 = total(fetchAll(m));
    const k0 = completedRequests();
    const s0 = missed(m);
    dd(COUNT, target);
    // Completions are counted by the time dd's last write returns; read the kernel counters first.
    const k1 = completedRequests();
    const values = fetchAll(m);
    const r = { grew: Number(total(values) - h0), kernel: k1 - k0, missed: missed(m) - s0, values };
    return { ...r, why: `histogram +${r.grew}, kernel +${r.kernel} completed requests, ${r.missed} program runs skipped by the kernel` };
  } finally {
    await m.stop();
  }
}

/** Runs of the module's programs the kernel skipped (recursion protection). */
function missed(m: HistogramTool): number {
  const obj = m.object!;
  return obj.loadedPrograms().reduce((n, p) => n + Number(obj.programStats(p).recursionMisses), 0);
}

describe('biolatency module', () => {
  it('dd oflag=direct on /: one sample per completed request (default chain)', async () => {
    const { ctx, state } = context(biolatency);
    const r = await measure(biolatency.create(ctx) as HistogramTool);
    expect(state.variant).toBe('tp_btf');
    expect(r.kernel).toBeGreaterThanOrEqual(COUNT);
    expect(r.grew, r.why).toBeGreaterThanOrEqual(COUNT * 0.98);
    expect(Math.abs(r.grew - r.kernel), r.why).toBeLessThanOrEqual(r.kernel * 0.1 + 10);
    // 64 KiB direct writes on a virtio disk take tens of µs or more, never under 2 µs.
    const low = r.values.filter((v) => v.inst <= 1).reduce((s, v) => s + v.value, 0n);
    expect(Number(low)).toBeLessThan(COUNT / 10);
  });

  for (const variant of ['tp_btf', 'raw_tp', 'tracepoint']) {
    for (const queued of [false, true]) {
      it(`variant ${variant}, queued=${queued}`, async () => {
        const { ctx, state } = context(biolatency, { queued: String(queued) });
        const hooks = biolatencyHooks(queued).map((h) => ({ ...h, variants: h.variants.filter((v) => v.name === variant) }));
        const m = new HistogramTool(ctx, {
          object: 'biolatency.bpf.o',
          hooks,
          histograms: 1,
          indomSerial: 0,
          itemToHistogram: (i) => (i === 0 ? 0 : undefined),
          filter: false,
          configure: (o) => o.setRodata({ targ_queued: queued, targ_single: kernelFeatures.btfTracepointArgs('block_rq_issue') !== 2 }),
        });
        const r = await measure(m, loopDev);
        expect(state.variant).toBe(variant);
        expect(r.grew, r.why).toBeGreaterThanOrEqual(COUNT);
        expect(Math.abs(r.grew - r.kernel), r.why).toBeLessThanOrEqual(r.kernel * 0.1 + 10);
      });
    }
  }

  it('per disk: direct writes to a loop device count under that device only, exactly', async () => {
    const img = path.join(tmpRoot, 'loop.img');
    execFileSync('truncate', ['-s', '64M', img]);
    const dev = execFileSync('losetup', ['-f', '--show', img], { encoding: 'utf8' }).trim();
    const name = path.basename(dev);
    try {
      const { ctx } = context(biolatency);
      const m = biolatency.create(ctx);
      try {
        await m.start();
        const perDisk = (): Map<string, bigint> => {
          m.refresh?.(new Set([1]));
          const out = new Map<string, bigint>();
          for (const v of asValues(m.fetch(1, { slot: 0, ctxid: 0 }))) {
            const disk = ctx.indom(DEV_INDOM).nameOf(v.inst)!.split('::')[0];
            out.set(disk, (out.get(disk) ?? 0n) + v.value);
          }
          return out;
        };
        const before = perDisk().get(name) ?? 0n;
        execFileSync('dd', ['if=/dev/zero', `of=${dev}`, 'bs=64k', `count=${COUNT}`, 'oflag=direct'], { stdio: 'ignore' });
        const after = perDisk();
        expect(after.get(name)! - before).toBe(BigInt(COUNT));
        // Instance names and labels of that disk.
        const insts = ctx.indom(DEV_INDOM).instances().filter((i) => i.name.startsWith(`${name}::`));
        expect(insts[0].name).toBe(`${name}::0-1`);
        expect(ctx.indom(DEV_INDOM).labelsOf(insts[2].id)).toEqual({ disk: name, lower_bound: 4, upper_bound: 7 });
        // Same samples as the all-disk histogram: the per-disk totals add up to it. A refresh
        // reads the all-disk map, then the per-disk one, so completions of other I/O on the
        // host that land between the two reads count only per disk: the per-disk sum lies
        // between the all-disk total of this refresh and that of the next one.
        m.refresh?.(new Set([0, 1]));
        const all1 = total(asValues(m.fetch(0, { slot: 0, ctxid: 0 })));
        const sum = total(asValues(m.fetch(1, { slot: 0, ctxid: 0 })));
        m.refresh?.(new Set([0, 1]));
        const all2 = total(asValues(m.fetch(0, { slot: 0, ctxid: 0 })));
        expect(sum + 2n >= all1).toBe(true); // ±2: one completion may be between its two map updates
        expect(sum <= all2 + 2n).toBe(true);
      } finally {
        await m.stop();
      }
    } finally {
      execFileSync('losetup', ['-d', dev]);
    }
  });

  it('per_device = false: no per-disk values', async () => {
    const { ctx } = context(biolatency, { per_device: 'false' });
    const m = biolatency.create(ctx);
    try {
      await m.start();
      const k0 = completedRequests();
      dd(5);
      const k1 = completedRequests();
      m.refresh?.(new Set([0, 1]));
      expect(m.fetch(1, { slot: 0, ctxid: 0 })).toEqual([]);
      const n = total(asValues(m.fetch(0, { slot: 0, ctxid: 0 })));
      expect(n, `histogram ${n}, kernel +${k1 - k0} completed requests, ${missed(m as HistogramTool)} runs skipped`).toBeGreaterThanOrEqual(5n);
    } finally {
      await m.stop();
    }
  });

  it('disk names come from /sys/dev/block; an unknown device keeps its numbers', () => {
    const vda = fs.readlinkSync('/sys/dev/block/254:0');
    expect(diskName((254 << 20) | 0)).toBe(path.basename(vda));
    expect(diskName((4000 << 20) | 7)).toBe('4000:7');
  });

  it('queued is a boolean option; process is not an option here', () => {
    expect(() => context(biolatency, { queued: 'maybe' })).toThrow(/^\[biolatency\] queued: expected true or false, got "maybe"/);
    expect(() => context(biolatency, { process: 'dd' })).toThrow(/^\[biolatency\] process: unknown key \(known keys: per_device, queued\)/);
  });
});
