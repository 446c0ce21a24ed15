// The top-N shape as a declaration: a tool whose BPF side counts into topn.bpf.h's two
// generations of maps declares its row fields (one instant metric per field over the rank
// instances "0".."N-1"), how one interval's batch becomes ranked rows, and its hooks; the
// shape supplies metric specs, fetch dispatch and the lifecycle (load with variants, filter,
// interval timer, close once). tcptop and biotop are the two.
import type { BatchResult, BpfObject, ExpectedLayout, Hook, Loaded } from '../../bpf';
import { PM_ERR } from '../../pcp/types';
import type { ConfigSchema, ConfigValuesOf } from '../../pmda/config-schema';
import { defineModule, type FetchResult, type IndomSpec, type ModuleContext, type ModuleSpec } from '../../pmda/module';
import { byItem, fieldMetrics, type Field } from './fields';
import { TaskFilter } from './filter';
import { ToolInstance } from './tool';
import { CountBuffers, TopNTable } from './topn';

export type RowField<Row> = Field<Row>;

export interface TopNToolDecl<S extends ConfigSchema, Row> {
  name: string;
  cluster: number;
  defaultEnabled: boolean;
  prefix: string;
  indom: IndomSpec;
  /** Appended to every field's help: what rank N means. */
  rowHelp: string;
  fields: RowField<Row>[];
  /** The key/value structs the ranker decodes, checked against the object's BTF at load. */
  layouts: ExpectedLayout[];
  config: S;
  /** Interval seconds (0: at each fetch) and number of rows. */
  sizes(c: ConfigValuesOf<S>): { interval: number; limit: number };
  object: string;
  hooks(): Hook[];
  filter?: boolean;
  configure?(obj: BpfObject, c: ConfigValuesOf<S>): void;
  /** One interval's counts → the best `limit` rows, best first. Built once per module instance. */
  ranker(c: ConfigValuesOf<S>): (batch: BatchResult, limit: number) => Row[];
  /** The variant string, when the chosen hooks alone do not say it. */
  variant?(loaded: Loaded): string;
}

class TopNTool<S extends ConfigSchema, Row> extends ToolInstance<ConfigValuesOf<S>> {
  private buffers: CountBuffers | null = null;
  private readonly table: TopNTable<Row>;
  private readonly byItem: Map<number, RowField<Row>>;

  constructor(
    ctx: ModuleContext<ConfigValuesOf<S>>,
    private readonly decl: TopNToolDecl<S, Row>,
  ) {
    super(ctx);
    this.byItem = byItem(decl.fields);
    const rank = decl.ranker(ctx.config);
    this.table = new TopNTable<Row>({
      ...decl.sizes(ctx.config),
      indom: ctx.indom(decl.indom.serial),
      log: ctx.log,
      collect: (limit) => {
        const b = this.buffers;
        if (!b) return [];
        const batch = b.drain();
        const lost = b.takeDropped();
        if (lost) ctx.status.addLost(lost);
        return rank(batch, limit);
      },
    });
  }

  protected open(): void {
    const c = this.ctx.config;
    const filter = this.decl.filter ? TaskFilter.fromConfig(c as Record<string, unknown>, this.ctx.log) : null;
    const loaded = this.load({
      object: this.decl.object,
      hooks: this.decl.hooks(),
      layouts: this.decl.layouts,
      variant: (c as Record<string, unknown>).variant as string | undefined,
      configure: (o) => {
        filter?.configure(o);
        this.decl.configure?.(o, c);
      },
    });
    if (filter) {
      filter.start(loaded.obj);
      this.closer.add('process filter', filter, (f) => f.stop());
      if (filter.active) this.ctx.log.info({ filter: filter.describe() }, 'counting only the filtered tasks');
    }
    this.buffers = new CountBuffers(loaded.obj);
    this.closer.add('count buffers', this, (t) => (t.buffers = null));
    if (this.decl.variant) this.ctx.status.setVariant(this.decl.variant(loaded));
    this.table.start();
    this.closer.add('top-N timer', this.table, (t) => t.stop());
  }

  refresh(): void {
    this.table.beforeFetch();
  }

  fetch(item: number): FetchResult {
    const f = this.byItem.get(item);
    if (!f) return PM_ERR.PMID;
    return this.table.values(f.get);
  }
}

/** The ModuleSpec of a top-N tool. */
export function defineTopNTool<S extends ConfigSchema, Row>(decl: TopNToolDecl<S, Row>): ModuleSpec<S> {
  const metrics = fieldMetrics(decl.prefix, decl.fields, decl.indom.serial, decl.rowHelp);
  return defineModule({
    name: decl.name,
    cluster: decl.cluster,
    defaultEnabled: decl.defaultEnabled,
    metrics,
    indoms: [decl.indom],
    config: decl.config,
    create: (ctx) => new TopNTool(ctx, decl),
  });
}
