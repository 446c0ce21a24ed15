// The dashboard's HTTP server: the built page, plus /pmapi/* forwarded to pmproxy so the page
// talks to one origin.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PmapiProxy } from './proxy';
import { StaticFiles } from './static-files';

export interface DashboardOptions {
  pmproxy: string;
  /** Directory with index.html and the bundle. */
  root: string;
  host?: string;
  port?: number;
}

export interface RunningDashboard {
  server: http.Server;
  url: string;
  address: AddressInfo;
  close(): Promise<void>;
}

export function parsePmproxyUrl(text: string): URL {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new Error(`--pmproxy "${text}" is not a URL (expected e.g. http://localhost:44322)`);
  }
  if (u.protocol !== 'http:') throw new Error(`--pmproxy "${text}": only http:// is supported (pmproxy's REST port)`);
  if (u.pathname !== '/' && u.pathname !== '') throw new Error(`--pmproxy "${text}": give the origin only, without a path`);
  return u;
}

export function createDashboardServer(opts: Pick<DashboardOptions, 'pmproxy' | 'root'>): { server: http.Server; proxy: PmapiProxy } {
  const target = parsePmproxyUrl(opts.pmproxy);
  if (!fs.existsSync(`${opts.root}/index.html`)) {
    throw new Error(`no index.html in ${opts.root}: build the page first (npm run build:web)`);
  }
  const proxy = new PmapiProxy({ target });
  const files = new StaticFiles(opts.root);
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/pmapi' || url.startsWith('/pmapi/') || url.startsWith('/pmapi?')) proxy.handle(req, res);
    else files.handle(req, res);
  });
  server.keepAliveTimeout = 30_000;
  server.on('close', () => proxy.close());
  return { server, proxy };
}

export async function startDashboard(opts: DashboardOptions): Promise<RunningDashboard> {
  const { server } = createDashboardServer(opts);
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8044, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    address,
    url: `http://${shownHost}:${address.port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
