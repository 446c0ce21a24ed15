// The life cycle every tool shares, written once: open the tool's object with its hooks
// (variants chosen at run time, or one forced by the `variant` key), check the record layouts
// its decoder assumes against the object's BTF, load and attach; a missing kernel feature
// becomes ModuleUnavailable keeping its cause; everything that holds a kernel object closes
// in reverse order exactly once, on stop and on a failed start alike.
import * as path from 'node:path';
import { NoVariantError, loadWithVariants, variantSummary, type BpfObject, type ExpectedLayout, type Hook, type Loaded } from '../../bpf';
import { cfg, type ConfigKey } from '../../pmda/config-schema';
import { ModuleUnavailable, type ModuleContext, type ModuleInstance } from '../../pmda/module';

export interface ToolLoad {
  /** Object file name in ctx.paths.bpfDir, e.g. 'syscount.bpf.o'. */
  object: string;
  hooks: Hook[];
  /** 'auto' (or absent) lets each hook choose; a variant name forces it where a hook offers it. */
  variant?: string;
  /** Layouts the tool's decoders assume; checked against the object's BTF before load. */
  layouts?: ExpectedLayout[];
  /** Rodata, map sizes, extra autoload settings: after the variants are set, before load. */
  configure?(obj: BpfObject): void;
}

/** The `variant` key of a tool whose hooks offer these variants. */
export function variantKey(variants: readonly string[]): ConfigKey<string> {
  return cfg.enumOf('auto', ['auto', ...variants], 'Attach variant: auto picks the best this kernel supports; naming one forces it (diagnosis).');
}

/**
 * Hooks that offer `variant` keep only it; the others keep their chain (e.g. an optional
 * kprobe-only hook beside a forced tracepoint). Naming a variant no hook offers is refused.
 */
export function forceVariant(hooks: Hook[], variant: string | undefined): Hook[] {
  if (!variant || variant === 'auto') return hooks;
  const offered = hooks.some((h) => h.variants.some((v) => v.name === variant));
  if (!offered) {
    const all = [...new Set(hooks.flatMap((h) => h.variants.map((v) => v.name)))];
    throw new ModuleUnavailable(`variant "${variant}" is not offered by this tool (it has ${all.join(', ')})`);
  }
  return hooks.map((h) => (h.variants.some((v) => v.name === variant) ? { ...h, variants: h.variants.filter((v) => v.name === variant) } : h));
}

/**
 * Open, configure, load and attach a tool's object. Every program outside the (possibly
 * forced) hooks has autoload off, so a forced variant never loads a program of another one.
 * Sets the module's variant status; the caller owns `loaded.obj` (add it to a Closer).
 */
export function loadTool(ctx: ModuleContext<unknown>, load: ToolLoad): Loaded {
  const hooks = forceVariant(load.hooks, load.variant);
  const named = new Set(hooks.flatMap((h) => h.variants.flatMap((v) => v.programs)));
  const file = path.join(ctx.paths.bpfDir, load.object);
  let loaded: Loaded;
  try {
    loaded = loadWithVariants(
      file,
      hooks,
      (o) => {
        for (const p of o.programNames()) if (!named.has(p)) o.setAutoload(p, false);
        for (const l of load.layouts ?? []) o.verifyLayout(l);
        load.configure?.(o);
      },
      ctx.log,
    );
  } catch (e) {
    throw asUnavailable(e);
  }
  ctx.status.setVariant(variantSummary(loaded.chosen));
  return loaded;
}

/**
 * A load failure as the module reports it: NoVariantError (this kernel lacks what every variant
 * needs) becomes ModuleUnavailable keeping its cause; anything else stays as it is.
 */
export function asUnavailable(e: unknown, what?: string): unknown {
  if (!(e instanceof NoVariantError)) return e;
  return new ModuleUnavailable(what ? `${what}: ${e.message}` : e.message, { cause: e });
}

/** Things to close, closed in reverse order of acquisition, each exactly once. */
export class Closer {
  private readonly stack: { what: string; close: () => void }[] = [];

  add<T>(what: string, thing: T, close: (t: T) => void): T {
    this.stack.push({ what, close: () => close(thing) });
    return thing;
  }

  /** Close everything; a failure is logged and the rest still close. */
  closeAll(log: { warn(o: object, msg: string): void }): void {
    for (let c = this.stack.pop(); c; c = this.stack.pop()) {
      try {
        c.close();
      } catch (e) {
        log.warn({ what: c.what, err: (e as Error).message }, 'close failed');
      }
    }
  }

  get size(): number {
    return this.stack.length;
  }
}

/**
 * Base of a tool instance: `open()` acquires through `this.closer`; a throw from it releases
 * what was acquired, and stop() releases the rest; both only once.
 */
export abstract class ToolInstance<C> implements ModuleInstance {
  protected readonly closer = new Closer();

  constructor(protected readonly ctx: ModuleContext<C>) {}

  protected abstract open(): void | Promise<void>;

  abstract fetch(item: number, client: import('../../pmda/module').ClientRef): import('../../pmda/module').FetchResult;

  async start(): Promise<void> {
    try {
      await this.open();
    } catch (e) {
      this.closer.closeAll(this.ctx.log);
      throw e;
    }
  }

  /** Load the tool's object and register it for closing. */
  protected load(load: ToolLoad): Loaded {
    const loaded = loadTool(this.ctx as ModuleContext<unknown>, load);
    this.closer.add(`object ${load.object}`, loaded.obj, (o) => o.close());
    return loaded;
  }

  async stop(): Promise<void> {
    this.closer.closeAll(this.ctx.log);
  }
}
