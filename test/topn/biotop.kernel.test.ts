// biotop against the real kernel: dd with O_DIRECT on a loop device of our own, whose every
// 64 KiB block is one request, must show up as its own row with its pid, comm, direction, disk, I/O count
// and bytes, through every attach variant this kernel has.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelFeatures } from '../../src/bpf';
import { biotop } from '../../src/modules/biotop';
import { ModuleUnavailable } from '../../src/pmda/module';
import { ddDirectWrite, diskStat, makeLoop, type Loop } from '../helpers/block';
import { releaseAll, type Step } from '../helpers/cleanup';
import { waitFor } from '../helpers/pmcd';
import { buildObjects, create, rows, run, sleep, type Running } from './kernel-helpers';

// A loop device of our own: nobody else does I/O on it, so every row of it is exact. Without
// direct I/O, its worker completes each request in process context; completions in interrupt
// context (a real disk's, or a direct-I/O loop device's) are lost to the "tracepoint" variants
// when they land while another tracepoint program runs on that CPU (the kernel's per-CPU
// bpf_prog_active guard; a quarter of them with two CPU burners beside).
let disk: Loop;

beforeAll(() => {
  buildObjects('biotop');
  disk = makeLoop(64);
});

afterAll(() => disk?.release());

const BS = 65536;
const COUNT = 200;

/** dd writing COUNT blocks with O_DIRECT, then another dd reading them back the same way. */
async function ddWriteRead(): Promise<{ writer: number; reader: number }> {
  const writer = await run('dd', ['if=/dev/zero', `of=${disk.dev}`, `bs=${BS}`, `count=${COUNT}`, 'oflag=direct']);
  const reader = await run('dd', [`if=${disk.dev}`, 'of=/dev/null', `bs=${BS}`, `count=${COUNT}`, 'iflag=direct']);
  return { writer, reader };
}

function checkDdRows(table: Record<string, unknown>[], pids: { writer: number; reader: number }): void {
  for (const [pid, direction] of [
    [pids.writer, 'W'],
    [pids.reader, 'R'],
  ] as const) {
    const row = table.find((r) => r.pid === pid && r.direction === direction);
    expect(row, `no ${direction} row for dd pid ${pid} in ${JSON.stringify(table, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`).toBeDefined();
    expect(row!.comm).toBe('dd');
    expect(row!.major).toBe(disk.major);
    expect(row!.minor).toBe(disk.minor);
    expect(row!.disk).toBe(disk.name);
    expect(row!.io).toBe(COUNT);
    expect(row!.bytes).toBe(BigInt(COUNT * BS));
    expect(row!.duration as number).toBeGreaterThan(0);
  }
}

describe('biotop on the real kernel', () => {
  const variants = ['tp_btf', 'raw_tp', 'tracepoint', 'tracepoint(bio_queue)'];
  for (const variant of variants) {
    it(`variant ${variant}: dd O_DIRECT write and read show as the dd rows`, async () => {
      const t: Running = create(biotop, { interval: '0', process_count: '100', variant });
      try {
        await t.module.start();
        expect(t.state.variant).toBe(variant);
        const pids = await ddWriteRead();
        checkDdRows(rows(biotop, t.module), pids);
        // the interval is over: the next refresh starts from zero
        const again = rows(biotop, t.module);
        expect(again.find((r) => r.pid === pids.writer)).toBeUndefined();
      } finally {
        await t.module.stop();
      }
    });
  }

  // A loop device of our own: nobody else does I/O on it, so the row is exact, and the
  // kernel's accounting of the device bounds the average duration (microseconds) from both
  // sides: biotop times issue to completion, the kernel request start to completion (ms), dd
  // waits for each write in turn.
  it('O_DIRECT writes to a loop device: exactly COUNT I/Os and bytes, duration within the kernel\'s and dd\'s time', async () => {
    const loop = makeLoop(64, true);
    const t = create(biotop, { interval: '0', process_count: '100' });
    try {
      await t.module.start();
      ddDirectWrite(loop.dev, 1); // first touch outside the interval
      rows(biotop, t.module); // the interval starts here
      const k0 = diskStat(loop.name);
      const t0 = process.hrtime.bigint();
      const pid = await run('dd', ['if=/dev/zero', `of=${loop.dev}`, `bs=${BS}`, `count=${COUNT}`, 'oflag=direct']);
      const wallUs = Number((process.hrtime.bigint() - t0) / 1000n);
      const k1 = diskStat(loop.name);
      const table = rows(biotop, t.module).filter((r) => r.disk === loop.name);
      const kernelUs = (k1.writeMs - k0.writeMs) * 1000;
      const why = `${JSON.stringify(table, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}; kernel ${k1.writes - k0.writes} writes in ${kernelUs} µs, dd ${wallUs} µs`;
      expect(k1.writes - k0.writes).toBe(COUNT);
      expect(table.length, why).toBe(1);
      const row = table[0]!;
      expect(row).toMatchObject({ pid, comm: 'dd', direction: 'W', major: loop.major, minor: loop.minor, io: COUNT, bytes: BigInt(COUNT * BS) });
      expect(kernelUs, why).toBeGreaterThanOrEqual(10_000);
      // duration = floor(average): the requests took at least COUNT*duration, less than COUNT*(duration+1)
      const d = row.duration as number;
      expect(d * COUNT, why).toBeLessThanOrEqual(Math.min(kernelUs + 1000, wallUs));
      expect((d + 1) * COUNT, why).toBeGreaterThanOrEqual(kernelUs / 2);
    } finally {
      await releaseAll(['stop biotop', () => t.module.stop()], [`release ${loop.dev}`, () => loop.release()]);
    }
  });

  it.skipIf(!kernelFeatures.hasBtfType('btf_trace_block_io_start', 'typedef'))(
    'auto picks tp_btf when the kernel has block_io_* in BTF (6.5+), and reports it',
    async () => {
      const t = create(biotop, {});
      try {
        await t.module.start();
        expect(t.state.variant).toBe('tp_btf');
      } finally {
        await t.module.stop();
      }
    },
  );

  it.skipIf(kernelFeatures.kprobesAvailable())('a kprobe variant on a kernel without kprobes is reported unavailable, with the reason', async () => {
    for (const variant of ['kprobe', 'kprobe(__blk_account_io)']) {
      const t = create(biotop, { variant });
      await expect(t.module.start()).rejects.toThrow(ModuleUnavailable);
      await expect(create(biotop, { variant }).module.start()).rejects.toThrow(/kprobes are not available/);
    }
  });

  it('interval 1: the rows cover the last interval only', async () => {
    const t = create(biotop, { interval: '1', process_count: '100' });
    try {
      await t.module.start();
      const pids = await ddWriteRead();
      // interval > 0: fetches read the table the timer filled, they do not drain the kernel
      const hasWriter = () => rows(biotop, t.module).some((r) => r.pid === pids.writer && r.direction === 'W');
      await waitFor('the dd row (next interval)', hasWriter, 3000, 50);
      // ...and it goes with the first interval without dd (at most two timer ticks later).
      await waitFor('the dd row to go (an interval without dd)', () => !hasWriter(), 3000, 50);
    } finally {
      await t.module.stop();
    }
  });

  it('process_count and sort choose and order the rows as documented', async () => {
    const all = create(biotop, { interval: '0', process_count: '1000', sort: '-bytes' });
    const top3 = create(biotop, { interval: '0', process_count: '3', sort: '-bytes' });
    const fewIo = create(biotop, { interval: '0', process_count: '3', sort: 'io' });
    const rw = create(biotop, { interval: '0', process_count: '50', sort: '-rw' });
    const slow = create(biotop, { interval: '0', process_count: '50', sort: '-duration' });
    const mods = [all, top3, fewIo, rw, slow];
    try {
      for (const m of mods) await m.module.start();
      // start every instance's interval at the same moment
      for (const m of mods) rows(biotop, m.module);
      // five writers of known, different sizes (4 KiB O_DIRECT writes: io = blocks)
      const counts = [40, 80, 120, 160, 200];
      const ours = new Map<number, number>();
      for (const c of counts) {
        ours.set(await run('dd', ['if=/dev/zero', `of=${disk.dev}`, 'bs=4096', `count=${c}`, 'oflag=direct']), c);
        await run('dd', [`if=${disk.dev}`, 'of=/dev/null', 'bs=4096', `count=${c}`, 'iflag=direct']);
      }
      // The full table is read first: other processes' rows only grow while we read, so every
      // row it has is at least as big in the tables read after it.
      const [rAll, rTop3, rFewIo, rRw, rSlow] = mods.map((m) => rows(biotop, m.module));
      const n = (v: unknown) => Number(v);
      const id = (r: Record<string, unknown>) => `${r.pid}/${r.comm}/${r.direction}/${r.major}:${r.minor}`;

      // the full table has all five writers with their exact I/O counts
      const measured = new Map<number, bigint>();
      for (const [pid, c] of ours) {
        const r = rAll.find((x) => x.pid === pid && x.direction === 'W');
        expect(r, `writer ${pid}`).toBeDefined();
        expect(r!.io).toBe(c);
        expect(r!.bytes).toBe(BigInt(c * 4096));
        measured.set(pid, r!.bytes as bigint);
      }

      // more rows than process_count → exactly process_count, the biggest ones, biggest first
      expect(rTop3).toHaveLength(3);
      for (let i = 1; i < 3; i++) expect(n(rTop3[i - 1]!.bytes)).toBeGreaterThanOrEqual(n(rTop3[i]!.bytes));
      const cut = n(rTop3[2]!.bytes);
      for (const [pid, b] of measured) {
        if (n(b) > cut) expect(rTop3.some((r) => r.pid === pid && r.direction === 'W'), `writer ${pid} (${b} bytes) is in the top 3`).toBe(true);
      }
      // and nothing the full table has outside the top 3 is bigger than the third (all was read
      // first, so its rows can only be smaller than the same rows in top3's later read)
      const inTop = new Set(rTop3.map(id));
      for (const r of rAll) if (!inTop.has(id(r))) expect(n(r.bytes), `${id(r)} outside the top 3`).toBeLessThanOrEqual(cut);

      // "io": ascending, so the three rows with the fewest I/Os
      expect(rFewIo).toHaveLength(3);
      for (let i = 1; i < 3; i++) expect(n(rFewIo[i - 1]!.io)).toBeLessThanOrEqual(n(rFewIo[i]!.io));
      const ioCut = n(rFewIo[2]!.io);
      // (checked on our writers, whose rows were final before any read: another process's row
      // may appear between two reads and would have had no row to rank in the first)
      for (const [pid] of ours) {
        const io = n(rAll.find((x) => x.pid === pid && x.direction === 'W')!.io);
        if (io < ioCut) expect(rFewIo.some((r) => r.pid === pid && r.direction === 'W'), `writer ${pid} (${io} I/Os) is among the 3 fewest`).toBe(true);
      }

      // "-rw": every write row before every read row, each direction by bytes
      const dirs = rRw.map((r) => r.direction).join('');
      expect(dirs).toMatch(/^W*R*$/);
      expect(dirs).toContain('W');
      expect(dirs).toContain('R');
      for (let i = 1; i < rRw.length; i++) {
        if (rRw[i]!.direction === rRw[i - 1]!.direction) expect(n(rRw[i - 1]!.bytes)).toBeGreaterThanOrEqual(n(rRw[i]!.bytes));
      }

      // "-duration": slowest average first
      expect(rSlow.length).toBeGreaterThanOrEqual(5);
      for (let i = 1; i < rSlow.length; i++) expect(n(rSlow[i - 1]!.duration)).toBeGreaterThanOrEqual(n(rSlow[i]!.duration));
    } finally {
      await releaseAll(...mods.map((m, i): Step => [`stop instance ${i}`, () => m.module.stop()]));
    }
  });

  it('nothing is lost between intervals: 4000 writes drained 20+ times sum to what one drain saw', async () => {
    // Differential: a second instance drained only once at the end sees the same tracepoint
    // events, so any difference is the drains' doing. (Against dd's own count the sum can be a
    // fraction of a percent short when the machine is loaded: a few requests then complete
    // without block_io_done or block_rq_complete firing, for every BPF program and for
    // perf alike, which no drain strategy can recover.)
    const drained = create(biotop, { interval: '0', process_count: '1000' });
    const once = create(biotop, { interval: '0', process_count: '1000' });
    try {
      await drained.module.start();
      await once.module.start();
      let io = 0;
      let bytes = 0n;
      let drains = 0;
      let finished = false;
      const child = spawn('dd', ['if=/dev/zero', `of=${disk.dev}`, 'bs=4096', 'count=4000', 'oflag=direct'], { stdio: 'ignore' });
      const pid = child.pid!;
      const take = () => {
        drains++;
        for (const r of rows(biotop, drained.module)) {
          if (r.pid === pid && r.direction === 'W') {
            io += r.io as number;
            bytes += r.bytes as bigint;
          }
        }
      };
      const done = new Promise<void>((res, rej) => child.on('exit', (code) => (code === 0 ? res() : rej(new Error(`dd exit ${code}`)))));
      void done.finally(() => (finished = true));
      while (!finished) {
        take();
        await sleep(2);
      }
      await done;
      await sleep(50);
      // a program that read the old generation just before a flip writes into the drained map;
      // that count is read when the same map is drained again, two refreshes later
      take();
      take();
      const ref = rows(biotop, once.module).find((r) => r.pid === pid && r.direction === 'W');
      expect(drains).toBeGreaterThan(20);
      expect(ref!.io).toBe(4000);
      expect(io).toBe(ref!.io);
      expect(bytes).toBe(ref!.bytes);
    } finally {
      await releaseAll(['stop the drained instance', () => drained.module.stop()], ['stop the reference instance', () => once.module.stop()]);
    }
  });
});
