// exectop against the real kernel: a process filtered by PID makes N failed execs (counted
// under its own name) and then one successful exec of /bin/true (counted under "true").
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exectop } from '../../src/modules/exectop';
import { buildObjects, context, tmpRoot } from '../modules/hist-helpers';
import { byName, worker } from './worker';

beforeAll(() => buildObjects('exectop', 'syscall_table'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

const N = 23;

describe('exectop', () => {
  for (const variant of ['auto', 'tracepoint', 'raw_syscalls']) {
    it(`counts failed execs under the caller and a successful one under the new program (variant ${variant})`, async () => {
      const comm = `pmdaexec-${variant.slice(0, 4)}`;
      // exec of a missing file fails with ENOENT; the last exec replaces the worker with true.
      const w = worker(comm, `for (1..${N}) { exec('/nonexistent/pmda-ebpf-test') } print "done\\n"; exec('/bin/true')`);
      await w.ready;
      const { ctx, state } = context(exectop, { process: String(w.pid), variant });
      const m = exectop.create(ctx);
      try {
        await m.start();
        expect(state.variant).toBe(variant === 'auto' ? 'tracepoint' : variant);
        const indom = ctx.indom(13);
        const before = byName(m, 0, indom);
        expect(before.size).toBe(0);
        await w.run();
        await new Promise((r) => setTimeout(r, 200)); // the exec of true returns after "done"
        const after = byName(m, 0, indom);
        expect(after.get(comm)).toBe(BigInt(N));
        expect(after.get('true')).toBe(1n);
        expect(after.size).toBe(2);
      } finally {
        w.stop();
        await m.stop();
      }
    });
  }
});
