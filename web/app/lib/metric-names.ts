// The bcc.* names the dashboard reads (pmdabcc's names, plus the agent's seq/stacks/pmda extras).

export const RUNQ_LATENCY = 'bcc.runq.latency';
export const DISK_LATENCY = 'bcc.disk.all.latency';
export const FS_PREFIX = 'bcc.fs';
export const fsLatency = (fs: string, op: string): string => `bcc.fs.${fs}.latency.${op}`;
export const FS_OPS = ['open', 'read', 'write', 'fsync'];

export interface TableMetrics {
  prefix: string;
  leaves: readonly string[];
  /** Per-slot sequence number of event rings (absent for top-N tables). */
  seq?: string;
}

export const EXECSNOOP: TableMetrics = {
  prefix: 'bcc.proc.exec.',
  leaves: ['comm', 'pid', 'ppid', 'ret', 'args'],
  seq: 'bcc.proc.exec.seq',
};

export const TCPLIFE: TableMetrics = {
  prefix: 'bcc.proc.io.net.tcp.',
  leaves: ['pid', 'comm', 'laddr', 'lport', 'daddr', 'dport', 'tx', 'rx', 'duration'],
  seq: 'bcc.proc.io.net.tcp.seq',
};

export const TCPTOP: TableMetrics = {
  prefix: 'bcc.proc.io.net.tcptop.',
  leaves: ['pid', 'comm', 'laddr', 'lport', 'daddr', 'dport', 'rx', 'tx'],
};

export const BIOTOP: TableMetrics = {
  prefix: 'bcc.proc.io.perdev.',
  leaves: ['pid', 'comm', 'direction', 'major', 'minor', 'disk', 'io', 'bytes', 'duration'],
};

export const TCP_RETRANS = 'bcc.io.net.tcp.retrans.count';
export const STACKS = 'bcc.proc.stacks';
export const PROFILE = 'bcc.proc.profile';

export const PMDA_VERSION = 'bcc.pmda.version';
export const PMDA_STATE = 'bcc.pmda.module.state';
export const PMDA_ERROR = 'bcc.pmda.module.error';
export const PMDA_VARIANT = 'bcc.pmda.module.variant';
export const PMDA_LOST = 'bcc.pmda.module.lost';
export const PMDA_METRICS = [PMDA_VERSION, PMDA_STATE, PMDA_ERROR, PMDA_VARIANT, PMDA_LOST];

export function tableNames(t: TableMetrics): string[] {
  const names = t.leaves.map((l) => t.prefix + l);
  if (t.seq) names.push(t.seq);
  return names;
}
