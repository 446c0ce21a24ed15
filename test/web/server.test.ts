// The dashboard server against the real pmproxy (running on :44322, started by
// /etc/init.d/pmproxy start): forwarding, keep-alive, errors, static files, binding.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type RunningDashboard } from '../../web/server/server';

const PMPROXY = process.env.PMPROXY_URL ?? 'http://localhost:44322';
const REPO = path.resolve(__dirname, '..', '..');

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request on its own connection that says "Connection: close", like a closing client. */
function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false, headers: { connection: 'close', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Direct keep-alive request to pmproxy (the way that gets whole replies). */
async function direct(pathAndQuery: string): Promise<string> {
  const r = await fetch(PMPROXY + pathAndQuery);
  return r.text();
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

let root: string;
let dash: RunningDashboard;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'dash-root-'));
  fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>t</title>');
  fs.writeFileSync(path.join(root, 'app.js'), 'export {};\n');
  dash = await startDashboard({ pmproxy: PMPROXY, root, port: 0 });
});

afterAll(async () => {
  await dash?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('forwarding /pmapi to pmproxy', () => {
  it('creates a context and fetches through it', async () => {
    const c = await get(`${dash.url}pmapi/context?polltimeout=5`);
    expect(c.status).toBe(200);
    const ctx = JSON.parse(c.body) as { context: number; hostspec: string };
    expect(typeof ctx.context).toBe('number');
    const f = await get(`${dash.url}pmapi/${ctx.context}/fetch?names=kernel.all.load`);
    const body = JSON.parse(f.body) as { values: { name: string; instances: unknown[] }[] };
    expect(body.values[0]!.name).toBe('kernel.all.load');
    expect(body.values[0]!.instances.length).toBe(3);
  });

  it('delivers a chunked reply far over 4 KB whole although the client said Connection: close', async () => {
    const q = '/pmapi/metric?prefix=kernel';
    const whole = await direct(q);
    expect(whole.length).toBeGreaterThan(16 * 1024);
    const r = await get(dash.url.replace(/\/$/, '') + q);
    expect(r.status).toBe(200);
    expect(r.headers.connection).toBe('close');
    const viaProxy = JSON.parse(r.body) as { metrics: { name: string }[] };
    const expected = JSON.parse(whole) as { metrics: { name: string }[] };
    expect(viaProxy.metrics.map((m) => m.name)).toEqual(expected.metrics.map((m) => m.name));
  });

  it("passes pmproxy's errors on unchanged", async () => {
    const r = await get(`${dash.url}pmapi/123456789/fetch?names=kernel.all.load`);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ success: false, message: expect.stringContaining('unknown context identifier') });
  });

  it('refuses POST, which crashes pmproxy 6.0.3 on /pmapi/store', async () => {
    const r = await get(`${dash.url}pmapi/store`, { 'content-type': 'application/x-www-form-urlencoded' }, 'POST');
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('GET, HEAD');
    expect(JSON.parse(r.body).message).toMatch(/POST is not forwarded|method POST/);
  });

  it('answers 502 with a JSON message naming pmproxy when nothing listens there', async () => {
    const port = await freePort();
    const d = await startDashboard({ pmproxy: `http://127.0.0.1:${port}`, root, port: 0 });
    try {
      const r = await get(`${d.url}pmapi/context`);
      expect(r.status).toBe(502);
      const b = JSON.parse(r.body) as { message: string; success: boolean };
      expect(b.success).toBe(false);
      expect(b.message).toContain(`127.0.0.1:${port}`);
      expect(b.message).toContain('ECONNREFUSED');
    } finally {
      await d.close();
    }
  });

  it('sends a request again on a new connection when the kept-alive one was closed by the other side', async () => {
    // Upstream stand-in for this one case: it drops every connection on its second request,
    // as a restarted or idle-timed-out pmproxy does, without answering.
    let served = 0;
    const perSocket = new WeakMap<object, number>();
    const upstream = http.createServer((req, res) => {
      const n = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, n);
      if (n > 1) {
        req.socket.destroy();
        return;
      }
      served++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ success: true, n: served }));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const port = (upstream.address() as net.AddressInfo).port;
    const d = await startDashboard({ pmproxy: `http://127.0.0.1:${port}`, root, port: 0 });
    try {
      const a = await get(`${d.url}pmapi/context`);
      const b = await get(`${d.url}pmapi/context`);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(JSON.parse(b.body).n).toBe(2);
    } finally {
      await d.close();
      upstream.close();
    }
  });
});

describe('static files', () => {
  it('serves the page and its bundle', async () => {
    const i = await get(dash.url);
    expect(i.status).toBe(200);
    expect(i.headers['content-type']).toMatch(/text\/html/);
    expect(i.body).toContain('<title>t</title>');
    const js = await get(`${dash.url}app.js`);
    expect(js.headers['content-type']).toMatch(/text\/javascript/);
  });

  it('never serves anything outside its root', async () => {
    for (const p of ['/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd', '/nope.js', '/pmapix']) {
      const r = await get(dash.url.replace(/\/$/, '') + p);
      expect(r.status, p).toBe(404);
      expect(r.body).not.toContain('root:');
    }
    const put = await get(dash.url, {}, 'PUT');
    expect(put.status).toBe(405);
  });
});

describe('binding and command line', () => {
  it('binds to 127.0.0.1 unless told otherwise', () => {
    expect(dash.address.address).toBe('127.0.0.1');
  });

  it('rejects a bad --pmproxy or --port with a message naming it', () => {
    execFileSync('npx', ['tsc', '-p', 'web/tsconfig.json'], { cwd: REPO });
    const main = path.join(REPO, 'dist/web/server/main.js');
    const bad = spawnSync(process.execPath, [main, '--pmproxy', 'localhost:44322'], { encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--pmproxy "localhost:44322"/);
    const port = spawnSync(process.execPath, [main, '--port', '70000'], { encoding: 'utf8' });
    expect(port.status).not.toBe(0);
    expect(port.stderr).toMatch(/"70000" is not a TCP port/);
  });
});
