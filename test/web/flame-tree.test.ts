import { describe, expect, it } from 'vitest';
import { buildFlameTree, findPath, frameLibtype, parseStackInstance, repairPmproxyText, StackWindow } from '../../web/app/lib/flame-tree';

describe('parseStackInstance', () => {
  it('reads "comm,pid" then frames outermost first', () => {
    expect(parseStackInstance('burner,4242\n_start\nmain\nspin')).toEqual({ comm: 'burner', pid: 4242, frames: ['_start', 'main', 'spin'] });
  });

  it('drops a short unique id token before the comm', () => {
    expect(parseStackInstance('17 burner,4242\nmain')).toEqual({ comm: 'burner', pid: 4242, frames: ['main'] });
    expect(parseStackInstance('#a3f dd,7\nmain')).toEqual({ comm: 'dd', pid: 7, frames: ['main'] });
  });

  it("accepts grafana-pcp's bpftrace shape (trailing comma, indented frames)", () => {
    expect(parseStackInstance('node,99,\n  frame_a\n  frame_b\n')).toEqual({ comm: 'node', pid: 99, frames: ['frame_a', 'frame_b'] });
  });

  it('keeps comms with spaces and commas', () => {
    expect(parseStackInstance('Web Content,12\nf')).toEqual({ comm: 'Web Content', pid: 12, frames: ['f'] });
    expect(parseStackInstance('a,b,12\nf')?.comm).toBe('a,b');
  });

  it('keeps a stack whose first line is not comm,pid under that line', () => {
    expect(parseStackInstance('swapper\ncpu_idle')).toEqual({ comm: 'swapper', pid: null, frames: ['cpu_idle'] });
    expect(parseStackInstance('')).toBeNull();
  });
});

describe('buildFlameTree', () => {
  const stacks = [
    { stack: { comm: 'burner', pid: 1, frames: ['main', 'spin'] }, value: 30 },
    { stack: { comm: 'burner', pid: 2, frames: ['main', 'spin'] }, value: 10 },
    { stack: { comm: 'burner', pid: 1, frames: ['main', 'other'] }, value: 5 },
    { stack: { comm: 'dd', pid: 3, frames: ['main', 'vfs_write_[k]'] }, value: 2 },
    { stack: { comm: 'idle', pid: 0, frames: ['x'] }, value: 0 },
  ];

  it('sums totals including children, merging pids by default', () => {
    const t = buildFlameTree(stacks);
    expect(t.value).toBe(47);
    const burner = findPath(t, ['burner'])!;
    expect(burner.value).toBe(45);
    expect(findPath(t, ['burner', 'main', 'spin'])!.value).toBe(40);
    expect(findPath(t, ['idle'])).toBeNull();
    expect(findPath(t, ['dd', 'main', 'vfs_write_[k]'])!.libtype).toBe('kernel');
  });

  it('adds a pid level when asked', () => {
    const t = buildFlameTree(stacks, { splitByPid: true });
    expect(findPath(t, ['burner', 'pid 1', 'main'])!.value).toBe(35);
    expect(findPath(t, ['burner', 'pid 2', 'main', 'spin'])!.value).toBe(10);
  });

  it('marks kernel frames the perf way', () => {
    expect(frameLibtype('do_syscall_64_[k]')).toBe('kernel');
    expect(frameLibtype('[k] schedule')).toBe('kernel');
    expect(frameLibtype('main')).toBeUndefined();
  });
});

describe('StackWindow', () => {
  it('sums each stack rate over the chosen window', () => {
    const w = new StackWindow(300);
    for (let t = 1; t <= 10; t++) w.push(t, new Map([[1, 2], [2, t === 10 ? 5 : 0]]));
    expect([...w.sum(3)]).toEqual([[1, 6], [2, 5]]);
    expect(w.sum(100).get(1)).toBe(20);
    expect(w.liveIds()).toEqual(new Set([1, 2]));
  });

  it('forgets samples older than it keeps', () => {
    const w = new StackWindow(5);
    for (let t = 0; t < 20; t++) w.push(t, new Map([[t, 1]]));
    expect(w.length).toBe(6);
    expect(w.liveIds().has(3)).toBe(false);
  });
});

describe("the agent's stack names", () => {
  it('keeps U+00A0 (the agent writes spaces that way) inside the comm', () => {
    expect(parseStackInstance('Web\u00a0Content,12\nJS:*fn\u00a0/app/x.js:3\nmain')).toEqual({
      comm: 'Web\u00a0Content',
      pid: 12,
      frames: ['JS:*fn\u00a0/app/x.js:3', 'main'],
    });
    expect(parseStackInstance('dd\u00a0x,5\nf')?.comm).toBe('dd\u00a0x');
  });
});

describe('names as pmproxy 6.0.3 delivers them', () => {
  it('turns the U+FFFD runs pmproxy makes of U+00A0 and U+201A back into them', () => {
    const viaPmproxy = 'node,7\n[Missed\uFFFD\uFFFDUser\uFFFD\uFFFDStack]\nf<a\uFFFD\uFFFD\uFFFDb>';
    expect(parseStackInstance(viaPmproxy)!.frames).toEqual(['[Missed\u00a0User\u00a0Stack]', 'f<a\u201ab>']);
    expect(repairPmproxyText('x\uFFFDy')).toBe('x\uFFFDy');
    expect(repairPmproxyText('plain')).toBe('plain');
  });
});
