// Wires the agent to the process: log file, configuration, stdin framing, signals, exit.
import * as path from 'node:path';
import pino from 'pino';
import { PduFramer } from '../pcp/framing';
import { setLibbpfLogger } from '../bpf/log';
import { AGENT_USER, capabilityNames, dropPrivileges } from '../bpf/privileges';
import { LATER_UPROBE_MODULES, MODULES } from '../modules';
import { Agent } from './agent';
import { readConfigFile } from './config-file';
import { planConfig } from './config-plan';
import { pcpDirs } from './pcp-env';
import { writePdu } from './pipe-writer';

export interface RunOptions {
  domain: number;
  logFile: string;
  configFile?: string;
  notready: boolean;
  stateDir?: string;
  bpfDir: string;
  version: string;
}

/**
 * Everything that needs root (loading and attaching, mounting tracefs) is done: continue as the
 * pcp user with only the capabilities later attaches and symbol lookups need.
 */
function leaveRoot(keepRoot: boolean, needRoot: string[], writable: string[], log: pino.Logger): void {
  if (process.getuid?.() !== 0) return;
  if (keepRoot) {
    log.warn('[pmda] keep_root = true: the agent keeps running as root with every capability');
    return;
  }
  if (needRoot.length) {
    log.warn({ modules: needRoot }, 'these modules attach uprobes to processes found later, which the kernel refuses without root here: the agent keeps running as root');
    return;
  }
  try {
    const r = dropPrivileges(AGENT_USER, writable);
    log.info({ user: r.user, uid: r.uid, gid: r.gid, caps: capabilityNames(r.caps), noNewPrivs: true }, 'privileges dropped');
  } catch (e) {
    // Still root: say so loudly rather than stop serving metrics.
    log.error({ err: (e as Error).message }, 'cannot drop privileges: the agent keeps running as root');
  }
}

export function run(o: RunOptions): void {
  const dirs = pcpDirs();
  const dest = pino.destination({ dest: o.logFile, sync: true, mkdir: true });
  const log = pino({ level: 'info', base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
  const configFile = o.configFile ?? path.join(dirs.sysconfDir, 'ebpf', 'ebpf.conf');
  const load = readConfigFile(configFile, o.configFile !== undefined);
  for (const note of load.notes) log.warn(note);
  const plan = planConfig(load, MODULES, log);
  const settings = plan.settings;
  log.level = settings.log_level;
  // libbpf's own messages (verifier logs, attach errors) belong in the agent log, never on fd 1.
  setLibbpfLogger(log.child({ component: 'libbpf' }));
  const stateDir = o.stateDir ?? (settings.state_dir || path.join(dirs.varDir, 'config', 'pmda', 'ebpf'));
  log.info({ version: o.version, domain: o.domain, config: configFile, stateDir, bpfDir: o.bpfDir }, 'pmda-ebpf starting');

  let exiting = false;
  let agent: Agent | undefined;
  const exit = (code: number, why: string) => {
    if (exiting) return;
    exiting = true;
    log.info({ why }, 'exiting');
    // pmcd gives an agent ~150 ms after closing the pipe; closing BPF links is quick.
    const done = () => {
      dest.flushSync();
      process.exit(code);
    };
    if (!agent) return done();
    agent
      .shutdown()
      .catch((e: Error) => log.error({ err: e.message }, 'shutdown failed'))
      .finally(done);
  };

  agent = new Agent({
    domain: o.domain,
    version: o.version,
    modules: MODULES,
    plan,
    reloadConfig: () => {
      const again = readConfigFile(configFile, o.configFile !== undefined);
      for (const note of again.notes) log.warn(note);
      return planConfig(again, MODULES, log);
    },
    setLogLevel: (level) => {
      log.level = level;
    },
    log,
    paths: { bpfDir: o.bpfDir, stateDir },
    notready: o.notready,
    write: (buf) => {
      if (exiting) return;
      try {
        writePdu(buf);
      } catch (e) {
        // EPIPE: pmcd has let this agent go (timeout, shutdown); there is no one left to answer.
        log.error({ err: (e as Error).message }, 'cannot write to pmcd');
        exit(1, 'pmcd pipe closed');
      }
    },
  });

  const framer = new PduFramer();
  process.stdin.on('data', (chunk: Buffer) => {
    let pdus: Buffer[];
    let framerError: Error | null = null;
    try {
      pdus = framer.push(chunk);
    } catch (e) {
      pdus = [];
      framerError = e as Error;
    }
    for (const p of pdus) agent!.push(p);
    // PDUs that arrived before a bad header are answered first; then the stream is unusable.
    if (!framerError) {
      try {
        framer.push(Buffer.alloc(0));
      } catch (e) {
        framerError = e as Error;
      }
    }
    if (framerError) {
      const e = framerError;
      // A bad length word leaves no way to find the next PDU boundary: leave cleanly so that
      // pmcd restarts the agent with a fresh pipe.
      log.error({ err: (e as Error).message }, 'unframeable input from pmcd');
      exit(1, 'protocol framing error');
    }
  });
  process.stdin.on('end', () => {
    if (framer.pending() > 0) log.warn({ bytes: framer.pending() }, 'stdin closed inside a PDU');
    exit(0, 'stdin closed');
  });
  process.stdin.on('error', (e) => exit(1, `stdin: ${e.message}`));
  process.on('SIGTERM', () => exit(0, 'SIGTERM'));
  process.on('SIGINT', () => exit(0, 'SIGINT'));
  process.on('SIGHUP', () => {
    // pmcd's log rotation convention: reopen the log file. SIGUSR2 re-reads the configuration.
    dest.reopen();
    log.info('SIGHUP: log reopened');
  });
  // SIGUSR1 would be the obvious choice, but Node reserves it to open its inspector.
  process.on('SIGUSR2', () => {
    const code = agent!.requestReload('SIGUSR2');
    if (code < 0) log.warn({ code }, 'SIGUSR2: reload not started');
  });
  process.on('uncaughtException', (e) => {
    log.fatal({ err: e.message, stack: e.stack }, 'uncaught exception');
    exit(1, 'uncaught exception');
  });

  agent!
    .startModules()
    .catch((e: Error) => log.error({ err: e.message, stack: e.stack }, 'module start-up failed'))
    .finally(() => {
      if (!exiting) {
        const needRoot = LATER_UPROBE_MODULES.filter((m) => plan.modules.get(m)?.kind === 'run');
        leaveRoot(settings.keep_root, needRoot, [stateDir, path.resolve(o.logFile)], log);
      }
    });
}
