// biolatency → bcc.disk.all.latency (pmdabcc cluster 0): block I/O latency of all disks as a
// log2 histogram in µs. Kernel side: bpf/biolatency.bpf.c; shape: shared/histogram.ts.
//
// No process or cgroup filter, on purpose: completions run in interrupt context, and the
// issue often runs in a task other than the submitter (plug flushes, kblockd, writeback), so
// "current" at these tracepoints does not say whose I/O it is. biotop attributes I/O to
// processes (from block_io_start, which runs in the submitter's context).
import { kernelFeatures, needBtfTracepoints, needTracepoints, type Hook } from '../bpf';
import { PM_SEM, PM_TYPE } from '../pcp/types';
import { cfg } from '../pmda/config-schema';
import { UNITS, type ModuleSpec } from '../pmda/module';
import { HISTOGRAM_UNITS_HELP } from './shared/histogram';
import { HistogramTool } from './shared/histogram-module';

const CLUSTER = 0;
const INDOM = 0;

export function biolatencyHooks(queued: boolean): Hook[] {
  const events = queued ? ['insert', 'issue', 'complete'] : ['issue', 'complete'];
  const tps = events.map((e) => `block_rq_${e}`);
  return [
    {
      name: 'block',
      variants: [
        { name: 'tp_btf', programs: events.map((e) => `tpbtf_${e}`), available: needBtfTracepoints(...tps) },
        { name: 'raw_tp', programs: events.map((e) => `rawtp_${e}`), available: needBtfTracepoints(...tps) },
        { name: 'tracepoint', programs: events.map((e) => `tp_${e}`), available: needTracepoints('block', ...tps) },
      ],
    },
  ];
}

export const biolatency: ModuleSpec = {
  name: 'biolatency',
  cluster: CLUSTER,
  defaultEnabled: true,
  metrics: [
    {
      name: 'bcc.disk.all.latency',
      item: 0,
      type: PM_TYPE.U64,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      indom: INDOM,
      oneline: 'block I/O latency histogram of all disks (log2 µs buckets)',
      help:
        'Block device I/O latency, all disks together: from a request being issued to the ' +
        'device driver until its completion (block_rq_issue → block_rq_complete); with ' +
        '"queued = true" in the [biolatency] section, from its insertion into the I/O scheduler ' +
        '(block_rq_insert), so OS queue time is included. ' +
        HISTOGRAM_UNITS_HELP +
        ' There is no process or cgroup option: completions run in interrupt context and requests ' +
        'are often issued by another task (plug flush, kblockd, writeback), so the task at these ' +
        'events is not the one that asked for the I/O; bcc.proc.io.perdev (biotop) attributes I/O to processes.',
    },
  ],
  indoms: [
    {
      serial: INDOM,
      oneline: 'block I/O latency buckets (µs ranges)',
      help: 'log2 buckets of block I/O latency, named "low-high" in microseconds; ids rise with the bucket bounds.',
      labels: { statistic: 'histogram' },
    },
  ],
  config: {
    queued: cfg.bool(false, 'Include the time requests wait in the OS I/O scheduler queue (measure from insert instead of issue).'),
  },
  create(ctx) {
    const queued = ctx.config.queued as boolean;
    ctx.log.info(queued ? 'including OS queued time in I/O time' : 'excluding OS queued time from I/O time');
    return new HistogramTool(ctx, {
      object: 'biolatency.bpf.o',
      hooks: biolatencyHooks(queued),
      histograms: 1,
      indomSerial: INDOM,
      itemToHistogram: (item) => (item === 0 ? 0 : undefined),
      filter: false,
      configure: (o) =>
        o.setRodata({
          targ_queued: queued,
          // (q, rq) before 5.11; unknown (no BTF) only matters to tp_btf/raw_tp, which need BTF.
          targ_single: kernelFeatures.btfTracepointArgs('block_rq_issue') !== 2,
        }),
    });
  },
};
