// The `process` and `cgroup` filters shared by the tool modules, feeding bpf/include/filter.bpf.h.
//
// `process` is pmdabcc's option: a comma list of PIDs, process names and regular expressions.
// A name matches the process name (comm) exactly; any non-PID item also matches, as an anchored regular
// expression, the command line (arguments joined by spaces), so "python3 .*myapp.py" works.
// Unlike pmdabcc, which compiled the PIDs into the BPF text and needed a restart to follow
// new processes, the PIDs live in a BPF map that a rescan of /proc keeps current while the
// programs run, so processes started later are included without reloading anything.
//
// `cgroup` (beyond pmdabcc) is a cgroup v2 directory; its id is the directory's inode number,
// which is what bpf_get_current_cgroup_id() returns. It is fixed at load (rodata).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { BpfMap, BpfObject } from '../../bpf';
import { cfg, type ConfigKey, type ConfigValues } from '../../pmda/config-schema';

const CGROUP2_SUPER_MAGIC = 0x63677270;
const PID_MAX = 4194304; // PID_MAX_LIMIT on 64-bit

export interface ProcessSpec {
  /** The option text as written, for logs. */
  text: string;
  pids: number[];
  names: string[];
  /** Anchored versions of the non-PID items, matched against the joined command line. */
  patterns: RegExp[];
}

/** Parse pmdabcc's `process` value; throws an Error naming the bad item. */
export function parseProcessSpec(raw: string): ProcessSpec | null {
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (items.length === 0) return null;
  const spec: ProcessSpec = { text: items.join(','), pids: [], names: [], patterns: [] };
  for (const item of items) {
    if (/^\d+$/.test(item)) {
      const pid = Number(item);
      if (pid < 1 || pid > PID_MAX) throw new Error(`PID ${item} is outside 1..${PID_MAX}`);
      spec.pids.push(pid);
      continue;
    }
    spec.names.push(item);
    try {
      spec.patterns.push(new RegExp(`^(?:${item})$`));
    } catch (e) {
      throw new Error(`"${item}" is neither a PID, nor a usable name or regular expression: ${(e as Error).message}`);
    }
  }
  return spec;
}

/** Where to read processes from (a directory shaped like /proc; tests pass a fake one). */
export interface ProcSource {
  root: string;
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'latin1');
  } catch {
    return null; // the process exited between readdir and read
  }
}

/** TGIDs of the processes the spec selects right now. */
export function matchProcesses(spec: ProcessSpec, src: ProcSource = { root: '/proc' }): Set<number> {
  const out = new Set<number>(spec.pids);
  if (spec.names.length === 0) return out;
  let entries: string[];
  try {
    entries = fs.readdirSync(src.root);
  } catch {
    return out;
  }
  const names = new Set(spec.names);
  for (const d of entries) {
    if (!/^\d+$/.test(d)) continue;
    // stat has comm and the state in one read; zombies keep their comm but will not run again.
    const stat = readText(path.join(src.root, d, 'stat'));
    if (stat === null) continue;
    const close = stat.lastIndexOf(')');
    const state = stat.charAt(close + 2);
    if (close < 0 || state === 'Z' || state === 'X') continue;
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    if (names.has(comm)) {
      out.add(Number(d));
      continue;
    }
    const raw = readText(path.join(src.root, d, 'cmdline'));
    if (!raw) continue; // kernel threads have an empty command line
    const cmdline = raw.replace(/\0+$/, '').split('\0').join(' ');
    if (spec.patterns.some((re) => re.test(cmdline))) out.add(Number(d));
  }
  return out;
}

/** The cgroup v2 mount point, from /proc/self/mounts (null without cgroup2). */
export function cgroup2Mount(mounts = '/proc/self/mounts'): string | null {
  const text = readText(mounts) ?? '';
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f[2] === 'cgroup2') return f[1].replace(/\\040/g, ' ');
  }
  return null;
}

/**
 * The id of a cgroup v2 directory. `p` is a directory on cgroup2 (e.g.
 * /sys/fs/cgroup/system.slice/pmcd.service) or a path inside the cgroup2 hierarchy as
 * /proc/PID/cgroup shows it (e.g. /system.slice/pmcd.service).
 */
export function resolveCgroupId(p: string): { id: bigint; dir: string } {
  const mount = cgroup2Mount();
  const candidates = [p];
  if (mount && !p.startsWith(mount + '/') && p !== mount) candidates.push(path.join(mount, p));
  for (const dir of candidates) {
    let st: fs.BigIntStats;
    try {
      st = fs.statSync(dir, { bigint: true });
    } catch {
      continue;
    }
    if (!st.isDirectory()) continue;
    if (Number(fs.statfsSync(dir).type) !== CGROUP2_SUPER_MAGIC) continue;
    return { id: st.ino, dir };
  }
  const where = mount ? `cgroup2 is mounted at ${mount}` : 'no cgroup2 file system is mounted';
  throw new Error(`"${p}" is not a cgroup v2 directory (${where})`);
}

// ---- config keys every filtering module declares ----

export function processKey(): ConfigKey<ProcessSpec | null> {
  return {
    default: null,
    doc: 'Only count these processes: comma list of PIDs, process names (matched against comm) and regular expressions (matched against the whole command line), as in pmdabcc. Processes started later are picked up by a rescan every process_refresh seconds.',
    parse: parseProcessSpec,
  };
}

export function processRefreshKey(): ConfigKey<number> {
  return cfg.int(5, { min: 0, max: 3600 }, 'Seconds between rescans of /proc for the process filter (0: scan only at start).');
}

export function cgroupKey(): ConfigKey<string | null> {
  return {
    default: null,
    doc: 'Only count tasks in this cgroup v2 (a directory under the cgroup2 mount, or a path as /proc/PID/cgroup shows it). Exact cgroup, not its descendants.',
    parse(raw) {
      const v = raw.trim();
      if (v === '') return null;
      if (v.includes('\0')) throw new Error('contains a NUL byte');
      return v;
    },
  };
}

/** The three keys, for a module's `config` schema: `{...filterConfig(), other: ...}`. */
export function filterConfig(): { process: ConfigKey<ProcessSpec | null>; process_refresh: ConfigKey<number>; cgroup: ConfigKey<string | null> } {
  return { process: processKey(), process_refresh: processRefreshKey(), cgroup: cgroupKey() };
}

// ---- the live filter of one BPF object ----

/**
 * Drives filter.bpf.h for one object: configure() before load sets the rodata switches,
 * start() after load fills filter_tgids and keeps it current, stop() ends the rescans.
 */
export class TaskFilter {
  private map: BpfMap | null = null;
  private timer: NodeJS.Timeout | null = null;
  private current = new Set<number>();
  readonly cgroup: { id: bigint; dir: string } | null;

  constructor(
    readonly process: ProcessSpec | null,
    cgroupPath: string | null,
    private readonly log: Logger,
    private readonly rescanMs = 5000,
    private readonly src: ProcSource = { root: '/proc' },
  ) {
    this.cgroup = cgroupPath ? resolveCgroupId(cgroupPath) : null;
  }

  /** From a module's parsed config (keys of filterConfig()). */
  static fromConfig(config: ConfigValues, log: Logger): TaskFilter {
    return new TaskFilter(
      (config.process as ProcessSpec | null) ?? null,
      (config.cgroup as string | null) ?? null,
      log,
      ((config.process_refresh as number | undefined) ?? 5) * 1000,
    );
  }

  get active(): boolean {
    return this.process !== null || this.cgroup !== null;
  }

  /** Before load: switch the BPF-side checks on (off, they cost nothing: the verifier drops them). */
  configure(obj: BpfObject): void {
    obj.setRodata({ filter_tgid_on: this.process !== null, filter_cgroup_id: this.cgroup?.id ?? 0n });
  }

  /** After load: fill the PID map and keep rescanning. */
  start(obj: BpfObject): void {
    if (!this.process) return;
    this.map = obj.map('filter_tgids');
    this.sync();
    if (this.current.size === 0) this.log.info({ process: this.process.text }, 'process filter matches no process yet');
    if (this.process.names.length > 0 && this.rescanMs > 0) {
      this.timer = setInterval(() => {
        try {
          this.sync();
        } catch (e) {
          this.log.warn({ err: e }, 'process filter rescan failed');
        }
      }, this.rescanMs);
      this.timer.unref();
    }
  }

  /** Rescan /proc and bring the map in line: add new matches, drop exited ones. */
  sync(): { added: number; removed: number } {
    if (!this.process || !this.map) return { added: 0, removed: 0 };
    const now = matchProcesses(this.process, this.src);
    const key = Buffer.alloc(4);
    const one = Buffer.from([1]);
    let added = 0;
    let removed = 0;
    for (const pid of now) {
      if (this.current.has(pid)) continue;
      key.writeUInt32LE(pid);
      try {
        this.map.update(key, one);
        added++;
      } catch (e) {
        // E2BIG: more matches than filter_tgids holds; the rest stay unfiltered-out.
        this.log.warn({ err: e, pid }, 'process filter map full');
        now.delete(pid);
      }
    }
    for (const pid of this.current) {
      if (now.has(pid)) continue;
      key.writeUInt32LE(pid);
      this.map.delete(key);
      removed++;
    }
    this.current = now;
    if (added || removed) this.log.debug({ added, removed, pids: now.size }, 'process filter updated');
    return { added, removed };
  }

  /** The PIDs currently in the map. */
  pids(): ReadonlySet<number> {
    return this.current;
  }

  describe(): string {
    const parts: string[] = [];
    if (this.process) parts.push(`process=${this.process.text}`);
    if (this.cgroup) parts.push(`cgroup=${this.cgroup.dir}`);
    return parts.join(' ') || 'none';
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.map = null;
    this.current.clear();
  }
}
