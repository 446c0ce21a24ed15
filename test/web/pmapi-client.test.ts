// The page's pmproxy client, run in Node against the real pmproxy.
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { PmapiClient, PmapiUnreachable, StoreRefused } from '../../web/app/lib/pmapi-client';
import { Poller } from '../../web/app/lib/poller';

const PMPROXY = process.env.PMPROXY_URL ?? 'http://localhost:44322';

describe('PmapiClient against pmproxy', () => {
  it('creates one context and fetches through it', async () => {
    const c = new PmapiClient({ base: PMPROXY, polltimeout: 10 });
    const [a, b] = await Promise.all([c.connect(), c.connect()]);
    expect(a.context).toBe(b.context);
    expect(c.contextsCreated).toBe(1);
    expect(a.hostspec.length).toBeGreaterThan(0);
    const f = await c.fetch(['kernel.all.load', 'hinv.ncpu']);
    expect(f.values.map((v) => v.name).sort()).toEqual(['hinv.ncpu', 'kernel.all.load']);
    expect(f.timestamp).toBeGreaterThan(1.6e9);
  });

  it('tells found metrics from missing ones, also for a single unknown name', async () => {
    const c = new PmapiClient({ base: PMPROXY });
    const r = await c.metrics(['kernel.all.load', 'bcc.no.such.metric']);
    expect(r.found.map((m) => m.name)).toEqual(['kernel.all.load']);
    expect(r.found[0]!.indom).toBe('60.2');
    expect(r.missing).toEqual(['bcc.no.such.metric']);
    const one = await c.metrics(['bcc.no.such.metric']);
    expect(one).toMatchObject({ found: [], missing: ['bcc.no.such.metric'] });
    expect(one.reasons.get('bcc.no.such.metric')).toMatch(/Unknown metric name/);
    expect(r.reasons.get('bcc.no.such.metric')).toBe('Unknown metric name');
  });

  it('looks up only the instances asked for', async () => {
    const c = new PmapiClient({ base: PMPROXY });
    const r = await c.indom('kernel.all.load', [1, 15]);
    expect(r.instances.map((i) => [i.instance, i.name]).sort()).toEqual([
      [1, '1 minute'],
      [15, '15 minute'],
    ]);
  });

  it('reports a refused store with pmproxy\'s reason', async () => {
    const c = new PmapiClient({ base: PMPROXY });
    const e = await c.store('kernel.all.load', '1').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(StoreRefused);
    expect((e as StoreRefused).permission).toBe(true);
    expect((e as StoreRefused).reason).toMatch(/No permission/);
  });

  it('makes a new context when pmproxy forgot the old one, and the request still succeeds', async () => {
    const c = new PmapiClient({ base: PMPROXY, polltimeout: 1 });
    const first = await c.connect();
    await new Promise((r) => setTimeout(r, 3000));
    const f = await c.fetch(['kernel.all.load']);
    expect(f.values.length).toBe(1);
    expect(c.contextsCreated).toBe(2);
    expect(c.ctx!.context).not.toBe(first.context);
  });

  it('says pmproxy is unreachable when nothing listens', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const c = new PmapiClient({ base: `http://127.0.0.1:${port}` });
    await expect(c.fetch(['kernel.all.load'])).rejects.toBeInstanceOf(PmapiUnreachable);
  });
});

describe('Poller against pmproxy', () => {
  it('fetches what exists, lists what does not, and resolves instance names once', async () => {
    const client = new PmapiClient({ base: PMPROXY });
    const p = new Poller(client);
    const req = { names: ['kernel.all.load', 'bcc.no.such.metric'], needNames: new Set(['kernel.all.load']) };
    const s1 = await p.poll(req);
    expect([...s1.values.keys()]).toEqual(['kernel.all.load']);
    expect(s1.missing.has('bcc.no.such.metric')).toBe(true);
    expect(p.nameOf('kernel.all.load', 5)).toBe('5 minute');
    const s2 = await p.poll(req);
    expect(s2.t).toBeGreaterThanOrEqual(s1.t);
    p.forgetNames('kernel.all.load', new Set([1]));
    expect(p.nameOf('kernel.all.load', 5)).toBeUndefined();
    await p.poll(req);
    expect(p.nameOf('kernel.all.load', 5)).toBe('5 minute');
  });
});
