// Shared by the event-module tests: drive one module against the real kernel without pmcd.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { ModuleState, makeModuleContext } from '../../src/pmda/module-context';
import type { ClientRef, FetchValue, ModuleInstance, ModuleSpec } from '../../src/pmda/module';
import type { EventArray, EventRecord } from '../../src/pcp/types';

export const ROOT = path.resolve(__dirname, '../..');
export const BPF_DIR = path.join(ROOT, 'bpf/.output');

export interface Running {
  m: ModuleInstance;
  state: ModuleState;
  /** Refresh, then every filled slot's values per item: rows[slot][item]. */
  rows(items: number[]): Map<number, Record<number, FetchValue>>;
  fetch(item: number, client?: ClientRef): { inst: number; value: FetchValue }[];
  records(item: number, client: ClientRef): EventRecord[];
  stop(): Promise<void>;
}

export async function startModule(spec: ModuleSpec, raw: Record<string, string>): Promise<Running> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), `ev-${spec.name}-`));
  const log = pino({ level: 'debug' }, pino.destination({ dest: path.join(os.tmpdir(), `events-test-${spec.name}.log`), sync: true }));
  const state = new ModuleState();
  const ctx = makeModuleContext(spec, { domain: 149, log, paths: { bpfDir: BPF_DIR, stateDir }, raw, persist: false }, state);
  const m = spec.create(ctx);
  await m.start();
  state.state = 'running';
  const client0 = { slot: 0, ctxid: 0 };
  const fetch = (item: number, client: ClientRef = client0) => {
    m.refresh?.(new Set([item]));
    const r = m.fetch(item, client);
    if (typeof r === 'number') throw new Error(`fetch of item ${item} failed: ${r}`);
    return r;
  };
  return {
    m,
    state,
    fetch,
    rows(items) {
      m.refresh?.(new Set(items));
      const out = new Map<number, Record<number, FetchValue>>();
      for (const item of items) {
        const r = m.fetch(item, client0);
        if (typeof r === 'number') throw new Error(`fetch of item ${item} failed: ${r}`);
        for (const { inst, value } of r) {
          const row = out.get(inst) ?? {};
          row[item] = value;
          out.set(inst, row);
        }
      }
      return out;
    },
    records(item, client) {
      const r = fetch(item, client);
      return (r[0].value as EventArray).records;
    },
    async stop() {
      await m.stop();
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
