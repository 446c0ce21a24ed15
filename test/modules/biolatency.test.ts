// biolatency against the real kernel: O_DIRECT writes on / must show up in bcc.disk.all.latency,
// one sample per completed request, in every attach variant and with queued on or off. The
// kernel's own per-disk counters (/sys/block/*/stat) over the same window are the reference.
// Other tests may do disk I/O at the same time (this machine is shared): requests already in
// flight when the window opens, or completing between the two reads that close it, are in
// one count and not the other, hence the tolerance.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { biolatency, biolatencyHooks } from '../../src/modules/biolatency';
import { HistogramTool } from '../../src/modules/shared/histogram-module';
import { kernelFeatures } from '../../src/bpf';
import { asValues, buildObjects, context, tmpRoot, total, type Values } from './hist-helpers';

const COUNT = 200;
const file = path.join(tmpRoot, 'dd.out'); // tmpRoot is under /tmp, on the root file system

beforeAll(() => buildObjects('biolatency'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

function fetchAll(m: HistogramTool | ReturnType<typeof biolatency.create>): Values {
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

function dd(count: number): void {
  execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=64k', `count=${count}`, 'oflag=direct', 'conv=notrunc'], { stdio: 'ignore' });
}

async function measure(m: { start(): Promise<void>; stop(): Promise<void> } & Parameters<typeof fetchAll>[0]) {
  await m.start();
  try {
    dd(1); // the file exists and is allocated before the window
    const h0 = total(fetchAll(m));
    const k0 = completedRequests();
    dd(COUNT);
    // Completions are counted by the time dd's last write returns; read the kernel counters first.
    const k1 = completedRequests();
    const values = fetchAll(m);
    return { grew: Number(total(values) - h0), kernel: k1 - k0, values };
  } finally {
    await m.stop();
  }
}

describe('biolatency module', () => {
  it('dd oflag=direct on /: one sample per completed request (default chain)', async () => {
    const { ctx, state } = context(biolatency);
    const r = await measure(biolatency.create(ctx));
    expect(state.variant).toBe('tp_btf');
    expect(r.kernel).toBeGreaterThanOrEqual(COUNT);
    expect(r.grew).toBeGreaterThanOrEqual(COUNT * 0.98);
    expect(Math.abs(r.grew - r.kernel)).toBeLessThanOrEqual(r.kernel * 0.1 + 10);
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
        const r = await measure(m);
        expect(state.variant).toBe(variant);
        expect(r.grew).toBeGreaterThanOrEqual(COUNT * 0.98);
        expect(Math.abs(r.grew - r.kernel)).toBeLessThanOrEqual(r.kernel * 0.1 + 10);
      });
    }
  }

  it('queued is a boolean option; process is not an option here', () => {
    expect(() => context(biolatency, { queued: 'maybe' })).toThrow(/^\[biolatency\] queued: expected true or false, got "maybe"/);
    expect(() => context(biolatency, { process: 'dd' })).toThrow(/^\[biolatency\] process: unknown key \(known keys: queued\)/);
  });
});
