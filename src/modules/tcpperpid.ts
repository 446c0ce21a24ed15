// tcpperpid → bcc.proc.io.net.total.{tx,rx} (pmdabcc cluster 11): TCP bytes per process since the
// agent started, instance the pid "%06d". By default from closed sessions (tcplife's hooks: a
// connection's bytes count when it closes); with highres, as they move (tcptop's hooks).
// Kernel side: bpf/tcpperpid.bpf.c.
import { PM_SEM } from '../pcp/types';
import { cfg, type ConfigKey } from '../pmda/config-schema';
import { UNITS } from '../pmda/module';
import { filterConfig } from './shared/filter';
import { defineKeyedCounter, derive } from './shared/keyed-counter';
import { GoneTwice } from './shared/process-name';
import { variantKey } from './shared/tool';
import { portList, portsKey, tcplifeHooks } from './tcplife';
import { TCPTOP_VARIANTS, tcptopHooks } from './tcptop';

function powerOfTwo(def: number, doc: string): ConfigKey<number> {
  const base = cfg.int(def, { min: 1, max: 1 << 16 }, doc);
  return {
    ...base,
    parse(raw) {
      const n = base.parse(raw);
      if (n & (n - 1)) throw new Error(`${n} is not a power of two`);
      return n;
    },
  };
}

const goneOf = new WeakMap<object, GoneTwice>();
function gone(ctx: object): GoneTwice {
  let g = goneOf.get(ctx);
  if (!g) goneOf.set(ctx, (g = new GoneTwice()));
  return g;
}

const MODES =
  'By default the bytes of a TCP session count when it closes, for the process that opened it (or closed it passively), ' +
  'from sock:inet_sock_set_state: open connections show nothing yet. These are the kernel\'s bytes_acked and bytes_received ' +
  '(as tcplife and pmdabcc report them), which count sequence space: a SYN and a FIN add one byte each. A session the ' +
  'process closed actively ends in softirq context and goes to the task running there. ' +
  'With highres = true, every send and receive counts as it happens, for the calling process, from ' +
  'sock:sock_send_length/sock_recv_length (tcptop\'s hooks): bytes handed to or taken from the socket. ' +
  'lport/dport restrict both modes to those ports; exited processes leave at the second refresh that finds them gone.\n';

export const tcpperpid = defineKeyedCounter({
  name: 'tcpperpid',
  cluster: 11,
  defaultEnabled: false,
  indom: {
    serial: 11,
    oneline: 'processes with TCP traffic',
    help: 'One instance per process (the pid zero-padded to six digits, e.g. "000441") that sent or received on TCP.\n',
  },
  object: 'tcpperpid.bpf.o',
  filter: true,
  config: {
    dport: portsKey('remote'),
    lport: portsKey('local'),
    highres: cfg.bool(false, 'Count bytes as they are sent and received (tcptop\'s hooks) instead of when a session closes.'),
    buffer_page_count: powerOfTwo(64, 'Accepted for pmdabcc configurations (its perf buffer size in pages, a power of two); no effect here: the counts are summed in a kernel map, not sent as events.'),
    ...filterConfig(),
    variant: variantKey([...new Set([...tcplifeHooks()[0]!.variants.map((v) => v.name), ...TCPTOP_VARIANTS])]),
  },
  hooks: (c) => (c.highres ? tcptopHooks() : tcplifeHooks()),
  configure: (obj, c) => {
    const l = portList(c.lport);
    const d = portList(c.dport);
    obj.setRodata({ lports: l.list, n_lports: l.n, dports: d.list, n_dports: d.n });
  },
  value: { struct: 'tcp_totals', sum: ['tx', 'rx'] },
  keyName: (key) => String(key.readUInt32LE(0)).padStart(6, '0'),
  gone: { everyMs: 0, test: (_n, key, ctx) => gone(ctx).gone(key.readUInt32LE(0)), drop: true },
  metrics: [
    {
      name: 'bcc.proc.io.net.total.tx',
      item: 0,
      sem: PM_SEM.COUNTER,
      units: UNITS.byte,
      oneline: 'tcp tx per pid',
      help: `tcp tx per pid: TCP bytes sent by each process. ${MODES}`,
      value: derive.field('tx'),
    },
    {
      name: 'bcc.proc.io.net.total.rx',
      item: 1,
      sem: PM_SEM.COUNTER,
      units: UNITS.byte,
      oneline: 'tcp rx per pid',
      help: `tcp rx per pid: TCP bytes received by each process. ${MODES}`,
      value: derive.field('rx'),
    },
  ],
});
