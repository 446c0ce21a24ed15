// Block workloads whose size and time are known: a loop device of our own (nobody else does I/O
// on it) and O_DIRECT dd, timed. The kernel's own accounting of that device (/sys/block/X/stat:
// requests and milliseconds spent) is the reference the eBPF numbers are held against.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Loop {
  dev: string;
  name: string;
  major: number;
  minor: number;
  /** Detach the device and delete its image; throws (naming what) if either fails. */
  release(): void;
}

/** A loop device over a fresh image in its own temp directory. directIo: the loop driver
 *  writes through to the disk under /, so each request takes that disk's time (not a memcpy). */
export function makeLoop(sizeMiB: number, directIo = false): Loop {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmda-ebpf-loop-'));
  const img = path.join(dir, 'loop.img');
  try {
    execFileSync('truncate', ['-s', `${sizeMiB}M`, img]);
    // Allocate the blocks: writes then never wait for the backing file system to allocate.
    execFileSync('fallocate', ['-l', `${sizeMiB}M`, img]);
    const dev = execFileSync('losetup', ['-f', '--show', ...(directIo ? ['--direct-io=on'] : []), img], { encoding: 'utf8' }).trim();
    const name = path.basename(dev);
    const [major, minor] = fs.readFileSync(`/sys/block/${name}/dev`, 'utf8').trim().split(':').map(Number);
    return {
      dev,
      name,
      major,
      minor,
      release() {
        const r = spawnSync('losetup', ['-d', dev], { encoding: 'utf8' });
        fs.rmSync(dir, { recursive: true, force: true });
        if (r.status !== 0) throw new Error(`losetup -d ${dev} failed: ${r.stderr}`);
      },
    };
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

export interface DiskStat {
  writes: number;
  /** Milliseconds the kernel counted for completed writes (from request start to completion). */
  writeMs: number;
}

export function diskStat(name: string): DiskStat {
  const f = fs.readFileSync(`/sys/block/${name}/stat`, 'utf8').trim().split(/\s+/).map(Number);
  return { writes: f[4], writeMs: f[7] };
}

/** dd `count` O_DIRECT writes of `bs` bytes to `target`; its wall time in microseconds. Each
 *  write waits for its request, so the requests follow one another: their latencies sum to
 *  less than this. */
export function ddDirectWrite(target: string, count: number, bs = 65536): number {
  const t0 = process.hrtime.bigint();
  execFileSync('dd', ['if=/dev/zero', `of=${target}`, `bs=${bs}`, `count=${count}`, 'oflag=direct', 'conv=notrunc'], { stdio: 'ignore' });
  return Number((process.hrtime.bigint() - t0) / 1000n);
}
