// tcplife → bcc.proc.io.net.tcp.* (pmdabcc cluster 3): the last session_count TCP sessions that
// closed, with their bytes, span and owner, every session through the event-record metric,
// and the sessions the kernel lost. IPv4 and IPv6. Kernel side: bpf/tcplife.bpf.c.
import { kernelFeatures, needKprobes, type Hook } from '../bpf';
import { PM_TYPE } from '../pcp/types';
import { cfg, type ConfigKey } from '../pmda/config-schema';
import { UNITS } from '../pmda/module';
import { defineEventTool, type EventField } from './shared/event-tool';
import { processKey, processRefreshKey } from './shared/filter';
import { variantKey } from './shared/tool';
import { SESSION_LAYOUT, decodeSession, type TcpSession } from './tcplife-record';

/** bpf/tcplife.bpf.c MAX_PORTS */
const MAX_PORTS = 16;

export { decodeSession, type TcpSession } from './tcplife-record';

/** pmdabcc's comma list of ports; the BPF side compares against at most MAX_PORTS. */
export function portsKey(which: string): ConfigKey<number[]> {
  const base = cfg.intList([], { min: 1, max: 65535 }, `Only sessions with one of these ${which} ports (comma list, at most ${MAX_PORTS}).`);
  return {
    ...base,
    parse(raw) {
      const ports = base.parse(raw);
      if (ports.length > MAX_PORTS) throw new Error(`${ports.length} ports given, at most ${MAX_PORTS} are supported`);
      return ports;
    },
  };
}

const SLOT_HELP =
  'Instance "0" is the session that closed last, "1" the one before, up to session_count-1; slots not filled yet have no value. ' +
  'Use bcc.proc.io.net.tcp.seq to tell new sessions from ones already seen, and bcc.proc.io.net.tcp.records to get every session.\n';

export const TCPLIFE_VARIANTS = ['tp_btf', 'tracepoint', 'kprobe'] as const;

const fields: EventField<TcpSession>[] = [
  { leaf: 'pid', item: 0, type: PM_TYPE.U32, oneline: 'PID', help: 'Process that opened the session (connect) or closed it passively; else the task running when it closed.\n', get: (s) => s.pid },
  { leaf: 'comm', item: 1, type: PM_TYPE.STRING, oneline: 'command', help: 'Command name of that process.\n', get: (s) => s.comm },
  { leaf: 'laddr', item: 2, type: PM_TYPE.STRING, oneline: 'local address', help: 'Local IPv4 or IPv6 address.\n', get: (s) => s.laddr },
  { leaf: 'lport', item: 3, type: PM_TYPE.U32, oneline: 'local port', help: 'Local TCP port.\n', get: (s) => s.lport },
  { leaf: 'daddr', item: 4, type: PM_TYPE.STRING, oneline: 'destination address', help: 'Remote IPv4 or IPv6 address.\n', get: (s) => s.daddr },
  { leaf: 'dport', item: 5, type: PM_TYPE.U32, oneline: 'destination port', help: 'Remote TCP port.\n', get: (s) => s.dport },
  {
    leaf: 'tx',
    item: 6,
    type: PM_TYPE.U64,
    units: UNITS.byte,
    oneline: 'transmitted data',
    help: 'Bytes sent and acknowledged (tcp_sock bytes_acked, which counts the FIN as one byte, as BCC tcplife).\n',
    get: (s) => s.tx,
  },
  {
    leaf: 'rx',
    item: 7,
    type: PM_TYPE.U64,
    units: UNITS.byte,
    oneline: 'received data',
    help: 'Bytes received (tcp_sock bytes_received, which counts the FIN as one byte, as BCC tcplife).\n',
    get: (s) => s.rx,
  },
  {
    leaf: 'duration',
    item: 8,
    type: PM_TYPE.U32,
    units: UNITS.usec,
    oneline: 'duration of the TCP session (from TCP_ESTABLISHED/TCP_SYN_* until TCP_CLOSE)',
    help: 'Microseconds from the last state before FIN_WAIT1 (normally ESTABLISHED) to TCP_CLOSE. A u32 as in pmdabcc: sessions longer than about 71 minutes show 4294967295.\n',
    get: (s) => s.duration,
  },
];

export const tcplife = defineEventTool({
  name: 'tcplife',
  cluster: 3,
  // One tracepoint per TCP state change: cheap, but not needed on every host.
  defaultEnabled: true,
  prefix: 'bcc.proc.io.net.tcp.',
  indom: {
    serial: 3,
    oneline: 'the most recently closed TCP sessions, "0" the newest',
    help: 'Fixed instances "0".."session_count-1": slot 0 holds the TCP session that closed last, slot 1 the previous one, and so on.\n',
  },
  slotHelp: SLOT_HELP,
  fields,
  seq: {
    item: 9,
    oneline: 'sequence number of the session in each slot',
    help:
      'Sessions reported by this module are numbered from 1 in the order they closed (after the process and port filters). ' +
      'A slot whose seq did not change since the last sample holds the same session; the newest seq minus the previous newest is how many sessions closed in between.\n',
  },
  lost: {
    item: 10,
    oneline: 'sessions the kernel could not report',
    help: 'Sessions dropped in the kernel because the ring buffer was full (raise buffer_page_count). Counted since the agent started.\n',
  },
  records: {
    item: 11,
    oneline: 'every TCP session closed since this client last fetched this metric',
    help:
      'Event records, one per session, time-stamped when it closed, with parameters bcc.proc.io.net.tcp.{pid,comm,laddr,lport,daddr,dport,tx,rx,duration,seq}. ' +
      "Each client gets each session once: a client's first fetch starts its stream (no records), each later fetch returns the sessions since its previous one. " +
      'At most queue_size sessions are held for a client that fetches rarely; beyond that it gets a "missed" record with the count. ' +
      'pmlogger archives of this metric hold every session; read them with pmevent or pmdumplog.\n',
  },
  config: {
    process: processKey(),
    process_refresh: processRefreshKey(),
    lport: portsKey('local'),
    dport: portsKey('remote'),
    session_count: cfg.int(20, { min: 1, max: 10000 }, 'Number of recent sessions kept (instances "0".."session_count-1").'),
    buffer_page_count: cfg.int(64, { min: 1, max: 262144 }, 'Kernel ring buffer size in pages; rounded up to a power of two. Sessions beyond it between two drains are lost (see lost).'),
    queue_size: cfg.int(10000, { min: 1, max: 1000000 }, 'Most sessions held for one client of bcc.proc.io.net.tcp.records between two of its fetches.'),
    poll_interval: cfg.int(100, { min: 1, max: 10000 }, 'Longest time in milliseconds between two drains of the kernel ring buffer (shorter while it fills up).'),
    variant: variantKey(TCPLIFE_VARIANTS),
  },
  sizes: (c) => ({ ring: c.session_count, queue: c.queue_size, pollIntervalMs: c.poll_interval, bufferPages: c.buffer_page_count }),
  object: 'tcplife.bpf.o',
  hooks: () => tcplifeHooks(),
  filter: true,
  layouts: [SESSION_LAYOUT],
  configure(obj, c) {
    const lports = portList(c.lport);
    const dports = portList(c.dport);
    obj.setRodata({ lports: lports.list, n_lports: lports.n, dports: dports.list, n_dports: dports.n });
  },
  decode: (buf, off, len) => decodeSession(buf, off, len),
  monotonicNs: (s) => s.ts,
});

export function tcplifeHooks(): Hook[] {
  const all = [
    {
      name: 'tp_btf',
      programs: ['tcplife_btf'],
      available: () => kernelFeatures.hasBtfType('btf_trace_inet_sock_set_state', 'typedef') || 'kernel BTF has no tracepoint inet_sock_set_state',
    },
    {
      name: 'tracepoint',
      programs: ['tcplife_tp'],
      available: () => kernelFeatures.hasTracepoint('sock', 'inet_sock_set_state') || 'no tracepoint sock:inet_sock_set_state',
    },
    {
      name: 'kprobe',
      programs: ['tcplife_kprobe'],
      available: needKprobes('tcp_set_state'),
    },
  ];
  return [{ name: 'inet_sock_set_state', variants: all }];
}

export function portList(ports: number[]): { list: Buffer; n: number } {
  const list = Buffer.alloc(2 * MAX_PORTS);
  ports.forEach((p, i) => list.writeUInt16LE(p, 2 * i));
  return { list, n: ports.length };
}

