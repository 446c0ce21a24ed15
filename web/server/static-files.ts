// Serves the built page (dist/web/public) and nothing else: no directory listings, no path
// outside the root, no symlink escapes.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

export class StaticFiles {
  private readonly root: string;

  constructor(root: string) {
    this.root = fs.realpathSync(root);
  }

  /** Resolve a URL path to a file under the root, or null. */
  resolve(urlPath: string): string | null {
    let p: string;
    try {
      p = decodeURIComponent(urlPath.split('?')[0]!);
    } catch {
      return null;
    }
    if (p.includes('\0')) return null;
    if (p === '/' || p === '') p = '/index.html';
    const file = path.resolve(this.root, '.' + path.posix.normalize(p));
    if (file !== this.root && !file.startsWith(this.root + path.sep)) return null;
    try {
      const real = fs.realpathSync(file);
      if (!real.startsWith(this.root + path.sep)) return null;
      if (!fs.statSync(real).isFile()) return null;
      return real;
    } catch {
      return null;
    }
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('method not allowed\n');
      return;
    }
    const file = this.resolve(req.url ?? '/');
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    const stat = fs.statSync(file);
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': stat.size,
      // The bundle is rebuilt in place; always revalidate.
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    fs.createReadStream(file).on('error', () => res.destroy()).pipe(res);
  }
}
