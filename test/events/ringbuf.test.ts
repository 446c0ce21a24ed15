// The mmap ring-buffer reader against the real kernel, fed by test/bpf/fixtures/evbench.bpf.c: each getppid()
// of this process makes one record (evbench_getppid: 24 bytes with a sequence number;
// evbench_varlen: 12..112 bytes whose payload repeats the sequence's low byte).
import * as path from 'node:path';
import koffi from 'koffi';
import { afterEach, describe, expect, it } from 'vitest';
import { BpfObject } from '../../src/bpf';
import { DropCounter, monotonicNs, monotonicToEpochNs, PAGE_SIZE, RingBufferReader, ringSize } from '../../src/bpf/ringbuf';
import { RingPoller } from '../../src/bpf/ringbuf-poller';
import { releaseAll, type Step } from '../helpers/cleanup';

const OBJ = path.resolve(__dirname, '../../bpf/.output/fixtures/evbench.bpf.o');
const getppid = koffi.load('libc.so.6').func('int getppid(void)') as () => number;

function produce(n: number): void {
  for (let i = 0; i < n; i++) getppid();
}

const cleanup: (() => void)[] = [];
afterEach(() => releaseAll(...cleanup.splice(0).reverse().map((f, i): Step => [`cleanup step ${i}`, f])));

function load(program: 'evbench_getppid' | 'evbench_varlen', ringBytes: number) {
  const obj = BpfObject.open(OBJ);
  obj.setAutoload('evbench_getppid', program === 'evbench_getppid');
  obj.setAutoload('evbench_varlen', program === 'evbench_varlen');
  obj.setRodata({ target_tgid: process.pid });
  obj.setMapMaxEntries('events', ringBytes);
  obj.load();
  obj.attach(program);
  const reader = RingBufferReader.open(obj.map('events'));
  const drops = new DropCounter(obj.map('drops'));
  cleanup.push(() => obj.close());
  cleanup.push(() => reader.close());
  return { obj, reader, drops };
}

describe('RingBufferReader (mmap, no FFI per record)', () => {
  it('delivers every record once, in order, across many wraps of a small ring', () => {
    const { reader, drops } = load('evbench_getppid', PAGE_SIZE);
    const seqs: bigint[] = [];
    const perCpu = new Map<number, bigint[]>();
    let lastTs = 0n;
    const sink = (buf: Buffer, off: number, len: number) => {
      expect(len).toBe(24);
      seqs.push(buf.readBigUInt64LE(off));
      const cpu = buf.readUInt32LE(off + 20);
      perCpu.set(cpu, [...(perCpu.get(cpu) ?? []), buf.readBigUInt64LE(off)]);
      const ts = buf.readBigUInt64LE(off + 8);
      expect(ts >= lastTs).toBe(true);
      lastTs = ts;
      expect(buf.readUInt32LE(off + 16)).toBe(process.pid);
    };
    // 4096-byte ring = 127 records of 32 bytes; 100 per round, 50 rounds = ~39 wraps.
    for (let round = 0; round < 50; round++) {
      produce(100);
      const r = reader.drain(sink);
      expect(r.records).toBe(100);
      expect(r.bytes).toBe(3200);
      expect(reader.pending()).toBe(0);
    }
    expect(seqs.length).toBe(5000);
    // The sequence is per CPU (a fresh object counts from 1): each CPU's records arrive as
    // 1, 2, 3, ... with no gap and no repeat.
    for (const list of perCpu.values()) list.forEach((seq, i) => expect(seq).toBe(BigInt(i + 1)));
    expect(drops.delta()).toBe(0n);
  });

  it('reassembles nothing: variable-length records that straddle the end come back intact', () => {
    const { reader, drops } = load('evbench_varlen', PAGE_SIZE);
    let n = 0;
    let straddled = 0;
    const sink = (buf: Buffer, off: number, len: number) => {
      const seq = buf.readBigUInt64LE(off);
      const plen = buf.readUInt32LE(off + 8);
      expect(len).toBe(12 + plen);
      expect(plen).toBe(Number((seq * 37n) % 101n));
      const want = Number(seq & 0xffn);
      for (let i = 0; i < plen; i++) if (buf[off + 12 + i] !== want) throw new Error(`record ${seq} byte ${i} is ${buf[off + 12 + i]}, want ${want}`);
      // Offsets are within the doubled data area: a record beyond `size` wrapped.
      if (off + len > reader.size) straddled++;
      n++;
    };
    for (let round = 0; round < 200; round++) {
      produce(40);
      expect(reader.drain(sink).records).toBe(40);
    }
    expect(n).toBe(8000);
    expect(straddled).toBeGreaterThan(10);
    expect(drops.delta()).toBe(0n);
  });

  it('counts kernel-side drops when the ring is full, keeps the records that fit, then recovers', () => {
    const { reader, drops } = load('evbench_getppid', PAGE_SIZE);
    // 4096 bytes hold 127 records of 32: the kernel never lets the producer catch up with
    // the consumer exactly (a full ring would look empty).
    produce(1000);
    let got = 0;
    reader.drain(() => got++);
    expect(got).toBe(127);
    expect(drops.delta()).toBe(873n);
    produce(50);
    got = 0;
    reader.drain(() => got++);
    expect(got).toBe(50);
    expect(drops.delta()).toBe(0n);
  });

  it('stops at the budget and resumes where it stopped', () => {
    const { reader } = load('evbench_getppid', 16 * PAGE_SIZE);
    produce(300);
    const seen: bigint[] = [];
    const sink = (buf: Buffer, off: number) => seen.push(buf.readBigUInt64LE(off + 8));
    const a = reader.drain(sink, 100);
    expect(a).toMatchObject({ records: 100, more: true });
    const b = reader.drain(sink, 1000);
    expect(b).toMatchObject({ records: 200, more: false });
    expect(seen.length).toBe(300);
    for (let i = 1; i < seen.length; i++) expect(seen[i] >= seen[i - 1]).toBe(true);
  });

  it('releases a record whose sink throws and carries on with the next', () => {
    const { reader } = load('evbench_getppid', PAGE_SIZE);
    produce(10);
    let calls = 0;
    expect(() =>
      reader.drain(() => {
        calls++;
        if (calls === 3) throw new Error('bad record');
      }),
    ).toThrow('bad record');
    let rest = 0;
    reader.drain(() => rest++);
    expect(calls).toBe(3);
    expect(rest).toBe(7);
    expect(reader.pending()).toBe(0);
  });

  it('refuses a map that is not a ring buffer and a closed reader', () => {
    const { obj, reader } = load('evbench_getppid', PAGE_SIZE);
    expect(() => RingBufferReader.open(obj.map('drops'))).toThrow(/not a ring buffer/);
    reader.close();
    expect(() => reader.drain(() => {})).toThrow(/closed/);
    reader.close(); // idempotent
  });

  it('rounds ring sizes to a power-of-two number of pages', () => {
    expect(ringSize(1)).toBe(PAGE_SIZE);
    expect(ringSize(PAGE_SIZE + 1)).toBe(2 * PAGE_SIZE);
    expect(ringSize(1 << 20)).toBe(1 << 20);
  });
});

describe('RingPoller', () => {
  it('drains from its timer without being asked, then drainAll() picks up the rest', async () => {
    const { reader } = load('evbench_getppid', 64 * PAGE_SIZE);
    let got = 0;
    const poller = new RingPoller({ intervalMs: 10 });
    poller.add(reader, () => got++);
    poller.start();
    cleanup.push(() => poller.stop());
    produce(500);
    const t0 = Date.now();
    while (got < 500 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 5));
    expect(got).toBe(500);
    poller.stop();
    produce(20);
    expect(poller.drainAll()).toBe(20);
    expect(got).toBe(520);
  });

  it('shortens its interval when a ring fills up and keeps counting past a throwing sink', async () => {
    const { reader } = load('evbench_getppid', PAGE_SIZE);
    const errors: unknown[] = [];
    let got = 0;
    const poller = new RingPoller({ intervalMs: 200, minIntervalMs: 1, onError: (e) => errors.push(e) });
    poller.add(reader, () => {
      got++;
      if (got === 5) throw new Error('boom');
    });
    poller.start();
    cleanup.push(() => poller.stop());
    produce(100); // 100 of 128 slots: 78% full
    // The first timer (200 ms) drains them all; the wait is for that, with a deadline.
    for (const end = Date.now() + 5000; got < 100 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 5));
    expect(poller.currentDelayMs).toBeLessThan(200);
    expect(got).toBe(100);
    expect(errors.length).toBe(1);
  });
});

describe('clock conversion', () => {
  it('maps bpf_ktime_get_ns() time to the wall clock within a millisecond', () => {
    // Bracketed by two wall-clock reads (ms resolution), so a preemption between the reads
    // (a loaded machine) widens the bracket instead of failing the test.
    const off = monotonicToEpochNs();
    const wall0 = BigInt(Date.now()) * 1_000_000n;
    const est = monotonicNs() + off;
    const wall1 = BigInt(Date.now() + 1) * 1_000_000n;
    expect(est >= wall0 - 1_000_000n && est <= wall1 + 1_000_000n, `${est} not within [${wall0}, ${wall1}] ± 1 ms`).toBe(true);
  });

  it('stamps kernel records with times that convert to now', () => {
    const { reader } = load('evbench_getppid', PAGE_SIZE);
    const off = monotonicToEpochNs();
    const before = BigInt(Date.now()) * 1_000_000n;
    produce(1);
    let ts = 0n;
    reader.drain((buf, o) => (ts = buf.readBigUInt64LE(o + 8) + off));
    const after = BigInt(Date.now() + 1) * 1_000_000n;
    expect(ts >= before - 1_000_000n && ts <= after).toBe(true);
  });
});
