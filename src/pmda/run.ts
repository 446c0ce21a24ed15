// Wires the agent to the process: log file, configuration, stdin framing, signals, exit.
import * as path from 'node:path';
import pino from 'pino';
import { PduFramer } from '../pcp/framing';
import { setLibbpfLogger } from '../bpf/log';
import { MODULES } from '../modules';
import { Agent } from './agent';
import { pmdaSettings, readConfigFile, type PmdaSettings, type RawConfig } from './config-file';
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

export function run(o: RunOptions): void {
  const dirs = pcpDirs();
  const dest = pino.destination({ dest: o.logFile, sync: true, mkdir: true });
  const log = pino({ level: 'info', base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
  const configFile = o.configFile ?? path.join(dirs.sysconfDir, 'ebpf', 'ebpf.conf');
  const configErrors: string[] = [];

  let raw: RawConfig = new Map();
  try {
    raw = readConfigFile(configFile);
  } catch (e) {
    configErrors.push((e as Error).message);
    log.error({ err: (e as Error).message }, 'configuration unreadable; every module uses its defaults');
  }
  let settings: PmdaSettings = { modules: [], state_dir: '', log_level: 'info', process_refresh: 5, prefix: 'bcc.', module_failure_fatal: false };
  try {
    settings = pmdaSettings(raw);
  } catch (e) {
    configErrors.push((e as Error).message);
    log.error({ err: (e as Error).message }, 'bad [pmda] section; using its defaults');
  }
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
    raw,
    only: settings.modules,
    configErrors,
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
    // pmcd's log rotation convention: reopen the log file. Configuration changes need a restart.
    dest.reopen();
    log.info('SIGHUP: log reopened (configuration is read at start-up only)');
  });
  process.on('uncaughtException', (e) => {
    log.fatal({ err: e.message, stack: e.stack }, 'uncaught exception');
    exit(1, 'uncaught exception');
  });

  agent!.startModules().catch((e: Error) => log.error({ err: e.message, stack: e.stack }, 'module start-up failed'));
}
