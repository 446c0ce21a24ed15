// Choosing among a hook's attach variants at run time (bpf-feasibility.md §2). All variants
// live in one object; the ones not chosen get autoload off before load. Probes decide first;
// when a probe said yes but the kernel still refuses (EPERM at load, ENOENT at attach), the
// object is closed, reopened and that hook drops to its next variant: a failed
// bpf_object__load leaves the object unusable in libbpf 1.1, so retrying needs a fresh open.
import type { Logger } from 'pino';
import { BpfError, NoVariantError } from './errors';
import { ensureTracefs, kernelFeatures } from './features';
import type { BpfLink } from './link';
import { withLibbpfLogger } from './log';
import { BpfObject } from './object';
import { trimNativeHeap } from './malloc-trim';

export interface Variant {
  /** Shown as the module's live variant, e.g. 'tp_btf', 'raw_tp', 'tracepoint'. */
  name: string;
  /** Programs (function names in the .bpf.c) this variant loads and attaches. */
  programs: string[];
  /** true, or why this kernel cannot run the variant (checked before load). */
  available(): true | string;
  /**
   * Custom attach (e.g. perf events per CPU). Default: obj.attach() each program.
   * Must return every link it made.
   */
  attach?(obj: BpfObject): BpfLink[];
}

export interface Hook {
  name: string;
  /** In preference order. */
  variants: Variant[];
}

export interface Loaded {
  obj: BpfObject;
  /** hook name → chosen variant name */
  chosen: Record<string, string>;
  links: BpfLink[];
}

/**
 * Open `file`, enable the first available variant of each hook, let `configure` set rodata and
 * map sizes, load and attach. Programs not named by any hook keep their autoload setting and
 * are not attached here. Throws NoVariantError (a missing kernel feature: report the module as
 * unavailable with its message) when a hook runs out of variants, or BpfError for other faults.
 */
export function loadWithVariants(file: string, hooks: Hook[], configure: (o: BpfObject) => void, log: Logger): Loaded {
  ensureTracefs(log);
  // reasons[hook][variant] for variants ruled out so far
  const reasons = new Map<string, Record<string, string>>(hooks.map((h) => [h.name, {}]));
  const maxRounds = hooks.reduce((n, h) => n + h.variants.length, 1);

  return withLibbpfLogger(log, () => {
    for (let round = 0; round < maxRounds; round++) {
      const chosen = new Map<Hook, Variant>();
      for (const h of hooks) {
        const r = reasons.get(h.name)!;
        let pick: Variant | undefined;
        for (const v of h.variants) {
          if (r[v.name]) continue;
          const ok = v.available();
          if (ok === true) {
            pick = v;
            break;
          }
          r[v.name] = ok;
        }
        if (!pick) throw new NoVariantError(h.name, r);
        chosen.set(h, pick);
      }

      const obj = BpfObject.open(file);
      const links: BpfLink[] = [];
      let failure: { hook: Hook; variant: Variant; error: BpfError } | undefined;
      try {
        const enabled = new Set([...chosen.values()].flatMap((v) => v.programs));
        for (const h of hooks) for (const v of h.variants) for (const p of v.programs) obj.setAutoload(p, enabled.has(p));
        configure(obj);
        try {
          obj.load();
        } catch (e) {
          if (!(e instanceof BpfError)) throw e;
          const culprit = blame(chosen, e.program);
          if (!culprit) throw e; // nothing left to fall back on: a real fault
          failure = { ...culprit, error: e };
        }
        if (!failure) {
          for (const [hook, variant] of chosen) {
            try {
              if (variant.attach) links.push(...variant.attach(obj));
              else for (const p of variant.programs) links.push(obj.attach(p));
            } catch (e) {
              if (!(e instanceof BpfError)) throw e;
              failure = { hook, variant, error: e };
              break;
            }
          }
        }
      } catch (e) {
        obj.close();
        throw e;
      }
      if (!failure) {
        const names = Object.fromEntries([...chosen].map(([h, v]) => [h.name, v.name]));
        log.info({ file, variants: names }, 'BPF object loaded and attached');
        trimNativeHeap();
        return { obj, chosen: names, links };
      }
      obj.close();
      reasons.get(failure.hook.name)![failure.variant.name] = failure.error.message;
      log.info(
        { file, hook: failure.hook.name, variant: failure.variant.name, reason: failure.error.message },
        'attach variant failed, trying the next',
      );
    }
    throw new BpfError('loadWithVariants', 0, file, 'gave up after trying every variant combination');
  });
}

/**
 * Which hook's variant to drop after a failed load. libbpf names the failing program in its
 * warnings; without a name, the first hook that still has a fallback takes the blame (each
 * round removes one variant, so this terminates). A named program outside the hooks is a real
 * fault, not a variant problem.
 */
function blame(chosen: Map<Hook, Variant>, program: string | undefined): { hook: Hook; variant: Variant } | undefined {
  if (program) {
    for (const [hook, variant] of chosen) if (variant.programs.includes(program)) return { hook, variant };
    return undefined; // a program outside the hooks failed: not a variant problem
  }
  for (const [hook, variant] of chosen) {
    if (hook.variants.indexOf(variant) < hook.variants.length - 1) return { hook, variant };
  }
  return undefined;
}

// ---- availability probes for the common variant kinds ----

/** tp_btf / raw_tp on these raw tracepoints: each needs its btf_trace_<event> typedef. */
export function needBtfTracepoints(...events: string[]): () => true | string {
  return () => {
    if (!kernelFeatures.hasVmlinuxBtf()) return 'the kernel has no BTF (/sys/kernel/btf/vmlinux)';
    const missing = events.filter((e) => !kernelFeatures.hasBtfType(`btf_trace_${e}`, 'typedef'));
    return missing.length ? `no BTF tracepoint ${missing.join(', ')}` : true;
  };
}

/** Classic tracepoints category/event..., found in tracefs. */
export function needTracepoints(category: string, ...events: string[]): () => true | string {
  return () => {
    const missing = events.filter((e) => !kernelFeatures.hasTracepoint(category, e));
    if (!missing.length) return true;
    return missing.length === events.length && !kernelFeatures.hasTracepoint('sched', 'sched_switch')
      ? 'tracefs is not mounted (classic tracepoints unavailable)'
      : `no tracepoint ${missing.map((e) => `${category}:${e}`).join(', ')}`;
  };
}

/** kprobes on these kernel functions: the kprobe PMU (or kprobe_events) and each symbol. */
export function needKprobes(...funcs: string[]): () => true | string {
  return () => {
    if (!kernelFeatures.kprobesAvailable()) return 'kprobes are not available on this kernel (no kprobe PMU or kprobe_events)';
    const missing = funcs.filter((f) => !kernelFeatures.hasKsym(f));
    return missing.length ? `kernel has no symbol ${missing.join(', ')}` : true;
  };
}

/** "tp_btf" when every hook chose the same variant, else "hook=variant,...". */
export function variantSummary(chosen: Record<string, string>): string {
  const names = [...new Set(Object.values(chosen))];
  return names.length === 1 ? names[0] : Object.entries(chosen).map(([h, v]) => `${h}=${v}`).join(',');
}
