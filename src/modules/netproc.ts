// netproc → bcc.proc.net.{tcp,udp}.{send,recv}.{calls,bytes} (pmdabcc cluster 40, its only
// module on by default; pcp-atop's per-process network columns read it). One instance per
// process: id = pid, name as the proc PMDA's (`%06d argv0`), so tools join it with proc.*.
// Kernel side: bpf/netproc.bpf.c (sock:sock_send_length / sock_recv_length, TCP and UDP).
import { needBtfTracepoints, needTracepoints } from '../bpf';
import { PM_SEM } from '../pcp/types';
import { cfg } from '../pmda/config-schema';
import { UNITS } from '../pmda/module';
import { filterConfig } from './shared/filter';
import { defineKeyedCounter, derive } from './shared/keyed-counter';
import { ProcessNames } from './shared/process-name';
import { variantKey } from './shared/tool';

const VARIANTS = ['tp_btf', 'raw_tp', 'tracepoint'] as const;
const FIELDS = ['tcp_send_calls', 'tcp_send_bytes', 'tcp_recv_calls', 'tcp_recv_bytes', 'udp_send_calls', 'udp_send_bytes', 'udp_recv_calls', 'udp_recv_bytes'] as const;
type Field = (typeof FIELDS)[number];

const HOW =
  'Counted from the sock:sock_send_length and sock:sock_recv_length tracepoints, which see every socket send and receive ' +
  'a process makes (write, send*, sendmmsg per message, read, recv*, io_uring, splice to a socket), IPv4 and IPv6. ' +
  'Only calls that moved data count (return value > 0): failed, would-block and end-of-file calls do not, nor MSG_PEEK reads. ' +
  'Counts are per process (all its threads); pmdabcc keyed them by thread id and also counted failed sends.\n';

function metric(item: number, field: Field, oneline: string, what: string) {
  const bytes = field.endsWith('bytes');
  return {
    name: `bcc.proc.net.${field.replace(/_/g, '.')}`,
    item,
    sem: PM_SEM.COUNTER,
    units: bytes ? UNITS.byte : UNITS.count,
    oneline,
    help: `${oneline}: ${what}\n${HOW}`,
    value: derive.field<Field>(field),
  };
}

/** Names are read once per pid and dropped with the process; one cache per module instance. */
const names = new WeakMap<object, ProcessNames>();
function namesOf(ctx: object): ProcessNames {
  let n = names.get(ctx);
  if (!n) names.set(ctx, (n = new ProcessNames()));
  return n;
}

export const netproc = defineKeyedCounter({
  name: 'netproc',
  cluster: 40,
  defaultEnabled: true,
  indom: {
    serial: 40,
    oneline: 'processes that sent or received on TCP or UDP sockets',
    help:
      'One instance per process that moved data on a TCP or UDP socket since the agent started. The instance id is the pid and ' +
      'the name is the one the proc PMDA gives that process ("%06d argv0", e.g. "001379 /usr/sbin/NetworkManager", or ' +
      '"(comm)" for kernel threads), so it joins with proc.* metrics; a process that exited before it was first seen is named ' +
      'by the bare zero-padded pid. Exited processes leave unless remove_stopped_processes is false. Ids are pids: not kept across restarts.\n',
    persist: 'none',
  },
  object: 'netproc.bpf.o',
  filter: true,
  config: {
    remove_stopped_processes: cfg.bool(true, 'Drop the instances of processes that exited (as pmdabcc). With false they keep their last totals.'),
    max_processes: cfg.int(10240, { min: 1, max: 1 << 20 }, 'Processes counted at once in the kernel map (its max_entries). When it is full, the sends and receives of further processes are counted in bcc.pmda.module.lost until exited processes are pruned.'),
    ...filterConfig(),
    variant: variantKey(VARIANTS),
  },
  hooks: () => [
    {
      name: 'sock_length',
      variants: [
        { name: 'tp_btf', programs: ['tpbtf_send', 'tpbtf_recv'], available: needBtfTracepoints('sock_send_length', 'sock_recv_length') },
        { name: 'raw_tp', programs: ['rawtp_send', 'rawtp_recv'], available: needBtfTracepoints('sock_send_length', 'sock_recv_length') },
        { name: 'tracepoint', programs: ['tp_send', 'tp_recv'], available: needTracepoints('sock', 'sock_send_length', 'sock_recv_length') },
      ],
    },
  ],
  configure: (obj, c) => obj.setMapMaxEntries('counts', c.max_processes),
  value: { struct: 'netstats', sum: FIELDS },
  keyName: (key, _c, ctx) => {
    const pid = key.readUInt32LE(0);
    return { name: namesOf(ctx).name(pid), id: pid };
  },
  gone: {
    everyMs: 1000,
    test: (_name, key, ctx) => {
      const pid = key.readUInt32LE(0);
      const n = namesOf(ctx);
      if (n.alive(pid)) return false;
      n.forget(pid);
      return true;
    },
    drop: (c) => c.remove_stopped_processes,
  },
  maxInstances: 65536,
  metrics: [
    metric(0, 'tcp_send_calls', 'number of TCP send calls (tcp_sendmsg())', 'socket send calls on TCP sockets that sent at least one byte'),
    metric(1, 'tcp_send_bytes', 'amount of bytes requested to be sent', 'bytes accepted by TCP send calls (their return values)'),
    metric(2, 'tcp_recv_calls', 'number of TCP recv calls (tcp_recvmsg()/tcp_cleanup_rbuf())', 'socket receive calls on TCP sockets that returned data'),
    metric(3, 'tcp_recv_bytes', 'amount of bytes received', 'bytes returned by TCP receive calls'),
    metric(4, 'udp_send_calls', 'number of UDP send calls (udp_sendmsg())', 'socket send calls on UDP sockets that sent a datagram of at least one byte'),
    metric(5, 'udp_send_bytes', 'amount of bytes requested to be sent', 'payload bytes sent by UDP send calls'),
    metric(6, 'udp_recv_calls', 'number of UDP recv calls (udp_recvmsg()/skb_consume_udp())', 'socket receive calls on UDP sockets that returned a datagram of at least one byte'),
    metric(7, 'udp_recv_bytes', 'amount of bytes received', 'payload bytes returned by UDP receive calls'),
  ],
});
