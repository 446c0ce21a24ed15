// PCP's directory layout comes from /etc/pcp.conf (or $PCP_CONF), as every PCP tool reads it;
// values already in the environment win, as with pcp.env.
import * as fs from 'node:fs';

export interface PcpDirs {
  sysconfDir: string;
  varDir: string;
  logDir: string;
  pmdasDir: string;
  tmpDir: string;
}

export function pcpDirs(env: NodeJS.ProcessEnv = process.env): PcpDirs {
  const conf: Record<string, string> = {};
  try {
    const text = fs.readFileSync(env.PCP_CONF ?? '/etc/pcp.conf', 'utf8');
    for (const line of text.split('\n')) {
      const m = /^\s*(PCP_[A-Z_]+)=(.*)$/.exec(line);
      if (m) conf[m[1]!] = m[2]!.replace(/^["']|["']$/g, '');
    }
  } catch {
    // No PCP installed (unit tests, a build machine): fall back to the Linux defaults.
  }
  const get = (k: string, def: string) => env[k] ?? conf[k] ?? def;
  return {
    sysconfDir: get('PCP_SYSCONF_DIR', '/etc/pcp'),
    varDir: get('PCP_VAR_DIR', '/var/lib/pcp'),
    logDir: get('PCP_LOG_DIR', '/var/log/pcp'),
    pmdasDir: get('PCP_PMDAS_DIR', '/var/lib/pcp/pmdas'),
    tmpDir: get('PCP_TMP_DIR', '/var/lib/pcp/tmp'),
  };
}
