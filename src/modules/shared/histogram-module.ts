// The life cycle every log2-histogram tool shares (runqlat, biolatency, ext4/xfs/zfsdist):
// choose variants and load the object, apply the process/cgroup filter, read the `hist` map
// once per fetch, serve one histogram per metric item from one shared indom, close on stop.
import type { BpfObject, Hook, Loaded } from '../../bpf';
import { PM_ERR } from '../../pcp/types';
import type { ClientRef, ConfigValues, FetchResult, ModuleContext } from '../../pmda/module';
import { TaskFilter } from './filter';
import { Log2Histograms } from './histogram';
import { QuantileWindows, defineQuantiles } from './quantiles';
import { ToolInstance } from './tool';

const MISSES_CHECK_MS = 5000;

export interface HistogramToolOptions {
  /** Object file name in ctx.paths.bpfDir, e.g. 'runqlat.bpf.o'. */
  object: string;
  hooks: Hook[];
  /** Number of histograms in the object's `hist` map (HIST_MAP(hist, n)). */
  histograms: number;
  indomSerial: number;
  /** Metric item → histogram index; null for an item of this module that has no values now
   *  (e.g. an operation switched off in the config); undefined for an unknown item. */
  itemToHistogram: (item: number) => number | null | undefined;
  /** Whether the module has the process/cgroup keys (filterConfig()). */
  filter: boolean;
  /** Quantile metrics (shared/quantiles.ts): their indom, and item → histogram index as for
   *  itemToHistogram (undefined: not a quantile item). */
  quantiles?: { indomSerial: number; itemToHistogram: (item: number) => number | null | undefined };
  /** Called before start: throw ModuleUnavailable when the tool cannot work here. */
  precheck?: () => void;
  /** Extra rodata / autoload settings before load. */
  configure?: (o: BpfObject) => void;
}

export class HistogramTool extends ToolInstance<ConfigValues> {
  private loaded: Loaded | null = null;
  private hist: Log2Histograms | null = null;
  private programs: string[] = [];
  private misses = 0n;
  private missesCheckedAt = 0;
  private readonly windows = new QuantileWindows();

  constructor(
    ctx: ModuleContext<ConfigValues>,
    private readonly opts: HistogramToolOptions,
  ) {
    super(ctx);
  }

  protected open(): void {
    this.opts.precheck?.();
    const filter = this.opts.filter ? TaskFilter.fromConfig(this.ctx.config, this.ctx.log) : null;
    // Programs outside the hooks (variants of switched-off operations) stay unloaded.
    const loaded = this.load({
      object: this.opts.object,
      hooks: this.opts.hooks,
      variant: this.ctx.config.variant as string | undefined,
      configure: (o) => {
        filter?.configure(o);
        this.opts.configure?.(o);
      },
    });
    this.loaded = loaded;
    this.programs = loaded.obj.loadedPrograms();
    this.misses = this.recursionMisses();
    this.missesCheckedAt = Date.now();
    const map = loaded.obj.map('hist');
    if (this.opts.quantiles) defineQuantiles(this.ctx.indom(this.opts.quantiles.indomSerial));
    if (this.hist) this.hist.rebind(map);
    else this.hist = new Log2Histograms(map, this.ctx.indom(this.opts.indomSerial), this.opts.histograms);
    // Before the object closes: count the last misses, stop reading the map.
    this.closer.add('histogram reader', this, (t) => {
      t.countMisses();
      t.hist?.rebind(null);
      t.loaded = null;
    });
    if (filter?.active) {
      filter.start(loaded.obj);
      this.closer.add('process filter', filter, (f) => f.stop());
      this.ctx.log.info({ filter: filter.describe() }, 'filter on');
    }
  }

  refresh(): void {
    this.hist?.refresh();
    if (Date.now() - this.missesCheckedAt >= MISSES_CHECK_MS) this.countMisses();
  }

  /**
   * Events the programs never saw: the kernel skips a tracing program when another BPF program
   * is already running on that CPU (e.g. a block completion interrupt arriving during a syscall
   * tracepoint program). Reported as the module's lost count; one syscall per program, so
   * checked every few seconds rather than on every fetch.
   */
  private countMisses(): void {
    this.missesCheckedAt = Date.now();
    const now = this.recursionMisses();
    if (now > this.misses) this.ctx.status.addLost(now - this.misses);
    this.misses = now;
  }

  private recursionMisses(): bigint {
    let n = 0n;
    const obj = this.loaded?.obj;
    if (!obj) return n;
    for (const p of this.programs) n += obj.programStats(p).recursionMisses;
    return n;
  }

  fetch(item: number, client: ClientRef): FetchResult {
    const qh = this.opts.quantiles?.itemToHistogram(item);
    if (qh !== undefined) {
      if (qh === null) return [];
      return this.hist ? this.windows.fetch(client, qh, this.hist.slots(qh)) : PM_ERR.AGAIN;
    }
    const h = this.opts.itemToHistogram(item);
    if (h === undefined) return PM_ERR.PMID;
    if (h === null) return [];
    if (!this.hist) return PM_ERR.AGAIN;
    return this.hist.values(h);
  }

  clientClosed(slot: number): void {
    this.windows.clientClosed(slot);
  }

  /** The live object (tests and benchmarks read it). */
  get object(): BpfObject | null {
    return this.loaded?.obj ?? null;
  }

  get histograms(): Log2Histograms | null {
    return this.hist;
  }
}
