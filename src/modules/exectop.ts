// exectop → bcc.proc.exec.count (pmdabcc cluster 13): execs per command name, failed execs
// included, as pmdabcc counted them (bpf/exectop.bpf.c says how the name is chosen).
import { needTracepoints, syscallTable } from '../bpf';
import { PM_SEM } from '../pcp/types';
import { UNITS } from '../pmda/module';
import { filterConfig } from './shared/filter';
import { defineKeyedCounter, derive } from './shared/keyed-counter';
import { variantKey } from './shared/tool';

const VARIANTS = ['tracepoint', 'raw_syscalls'] as const;

export const exectop = defineKeyedCounter({
  name: 'exectop',
  cluster: 13,
  // pmdabcc shipped it off.
  defaultEnabled: false,
  indom: {
    serial: 13,
    oneline: 'command names that exec()ed',
    help: 'One instance per command name (comm, at most 15 characters): the new program after a successful exec, the caller after a failed one.\n',
  },
  object: 'exectop.bpf.o',
  filter: true,
  config: { ...filterConfig(), variant: variantKey(VARIANTS) },
  hooks: () => [
    {
      name: 'exec',
      variants: [
        { name: 'tracepoint', programs: ['tp_exit_execve', 'tp_exit_execveat'], available: needTracepoints('syscalls', 'sys_exit_execve', 'sys_exit_execveat') },
        { name: 'raw_syscalls', programs: ['tp_raw_sys_exit'], available: needTracepoints('raw_syscalls', 'sys_exit') },
      ],
    },
  ],
  configure(obj, _c, ctx) {
    if (!obj.autoload('tp_raw_sys_exit')) return;
    const t = syscallTable(ctx.paths.bpfDir, ctx.log);
    const nr = (name: string) => [...t.names].find(([, n]) => n === name)?.[0] ?? -1;
    obj.setRodata({ nr_execve: nr('execve'), nr_execveat: nr('execveat') });
  },
  keyName: (key) => {
    const end = key.indexOf(0);
    return key.toString('utf8', 0, end < 0 ? key.length : end);
  },
  value: { struct: 'exec_counts', sum: ['execs'] },
  // Bounded like the kernel map: the longest-unchanged names leave (counted as lost).
  maxInstances: 16384,
  metrics: [
    {
      name: 'bcc.proc.exec.count',
      item: 0,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      oneline: 'exec',
      help:
        'exec: execve/execveat calls since the agent started, per command name, failed ones included (as pmdabcc counted them). ' +
        'A successful exec counts under the new program\'s name, a failed one under the caller\'s. With the process or cgroup option, only execs by those processes.\n',
      value: derive.field('execs'),
    },
  ],
});
