// tcpretrans → bcc.io.net.tcp.retrans.count (pmdabcc cluster 9): TCP retransmits per flow,
// one instance per flow named as pmdabcc names it, "<saddr>:<lport>::<daddr>:<dport>".
//
// pmdabcc added an instance for every flow that ever retransmitted and never removed one, so
// the set grew without bound on a busy host, and its flow_count option was ignored. Here the
// instance set holds at most flow_count flows, the ones that retransmitted most recently;
// a flow also leaves the set when it has not retransmitted for flow_idle seconds. A flow that
// leaves keeps its instance id (ids are never given to another flow), and if it retransmits
// again it comes back under that id with its count continued, so the counter never goes back.
// Kernel side: bpf/tcpretrans.bpf.c counts into a hash map; each refresh reads it in one batch.
import { kernelFeatures, needKprobes, type BpfMap, type Hook } from '../bpf';
import { DropCounter } from '../bpf/ringbuf';
import { PM_ERR, PM_SEM, PM_TYPE } from '../pcp/types';
import { cfg, type ConfigValuesOf } from '../pmda/config-schema';
import { UNITS, defineModule, type ModuleContext } from '../pmda/module';
import { ToolInstance, variantKey } from './shared/tool';
import { FLOW_KEY_LAYOUT, FLOW_KEY_SIZE, FlowTable, flowName } from './tcpretrans-flows';

const CLUSTER = 9;
const INDOM = 9;

export { FLOW_KEY_SIZE, FlowTable, flowName } from './tcpretrans-flows';

export const TCPRETRANS_VARIANTS = ['tp_btf', 'tracepoint', 'kprobe'] as const;

const config = {
  include_tlp: cfg.bool(false, 'Also count tail loss probes. Needs a kprobe on tcp_send_loss_probe (no tracepoint exists); where kprobes are unavailable the module runs without it and says so in its status.'),
  flow_count: cfg.int(20, { min: 1, max: 100000 }, 'Most flows exported (instances): the ones that retransmitted most recently.'),
  flow_idle: cfg.int(600, { min: 0, max: 86400 * 7 }, 'Seconds without a retransmit after which a flow leaves the instance set (0: only flow_count limits it).'),
  buffer_page_count: cfg.int(64, { min: 1, max: 262144 }, 'Accepted for pmdabcc compatibility; unused (counts are read from a map, not a buffer).'),
  variant: variantKey(TCPRETRANS_VARIANTS),
};

export const tcpretrans = defineModule({
  name: 'tcpretrans',
  cluster: CLUSTER,
  // Fires only on retransmits: next to no cost.
  defaultEnabled: true,
  indoms: [
    {
      serial: INDOM,
      oneline: 'TCP flows that retransmitted recently',
      help:
        'One instance per TCP flow, named "<saddr>:<lport>::<daddr>:<dport>" as in pmdabcc. At most flow_count flows, the ones that ' +
        'retransmitted most recently; a flow idle for flow_idle seconds leaves the set. Ids are never reused for another flow.\n',
    },
  ],
  metrics: [
    {
      name: 'bcc.io.net.tcp.retrans.count',
      item: 0,
      type: PM_TYPE.U64,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      indom: INDOM,
      oneline: 'retransmits',
      help:
        'TCP segments retransmitted on this flow since the agent started (tcp:tcp_retransmit_skb, per retransmitted skb; ' +
        'with include_tlp, tail loss probes too). A flow that leaves the instance set and comes back continues its count.\n',
    },
  ],
  config,
  create: (ctx) => new Tcpretrans(ctx),
});

export function tcpretransHooks(): Hook[] {
  const all = [
    {
      name: 'tp_btf',
      programs: ['retrans_btf'],
      available: () => kernelFeatures.hasBtfType('btf_trace_tcp_retransmit_skb', 'typedef') || 'kernel BTF has no tracepoint tcp_retransmit_skb',
    },
    { name: 'tracepoint', programs: ['retrans_tp'], available: () => kernelFeatures.hasTracepoint('tcp', 'tcp_retransmit_skb') || 'no tracepoint tcp:tcp_retransmit_skb' },
    { name: 'kprobe', programs: ['retrans_kprobe'], available: needKprobes('tcp_retransmit_skb') },
  ];
  return [{ name: 'retransmit', variants: all }];
}

class Tcpretrans extends ToolInstance<ConfigValuesOf<typeof config>> {
  private map: BpfMap | null = null;
  private drops: DropCounter | null = null;
  private readonly flows: FlowTable;

  constructor(ctx: ModuleContext<ConfigValuesOf<typeof config>>) {
    super(ctx);
    this.flows = new FlowTable(ctx.indom(INDOM), ctx.config.flow_count, ctx.config.flow_idle * 1000);
  }

  protected open(): void {
    const c = this.ctx.config;
    const hooks = tcpretransHooks();
    let tlp = 'off';
    if (c.include_tlp) {
      const why = needKprobes('tcp_send_loss_probe')();
      if (why === true) hooks.push({ name: 'tlp', variants: [{ name: 'kprobe', programs: ['tlp_kprobe'], available: () => true }] });
      else tlp = `unavailable: ${why}`;
    }
    const loaded = this.load({
      object: 'tcpretrans.bpf.o',
      hooks,
      variant: c.variant,
      layouts: [FLOW_KEY_LAYOUT],
    });
    if (loaded.chosen.tlp) tlp = 'kprobe';
    if (c.include_tlp && tlp !== 'kprobe') this.ctx.log.warn({ reason: tlp }, 'include_tlp: tail loss probes cannot be counted on this kernel');
    this.map = loaded.obj.map('retrans');
    this.drops = new DropCounter(loaded.obj.map('drops'));
    this.closer.add('map reader', this, (t) => {
      t.map = null;
      t.drops = null;
    });
    this.ctx.status.setVariant(`${loaded.chosen.retransmit}; tlp ${tlp}`);
  }

  refresh(): void {
    if (!this.map) return;
    const now = Date.now();
    const { count, keys, values } = this.map.lookupBatch();
    for (let i = 0; i < count; i++) {
      const off = i * FLOW_KEY_SIZE;
      this.flows.observe(flowName(keys, off), values.readBigUInt64LE(i * 8), keys.subarray(off, off + FLOW_KEY_SIZE), now);
    }
    // Entries of flows that left the set go from the kernel map too, so it never fills up
    // with dead flows; a late retransmit on one simply re-creates it.
    for (const key of this.flows.prune(now)) this.map.delete(key);
    const d = this.drops!.delta();
    if (d > 0n) this.ctx.status.addLost(d);
  }

  fetch(item: number) {
    if (item !== 0) return PM_ERR.PMID;
    return this.flows.values();
  }

}
