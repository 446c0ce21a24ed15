// The pure parts of profile: the rolling hot-stack set, the pmdabcc JSON tree, instance names.
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { Collector } from '../../src/modules/profile/collect';
import { HotStacks } from '../../src/modules/profile/hot-stacks';
import type { RawStack } from '../../src/modules/profile/sampler';
import { Symbolizer } from '../../src/modules/profile/symbolizer';
import type { Sample } from '../../src/modules/profile/sample';
import { namePart, stackInstanceName } from '../../src/modules/profile/stack-name';
import { ProfileTree, profileValue, pyString, TRUNCATED } from '../../src/modules/profile/stack-tree';
import { InstanceDomain } from '../../src/pmda/indom';

const sample = (over: Partial<Sample>): Sample => ({
  pid: 42,
  comm: 'app',
  user: [],
  kernel: [],
  userMissed: false,
  kernelMissed: false,
  count: 1,
  ...over,
});

describe('HotStacks', () => {
  it('keeps the top max_stacks of the window and never lowers a counter or reuses an id', () => {
    const d = new InstanceDomain(0, null);
    const h = new HotStacks(d, { windowMs: 3000, maxStacks: 2 });
    h.add('a', 10);
    h.add('b', 5);
    h.add('c', 1);
    h.tick(1000);
    const names = () => d.instances().map((i) => i.name);
    expect(names()).toEqual(['a', 'b']);
    const idA = d.lookup('a')!;
    const idB = d.lookup('b')!;
    expect(h.values()).toEqual([
      { inst: idA, value: 10n },
      { inst: idB, value: 5n },
    ]);

    // c gets hot, b stops: after b's tick leaves the window, c replaces it.
    h.add('c', 20);
    h.tick(2000);
    expect(names().sort()).toEqual(['a', 'c']);
    const idC = d.lookup('c')!;
    expect(new Set([idA, idB, idC]).size).toBe(3);
    expect(h.values().find((v) => v.inst === idC)!.value).toBe(21n);

    // Everything from t=1000 and t=2000 leaves the window at t=5000; only d stays.
    h.add('d', 1);
    h.tick(5000);
    expect(names()).toEqual(['d']);

    // b comes back after its record was dropped: same id, counter continues from 5.
    h.add('b', 3);
    h.tick(6000);
    expect(d.lookup('b')).toBe(idB);
    expect(h.values().find((v) => v.inst === idB)!.value).toBe(8n);
  });

  it('follows at most maxTracked distinct stacks, forgetting the coldest so that a new hot one gets in', () => {
    const d = new InstanceDomain(0, null);
    const h = new HotStacks(d, { windowMs: 10_000, maxStacks: 2, maxTracked: 6 });
    for (let i = 0; i < 6; i++) h.add(`s${i}`, 1 + i);
    h.tick(1);
    expect(d.instances().map((i) => i.name).sort()).toEqual(['s4', 's5']);
    h.add('hot', 100); // table full: s0..s1 (coldest of the four not shown) are forgotten
    expect(h.tracked).toBe(5);
    expect(h.evicted).toBe(2);
    h.tick(2);
    expect(d.instances().map((i) => i.name).sort()).toEqual(['hot', 's5']);
    expect(h.values().length).toBe(2);
  });

  it('clear() deactivates every instance and keeps counts for a stack that returns', () => {
    const d = new InstanceDomain(0, null);
    const h = new HotStacks(d, { windowMs: 10_000, maxStacks: 3 });
    h.add('x', 4);
    h.tick(1);
    h.clear();
    expect(d.instances()).toEqual([]);
    h.add('x', 1);
    h.tick(2);
    expect(h.values()).toEqual([{ inst: d.lookup('x')!, value: 5n }]);
  });
});

describe('ProfileTree (pmdabcc JSON)', () => {
  it('nests comm, user frames, kernel frames, with subtree values and missed-stack placeholders', () => {
    const t = new ProfileTree();
    t.add(sample({ user: ['main', 'work'], kernel: ['entry', 'sys_read'], count: 3 }));
    t.add(sample({ user: ['main', 'work'], count: 2 }));
    t.add(sample({ comm: 'kworker/0:1', kernelMissed: true, count: 1 }));
    t.add(sample({ userMissed: true, kernel: ['entry'], count: 4 }));
    const root = JSON.parse(t.toJson());
    expect(root.name).toBe('root');
    expect(root.libtype).toBeNull();
    expect(root.value).toBe(10);
    const app = root.children.find((c: { name: string }) => c.name === 'app');
    expect(app).toMatchObject({ libtype: 'user', value: 9 });
    const main = app.children.find((c: { name: string }) => c.name === 'main');
    expect(main.value).toBe(5);
    expect(main.children[0]).toMatchObject({ name: 'work', libtype: 'user', value: 5 });
    expect(main.children[0].children[0]).toMatchObject({ name: 'entry', libtype: 'kernel', value: 3 });
    expect(main.children[0].children[0].children[0]).toMatchObject({ name: 'sys_read', libtype: 'kernel', value: 3, children: [] });
    const missedUser = app.children.find((c: { name: string }) => c.name === '[Missed User Stack]');
    expect(missedUser).toMatchObject({ libtype: 'user', value: 4 });
    expect(missedUser.children[0]).toMatchObject({ name: 'entry', libtype: 'kernel' });
    const kw = root.children.find((c: { name: string }) => c.name === 'kworker/0:1');
    expect(kw.children[0]).toMatchObject({ name: '[Missed Kernel Stack]', libtype: 'kernel', value: 1 });
  });

  it('writes JSON the way Python json.dumps did', () => {
    const t = new ProfileTree();
    t.add(sample({ user: ['f'], count: 1 }));
    expect(t.toJson()).toBe(
      '{"name": "root", "libtype": null, "value": 1, "children": [{"name": "app", "libtype": "user", "value": 1, "children": [{"name": "f", "libtype": "user", "value": 1, "children": []}]}]}',
    );
    expect(profileValue('stopped', null)).toBe('{"status": "stopped", "data": null}');
    expect(pyString('a"b\\c\nd\u0001é€😀\x7f')).toBe('"a\\"b\\\\c\\nd\\u0001\\u00e9\\u20ac\\ud83d\\ude00\x7f"');
  });

  it('stops growing at its node limit and counts the rest under one placeholder', () => {
    const t = new ProfileTree(4);
    t.add(sample({ user: ['a', 'b'], count: 1 })); // root, app, a, b = 4 nodes
    t.add(sample({ user: ['a', 'c', 'd'], count: 2 }));
    expect(t.nodeCount).toBe(4);
    const root = JSON.parse(t.toJson());
    expect(root.value).toBe(3);
    const a = root.children[0].children[0];
    expect(a.value).toBe(3);
    expect(a.children.find((c: { name: string }) => c.name === TRUNCATED).value).toBe(2);
  });
});

describe('bcc.proc.stacks instance names', () => {
  it('are "comm,pid" then frames outermost first, user before kernel, one per line', () => {
    const s = sample({ comm: 'app', pid: 7, user: ['main', 'work'], kernel: ['entry_SYSCALL_64', 'vfs_read'] });
    expect(stackInstanceName(s)).toBe('app,7\nmain\nwork\nentry_SYSCALL_64\nvfs_read');
    expect(stackInstanceName(sample({ userMissed: true, kernelMissed: true }))).toBe('app,42\n[Missed_User_Stack]\n[Missed_Kernel_Stack]');
  });

  it('contain no space, so the first space-delimited word (PCP instance identity) is the whole name', () => {
    const a = stackInstanceName(sample({ comm: 'Web Content', user: ['JS:*f /a.js:1:2', 'JS:*g /a.js:9:9'] }));
    const b = stackInstanceName(sample({ comm: 'Web Content', user: ['JS:*f /a.js:1:2', 'JS:*g /b.js:1:1'] }));
    expect(a).not.toMatch(/ /);
    expect(a.split(' ')[0]).not.toBe(b.split(' ')[0]);
    // What grafana-pcp's processor does with a name: split on newline or comma, trim, drop empties.
    const frames = (n: string) => n.split(/[\n,]/).map((f) => f.trim()).filter(Boolean);
    const withComma = stackInstanceName(sample({ comm: 'a,b', pid: 3, user: ['std::map<int, int>::find'] }));
    expect(frames(withComma)).toEqual(['a;b', '3', 'std::map<int;_int>::find']);
    // ASCII only: pmproxy 6.0.3 mangles every byte >= 0x80.
    expect(/^[\x00-\x7f]*$/.test(a + withComma)).toBe(true);
    expect(namePart('tab\there\u0000')).toBe('tab?here?');
  });
});

describe('Collector (symbolisation queue)', () => {
  // PIDs far above pid_max: no /proc entry, so user frames come out as [unknown] without I/O.
  const raw = (i: number): RawStack => ({ tgid: 5_000_000 + (i % 3), comm: `c${i % 3}`, count: 1, kernel: [], user: [0x1000 + i], kernelMissed: false, userMissed: false });
  const batch = (from: number, n: number) => ({ stacks: Array.from({ length: n }, (_, i) => raw(from + i)), lost: 0 });

  it('puts exactly the samples pushed between start and stop in the session, whenever they are named', () => {
    const c = new Collector(new Symbolizer({ log: pino({ level: 'silent' }) }), null);
    c.push(batch(0, 10)); // before the start
    const trees: number[] = [];
    c.startSession((t) => trees.push(t.total));
    c.push(batch(10, 7));
    c.stopSession();
    c.push(batch(17, 5)); // after the stop
    expect(trees).toEqual([]);
    expect(c.run(Infinity)).toBe(true);
    expect(trees).toEqual([7]);
    expect(c.totals.samples).toBe(22);
    expect(c.sessionOpen).toBe(false);
  });

  it('works in bounded slices and finishes a session on the slice that reaches its stop', () => {
    const d = new InstanceDomain(0, null);
    const c = new Collector(new Symbolizer({ log: pino({ level: 'silent' }) }), new HotStacks(d, { windowMs: 1000, maxStacks: 10 }));
    const trees: number[] = [];
    c.startSession((t) => trees.push(t.total));
    c.push(batch(0, 100));
    c.stopSession();
    // A zero budget still makes progress: one clock check per 32 stacks.
    expect(c.run(0)).toBe(false);
    expect(c.pending).toBe(68);
    expect(trees).toEqual([]);
    while (!c.run(0));
    expect(trees).toEqual([100]);
    // The window ticked when the queue emptied: the three comms are instances.
    expect(d.instances().length).toBe(3);
    expect(d.instances()[0].name).toBe('c0,5000000\n[unknown]');
  });
});
