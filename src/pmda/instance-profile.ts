// pmcd sends a PROFILE only when the (client, context) pair changes, so the last one received
// applies to every later FETCH and instance-label request (pcp-pmda-protocol.md §5.4).
import { PM_PROFILE } from '../pcp/types';

export interface ProfileData {
  globalState: number;
  profiles: { indom: number; state: number; instances: number[] }[];
}

export class InstanceProfile {
  private global = PM_PROFILE.INCLUDE as number;
  private perIndom = new Map<number, { state: number; listed: Set<number> }>();

  set(p: ProfileData): void {
    this.global = p.globalState;
    this.perIndom.clear();
    for (const e of p.profiles) this.perIndom.set(e.indom, { state: e.state, listed: new Set(e.instances) });
  }

  /** Returns null when every instance of the indom is wanted (the common case: no filtering work). */
  filterFor(indom: number): ((inst: number) => boolean) | null {
    const e = this.perIndom.get(indom);
    if (!e) return this.global === PM_PROFILE.INCLUDE ? null : () => false;
    if (e.state === PM_PROFILE.INCLUDE) return e.listed.size === 0 ? null : (i) => !e.listed.has(i);
    return (i) => e.listed.has(i);
  }
}
