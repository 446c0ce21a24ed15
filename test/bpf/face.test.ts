// The libbpf face against the real kernel, with the fixture test/bpf/fixtures/face.bpf.c
// (built by `make -C bpf fixtures`). Each fixture program counts this process's getppid()
// calls into hits[variant] (scaled by the rodata `increment`).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import koffi from 'koffi';
import pino from 'pino';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  BpfError,
  BpfMap,
  BpfObject,
  NoVariantError,
  enableBpfStats,
  kernelFeatures,
  libbpfVersion,
  loadWithVariants,
  onlineCpus,
  possibleCpus,
  type Hook,
} from '../../src/bpf';

const ROOT = path.resolve(__dirname, '../..');
const FIXTURE = path.join(ROOT, 'bpf/.output/fixtures/face.bpf.o');
const getppid = koffi.load('libc.so.6').func('int getppid(void)') as () => number;
const V = { fentry: 0, tpbtf_missing: 1, kprobe: 2, tpbtf: 3, rawtp: 4, tp: 5 };
const ALL = ['f_fentry', 'f_tpbtf_missing', 'f_kprobe', 'f_tpbtf', 'f_rawtp', 'f_tp', 'f_perf', 'f_filter'];

function memLog() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

function hits(obj: BpfObject): bigint[] {
  const b = obj.readGlobal('hits');
  return Array.from({ length: 6 }, (_, i) => b.readBigUInt64LE(i * 8));
}

function openOnly(programs: string[], rodata: Record<string, number | string> = {}): BpfObject {
  const obj = BpfObject.open(FIXTURE);
  for (const p of ALL) obj.setAutoload(p, programs.includes(p));
  obj.setRodata({ target_tgid: process.pid, ...rodata });
  return obj;
}

function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

const open: BpfObject[] = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

beforeAll(() => {
  execFileSync('make', ['-s', '-C', path.join(ROOT, 'bpf'), 'fixtures'], { stdio: 'inherit' });
});

describe('library facts', () => {
  it('reports the libbpf version and CPU counts', () => {
    expect(libbpfVersion()).toMatch(/^v1\.\d+/);
    expect(possibleCpus()).toBeGreaterThanOrEqual(onlineCpus().length);
    expect(onlineCpus()).toContain(0);
  });
});

describe('kernelFeatures', () => {
  it('finds BTF typedefs of tracepoints and rejects made-up ones', () => {
    expect(kernelFeatures.hasBtfType('btf_trace_sched_switch', 'typedef')).toBe(true);
    expect(kernelFeatures.hasBtfType('btf_trace_pmda_ebpf_no_such_event', 'typedef')).toBe(false);
    expect(kernelFeatures.hasBtfType('task_struct', 'struct')).toBe(true);
    expect(kernelFeatures.hasBtfType('vfs_read', 'func')).toBe(true);
  });

  it('counts raw tracepoint arguments from BTF', () => {
    expect(kernelFeatures.btfTracepointArgs('sched_switch')).toBe(4); // preempt, prev, next, prev_state (5.18+)
    expect(kernelFeatures.btfTracepointArgs('sched_wakeup')).toBe(1);
    expect(kernelFeatures.btfTracepointArgs('pmda_ebpf_no_such_event')).toBeNull();
  });

  it('finds classic tracepoints in tracefs', () => {
    expect(kernelFeatures.hasTracepoint('sched', 'sched_switch')).toBe(true);
    expect(kernelFeatures.hasTracepoint('sched', 'pmda_ebpf_nope')).toBe(false);
  });

  it('kprobesAvailable agrees with whether a kprobe really attaches', () => {
    const obj = openOnly(['f_kprobe']);
    open.push(obj);
    obj.load();
    let attached = true;
    try {
      obj.attach('f_kprobe');
    } catch {
      attached = false;
    }
    expect(kernelFeatures.kprobesAvailable()).toBe(attached);
  });

  it('fentryAvailable agrees with whether an fentry program really loads', () => {
    const obj = openOnly(['f_fentry']);
    open.push(obj);
    let loaded = true;
    try {
      obj.load();
    } catch (e) {
      loaded = false;
      expect((e as BpfError).program).toBe('f_fentry');
    }
    expect(kernelFeatures.fentryAvailable('__task_pid_nr_ns')).toBe(loaded);
  });

  it('knows kernel symbols', () => {
    expect(kernelFeatures.hasKsym('schedule')).toBe(true);
    expect(kernelFeatures.hasKsym('pmda_ebpf_no_such_symbol')).toBe(false);
  });
});

describe('BpfObject', () => {
  it('loads, attaches a tp_btf program and counts real syscalls', () => {
    const obj = openOnly(['f_tpbtf']);
    open.push(obj);
    obj.load();
    obj.attach('f_tpbtf');
    for (let i = 0; i < 25; i++) getppid();
    expect(hits(obj)[V.tpbtf]).toBe(25n);
  });

  it('rodata set before load changes what the program does', () => {
    const a = openOnly(['f_tp'], { increment: 1, label: 'x' });
    const b = openOnly(['f_tp'], { increment: 7, label: 'abcdefg' });
    open.push(a, b);
    for (const o of [a, b]) {
      o.load();
      o.attach('f_tp');
    }
    for (let i = 0; i < 10; i++) getppid();
    expect(hits(a)[V.tp]).toBe(10n);
    expect(hits(b)[V.tp]).toBe(70n);
    expect(a.readGlobal('last_label_len').readBigUInt64LE(0)).toBe(1n);
    expect(b.readGlobal('last_label_len').readBigUInt64LE(0)).toBe(7n);
  });

  it('rejects bad rodata with a message naming the variable', () => {
    const obj = BpfObject.open(FIXTURE);
    open.push(obj);
    expect(() => obj.setRodata({ nope: 1 })).toThrow(/nope: no such variable \(the section has filter_tgid_on, filter_cgroup_id, target_tgid, increment, label\)/);
    expect(() => obj.setRodata({ label: 'abcdefgh' })).toThrow(/label.*needs 9 bytes with its NUL, the variable has 8/);
    expect(() => obj.setRodata({ target_tgid: 2 ** 32 })).toThrow(/target_tgid.*does not fit in 4 bytes/);
    expect(() => obj.setRodata({ increment: 1.5 })).toThrow(/increment.*not an integer/);
    for (const p of ALL) obj.setAutoload(p, p === 'f_tp');
    obj.load();
    expect(() => obj.setRodata({ increment: 2 })).toThrow(/already loaded/);
  });

  it('names a missing object file and says how to build it', () => {
    expect(() => BpfObject.open('/nonexistent/x.bpf.o')).toThrow(/open object \/nonexistent\/x.bpf.o: ENOENT.*make -C bpf/);
  });

  it('load failure carries errno and the program name', () => {
    const obj = openOnly(['f_tpbtf_missing']);
    open.push(obj);
    let err: BpfError | undefined;
    try {
      obj.load();
    } catch (e) {
      err = e as BpfError;
    }
    expect(err).toBeInstanceOf(BpfError);
    expect(err!.errno).toBe(3); // ESRCH: no such tp_btf target in vmlinux BTF
    expect(err!.program).toBe('f_tpbtf_missing');
    expect(err!.message).toMatch(/load program f_tpbtf_missing in .*face.bpf.o: ESRCH/);
  });

  it.skipIf(kernelFeatures.kprobesAvailable())('attach failure carries errno and the program name (kernel without kprobes)', () => {
    const obj = openOnly(['f_kprobe']);
    open.push(obj);
    obj.load();
    let err: BpfError | undefined;
    try {
      obj.attach('f_kprobe');
    } catch (e) {
      err = e as BpfError;
    }
    expect(err!.errno).toBe(2);
    expect(err!.program).toBe('f_kprobe');
    expect(err!.message).toMatch(/attach program f_kprobe \(kprobe\/__x64_sys_getppid\): ENOENT/);
  });

  it('close releases every fd (maps, programs, links)', () => {
    const before = fdCount();
    const obj = openOnly(['f_tpbtf', 'f_tp']);
    obj.load();
    obj.attach('f_tpbtf');
    obj.attach('f_tp');
    obj.map('h').lookupBatch();
    expect(fdCount()).toBeGreaterThan(before);
    obj.close();
    expect(fdCount()).toBe(before);
    obj.close(); // idempotent
    expect(() => obj.attach('f_tp')).toThrow(/closed/);
  });

  it('program statistics: run counts while stats are on, no recursion misses', () => {
    const obj = openOnly(['f_tp']);
    open.push(obj);
    obj.load();
    obj.attach('f_tp');
    expect(obj.loadedPrograms()).toEqual(['f_tp']);
    const stats = enableBpfStats();
    try {
      const s0 = obj.programStats('f_tp');
      for (let i = 0; i < 20; i++) getppid();
      const s1 = obj.programStats('f_tp');
      expect(s1.id).toBeGreaterThan(0);
      expect(s1.runCount - s0.runCount).toBeGreaterThanOrEqual(20n);
      expect(s1.runTimeNs).toBeGreaterThan(s0.runTimeNs);
      expect(s1.recursionMisses).toBe(0n);
    } finally {
      stats.close();
    }
    expect(() => obj.programStats('f_kprobe')).toThrow(/program stats program f_kprobe.*is it loaded/);
  });

  it('a destroyed link stops counting while the object stays loaded', () => {
    const obj = openOnly(['f_tp']);
    open.push(obj);
    obj.load();
    const link = obj.attach('f_tp');
    getppid();
    link.destroy();
    link.destroy();
    getppid();
    expect(hits(obj)[V.tp]).toBe(1n);
  });

  it('perf events: cpu-clock sampling on every online CPU, fds released on close', () => {
    const before = fdCount();
    const obj = openOnly(['f_perf']);
    obj.load();
    for (const cpu of onlineCpus()) obj.attachPerfEvent('f_perf', { cpu, freq: 199 });
    const end = Date.now() + 300;
    let x = 0;
    while (Date.now() < end) x += Math.sqrt(x + 1);
    const samples = obj.readGlobal('samples').readBigUInt64LE(0);
    // ≥ 300 ms of one busy CPU at 199 Hz: ~60 samples; idle CPUs add none.
    expect(samples).toBeGreaterThan(20n);
    obj.close();
    expect(fdCount()).toBe(before);
  });
});

describe('BpfMap', () => {
  function loaded(): BpfObject {
    const obj = openOnly([]);
    obj.load();
    open.push(obj);
    return obj;
  }
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  const u64 = (n: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(n);
    return b;
  };

  it('batch-reads a hash in one call that ends with ENOENT', () => {
    const h = loaded().map('h');
    for (let k = 0; k < 301; k++) h.update(u32(k), u64(BigInt(k) * 1000n));
    const r = h.lookupBatch();
    expect(r.count).toBe(301);
    const seen = new Map<number, bigint>();
    for (let i = 0; i < r.count; i++) seen.set(r.keys.readUInt32LE(i * 4), r.values.readBigUInt64LE(i * 8));
    expect(seen.size).toBe(301);
    for (const [k, v] of seen) expect(v).toBe(BigInt(k) * 1000n);
  });

  it('batch-reads an array in chunks; the last chunk (ENOENT) still counts', () => {
    const a = loaded().map('a');
    for (let k = 0; k < 16; k++) a.update(u32(k), u64(BigInt(k + 1)));
    const r = a.lookupBatch(5);
    expect(r.count).toBe(16);
    expect(a.lastBatchCalls).toBe(4); // 5 + 5 + 5 + 1 (ENOENT)
    for (let i = 0; i < 16; i++) {
      expect(r.keys.readUInt32LE(i * 4)).toBe(i);
      expect(r.values.readBigUInt64LE(i * 8)).toBe(BigInt(i + 1));
    }
    expect(a.lookupBatch().count).toBe(16);
    expect(a.lastBatchCalls).toBe(1);
  });

  it('lookup-and-delete empties a hash; arrays refuse with a clear message', () => {
    const obj = loaded();
    const h = obj.map('h');
    for (let k = 0; k < 40; k++) h.update(u32(k), u64(1n));
    expect(h.lookupAndDeleteBatch().count).toBe(40);
    expect(h.lookupBatch().count).toBe(0);
    expect(() => obj.map('a').lookupAndDeleteBatch()).toThrow(/map a.*array maps do not support it/);
  });

  it('per-CPU values come as one round8 slot per possible CPU', () => {
    const pa = loaded().map('pa');
    expect(pa.perCpu).toBe(true);
    expect(pa.valueBytes).toBe(possibleCpus() * 8);
    const v = Buffer.alloc(pa.valueBytes);
    for (let c = 0; c < possibleCpus(); c++) v.writeBigUInt64LE(BigInt(c + 10), c * 8);
    pa.update(u32(2), v);
    const r = pa.lookupBatch();
    expect(r.count).toBe(4);
    let want = 0n;
    for (let c = 0; c < possibleCpus(); c++) want += BigInt(c + 10);
    expect(BpfMap.sumPerCpuU64(r.values, 2 * pa.valueBytes, possibleCpus(), pa.cpuStride)).toBe(want);
  });

  it('single-key ops: lookup, delete, wrong key size', () => {
    const h = loaded().map('h');
    expect(h.lookup(u32(7))).toBeNull();
    h.update(u32(7), u64(99n));
    expect(h.lookup(u32(7))!.readBigUInt64LE(0)).toBe(99n);
    expect(h.delete(u32(7))).toBe(true);
    expect(h.delete(u32(7))).toBe(false);
    expect(() => h.lookup(Buffer.alloc(8))).toThrow(/map h.*key is 8 bytes, the map's are 4/);
    expect(() => h.update(u32(1), u64(1n), 2)).toThrow(/map update map h: ENOENT/); // BPF_EXIST on a missing key
  });
});

describe('loadWithVariants', () => {
  const variant = (name: string, available: () => true | string = () => true) => ({ name, programs: [`f_${name}`], available });
  // The fixture holds more programs than any one test's hooks name; those keep their
  // autoload (on) unless switched off, as a module would for programs it attaches itself.
  const only = (hooks: Hook[], more: (o: BpfObject) => void = () => {}) => (o: BpfObject) => {
    const named = new Set(hooks.flatMap((h) => h.variants.flatMap((v) => v.programs)));
    for (const p of ALL) if (!named.has(p)) o.setAutoload(p, false);
    more(o);
  };
  const target = (o: BpfObject) => o.setRodata({ target_tgid: process.pid });

  it('falls from fentry (refused) past a missing tp_btf target and a kprobe (no attach) to tp_btf', () => {
    const { log, lines } = memLog();
    const hook: Hook = { name: 'getppid', variants: ['fentry', 'tpbtf_missing', 'kprobe', 'tpbtf', 'tp'].map((n) => variant(n)) };
    const r = loadWithVariants(FIXTURE, [hook], only([hook], target), log);
    open.push(r.obj);
    const fentryWorks = kernelFeatures.fentryAvailable('__task_pid_nr_ns');
    const kprobeWorks = kernelFeatures.kprobesAvailable();
    const expected = fentryWorks ? 'fentry' : kprobeWorks ? 'tpbtf_missing' : 'tpbtf';
    expect(r.chosen).toEqual({ getppid: expected });
    expect(r.links).toHaveLength(1);
    for (let i = 0; i < 5; i++) getppid();
    const h = hits(r.obj);
    expect(h[V[expected as keyof typeof V]]).toBe(5n); // target_tgid: this process's five calls, exactly
    expect(h.reduce((s, x) => s + x, 0n)).toBe(h[V[expected as keyof typeof V]]); // only the chosen one ran
    const failed = lines.filter((l) => l.msg === 'attach variant failed, trying the next');
    if (!fentryWorks) {
      expect(failed.map((l) => l.variant)).toEqual(['fentry', 'tpbtf_missing', 'kprobe']);
      expect(String(failed[0].reason)).toMatch(/program f_fentry.*E(PERM|SRCH)/);
      expect(String(failed[1].reason)).toMatch(/program f_tpbtf_missing.*ESRCH/);
      expect(String(failed[2].reason)).toMatch(/program f_kprobe.*ENOENT/);
    }
    // libbpf's own warnings reached the logger, tagged as such.
    expect(lines.some((l) => l.src === 'libbpf' && /failed to/.test(String(l.msg)))).toBe(!fentryWorks);
  });

  it('skips variants whose probe says no, without loading them', () => {
    const { log, lines } = memLog();
    const hook: Hook = {
      name: 'getppid',
      variants: [variant('fentry', () => 'fentry refused here'), variant('rawtp'), variant('tp')],
    };
    const r = loadWithVariants(FIXTURE, [hook], only([hook], target), log);
    open.push(r.obj);
    expect(r.chosen).toEqual({ getppid: 'rawtp' });
    expect(lines.filter((l) => l.msg === 'attach variant failed, trying the next')).toHaveLength(0);
    getppid();
    expect(hits(r.obj)[V.rawtp]).toBe(1n);
  });

  it('two hooks fall back independently', () => {
    const { log } = memLog();
    const hooks: Hook[] = [
      { name: 'a', variants: [variant('tpbtf_missing'), variant('tp')] },
      { name: 'b', variants: [variant('rawtp')] },
    ];
    const r = loadWithVariants(FIXTURE, hooks, only(hooks, target), log);
    open.push(r.obj);
    expect(r.chosen).toEqual({ a: 'tp', b: 'rawtp' });
    expect(r.links).toHaveLength(2);
  });

  it('no variant left: NoVariantError lists every reason, and nothing stays open', () => {
    const { log } = memLog();
    const before = fdCount();
    const hook: Hook = {
      name: 'getppid',
      variants: [variant('fentry', () => 'BPF trampolines refused'), variant('tpbtf_missing'), ...(kernelFeatures.kprobesAvailable() ? [] : [variant('kprobe')])],
    };
    let err: NoVariantError | undefined;
    try {
      loadWithVariants(FIXTURE, [hook], only([hook]), log);
    } catch (e) {
      err = e as NoVariantError;
    }
    expect(err).toBeInstanceOf(NoVariantError);
    expect(err!.hook).toBe('getppid');
    expect(err!.reasons.fentry).toBe('BPF trampolines refused');
    expect(err!.reasons.tpbtf_missing).toMatch(/ESRCH/);
    expect(err!.message).toMatch(/hook getppid.*no usable variant \(fentry: BPF trampolines refused; tpbtf_missing: load program f_tpbtf_missing/);
    expect(fdCount()).toBe(before);
  });

  it('a configure error is a real fault: thrown as is, object closed', () => {
    const { log } = memLog();
    const before = fdCount();
    expect(() =>
      loadWithVariants(FIXTURE, [{ name: 'x', variants: [variant('tp')] }], (o) => o.setRodata({ nope: 1 }), log),
    ).toThrow(/nope: no such variable/);
    expect(fdCount()).toBe(before);
  });

  it('never writes to stdout (fd 1 is the PDU pipe), from JavaScript or from libbpf', () => {
    // fd 1 itself points at a file for the duration: native writes (libbpf's, or a printf)
    // bypass process.stdout and only show there.
    const libc = koffi.load('libc.so.6');
    const dup = libc.func('int dup(int)');
    const dup2 = libc.func('int dup2(int, int)');
    const file = path.join(os.tmpdir(), `face-fd1-${process.pid}`);
    const fd = fs.openSync(file, 'w+');
    const spy = vi.spyOn(process.stdout, 'write');
    const saved = dup(1) as number;
    expect(saved).toBeGreaterThan(2);
    let jsWrites = -1;
    try {
      expect(dup2(fd, 1)).toBe(1);
      const { log } = memLog();
      const hooks = [{ name: 'x', variants: [variant('tpbtf_missing'), variant('tp')] }];
      const r = loadWithVariants(FIXTURE, hooks, only(hooks), log);
      r.obj.close();
    } finally {
      dup2(saved, 1);
      fs.closeSync(saved);
      fs.closeSync(fd);
      jsWrites = spy.mock.calls.length;
      spy.mockRestore();
    }
    try {
      expect(jsWrites).toBe(0);
      expect(fs.readFileSync(file, 'utf8')).toBe('');
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
