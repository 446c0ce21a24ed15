// bioperpid → bcc.proc.io.total (pmdabcc cluster 1): bytes read and written per process and
// disk since the agent started, instance "<disk>::<pid %06d>" (e.g. "vda::000441"). Kernel side:
// bpf/bioperpid.bpf.c on biotop's block request hooks (bpf/include/block_requests.bpf.h).
import { PM_SEM } from '../pcp/types';
import { UNITS } from '../pmda/module';
import { diskName } from './biolatency';
import { biotopHooks } from './biotop';
import { defineKeyedCounter, derive } from './shared/keyed-counter';
import { GoneTwice } from './shared/process-name';
import { variantKey } from './shared/tool';

const MINORBITS = 20;

/** One per module instance (a WeakMap on its context). */
const goneOf = new WeakMap<object, GoneTwice>();
function gone(ctx: object): GoneTwice {
  let g = goneOf.get(ctx);
  if (!g) goneOf.set(ctx, (g = new GoneTwice()));
  return g;
}

export const bioperpid = defineKeyedCounter({
  name: 'bioperpid',
  cluster: 1,
  defaultEnabled: false,
  indom: {
    serial: 1,
    oneline: 'processes per disk',
    help:
      'One instance per process and disk it read or wrote: "<disk>::<pid>", the disk name from /sys/dev/block and the pid ' +
      'zero-padded to six digits, e.g. "vda::000441". Pid 000000 holds requests whose submitter was not seen (queued before ' +
      'the agent started). A process that exited leaves at the second refresh that finds it gone.\n',
  },
  object: 'bioperpid.bpf.o',
  config: { variant: variantKey(biotopHooks()[0]!.variants.map((v) => v.name)) },
  hooks: () => biotopHooks(),
  value: { struct: 'bio_bytes', sum: ['bytes'] },
  keyName: (key) => {
    const pid = key.readUInt32LE(0);
    const dev = (key.readUInt32LE(4) << MINORBITS) | key.readUInt32LE(8);
    return `${diskName(dev >>> 0)}::${String(pid).padStart(6, '0')}`;
  },
  gone: {
    everyMs: 0,
    test: (_name, key, ctx) => {
      const pid = key.readUInt32LE(0);
      return pid !== 0 && gone(ctx).gone(pid, key.toString('hex'));
    },
    drop: true,
  },
  metrics: [
    {
      name: 'bcc.proc.io.total',
      item: 0,
      sem: PM_SEM.COUNTER,
      units: UNITS.byte,
      oneline: 'device io per pid',
      help:
        'device io per pid: bytes of the block requests a process submitted (reads and writes) that completed, ' +
        'since the agent started, from the block layer tracepoints (block_io_start, block_rq_issue, block_io_done) as biotop. ' +
        'Writes are charged to the task that submitted the request: often a writeback kernel thread for buffered writes, the ' +
        'writer itself for O_DIRECT and synchronous writes. Flushes and discards are not counted.\n',
      value: derive.field('bytes'),
    },
  ],
});
