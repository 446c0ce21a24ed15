// runqlat → bcc.runq.latency (pmdabcc cluster 4): how long runnable tasks wait for a CPU, as a
// log2 histogram in usec. Kernel side: bpf/runqlat.bpf.c; shape: shared/histogram.ts.
import { needBtfTracepoints, needTracepoints, type Hook } from '../bpf';
import { PM_SEM, PM_TYPE } from '../pcp/types';
import { UNITS, type ModuleSpec } from '../pmda/module';
import { filterConfig } from './shared/filter';
import { HISTOGRAM_UNITS_HELP } from './shared/histogram';
import { HistogramTool } from './shared/histogram-module';
import { quantileIndom, quantileIndomSerial, quantileMetric } from './shared/quantiles';

const CLUSTER = 4;
const INDOM = 4;
const QUANTILE_INDOM = quantileIndomSerial(CLUSTER);
const EVENTS = ['sched_wakeup', 'sched_wakeup_new', 'sched_switch'];

// One hook for all three events: the enqueue and dequeue halves must agree on where the
// filter is applied (see the classic variant in runqlat.bpf.c), so they change variant together.
export const runqlatHooks: Hook[] = [
  {
    name: 'sched',
    variants: [
      { name: 'tp_btf', programs: ['tpbtf_wakeup', 'tpbtf_wakeup_new', 'tpbtf_switch'], available: needBtfTracepoints(...EVENTS) },
      { name: 'raw_tp', programs: ['rawtp_wakeup', 'rawtp_wakeup_new', 'rawtp_switch'], available: needBtfTracepoints(...EVENTS) },
      { name: 'tracepoint', programs: ['tp_wakeup', 'tp_wakeup_new', 'tp_switch'], available: needTracepoints('sched', ...EVENTS) },
    ],
  },
];

export const runqlat: ModuleSpec = {
  name: 'runqlat',
  cluster: CLUSTER,
  defaultEnabled: true,
  metrics: [
    {
      name: 'bcc.runq.latency',
      item: 0,
      type: PM_TYPE.U64,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      indom: INDOM,
      oneline: 'run queue latency histogram: tasks that waited for a CPU, by wait time (log2 usec buckets)',
      help:
        'Scheduler run queue latency: the time from a task becoming runnable (woken up, created, ' +
        'or preempted while still runnable) until it runs on a CPU, from the sched_wakeup, ' +
        'sched_wakeup_new and sched_switch tracepoints. ' +
        HISTOGRAM_UNITS_HELP +
        ' The process and cgroup options restrict it to the named processes or one cgroup v2.',
    },
    quantileMetric('bcc.runq.latency_quantile', 1, QUANTILE_INDOM, 'run queue latency'),
  ],
  indoms: [
    {
      serial: INDOM,
      oneline: 'run queue latency buckets (usec ranges)',
      help: 'log2 buckets of run queue latency, named "low-high" in microseconds; ids rise with the bucket bounds.',
      labels: { statistic: 'histogram' },
    },
    quantileIndom(QUANTILE_INDOM, 'run queue latency'),
  ],
  config: filterConfig(),
  create: (ctx) =>
    new HistogramTool(ctx, {
      object: 'runqlat.bpf.o',
      hooks: runqlatHooks,
      histograms: 1,
      indomSerial: INDOM,
      itemToHistogram: (item) => (item === 0 ? 0 : undefined),
      quantiles: { indomSerial: QUANTILE_INDOM, itemToHistogram: (item) => (item === 1 ? 0 : undefined) },
      filter: true,
    }),
};
