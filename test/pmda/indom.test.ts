import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InstanceDomain } from '../../src/pmda/indom';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'indom-'));

describe('InstanceDomain', () => {
  it('keeps ids across restarts and never gives an id to another name', () => {
    const file = path.join(tmp(), 'i.json');
    const a = new InstanceDomain(1, file);
    expect(a.ensure('one')).toBe(0);
    expect(a.ensure('two')).toBe(1);
    a.deactivate(0);
    a.save();
    const b = new InstanceDomain(1, file);
    expect(b.ensure('three')).toBe(2);
    expect(b.ensure('two')).toBe(1);
    expect(b.ensure('one')).toBe(0);
    expect(b.instances().map((i) => i.name)).toEqual(['one', 'two', 'three']);
  });

  it('lists only active instances and resolves names as libpcp_pmda does', () => {
    const d = new InstanceDomain(1, null);
    d.ensure('one one');
    d.ensure('two');
    expect(d.lookup('one')).toBe(0);
    expect(d.lookup('one one')).toBe(0);
    expect(d.lookup('one two')).toBeUndefined();
    d.deactivate(1);
    expect(d.lookup('two')).toBeUndefined();
    expect(d.nameOf(1)).toBeUndefined();
    expect(d.instances()).toEqual([{ id: 0, name: 'one one' }]);
  });

  it('fixed-position indoms refuse a name that moved', () => {
    const file = path.join(tmp(), 'h.json');
    const a = new InstanceDomain(1, file);
    a.define(0, '0-1', { lower_bound: 0, upper_bound: 1 });
    a.define(1, '2-3');
    a.save();
    const b = new InstanceDomain(1, file);
    b.define(1, '2-3');
    expect(() => b.define(1, '4-7')).toThrow(/id 1 is "2-3"/);
    expect(b.labelsOf(1)).toBeUndefined();
    expect(b.ensure('new')).toBe(2);
  });

  it('survives a corrupt state file', () => {
    const file = path.join(tmp(), 'bad.json');
    fs.writeFileSync(file, '{not json');
    const d = new InstanceDomain(1, file);
    expect(d.ensure('x')).toBe(0);
  });
});

describe('InstanceDomain remembered names', () => {
  it('culls the longest-idle names past the limit and never reuses an id', () => {
    const file = path.join(tmp(), 'flows.json');
    const d = new InstanceDomain(1, file, 3);
    const ids = ['a', 'b', 'c', 'd', 'e'].map((n) => d.ensure(n));
    expect(ids).toEqual([0, 1, 2, 3, 4]);
    for (const id of [0, 1, 2, 3]) d.deactivate(id);
    d.save();
    const again = new InstanceDomain(1, file, 3);
    // 'e' is active and kept; of the idle ones only two fit.
    expect(again.ensure('e')).toBe(4);
    const fresh = again.ensure('zzz');
    expect(fresh).toBe(5);
    // 'a' went idle first (ties keep that order), so it is the one culled: a new id, never 0.
    expect(again.ensure('b')).toBe(1);
    expect(again.ensure('a')).toBe(6);
    expect(new Set([...again.instances()].map((i) => i.id)).size).toBe(again.instances().length);
  });
});

describe("InstanceDomain persist: 'ids'", () => {
  it('keeps only the id high-water mark across restarts', () => {
    const file = path.join(tmp(), 'stacks.json');
    const d = new InstanceDomain(1, file, 10, 'ids');
    expect(d.ensure('comm,1\nf')).toBe(0);
    expect(d.ensure('comm,2\ng')).toBe(1);
    d.save();
    expect(fs.readFileSync(file, 'utf8')).not.toContain('comm');
    const again = new InstanceDomain(1, file, 10, 'ids');
    expect(again.ensure('comm,1\nf')).toBe(2);
  });
});
