// Cost of the per-process network and page cache modules on the work they watch.
//
// 1. netproc per call: bench/c/sockloop.c sends 64-byte messages over TCP loopback (TCP_NODELAY)
//    to a forked receiver, one send and one recv per message; ns per message (send + recv) with
//    netproc off and on, and the difference per socket call.
// 2. netproc on a loopback transfer: the same program moving 128 KiB writes (iperf-style);
//    throughput on/off.
// 3. cachestat on a page-cache-bound read loop: bench/c/preadloop.c, 4 KiB preads of a cached
//    64 MiB file; ns per read off and on.
// Rounds alternate off/on (ROUNDS each) and the medians are compared, in one run.
//
// Run: npm run build:ts && make -C bpf && node dist/bench/pernet.bench.js   (root, cc)
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { cachestat } from '../src/modules/cachestat';
import { netproc } from '../src/modules/netproc';
import { ModuleState, makeModuleContext } from '../src/pmda/module-context';
import type { ModuleSpec } from '../src/pmda/module';

const REPO = path.resolve(__dirname, '../..');
const BPF_DIR = process.env.BPF_DIR ?? path.join(REPO, 'bpf/.output');
const ROUNDS = Number(process.env.PERNET_ROUNDS ?? 5);
const MSGS = Number(process.env.PERNET_MSGS ?? 20000);
const BULK = Number(process.env.PERNET_BULK ?? 4000);
const READS = Number(process.env.PERNET_READS ?? 200000);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pernet-bench-'));
function build(name: string): string {
  const out = path.join(work, name);
  execFileSync('cc', ['-O2', '-o', out, path.join(REPO, 'bench/c', `${name}.c`)], { stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

function ns(cmd: string, args: string[]): number {
  const out = execFileSync(cmd, args, { encoding: 'utf8' });
  return Number(/^ns (\d+)/m.exec(out)![1]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function compare(spec: ModuleSpec, raw: Record<string, string>, run: () => number): Promise<{ off: number; on: number }> {
  const off: number[] = [];
  const on: number[] = [];
  const log = pino({ level: 'warn' }, pino.destination(2));
  for (let r = 0; r < ROUNDS; r++) {
    off.push(run());
    const m = spec.create(makeModuleContext(spec, { domain: 149, log, paths: { bpfDir: BPF_DIR, stateDir: work }, raw, persist: false }, new ModuleState()));
    await m.start();
    try {
      on.push(run());
      m.refresh?.(new Set());
    } finally {
      await m.stop();
    }
  }
  return { off: median(off), on: median(on) };
}

async function main(): Promise<void> {
  const sock = build('sockloop');
  const pread = build('preadloop');

  const small = await compare(netproc, {}, () => ns(sock, ['64', String(MSGS)]) / MSGS);
  console.log(`netproc, 64-byte TCP messages (1 send + 1 recv each), ns/message: off ${small.off.toFixed(0)}, on ${small.on.toFixed(0)}, ratio ${(small.on / small.off).toFixed(3)}, ~${((small.on - small.off) / 2).toFixed(0)} ns per socket call`);

  const bulk = await compare(netproc, {}, () => ns(sock, ['131072', String(BULK)]));
  const mbps = (t: number) => (131072 * BULK) / (1 << 20) / (t / 1e9);
  console.log(`netproc, loopback transfer in 128 KiB writes, MiB/s: off ${mbps(bulk.off).toFixed(0)}, on ${mbps(bulk.on).toFixed(0)}, ratio ${(mbps(bulk.on) / mbps(bulk.off)).toFixed(3)}`);

  const file = path.join('/var/tmp', `pernet-bench-${process.pid}`);
  fs.writeFileSync(file, Buffer.alloc(64 << 20, 1));
  try {
    ns(pread, [file, String(READS)]); // warm the cache
    const reads = await compare(cachestat, {}, () => ns(pread, [file, String(READS)]) / READS);
    console.log(`cachestat, 4 KiB preads of a cached file, ns/read: off ${reads.off.toFixed(0)}, on ${reads.on.toFixed(0)}, ratio ${(reads.on / reads.off).toFixed(3)}`);
  } finally {
    fs.rmSync(file, { force: true });
  }
  fs.rmSync(work, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
