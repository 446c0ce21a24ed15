import { describe, expect, it } from 'vitest';
import { formatBytes, formatMicros, formatMicrosShort, formatRate } from '../../web/app/lib/format';
import { joinByInstance, sortRows } from '../../web/app/lib/slot-table';
import { LossTracker, warningsFor } from '../../web/app/lib/health';

describe('format', () => {
  it('bytes', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(3_456_789)).toBe('3.30 MiB');
    expect(formatBytes(200 * 1024 ** 3)).toBe('200 GiB');
    expect(formatBytes(null)).toBe('');
  });

  it('microseconds', () => {
    expect(formatMicros(15)).toBe('15 µs');
    expect(formatMicros(1020)).toBe('1.02 ms');
    expect(formatMicros(2_500_000)).toBe('2.50 s');
    expect(formatMicrosShort(1023)).toBe('1ms');
    expect(formatMicrosShort(4095)).toBe('4.1ms');
    expect(formatMicrosShort(524287)).toBe('520ms');
    expect(formatMicrosShort(7)).toBe('7µs');
    expect(formatMicrosShort(2 ** 21 - 1)).toBe('2.1s');
    expect(formatRate(0.5)).toBe('0.50/s');
    expect(formatRate(12345)).toBe('12k/s');
  });
});

describe('joinByInstance / sortRows', () => {
  it('makes one row per instance that has a value in any column', () => {
    const rows = joinByInstance(
      new Map([
        ['comm', [{ instance: 1, value: 'b' }, { instance: 0, value: 'a' }]],
        ['pid', [{ instance: 0, value: 10 }]],
      ]),
    );
    expect(rows).toEqual([
      { inst: 0, cells: { comm: 'a', pid: 10 } },
      { inst: 1, cells: { comm: 'b', pid: null } },
    ]);
  });

  it('sorts numbers numerically, strings by locale, empties last, stably', () => {
    const rows = [{ v: 10 }, { v: 9 }, { v: null }, { v: 100 }];
    expect(sortRows(rows, (r) => r.v, 'asc').map((r) => r.v)).toEqual([9, 10, 100, null]);
    expect(sortRows(rows, (r) => r.v, 'desc').map((r) => r.v)).toEqual([100, 10, 9, null]);
    const s = [{ v: 'b' }, { v: 'A' }, { v: 'a' }];
    expect(sortRows(s, (r) => r.v, 'asc').map((r) => r.v)).toEqual(['a', 'A', 'b']);
  });
});

describe('health warnings', () => {
  it('warns about failed modules with their error, and about lost events for a while', () => {
    const loss = new LossTracker(30);
    expect(loss.update('execsnoop', 100, 5)).toBeNull();
    expect(loss.update('execsnoop', 101, 5)).toBe(0);
    expect(loss.update('execsnoop', 103, 11)).toBe(3);
    const mods = [
      { name: 'execsnoop', state: 'running', error: '', variant: 'tracepoint', lost: 11, lostRate: 3 },
      { name: 'biotop', state: 'failed', error: 'no tracepoint block_io_start', variant: '', lost: 0, lostRate: 0 },
    ];
    const w = warningsFor(mods, loss, 104);
    expect(w.map((x) => x.text)).toEqual(['module execsnoop lost 6 events in the last 30 s', 'module biotop failed: no tracepoint block_io_start']);
    expect(warningsFor(mods, loss, 200).map((x) => x.kind)).toEqual(['failed']);
  });
});
