// What every panel gives the poll loop: the metrics it wants while open, and an update per fetch.
import type { FetchInstance } from '../lib/pmapi-client';
import type { Poller, Snapshot } from '../lib/poller';
import { setText, type PanelFrame } from './dom';

export interface Wants {
  names: string[];
  /** Names whose instance names must be known before update(). */
  needNames: string[];
}

export interface Panel {
  frame: PanelFrame;
  /** Polled even while closed (the health panel feeds the warnings at the top). */
  readonly alwaysPoll?: boolean;
  wants(): Wants;
  update(snap: Snapshot, poller: Poller): void;
}

export function numericValues(instances: readonly FetchInstance[] | undefined): Map<number, number> {
  const m = new Map<number, number>();
  if (!instances) return m;
  for (const i of instances) if (i.instance !== null && typeof i.value === 'number') m.set(i.instance, i.value);
  return m;
}

/** Module states from bcc.pmda.module.* (kept by the health panel, which updates first). */
export const moduleStates = new Map<string, { state: string; error: string }>();

/** Why a module's panel is empty, when the agent says the module is not running; '' otherwise. */
export function moduleNote(module: string): string {
  const m = moduleStates.get(module);
  if (!m || m.state === 'running') return '';
  if (m.state === 'disabled') return `module ${module} is disabled in the agent (enable it in the [${module}] section of ebpf.conf).`;
  if (m.state === 'failed') return `module ${module} failed${m.error ? `: ${m.error}` : ''}.`;
  return `module ${module} is ${m.state}.`;
}

/** "x is not available" when the agent does not export the metric; '' otherwise. */
export function missingNote(snap: Snapshot, names: readonly string[], module: string): string {
  const missing = names.filter((n) => snap.missing.has(n));
  if (missing.length === 0) return '';
  const what = missing.length === names.length ? names[0]! + (names.length > 1 ? ' and related metrics' : '') : missing.join(', ');
  const reason = snap.missingReasons.get(missing[0]!) ?? '';
  if (/failed to lookup/i.test(reason)) {
    // In the namespace, but its agent did not describe it: starting, restarting, or hung.
    return `${what}: the agent did not answer for it (pmproxy: "${reason}"); it may be starting. Retrying.`;
  }
  if (moduleStates.get(module)?.state === 'running') {
    return `${what}: not in pmcd's namespace although module ${module} is running (the agent's namespace may be out of date: re-run its Install). Retrying.`;
  }
  return `${what}: not exported by the agent (${moduleNote(module) || `module ${module} disabled or failed, or the agent not installed; see Agent health`}).`;
}

/** The missing-metric note, else the module-state note, else ''. */
export function availabilityNote(snap: Snapshot, names: readonly string[], module: string): string {
  return missingNote(snap, names, module) || moduleNote(module);
}

export function setNote(frame: PanelFrame, text: string, kind: 'info' | 'warn' = 'info'): void {
  setText(frame.note, text);
  frame.note.dataset.kind = text ? kind : '';
}
