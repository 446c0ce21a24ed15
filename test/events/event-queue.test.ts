// The per-client event queue on its own: every event since that client's last fetch, once;
// independent clients; bounded with a MISSED record; nothing kept when nobody reads.
import { describe, expect, it } from 'vitest';
import { PM_EVENT_FLAG, PM_TYPE, type EventArray, type EventParam } from '../../src/pcp/types';
import { EventQueue } from '../../src/modules/shared/event-queue';

const PMID_PID = (149 << 22) | (8 << 10) | 1;
const PMID_ARGS = (149 << 22) | (8 << 10) | 4;

function ev(n: number): () => EventParam[] {
  return () => [
    { pmid: PMID_PID, type: PM_TYPE.U32, value: n },
    { pmid: PMID_ARGS, type: PM_TYPE.STRING, value: `cmd ${n}` },
  ];
}
const ns = (n: number) => 1_700_000_000_000_000_000n + BigInt(n);
const pids = (a: EventArray) => a.records.filter((r) => !(r.flags & PM_EVENT_FLAG.MISSED)).map((r) => r.params[0].value);
const A = { slot: 3, ctxid: 0 };
const B = { slot: 5, ctxid: 0 };

describe('EventQueue', () => {
  it('registers a client at its first fetch and then returns each event exactly once', () => {
    const q = new EventQueue({ capacity: 100 });
    q.push(ns(0), ev(0)); // before any client: not kept
    expect(q.fetch(A)).toEqual({ highres: true, records: [] });
    for (let i = 1; i <= 5; i++) q.push(ns(i), ev(i));
    const first = q.fetch(A);
    expect(first.highres).toBe(true);
    expect(pids(first)).toEqual([1, 2, 3, 4, 5]);
    expect(first.records[0].flags).toBe(PM_EVENT_FLAG.POINT);
    expect(first.records[0].sec).toBe(1_700_000_000n);
    expect(first.records[0].frac).toBe(1n);
    expect(pids(q.fetch(A))).toEqual([]);
    q.push(ns(6), ev(6));
    expect(pids(q.fetch(A))).toEqual([6]);
  });

  it('serves two clients independently, each from its own last fetch', () => {
    const q = new EventQueue({ capacity: 100 });
    q.fetch(A);
    q.fetch(B);
    for (let i = 1; i <= 3; i++) q.push(ns(i), ev(i));
    expect(pids(q.fetch(A))).toEqual([1, 2, 3]);
    for (let i = 4; i <= 6; i++) q.push(ns(i), ev(i));
    expect(pids(q.fetch(A))).toEqual([4, 5, 6]);
    expect(pids(q.fetch(B))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(q.length).toBe(0); // both have everything: nothing held
  });

  it('bounds the backlog and tells a slow client how many it missed', () => {
    const q = new EventQueue({ capacity: 10 });
    q.fetch(A);
    q.fetch(B);
    for (let i = 1; i <= 25; i++) {
      q.push(ns(i), ev(i));
      if (i % 5 === 0) q.fetch(A); // A keeps up
    }
    expect(q.length).toBeLessThanOrEqual(10);
    const b = q.fetch(B);
    expect(b.records[0].flags).toBe(PM_EVENT_FLAG.MISSED);
    expect(b.records[0].missed).toBe(15);
    expect(b.records[0].params).toEqual([]);
    expect(pids(b)).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    expect(pids(q.fetch(B))).toEqual([]);
  });

  it('forgets a closed client, and a new context in a reused slot starts afresh', () => {
    const q = new EventQueue({ capacity: 100 });
    q.fetch(A);
    q.push(ns(1), ev(1));
    q.clientClosed(A.slot);
    expect(q.clientCount).toBe(0);
    expect(q.length).toBe(0);
    q.push(ns(2), ev(2));
    expect(q.fetch(A)).toEqual({ highres: true, records: [] }); // registers again
    q.push(ns(3), ev(3));
    expect(pids(q.fetch({ slot: A.slot, ctxid: 7 }))).toEqual([]); // different context: new client
    q.push(ns(4), ev(4));
    expect(pids(q.fetch({ slot: A.slot, ctxid: 7 }))).toEqual([4]);
  });

  it('builds parameters only when some client will read them', () => {
    const q = new EventQueue({ capacity: 10 });
    let built = 0;
    q.push(ns(1), () => {
      built++;
      return [];
    });
    expect(built).toBe(0);
    expect(q.unobserved).toBe(1);
    q.fetch(A);
    q.push(ns(2), () => {
      built++;
      return [];
    });
    expect(built).toBe(1);
  });

  it('splits a large backlog over replies of bounded size without losing any', () => {
    const q = new EventQueue({ capacity: 1000, maxReplyBytes: 1000 });
    q.fetch(A);
    for (let i = 1; i <= 100; i++) q.push(ns(i), ev(i));
    const seen: unknown[] = [];
    for (let k = 0; k < 100 && seen.length < 100; k++) {
      const r = q.fetch(A);
      expect(r.records.length).toBeGreaterThan(0);
      // 24-byte record header + 12 (u32) + 8+pad4("cmd NN") per record, under 1000 bytes per reply
      expect(r.records.length).toBeLessThan(100);
      seen.push(...pids(r));
    }
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('rejects a bad capacity', () => {
    expect(() => new EventQueue({ capacity: 0 })).toThrow(/positive integer/);
  });
});
