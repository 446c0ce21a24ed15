// Entry point pmcd runs (through pmdaebpf). The credentials PDU goes out before anything slow
// is loaded: pmcd waits only 3 s for it, and loading libbpf and the modules takes longer than
// Node's own start-up.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { encodeCreds } from './pcp/encode';
import { writePdu } from './pmda/pipe-writer';

interface CliOptions {
  domain: number;
  log: string;
  config?: string;
  notready: boolean;
  stateDir?: string;
  bpfDir: string;
}

function domainArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 510) throw new InvalidArgumentError('a domain is a whole number from 1 to 510');
  return n;
}

function parseArgs(argv: string[]): CliOptions {
  const program = new Command()
    .name('pmdaebpf')
    .description('PCP agent serving bcc.* metrics from precompiled CO-RE eBPF programs (pmcd starts it as a pipe PMDA)')
    .option('-d, --domain <n>', 'PMDA domain number', domainArg, 149)
    .option('-l, --log <file>', 'log file (relative to the working directory, which pmcd sets to its log directory)', 'ebpf.log')
    .option('-c, --config <file>', 'configuration file (default $PCP_SYSCONF_DIR/ebpf/ebpf.conf)')
    .option('--notready', 'pmcd.conf starts this agent "notready": announce readiness once the modules have started', false)
    .option('--state-dir <dir>', 'where stable instance ids are kept (default $PCP_VAR_DIR/config/pmda/ebpf)')
    .option('--bpf-dir <dir>', 'directory of the compiled *.bpf.o objects', path.resolve(__dirname, '../../bpf/.output'))
    // fd 1 is pmcd's PDU pipe: help and usage errors must never go there.
    .configureOutput({ writeOut: (s) => process.stderr.write(s), writeErr: (s) => process.stderr.write(s) });
  program.parse(argv);
  return program.opts<CliOptions>();
}

function main(): void {
  const opts = parseArgs(process.argv);
  writePdu(encodeCreds({ from: process.pid, flags: 0 }));
  // Everything below may take a while (libbpf, BPF loads); pmcd already has our credentials.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { run } = require('./pmda/run') as typeof import('./pmda/run');
  run({
    domain: opts.domain,
    logFile: opts.log,
    configFile: opts.config,
    notready: opts.notready,
    stateDir: opts.stateDir,
    bpfDir: opts.bpfDir,
    version: readVersion(),
  });
}

// "<package version>+<build id>": the build id (tools/build-id.ts, deployed by Install) tells
// which build pmcd is running, so a test or an administrator can tell a stale install.
function readVersion(): string {
  let version = 'unknown';
  try {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as { version: string };
    version = pkg.version;
  } catch {
    return version;
  }
  try {
    const id = fs.readFileSync(path.resolve(__dirname, '../../build-id'), 'utf8').trim();
    if (/^[0-9a-f]+$/.test(id)) version += `+${id}`;
  } catch {
    // A tree built without the build id step: the package version alone.
  }
  return version;
}

main();
