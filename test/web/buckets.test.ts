import { describe, expect, it } from 'vitest';
import { heatmapRows, isLog2Bucket, parseBucket } from '../../web/app/lib/buckets';

describe('parseBucket', () => {
  it('reads pmdabcc log2 names', () => {
    expect(parseBucket('0-1')).toEqual({ name: '0-1', lo: 0, hi: 1 });
    expect(parseBucket('512-1023')).toEqual({ name: '512-1023', lo: 512, hi: 1023 });
    expect(parseBucket('9007199254740992-18014398509481983')?.hi).toBe(18014398509481983);
  });

  it('reads bpftrace names including -inf', () => {
    expect(parseBucket('-inf--1')).toEqual({ name: '-inf--1', lo: -Infinity, hi: -1 });
    expect(parseBucket('0-0')).toEqual({ name: '0-0', lo: 0, hi: 0 });
  });

  it('rejects names that are not buckets rather than guessing', () => {
    for (const bad of ['', '7', 'abc', '1-', '-5', '4-2', '1-2-3', 'a-b', '0x10-0x1f']) expect(parseBucket(bad), bad).toBeNull();
  });
});

describe('heatmapRows', () => {
  it('orders by upper bound whatever the arrival order', () => {
    const rows = heatmapRows(['8-15', '0-1', '4-7', '2-3'].map((n) => parseBucket(n)!));
    expect(rows.map((r) => r.name)).toEqual(['0-1', '2-3', '4-7', '8-15']);
  });

  it('fills the log2 buckets missing between the lowest and highest, in place', () => {
    const rows = heatmapRows(['0-1', '1024-2047', '16-31'].map((n) => parseBucket(n)!));
    expect(rows.map((r) => r.name)).toEqual(['0-1', '2-3', '4-7', '8-15', '16-31', '32-63', '64-127', '128-255', '256-511', '512-1023', '1024-2047']);
  });

  it('does not invent rows for non-log2 buckets', () => {
    const rows = heatmapRows(['0-0', '1-1', '4-7'].map((n) => parseBucket(n)!));
    expect(rows.map((r) => r.name)).toEqual(['0-0', '1-1', '4-7']);
    expect(isLog2Bucket(parseBucket('0-0')!)).toBe(false);
    expect(isLog2Bucket(parseBucket('3-5')!)).toBe(false);
    expect(isLog2Bucket(parseBucket('4-7')!)).toBe(true);
  });
});
