// tcptop → bcc.proc.io.net.tcptop.* (pmdabcc cluster 12): TCP connections that moved the most
// bytes in the last interval, one row per (process, local address:port, remote address:port),
// the top conn_count rows by rx + tx. IPv4 and IPv6. Kernel side: bpf/tcptop.bpf.c.
import { kernelFeatures, needKprobes, type Hook } from '../bpf';
import { PM_TYPE } from '../pcp/types';
import { cfg } from '../pmda/config-schema';
import { UNITS } from '../pmda/module';
import type { Field } from './shared/fields';
import { filterConfig } from './shared/filter';
import { variantKey } from './shared/tool';
import { defineTopNTool } from './shared/topn-tool';
import { CONN_LAYOUTS, rankConnections, type ConnRow } from './tcptop-rank';

const CLUSTER = 12;
const INDOM = 12;
const PREFIX = 'bcc.proc.io.net.tcptop.';

export { formatAddress } from './shared/bytes';
export { rankConnections, type ConnRow } from './tcptop-rank';

const SYSCALLS = ['write', 'writev', 'sendto', 'sendmsg', 'read', 'readv', 'recvfrom', 'recvmsg'];

/** Attach variants, best first (bpf-feasibility.md §2). One hook: send and receive must count
 *  the same way or a connection's rx and tx would not be comparable. */
export function tcptopHooks(): Hook[] {
  const typedefs = (names: string[]) => () => {
    const miss = names.filter((t) => !kernelFeatures.hasBtfType(`btf_trace_${t}`, 'typedef'));
    return miss.length ? `kernel BTF lacks tracepoints ${miss.join(', ')} (before 6.3)` : true;
  };
  const sockLength = typedefs(['sock_send_length', 'sock_recv_length']);
  return [
    {
      name: 'tcp',
      variants: [
        {
          name: 'fexit',
          programs: ['tcptop_send_fexit', 'tcptop_recv_fexit'],
          available: () =>
            kernelFeatures.fentryAvailable('tcp_sendmsg') && kernelFeatures.fentryAvailable('tcp_recvmsg')
              ? true
              : 'fentry/fexit cannot be loaded on tcp_sendmsg/tcp_recvmsg (no BPF trampolines here)',
        },
        {
          name: 'kprobe',
          programs: ['tcptop_send_kp', 'tcptop_send_krp', 'tcptop_recv_kp', 'tcptop_recv_krp'],
          available: needKprobes('tcp_sendmsg', 'tcp_recvmsg'),
        },
        { name: 'tp_btf', programs: ['tcptop_send_btf', 'tcptop_recv_btf'], available: sockLength },
        { name: 'raw_tp', programs: ['tcptop_send_raw', 'tcptop_recv_raw'], available: sockLength },
        {
          name: 'tracepoint',
          programs: ['tcptop_send_tp', 'tcptop_recv_tp'],
          available: () =>
            kernelFeatures.hasTracepoint('sock', 'sock_send_length') && kernelFeatures.hasTracepoint('sock', 'sock_recv_length')
              ? true
              : 'no tracepoints sock:sock_send_length/sock_recv_length',
        },
        {
          name: 'syscalls',
          programs: SYSCALLS.flatMap((s) => [`tcptop_${s}_enter`, `tcptop_${s}_exit`]),
          available: () => {
            const miss = SYSCALLS.flatMap((s) => [`sys_enter_${s}`, `sys_exit_${s}`]).filter((e) => !kernelFeatures.hasTracepoint('syscalls', e));
            return miss.length ? `no tracepoints syscalls:${miss.join(', ')}` : true;
          },
        },
      ],
    },
  ];
}

export const TCPTOP_VARIANTS = tcptopHooks()[0]!.variants.map((v) => v.name);

const ROW_HELP = 'Instance "N" is rank N of the last interval by bytes received plus sent; unfilled ranks have no value.\n';

const field = (item: number, f: Omit<Field<ConnRow>, 'item'>): Field<ConnRow> => ({ item, ...f });

export const tcptop = defineTopNTool({
  name: 'tcptop',
  cluster: CLUSTER,
  // Runs on every socket send and receive of the host (~0.3 µs each as tp_btf, more as a
  // classic tracepoint). On by default all the same: grafana-pcp's eBPF/BCC Overview, the
  // dashboard this agent exists to feed, has a tcptop panel ("active TCP sessions"), and its
  // installation note asks for tcptop. `[tcptop] enabled = false` turns the cost off.
  defaultEnabled: true,
  prefix: PREFIX,
  indom: {
    serial: INDOM,
    oneline: 'top TCP connection rows of the last interval, in rank order',
    help:
      'Instances "0".."conn_count-1": rank 0 is the (process, connection) that received plus sent the most\n' +
      'bytes in the last interval.\n',
  },
  rowHelp: ROW_HELP,
  fields: [
    field(0, { leaf: 'pid', type: PM_TYPE.U32, oneline: 'process id', help: 'Process (thread group) id that sent or received on the connection.\n', get: (r) => r.pid }),
    field(1, {
      leaf: 'comm',
      type: PM_TYPE.STRING,
      oneline: 'command',
      help: "The process's command name, as /proc/PID/comm shows it (read when the process first moved bytes in the interval).\n",
      get: (r) => r.comm,
    }),
    field(2, { leaf: 'laddr', type: PM_TYPE.STRING, oneline: 'local address', help: 'Local IPv4 or IPv6 address of the connection.\n', get: (r) => r.laddr }),
    field(3, { leaf: 'lport', type: PM_TYPE.U32, oneline: 'local port', help: 'Local TCP port.\n', get: (r) => r.lport }),
    field(4, { leaf: 'daddr', type: PM_TYPE.STRING, oneline: 'destination address', help: 'Remote IPv4 or IPv6 address of the connection.\n', get: (r) => r.daddr }),
    field(5, { leaf: 'dport', type: PM_TYPE.U32, oneline: 'destination port', help: 'Remote TCP port.\n', get: (r) => r.dport }),
    field(6, {
      leaf: 'rx',
      type: PM_TYPE.U64,
      units: UNITS.byte,
      oneline: 'bytes received in the last interval',
      help: 'Bytes the process received (read from the socket) on the connection in the last interval; MSG_PEEK reads are not counted.\n',
      get: (r) => r.rx,
    }),
    field(7, {
      leaf: 'tx',
      type: PM_TYPE.U64,
      units: UNITS.byte,
      oneline: 'bytes sent in the last interval',
      help: 'Bytes the process sent (accepted by the socket) on the connection in the last interval.\n',
      get: (r) => r.tx,
    }),
  ],
  config: {
    interval: cfg.int(1, { min: 0, max: 86400 }, 'Seconds per interval; 0 computes the rows at each fetch (they then cover the time since the previous fetch).'),
    conn_count: cfg.int(20, { min: 1, max: 1000 }, 'Number of rows (instances "0".."conn_count-1").'),
    ...filterConfig(),
    variant: variantKey(TCPTOP_VARIANTS),
  },
  sizes: (c) => ({ interval: c.interval, limit: c.conn_count }),
  object: 'tcptop.bpf.o',
  hooks: tcptopHooks,
  layouts: CONN_LAYOUTS,
  filter: true,
  ranker: () => (b, limit) => rankConnections(b.keys, b.values, b.count, limit),
});
