// biolatency → bcc.disk.all.latency (pmdabcc cluster 0): block I/O latency of all disks as a
// log2 histogram in usec. Kernel side: bpf/biolatency.bpf.c; shape: shared/histogram.ts.
//
// No process or cgroup filter, on purpose: completions run in interrupt context, and the
// issue often runs in a task other than the submitter (plug flushes, kblockd, writeback), so
// "current" at these tracepoints does not say whose I/O it is. biotop attributes I/O to
// processes (from block_io_start, which runs in the submitter's context).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { kernelFeatures, needBtfTracepoints, needTracepoints, type Hook } from '../bpf';
import { PM_SEM, PM_TYPE } from '../pcp/types';
import { cfg } from '../pmda/config-schema';
import { UNITS, defineModule, type ClientRef, type FetchResult, type ModuleContext } from '../pmda/module';
import { HISTOGRAM_UNITS_HELP, KeyedLog2Histograms } from './shared/histogram';
import { HistogramTool, type HistogramToolOptions } from './shared/histogram-module';
import { quantileIndom, quantileIndomSerial, quantileMetric } from './shared/quantiles';

const CLUSTER = 0;
const INDOM = 0;
/** The per-disk indom: beyond pmdabcc, so outside its serials (= clusters 0..14). */
export const DEV_INDOM = 0x100 | CLUSTER;
const MINORBITS = 20;
const QUANTILE_INDOM = quantileIndomSerial(CLUSTER);

/** Kernel dev_t (major << 20 | minor) → disk name, from /sys/dev/block/M:m (a link to the device). */
export function diskName(dev: number, sysDevBlock = '/sys/dev/block'): string {
  const id = `${dev >>> MINORBITS}:${dev & ((1 << MINORBITS) - 1)}`;
  try {
    return path.basename(fs.readlinkSync(path.join(sysDevBlock, id)));
  } catch {
    return id; // gone (hot-unplugged) or no sysfs: still a stable, meaningful name
  }
}

/** Adds the per-disk histogram (bcc.disk.dev.latency) to the shared histogram life cycle. */
class Biolatency extends HistogramTool {
  private perDev: KeyedLog2Histograms | null = null;
  private readonly names = new Map<number, { name: string; label: string }>();

  constructor(
    private readonly mctx: ModuleContext,
    opts: HistogramToolOptions,
    private readonly perDevice: boolean,
  ) {
    super(mctx, opts);
  }

  protected override open(): void {
    super.open();
    if (!this.perDevice) return;
    const map = this.object!.map('hist_dev');
    if (this.perDev) this.perDev.rebind(map);
    else {
      // "dm-0" would break heat maps' "<lo>-<hi>" parsing: "dm_0::64-127", label disk="dm-0".
      const nameOf = (dev: number) => {
        let n = this.names.get(dev);
        if (n === undefined) {
          const label = diskName(dev);
          this.names.set(dev, (n = { name: label.replace(/-/g, '_'), label }));
        }
        return n;
      };
      this.perDev = new KeyedLog2Histograms(map, this.mctx.indom(DEV_INDOM), nameOf, 'disk');
    }
    this.closer.add('per-disk reader', this.perDev, (h) => h.rebind(null));
  }

  override refresh(): void {
    super.refresh();
    this.perDev?.refresh();
  }

  override fetch(item: number, client: ClientRef): FetchResult {
    if (item === 1) return this.perDevice ? (this.perDev?.values() ?? []) : [];
    return super.fetch(item, client);
  }
}

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

export const biolatency = defineModule({
  name: 'biolatency',
  cluster: CLUSTER,
  defaultEnabled: true,
  metrics: [
    {
      name: 'bcc.disk.dev.latency',
      item: 1,
      type: PM_TYPE.U64,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      indom: DEV_INDOM,
      oneline: 'block I/O latency histogram per disk (log2 usec buckets)',
      help:
        'The samples of bcc.disk.all.latency split by disk (beyond pmdabcc; Vector once showed per-disk ' +
        'latency under this name). Instances are "<disk>::<low>-<high>", e.g. "vda::64-127"; the disk is the ' +
        'whole device the request went to (partitions are counted under their disk, loop devices under their ' +
        'own name); a "-" in a disk name becomes "_" in the instance name ("dm_0::64-127") so that heat maps ' +
        'still find the bucket bounds, and the disk label keeps the real name. ' +
        'Same measurement and units as bcc.disk.all.latency: event counts per bucket. ' +
        'No values when per_device = false.',
    },
    {
      name: 'bcc.disk.all.latency',
      item: 0,
      type: PM_TYPE.U64,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      indom: INDOM,
      oneline: 'block I/O latency histogram of all disks (log2 usec buckets)',
      help:
        'Block device I/O latency, all disks together: from a request being issued to the ' +
        'device driver until its completion (block_rq_issue -> block_rq_complete); with ' +
        '"queued = true" in the [biolatency] section, from its insertion into the I/O scheduler ' +
        '(block_rq_insert), so OS queue time is included. ' +
        HISTOGRAM_UNITS_HELP +
        ' There is no process or cgroup option: completions run in interrupt context and requests ' +
        'are often issued by another task (plug flush, kblockd, writeback), so the task at these ' +
        'events is not the one that asked for the I/O; bcc.proc.io.perdev (biotop) attributes I/O to processes.',
    },
    quantileMetric('bcc.disk.all.latency_quantile', 2, QUANTILE_INDOM, 'block I/O latency of all disks'),
  ],
  indoms: [
    {
      serial: INDOM,
      oneline: 'block I/O latency buckets (usec ranges)',
      help: 'log2 buckets of block I/O latency, named "low-high" in microseconds; ids rise with the bucket bounds.',
      labels: { statistic: 'histogram' },
    },
    {
      serial: DEV_INDOM,
      oneline: 'block I/O latency buckets per disk ("disk::low-high", usec)',
      help:
        'One instance per disk and log2 latency bucket, named "<disk>::<low>-<high>" with the bucket bounds in ' +
        'microseconds, e.g. "vda::64-127"; labels disk, lower_bound, upper_bound. Each disk has buckets from ' +
        '"0-1" up to its highest non-empty one. Instance ids are kept per name across restarts.',
      labels: { statistic: 'histogram' },
    },
    quantileIndom(QUANTILE_INDOM, 'block I/O latency'),
  ],
  config: {
    queued: cfg.bool(false, 'Include the time requests wait in the OS I/O scheduler queue (measure from insert instead of issue).'),
    per_device: cfg.bool(true, 'Also count each disk separately (bcc.disk.dev.latency); costs one more map update per I/O.'),
  },
  create(ctx) {
    const queued = ctx.config.queued;
    ctx.log.info(queued ? 'including OS queued time in I/O time' : 'excluding OS queued time from I/O time');
    const perDevice = ctx.config.per_device;
    return new Biolatency(ctx, {
      object: 'biolatency.bpf.o',
      hooks: biolatencyHooks(queued),
      histograms: 1,
      indomSerial: INDOM,
      itemToHistogram: (item) => (item === 0 ? 0 : undefined),
      quantiles: { indomSerial: QUANTILE_INDOM, itemToHistogram: (item) => (item === 2 ? 0 : undefined) },
      filter: false,
      configure: (o) =>
        o.setRodata({
          targ_queued: queued,
          // (q, rq) before 5.11; unknown (no BTF) only matters to tp_btf/raw_tp, which need BTF.
          targ_single: kernelFeatures.btfTracepointArgs('block_rq_issue') !== 2,
          targ_per_dev: perDevice,
        }),
    }, perDevice);
  },
});
