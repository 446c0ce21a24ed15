// The event shape: a tool whose BPF side writes one record per event into the `events` ring
// (bpf/include/events.bpf.h) is a declaration of its fields. From one field table come the
// metric specs (one instant metric per field on the ring of the latest events, plus `seq`,
// `lost` and the event-record metric), the event-record parameters, the fetch dispatch and
// the module's lifecycle (load, ring, filter, close once). execsnoop and tcplife are the two.
import type { BpfObject, ExpectedLayout, Hook, Loaded } from '../../bpf';
import { PAGE_SIZE, ringSize } from '../../bpf/ringbuf';
import { PM_ERR, PM_SEM, PM_TYPE, pmid, type EventParam, type PmType, type Units } from '../../pcp/types';
import type { ConfigSchema, ConfigValuesOf } from '../../pmda/config-schema';
import { UNITS, defineModule, type ClientRef, type FetchResult, type IndomSpec, type MetricSpec, type ModuleContext, type ModuleSpec } from '../../pmda/module';
import { EventStream } from './event-stream';
import { byItem, fieldMetrics, type Field } from './fields';
import { TaskFilter } from './filter';
import { ToolInstance } from './tool';

/** One field of an event: a metric over the ring and a parameter of the event record. */
export type EventField<E> = Field<E>;

interface StandardMetric {
  item: number;
  oneline: string;
  help: string;
}

export interface EventToolDecl<S extends ConfigSchema, E> {
  name: string;
  cluster: number;
  defaultEnabled: boolean;
  /** Metric name prefix, e.g. 'bcc.proc.exec.'. */
  prefix: string;
  indom: IndomSpec;
  /** Appended to the help of every field and of seq: how the ring's slots work. */
  slotHelp: string;
  fields: EventField<E>[];
  seq: StandardMetric;
  lost: StandardMetric;
  records: StandardMetric;
  config: S;
  /** Ring slots, per-client queue, drain interval and kernel ring pages from the config. */
  sizes(c: ConfigValuesOf<S>): { ring: number; queue: number; pollIntervalMs: number; bufferPages: number };
  object: string;
  hooks(c: ConfigValuesOf<S>): Hook[];
  /** The record struct(s) the decoder reads, checked against the object's BTF at load. */
  layouts: ExpectedLayout[];
  /** Rodata and other settings before load (the ring size is set by the shape). */
  configure?(obj: BpfObject, c: ConfigValuesOf<S>): void;
  /** The process/cgroup filter keys are in `config` and filter.bpf.h is in the object. */
  filter?: boolean;
  /** One record → an event, or null to drop it (a user-space filter said no). */
  decode(buf: Buffer, off: number, len: number, c: ConfigValuesOf<S>): E | null;
  /** bpf_ktime_get_ns() of the event. */
  monotonicNs(e: E): bigint;
  /** The variant string, when the chosen hooks alone do not say it. */
  variant?(loaded: Loaded): string;
}

class EventTool<S extends ConfigSchema, E> extends ToolInstance<ConfigValuesOf<S>> {
  readonly stream: EventStream<E>;
  private readonly byItem: Map<number, EventField<E>>;

  constructor(
    ctx: ModuleContext<ConfigValuesOf<S>>,
    private readonly decl: EventToolDecl<S, E>,
  ) {
    super(ctx);
    const c = ctx.config;
    const sizes = decl.sizes(c);
    const fields = [...decl.fields].sort((a, b) => a.item - b.item);
    this.byItem = byItem(fields);
    const id = (item: number) => pmid(ctx.domain, decl.cluster, item);
    this.stream = new EventStream<E>(ctx, {
      ring: sizes.ring,
      indom: ctx.indom(decl.indom.serial),
      queue: sizes.queue,
      pollIntervalMs: sizes.pollIntervalMs,
      decode: (buf, off, len) => decl.decode(buf, off, len, c),
      monotonicNs: decl.monotonicNs,
      params: (e, seq): EventParam[] => [
        ...fields.map((f) => ({ pmid: id(f.item), type: f.type, value: f.get(e) as string | number | bigint })),
        { pmid: id(decl.seq.item), type: PM_TYPE.U64, value: seq },
      ],
    });
  }

  protected open(): void {
    const c = this.ctx.config;
    const filter = this.decl.filter ? TaskFilter.fromConfig(c as Record<string, unknown>, this.ctx.log) : null;
    const loaded = this.load({
      object: this.decl.object,
      hooks: this.decl.hooks(c),
      variant: (c as Record<string, unknown>).variant as string | undefined,
      layouts: this.decl.layouts,
      configure: (o) => {
        o.setMapMaxEntries('events', ringSize(this.decl.sizes(c).bufferPages * PAGE_SIZE));
        filter?.configure(o);
        this.decl.configure?.(o, c);
      },
    });
    if (filter) {
      filter.start(loaded.obj);
      this.closer.add('process filter', filter, (f) => f.stop());
    }
    this.stream.attach(loaded.obj);
    this.closer.add('event stream', this.stream, (s) => s.stop());
    if (this.decl.variant) this.ctx.status.setVariant(this.decl.variant(loaded));
  }

  refresh(): void {
    this.stream.refresh();
  }

  fetch(item: number, client: ClientRef): FetchResult {
    const f = this.byItem.get(item);
    if (f) return this.stream.values(f.get);
    if (item === this.decl.seq.item) return this.stream.seqValues();
    if (item === this.decl.lost.item) return this.stream.lostValue();
    if (item === this.decl.records.item) return this.stream.records(client);
    return PM_ERR.PMID;
  }

  clientClosed(slot: number): void {
    this.stream.clientClosed(slot);
  }
}

/** The ModuleSpec of an event tool: metrics from its field table, life cycle from the shape. */
export function defineEventTool<S extends ConfigSchema, E>(decl: EventToolDecl<S, E>): ModuleSpec<S> {
  const serial = decl.indom.serial;
  const m = (s: StandardMetric, leaf: string, type: PmType, sem: MetricSpec['sem'], units: Units, help: string, indom: number | null): MetricSpec => ({
    name: decl.prefix + leaf,
    item: s.item,
    type,
    sem,
    units,
    indom,
    oneline: s.oneline,
    help,
  });
  const metrics: MetricSpec[] = [
    ...fieldMetrics(decl.prefix, decl.fields, serial, decl.slotHelp),
    m(decl.seq, 'seq', PM_TYPE.U64, PM_SEM.INSTANT, UNITS.none, decl.seq.help + decl.slotHelp, serial),
    m(decl.lost, 'lost', PM_TYPE.U64, PM_SEM.COUNTER, UNITS.count, decl.lost.help, null),
    m(decl.records, 'records', PM_TYPE.HIGHRES_EVENT, PM_SEM.INSTANT, UNITS.none, decl.records.help, null),
  ].sort((a, b) => a.item - b.item);
  return defineModule({
    name: decl.name,
    cluster: decl.cluster,
    defaultEnabled: decl.defaultEnabled,
    metrics,
    indoms: [decl.indom],
    config: decl.config,
    create: (ctx) => new EventTool(ctx, decl),
  });
}
