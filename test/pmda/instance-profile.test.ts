import { describe, expect, it } from 'vitest';
import { InstanceProfile } from '../../src/pmda/instance-profile';

describe('InstanceProfile', () => {
  it('includes everything by default and applies the last profile received', () => {
    const p = new InstanceProfile();
    expect(p.filterFor(5)).toBeNull();
    p.set({ globalState: 0, profiles: [{ indom: 5, state: 1, instances: [1] }] });
    const f = p.filterFor(5)!;
    expect([0, 1, 2].filter(f)).toEqual([1]);
    expect(p.filterFor(6)).toBeNull();
    p.set({ globalState: 1, profiles: [{ indom: 5, state: 0, instances: [2] }] });
    expect([0, 1, 2].filter(p.filterFor(5)!)).toEqual([0, 1]);
    expect([0, 1].filter(p.filterFor(6)!)).toEqual([]);
  });
});
