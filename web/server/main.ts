// npm run dashboard -- --pmproxy http://localhost:44322 --port 8044
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { parsePmproxyUrl, startDashboard } from './server';

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${v}" is not a TCP port (0-65535)`);
  return n;
}

function url(v: string): string {
  try {
    parsePmproxyUrl(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
  return v;
}

const program = new Command()
  .name('pmda-ebpf-dashboard')
  .description('Live heat maps, tables and flame graphs of the bcc.* metrics, read through pmproxy')
  .option('--pmproxy <url>', "pmproxy's REST API", url, 'http://localhost:44322')
  .option('--port <n>', 'port to serve the page on (0 = any free port)', port, 8044)
  .option('--host <address>', 'address to bind; the page can store to the agent (profile start/stop), so keep it local', '127.0.0.1')
  .option('--root <dir>', 'directory of the built page', path.resolve(__dirname, '..', 'public'))
  .action(async (opts: { pmproxy: string; port: number; host: string; root: string }) => {
    try {
      const d = await startDashboard(opts);
      process.stdout.write(`dashboard on ${d.url} (pmproxy ${opts.pmproxy})\n`);
      const stop = () => void d.close().then(() => process.exit(0));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    } catch (e) {
      process.stderr.write(`dashboard: ${(e as Error).message}\n`);
      process.exit(1);
    }
  });

program.parseAsync(process.argv);
