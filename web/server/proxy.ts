// Forwards /pmapi/* to pmproxy over kept-alive connections. pmproxy 6.0.3 cuts chunked replies
// after ~4 KB when the request says "Connection: close" (e.g. /pmapi/metric?prefix=kernel, or the
// indom of a big histogram), so the browser's own Connection header is never passed on: the
// upstream request always goes out on the keep-alive agent.
import * as http from 'node:http';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

const FORWARDED_REQUEST_HEADERS = ['accept', 'accept-language', 'user-agent'];

export interface ProxyOptions {
  /** pmproxy base URL, e.g. http://localhost:44322 */
  target: URL;
  /** Give up on pmproxy after this long (its default polltimeout is 5 s; replies are quick). */
  timeoutMs?: number;
}

export class PmapiProxy {
  readonly agent: http.Agent;

  constructor(private readonly opts: ProxyOptions) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 16, keepAliveMsecs: 10_000 });
  }

  close(): void {
    this.agent.destroy();
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const method = req.method ?? 'GET';
    // GET carries every /pmapi parameter (store included). POST is not forwarded: pmproxy 6.0.3
    // crashes (SIGSEGV in libpcp_web) on a POST /pmapi/store with a form body.
    if (method !== 'GET' && method !== 'HEAD') {
      req.resume();
      res.setHeader('allow', 'GET, HEAD');
      sendJson(res, 405, { message: `method ${method} is not forwarded to pmproxy: use GET with query parameters`, success: false });
      return;
    }
    req.resume();
    req.on('end', () => this.forward(req, res, 0));
    req.on('error', () => res.destroy());
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse, attempt: number): void {
    const headers: http.OutgoingHttpHeaders = {};
    for (const h of FORWARDED_REQUEST_HEADERS) {
      const v = req.headers[h];
      if (v !== undefined) headers[h] = v;
    }
    const target = this.opts.target;
    const upstream = http.request({
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port || 80,
      method: req.method,
      path: req.url,
      headers,
      agent: this.agent,
    });
    upstream.setTimeout(this.opts.timeoutMs ?? 30_000, () => {
      upstream.destroy(Object.assign(new Error(`no reply within ${this.opts.timeoutMs ?? 30_000} ms`), { code: 'ETIMEDOUT' }));
    });
    upstream.on('response', (up) => {
      const out: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
      out['cache-control'] = 'no-store';
      res.writeHead(up.statusCode ?? 502, up.statusMessage, out);
      up.pipe(res);
      up.on('error', () => res.destroy());
      // pmproxy went away mid-reply: the browser must not take a cut body for a whole one.
      up.on('close', () => {
        if (!up.complete) res.destroy();
      });
    });
    // The browser gave up (page closed, request aborted): stop waiting for pmproxy too.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // A kept-alive socket that pmproxy closed while idle fails at once; try once on a new one.
      if (upstream.reusedSocket && attempt === 0 && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
        this.forward(req, res, attempt + 1);
        return;
      }
      const status = err.code === 'ETIMEDOUT' ? 504 : 502;
      sendJson(res, status, {
        message: `pmproxy at ${target.origin} unreachable: ${err.code ? `${err.code} ` : ''}${err.message}`,
        success: false,
        unreachable: true,
      });
    });
    upstream.end();
  }
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
