// Event delivery from BPF ring buffers.
//
// 1. Throughput: bpf/evbench.bpf.c emits one 24-byte record per getppid() of one process; a C
//    program (bench/c/getppid_loop.c) calls getppid() in a tight loop for EV_BENCH_MS. The same
//    stream is consumed, one run each, by
//      - libbpf's ring_buffer__poll() in C (bench/c/ringbuf_consumer.c), the reference;
//      - the agent's path: the ring mapped into Node and walked in JS (src/bpf/ringbuf.ts),
//        drained from a timer (src/bpf/ringbuf-poller.ts), as every event module runs it;
//      - libbpf's ring_buffer__consume() calling JS through a koffi callback per record
//        (src/bpf/ringbuf-callback.ts), the design the agent did not take.
//    Reported: records consumed per second of producer run time, kernel drops (ring full), and
//    consumer CPU time per record. While the consumers keep up, the producer sets the rate, so
//    the consumers are also timed alone: the producer fills the ring with FILL records and
//    stops, then the consumer empties it (records/s of the drain = the consumer's own ceiling);
//    one warm-up round (JIT, first touch of the mapping), then the median of DRAIN_ROUNDS.
// 2. Exec storm: the execsnoop module, with a client fetching every second (ring metrics and the
//    event-record metric), while bench/c/execstorm.c runs vfork+exec of /bin/true as fast as it
//    can (EV_BENCH_EXECS, at most EV_BENCH_EXEC_MS). Reported: execs, execs the records metric
//    delivered, and lost (target 0).
//
// Run: npm run build:ts && make -C bpf && node dist/bench/events.bench.js
// (needs root, cc and libbpf-dev to build the C helpers).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { BpfObject } from '../src/bpf';
import { CallbackRingReader } from '../src/bpf/ringbuf-callback';
import { DropCounter, RingBufferReader } from '../src/bpf/ringbuf';
import { RingPoller } from '../src/bpf/ringbuf-poller';
import { execsnoop } from '../src/modules/execsnoop';
import { ModuleState, makeModuleContext } from '../src/pmda/module-context';
import { PM_TYPE, type EventArray } from '../src/pcp/types';

const REPO = path.resolve(__dirname, '../..');
const BPF_DIR = process.env.BPF_DIR ?? path.join(REPO, 'bpf/.output');
const C_DIR = path.join(REPO, 'bench/c');
const RUN_MS = Number(process.env.EV_BENCH_MS ?? 3000);
const EXECS = Number(process.env.EV_BENCH_EXECS ?? 20000);
const EXEC_MS = Number(process.env.EV_BENCH_EXEC_MS ?? 60000);
const RING = 16 << 20;
/** Records put in the ring before a drain is timed (a 16 MiB ring holds 524 287 of 32 bytes). */
const FILL = 400_000;
const DRAIN_ROUNDS = 5;
const OBJ = path.join(BPF_DIR, 'fixtures', 'evbench.bpf.o');

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'evbench-'));
function build(name: string): string {
  const out = path.join(work, name);
  execFileSync('cc', ['-O2', '-o', out, path.join(C_DIR, `${name}.c`), '-lbpf'], { stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

/** Lines a child prints, one at a time. */
function lines(c: ChildProcess): () => Promise<string> {
  const queue: string[] = [];
  const waiting: ((s: string) => void)[] = [];
  let buf = '';
  c.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiting.shift();
      if (w) w(l);
      else queue.push(l);
    }
  });
  return () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiting.push(r)));
}

interface Producer {
  pid: number;
  /** Run one loop (at most `calls` calls); resolves to the number of getppid() calls made. */
  go(calls?: number): Promise<number>;
  /** End the producer (it exits at end of input). */
  close(): void;
}

async function producer(bin: string, maxCalls?: number): Promise<Producer> {
  const c = spawn(bin, maxCalls ? ['60000', String(maxCalls)] : [String(RUN_MS)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const next = lines(c);
  const pid = Number(await next());
  return {
    pid,
    async go(calls?: number) {
      c.stdin!.write(`${calls ?? ''}\n`);
      return Number(await next());
    },
    close() {
      c.stdin!.end();
    },
  };
}

interface Result {
  name: string;
  calls: number;
  records: number;
  drops: bigint;
  cpuS: number;
  checksumOk: boolean;
}

async function runC(prodBin: string, consBin: string): Promise<Result> {
  const p = await producer(prodBin);
  const c = spawn(consBin, [OBJ, String(p.pid), String(RING)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const next = lines(c);
  const ready = await next();
  if (ready !== 'ready') throw new Error(`C consumer: ${ready}`);
  const calls = await p.go();
  p.close();
  c.stdin!.write('done\n');
  const [records, drops, cpu] = (await next()).split(' ');
  return { name: 'C libbpf ring_buffer__poll', calls, records: Number(records), drops: BigInt(drops), cpuS: Number(cpu), checksumOk: true };
}

interface Drain {
  name: string;
  /** Per measured round: records produced (filled), drained, and drain time. */
  rounds: { filled: number; records: number; ns: number }[];
  checksumOk: boolean;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function drainC(prodBin: string, consBin: string): Promise<Drain> {
  const p = await producer(prodBin, FILL);
  const c = spawn(consBin, [OBJ, String(p.pid), String(RING), 'drain'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const next = lines(c);
  if ((await next()) !== 'ready') throw new Error('C consumer did not start');
  const rounds: Drain['rounds'] = [];
  for (let r = 0; r <= DRAIN_ROUNDS; r++) {
    const filled = await p.go();
    c.stdin!.write('d\n');
    const [records, ns] = (await next()).split(' ').map(Number);
    if (r > 0) rounds.push({ filled, records, ns });
  }
  p.close();
  c.stdin!.end('q\n');
  await next();
  return { name: 'C libbpf ring_buffer__consume', rounds, checksumOk: true };
}

async function drainJs(prodBin: string, kind: 'agent' | 'callback'): Promise<Drain> {
  const p = await producer(prodBin, FILL);
  const obj = openEvbench(p.pid);
  const { s, sink } = makeSink(p.pid);
  const reader = kind === 'agent' ? RingBufferReader.open(obj.map('events')) : null;
  const rb = kind === 'callback' ? new CallbackRingReader(obj.map('events')) : null;
  const drainAll = () => {
    if (reader) while (reader.drain(sink).records > 0);
    else while (rb!.consume(sink) > 0);
  };
  const rounds: Drain['rounds'] = [];
  for (let r = 0; r <= DRAIN_ROUNDS; r++) {
    const filled = await p.go();
    s.records = 0;
    const t0 = process.hrtime.bigint();
    drainAll();
    const ns = Number(process.hrtime.bigint() - t0);
    if (r > 0) rounds.push({ filled, records: s.records, ns });
  }
  p.close();
  reader?.close();
  rb?.close();
  obj.close();
  const name = kind === 'agent' ? 'agent: mmap walk in JS' : 'koffi callback per record';
  return { name, rounds, checksumOk: s.bad === 0 };
}

function openEvbench(pid: number): BpfObject {
  const obj = BpfObject.open(OBJ);
  obj.setAutoload('evbench_varlen', false);
  obj.setRodata({ target_tgid: pid });
  obj.setMapMaxEntries('events', RING);
  obj.load();
  obj.attach('evbench_getppid');
  return obj;
}

/** The sink every consumer runs: read the fields a module would decode. */
function makeSink(pid: number) {
  const s = { records: 0, bad: 0 };
  // seq (u64, checked non-zero through its two halves) and pid, as the C callback reads them;
  // through the u32 view where the consumer offers one (the agent's reader), else the Buffer.
  const sink = (buf: Buffer, off: number, len: number, u32?: Uint32Array) => {
    s.records++;
    if (u32) {
      const w = off >>> 2;
      if (len !== 24 || u32[w + 4] !== pid || (u32[w] | u32[w + 1]) === 0) s.bad++;
    } else if (len !== 24 || buf.readUInt32LE(off + 16) !== pid || (buf.readUInt32LE(off) | buf.readUInt32LE(off + 4)) === 0) s.bad++;
  };
  return { s, sink };
}

async function runAgentPath(prodBin: string): Promise<Result> {
  const p = await producer(prodBin);
  const obj = openEvbench(p.pid);
  const reader = RingBufferReader.open(obj.map('events'));
  const drops = new DropCounter(obj.map('drops'));
  const { s, sink } = makeSink(p.pid);
  const poller = new RingPoller({ intervalMs: 100 });
  poller.add(reader, sink);
  const cpu0 = process.cpuUsage();
  poller.start();
  const calls = await p.go();
  p.close();
  poller.stop();
  poller.drainAll();
  const cpu = process.cpuUsage(cpu0);
  const d = drops.total();
  reader.close();
  obj.close();
  return { name: 'agent: mmap walk in JS, timer drain', calls, records: s.records, drops: d, cpuS: (cpu.user + cpu.system) / 1e6, checksumOk: s.bad === 0 };
}

async function runCallbackPath(prodBin: string): Promise<Result> {
  const p = await producer(prodBin);
  const obj = openEvbench(p.pid);
  const rb = new CallbackRingReader(obj.map('events'));
  const drops = new DropCounter(obj.map('drops'));
  const { s, sink } = makeSink(p.pid);
  const cpu0 = process.cpuUsage();
  // Same cadence as the agent's poller under load (its interval halves down to 1 ms).
  const timer = setInterval(() => rb.consume(sink), 1);
  const calls = await p.go();
  p.close();
  clearInterval(timer);
  while (rb.consume(sink) > 0);
  const cpu = process.cpuUsage(cpu0);
  const d = drops.total();
  rb.close();
  obj.close();
  return { name: 'koffi callback per record (ring_buffer__consume)', calls, records: s.records, drops: d, cpuS: (cpu.user + cpu.system) / 1e6, checksumOk: s.bad === 0 };
}

async function execStorm(stormBin: string) {
  const stateDir = fs.mkdtempSync(path.join(work, 'state-'));
  const state = new ModuleState();
  const ctx = makeModuleContext(execsnoop, { domain: 149, log: pino({ level: 'silent' }), paths: { bpfDir: BPF_DIR, stateDir }, raw: {}, persist: false }, state);
  const m = execsnoop.create(ctx);
  await m.start();
  const client = { slot: 1, ctxid: 0 };
  let seen = 0;
  let fetches = 0;
  let stormPid = 0;
  const pending: EventArray[] = [];
  const fetchAll = () => {
    m.refresh!(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8]));
    for (const item of [0, 1, 2, 3, 4, 5, 6, 7]) m.fetch(item, client);
    const r = m.fetch(8, client);
    if (typeof r !== 'number') pending.push(r[0].value as EventArray);
    fetches++;
  };
  const count = (ppid: number) => {
    for (const ea of pending.splice(0)) {
      for (const rec of ea.records) {
        const pp = rec.params.find((x) => x.type === PM_TYPE.U32 && (x.pmid & 0x3ff) === 2);
        const comm = rec.params.find((x) => (x.pmid & 0x3ff) === 0);
        if (pp?.value === ppid && comm?.value === 'true') seen++;
      }
    }
  };
  fetchAll(); // registers the client
  const timer = setInterval(fetchAll, 1000);
  const c = spawn(stormBin, [String(EXECS), String(EXEC_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  stormPid = c.pid!;
  const [n, secs] = (await lines(c)()).split(' ').map(Number);
  await new Promise((r) => setTimeout(r, 300));
  clearInterval(timer);
  fetchAll();
  count(stormPid);
  const lost = m.fetch(7, client);
  await m.stop();
  return { execs: n, secs, seen, fetches, lost: typeof lost === 'number' ? -1n : (lost[0].value as bigint) };
}

async function main(): Promise<void> {
  if (!fs.existsSync(OBJ)) throw new Error(`${OBJ} missing: run make -C bpf`);
  const prod = build('getppid_loop');
  const cons = build('ringbuf_consumer');
  const storm = build('execstorm');
  const results: Result[] = [];
  results.push(await runC(prod, cons));
  results.push(await runAgentPath(prod));
  results.push(await runCallbackPath(prod));

  const rate = (r: Result) => r.records / (RUN_MS / 1000);
  const out: string[] = [];
  out.push(`ring-buffer delivery: evbench, one 24-byte record per getppid() of one process, ${RUN_MS} ms, ${RING >> 20} MiB ring, ${os.cpus().length} CPUs`);
  out.push(`  ${'consumer'.padEnd(50)} ${'records/s'.padStart(11)} ${'produced'.padStart(10)} ${'consumed'.padStart(10)} ${'kernel drops'.padStart(13)} ${'CPU ns/record'.padStart(14)}`);
  for (const r of results) {
    const ns = r.records ? ((r.cpuS * 1e9) / r.records).toFixed(0) : '-';
    out.push(
      `  ${r.name.padEnd(50)} ${rate(r).toFixed(0).padStart(11)} ${String(r.calls).padStart(10)} ${String(r.records).padStart(10)} ${String(r.drops).padStart(13)} ${ns.padStart(14)}${r.checksumOk ? '' : '  (bad records!)'}`,
    );
  }
  const ratio = rate(results[1]) / rate(results[0]);
  out.push(`  agent / C libbpf: ${ratio.toFixed(2)} (target >= 0.5)`);
  out.push(`  koffi callback / C libbpf: ${(rate(results[2]) / rate(results[0])).toFixed(2)}`);

  const drains = [await drainC(prod, cons), await drainJs(prod, 'agent'), await drainJs(prod, 'callback')];
  // Median drain rate over the measured rounds.
  const drate = (d: Drain) => median(d.rounds.map((r) => r.records / (r.ns / 1e9)));
  out.push(`consumer ceiling: time to empty a ring holding ${FILL} records, no producer running (median of ${DRAIN_ROUNDS} rounds after a warm-up)`);
  out.push(`  ${'consumer'.padEnd(50)} ${'records/s'.padStart(11)} ${'ns/record'.padStart(10)} ${'rounds (ns/record)'.padStart(30)}`);
  for (const d of drains) {
    const per = d.rounds.map((r) => (r.ns / r.records).toFixed(0)).join(' ');
    const complete = d.rounds.every((r) => r.records === r.filled);
    out.push(
      `  ${d.name.padEnd(50)} ${drate(d).toFixed(0).padStart(11)} ${(1e9 / drate(d)).toFixed(1).padStart(10)} ${per.padStart(30)}${complete && d.checksumOk ? '' : '  (records missing or bad!)'}`,
    );
  }
  out.push(`  agent / C libbpf: ${(drate(drains[1]) / drate(drains[0])).toFixed(2)} (target >= 0.5); koffi callback / C libbpf: ${(drate(drains[2]) / drate(drains[0])).toFixed(2)}`);

  const s = await execStorm(storm);
  out.push(
    `exec storm: vfork+exec /bin/true, ${s.execs} execs in ${s.secs.toFixed(1)} s (${(s.execs / s.secs).toFixed(0)}/s), execsnoop with a client fetching every second (${s.fetches} fetches)`,
  );
  out.push(`  execs delivered by bcc.proc.exec.records: ${s.seen} of ${s.execs}; bcc.proc.exec.lost: ${s.lost} (target 0)`);
  process.stdout.write(out.join('\n') + '\n');
  fs.rmSync(work, { recursive: true, force: true });
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  fs.rmSync(work, { recursive: true, force: true });
  process.exit(1);
});
