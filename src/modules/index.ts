// Every tool module the agent knows, in pmdabcc's cluster order. Each module file exports one
// ModuleSpec (or several, for fsdist). Helpers append their import and entry here.
import type { ModuleSpec } from '../pmda/module';
import { biolatency } from './biolatency';
import { biotop } from './biotop';
import { execsnoop } from './execsnoop';
import { ext4dist, xfsdist, zfsdist } from './fsdist';
import { runqlat } from './runqlat';
import { tcplife } from './tcplife';
import { tcpretrans } from './tcpretrans';
import { tcptop } from './tcptop';
import { profile } from './profile';
import { sysfork } from './sysfork';
import { netproc } from './netproc';
import { ucalls } from './ucalls';
import { uprobeHits } from './uprobe_hits';
import { usdtHits } from './usdt_hits';
import { usdtJvmThreads } from './usdt_jvm_threads';
import { ustat } from './ustat';
import { exectop } from './exectop';
import { syscount } from './syscount';
import { tracepoint_hits } from './tracepoint_hits';
import { kprobe_hits } from './kprobe_hits';
import { cachestat } from './cachestat';
import { klockstat } from './klockstat';
import { bioperpid } from './bioperpid';
import { tcpperpid } from './tcpperpid';

export const MODULES: ModuleSpec[] = [
  biolatency,
  tcplife,
  runqlat,
  ext4dist,
  xfsdist,
  zfsdist,
  execsnoop,
  tcpretrans,
  biotop,
  tcptop,
  profile,
  sysfork,
  netproc,
  ucalls,
  ustat,
  usdtHits,
  uprobeHits,
  usdtJvmThreads,
  exectop,
  syscount,
  tracepoint_hits,
  kprobe_hits,
  cachestat,
  klockstat,
  bioperpid,
  tcpperpid,
];

/**
 * Modules that attach uprobes to processes found after start-up (rescans). On this kernel the
 * attach was refused (EACCES) once the agent ran as pcp with CAP_BPF, CAP_PERFMON and
 * CAP_SYS_PTRACE, so while one of them is configured to run the agent keeps root and says so.
 */
export const LATER_UPROBE_MODULES: readonly string[] = ['uprobe_hits', 'usdt_hits', 'ucalls', 'ustat', 'usdt_jvm_threads'];
