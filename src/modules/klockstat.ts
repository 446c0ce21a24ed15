// klockstat → bcc.kernel.lock.mutex.{spin,hold}.{avg,count,max,total} (pmdabcc cluster 31): per
// kernel function that takes a mutex, the contended waits (spin) and, where kprobes exist, the
// hold times. Kernel side: bpf/klockstat.bpf.c. A keyed counter over the caller's stack id; the
// instance is the calling function (stack_depth frames joined by "+"), named once per stack.
import { needBtfTracepoints, needKprobes, needTracepoints, type BpfMap } from '../bpf';
import { PM_SEM } from '../pcp/types';
import { cfg } from '../pmda/config-schema';
import { UNITS } from '../pmda/module';
import { Kallsyms } from './profile/kallsyms';
import { filterConfig } from './shared/filter';
import { defineKeyedCounter, derive } from './shared/keyed-counter';
import { variantKey } from './shared/tool';

type Field = 'spin_count' | 'spin_total' | 'spin_max' | 'hold_count' | 'hold_total' | 'hold_max';

/** Frames of the mutex implementation and of the tracing path itself, skipped to find the caller. */
const LOCK_INTERNAL = /^(?:__)?(?:ww_)?mutex_(?:lock|spin|optimistic|trylock)|^__mutex_|^mutex_lock|^__bpf_trace_|^bpf_trace_run|^__traceiter_|^bpf_prog_|^perf_trace_|^trace_contention/;
const MISSED = '<Missed Kernel Stack>';

interface Namer {
  stacks: BpfMap | null;
  syms: Kallsyms | null;
}
const namers = new WeakMap<object, Namer>();
const namerOf = (ctx: object): Namer => {
  let n = namers.get(ctx);
  if (!n) namers.set(ctx, (n = { stacks: null, syms: null }));
  return n;
};

/** The caller of the stack `id` as pmdabcc named it: "func" or "func+func..." (stack_depth frames). */
function callerName(id: bigint, depth: number, withOffset: boolean, n: Namer): string | null {
  if (id < 0n || !n.stacks) return MISSED;
  const key = Buffer.alloc(4);
  key.writeUInt32LE(Number(id));
  const raw = n.stacks.lookup(key);
  if (!raw) return MISSED;
  n.syms ??= Kallsyms.load();
  const frames: string[] = [];
  for (let off = 0; off + 8 <= raw.length; off += 8) {
    const addr = raw.readBigUInt64LE(off);
    if (addr === 0n) break;
    const s = n.syms.lookupOffset(addr);
    frames.push(s ? (withOffset ? `${s.name}+0x${s.offset.toString(16)}` : s.name) : `0x${addr.toString(16)}`);
  }
  // Callers start after the last frame of the lock implementation / tracing path near the top.
  let first = 0;
  for (let i = 0; i < Math.min(frames.length, 12); i++) if (LOCK_INTERNAL.test(frames[i]!)) first = i + 1;
  const callers = frames.slice(first, first + depth);
  return callers.length ? callers.join('+') : MISSED;
}

const holdReason = () => {
  const r = needKprobes('mutex_lock', 'mutex_unlock')();
  return r === true ? null : r;
};

function metric(item: number, kind: 'spin' | 'hold', stat: 'avg' | 'count' | 'max' | 'total') {
  const what =
    kind === 'spin'
      ? 'waits for contended mutexes (lock:contention_begin to contention_end: optimistic spinning plus sleeping); only contended acquisitions are counted, pmdabcc timed every mutex_lock() call'
      : 'mutex hold times (mutex_lock return to mutex_unlock, kprobes); no values on kernels without kprobes (bcc.pmda.module.variant says so)';
  const base = {
    // u64 as pmdabcc (int(total / count)): a fractional value cannot be sent as a u64.
    avg: { sem: PM_SEM.INSTANT, units: UNITS.nsec, oneline: `average mutex ${kind} time`, value: (t: Readonly<Record<Field, bigint>>) => (t[`${kind}_count`] === 0n ? undefined : t[`${kind}_total`] / t[`${kind}_count`]) },
    count: { sem: PM_SEM.COUNTER, units: UNITS.count, oneline: `number of mutex ${kind === 'spin' ? 'contended waits' : 'holds'}`, value: derive.field<Field>(`${kind}_count`) },
    max: { sem: PM_SEM.INSTANT, units: UNITS.nsec, oneline: `maximum mutex ${kind} time`, value: derive.field<Field>(`${kind}_max`) },
    total: { sem: PM_SEM.COUNTER, units: UNITS.nsec, oneline: `total mutex ${kind} time`, value: derive.field<Field>(`${kind}_total`) },
  }[stat];
  const value = kind === 'hold' ? (t: Readonly<Record<Field, bigint>>) => (t.hold_count === 0n ? undefined : base.value(t)) : base.value;
  return {
    name: `bcc.kernel.lock.mutex.${kind}.${stat}`,
    item,
    ...base,
    value,
    help: `${base.oneline}, per calling kernel function, since the agent started: ${what}.${stat === 'avg' ? ' avg = total / count, rounded down.' : ''}\n`,
  };
}

export const klockstat = defineKeyedCounter({
  name: 'klockstat',
  cluster: 31,
  defaultEnabled: false,
  indom: {
    serial: 31,
    oneline: 'kernel functions that take mutexes',
    help: 'The kernel function that called mutex_lock (the first frame outside the mutex code), or with stack_depth > 1 that many frames joined by "+", e.g. "pipe_write+vfs_write"; "<Missed Kernel Stack>" when the stack could not be recorded.\n',
  },
  object: 'klockstat.bpf.o',
  filter: true,
  config: {
    caller_filter: cfg.string('', 'Only callers whose name starts with this text (as pmdabcc, whose substring test kept only names that start with it).'),
    stack_depth: cfg.int(1, { min: 1, max: 12 }, 'Frames of the calling stack in an instance name, joined by "+".'),
    stack_storage_size: cfg.int(16384, { min: 64, max: 1 << 20 }, 'Distinct calling stacks kept (the stack map size); stacks beyond it are counted in bcc.pmda.module.lost and named "<Missed Kernel Stack>".'),
    use_caller_offset: cfg.bool(false, 'Name frames with their offset, "func+0x1a", as kernel stack dumps do.'),
    ...filterConfig(),
    variant: variantKey(['tp_btf', 'tracepoint', 'kprobe']),
  },
  hooks: () => [
    {
      name: 'wait',
      variants: [
        { name: 'tp_btf', programs: ['tpbtf_begin', 'tpbtf_end'], available: needBtfTracepoints('contention_begin', 'contention_end') },
        { name: 'tracepoint', programs: ['tp_begin', 'tp_end'], available: needTracepoints('lock', 'contention_begin', 'contention_end') },
      ],
    },
    {
      name: 'hold',
      variants: [
        { name: 'kprobe', programs: ['kp_lock', 'krp_lock', 'kp_unlock'], available: needKprobes('mutex_lock', 'mutex_unlock') },
        { name: 'none', programs: [], available: () => true },
      ],
    },
  ],
  configure: (obj, c) => obj.setMapMaxEntries('stacks', c.stack_storage_size),
  started: (loaded, ctx) => {
    const n = namerOf(ctx);
    n.stacks = loaded.obj.map('stacks');
    const why = holdReason();
    if (loaded.chosen.hold === 'none') ctx.status.setVariant(`${loaded.chosen.wait} (contended waits only); hold: no values, ${why ?? 'kprobe variant not chosen'}`);
    return () => {
      n.stacks = null;
      n.syms = null;
    };
  },
  keyName: (key, c, ctx) => {
    const name = callerName(key.readBigInt64LE(0), c.stack_depth, c.use_caller_offset, namerOf(ctx));
    if (name !== null && c.caller_filter && !name.startsWith(c.caller_filter)) return null;
    return name;
  },
  value: { struct: 'lock_stats', sum: ['spin_count', 'spin_total', 'hold_count', 'hold_total'], max: ['spin_max', 'hold_max'] },
  metrics: [
    metric(0, 'spin', 'avg'),
    metric(1, 'spin', 'count'),
    metric(2, 'spin', 'max'),
    metric(3, 'spin', 'total'),
    metric(4, 'hold', 'avg'),
    metric(5, 'hold', 'count'),
    metric(6, 'hold', 'max'),
    metric(7, 'hold', 'total'),
  ],
});
