// Process instance names exactly as PCP's proc PMDA gives them (pmdaproc 6.0.3,
// refresh_proc_pidlist in src/pmdas/linux_proc/proc_pid.c), so that pcp-atop and pmrep can
// join our per-process metrics with proc.* on the instance name:
//   "%06d " + /proc/PID/cmdline (first 4089 bytes, trailing NULs dropped, inner NULs → spaces),
//   or, when cmdline is empty (kernel threads, zombies), "%06d (" + the Name: line of
//   /proc/PID/status + ")"; then cut before the second space: "001379 /usr/sbin/NetworkManager".
// When the process is already gone, the bare "%06d" (as pmdabcc; pmdaproc would say "<exiting>"
// but never exports a process it did not see alive).
import * as fs from 'node:fs';

/** pmdaproc reads cmdline into a MAXPATHLEN buffer after the 7-byte "%06d " prefix. */
const CMDLINE_MAX = 4096 - 7;

function readBytes(file: string, max: number): Buffer | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(max);
    const n = fs.readSync(fd, buf, 0, max, 0);
    return buf.subarray(0, n);
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

/** The proc PMDA's instance name of `pid`, or null when the process is gone. */
export function procInstanceName(pid: number, root = '/proc'): string | null {
  const prefix = String(pid).padStart(6, '0');
  const cmd = readBytes(`${root}/${pid}/cmdline`, CMDLINE_MAX);
  let full: string | null = null;
  if (cmd && cmd.length > 0) {
    let end = cmd.length;
    while (end > 0 && cmd[end - 1] === 0) end--;
    // pmdaproc turns NULs into spaces and cuts at the first space: the text before the first of either.
    const text = cmd.toString('utf8', 0, end).replace(/\0/g, ' ');
    full = `${prefix} ${text}`;
  } else {
    const status = readBytes(`${root}/${pid}/status`, 4096 - 4);
    if (!status || status.length === 0) return null;
    // "Name:\t" is 6 bytes: pmdaproc overwrites it with "(" after the prefix.
    const line = status.toString('utf8');
    const nl = line.indexOf('\n');
    full = `${prefix} (${line.slice(6, nl < 0 ? undefined : nl)})`;
  }
  const sp = full.indexOf(' ', prefix.length + 1);
  return (sp < 0 ? full : full.slice(0, sp)).slice(0, 4096);
}

/**
 * Names by pid, read once per process (as pmdaproc, which names a pid when it first sees it and
 * keeps the name while the pid lives), bounded: past `max` the oldest leave (re-read if needed).
 */
export class ProcessNames {
  private readonly names = new Map<number, string>();
  /** Names forgotten to stay within max (a re-read may differ if the process exec'd since). */
  evicted = 0;

  constructor(
    private readonly max = 16384,
    private readonly root = '/proc',
  ) {}

  /** The instance name of pid: `%06d argv0`, or the bare `%06d` if the process is gone (not cached). */
  name(pid: number): string {
    const had = this.names.get(pid);
    if (had !== undefined) return had;
    const n = procInstanceName(pid, this.root);
    if (n === null) return String(pid).padStart(6, '0');
    this.names.set(pid, n);
    if (this.names.size > this.max) {
      this.names.delete(this.names.keys().next().value as number);
      this.evicted++;
    }
    return n;
  }

  /** The process is gone (or its pid may be reused): forget its name. */
  forget(pid: number): void {
    this.names.delete(pid);
  }

  alive(pid: number): boolean {
    return fs.existsSync(`${this.root}/${pid}`);
  }

  get size(): number {
    return this.names.size;
  }
}

/**
 * pmdabcc's rule for per-process instances (bioperpid, tcpperpid): a process found gone leaves at
 * the second refresh that finds it gone, so its last counts are seen once more.
 */
export class GoneTwice {
  private readonly dead = new Map<string, number>();

  constructor(private readonly root = '/proc') {}

  /** True when pid was found gone by this and the previous check of `id` (one instance of the pid). */
  gone(pid: number, id = String(pid)): boolean {
    if (fs.existsSync(`${this.root}/${pid}`)) {
      this.dead.delete(id);
      return false;
    }
    const n = (this.dead.get(id) ?? 0) + 1;
    if (n < 2) {
      this.dead.set(id, n);
      return false;
    }
    this.dead.delete(id);
    return true;
  }
}
