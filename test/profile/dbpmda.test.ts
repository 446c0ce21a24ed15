// profile through the real agent and PCP's dbpmda (which starts the agent on pipes as pmcd
// does): pmstore start/stop, the JSON tree, the stacks instances, and the store refusal.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODULES } from '../../src/modules';
import { Dbpmda } from '../helpers/dbpmda';
import { compileFixture, tempDir } from './helpers';

const AGENT = path.resolve(__dirname, '../../dist/src/main.js');

/** ebpf.conf (profile only) and a PMNS root in `dir`; returns the root's path. */
function writeSession(dir: string, profileConf: string): string {
  const others = MODULES.filter((m) => m.name !== 'profile')
    .map((m) => `[${m.name}]\nenabled = false\n`)
    .join('');
  fs.writeFileSync(path.join(dir, 'ebpf.conf'), `[profile]\nenabled = true\n${profileConf}${others}`);
  fs.writeFileSync(path.join(dir, 'root'), 'root {\n\tbcc\t149:*:*\n}\n');
  return path.join(dir, 'root');
}

const openCommand = (dir: string) => `open pipe ${process.execPath} ${AGENT} -d 149 -l ${dir}/agent.log -c ${dir}/ebpf.conf --state-dir ${dir}/state`;

function session(dir: string, profileConf: string, cmds: string[]): string {
  const root = writeSession(dir, profileConf);
  const r = spawnSync('dbpmda', ['-n', root, '-e', '-f'], {
    input: [openCommand(dir), ...cmds, 'close', ''].join('\n'),
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 256 << 20,
  });
  const out = r.stdout + r.stderr;
  expect(r.status, `${r.error?.message ?? ''}\n${out.slice(-3000)}`).toBe(0);
  return out;
}

/** The string values dbpmda printed for a singular metric, in order. */
function stringValues(out: string, pmid: string): string[] {
  const vals: string[] = [];
  const re = new RegExp(`${pmid.replace(/\./g, '\\.')} \\(<noname>\\): numval: 1 valfmt: 1 vlist\\[\\]:\\n\\s+value "(.*)"\\n`, 'g');
  for (const m of out.matchAll(re)) vals.push(m[1]);
  return vals;
}

beforeAll(() => {
  if (!fs.existsSync(AGENT)) throw new Error(`${AGENT} missing: run npm run build:ts first`);
  spawnSync('make', ['-s', '-C', path.resolve(__dirname, '../../bpf'), '.output/profile.bpf.o']);
});
afterAll(() => fs.rmSync(tempDir(), { recursive: true, force: true }));

describe('profile under dbpmda', () => {
  it('pmstore start, pmstore stop: the JSON tree has main → outer_fn → middle_fn → burn_fn, and so have the stacks instances', async () => {
    const dir = fs.mkdtempSync(path.join(tempDir(), 'dbpmda-'));
    // dbpmda cannot start a workload mid-session: the burner runs alongside the whole session.
    const burner = spawn(compileFixture('nested-burn'), ['30'], { stdio: 'ignore' });
    const db = new Dbpmda(writeSession(dir, `allow_store = true\nsample_frequency = 199\nprocess = ${burner.pid}\n`));
    try {
      await db.cmd(openCommand(dir), /Start \S+ PMDA/);
      // Each step waits for its answer: values rather than PM_ERR_AGAIN while the module
      // starts, samples of the burner before the stop, the stopped tree after it.
      const PROFILE = /value "(\{.*\})"\n|Try again|Error/;
      const profile = async () => PROFILE.exec(await db.cmd('fetch bcc.proc.profile', PROFILE))![1] ?? '';
      await db.poll('fetch bcc.proc.profile', PROFILE, (a) => /value "/.test(a));
      expect(await profile()).toBe('{"status": "stopped", "data": null}');
      const SAMPLES = /value (\d+)\n|Try again|Error/;
      const samples = async () => Number(SAMPLES.exec(await db.cmd('fetch bcc.proc.sampler.samples', SAMPLES))![1] ?? NaN);
      await db.cmd('store bcc.proc.profile "start"', /Sending Result|Error/);
      expect(await profile()).toBe('{"status": "started", "data": null}');
      // The burner is the only process sampled (199 Hz): stop after 200 more samples.
      const s0 = await samples();
      expect(s0).not.toBeNaN();
      await db.poll('fetch bcc.proc.sampler.samples', SAMPLES, (a) => Number(SAMPLES.exec(a)![1]) >= s0 + 200, 30_000, 200);
      await db.cmd('store bcc.proc.profile "stop"', /Sending Result|Error/);
      const answer = await db.poll('fetch bcc.proc.profile', PROFILE, (a) => /"status": "stopped", "data": \{/.test(a));
      await db.cmd('getiname on', /getiname on\n/);
      await db.cmd('fetch bcc.proc.stacks', new RegExp(`"nested-burn,${burner.pid}\\n[^"]*burn_fn|Error`));
      const out = db.output;
      expect(await db.close(), out).toBe(0);
      const last = JSON.parse(PROFILE.exec(answer)![1]!);
      expect(last.status).toBe('stopped');
      const comm = last.data.children.find((c: { name: string }) => c.name === 'nested-burn');
      const names: string[] = [];
      for (let n = comm; n; n = n.children.sort((a: { value: number }, b: { value: number }) => b.value - a.value)[0]) names.push(n.name);
      expect(names.join(' ')).toContain('main outer_fn middle_fn burn_fn');
      // The stacks instance of the burner: "nested-burn,PID" then the frames, one per line.
      expect(out).toContain(`"nested-burn,${burner.pid}\n__libc_start_call_main\nmain\nouter_fn\nmiddle_fn\nburn_fn`);
    } finally {
      db.kill();
      burner.kill('SIGKILL');
    }
  });

  it('refuses pmstore with "No permission" unless allow_store is set', () => {
    const dir = fs.mkdtempSync(path.join(tempDir(), 'dbpmda-'));
    const out = session(dir, '', ['store bcc.proc.profile "start"', 'fetch bcc.proc.profile']);
    expect(out).toMatch(/-> "start"\nSending Result\.\.\.\nError PDU: No permission to perform requested operation/);
    expect(stringValues(out, '149.14.0')).toEqual(['{"status": "stopped", "data": null}']);
  });
});
