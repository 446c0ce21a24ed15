// sysfork → bcc.proc.sysfork (pmdabcc cluster 2): tasks created (fork, vfork, clone), counted
// by bpf/sysfork.bpf.c from sched_process_fork. A keyed counter with no instances.
import { needBtfTracepoints, needTracepoints } from '../bpf';
import { PM_SEM } from '../pcp/types';
import { UNITS } from '../pmda/module';
import { filterConfig } from './shared/filter';
import { defineKeyedCounter, derive } from './shared/keyed-counter';
import { variantKey } from './shared/tool';

const VARIANTS = ['tp_btf', 'raw_tp', 'tracepoint'] as const;

export const sysfork = defineKeyedCounter({
  name: 'sysfork',
  cluster: 2,
  // pmdabcc shipped it off.
  defaultEnabled: false,
  indom: null,
  object: 'sysfork.bpf.o',
  filter: true,
  config: { ...filterConfig(), variant: variantKey(VARIANTS) },
  hooks: () => [
    {
      name: 'fork',
      variants: [
        { name: 'tp_btf', programs: ['tpbtf_fork'], available: needBtfTracepoints('sched_process_fork') },
        { name: 'raw_tp', programs: ['rawtp_fork'], available: needBtfTracepoints('sched_process_fork') },
        { name: 'tracepoint', programs: ['tp_fork'], available: needTracepoints('sched', 'sched_process_fork') },
      ],
    },
  ],
  value: { struct: 'fork_counts', sum: ['forks'] },
  metrics: [
    {
      name: 'bcc.proc.sysfork',
      item: 0,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      oneline: 'fork rate',
      help:
        'fork rate: tasks created since the agent started (every successful fork, vfork and clone, processes and threads alike), ' +
        'from the sched:sched_process_fork tracepoint. With the process or cgroup option, only tasks created by those processes.\n',
      value: derive.field('forks'),
    },
  ],
});
