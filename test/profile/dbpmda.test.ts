// profile through the real agent and PCP's dbpmda (which starts the agent on pipes as pmcd
// does): pmstore start/stop, the JSON tree, the stacks instances, and the store refusal.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODULES } from '../../src/modules';
import { compileFixture, tempDir } from './helpers';

const AGENT = path.resolve(__dirname, '../../dist/src/main.js');

function session(dir: string, profileConf: string, cmds: string[]): string {
  const others = MODULES.filter((m) => m.name !== 'profile')
    .map((m) => `[${m.name}]\nenabled = false\n`)
    .join('');
  fs.writeFileSync(path.join(dir, 'ebpf.conf'), `[profile]\nenabled = true\n${profileConf}${others}`);
  fs.writeFileSync(path.join(dir, 'root'), 'root {\n\tbcc\t149:*:*\n}\n');
  const open = `open pipe ${process.execPath} ${AGENT} -d 149 -l ${dir}/agent.log -c ${dir}/ebpf.conf --state-dir ${dir}/state`;
  const r = spawnSync('dbpmda', ['-n', path.join(dir, 'root'), '-e', '-f'], {
    input: [open, ...cmds, 'close', ''].join('\n'),
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
  it('pmstore start, pmstore stop: the JSON tree has main → outer_fn → middle_fn → burn_fn, and so have the stacks instances', () => {
    const dir = fs.mkdtempSync(path.join(tempDir(), 'dbpmda-'));
    // dbpmda cannot start a workload mid-session: the burner runs alongside the whole session.
    const burner = spawn(compileFixture('nested-burn'), ['30'], { stdio: 'ignore' });
    try {
      const out = session(dir, `allow_store = true\nsample_frequency = 199\nprocess = ${burner.pid}\n`, [
        'fetch bcc.proc.profile',
        'store bcc.proc.profile "start"',
        'fetch bcc.proc.profile',
        'wait 3',
        'store bcc.proc.profile "stop"',
        'wait 1',
        'fetch bcc.proc.profile',
        'getiname on',
        'fetch bcc.proc.stacks',
      ]);
      const vals = stringValues(out, '149.14.0');
      expect(vals[0]).toBe('{"status": "stopped", "data": null}');
      expect(vals[1]).toBe('{"status": "started", "data": null}');
      const last = JSON.parse(vals[2]);
      expect(last.status).toBe('stopped');
      const comm = last.data.children.find((c: { name: string }) => c.name === 'nested-burn');
      const names: string[] = [];
      for (let n = comm; n; n = n.children.sort((a: { value: number }, b: { value: number }) => b.value - a.value)[0]) names.push(n.name);
      expect(names.join(' ')).toContain('main outer_fn middle_fn burn_fn');
      // The stacks instance of the burner: "nested-burn,PID" then the frames, one per line.
      expect(out).toContain(`"nested-burn,${burner.pid}\n__libc_start_call_main\nmain\nouter_fn\nmiddle_fn\nburn_fn`);
    } finally {
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
