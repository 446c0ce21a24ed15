// Decoding execsnoop's argument block (struct exec_event in bpf/execsnoop.bpf.c) on its own,
// for the cases a live exec rarely produces: unreadable arguments and newlines.
import { describe, expect, it } from 'vitest';
import { joinArgs } from '../../src/modules/execsnoop';

function record(args: string[], opts: { truncated?: number[]; unreadable?: number[]; more?: boolean } = {}): Buffer {
  const body = Buffer.concat(args.map((a) => Buffer.from(`${a}\0`)));
  const b = Buffer.alloc(72 + body.length);
  b.writeUInt32LE(args.length, 24);
  b.writeUInt32LE(body.length, 28);
  b.writeUInt32LE(opts.more ? 1 : 0, 32);
  let t = 0n;
  for (const i of opts.truncated ?? []) t |= 1n << BigInt(i);
  b.writeBigUInt64LE(t, 40);
  let u = 0n;
  for (const i of opts.unreadable ?? []) u |= 1n << BigInt(i);
  b.writeBigUInt64LE(u, 48);
  body.copy(b, 72);
  return b;
}

describe('joinArgs', () => {
  it('joins the file name and arguments with spaces', () => {
    const b = record(['/bin/ls', '-l', '/tmp']);
    expect(joinArgs(b, 0, b.length)).toBe('/bin/ls -l /tmp');
  });

  it('marks cut arguments with "...", unreadable ones with "?", and more argv entries with " ..."', () => {
    const b = record(['/bin/x', 'a'.repeat(127), '', 'z'], { truncated: [1], unreadable: [2], more: true });
    expect(joinArgs(b, 0, b.length)).toBe(`/bin/x ${'a'.repeat(127)}... ? z ...`);
  });

  it('escapes newlines as execsnoop does and keeps empty arguments', () => {
    const b = record(['/bin/sh', '-c', 'echo a\necho b', '']);
    expect(joinArgs(b, 0, b.length)).toBe('/bin/sh -c echo a\\necho b ');
  });

  it('never reads past the record: a count larger than the bytes present stops at the end', () => {
    const b = record(['/bin/a', 'b']);
    b.writeUInt32LE(5, 24);
    expect(joinArgs(b, 0, b.length)).toBe('/bin/a b');
  });

  it('reads a record at an offset inside a larger buffer', () => {
    const r = record(['/bin/true']);
    const big = Buffer.concat([Buffer.alloc(40, 0xee), r, Buffer.alloc(40, 0x41)]);
    expect(joinArgs(big, 40, r.length)).toBe('/bin/true');
  });
});
