import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HWM_STEP, InstanceDomain } from '../../src/pmda/indom';

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

  it('saves through an fsync\'d temporary file and keeps a high-water mark in a marker name', () => {
    const dir = tmp();
    const file = path.join(dir, 'i.json');
    const a = new InstanceDomain(1, file);
    for (let i = 0; i < HWM_STEP + 5; i++) a.ensure(`n${i}`);
    a.save();
    expect(fs.readdirSync(dir).sort()).toEqual(['i.json', `i.json.hwm-${2 * HWM_STEP}`]);
    a.ensure('more');
    a.save();
    expect(fs.readdirSync(dir).sort()).toEqual(['i.json', `i.json.hwm-${2 * HWM_STEP}`]);
  });

  for (const damage of ['truncated', 'empty', 'garbage', 'missing'] as const) {
    it(`a ${damage} state file is moved aside and no id is reused`, () => {
      const dir = tmp();
      const file = path.join(dir, 'i.json');
      const a = new InstanceDomain(1, file);
      const before = ['a', 'b', 'c'].map((n) => a.ensure(n));
      a.save();
      const text = fs.readFileSync(file, 'utf8');
      if (damage === 'truncated') fs.writeFileSync(file, text.slice(0, text.length >> 1));
      if (damage === 'empty') fs.truncateSync(file, 0);
      if (damage === 'garbage') fs.writeFileSync(file, '{"version":1}');
      if (damage === 'missing') fs.rmSync(file);
      const b = new InstanceDomain(1, file);
      expect(b.recovered).toMatch(damage === 'missing' ? /i.json is missing/ : /i.json is corrupt .*moved to .*i.json.corrupt-\d+, ids start at 1024/);
      const after = ['c', 'b', 'a', 'd'].map((n) => b.ensure(n));
      for (const id of after) expect(before).not.toContain(id);
      expect(Math.min(...after)).toBe(HWM_STEP);
      if (damage !== 'missing') expect(fs.readdirSync(dir).some((f) => f.startsWith('i.json.corrupt-'))).toBe(true);
      b.save();
      expect(new InstanceDomain(1, file).recovered).toBeNull();
    });
  }
});
