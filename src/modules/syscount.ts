// syscount → bcc.proc.syscall.* (pmdabcc cluster 15): syscalls per syscall name, their
// cumulative and average latency, and with `details` the same per process as `<pid>::<name>`.
// Names come from the running kernel (src/bpf/syscall-names.ts), UNDEF<n> where it has none,
// up to and including the highest number (pmdabcc's range() stopped one short of it).
import * as fs from 'node:fs';
import * as os from 'node:os';
import { needBtfTracepoints, needTracepoints, syscallTable, type SyscallTable } from '../bpf';
import { PM_SEM } from '../pcp/types';
import { ConfigError, cfg, type ConfigKey } from '../pmda/config-schema';
import { UNITS } from '../pmda/module';
import { filterConfig } from './shared/filter';
import { defineKeyedCounter } from './shared/keyed-counter';
import { variantKey } from './shared/tool';

const VARIANTS = ['tp_btf', 'raw_tp', 'tracepoint'] as const;
/** pmdabcc's limit on processes traced with details. */
const DETAIL_PIDS = 128;
const SYSCALL_SLOTS = 1024;

/** pmdabcc's errno option: a name (EPERM) or a number (1 or -1); empty: off. */
export function errnoKey(doc: string): ConfigKey<number> {
  return {
    default: 0,
    doc,
    parse(raw) {
      const v = raw.trim();
      if (v === '') return 0;
      if (/^-?\d+$/.test(v)) {
        const n = Math.abs(Number(v));
        if (n > 4095) throw new Error(`${v} is not an errno (1..4095)`);
        return n;
      }
      const n = (os.constants.errno as Record<string, number>)[v.toUpperCase()];
      if (n === undefined) throw new Error(`unknown errno name "${v}" (e.g. EPERM, ENOENT, or a number)`);
      return n;
    },
  };
}

type Fields = 'calls' | 'lat_ns' | 'timed';

let table: SyscallTable | null = null;

function alive(pid: number): boolean {
  return fs.existsSync(`/proc/${pid}`);
}

export const syscount = defineKeyedCounter({
  name: 'syscount',
  cluster: 15,
  // pmdabcc shipped it off.
  defaultEnabled: false,
  indom: {
    serial: 15,
    oneline: 'system calls by name',
    help:
      'One instance per system call made since the agent started, named as the running kernel names it (read, openat, ...), ' +
      'UNDEF<n> for a number it has no name for; with the details option also <pid>::<name> for each filtered process.\n',
  },
  object: 'syscount.bpf.o',
  filter: true,
  config: {
    ...filterConfig(),
    errno: errnoKey('Count only syscalls failing with this errno: a name (EPERM) or a number, as in pmdabcc. Empty: every syscall.'),
    failed: cfg.bool(false, 'Count only failed syscalls (returning a negative errno).'),
    details: cfg.bool(false, `Also count per process, as <pid>::<syscall> instances (needs the process option; at most ${DETAIL_PIDS} processes, as pmdabcc).`),
    latency: cfg.bool(false, 'Measure latency (latency.avg and latency.cml); off, only the exit of each syscall is hooked, which is cheaper.'),
    variant: variantKey(VARIANTS),
  },
  hooks: (c) => {
    if (c.details && !c.process) throw new ConfigError('syscount', 'details', 'needs the process option: details are per filtered process, as in pmdabcc');
    const exit = {
      name: 'sys_exit',
      variants: [
        { name: 'tp_btf', programs: ['tpbtf_sys_exit'], available: needBtfTracepoints('sys_exit') },
        { name: 'raw_tp', programs: ['rawtp_sys_exit'], available: needBtfTracepoints('sys_exit') },
        { name: 'tracepoint', programs: ['tp_sys_exit'], available: needTracepoints('raw_syscalls', 'sys_exit') },
      ],
    };
    if (!c.latency) return [exit];
    const enter = {
      name: 'sys_enter',
      variants: [
        { name: 'tp_btf', programs: ['tpbtf_sys_enter'], available: needBtfTracepoints('sys_enter') },
        { name: 'raw_tp', programs: ['rawtp_sys_enter'], available: needBtfTracepoints('sys_enter') },
        { name: 'tracepoint', programs: ['tp_sys_enter'], available: needTracepoints('raw_syscalls', 'sys_enter') },
      ],
    };
    return [enter, exit];
  },
  configure(obj, c, ctx) {
    table = syscallTable(ctx.paths.bpfDir, ctx.log);
    obj.setRodata({ latency_on: c.latency, details_on: c.details, failed_only: c.failed, errno_only: c.errno });
    const slots = Math.max(SYSCALL_SLOTS, table.max + 1);
    obj.setMapMaxEntries('counts', c.details ? slots * (DETAIL_PIDS + 1) : slots);
    if (!c.latency) obj.setMapMaxEntries('start', 1);
  },
  keyName: (key) => {
    const tgid = key.readUInt32LE(0);
    const name = table ? table.name(key.readUInt32LE(4)) : `UNDEF${key.readUInt32LE(4)}`;
    return tgid === 0 ? name : `${tgid}::${name}`;
  },
  // Details of a process that exited leave, as pmdabcc dropped them; the totals stay.
  gone: { everyMs: 5000, test: (_name, key) => key.readUInt32LE(0) !== 0 && !alive(key.readUInt32LE(0)), drop: true },
  value: { struct: 'sc_counts', sum: ['calls', 'lat_ns', 'timed'] },
  maxInstances: SYSCALL_SLOTS * (DETAIL_PIDS + 1),
  metrics: [
    {
      name: 'bcc.proc.syscall.count',
      item: 0,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      oneline: 'syscall count',
      help:
        'syscall count: system calls since the agent started, per syscall (and per <pid>::<syscall> with details), counted as they return. ' +
        'The process, errno and failed options narrow what is counted.\n',
      value: (t: Readonly<Record<Fields, bigint>>) => t.calls,
    },
    {
      name: 'bcc.proc.syscall.latency.avg',
      item: 1,
      sem: PM_SEM.INSTANT,
      units: UNITS.nsec,
      oneline: 'syscall avg latency',
      help: 'syscall avg latency: mean time from entry to return of the calls counted since the agent started, in nanoseconds (total / calls). Only with latency = true.\n',
      value: (t: Readonly<Record<Fields, bigint>>) => (t.timed === 0n ? undefined : t.lat_ns / t.timed),
    },
    {
      name: 'bcc.proc.syscall.latency.cml',
      item: 2,
      sem: PM_SEM.COUNTER,
      units: UNITS.nsec,
      oneline: 'syscall cml latency',
      help: 'syscall cml latency: total time from entry to return of the calls counted since the agent started, in nanoseconds. Only with latency = true.\n',
      value: (t: Readonly<Record<Fields, bigint>>) => (t.timed === 0n ? undefined : t.lat_ns),
    },
  ],
});
