// tcplife → bcc.proc.io.net.tcp.* (pmdabcc cluster 3): the last session_count TCP sessions that
// closed, with their bytes, span and owner, every session through the event-record metric,
// and the sessions the kernel lost. IPv4 and IPv6. Kernel side: bpf/tcplife.bpf.c.
import * as path from 'node:path';
import { NoVariantError, kernelFeatures, loadWithVariants, type Hook, type Loaded } from '../bpf';
import { PAGE_SIZE, ringSize } from '../bpf/ringbuf';
import { PM_ERR, PM_SEM, PM_TYPE, pmid, type EventParam } from '../pcp/types';
import { cfg, type ConfigKey } from '../pmda/config-schema';
import { ModuleUnavailable, UNITS, type ClientRef, type MetricSpec, type ModuleContext, type ModuleInstance, type ModuleSpec } from '../pmda/module';
import { EventStream, cString } from './shared/event-stream';
import { TaskFilter, processKey, processRefreshKey } from './shared/filter';
import { formatAddress } from './tcptop';

const CLUSTER = 3;
const INDOM = 3;
const PREFIX = 'bcc.proc.io.net.tcp.';
/** bpf/tcplife.bpf.c MAX_PORTS */
const MAX_PORTS = 16;

// struct tcplife_event in tcplife.bpf.c
const E_TS = 0;
const E_SPAN = 8;
const E_RX = 16;
const E_TX = 24;
const E_PID = 32;
const E_FAMILY = 36;
const E_LPORT = 38;
const E_DPORT = 40;
const E_SADDR = 48;
const E_DADDR = 64;
const E_COMM = 80;
const E_SIZE = 96;

export interface TcpSession {
  ts: bigint;
  pid: number;
  comm: string;
  laddr: string;
  lport: number;
  daddr: string;
  dport: number;
  tx: bigint;
  rx: bigint;
  /** µs, clamped to u32 as pmdabcc's metric type */
  duration: number;
}

const ITEM = { pid: 0, comm: 1, laddr: 2, lport: 3, daddr: 4, dport: 5, tx: 6, rx: 7, duration: 8, seq: 9, lost: 10, records: 11 } as const;

export function decodeSession(buf: Buffer, off: number, len: number): TcpSession {
  if (len < E_SIZE) throw new Error(`tcplife record of ${len} bytes, expected ${E_SIZE}`);
  const family = buf.readUInt16LE(off + E_FAMILY);
  const span = buf.readBigUInt64LE(off + E_SPAN);
  return {
    ts: buf.readBigUInt64LE(off + E_TS),
    pid: buf.readUInt32LE(off + E_PID),
    comm: cString(buf, off + E_COMM, 16),
    laddr: formatAddress(family, buf, off + E_SADDR),
    lport: buf.readUInt16LE(off + E_LPORT),
    daddr: formatAddress(family, buf, off + E_DADDR),
    dport: buf.readUInt16LE(off + E_DPORT),
    tx: buf.readBigUInt64LE(off + E_TX),
    rx: buf.readBigUInt64LE(off + E_RX),
    duration: span > 0xffffffffn ? 0xffffffff : Number(span),
  };
}

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

function metric(
  item: number,
  leaf: string,
  type: MetricSpec['type'],
  sem: MetricSpec['sem'],
  units: MetricSpec['units'],
  oneline: string,
  help: string,
  indom: number | null = INDOM,
): MetricSpec {
  return { name: PREFIX + leaf, item, type, sem, units, indom, oneline, help };
}

const SLOT_HELP =
  'Instance "0" is the session that closed last, "1" the one before, up to session_count-1; slots not filled yet have no value. ' +
  'Use bcc.proc.io.net.tcp.seq to tell new sessions from ones already seen, and bcc.proc.io.net.tcp.records to get every session.\n';

export const TCPLIFE_VARIANTS = ['tp_btf', 'tracepoint', 'kprobe'] as const;

export const tcplife: ModuleSpec = {
  name: 'tcplife',
  cluster: CLUSTER,
  // One tracepoint per TCP state change: cheap, but not needed on every host.
  defaultEnabled: true,
  indoms: [
    {
      serial: INDOM,
      oneline: 'the most recently closed TCP sessions, "0" the newest',
      help: 'Fixed instances "0".."session_count-1": slot 0 holds the TCP session that closed last, slot 1 the previous one, and so on.\n',
    },
  ],
  metrics: [
    metric(ITEM.pid, 'pid', PM_TYPE.U32, PM_SEM.INSTANT, UNITS.none, 'PID', 'Process that opened the session (connect) or closed it passively; else the task running when it closed.\n' + SLOT_HELP),
    metric(ITEM.comm, 'comm', PM_TYPE.STRING, PM_SEM.INSTANT, UNITS.none, 'command', 'Command name of that process.\n' + SLOT_HELP),
    metric(ITEM.laddr, 'laddr', PM_TYPE.STRING, PM_SEM.INSTANT, UNITS.none, 'local address', 'Local IPv4 or IPv6 address.\n' + SLOT_HELP),
    metric(ITEM.lport, 'lport', PM_TYPE.U32, PM_SEM.INSTANT, UNITS.none, 'local port', 'Local TCP port.\n' + SLOT_HELP),
    metric(ITEM.daddr, 'daddr', PM_TYPE.STRING, PM_SEM.INSTANT, UNITS.none, 'destination address', 'Remote IPv4 or IPv6 address.\n' + SLOT_HELP),
    metric(ITEM.dport, 'dport', PM_TYPE.U32, PM_SEM.INSTANT, UNITS.none, 'destination port', 'Remote TCP port.\n' + SLOT_HELP),
    metric(ITEM.tx, 'tx', PM_TYPE.U64, PM_SEM.INSTANT, UNITS.byte, 'transmitted data', 'Bytes sent and acknowledged (tcp_sock bytes_acked, which counts the FIN as one byte, as BCC tcplife).\n' + SLOT_HELP),
    metric(ITEM.rx, 'rx', PM_TYPE.U64, PM_SEM.INSTANT, UNITS.byte, 'received data', 'Bytes received (tcp_sock bytes_received, which counts the FIN as one byte, as BCC tcplife).\n' + SLOT_HELP),
    metric(
      ITEM.duration,
      'duration',
      PM_TYPE.U32,
      PM_SEM.INSTANT,
      UNITS.usec,
      'duration of the TCP session (from TCP_ESTABLISHED/TCP_SYN_* until TCP_CLOSE)',
      'Microseconds from the last state before FIN_WAIT1 (normally ESTABLISHED) to TCP_CLOSE. A u32 as in pmdabcc: sessions longer than about 71 minutes show 4294967295.\n' +
        SLOT_HELP,
    ),
    metric(
      ITEM.seq,
      'seq',
      PM_TYPE.U64,
      PM_SEM.INSTANT,
      UNITS.none,
      'sequence number of the session in each slot',
      'Sessions reported by this module are numbered from 1 in the order they closed (after the process and port filters). ' +
        'A slot whose seq did not change since the last sample holds the same session; the newest seq minus the previous newest is how many sessions closed in between.\n' +
        SLOT_HELP,
    ),
    metric(
      ITEM.lost,
      'lost',
      PM_TYPE.U64,
      PM_SEM.COUNTER,
      UNITS.count,
      'sessions the kernel could not report',
      'Sessions dropped in the kernel because the ring buffer was full (raise buffer_page_count). Counted since the agent started.\n',
      null,
    ),
    metric(
      ITEM.records,
      'records',
      PM_TYPE.HIGHRES_EVENT,
      PM_SEM.INSTANT,
      UNITS.none,
      'every TCP session closed since this client last fetched this metric',
      'Event records, one per session, time-stamped when it closed, with parameters bcc.proc.io.net.tcp.{pid,comm,laddr,lport,daddr,dport,tx,rx,duration,seq}. ' +
        "Each client gets each session once: a client's first fetch starts its stream (no records), each later fetch returns the sessions since its previous one. " +
        'At most queue_size sessions are held for a client that fetches rarely; beyond that it gets a "missed" record with the count. ' +
        'pmlogger archives of this metric hold every session; read them with pmevent or pmdumplog.\n',
      null,
    ),
  ],
  config: {
    process: processKey(),
    process_refresh: processRefreshKey(),
    lport: portsKey('local'),
    dport: portsKey('remote'),
    session_count: cfg.int(20, { min: 1, max: 10000 }, 'Number of recent sessions kept (instances "0".."session_count-1").'),
    buffer_page_count: cfg.int(64, { min: 1, max: 262144 }, 'Kernel ring buffer size in pages; rounded up to a power of two. Sessions beyond it between two drains are lost (see lost).'),
    queue_size: cfg.int(10000, { min: 1, max: 1000000 }, 'Most sessions held for one client of bcc.proc.io.net.tcp.records between two of its fetches.'),
    poll_interval: cfg.int(100, { min: 1, max: 10000 }, 'Longest time in milliseconds between two drains of the kernel ring buffer (shorter while it fills up).'),
    variant: cfg.enumOf('auto', ['auto', ...TCPLIFE_VARIANTS], 'Attach variant: auto picks the best this kernel supports; naming one forces it (diagnosis).'),
  },
  create: (ctx) => new Tcplife(ctx),
};

export function tcplifeHooks(variant = 'auto'): Hook[] {
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
      available: () =>
        !kernelFeatures.kprobesAvailable() ? 'kprobes are not available (no kprobe PMU or kprobe_events)' : kernelFeatures.hasKsym('tcp_set_state') || 'kernel has no symbol tcp_set_state',
    },
  ];
  return [{ name: 'inet_sock_set_state', variants: variant === 'auto' ? all : all.filter((v) => v.name === variant) }];
}

export function portList(ports: number[]): { list: Buffer; n: number } {
  const list = Buffer.alloc(2 * MAX_PORTS);
  ports.forEach((p, i) => list.writeUInt16LE(p, 2 * i));
  return { list, n: ports.length };
}

class Tcplife implements ModuleInstance {
  private loaded: Loaded | null = null;
  private readonly stream: EventStream<TcpSession>;
  private readonly filter: TaskFilter;

  constructor(private readonly ctx: ModuleContext) {
    const c = ctx.config;
    const id = (item: number) => pmid(ctx.domain, CLUSTER, item);
    this.filter = TaskFilter.fromConfig(c, ctx.log);
    this.stream = new EventStream<TcpSession>(ctx, {
      ring: c.session_count as number,
      indom: ctx.indom(INDOM),
      queue: c.queue_size as number,
      pollIntervalMs: c.poll_interval as number,
      decode: decodeSession,
      monotonicNs: (s) => s.ts,
      params: (s, seq): EventParam[] => [
        { pmid: id(ITEM.pid), type: PM_TYPE.U32, value: s.pid },
        { pmid: id(ITEM.comm), type: PM_TYPE.STRING, value: s.comm },
        { pmid: id(ITEM.laddr), type: PM_TYPE.STRING, value: s.laddr },
        { pmid: id(ITEM.lport), type: PM_TYPE.U32, value: s.lport },
        { pmid: id(ITEM.daddr), type: PM_TYPE.STRING, value: s.daddr },
        { pmid: id(ITEM.dport), type: PM_TYPE.U32, value: s.dport },
        { pmid: id(ITEM.tx), type: PM_TYPE.U64, value: s.tx },
        { pmid: id(ITEM.rx), type: PM_TYPE.U64, value: s.rx },
        { pmid: id(ITEM.duration), type: PM_TYPE.U32, value: s.duration },
        { pmid: id(ITEM.seq), type: PM_TYPE.U64, value: seq },
      ],
    });
  }

  async start(): Promise<void> {
    const c = this.ctx.config;
    const lports = portList(c.lport as number[]);
    const dports = portList(c.dport as number[]);
    const file = path.join(this.ctx.paths.bpfDir, 'tcplife.bpf.o');
    try {
      this.loaded = loadWithVariants(
        file,
        tcplifeHooks(c.variant as string),
        (obj) => {
          obj.setRodata({ lports: lports.list, n_lports: lports.n, dports: dports.list, n_dports: dports.n });
          obj.setMapMaxEntries('events', ringSize((c.buffer_page_count as number) * PAGE_SIZE));
          this.filter.configure(obj);
        },
        this.ctx.log,
      );
    } catch (e) {
      if (e instanceof NoVariantError) throw new ModuleUnavailable(e.message);
      throw e;
    }
    try {
      this.filter.start(this.loaded.obj);
      this.stream.attach(this.loaded.obj);
    } catch (e) {
      this.filter.stop();
      this.loaded.obj.close();
      this.loaded = null;
      throw e;
    }
    this.ctx.status.setVariant(this.loaded.chosen.inet_sock_set_state!);
  }

  refresh(): void {
    this.stream.refresh();
  }

  fetch(item: number, client: ClientRef) {
    switch (item) {
      case ITEM.pid:
        return this.stream.values((s) => s.pid);
      case ITEM.comm:
        return this.stream.values((s) => s.comm);
      case ITEM.laddr:
        return this.stream.values((s) => s.laddr);
      case ITEM.lport:
        return this.stream.values((s) => s.lport);
      case ITEM.daddr:
        return this.stream.values((s) => s.daddr);
      case ITEM.dport:
        return this.stream.values((s) => s.dport);
      case ITEM.tx:
        return this.stream.values((s) => s.tx);
      case ITEM.rx:
        return this.stream.values((s) => s.rx);
      case ITEM.duration:
        return this.stream.values((s) => s.duration);
      case ITEM.seq:
        return this.stream.seqValues();
      case ITEM.lost:
        return this.stream.lostValue();
      case ITEM.records:
        return this.stream.records(client);
      default:
        return PM_ERR.PMID;
    }
  }

  clientClosed(slot: number): void {
    this.stream.clientClosed(slot);
  }

  async stop(): Promise<void> {
    this.filter.stop();
    this.stream.stop();
    this.loaded?.obj.close();
    this.loaded = null;
  }
}
