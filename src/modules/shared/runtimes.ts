// The language runtimes pmdabcc's ucalls and ustat knew, by their USDT provider: which probes
// mark a method call (and where class and method are among its arguments), and which probes
// ustat counts in which category. From pmdabcc's ucalls.python/ustat.python and BCC's
// ucalls.py/ustat.py; argument numbers are 1-based as in their bpf_usdt_readarg() calls.
import type { ProbeFile } from './usdt-procs';

export const LANGUAGES = ['java', 'node', 'perl', 'php', 'python', 'ruby', 'tcl'] as const;
export type Language = (typeof LANGUAGES)[number];

/** Where a name is among a probe's arguments: a C string, or a pointer and a length (Java). */
export interface NameArg {
  arg: number;
  lenArg?: number;
}

export interface CallProbes {
  entry: string[];
  ret: string[];
  clazz: NameArg | null;
  method: NameArg;
}

/** ustat categories, in the order of struct usdt_events (bpf/uhits.bpf.c) and of the metric items. */
export const STAT_FIELDS = ['thread', 'method', 'object', 'class', 'except', 'gc'] as const;
export type StatField = (typeof STAT_FIELDS)[number];

export interface Runtime {
  language: Language;
  /** USDT provider names the runtime's probes use. */
  providers: string[];
  /** ucalls (node has no method probes in pmdabcc's table). */
  calls: CallProbes | null;
  /** ustat: probe name → category. */
  stats: Record<string, StatField>;
  /** What a user must do for the probes to fire, when they are off by default. */
  enable?: string;
}

export const RUNTIMES: Record<Language, Runtime> = {
  java: {
    language: 'java',
    providers: ['hotspot'],
    calls: { entry: ['method__entry'], ret: ['method__return'], clazz: { arg: 2, lenArg: 3 }, method: { arg: 4, lenArg: 5 } },
    stats: {
      gc__begin: 'gc',
      mem__pool__gc__begin: 'gc',
      thread__start: 'thread',
      class__loaded: 'class',
      object__alloc: 'object',
      method__entry: 'method',
      ExceptionOccurred__entry: 'except',
    },
    enable: 'method and allocation probes fire only with -XX:+ExtendedDTraceProbes (or -XX:+DTraceMethodProbes, -XX:+DTraceAllocProbes)',
  },
  node: { language: 'node', providers: ['node'], calls: null, stats: { gc__start: 'gc' }, enable: 'node must be built with --with-dtrace' },
  perl: {
    language: 'perl',
    providers: ['perl'],
    calls: { entry: ['sub__entry'], ret: ['sub__return'], clazz: { arg: 2 }, method: { arg: 1 } },
    stats: { sub__entry: 'method' },
  },
  php: {
    language: 'php',
    providers: ['php'],
    calls: { entry: ['function__entry'], ret: ['function__return'], clazz: { arg: 4 }, method: { arg: 1 } },
    stats: { function__entry: 'method', compile__file__entry: 'class', exception__thrown: 'except' },
    enable: 'PHP fires its probes only with USE_ZEND_DTRACE=1 in the environment',
  },
  python: {
    language: 'python',
    providers: ['python'],
    calls: { entry: ['function__entry'], ret: ['function__return'], clazz: { arg: 1 }, method: { arg: 2 } },
    stats: { function__entry: 'method', gc__start: 'gc' },
    enable: 'CPython 3.11 fires function__entry/return only while a trace or profile hook is set in the process (sys.settrace/sys.setprofile)',
  },
  ruby: {
    language: 'ruby',
    providers: ['ruby'],
    calls: {
      entry: ['method__entry', 'cmethod__entry'],
      ret: ['method__return', 'cmethod__return'],
      clazz: { arg: 1 },
      method: { arg: 2 },
    },
    stats: {
      method__entry: 'method',
      cmethod__entry: 'method',
      gc__mark__begin: 'gc',
      gc__sweep__begin: 'gc',
      object__create: 'object',
      hash__create: 'object',
      string__create: 'object',
      array__create: 'object',
      require__entry: 'class',
      load__entry: 'class',
      raise: 'except',
    },
  },
  tcl: {
    language: 'tcl',
    providers: ['tcl'],
    calls: { entry: ['proc__entry'], ret: ['proc__return'], clazz: null, method: { arg: 1 } },
    stats: { proc__entry: 'method', obj__create: 'object' },
  },
};

/** The attach cookie bpf/ucalls.bpf.c decodes: where class and method are. */
export function callLayoutCookie(c: CallProbes): bigint {
  const b = (x: number | undefined, shift: number) => BigInt((x ?? 0) & 0xff) << BigInt(shift);
  return b(c.clazz?.arg, 0) | b(c.clazz?.lenArg, 8) | b(c.method.arg, 16) | b(c.method.lenArg, 24);
}

/** A runtime found in a process: the file with its probes. */
export interface FoundRuntime {
  runtime: Runtime;
  file: ProbeFile;
}

/**
 * The runtime of a process from the probes its mapped files declare (the provider names),
 * restricted to `language` when set. pmdabcc asked `file` about the executable; the probes
 * are what the tools need anyway, so they decide.
 */
export function detectRuntime(files: readonly ProbeFile[], language: Language | null): FoundRuntime | null {
  for (const f of files) {
    const providers = new Set(f.probes.map((p) => p.provider));
    for (const r of Object.values(RUNTIMES)) {
      if (language && r.language !== language) continue;
      if (r.providers.some((p) => providers.has(p))) return { runtime: r, file: f };
    }
  }
  return null;
}

/** Why a process has nothing to attach, for its status line. */
export function noRuntimeReason(files: readonly ProbeFile[], language: Language | null, comm: string): string {
  if (files.length === 0) return `${comm}: no USDT probes in its executable or libraries`;
  const providers = [...new Set(files.flatMap((f) => f.probes.map((p) => p.provider)))].join(',');
  return language ? `${comm}: no ${language} probes (has ${providers})` : `${comm}: no probes of a supported runtime (has ${providers})`;
}

/** pmdabcc's parse_inst_name: skip to the first alphanumeric, stop at the first character
 *  outside [alnum . / < > [ ] _], then '/' → '.', '[' → '{', ']' → '}'. */
export function sanitizeInstName(s: string): string {
  let out = '';
  let started = false;
  for (const ch of s) {
    const alnum = /^[A-Za-z0-9]$/.test(ch); // pmdabcc decoded as ASCII: other bytes never count
    if (!started && !alnum) continue;
    if (!alnum && !'./<>[]_'.includes(ch)) break;
    out += ch;
    started = true;
  }
  return out.replace(/\//g, '.').replace(/\[/g, '{').replace(/\]/g, '}');
}
