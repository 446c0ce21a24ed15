// The shared tool life cycle (src/modules/shared/tool.ts) on a real object: a forced variant
// loads only its own programs even where another variant's program cannot load at all; auto
// falls back past it; decoders' record layouts are checked against the object's BTF; a missing
// kernel feature becomes ModuleUnavailable keeping its cause; Closer closes once, in reverse.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { BpfError, NoVariantError, loadWithVariants, type Hook } from '../../src/bpf';
import { UNITS, ModuleUnavailable, type ModuleSpec } from '../../src/pmda/module';
import { ModuleState, makeModuleContext } from '../../src/pmda/module-context';
import { Closer, forceVariant, loadTool } from '../../src/modules/shared/tool';
import { PM_SEM, PM_TYPE } from '../../src/pcp/types';
import { execFileSync } from 'node:child_process';

const ROOT = path.resolve(__dirname, '../..');
const FIXTURES = path.join(ROOT, 'bpf/.output/fixtures');
execFileSync('make', ['-s', '-C', path.join(ROOT, 'bpf'), '.output/fixtures/variants.bpf.o'], { stdio: 'inherit' });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pmda-lifecycle-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const spec: ModuleSpec = {
  name: 'fixture',
  cluster: 250,
  defaultEnabled: false,
  metrics: [{ name: 'x.y', item: 0, type: PM_TYPE.U64, sem: PM_SEM.COUNTER, units: UNITS.count, indom: null, oneline: '', help: '' }],
  indoms: [],
  config: {},
  create: () => {
    throw new Error('not used');
  },
};

function ctx() {
  const state = new ModuleState();
  const log = pino({ level: 'silent' });
  return { ctx: makeModuleContext(spec, { domain: 149, log, paths: { bpfDir: FIXTURES, stateDir: tmp }, persist: false }, state), state };
}

const hooks = (): Hook[] => [
  {
    name: 'switch',
    variants: [
      // Claims to be available: only the load finds out it is not.
      { name: 'tp_btf', programs: ['broken_btf'], available: () => true },
      { name: 'tracepoint', programs: ['good_tp'], available: () => true },
    ],
  },
];

describe('tool life cycle', () => {
  it('a forced variant loads only its programs, where the other variant cannot load at all', () => {
    const { ctx: c, state } = ctx();
    const loaded = loadTool(c, { object: 'variants.bpf.o', hooks: hooks(), variant: 'tracepoint' });
    try {
      expect(loaded.obj.loadedPrograms()).toEqual(['good_tp']);
      expect(state.variant).toBe('tracepoint');
    } finally {
      loaded.obj.close();
    }
  });

  it('the old way (a filtered hook list alone) left the other program autoloaded and failed', () => {
    const filtered = hooks().map((h) => ({ ...h, variants: h.variants.filter((v) => v.name === 'tracepoint') }));
    expect(() => loadWithVariants(path.join(FIXTURES, 'variants.bpf.o'), filtered, () => {}, pino({ level: 'silent' }))).toThrow(BpfError);
  });

  it('auto falls back past a variant the kernel refuses at load', () => {
    const { ctx: c, state } = ctx();
    const loaded = loadTool(c, { object: 'variants.bpf.o', hooks: hooks() });
    try {
      expect(loaded.chosen).toEqual({ switch: 'tracepoint' });
      expect(state.variant).toBe('tracepoint');
    } finally {
      loaded.obj.close();
    }
  });

  it('naming a variant no hook offers is refused with the ones there are', () => {
    expect(() => forceVariant(hooks(), 'kprobe')).toThrow(/variant "kprobe" is not offered by this tool \(it has tp_btf, tracepoint\)/);
  });

  it('no variant left → ModuleUnavailable keeping the NoVariantError as its cause', () => {
    const { ctx: c } = ctx();
    const none: Hook[] = [{ name: 'switch', variants: [{ name: 'kprobe', programs: ['good_tp'], available: () => 'kprobes are not available here' }] }];
    let err: unknown;
    try {
      loadTool(c, { object: 'variants.bpf.o', hooks: none });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModuleUnavailable);
    expect((err as Error).message).toMatch(/kprobes are not available here/);
    expect((err as Error).cause).toBeInstanceOf(NoVariantError);
  });

  it('a decoder layout that matches the BTF loads', () => {
    const { ctx: c } = ctx();
    const loaded = loadTool(c, {
      object: 'variants.bpf.o',
      hooks: hooks(),
      variant: 'tracepoint',
      layouts: [{ struct: 'layout_rec', size: 32, fields: { ts: 0, pid: 8, flags: 12, comm: { offset: 16, size: 16 } } }],
    });
    loaded.obj.close();
  });

  it('a record struct whose layout differs from the decoder is refused, naming struct and field', () => {
    const { ctx: c } = ctx();
    const load = (fields: Record<string, number | { offset: number; size: number }>, size?: number) => () =>
      loadTool(c, { object: 'variants.bpf.o', hooks: hooks(), variant: 'tracepoint', layouts: [{ struct: 'layout_rec', size, fields }] });
    expect(load({ flags: 8 })).toThrow(/struct layout_rec\.flags.*is at offset 12, the decoder reads offset 8/);
    expect(load({ comm: { offset: 16, size: 8 } })).toThrow(/struct layout_rec\.comm.*is 16 bytes, the decoder reads 8/);
    expect(load({ uid: 4 })).toThrow(/struct layout_rec\.uid.*no such field \(the struct has ts, pid, flags, comm\)/);
    expect(load({}, 40)).toThrow(/struct layout_rec.*is 32 bytes, the decoder expects 40/);
    expect(() =>
      loadTool(c, { object: 'variants.bpf.o', hooks: hooks(), variant: 'tracepoint', layouts: [{ struct: 'no_such_rec', fields: {} }] }),
    ).toThrow(/struct no_such_rec.*has no BTF for it/);
  });

  it('Closer closes in reverse order, each once, and goes on past a failure', () => {
    const order: string[] = [];
    const warnings: string[] = [];
    const c = new Closer();
    c.add('a', 'a', (x) => order.push(x));
    c.add('b', 'b', () => {
      order.push('b');
      throw new Error('b broke');
    });
    c.add('c', 'c', (x) => order.push(x));
    const log = { warn: (o: object, msg: string) => warnings.push(`${msg}: ${JSON.stringify(o)}`) };
    c.closeAll(log);
    c.closeAll(log);
    expect(order).toEqual(['c', 'b', 'a']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/close failed.*"what":"b".*b broke/);
  });
});
