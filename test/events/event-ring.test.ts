// The event ring shape on its own: fixed slots "0".."N-1", newest in "0", seq per event.
import { describe, expect, it } from 'vitest';
import { InstanceDomain } from '../../src/pmda/indom';
import { EventRing } from '../../src/modules/shared/event-ring';

describe('EventRing', () => {
  it('defines the fixed instances "0".."N-1" with ids equal to positions', () => {
    const d = new InstanceDomain(0x25400008, null);
    new EventRing<string>(5, d);
    expect(d.instances()).toEqual([0, 1, 2, 3, 4].map((i) => ({ id: i, name: String(i) })));
  });

  it('returns no value for unfilled slots and puts the newest in slot 0', () => {
    const r = new EventRing<string>(4);
    expect(r.values((e) => e)).toEqual([]);
    expect(r.at(0)).toBeUndefined();
    r.push('a');
    r.push('b');
    expect(r.values((e) => e)).toEqual([
      { inst: 0, value: 'b' },
      { inst: 1, value: 'a' },
    ]);
    expect(r.at(2)).toBeUndefined();
    expect(r.size).toBe(2);
  });

  it('numbers events from 1, keeps the last N, and seq rises by exactly the events pushed', () => {
    const r = new EventRing<number>(3);
    for (let i = 1; i <= 10; i++) expect(r.push(i * 10)).toBe(BigInt(i));
    expect(r.seq).toBe(10n);
    expect(r.values((e) => e)).toEqual([
      { inst: 0, value: 100 },
      { inst: 1, value: 90 },
      { inst: 2, value: 80 },
    ]);
    expect(r.seqValues()).toEqual([
      { inst: 0, value: 10n },
      { inst: 1, value: 9n },
      { inst: 2, value: 8n },
    ]);
    expect([...r.entries()].map((e) => e.event)).toEqual([100, 90, 80]);
    expect(r.at(3)).toBeUndefined();
    expect(r.at(-1)).toBeUndefined();
  });

  it('lets a sampler count what scrolled past: newest seq minus the previous newest', () => {
    const r = new EventRing<number>(2);
    r.push(1);
    const before = r.seq;
    for (let i = 0; i < 7; i++) r.push(i);
    expect(r.seq - before).toBe(7n);
    expect(r.size).toBe(2);
  });

  it('rejects a capacity that is not a positive integer', () => {
    expect(() => new EventRing(0)).toThrow(/positive integer, got 0/);
    expect(() => new EventRing(2.5)).toThrow(/positive integer/);
  });

  it('keeps ids stable when an indom persisted by a larger ring is reused by a smaller one', () => {
    const d = new InstanceDomain(1, null);
    new EventRing(8, d);
    const d2 = new InstanceDomain(1, null);
    new EventRing(3, d2);
    expect(d2.instances().map((i) => i.name)).toEqual(['0', '1', '2']);
  });
});
