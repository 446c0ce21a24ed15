// Cost of the codec on the fetch path: encoding the reply to a fetch of one 64-instance U64
// histogram metric (what every pmFetch of a bcc histogram costs us), and decoding the FETCH
// request. Median of several timed rounds after a warm-up.
// Run: npm run build:ts && node dist/bench/codec.bench.js
import * as os from 'node:os';
import { decodePdu, encodeFetch, encodeResult, PduFramer, encodeProfile } from '../src/pcp';
import { PM_TYPE, pmid, type ResultSet } from '../src/pcp/types';

const ROUNDS = 9;
const ROUND_MS = 200;

/**
 * Rates per second of this process's CPU time (process.cpuUsage), not wall time: the machine is
 * shared, and time spent descheduled says nothing about the codec.
 */
function measure(name: string, fn: () => unknown, note: string): string {
  // Warm-up lets V8 optimise before timing.
  const warmEnd = process.hrtime.bigint() + 100_000_000n;
  let sink: unknown;
  while (process.hrtime.bigint() < warmEnd) for (let i = 0; i < 1000; i++) sink = fn();
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    const cpu0 = process.cpuUsage();
    let used = 0;
    while (used < ROUND_MS * 1000) {
      for (let i = 0; i < 1000; i++) sink = fn();
      n += 1000;
      const c = process.cpuUsage(cpu0);
      used = c.user + c.system;
    }
    rates.push(n / (used / 1e6));
  }
  if (sink === undefined) throw new Error('benchmark body returned nothing');
  rates.sort((a, b) => a - b);
  const med = rates[Math.floor(rates.length / 2)];
  const best = rates[rates.length - 1];
  const fmt = (x: number) => Math.round(x).toLocaleString('en-US').padStart(11);
  return `  ${name.padEnd(40)} ${fmt(med)} ops/s ${(1e9 / med).toFixed(0).padStart(6)} ns/op  (best ${fmt(best).trim()} ops/s)  ${note}`;
}

const metric = pmid(149, 1, 0);
// Histogram-like counts: growing with the bucket, some past 2^53.
const bigValues = [...Array(64).keys()].map((i) => ({ inst: i, value: (1n << BigInt(i)) + BigInt(i) }));
const numValues = [...Array(64).keys()].map((i) => ({ inst: i, value: i * 1_000_003 }));
const u64Big: ResultSet[] = [{ pmid: metric, type: PM_TYPE.U64, values: bigValues }];
const u64Num: ResultSet[] = [{ pmid: metric, type: PM_TYPE.U64, values: numValues }];
const fetch1 = encodeFetch({ from: 5, pmids: [metric] });
const fetch9 = encodeFetch({ from: 5, pmids: [...Array(9).keys()].map((i) => pmid(149, 1, i)) });
const chunk = Buffer.concat([encodeProfile({ from: 5 }), fetch1]);
const framer = new PduFramer();

const lines = [
  `codec micro-benchmark: node ${process.version}, median of ${ROUNDS} rounds of ${ROUND_MS} ms CPU time, load average ${os.loadavg()[0].toFixed(1)}`,
  measure('encodeResult 64-instance U64 (bigint)', () => encodeResult(u64Big), `(${encodeResult(u64Big).length}-byte PDU)`),
  measure('encodeResult 64-instance U64 (number)', () => encodeResult(u64Num), `(${encodeResult(u64Num).length}-byte PDU)`),
  measure('decodePdu FETCH, 1 PMID', () => decodePdu(fetch1), `(${fetch1.length}-byte PDU)`),
  measure('decodePdu FETCH, 9 PMIDs', () => decodePdu(fetch9), `(${fetch9.length}-byte PDU)`),
  measure('frame + decode PROFILE+FETCH read', () => framer.push(chunk).map(decodePdu), `(${chunk.length}-byte read)`),
];
process.stdout.write(`${lines.join('\n')}\n`);
