// biotop → bcc.proc.io.perdev.* (pmdabcc cluster 10): which processes did block I/O in the last
// interval, one row per (process, disk, direction), the top process_count rows by `sort`.
// Kernel side: bpf/biotop.bpf.c. Shape: shared/topn.ts.
import { kernelFeatures, needKprobes, type Hook } from '../bpf';
import { PM_TYPE } from '../pcp/types';
import { cfg } from '../pmda/config-schema';
import { UNITS } from '../pmda/module';
import { DiskNames, IO_LAYOUTS, rankIo, sortKey, type IoRow, type RankOptions } from './biotop-rank';
import type { Field } from './shared/fields';
import { variantKey } from './shared/tool';
import { defineTopNTool } from './shared/topn-tool';

const CLUSTER = 10;
const INDOM = 10;
const PREFIX = 'bcc.proc.io.perdev.';

export { DiskNames, rankIo, sortKey, type IoRow, type SortSpec } from './biotop-rank';

const blockTypedefs = ['block_io_start', 'block_rq_issue', 'block_io_done'];

/** Attach variants, best first (bpf-feasibility.md §1-2): one hook, since the three programs of a
 *  variant share how they key a request (pointer or dev+sector) and cannot be mixed. */
export function biotopHooks(): Hook[] {
  const btf = () => {
    const miss = blockTypedefs.filter((t) => !kernelFeatures.hasBtfType(`btf_trace_${t}`, 'typedef'));
    return miss.length ? `kernel BTF lacks tracepoints ${miss.join(', ')} (before 6.5)` : true;
  };
  const kprobes = (fns: string[]) => needKprobes(...fns);
  const tracepoints = (events: string[]) => () => {
    const miss = events.filter((e) => !kernelFeatures.hasTracepoint('block', e));
    return miss.length ? `no tracepoint block:${miss.join(', block:')}` : true;
  };
  return [
    {
      name: 'block',
      variants: [
        { name: 'tp_btf', programs: ['biotop_start_btf', 'biotop_issue_btf', 'biotop_done_btf'], available: btf },
        { name: 'raw_tp', programs: ['biotop_start_raw', 'biotop_issue_raw', 'biotop_done_raw'], available: btf },
        {
          name: 'kprobe',
          programs: ['biotop_start_kp', 'biotop_issue_kp', 'biotop_done_kp'],
          available: kprobes(['blk_account_io_start', 'blk_mq_start_request', 'blk_account_io_done']),
        },
        {
          name: 'kprobe(__blk_account_io)',
          programs: ['biotop_start_kp2', 'biotop_issue_kp', 'biotop_done_kp2'],
          available: kprobes(['__blk_account_io_start', 'blk_mq_start_request', '__blk_account_io_done']),
        },
        {
          name: 'tracepoint',
          programs: ['biotop_start_tp', 'biotop_issue_tp', 'biotop_done_tp'],
          available: tracepoints(blockTypedefs),
        },
        {
          name: 'tracepoint(bio_queue)',
          programs: ['biotop_queue_tp', 'biotop_issue_tp', 'biotop_complete_tp'],
          available: tracepoints(['block_bio_queue', 'block_rq_issue', 'block_rq_complete']),
        },
      ],
    },
  ];
}

export const BIOTOP_VARIANTS = biotopHooks()[0]!.variants.map((v) => v.name);

const ROW_HELP = 'Instance "N" is rank N of the last interval (see the module\'s sort option); unfilled ranks have no value.\n';

const field = (item: number, f: Omit<Field<IoRow>, 'item'>): Field<IoRow> => ({ item, ...f });

export const biotop = defineTopNTool({
  name: 'biotop',
  cluster: CLUSTER,
  // Three short programs per block I/O: cheap next to the I/O itself.
  defaultEnabled: true,
  prefix: PREFIX,
  indom: {
    serial: INDOM,
    oneline: 'top block I/O (process, disk, direction) rows of the last interval, in rank order',
    help:
      'Instances "0".."process_count-1": rank 0 is the row with the most bytes by default (option sort).\n' +
      'A row is one process (pid, comm) doing I/O to one disk in one direction during the last interval.\n',
  },
  rowHelp: ROW_HELP,
  fields: [
    field(0, {
      leaf: 'pid',
      type: PM_TYPE.U32,
      oneline: 'process id that submitted the I/O',
      help: 'Process (thread group) id of the task that submitted the I/O; 0 when it was not seen (include_residual).\n',
      get: (r) => r.pid,
    }),
    field(1, { leaf: 'comm', type: PM_TYPE.STRING, oneline: 'command of the submitting task', help: "The submitting task's command name (the thread's comm, as ps shows).\n", get: (r) => r.comm }),
    field(2, {
      leaf: 'direction',
      type: PM_TYPE.STRING,
      oneline: 'I/O direction: R (read) or W (write)',
      help: 'R for reads, W for writes. Flushes, discards and write-zeroes move no data and are not counted.\n',
      get: (r) => r.direction,
    }),
    field(3, { leaf: 'major', type: PM_TYPE.U32, oneline: 'disk major number', help: 'Major device number of the disk (whole disk, not the partition).\n', get: (r) => r.major }),
    field(4, { leaf: 'minor', type: PM_TYPE.U32, oneline: 'disk minor number', help: 'Minor device number of the disk (its first minor).\n', get: (r) => r.minor }),
    field(5, { leaf: 'disk', type: PM_TYPE.STRING, oneline: 'disk name', help: 'Disk name as /proc/diskstats lists it ("?" when it does not).\n', get: (r) => r.disk }),
    field(6, { leaf: 'io', type: PM_TYPE.U32, oneline: 'number of I/Os completed in the last interval', help: 'Completed I/O requests of this row in the last interval.\n', get: (r) => r.io }),
    field(7, {
      leaf: 'bytes',
      type: PM_TYPE.U64,
      units: UNITS.byte,
      oneline: 'bytes transferred in the last interval',
      help: 'Bytes of the completed requests of this row in the last interval.\n',
      get: (r) => r.bytes,
    }),
    field(8, {
      leaf: 'duration',
      type: PM_TYPE.U32,
      units: UNITS.usec,
      oneline: 'average I/O time in the last interval',
      help: 'Average time from issue to the device until completion, in microseconds, over the I/Os of this row.\n',
      get: (r) => r.duration,
    }),
  ],
  config: {
    interval: cfg.int(1, { min: 0, max: 86400 }, 'Seconds per interval; 0 computes the rows at each fetch (they then cover the time since the previous fetch).'),
    process_count: cfg.int(20, { min: 1, max: 1000 }, 'Number of rows (instances "0".."process_count-1").'),
    sort: sortKey,
    include_residual: cfg.bool(false, 'Also show I/O whose submitting process was not seen (pid 0).'),
    variant: variantKey(BIOTOP_VARIANTS),
  },
  sizes: (c) => ({ interval: c.interval, limit: c.process_count }),
  object: 'biotop.bpf.o',
  hooks: biotopHooks,
  layouts: IO_LAYOUTS,
  ranker(c) {
    const opts: RankOptions = { sort: c.sort, includeResidual: c.include_residual, disks: new DiskNames() };
    return (b, limit) => rankIo(b.keys, b.values, b.count, limit, opts);
  },
});
