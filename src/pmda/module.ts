// The seam between the PMDA runtime and the tool modules (architecture.md "Layers").
// A module is data (metric and indom tables, config schema) plus a factory for a live instance.
// The tables are static so that tools/gen-meta.ts can write pmns and help without running anything.
import type { Logger } from 'pino';
import type { EventArray, PmSem, PmType, Units } from '../pcp/types';
import type { ConfigSchema, ConfigValues, ConfigValuesOf } from './config-schema';
import type { InstanceDomain } from './indom';

export type { ConfigSchema, ConfigValues, ConfigValuesOf } from './config-schema';

export interface MetricSpec {
  /** Full PCP name, e.g. 'bcc.runq.latency'. A name that is a leaf may not also be a node. */
  name: string;
  /** PMID item; the cluster is the module's. */
  item: number;
  type: PmType;
  sem: PmSem;
  units: Units;
  /** Indom serial (an entry of the module's `indoms`), or null for a singular metric. */
  indom: number | null;
  oneline: string;
  /** Long help; ends with a newline when written to the help file. */
  help: string;
}

export interface IndomSpec {
  serial: number;
  oneline: string;
  help: string;
  /** Indom-level labels, e.g. {statistic: 'histogram'}. */
  labels?: Record<string, string | number | boolean>;
  /**
   * What survives a restart. 'names' (default): every name keeps its id. 'ids': only the
   * highest id given, so no id is ever reused but a name seen again after a restart gets a new
   * one; for big, short-lived names (profile stacks) whose state would otherwise be megabytes.
   * 'none': nothing (the ids are process ids, which mean nothing after the processes are gone).
   */
  persist?: 'names' | 'ids' | 'none';
  /** Inactive names remembered (in memory and on disk) before the longest-idle are forgotten. */
  remember?: number;
}

/** What a fetch of one metric yields: its values, or a negative PM_ERR_* / -errno for the whole metric. */
export type FetchValue = number | bigint | string | Buffer | EventArray;
export type FetchResult = { inst: number; value: FetchValue }[] | number;

/** The client that caused a request: pmcd's client slot (`from`) and the client's own context number. */
export interface ClientRef {
  slot: number;
  ctxid: number;
}

export interface ModuleStatus {
  /** The attach variant in use, e.g. 'tp_btf' or 'tracepoint(syscalls)+fd filter'. */
  setVariant(variant: string): void;
  /** Add events lost (kernel ring full, queue overflow...) to the module's lost counter. */
  addLost(n: number | bigint): void;
}

export interface ModulePaths {
  /** Directory holding the compiled *.bpf.o objects. */
  bpfDir: string;
  /** Directory for persistent state (instance ids). */
  stateDir: string;
}

export interface ModuleContext<C = ConfigValues> {
  domain: number;
  log: Logger;
  /** The module's section, parsed and typed by its schema. */
  config: C;
  paths: ModulePaths;
  status: ModuleStatus;
  /** The module's instance domain by serial (stable, persisted ids). */
  indom(serial: number): InstanceDomain;
}

export interface ModuleInstance {
  /**
   * Load and attach. Throw `ModuleUnavailable` for a missing kernel feature (reported as
   * 'failed' with the reason, other modules keep serving) or any Error for a real fault.
   */
  start(): Promise<void>;
  /** Called once per FETCH before any value of this module is read; `items` are the requested items. */
  refresh?(items: ReadonlySet<number>): void;
  fetch(item: number, client: ClientRef): FetchResult;
  /** pmstore; return 0 or a negative PM_ERR_*. Absent → PM_ERR_PERMISSION. */
  store?(item: number, inst: number, value: FetchValue, client: ClientRef): number | Promise<number>;
  /** pmcd said this client slot disconnected (PM_ERR_NOTCONN). */
  clientClosed?(slot: number): void;
  stop(): Promise<void>;
}

export interface ModuleSpec<S extends ConfigSchema = ConfigSchema> {
  /** Config section name and `bcc_module` label value, e.g. 'runqlat'. */
  name: string;
  /** pmdabcc cluster number (pmdabcc-pmids.txt). */
  cluster: number;
  /** Whether the module runs when ebpf.conf says nothing about it. */
  defaultEnabled: boolean;
  metrics: MetricSpec[];
  indoms: IndomSpec[];
  /** Keys beyond `enabled`, which every module has. */
  config: S;
  // Method syntax on purpose: a ModuleSpec<{…}> is then usable where a ModuleSpec is expected.
  create(ctx: ModuleContext<ConfigValuesOf<S>>): ModuleInstance;
}

/** Declare a module with its config schema's types flowing into create()'s ctx.config. */
export function defineModule<S extends ConfigSchema>(spec: ModuleSpec<S>): ModuleSpec<S> {
  return spec;
}

/** A kernel feature the module needs is missing here; the message says which. */
export class ModuleUnavailable extends Error {
  override name = 'ModuleUnavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Common unit values. */
export const UNITS = {
  none: { dimSpace: 0, dimTime: 0, dimCount: 0, scaleSpace: 0, scaleTime: 0, scaleCount: 0 },
  count: { dimSpace: 0, dimTime: 0, dimCount: 1, scaleSpace: 0, scaleTime: 0, scaleCount: 0 },
  byte: { dimSpace: 1, dimTime: 0, dimCount: 0, scaleSpace: 0, scaleTime: 0, scaleCount: 0 },
  usec: { dimSpace: 0, dimTime: 1, dimCount: 0, scaleSpace: 0, scaleTime: 1, scaleCount: 0 },
  nsec: { dimSpace: 0, dimTime: 1, dimCount: 0, scaleSpace: 0, scaleTime: 0, scaleCount: 0 },
  msec: { dimSpace: 0, dimTime: 1, dimCount: 0, scaleSpace: 0, scaleTime: 2, scaleCount: 0 },
  sec: { dimSpace: 0, dimTime: 1, dimCount: 0, scaleSpace: 0, scaleTime: 3, scaleCount: 0 },
} as const satisfies Record<string, Units>;
