// The kernel half of profile: loads bpf/profile.bpf.c, attaches it to a cpu-clock perf event
// on each chosen CPU, and drains the sampled (process, comm, kernel stack, user stack) counts.
//
// Two generations of maps (see the .bpf.c): a drain first finishes the idle generation (reads
// counts that samples in flight at the last flip wrote after it was read, then frees stack
// ids), flips the samples over to it, and reads the generation it just left. Stack ids are
// therefore freed one full interval after their generation stopped taking samples, when
// nothing can still refer to them.
//
// Without BPF_F_REUSE_STACKID the kernel never rewrites a stored stack, so an id names the
// same frames until it is deleted: the frames of each id are read once and remembered, and
// a steady workload costs no per-stack syscall. Ids are freed when they have not been seen
// for a while, or, once so many are stored that new stacks start to collide, as soon as a
// drain does not see them. Ids in use are never freed just to be stored again: if the
// working set alone crowds the map, the missed-stack counters say so (stack_storage_size).
//
// A process sampled for the first time (or after an exec) is announced on a small ring
// buffer, polled every ~20 ms, so that its maps are read while it still runs.
import * as os from 'node:os';
import type { Logger } from 'pino';
import { loadWithVariants, type BpfLink, type BpfMap, type BpfObject } from '../../bpf';
import { RingBufferReader } from '../../bpf/ringbuf';
import { RingPoller } from '../../bpf/ringbuf-poller';

const EFAULT = os.constants.errno.EFAULT;
/** Smallest counts map (entries per generation). */
const COUNTS_MIN = 8192;
/** Drains of a generation after which an id not seen again is freed. */
const STALE_DRAINS = 30;
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
  /** Stack ids each generation's stack map holds. */
  stackStorageSize: number;
  /** User stacks: 'frame_pointer' (the kernel's walker), 'eh_frame' (unwind tables, only), or
   *  'auto' (unwind tables, the kernel's walker if this kernel refuses the unwinder). */
  unwinder?: 'auto' | 'eh_frame' | 'frame_pointer';
  /** Elements (64 rows, 768 bytes each) of the unwind-row map; ignored without tables. */
  unwindChunks?: number;
  /** Processes whose mappings the unwinder holds. */
  unwindProcs?: number;
  /** Extra configuration before load (the process filter's rodata). */
  configure?: (obj: BpfObject) => void;
  /** A process was sampled for the first time in a while (within ~20 ms of that sample). */
  onNewProcess?: (tgid: number) => void;
  log: Logger;
}

/** Mappings per process in unwind_maps (UNWIND_MAX_MAPS in bpf/include/unwind.bpf.h). */
export const UNWIND_MAX_MAPS = 128;

export interface UnwindMaps {
  rows: BpfMap;
  maps: BpfMap;
  procs: BpfMap;
  stats: BpfMap;
}

export interface RawStack {
  tgid: number;
  comm: string;
  count: number;
  /** Stack-map frames, innermost first; empty when not collected or missing. Shared: do not modify. */
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
  /** Per generation: stack id → its frames, as long as the id is stored in the kernel. */
  private readonly known: [Map<number, KnownStack>, Map<number, KnownStack>] = [new Map(), new Map()];
  /** The same for user stacks: `known` itself when they share the stack maps. */
  private knownUser: [Map<number, KnownStack>, Map<number, KnownStack>] = this.known;
  private userStacks: [BpfMap, BpfMap] | null = null;
  private unwinding = false;
  private drains = 0;
  /** More stored ids than this and new stacks collide too often (1 in 64). */
  private readonly crowded: number;
  private readonly key = Buffer.alloc(4);
  private lostSeen = 0n;
  private counts: [BpfMap, BpfMap] | null = null;
  private stacks: [BpfMap, BpfMap] | null = null;
  private readonly zero = u32Key(0);
  private ring: RingBufferReader | null = null;
  private poller: RingPoller | null = null;

  constructor(private readonly opts: SamplerOptions) {
    if (opts.userStacksOnly && opts.kernelStacksOnly) {
      throw new Error('user_stacks_only and kernel_stacks_only cannot both be set');
    }
    // The kernel hashes stacks into roundup_pow_of_two(max_entries) buckets, one stack each.
    let buckets = 1;
    while (buckets < opts.stackStorageSize) buckets *= 2;
    this.crowded = Math.max(16, buckets >> 6);
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
          variants: this.programs().map((program) => ({
            name: program === 'sample_unwind' ? 'eh_frame' : 'frame_pointer',
            programs: [program],
            available: () => true as const,
            attach: (obj: BpfObject) => {
              const links: BpfLink[] = [];
              try {
                for (const cpu of o.cpus) {
                  links.push(obj.attachPerfEvent(program, o.period !== undefined ? { cpu, period: o.period } : { cpu, freq: o.frequency ?? 47 }));
                }
              } catch (e) {
                for (const l of links) l.destroy();
                throw e;
              }
              return links;
            },
          })),
        },
      ],
      (obj) => {
        obj.setRodata({
          user_stacks_only: o.userStacksOnly,
          kernel_stacks_only: o.kernelStacksOnly,
          include_idle: o.includeIdle,
        });
        for (const m of ['stacks0', 'stacks1']) obj.setMapMaxEntries(m, o.stackStorageSize);
        // One drain interval of distinct (process, stack) keys; a small stack map must not
        // also shrink it, or the samples whose stack was missed would have nowhere to go.
        for (const m of ['counts0', 'counts1']) obj.setMapMaxEntries(m, Math.max(COUNTS_MIN, o.stackStorageSize));
        for (const m of ['ustacks0', 'ustacks1']) obj.setMapMaxEntries(m, o.stackStorageSize);
        // The row map is preallocated: full size only when the unwinder is the one loaded.
        const unwind = obj.autoload('sample_unwind');
        obj.setMapMaxEntries('unwind_rows', unwind ? Math.max(1, o.unwindChunks ?? 1) : 1);
        obj.setMapMaxEntries('unwind_procs', unwind ? Math.max(1, o.unwindProcs ?? 1) : 1);
        obj.setMapMaxEntries('unwind_maps', (unwind ? Math.max(1, o.unwindProcs ?? 1) : 1) * UNWIND_MAX_MAPS);
        o.configure?.(obj);
      },
      o.log,
    );
    this.obj = loaded.obj;
    this.links = loaded.links;
    this.counts = [loaded.obj.map('counts0'), loaded.obj.map('counts1')];
    this.stacks = [loaded.obj.map('stacks0'), loaded.obj.map('stacks1')];
    this.unwinding = loaded.chosen.sample === 'eh_frame';
    this.userStacks = this.unwinding ? [loaded.obj.map('ustacks0'), loaded.obj.map('ustacks1')] : this.stacks;
    this.knownUser = this.unwinding ? [new Map(), new Map()] : this.known;
    this.active = 0;
    this.known[0].clear();
    this.known[1].clear();
    this.knownUser[0].clear();
    this.knownUser[1].clear();
    this.lostSeen = 0n;
    const onNew = o.onNewProcess;
    if (onNew) {
      try {
        this.ring = RingBufferReader.open(loaded.obj.map('new_tgids'));
        // Polled, not waited on: a check of the mapped ring costs no syscall.
        this.poller = new RingPoller({ intervalMs: 20, minIntervalMs: 5, onError: (e) => o.log.warn({ err: e }, 'new-process hook failed') });
        this.poller.add(this.ring, (_buf, offset, _len, u32) => onNew(u32[offset >>> 2]));
        this.poller.start();
      } catch (e) {
        this.stop();
        throw e;
      }
    }
    return this.variant();
  }

  /** The programs to try, in order. */
  private programs(): string[] {
    const u = this.opts.unwinder ?? 'frame_pointer';
    if (u === 'frame_pointer' || this.opts.kernelStacksOnly) return ['sample'];
    return u === 'eh_frame' ? ['sample_unwind'] : ['sample_unwind', 'sample'];
  }

  private variant(): string {
    const rate = this.opts.period !== undefined ? `period ${this.opts.period} ns` : `${this.opts.frequency ?? 47} Hz`;
    const user = this.opts.kernelStacksOnly ? '' : this.unwinding ? ', user stacks eh_frame+frame_pointer' : ', user stacks frame_pointer';
    return `perf_event(cpu-clock, ${rate}, cpus ${this.opts.cpus.join(',')}${user})`;
  }

  /** User stacks are walked with unwind tables (the maps below are live). */
  get unwinds(): boolean {
    return this.unwinding && this.obj !== null;
  }

  /** The unwinder's maps (unwind.bpf.h), while it runs. */
  unwindMaps(): UnwindMaps | null {
    if (!this.obj || !this.unwinding) return null;
    const m = (n: string) => this.obj!.map(n);
    return { rows: m('unwind_rows'), maps: m('unwind_maps'), procs: m('unwind_procs'), stats: m('unwind_stats') };
  }

  stop(): void {
    this.poller?.stop();
    this.poller = null;
    this.ring?.close();
    this.ring = null;
    if (!this.obj) return;
    const obj = this.obj;
    this.obj = null;
    this.counts = this.stacks = this.userStacks = null;
    this.unwinding = false;
    this.links = [];
    obj.close();
  }

  /** Everything sampled since the last drain. */
  drain(): Drained {
    if (!this.obj || !this.counts || !this.stacks) return { stacks: [], lost: 0 };
    const idle = 1 - this.active;
    const out: RawStack[] = [];

    this.drains++;

    // 1. Finish the idle generation: late writers from the last flip, then free stale stacks.
    this.read(idle, out);
    this.freeStacks(idle);

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

  /** Only while generation g takes no samples and its counts have been read. */
  private freeStacks(g: number): void {
    this.freeIds(this.known[g], this.stacks![g]);
    if (this.knownUser !== this.known) this.freeIds(this.knownUser[g], this.userStacks![g]);
  }

  private freeIds(known: Map<number, KnownStack>, stacks: BpfMap): void {
    // A generation's ids are seen on alternate drains: "this drain or the last" is in use.
    const maxAge = known.size > this.crowded ? 1 : STALE_DRAINS;
    for (const [id, k] of known) {
      if (this.drains - k.seen > maxAge) {
        this.key.writeUInt32LE(id, 0);
        stacks.delete(this.key);
        known.delete(id);
      }
    }
  }

  get storedStacks(): number {
    const user = this.knownUser === this.known ? 0 : this.knownUser[0].size + this.knownUser[1].size;
    return this.known[0].size + this.known[1].size + user;
  }

  /** frames of a stack id of `stackMap`, read once and remembered in `known`. */
  private reader(known: Map<number, KnownStack>, stackMap: BpfMap): (id: number) => KnownStack | null {
    return (id) => {
      let k = known.get(id);
      if (!k) {
        this.key.writeUInt32LE(id, 0);
        const v = stackMap.lookup(this.key);
        if (!v) return null;
        k = { raw: trim(v), seen: this.drains };
        known.set(id, k);
      }
      k.seen = this.drains;
      return k;
    };
  }

  private read(g: number, out: RawStack[]): void {
    const batch = this.counts![g].lookupAndDeleteBatch();
    if (batch.count === 0) return;
    const framesOf = this.reader(this.known[g], this.stacks![g]);
    const userFramesOf = this.knownUser === this.known ? framesOf : this.reader(this.knownUser[g], this.userStacks![g]);
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
          if (f) kernel = f.kernel ??= readKernel(f.raw);
          else kernelMissed = true;
        } else if (kid !== -EFAULT) kernelMissed = true;
      }
      if (!o.kernelStacksOnly) {
        if (uid >= 0) {
          const f = userFramesOf(uid);
          if (f) user = f.user ??= readUser(f.raw);
          else userMissed = true;
        } else if (uid !== -EFAULT) userMissed = true;
      }
      out.push({ tgid, comm, count, kernel, user, kernelMissed, userMissed });
    }
  }
}

interface KnownStack {
  /** The stored frames (up to the first zero). */
  raw: Buffer;
  /** Drain count when a sample last named this id. */
  seen: number;
  kernel?: bigint[];
  user?: number[];
}

/** A copy of the frames of a stack-map value, without the zero padding. */
function trim(value: Buffer): Buffer {
  let n = 0;
  while (n + 8 <= value.length && (value.readUInt32LE(n) !== 0 || value.readUInt32LE(n + 4) !== 0)) n += 8;
  return Buffer.from(value.subarray(0, n));
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
