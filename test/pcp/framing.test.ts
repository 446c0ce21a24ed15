// PduFramer: the same PDUs whatever the read boundaries, bad lengths rejected, partial PDUs kept.
import { describe, expect, it } from 'vitest';
import { PduError, PduFramer } from '../../src/pcp';
import { loadVectors } from './vectors';

const vectors = loadVectors();
const pdus = vectors.map((v) => v.bytes);
const stream = Buffer.concat(pdus);
const hex = (bs: Buffer[]) => bs.map((b) => b.toString('hex'));

/** Deterministic PRNG so a failure can be reproduced. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function feed(chunks: Buffer[]): { out: Buffer[]; f: PduFramer } {
  const f = new PduFramer();
  const out: Buffer[] = [];
  for (const c of chunks) out.push(...f.push(c));
  return { out, f };
}

function cut(buf: Buffer, sizes: () => number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; ) {
    const n = Math.max(1, Math.min(buf.length - i, sizes()));
    chunks.push(buf.subarray(i, i + n));
    i += n;
  }
  return chunks;
}

describe('PduFramer: same PDUs whatever the chunking', () => {
  it(`all ${vectors.length} golden vectors (incl. 22- and 67-byte PDUs) as one chunk`, () => {
    const { out, f } = feed([stream]);
    expect(hex(out)).toEqual(hex(pdus));
    expect(f.pending()).toBe(0);
    f.end();
  });

  it('one byte at a time', () => {
    const { out, f } = feed(cut(stream, () => 1));
    expect(hex(out)).toEqual(hex(pdus));
    expect(f.pending()).toBe(0);
  });

  it.each([1, 2, 3, 42])('random chunk sizes 1..300 (seed %i)', (seed) => {
    const r = rng(seed);
    const { out } = feed(cut(stream, () => 1 + Math.floor(r() * 300)));
    expect(hex(out)).toEqual(hex(pdus));
  });

  it('chunks that split the 4-byte len word itself', () => {
    const r = rng(7);
    const { out } = feed(cut(stream, () => 1 + Math.floor(r() * 5)));
    expect(hex(out)).toEqual(hex(pdus));
  });

  it('empty chunks are harmless', () => {
    const f = new PduFramer();
    expect(f.push(Buffer.alloc(0))).toEqual([]);
    expect(f.push(pdus[0])).toHaveLength(1);
  });

  it('a PDU inside one chunk is returned without copying; a split one is joined into exactly len bytes', () => {
    const f = new PduFramer();
    const [whole] = f.push(pdus[0]);
    expect(whole.buffer).toBe(pdus[0].buffer);
    const g = new PduFramer();
    expect(g.push(pdus[1].subarray(0, 7))).toEqual([]);
    const [joined] = g.push(pdus[1].subarray(7));
    expect(joined.length).toBe(pdus[1].length);
    expect(joined.equals(pdus[1])).toBe(true);
  });
});

describe('PduFramer: partial input stays pending', () => {
  it('a truncated body is held, counted by pending(), and completed by the next chunk', () => {
    const big = pdus.find((p) => p.length > 1000)!;
    const f = new PduFramer();
    expect(f.push(big.subarray(0, 100))).toEqual([]);
    expect(f.pending()).toBe(100);
    expect(f.push(big.subarray(100, big.length - 1))).toEqual([]);
    expect(f.pending()).toBe(big.length - 1);
    expect(() => f.end()).toThrow(/input ended inside a \d+-byte PDU: \d+ bytes pending \(truncated PDU\)/);
    const out = f.push(big.subarray(big.length - 1));
    expect(out).toHaveLength(1);
    expect(out[0].equals(big)).toBe(true);
    expect(f.pending()).toBe(0);
  });

  it('a partial header is held too', () => {
    const f = new PduFramer();
    expect(f.push(pdus[0].subarray(0, 5))).toEqual([]);
    expect(f.pending()).toBe(5);
    expect(() => f.end()).toThrow(/inside a PDU header/);
  });
});

describe('PduFramer: bad lengths', () => {
  const hdr = (len: number) => {
    const b = Buffer.alloc(12);
    b.writeInt32BE(len, 0);
    b.writeInt32BE(0x7000, 4);
    return b;
  };

  it.each([0, 11, -1, -0x7fffffff])('len %i < 12 -> PduError', (len) => {
    const f = new PduFramer();
    expect(() => f.push(hdr(len))).toThrow(PduError);
    expect(() => new PduFramer().push(hdr(len))).toThrow(new RegExp(`PDU length ${len} is smaller than the 12-byte header`));
  });

  it('len above maxLen (default 1 MiB) -> PduError naming the limit', () => {
    expect(() => new PduFramer().push(hdr(1024 * 1024 + 1))).toThrow(/PDU length 1048577 exceeds the 1048576-byte limit/);
    expect(new PduFramer().push(hdr(12))).toHaveLength(1);
    expect(() => new PduFramer({ maxLen: 64 }).push(hdr(65))).toThrow(/exceeds the 64-byte limit/);
    expect(() => new PduFramer({ maxLen: 4 })).toThrow(RangeError);
  });

  it('good PDUs before a bad header in the same chunk are returned; the error comes on the next call', () => {
    const f = new PduFramer();
    const out = f.push(Buffer.concat([pdus[0], pdus[1], hdr(3)]));
    expect(hex(out)).toEqual(hex([pdus[0], pdus[1]]));
    expect(() => f.push(pdus[2])).toThrow(/PDU length 3 is smaller/);
    // No resynchronisation point: the framer stays broken.
    expect(() => f.push(pdus[2])).toThrow(/PDU length 3 is smaller/);
    expect(() => f.end()).toThrow(PduError);
  });

  it('a bad header split across chunks is detected once its 4 len bytes are in', () => {
    const f = new PduFramer();
    const bad = hdr(5);
    expect(f.push(bad.subarray(0, 2))).toEqual([]);
    expect(f.push(bad.subarray(2, 11))).toEqual([]); // 11 bytes < header: not judged yet
    expect(() => f.push(bad.subarray(11))).toThrow(/PDU length 5/);
  });
});
