// The kernel half of profile: loads bpf/profile.bpf.c, attaches it to a cpu-clock perf event
// on each chosen CPU, and drains the sampled (process, comm, kernel stack, user stack) counts.
//
// Two generations of maps (see the .bpf.c): a drain first finishes the idle generation (reads
// counts that samples in flight at the last flip wrote after it was read, then deletes every
// stack id that generation's counts named), flips the samples over to it, and reads the
// generation it just left. Stack ids are therefore deleted one full interval after their
// generation stopped taking samples, when nothing can still refer to them.
import * as os from 'node:os';
import type { Logger } from 'pino';
import { loadWithVariants, type BpfLink, type BpfMap, type BpfObject } from '../../bpf';

const EFAULT = os.constants.errno.EFAULT;
const KEY_SIZE = 28;
const COMM_OFF = 12;
const COMM_LEN = 16;

export interface SamplerOptions {
  bpfFile: string;
  cpus: number[];
  /** Samples per second per CPU; ignored when `period` is set. */
  frequency?: number;
  /** Nanoseconds of CPU time between samples. */
  period?: number;
  userStacksOnly: boolean;
  kernelStacksOnly: boolean;
  includeIdle: boolean;
  /** Stack ids each generation's stack map holds; also the counts maps' size. */
  stackStorageSize: number;
  /** Extra configuration before load (the process filter's rodata). */
  configure?: (obj: BpfObject) => void;
  log: Logger;
}

export interface RawStack {
  tgid: number;
  comm: string;
  count: number;
  /** Stack-map frames, innermost first; empty when not collected or missing. */
  kernel: bigint[];
  user: number[];
  /** The stack was wanted but the kernel could not store it (-EEXIST collision, -ENOMEM...). */
  kernelMissed: boolean;
  userMissed: boolean;
}

export interface Drained {
  stacks: RawStack[];
  /** Samples dropped since the last drain because the counts map was full. */
  lost: number;
}

function u32Key(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

export class Sampler {
  private obj: BpfObject | null = null;
  private links: BpfLink[] = [];
  private active = 0;
  private readonly pending: [Set<number>, Set<number>] = [new Set(), new Set()];
  private lostSeen = 0n;
  private counts: [BpfMap, BpfMap] | null = null;
  private stacks: [BpfMap, BpfMap] | null = null;
  private readonly zero = u32Key(0);

  constructor(private readonly opts: SamplerOptions) {
    if (opts.userStacksOnly && opts.kernelStacksOnly) {
      throw new Error('user_stacks_only and kernel_stacks_only cannot both be set');
    }
  }

  get running(): boolean {
    return this.obj !== null;
  }

  get objectHandle(): BpfObject | null {
    return this.obj;
  }

  /** Load and attach; returns the variant description. */
  start(): string {
    if (this.obj) return this.variant();
    const o = this.opts;
    const loaded = loadWithVariants(
      o.bpfFile,
      [
        {
          name: 'sample',
          variants: [
            {
              name: 'perf_event(cpu-clock)',
              programs: ['sample'],
              available: () => true,
              attach: (obj) => {
                const links: BpfLink[] = [];
                try {
                  for (const cpu of o.cpus) {
                    links.push(
                      obj.attachPerfEvent('sample', o.period !== undefined ? { cpu, period: o.period } : { cpu, freq: o.frequency ?? 47 }),
                    );
                  }
                } catch (e) {
                  for (const l of links) l.destroy();
                  throw e;
                }
                return links;
              },
            },
          ],
        },
      ],
      (obj) => {
        obj.setRodata({
          user_stacks_only: o.userStacksOnly,
          kernel_stacks_only: o.kernelStacksOnly,
          include_idle: o.includeIdle,
        });
        for (const m of ['stacks0', 'stacks1', 'counts0', 'counts1']) obj.setMapMaxEntries(m, o.stackStorageSize);
        o.configure?.(obj);
      },
      o.log,
    );
    this.obj = loaded.obj;
    this.links = loaded.links;
    this.counts = [loaded.obj.map('counts0'), loaded.obj.map('counts1')];
    this.stacks = [loaded.obj.map('stacks0'), loaded.obj.map('stacks1')];
    this.active = 0;
    this.pending[0].clear();
    this.pending[1].clear();
    this.lostSeen = 0n;
    return this.variant();
  }

  private variant(): string {
    const rate = this.opts.period !== undefined ? `period ${this.opts.period} ns` : `${this.opts.frequency ?? 47} Hz`;
    return `perf_event(cpu-clock, ${rate}, cpus ${this.opts.cpus.join(',')})`;
  }

  stop(): void {
    if (!this.obj) return;
    const obj = this.obj;
    this.obj = null;
    this.counts = this.stacks = null;
    this.links = [];
    obj.close();
  }

  /** Everything sampled since the last drain. */
  drain(): Drained {
    if (!this.obj || !this.counts || !this.stacks) return { stacks: [], lost: 0 };
    const idle = 1 - this.active;
    const out: RawStack[] = [];

    // 1. Finish the idle generation: late writers from the last flip, then free its stacks.
    this.read(idle, out);
    const stacks = this.stacks[idle];
    for (const id of this.pending[idle]) stacks.delete(u32Key(id));
    this.pending[idle].clear();

    // 2. Flip, then read the generation samples just left.
    const genBuf = u32Key(idle);
    this.obj.map('gen').update(this.zero, genBuf);
    const left = this.active;
    this.active = idle;
    this.read(left, out);

    const lostNow = this.obj.map('lost').lookup(this.zero)?.readBigUInt64LE(0) ?? this.lostSeen;
    const lost = Number(lostNow - this.lostSeen);
    this.lostSeen = lostNow;
    return { stacks: out, lost };
  }

  private read(g: number, out: RawStack[]): void {
    const batch = this.counts![g].lookupAndDeleteBatch();
    if (batch.count === 0) return;
    const stackMap = this.stacks![g];
    const pending = this.pending[g];
    const frames = new Map<number, Buffer | null>();
    const framesOf = (id: number): Buffer | null => {
      let f = frames.get(id);
      if (f === undefined) {
        f = stackMap.lookup(u32Key(id));
        frames.set(id, f);
        pending.add(id);
      }
      return f;
    };
    const { keys, values } = batch;
    const vsize = values.length / batch.count;
    const o = this.opts;
    for (let i = 0; i < batch.count; i++) {
      const k = i * KEY_SIZE;
      const tgid = keys.readUInt32LE(k);
      const kid = keys.readInt32LE(k + 4);
      const uid = keys.readInt32LE(k + 8);
      const commEnd = keys.indexOf(0, k + COMM_OFF);
      const comm = keys.toString('utf8', k + COMM_OFF, commEnd < 0 || commEnd > k + COMM_OFF + COMM_LEN ? k + COMM_OFF + COMM_LEN : commEnd);
      const count = Number(values.readBigUInt64LE(i * vsize));
      let kernel: bigint[] = [];
      let user: number[] = [];
      let kernelMissed = false;
      let userMissed = false;
      // -EFAULT means there was no such stack (a kernel stack of code running in user mode,
      // a user stack of a kernel thread): expected, not missing.
      if (!o.userStacksOnly) {
        if (kid >= 0) {
          const f = framesOf(kid);
          if (f) kernel = readKernel(f);
          else kernelMissed = true;
        } else if (kid !== -EFAULT) kernelMissed = true;
      }
      if (!o.kernelStacksOnly) {
        if (uid >= 0) {
          const f = framesOf(uid);
          if (f) user = readUser(f);
          else userMissed = true;
        } else if (uid !== -EFAULT) userMissed = true;
      }
      out.push({ tgid, comm, count, kernel, user, kernelMissed, userMissed });
    }
  }
}

function readKernel(value: Buffer): bigint[] {
  const out: bigint[] = [];
  for (let o = 0; o + 8 <= value.length; o += 8) {
    const v = value.readBigUInt64LE(o);
    if (v === 0n) break;
    out.push(v);
  }
  return out;
}

function readUser(value: Buffer): number[] {
  const out: number[] = [];
  for (let o = 0; o + 8 <= value.length; o += 8) {
    const lo = value.readUInt32LE(o);
    const hi = value.readUInt32LE(o + 4);
    if (lo === 0 && hi === 0) break;
    out.push(hi * 0x100000000 + lo);
  }
  return out;
}
