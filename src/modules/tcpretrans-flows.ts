// tcpretrans's user-space half: flow keys named as pmdabcc names them and the bounded set of
// flows exported as instances. The declaration is in tcpretrans.ts.
import type { ExpectedLayout } from '../bpf';
import type { InstanceDomain } from '../pmda/indom';
import { formatAddress } from './shared/bytes';

// struct flow_key in tcpretrans.bpf.c
const K_FAMILY = 0;
const K_LPORT = 2;
const K_DPORT = 4;
const K_SADDR = 8;
const K_DADDR = 24;
export const FLOW_KEY_SIZE = 40;

/** What flowName assumes, checked against the object's BTF at load. */
export const FLOW_KEY_LAYOUT: ExpectedLayout = {
  struct: 'flow_key',
  size: FLOW_KEY_SIZE,
  fields: { family: K_FAMILY, lport: K_LPORT, dport: K_DPORT, saddr: { offset: K_SADDR, size: 16 }, daddr: { offset: K_DADDR, size: 16 } },
};

/** pmdabcc's instance name for a flow key. */
export function flowName(keys: Buffer, off: number): string {
  const family = keys.readUInt16LE(off + K_FAMILY);
  const saddr = formatAddress(family, keys, off + K_SADDR);
  const daddr = formatAddress(family, keys, off + K_DADDR);
  return `${saddr}:${keys.readUInt16LE(off + K_LPORT)}::${daddr}:${keys.readUInt16LE(off + K_DPORT)}`;
}

interface Flow {
  name: string;
  id: number;
  /** Retransmits counted for this flow since the agent started (the exported counter). */
  total: bigint;
  /** The kernel map's value at the last read (it counts from the entry's creation). */
  kernel: bigint;
  /** When the count last rose (ms). */
  active: number;
  /** The kernel map key, to delete the entry when the flow leaves the set. */
  key: Buffer;
}

/**
 * The bounded per-flow counter set, without the kernel: fed (flow name, kernel count) pairs,
 * it keeps the flow_count most recently active flows as instances.
 */
export class FlowTable {
  private readonly live = new Map<string, Flow>();
  /** Totals of flows that left the set, so a returning flow continues its counter. Bounded. */
  private readonly retired = new Map<string, bigint>();

  constructor(
    private readonly indom: InstanceDomain,
    readonly flowCount: number,
    readonly idleMs: number,
    private readonly retiredMax = 65536,
  ) {}

  /** One kernel map entry as read now. Returns true if its count rose. */
  observe(name: string, kernelCount: bigint, key: Buffer, now: number): boolean {
    let f = this.live.get(name);
    if (!f) {
      const base = this.retired.get(name) ?? 0n;
      this.retired.delete(name);
      f = { name, id: this.indom.ensure(name), total: base, kernel: 0n, active: now, key: Buffer.from(key) };
      this.live.set(name, f);
    }
    // A smaller kernel count means the entry was deleted and re-created: it counts from 0.
    const delta = kernelCount >= f.kernel ? kernelCount - f.kernel : kernelCount;
    f.kernel = kernelCount;
    if (delta === 0n) return false;
    f.total += delta;
    f.active = now;
    this.indom.ensure(name);
    return true;
  }

  /**
   * Drop flows idle for idleMs and, beyond flow_count, the least recently active ones. Returns
   * the kernel keys of the dropped flows (their map entries should go too).
   */
  prune(now: number): Buffer[] {
    const gone: Flow[] = [];
    if (this.idleMs > 0) for (const f of this.live.values()) if (now - f.active >= this.idleMs) gone.push(f);
    for (const f of gone) this.live.delete(f.name);
    if (this.live.size > this.flowCount) {
      const byAge = [...this.live.values()].sort((a, b) => a.active - b.active || Number(a.total - b.total));
      for (const f of byAge.slice(0, this.live.size - this.flowCount)) {
        this.live.delete(f.name);
        gone.push(f);
      }
    }
    for (const f of gone) {
      this.indom.deactivate(f.id);
      this.retired.set(f.name, f.total);
      if (this.retired.size > this.retiredMax) this.retired.delete(this.retired.keys().next().value!);
    }
    return gone.map((f) => f.key);
  }

  values(): { inst: number; value: bigint }[] {
    return [...this.live.values()].sort((a, b) => a.id - b.id).map((f) => ({ inst: f.id, value: f.total }));
  }

  get size(): number {
    return this.live.size;
  }
}
