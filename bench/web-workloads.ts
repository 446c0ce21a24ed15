// Real workloads that make every dashboard panel show something: a CPU burner with a known
// function name (flame graph), an exec storm with a marker in its arguments (execsnoop), a
// direct-I/O dd (disk latency, biotop), and a loopback TCP transfer of a known size (tcplife,
// tcptop). Each returns a stop() that ends what it started, by pid.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const BURNER_FUNCTION = 'dashboard_burner_spin';

// alarm(): a burner orphaned by a crashed test run still ends by itself after 10 minutes.
const BURNER_C = `
#include <stdint.h>
#include <unistd.h>
volatile uint64_t sink;
__attribute__((noinline)) void ${BURNER_FUNCTION}(void) {
  for (uint64_t i = 0; i < 50000000ULL; i++) sink += i * 2654435761u;
}
int main(void) { alarm(600); for (;;) ${BURNER_FUNCTION}(); }
`;

export interface Running {
  pid: number;
  stop(): void;
}

/** Kills what `child` started: its own process group (shell loops leave dd and sleep behind otherwise). */
function stopper(child: ChildProcess): () => void {
  return () => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
}

/** A shell loop in a process group of its own, so stop() ends the loop and whatever it runs. */
function shellLoop(script: string): ChildProcess {
  const child = spawn('/bin/sh', ['-c', script], { stdio: 'ignore', detached: true });
  child.unref();
  return child;
}

/** Compile (frame pointers kept, symbols not stripped, so user stacks unwind and resolve) and run. */
export function startCpuBurner(dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dash-burner-'))): Running & { binary: string } {
  const src = path.join(dir, 'burner.c');
  const binary = path.join(dir, 'dashburner');
  fs.writeFileSync(src, BURNER_C);
  execFileSync('clang', ['-O1', '-g', '-fno-omit-frame-pointer', '-o', binary, src]);
  const child = spawn(binary, [], { stdio: 'ignore', detached: true });
  child.unref();
  return { pid: child.pid!, binary, stop: stopper(child) };
}

/** `count` execs of /bin/true with "<marker>-<i>" as argument, `perSecond` a second. */
export function startExecStorm(marker: string, count: number, perSecond = 20): Running {
  const script = `i=0; while [ $i -lt ${count} ]; do /bin/true ${marker}-$i; i=$((i+1)); sleep ${(1 / perSecond).toFixed(3)}; done`;
  const child = shellLoop(script);
  return { pid: child.pid!, stop: stopper(child) };
}

/** dd with O_DIRECT writes (and reads back) in a loop, so every I/O reaches the disk. */
export function startDd(file = path.join('/var/tmp', `dash-dd-${process.pid}`), rounds = 400): Running {
  const script =
    `i=0; while [ $i -lt ${rounds} ]; do ` +
    `dd if=/dev/zero of=${file} bs=64k count=64 oflag=direct conv=fsync status=none; ` +
    `dd if=${file} of=/dev/null bs=64k iflag=direct status=none; i=$((i+1)); done; rm -f ${file}`;
  const child = shellLoop(script);
  const stop = stopper(child);
  return {
    pid: child.pid!,
    stop() {
      stop();
      fs.rmSync(file, { force: true });
    },
  };
}

export interface Transfer {
  serverPort: number;
  clientPort: number;
  bytes: number;
}

/**
 * Send `bytes` from a client to a server over 127.0.0.1, spread over `seconds` (so tcptop sees
 * it in several intervals), then close both ends (so tcplife reports the session).
 */
export async function loopbackTransfer(bytes: number, seconds = 2): Promise<Transfer> {
  let received = 0;
  let done!: () => void;
  const allIn = new Promise<void>((r) => (done = r));
  const server = net.createServer((sock) => {
    sock.on('data', (c: Buffer) => {
      received += c.length;
      if (received >= bytes) done();
    });
    sock.on('end', () => sock.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const serverPort = (server.address() as net.AddressInfo).port;
  const client = net.connect(serverPort, '127.0.0.1');
  await new Promise<void>((r) => client.once('connect', () => r()));
  const clientPort = client.localPort!;
  const steps = Math.max(1, Math.round(seconds * 10));
  const chunk = Math.ceil(bytes / steps);
  let sent = 0;
  for (let i = 0; i < steps && sent < bytes; i++) {
    const n = Math.min(chunk, bytes - sent);
    client.write(Buffer.alloc(n, 0x61));
    sent += n;
    await new Promise((r) => setTimeout(r, 100));
  }
  await allIn;
  await new Promise<void>((r) => client.end(() => r()));
  await new Promise<void>((r) => client.once('close', () => r()));
  await new Promise<void>((r) => server.close(() => r()));
  return { serverPort, clientPort, bytes };
}
