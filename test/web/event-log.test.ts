import { describe, expect, it } from 'vitest';
import { EventLog, type EventSlot } from '../../web/app/lib/event-log';

// A ring of `size` slots holding events seq..., newest in slot 0, as the agent exports it.
function ring(newest: number, size: number, epochTag = ''): EventSlot[] {
  const out: EventSlot[] = [];
  for (let seq = newest; seq > newest - size && seq > 0; seq--) out.push({ seq, fields: { comm: `cmd${epochTag}${seq}`, pid: 1000 + seq } });
  return out;
}

describe('EventLog', () => {
  it('shows each event once although it stays in the ring for many fetches', () => {
    const log = new EventLog(100);
    expect(log.ingest(ring(3, 20), 1).added).toBe(3);
    expect(log.ingest(ring(3, 20), 2).added).toBe(0);
    expect(log.ingest(ring(5, 20), 3).added).toBe(2);
    expect(log.rows().map((r) => r.seq)).toEqual([5, 4, 3, 2, 1]);
    expect(new Set(log.rows().map((r) => r.key)).size).toBe(5);
    expect(log.rows()[0]!.seenAt).toBe(3);
    expect(log.rows()[4]!.seenAt).toBe(1);
  });

  it('keeps newest first within one batch', () => {
    const log = new EventLog(100);
    log.ingest(ring(10, 20), 1);
    expect(log.rows().map((r) => r.seq)).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
  });

  it('counts events that passed through the ring between two fetches', () => {
    const log = new EventLog(100);
    log.ingest(ring(20, 20), 1);
    const r = log.ingest(ring(70, 20), 2);
    expect(r.added).toBe(20);
    expect(r.missed).toBe(30);
    expect(log.missedTotal).toBe(30);
  });

  it('starts a new epoch when the agent restarts and its sequence begins again', () => {
    const log = new EventLog(100);
    log.ingest(ring(40, 20), 1);
    const r = log.ingest(ring(2, 20, 'new'), 2);
    expect(r.restarted).toBe(true);
    expect(r.added).toBe(2);
    expect(log.ingest(ring(3, 20, 'new'), 3).added).toBe(1);
    const keys = log.rows().map((x) => x.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(log.rows()[0]!.fields.comm).toBe('cmdnew3');
  });

  it('does not take a field missing from one fetch for a restart', () => {
    const log = new EventLog(100);
    log.ingest([{ seq: 7, fields: { comm: 'x', args: 'a b' } }], 1);
    const r = log.ingest([{ seq: 7, fields: { comm: 'x', args: null } }], 2);
    expect(r.restarted).toBe(false);
    expect(log.size).toBe(1);
  });

  it('never evicts below a ring size, so old slots are not shown again', () => {
    const log = new EventLog(5);
    log.ingest(ring(20, 20), 1);
    expect(log.size).toBe(20);
    expect(log.ingest(ring(20, 20), 2).added).toBe(0);
  });

  it('falls back to content keys when the agent exports no sequence number', () => {
    const log = new EventLog(100);
    const slots = [{ seq: undefined, fields: { comm: 'b', pid: 2 } }, { seq: undefined, fields: { comm: 'a', pid: 1 } }];
    expect(log.ingest(slots, 1).added).toBe(2);
    expect(log.ingest(slots, 2).added).toBe(0);
    expect(log.usingContentKeys).toBe(true);
    expect(log.rows().map((r) => r.fields.comm)).toEqual(['b', 'a']);
  });
});
