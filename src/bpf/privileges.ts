// Least privilege: root is needed to load and attach the eBPF programs (and to mount tracefs);
// afterwards the agent runs as an unprivileged user with only the capabilities later work
// needs. Linux keeps capabilities per thread: capset() here changes the calling (main) thread,
// where every libbpf load/attach runs; glibc's setuid() is process-wide, and threads without
// PR_SET_KEEPCAPS lose all their capabilities with it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import koffi from 'koffi';

/** Capability numbers (linux/capability.h). */
export const CAP = {
  DAC_READ_SEARCH: 2,
  SETPCAP: 8,
  SYS_PTRACE: 19,
  SYSLOG: 34,
  PERFMON: 38,
  BPF: 39,
  CHECKPOINT_RESTORE: 40,
} as const;

/**
 * What the agent keeps, and why:
 * - BPF, PERFMON: load programs, create maps, attach tracepoints/uprobes/perf events later
 *   (module restarts on a reload, profile's process rescans and USDT targets appearing).
 * - DAC_READ_SEARCH: tracefs (/sys/kernel/tracing is root-only 0700) for classic tracepoint
 *   ids, and binaries of other users that are not world-readable, for symbols.
 * - SYS_PTRACE: /proc/PID/maps and /proc/PID/root of other users' processes (profile).
 * - CHECKPOINT_RESTORE: /proc/PID/map_files (the exact mapped file, even deleted).
 * - SYSLOG: kernel addresses in /proc/kallsyms (kptr_restrict) for kernel stacks.
 */
export const KEPT_CAPS = [CAP.BPF, CAP.PERFMON, CAP.DAC_READ_SEARCH, CAP.SYS_PTRACE, CAP.CHECKPOINT_RESTORE, CAP.SYSLOG] as const;

/** The user PCP's own agents run as. */
export const AGENT_USER = 'pcp';

export function capabilityNames(caps: readonly number[]): string[] {
  const byNum = new Map<number, string>(Object.entries(CAP).map(([k, v]) => [v, `CAP_${k}`]));
  return caps.map((c) => byNum.get(c) ?? String(c));
}

const PR_SET_KEEPCAPS = 8;
const PR_CAPBSET_DROP = 24;
const PR_SET_NO_NEW_PRIVS = 38;
const LINUX_CAPABILITY_VERSION_3 = 0x20080522;
const LAST_CAP = 63;

interface Libc {
  prctl(option: number, a2: number, a3: number, a4: number, a5: number): number;
  capset(hdr: Buffer, data: Buffer): number;
  errno(): number;
}

let libc: Libc | null = null;
function load(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  const errnoLoc = lib.func('int *__errno_location(void)');
  libc = {
    prctl: lib.func('int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)'),
    // struct __user_cap_header_struct *, struct __user_cap_data_struct[2], as raw bytes
    capset: lib.func('int capset(void *hdr, void *data)'),
    errno: () => koffi.decode(errnoLoc(), 'int') as number,
  };
  return libc;
}

function check(what: string, rc: number): void {
  if (rc !== 0) throw new Error(`${what} failed (errno ${load().errno()})`);
}

export interface DropResult {
  user: string;
  uid: number;
  gid: number;
  caps: readonly number[];
}

/**
 * Become `user`, keeping only KEPT_CAPS (effective and permitted; nothing inheritable, the
 * bounding set cut to them too) with no_new_privs set. `writable` (log file, state
 * directory) is handed to the user first so that it can still write there.
 */
export function dropPrivileges(user: string, writable: string[]): DropResult {
  const { uid, gid } = lookupUser(user);
  for (const p of writable) chownTree(p, uid, gid);
  const c = load();
  const mask = [0, 0];
  for (const cap of KEPT_CAPS) mask[cap >> 5]! |= 1 << (cap & 31);
  // The bounding set first: dropping from it needs CAP_SETPCAP, which goes next.
  for (let cap = 0; cap <= LAST_CAP; cap++) {
    if ((KEPT_CAPS as readonly number[]).includes(cap)) continue;
    c.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0); // EINVAL past the kernel's last cap: fine
  }
  check('prctl(PR_SET_KEEPCAPS)', c.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
  process.setgroups!([gid]);
  process.setgid!(gid);
  process.setuid!(uid);
  // setuid() cleared the effective set; restore exactly the kept ones.
  const hdr = Buffer.alloc(8);
  if (os.endianness() === 'LE') hdr.writeUInt32LE(LINUX_CAPABILITY_VERSION_3, 0);
  else hdr.writeUInt32BE(LINUX_CAPABILITY_VERSION_3, 0);
  const data = Buffer.alloc(24); // {effective, permitted, inheritable} × 2, host order
  const put = os.endianness() === 'LE' ? data.writeUInt32LE.bind(data) : data.writeUInt32BE.bind(data);
  for (let i = 0; i < 2; i++) {
    put(mask[i]! >>> 0, i * 12);
    put(mask[i]! >>> 0, i * 12 + 4);
  }
  check('capset', c.capset(hdr, data));
  check('prctl(PR_SET_KEEPCAPS, 0)', c.prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0));
  check('prctl(PR_SET_NO_NEW_PRIVS)', c.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
  return { user, uid, gid, caps: KEPT_CAPS };
}

function lookupUser(user: string): { uid: number; gid: number } {
  for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === user && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new Error(`no user "${user}" in /etc/passwd`);
}

function chownTree(p: string, uid: number, gid: number): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return;
  }
  if (st.isSymbolicLink()) return;
  fs.chownSync(p, uid, gid);
  if (st.isDirectory()) for (const e of fs.readdirSync(p)) chownTree(path.join(p, e), uid, gid);
}
