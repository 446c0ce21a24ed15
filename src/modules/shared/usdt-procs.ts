// Per-process USDT attachment, shared by usdt_hits, ucalls, ustat and usdt_jvm_threads:
// which mapped file of a process carries which probes, and the set of processes a module is
// attached to, kept in line with the `process` option by a rescan (every matching process,
// not only the first as pmdabcc; processes that start later are picked up; a process that
// exits has its links destroyed, which releases its uprobes and semaphore references).
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import type { BpfLink } from '../../bpf';
import { parseMaps } from '../profile/proc-maps';
import { readUsdtProbes, type UsdtProbe } from '../profile/stapsdt';
import { matchProcesses, type ProcessSpec } from './filter';

/** Files whose notes were read, keyed by device, inode and mtime (a replaced file is read again). */
const CATALOG_MAX = 64;
const catalog = new Map<string, UsdtProbe[]>();

/** The probes of a file (cached; [] for a file without notes or that cannot be read). */
export function probesOf(file: string): UsdtProbe[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return [];
  }
  const key = `${st.dev}:${st.ino}:${st.mtimeMs}:${st.size}`;
  let p = catalog.get(key);
  if (!p) {
    try {
      p = readUsdtProbes(file);
    } catch {
      p = [];
    }
    if (catalog.size >= CATALOG_MAX) catalog.delete(catalog.keys().next().value!);
    catalog.set(key, p);
  }
  return p;
}

export interface ProbeFile {
  /** The file as this agent can open it: /proc/PID/root + the path the process maps. */
  file: string;
  /** The path as the process sees it (for instance names and logs). */
  path: string;
  probes: UsdtProbe[];
}

/** The executable and libraries a process maps that declare USDT probes (exe first). */
export function probeFilesOf(pid: number): ProbeFile[] {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/maps`, 'latin1');
  } catch {
    return [];
  }
  let exe = '';
  try {
    exe = fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    // a kernel thread or a process that is exiting: its maps say the rest
  }
  const paths = [...new Set(parseMaps(text).filter((m) => m.path.startsWith('/') && !m.deleted).map((m) => m.path))];
  paths.sort((a, b) => (a === exe ? -1 : b === exe ? 1 : 0));
  const out: ProbeFile[] = [];
  for (const p of paths) {
    const file = `/proc/${pid}/root${p}`;
    const probes = probesOf(file);
    if (probes.length) out.push({ file, path: p, probes });
  }
  return out;
}

/** What attaching to one process gave: its links and a word for the variant/status line. */
export interface ProcessAttach {
  links: BpfLink[];
  /** e.g. "python" (detected runtime) */
  what: string;
}

/** Why a process could not be attached (no probes of a supported runtime, attach failed...). */
export class NotAttachable extends Error {
  override name = 'NotAttachable';
}

interface Tracked {
  links: BpfLink[];
  what: string;
}

const MAX_REFUSED = 1024;

/**
 * The processes a module is attached to. `attach(pid)` attaches everything the module wants
 * in one process (throwing NotAttachable, or any Error, when it cannot); a process that could
 * not be attached is not retried until it exits (bounded memory: the oldest refusals drop).
 */
export class ProcessAttachments {
  private readonly tracked = new Map<number, Tracked>();
  private readonly refused = new Map<number, string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly spec: ProcessSpec,
    private readonly attach: (pid: number) => ProcessAttach,
    private readonly log: Logger,
    private readonly rescanMs: number,
    /** Called after each sync that changed something (the module updates its variant line). */
    private readonly changed: () => void = () => {},
    private readonly self = process.pid,
  ) {}

  start(): void {
    this.sync();
    if (this.rescanMs > 0) {
      this.timer = setInterval(() => {
        try {
          this.sync();
        } catch (e) {
          this.log.warn({ err: e }, 'process rescan failed');
        }
      }, this.rescanMs);
      this.timer.unref();
    }
  }

  /** Rescan: attach new matches, release processes that are gone. */
  sync(): { attached: number; released: number } {
    const now = matchProcesses(this.spec);
    now.delete(this.self);
    let attached = 0;
    let released = 0;
    for (const [pid, t] of this.tracked) {
      if (now.has(pid)) continue;
      this.release(pid, t);
      released++;
    }
    for (const pid of this.refused.keys()) if (!now.has(pid)) this.refused.delete(pid);
    for (const pid of now) {
      if (this.tracked.has(pid) || this.refused.has(pid)) continue;
      try {
        const a = this.attach(pid);
        this.tracked.set(pid, { links: a.links, what: a.what });
        attached++;
        this.log.info({ pid, runtime: a.what, links: a.links.length }, 'process attached');
      } catch (e) {
        const why = (e as Error).message;
        if (this.refused.size >= MAX_REFUSED) this.refused.delete(this.refused.keys().next().value!);
        this.refused.set(pid, why);
        this.log.warn({ pid, reason: why }, 'process not attached');
      }
    }
    if (attached || released) this.changed();
    return { attached, released };
  }

  private release(pid: number, t: Tracked): void {
    for (const l of t.links) {
      try {
        l.destroy();
      } catch (e) {
        this.log.warn({ pid, err: (e as Error).message }, 'detach failed');
      }
    }
    this.tracked.delete(pid);
    this.log.info({ pid }, 'process gone, links released');
  }

  pids(): number[] {
    return [...this.tracked.keys()];
  }

  linkCount(): number {
    let n = 0;
    for (const t of this.tracked.values()) n += t.links.length;
    return n;
  }

  /** Refused processes and why (newest last). */
  refusals(): [number, string][] {
    return [...this.refused];
  }

  /** A short status line for bcc.pmda.module.variant: what is traced and what was refused. */
  summary(kind: string): string {
    const whats = [...new Set([...this.tracked.values()].map((t) => t.what))].join('+') || 'none';
    let s = `${kind} ${this.tracked.size} process${this.tracked.size === 1 ? '' : 'es'} (${whats})`;
    if (this.refused.size) {
      const last = [...this.refused].slice(-2).map(([pid, why]) => `pid ${pid}: ${why}`);
      s += `; ${this.refused.size} not attached (${last.join('; ')})`;
    }
    return s;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const [pid, t] of [...this.tracked]) this.release(pid, t);
    this.refused.clear();
  }
}

/** Whether two paths name the same file (device and inode). */
export function sameFile(a: string, b: string): boolean {
  try {
    const x = fs.statSync(a);
    const y = fs.statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** Attach one link per item; on a failure the links made so far are destroyed (all or nothing). */
export function attachEach<T>(items: readonly T[], attach: (t: T) => BpfLink): BpfLink[] {
  const links: BpfLink[] = [];
  try {
    for (const t of items) links.push(attach(t));
  } catch (e) {
    for (const l of links) l.destroy();
    throw e;
  }
  return links;
}
