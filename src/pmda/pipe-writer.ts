// The only code that writes to fd 1, pmcd's PDU pipe. fs.writeSync keeps replies whole and in
// order. process.stdout is never touched: it would switch fd 1 to O_NONBLOCK, after which a
// reply larger than the free pipe space throws EAGAIN mid-PDU (pcp-pmda-protocol.md §11.11).
import * as fs from 'node:fs';

const PIPE = 1;

export function writePdu(buf: Buffer): void {
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(PIPE, buf, off, buf.length - off);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      // Some other code made the fd non-blocking after all: wait for pmcd to read, then go on.
      if (err.code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
        continue;
      }
      throw err;
    }
  }
}
