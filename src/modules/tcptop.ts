// tcptop → bcc.proc.io.net.tcptop.* (pmdabcc cluster 12): TCP connections that moved the most
// bytes in the last interval, one row per (process, local address:port, remote address:port),
// the top conn_count rows by rx + tx. IPv4 and IPv6. Kernel side: bpf/tcptop.bpf.c.
import * as path from 'node:path';
import { NoVariantError, kernelFeatures, loadWithVariants, type Hook, type Loaded } from '../bpf';
import { PM_ERR, PM_SEM, PM_TYPE } from '../pcp/types';
import { cfg } from '../pmda/config-schema';
import { ModuleUnavailable, UNITS, type MetricSpec, type ModuleContext, type ModuleInstance, type ModuleSpec } from '../pmda/module';
import { TaskFilter, filterConfig } from './shared/filter';
import { cString, formatAddress, u64Number } from './shared/bytes';
import { CountBuffers, TopNTable, onlyVariant, selectTop } from './shared/topn';

const CLUSTER = 12;
const INDOM = 12;
const PREFIX = 'bcc.proc.io.net.tcptop.';

// struct conn_key / conn_val in tcptop.bpf.c
const KEY_SIZE = 44;
const K_PID = 0;
const K_FAMILY = 4;
const K_LPORT = 6;
const K_DPORT = 8;
const K_LADDR = 12;
const K_DADDR = 28;
const VAL_SIZE = 32;
const V_RX = 0;
const V_TX = 8;
const V_COMM = 16;


export interface ConnRow {
  pid: number;
  comm: string;
  laddr: string;
  lport: number;
  daddr: string;
  dport: number;
  rx: bigint;
  tx: bigint;
}

export { formatAddress } from './shared/bytes';

/** The best `limit` connections of one interval, most bytes (rx + tx) first. */
export function rankConnections(keys: Buffer, values: Buffer, count: number, limit: number): ConnRow[] {
  const total = new Float64Array(count);
  for (let i = 0; i < count; i++) total[i] = u64Number(values, i * VAL_SIZE + V_RX) + u64Number(values, i * VAL_SIZE + V_TX);
  const before = (a: number, b: number): boolean => {
    if (total[a] !== total[b]) return total[a]! > total[b]!;
    // ties: a fixed order of the key bytes, so equal rows never swap places between intervals
    // (Buffer#compare compares the source range, the last two arguments, against the target's)
    return keys.compare(keys, b * KEY_SIZE, (b + 1) * KEY_SIZE, a * KEY_SIZE, (a + 1) * KEY_SIZE) < 0;
  };
  return selectTop(count, limit, before).map((i) => {
    const k = i * KEY_SIZE;
    const v = i * VAL_SIZE;
    const family = keys.readUInt16LE(k + K_FAMILY);
    return {
      pid: keys.readUInt32LE(k + K_PID),
      comm: cString(values, v + V_COMM, 16),
      laddr: formatAddress(family, keys, k + K_LADDR),
      lport: keys.readUInt16LE(k + K_LPORT),
      daddr: formatAddress(family, keys, k + K_DADDR),
      dport: keys.readUInt16LE(k + K_DPORT),
      rx: values.readBigUInt64LE(v + V_RX),
      tx: values.readBigUInt64LE(v + V_TX),
    };
  });
}

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
          available: () => {
            if (!kernelFeatures.kprobesAvailable()) return 'kprobes are not available (no kprobe PMU or kprobe_events)';
            const miss = ['tcp_sendmsg', 'tcp_recvmsg'].filter((f) => !kernelFeatures.hasKsym(f));
            return miss.length ? `kernel has no symbol ${miss.join(', ')}` : true;
          },
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

function metric(item: number, leaf: string, type: MetricSpec['type'], units: MetricSpec['units'], oneline: string, help: string): MetricSpec {
  return { name: PREFIX + leaf, item, type, sem: PM_SEM.INSTANT, units, indom: INDOM, oneline, help };
}

const ROW_HELP = 'Instance "N" is rank N of the last interval by bytes received plus sent; unfilled ranks have no value.\n';

export const tcptop: ModuleSpec = {
  name: 'tcptop',
  cluster: CLUSTER,
  // Runs on every socket send and receive of the host (~0.3 µs each as tp_btf, more as a
  // classic tracepoint). On by default all the same: grafana-pcp's eBPF/BCC Overview, the
  // dashboard this agent exists to feed, has a tcptop panel ("active TCP sessions"), and its
  // installation note asks for tcptop. `[tcptop] enabled = false` turns the cost off.
  defaultEnabled: true,
  indoms: [
    {
      serial: INDOM,
      oneline: 'top TCP connection rows of the last interval, in rank order',
      help:
        'Instances "0".."conn_count-1": rank 0 is the (process, connection) that received plus sent the most\n' +
        'bytes in the last interval.\n',
    },
  ],
  metrics: [
    metric(0, 'pid', PM_TYPE.U32, UNITS.none, 'process id', 'Process (thread group) id that sent or received on the connection.\n' + ROW_HELP),
    metric(1, 'comm', PM_TYPE.STRING, UNITS.none, 'command', "The process's command name, as /proc/PID/comm shows it (read when the process first moved bytes in the interval).\n" + ROW_HELP),
    metric(2, 'laddr', PM_TYPE.STRING, UNITS.none, 'local address', 'Local IPv4 or IPv6 address of the connection.\n' + ROW_HELP),
    metric(3, 'lport', PM_TYPE.U32, UNITS.none, 'local port', 'Local TCP port.\n' + ROW_HELP),
    metric(4, 'daddr', PM_TYPE.STRING, UNITS.none, 'destination address', 'Remote IPv4 or IPv6 address of the connection.\n' + ROW_HELP),
    metric(5, 'dport', PM_TYPE.U32, UNITS.none, 'destination port', 'Remote TCP port.\n' + ROW_HELP),
    metric(6, 'rx', PM_TYPE.U64, UNITS.byte, 'bytes received in the last interval', 'Bytes the process received (read from the socket) on the connection in the last interval; MSG_PEEK reads are not counted.\n' + ROW_HELP),
    metric(7, 'tx', PM_TYPE.U64, UNITS.byte, 'bytes sent in the last interval', 'Bytes the process sent (accepted by the socket) on the connection in the last interval.\n' + ROW_HELP),
  ],
  config: {
    interval: cfg.int(1, { min: 0, max: 86400 }, 'Seconds per interval; 0 computes the rows at each fetch (they then cover the time since the previous fetch).'),
    conn_count: cfg.int(20, { min: 1, max: 1000 }, 'Number of rows (instances "0".."conn_count-1").'),
    ...filterConfig(),
    variant: cfg.enumOf('auto', ['auto', ...TCPTOP_VARIANTS], 'Attach variant: auto picks the best this kernel supports; naming one forces it (diagnosis).'),
  },
  create: (ctx) => new Tcptop(ctx),
};

type Getter = (r: ConnRow) => number | bigint | string;
const GETTERS: Getter[] = [(r) => r.pid, (r) => r.comm, (r) => r.laddr, (r) => r.lport, (r) => r.daddr, (r) => r.dport, (r) => r.rx, (r) => r.tx];

class Tcptop implements ModuleInstance {
  private loaded: Loaded | null = null;
  private buffers: CountBuffers | null = null;
  private readonly table: TopNTable<ConnRow>;
  private readonly filter: TaskFilter;

  constructor(private readonly ctx: ModuleContext) {
    this.filter = TaskFilter.fromConfig(ctx.config, ctx.log);
    this.table = new TopNTable<ConnRow>({
      interval: ctx.config.interval as number,
      limit: ctx.config.conn_count as number,
      indom: ctx.indom(INDOM),
      log: ctx.log,
      collect: (limit) => {
        const b = this.buffers;
        if (!b) return [];
        const batch = b.drain();
        const lost = b.takeDropped();
        if (lost) ctx.status.addLost(lost);
        return rankConnections(batch.keys, batch.values, batch.count, limit);
      },
    });
  }

  async start(): Promise<void> {
    const file = path.join(this.ctx.paths.bpfDir, 'tcptop.bpf.o');
    const hooks = onlyVariant(tcptopHooks(), this.ctx.config.variant as string);
    try {
      this.loaded = loadWithVariants(file, hooks, (o) => this.filter.configure(o), this.ctx.log);
    } catch (e) {
      if (e instanceof NoVariantError) throw new ModuleUnavailable(e.message);
      throw e;
    }
    this.filter.start(this.loaded.obj);
    this.buffers = new CountBuffers(this.loaded.obj);
    this.ctx.status.setVariant(this.loaded.chosen.tcp!);
    if (this.filter.active) this.ctx.log.info({ filter: this.filter.describe() }, 'counting only the filtered tasks');
    this.table.start();
  }

  refresh(): void {
    this.table.beforeFetch();
  }

  fetch(item: number) {
    const get = GETTERS[item];
    if (!get) return PM_ERR.PMID;
    return this.table.values(get);
  }

  async stop(): Promise<void> {
    this.table.stop();
    this.filter.stop();
    this.buffers = null;
    this.loaded?.obj.close();
    this.loaded = null;
  }
}
