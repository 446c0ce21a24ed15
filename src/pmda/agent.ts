// The agent runtime: one reply per request, in order, within pmcd's deadlines. It owns the
// module lifecycle and turns PDUs into calls on the metric table and the module instances.
import type { Logger } from 'pino';
import * as wire from '../pcp';
import { PDU, PM_ERR, PM_TYPE, PM_ID_NULL, PM_IN_NULL, PM_INDOM_NULL, PM_LABEL, PM_TEXT, pmidCluster, pmidItem, type Pdu } from '../pcp/types';
import { ConfigError } from './config-schema';
import { moduleSection, type RawConfig } from './config-file';
import { pmdabccCompat } from './pmdabcc-compat';
import type { InstanceDomain, LabelValue } from './indom';
import { MetricTable } from './metric-table';
import type { ClientRef, FetchResult, ModuleInstance, ModulePaths, ModuleSpec } from './module';
import { ModuleUnavailable } from './module';
import { makeModuleContext, ModuleState } from './module-context';
import { InstanceProfile } from './profile';
import { selfModule } from '../modules/pmda-self';

const ENOTSUP = -95;
const EPROTO = -71;
const SLOW_REFRESH_MS = 250;

export interface AgentOptions {
  domain: number;
  version: string;
  /** Tool modules, in registry order. */
  modules: readonly ModuleSpec[];
  raw: RawConfig;
  /** Module names to run when [pmda] modules is set; empty = use each section's `enabled`. */
  only: readonly string[];
  /** Problems found in the config before modules were looked at (reported, never fatal). */
  configErrors: string[];
  log: Logger;
  paths: ModulePaths;
  /** pmcd.conf says `notready`: send PM_ERR_PMDAREADY once the modules have started. */
  notready: boolean;
  write(buf: Buffer): void;
}

interface Live {
  spec: ModuleSpec;
  state: ModuleState;
  instance?: ModuleInstance;
}

export class Agent {
  readonly table: MetricTable;
  private readonly live = new Map<string, Live>();
  private readonly profile = new InstanceProfile();
  private readonly pending: Buffer[] = [];
  private busy = false;
  private stopping = false;
  private readonly log: Logger;

  constructor(private readonly opts: AgentOptions) {
    this.log = opts.log;
    const states = new Map<string, ModuleState>();
    for (const spec of opts.modules) {
      const state = new ModuleState();
      states.set(spec.name, state);
      this.live.set(spec.name, { spec, state });
    }
    const self = selfModule({ version: opts.version, states, configErrors: opts.configErrors });
    const selfState = new ModuleState();
    this.live.set(self.name, { spec: self, state: selfState });
    this.table = new MetricTable(opts.domain, [...opts.modules, self]);
    this.startOne(self, {});
  }

  /** Start every enabled module, one after another; a failure is recorded and the rest go on. */
  async startModules(): Promise<void> {
    const known = new Set(this.opts.modules.map((m) => m.name));
    for (const name of this.opts.only) {
      if (!known.has(name)) this.configError(new ConfigError('pmda', 'modules', `unknown module "${name}" (known: ${[...known].join(', ')})`));
    }
    for (const section of this.opts.raw.keys()) {
      if (section !== 'pmda' && !known.has(section)) {
        this.configError(new ConfigError(section, '*', `unknown section (known: pmda, ${[...known].join(', ')})`));
      }
    }
    for (const spec of this.opts.modules) {
      const live = this.live.get(spec.name)!;
      let enabled: boolean;
      let rest: Record<string, string>;
      try {
        ({ enabled, rest } = moduleSection(this.opts.raw, spec.name, spec.defaultEnabled));
        rest = pmdabccCompat(spec, rest, this.opts.raw.get('pmda'), this.log);
      } catch (e) {
        this.fail(live, e as Error);
        continue;
      }
      if (this.opts.only.length > 0) enabled = this.opts.only.includes(spec.name);
      if (!enabled) {
        live.state.state = 'disabled';
        continue;
      }
      await this.startOne(spec, rest);
    }
    if (this.opts.notready) this.opts.write(wire.encodeError({ from: 0, code: PM_ERR.PMDAREADY }));
    const summary = [...this.live.values()].map((l) => `${l.spec.name}=${l.state.state}`).join(' ');
    this.log.info({ modules: summary }, 'ready');
  }

  private configError(e: ConfigError): void {
    this.opts.configErrors.push(e.message);
    this.log.error({ section: e.section, key: e.key }, e.message);
  }

  private async startOne(spec: ModuleSpec, raw: Record<string, string>): Promise<void> {
    const live = this.live.get(spec.name)!;
    live.state.state = 'starting';
    const t0 = process.hrtime.bigint();
    try {
      const ctx = makeModuleContext(spec, { domain: this.opts.domain, log: this.log, paths: this.opts.paths, raw }, live.state);
      const inst = spec.create(ctx);
      live.instance = inst;
      await inst.start();
      live.state.state = 'running';
      for (const d of live.state.indoms.values()) d.save();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      this.log.info({ module: spec.name, variant: live.state.variant, ms: Math.round(ms) }, 'module running');
    } catch (e) {
      this.fail(live, e as Error);
      if (live.instance) {
        await live.instance.stop().catch((err: Error) => this.log.warn({ module: spec.name, err: err.message }, 'stop after failed start'));
        live.instance = undefined;
      }
    }
  }

  private fail(live: Live, e: Error): void {
    live.state.state = 'failed';
    live.state.error = e.message;
    if (e instanceof ConfigError) this.opts.configErrors.push(e.message);
    const level = e instanceof ModuleUnavailable || e instanceof ConfigError ? 'warn' : 'error';
    this.log[level]({ module: live.spec.name, err: e.message, stack: level === 'error' ? e.stack : undefined }, 'module not started');
  }

  /** Bytes of one complete PDU from pmcd. Requests are answered strictly in arrival order. */
  push(buf: Buffer): void {
    this.pending.push(buf);
    if (!this.busy) this.drain();
  }

  private drain(): void {
    this.busy = true;
    while (this.pending.length > 0) {
      const buf = this.pending.shift()!;
      let r: void | Promise<void>;
      try {
        r = this.handle(buf);
      } catch (e) {
        // pmcd is waiting for exactly one reply; a bug here must not cost it a 5 s timeout.
        this.log.error({ err: (e as Error).message, stack: (e as Error).stack }, 'request handler failed');
        if (expectsReply(buf.readInt32BE(4))) this.replyError(PM_ERR.GENERIC);
        continue;
      }
      if (r instanceof Promise) {
        r.catch((e: Error) => this.log.error({ err: e.message }, 'request handler failed')).finally(() => this.drain());
        return;
      }
    }
    this.busy = false;
  }

  private reply(buf: Buffer): void {
    this.opts.write(buf);
  }

  private replyError(code: number): void {
    this.reply(wire.encodeError({ from: 0, code }));
  }

  private handle(buf: Buffer): void | Promise<void> {
    const type = buf.readInt32BE(4);
    let pdu: Pdu;
    try {
      pdu = wire.decodePdu(buf);
    } catch (e) {
      const known = (Object.values(PDU) as number[]).includes(type);
      this.log.error({ type: `0x${type.toString(16)}`, len: buf.length, err: (e as Error).message }, known ? 'malformed PDU' : 'unknown PDU type');
      // A request pmcd waits on gets an error reply; an unknown type may be a request too, and a
      // reply pmcd did not expect only costs a reconnect, while a missing one costs a timeout.
      if (!known) this.replyError(PM_ERR.NYI);
      else if (expectsReply(type)) this.replyError(EPROTO);
      return;
    }
    switch (pdu.type) {
      case PDU.CREDS:
        this.log.debug({ creds: pdu.creds }, 'pmcd credentials');
        return;
      case PDU.ERROR:
        if (pdu.code === PM_ERR.NOTCONN) this.clientClosed(pdu.from);
        else this.log.info({ code: pdu.code, from: pdu.from }, 'error PDU from pmcd ignored');
        return;
      case PDU.ATTR:
      case PDU.CONTROL_REQ:
        return;
      case PDU.PROFILE:
        this.profile.set(pdu);
        return;
      case PDU.FETCH:
        return this.fetch(pdu.pmids, { slot: pdu.from, ctxid: pdu.ctxid });
      case PDU.DESC_REQ:
        return this.desc(pdu.pmid);
      case PDU.INSTANCE_REQ:
        return this.instance(pdu.indom, pdu.inst, pdu.name);
      case PDU.TEXT_REQ:
        return this.text(pdu.ident, pdu.textType);
      case PDU.LABEL_REQ:
        return this.label(pdu.ident, pdu.labelType);
      case PDU.PMNS_NAMES:
        return this.pmnsLookup(pdu.names);
      case PDU.PMNS_IDS:
        return this.pmnsNames(pdu.pmids);
      case PDU.PMNS_CHILD:
        return this.pmnsChild(pdu.name, pdu.subtype);
      case PDU.PMNS_TRAVERSE:
        return this.pmnsTraverse(pdu.name);
      case PDU.RESULT:
        return this.store(pdu.sets, { slot: pdu.from, ctxid: 0 });
      default:
        this.log.error({ type: `0x${type.toString(16)}` }, 'unexpected PDU type');
        this.replyError(PM_ERR.NYI);
    }
  }

  private clientClosed(slot: number): void {
    for (const l of this.live.values()) {
      try {
        l.instance?.clientClosed?.(slot);
      } catch (e) {
        this.log.warn({ module: l.spec.name, err: (e as Error).message }, 'clientClosed failed');
      }
    }
  }

  /** Why a module's metrics have no values right now, as a numval error code (0 = no values). */
  private unavailable(l: Live): number {
    switch (l.state.state) {
      case 'starting':
        return PM_ERR.AGAIN;
      case 'failed':
        return ENOTSUP;
      default:
        return 0;
    }
  }

  private fetch(pmids: number[], client: ClientRef): void {
    const wanted = new Map<Live, Set<number>>();
    for (const id of pmids) {
      const e = this.table.byPmid.get(id);
      if (!e) continue;
      const l = this.live.get(e.module.name)!;
      if (l.state.state !== 'running') continue;
      let items = wanted.get(l);
      if (!items) wanted.set(l, (items = new Set()));
      items.add(pmidItem(id));
    }
    for (const [l, items] of wanted) {
      const t0 = performance.now();
      try {
        l.instance!.refresh?.(items);
      } catch (e) {
        this.log.error({ module: l.spec.name, err: (e as Error).message }, 'refresh failed');
      }
      // pmcd drops an agent that takes 5 s to answer: a module this slow must do its work
      // off the fetch path. Say so loudly long before it comes to that.
      const ms = performance.now() - t0;
      if (ms > SLOW_REFRESH_MS) this.log.warn({ module: l.spec.name, ms: Math.round(ms) }, 'slow refresh on the fetch path');
    }
    const sets: wire.ResultSet[] = pmids.map((id) => {
      const e = this.table.byPmid.get(id);
      if (!e) return { pmid: id, error: PM_ERR.PMID };
      const l = this.live.get(e.module.name)!;
      if (l.state.state !== 'running') {
        const code = this.unavailable(l);
        return code === 0 ? { pmid: id, type: e.spec.type, values: [] } : { pmid: id, error: code };
      }
      let r: FetchResult;
      try {
        r = l.instance!.fetch(pmidItem(id), client);
      } catch (err) {
        this.log.error({ metric: e.spec.name, err: (err as Error).message }, 'fetch failed');
        return { pmid: id, error: PM_ERR.GENERIC };
      }
      if (typeof r === 'number') return r < 0 ? { pmid: id, error: r } : { pmid: id, type: e.spec.type, values: [] };
      if (e.indom !== PM_INDOM_NULL) {
        const keep = this.profile.filterFor(e.indom);
        if (keep) r = r.filter((v) => keep(v.inst));
      }
      return { pmid: id, type: e.spec.type, values: r };
    });
    // A new instance id must be on disk before a client sees it, or a crash could give the
    // same id to another name after the restart.
    for (const l of wanted.keys()) {
      this.saveIndoms(l.state.indoms.values(), true);
    }
    const onInvalid = (pmid: number, inst: number, reason: string): number => {
      this.log.error({ metric: this.table.byPmid.get(pmid)?.spec.name, inst, reason }, 'module value cannot be encoded');
      return PM_ERR.VALUE;
    };
    this.reply(wire.encodeResult({ sets, onInvalid }));
  }

  private desc(id: number): void {
    const e = this.table.byPmid.get(id);
    if (!e) return this.replyError(PM_ERR.PMID);
    this.reply(wire.encodeDesc({ pmid: id, vtype: e.spec.type, indom: e.indom, sem: e.spec.sem, units: e.spec.units }));
  }

  /** The live InstanceDomain, or null for a known indom whose module is not running. */
  private indomOf(indom: number): InstanceDomain | null | undefined {
    const d = this.table.indoms.get(indom);
    if (!d) return undefined;
    const l = this.live.get(d.module.name)!;
    return l.state.indoms.get(d.spec.serial) ?? null;
  }

  private instance(indom: number, inst: number, name: string | null): void {
    const d = this.indomOf(indom);
    if (d === undefined) return this.replyError(PM_ERR.INDOM);
    if (d) this.saveIndoms([d], true);
    if (name !== null && name.length > 0) {
      const id = d?.lookup(name);
      if (id === undefined) return this.replyError(PM_ERR.INST);
      return this.reply(wire.encodeInstance({ indom, instances: [{ inst: id, name: null }] }));
    }
    if (inst !== PM_IN_NULL) {
      const n = d?.nameOf(inst);
      if (n === undefined) return this.replyError(PM_ERR.INST);
      return this.reply(wire.encodeInstance({ indom, instances: [{ inst: PM_IN_NULL, name: n }] }));
    }
    const all = d ? d.instances().map((i) => ({ inst: i.id, name: i.name })) : [];
    this.reply(wire.encodeInstance({ indom, instances: all }));
  }

  private text(ident: number, textType: number): void {
    let oneline: string | undefined;
    let help: string | undefined;
    if (textType & PM_TEXT.INDOM) {
      const d = this.table.indoms.get(ident);
      oneline = d?.spec.oneline;
      help = d?.spec.help;
    } else {
      const e = this.table.byPmid.get(ident);
      oneline = e?.spec.oneline;
      help = e?.spec.help;
    }
    const text = textType & PM_TEXT.ONELINE ? oneline : help;
    if (text === undefined) return this.replyError(PM_ERR.TEXT);
    this.reply(wire.encodeText({ ident, text }));
  }

  private label(ident: number, type: number): void {
    const sets: wire.LabelSetIn[] = [];
    const one = (labels: Record<string, LabelValue> | undefined, flag: number) => {
      if (labels && Object.keys(labels).length > 0) sets.push({ inst: PM_IN_NULL, labels, flags: flag });
    };
    switch (type) {
      case PM_LABEL.DOMAIN:
        one({ agent: 'ebpf' }, PM_LABEL.DOMAIN);
        break;
      case PM_LABEL.CLUSTER: {
        const m = this.table.clusters.get(pmidCluster(ident));
        if (m) one({ bcc_module: m.name }, PM_LABEL.CLUSTER);
        break;
      }
      case PM_LABEL.INDOM:
        one(this.table.indoms.get(ident)?.spec.labels, PM_LABEL.INDOM);
        break;
      case PM_LABEL.INSTANCES: {
        const d = this.indomOf(ident);
        if (d) {
          const keep = this.profile.filterFor(ident);
          for (const i of d.instances()) {
            if (keep && !keep(i.id)) continue;
            sets.push({ inst: i.id, labels: d.labelsOf(i.id) ?? {}, flags: PM_LABEL.INSTANCES });
          }
        }
        break;
      }
      default:
        break;
    }
    this.reply(wire.encodeLabel({ ident, labelType: type, sets }));
  }

  private pmnsLookup(names: string[]): void {
    const ids = names.map((n) => this.table.byName.get(n)?.pmid ?? PM_ID_NULL);
    if (ids.every((id) => id === PM_ID_NULL)) {
      const nonleaf = names.length === 1 && this.table.isNonLeaf(names[0]!);
      return this.replyError(nonleaf ? PM_ERR.NONLEAF : PM_ERR.NAME);
    }
    this.reply(wire.encodePmnsIds({ sts: 0, pmids: ids }));
  }

  private pmnsNames(pmids: number[]): void {
    const names = pmids.map((id) => this.table.byPmid.get(id)?.spec.name).filter((n): n is string => n !== undefined);
    if (names.length === 0) return this.replyError(PM_ERR.PMID);
    this.reply(wire.encodePmnsNames({ names }));
  }

  private pmnsChild(name: string, subtype: number): void {
    const kids = this.table.children(name);
    if (!kids) return this.replyError(PM_ERR.NAME);
    const names = kids.map(([k]) => k);
    const status = subtype === 1 ? kids.map(([, leaf]) => (leaf ? 0 : 1)) : undefined;
    this.reply(wire.encodePmnsNames({ names, status }));
  }

  private pmnsTraverse(name: string): void {
    const names = this.table.traverse(name);
    if (!names) return this.replyError(PM_ERR.NAME);
    this.reply(wire.encodePmnsNames({ names }));
  }

  private async store(sets: { pmid: number; numval: number; values: { inst: number; value: unknown }[] }[], client: ClientRef): Promise<void> {
    let status = 0;
    for (const s of sets) {
      const e = this.table.byPmid.get(s.pmid);
      let code: number;
      if (!e) code = PM_ERR.PMID;
      else {
        const l = this.live.get(e.module.name)!;
        const inst = l.instance;
        if (l.state.state !== 'running' || !inst?.store) code = PM_ERR.PERMISSION;
        else {
          code = 0;
          for (const v of s.values) {
            try {
              // INSITU words arrive unsigned; a PM_TYPE_32 metric means them signed.
              const value = e.spec.type === PM_TYPE.I32 && typeof v.value === 'number' ? wire.asInt32(v.value) : v.value;
              code = await inst.store(pmidItem(s.pmid), v.inst, value as never, client);
            } catch (err) {
              this.log.error({ metric: e.spec.name, err: (err as Error).message }, 'store failed');
              code = PM_ERR.BADSTORE;
            }
            if (code < 0) break;
          }
        }
      }
      if (code < 0 && status === 0) status = code;
    }
    this.replyError(status);
  }

  /** Persist instance ids (only indoms with new names when `onlyNew`); a failure is logged, never fatal. */
  private saveIndoms(indoms: Iterable<InstanceDomain>, onlyNew: boolean): void {
    for (const d of indoms) {
      if (onlyNew && !d.hasNewNames()) continue;
      try {
        d.save();
      } catch (e) {
        this.log.error({ indom: d.indom, err: (e as Error).message }, 'saving instance ids failed');
      }
    }
  }

  /** Stop every module (closing their BPF objects and links). Idempotent. */
  async shutdown(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const l of this.live.values()) {
      if (!l.instance) continue;
      try {
        await l.instance.stop();
      } catch (e) {
        this.log.warn({ module: l.spec.name, err: (e as Error).message }, 'stop failed');
      }
      this.saveIndoms(l.state.indoms.values(), false);
      l.instance = undefined;
      l.state.state = 'stopped';
    }
  }
}

/** Request types pmcd waits on; anything else must never get a reply. */
function expectsReply(type: number): boolean {
  return (
    type === PDU.FETCH ||
    type === PDU.DESC_REQ ||
    type === PDU.INSTANCE_REQ ||
    type === PDU.TEXT_REQ ||
    type === PDU.LABEL_REQ ||
    type === PDU.PMNS_NAMES ||
    type === PDU.PMNS_IDS ||
    type === PDU.PMNS_CHILD ||
    type === PDU.PMNS_TRAVERSE ||
    type === PDU.RESULT
  );
}

