// perf map files (/tmp/perf-PID.map): the names JIT compilers give their generated code, one
// "START SIZE name" line per code object, hex numbers, appended as code is compiled (Node
// writes it with --perf-basic-prof). The file only grows, so each refresh reads the new tail.
// Code memory is reused after garbage collection: of two entries covering an address, the
// later line is the current one.
import * as fs from 'node:fs';

/** How far back a lookup looks for an older, longer entry that still covers the address. */
const OVERLAP_SCAN = 64;

export class PerfMap {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private readonly names: string[] = [];
  /** Sorted view (indices into the arrays above), rebuilt lazily after new lines. */
  private order: Uint32Array | null = null;
  private bytesRead = 0;
  private partial = '';

  constructor(readonly file: string) {}

  get size(): number {
    return this.starts.length;
  }

  /**
   * Read lines appended since the last call. Returns false when the file cannot be read
   * (the entries already read stay usable).
   */
  refresh(): boolean {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return false;
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size < this.bytesRead) {
        // Truncated: a new process with a reused PID started over.
        this.starts.length = this.ends.length = this.names.length = 0;
        this.bytesRead = 0;
        this.partial = '';
      }
      if (size === this.bytesRead) return true;
      const buf = Buffer.allocUnsafe(size - this.bytesRead);
      const n = fs.readSync(fd, buf, 0, buf.length, this.bytesRead);
      this.bytesRead += n;
      this.addText(this.partial + buf.toString('utf8', 0, n));
      return true;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Parse complete lines; keep an unfinished last line for the next read. */
  addText(text: string): void {
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      const a = line.indexOf(' ');
      const b = a < 0 ? -1 : line.indexOf(' ', a + 1);
      if (b < 0) continue;
      const start = parseInt(line.slice(0, a), 16);
      const size = parseInt(line.slice(a + 1, b), 16);
      const name = line.slice(b + 1).trim();
      if (!Number.isFinite(start) || !Number.isFinite(size) || size <= 0 || !name) continue;
      this.starts.push(start);
      this.ends.push(start + size);
      this.names.push(name);
    }
    if (lines.length) this.order = null;
  }

  private sorted(): Uint32Array {
    if (!this.order) {
      const idx = new Uint32Array(this.starts.length);
      for (let i = 0; i < idx.length; i++) idx[i] = i;
      // Equal starts: file order, so the scan below meets the newest last.
      idx.sort((a, b) => this.starts[a] - this.starts[b] || a - b);
      this.order = idx;
    }
    return this.order;
  }

  /** The newest entry covering addr. */
  lookup(addr: number): string | undefined {
    const idx = this.sorted();
    let lo = 0;
    let hi = idx.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[idx[mid]] <= addr) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    let best = -1;
    for (let k = found; k >= 0 && k > found - OVERLAP_SCAN; k--) {
      const i = idx[k];
      if (addr < this.ends[i] && i > best) best = i;
    }
    return best < 0 ? undefined : this.names[best];
  }
}
