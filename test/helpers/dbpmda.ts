// dbpmda driven one command at a time (its output unbuffered through stdbuf), so a test waits
// for an answer — values instead of PM_ERR_AGAIN, a status that changed — instead of putting
// fixed `wait N` steps between commands and hoping the agent kept up.
import { spawn, type ChildProcess } from 'node:child_process';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Dbpmda {
  private readonly child: ChildProcess;
  private out = '';
  readonly exited: Promise<number>;

  /** dbpmda with the PMNS `root` (-n), echoing its input (-e), without ~/.dbpmdarc (-f). */
  constructor(root: string) {
    this.child = spawn('stdbuf', ['-o0', '-e0', 'dbpmda', '-n', root, '-e', '-f'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d) => (this.out += d));
    this.child.stderr!.on('data', (d) => (this.out += d));
    this.exited = new Promise((r) => this.child.on('exit', (c) => r(c ?? -1)));
  }

  /** Everything dbpmda wrote so far (for failure messages). */
  get output(): string {
    return this.out;
  }

  /** Send one command; resolve with its output once `until` matches it. */
  async cmd(line: string, until: RegExp, timeoutMs = 10_000): Promise<string> {
    const from = this.out.length;
    this.child.stdin!.write(`${line}\n`);
    const end = Date.now() + timeoutMs;
    while (!until.test(this.out.slice(from))) {
      if (Date.now() > end || this.child.exitCode !== null) throw new Error(`dbpmda: no answer matching ${until} to "${line}":\n${this.out.slice(-3000)}`);
      await sleep(20);
    }
    return this.out.slice(from);
  }

  /** Repeat `line` until its answer satisfies `done` (each answer complete per `until`). */
  async poll(line: string, until: RegExp, done: (answer: string) => boolean, timeoutMs = 30_000, everyMs = 100): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const answer = await this.cmd(line, until);
      if (done(answer)) return answer;
      if (Date.now() > end) throw new Error(`dbpmda: "${line}" never gave the awaited answer; last:\n${answer}`);
      await sleep(everyMs);
    }
  }

  /** close, end of input; resolves with dbpmda's exit code. */
  async close(): Promise<number> {
    this.child.stdin!.end('close\n');
    return this.exited;
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
