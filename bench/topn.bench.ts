// Cost of one top-N interval refresh with 10 000 distinct keys in the kernel map: the map is
// filled from user space (bpf_map_update_elem, not timed), then one refresh is timed exactly as
// the modules run it: flip the generation + lookup_and_delete batch, rank, fill the slots.
// biotop's and tcptop's real objects and key layouts; no program is attached, so nothing else
// writes to the maps. Run: npm run build:ts && make -C bpf && node dist/bench/topn.bench.js
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { BpfObject, type BpfMap } from '../src/bpf';
import { DiskNames, rankIo, sortKey } from '../src/modules/biotop';
import { CountBuffers, TopNTable } from '../src/modules/shared/topn';
import { rankConnections } from '../src/modules/tcptop';
import { InstanceDomain } from '../src/pmda/indom';

const BPF_DIR = process.env.BPF_DIR ?? path.resolve(__dirname, '../../bpf/.output');
const KEYS = 10_000;
const REPS = 101;
const log = pino({ level: 'silent' });

function openMapsOnly(name: string): BpfObject {
  const obj = BpfObject.open(path.join(BPF_DIR, `${name}.bpf.o`));
  // Maps only: the programs stay unloaded, so no kernel event can touch the counts.
  for (const p of obj.programNames()) obj.setAutoload(p, false);
  obj.load();
  return obj;
}

/** Fill the map the next drain will read with KEYS distinct keys. */
function fill(map: BpfMap, makeKey: (i: number, k: Buffer) => void, makeValue: (i: number, v: Buffer) => void): void {
  const k = Buffer.alloc(map.keySize);
  const v = Buffer.alloc(map.valueSize);
  for (let i = 0; i < KEYS; i++) {
    k.fill(0);
    v.fill(0);
    makeKey(i, k);
    makeValue(i, v);
    map.update(k, v);
  }
}

function stats(ns: number[]) {
  const s = [...ns].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1)))]! / 1e6;
  return { median: q(0.5), p10: q(0.1), p90: q(0.9) };
}

function bench(
  name: string,
  fillOne: (map: BpfMap) => void,
  rank: (keys: Buffer, values: Buffer, count: number, limit: number) => unknown[],
): void {
  const obj = openMapsOnly(name);
  try {
    const buffers = new CountBuffers(obj);
    const maps = [obj.map('topn_counts0'), obj.map('topn_counts1')];
    let gen = 0; // CountBuffers starts at the kernel's generation, 0 after load
    const readNs: number[] = [];
    const rankNs: number[] = [];
    const totalNs: number[] = [];
    let lastCount = 0;
    let rows = 0;
    const table = new TopNTable<unknown>({
      interval: 0,
      limit: 20,
      indom: new InstanceDomain(1, null),
      log,
      collect: (limit) => {
        const t0 = process.hrtime.bigint();
        const batch = buffers.drain();
        const t1 = process.hrtime.bigint();
        const out = rank(batch.keys, batch.values, batch.count, limit);
        readNs.push(Number(t1 - t0));
        rankNs.push(Number(process.hrtime.bigint() - t1));
        lastCount = batch.count;
        return out;
      },
    });
    table.start();
    for (let r = 0; r < REPS; r++) {
      fillOne(maps[gen & 1]!);
      const t0 = process.hrtime.bigint();
      table.refresh();
      totalNs.push(Number(process.hrtime.bigint() - t0));
      gen++;
      rows = table.rows.length;
      if (lastCount !== KEYS) throw new Error(`drained ${lastCount} entries, filled ${KEYS}`);
    }
    table.stop();
    // the first repetitions warm the JIT; keep the later ones
    const keep = (a: number[]) => a.slice(5);
    const t = stats(keep(totalNs));
    const rd = stats(keep(readNs));
    const rk = stats(keep(rankNs));
    const f = (x: number) => x.toFixed(2).padStart(7);
    process.stdout.write(
      `${name}: one refresh of ${KEYS} keys → ${rows} rows (median of ${REPS - 5}, ms; p10 / p90)\n` +
        `  total        ${f(t.median)}   (${f(t.p10)} / ${f(t.p90)})   = ${((t.median * 1e6) / KEYS).toFixed(0)} ns per key\n` +
        `  batch drain  ${f(rd.median)}   (${f(rd.p10)} / ${f(rd.p90)})   flip generation + lookup_and_delete batch\n` +
        `  rank + rows  ${f(rk.median)}   (${f(rk.p10)} / ${f(rk.p90)})   bounded-heap top 20 + decode\n`,
    );
  } finally {
    obj.close();
  }
}

process.stdout.write(`load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} CPUs (p10 is the quiet-machine figure)\n`);
const disks = new DiskNames();
bench(
  'biotop',
  (map) =>
    fill(
      map,
      (i, k) => {
        k.writeUInt32LE(1000 + (i >> 1), 0); // pid
        k.writeUInt32LE(254, 4);
        k.writeUInt32LE(i & 1, 12); // R and W rows per pid
        k.write(`proc${i >> 1}`, 16);
      },
      (i, v) => {
        v.writeBigUInt64LE(BigInt(((i * 7919) % 10007) * 4096), 0); // bytes, well mixed
        v.writeBigUInt64LE(BigInt(100_000 + i), 8);
        v.writeBigUInt64LE(BigInt(1 + (i % 300)), 16);
      },
    ),
  (keys, values, count, limit) => rankIo(keys, values, count, limit, { sort: sortKey.default, includeResidual: false, disks }),
);

bench(
  'tcptop',
  (map) =>
    fill(
      map,
      (i, k) => {
        k.writeUInt32LE(2000 + (i % 500), 0);
        k.writeUInt16LE(i % 2 ? 10 : 2, 4);
        k.writeUInt16LE(1024 + i, 6);
        k.writeUInt16LE(443, 8);
        k.writeUInt32BE(0x7f000001, 12);
        k.writeUInt32BE(0x0a000000 + i, 28);
      },
      (i, v) => {
        v.writeBigUInt64LE(BigInt((i * 7919) % 100_003), 0);
        v.writeBigUInt64LE(BigInt((i * 104_729) % 99_991), 8);
        v.write('client', 16);
      },
    ),
  rankConnections,
);
