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
  wants(): Wants;
  update(snap: Snapshot, poller: Poller): void;
}

export function numericValues(instances: readonly FetchInstance[] | undefined): Map<number, number> {
  const m = new Map<number, number>();
  if (!instances) return m;
  for (const i of instances) if (i.instance !== null && typeof i.value === 'number') m.set(i.instance, i.value);
  return m;
}

/** "x is not available" when the agent does not export the metric; '' otherwise. */
export function missingNote(snap: Snapshot, names: readonly string[], module: string): string {
  const missing = names.filter((n) => snap.missing.has(n));
  if (missing.length === 0) return '';
  const what = missing.length === names.length ? names[0]! + (names.length > 1 ? ' and related metrics' : '') : missing.join(', ');
  return `${what}: not exported by the agent (module ${module} disabled or failed, or the agent not installed; see Agent health).`;
}

export function setNote(frame: PanelFrame, text: string, kind: 'info' | 'warn' = 'info'): void {
  setText(frame.note, text);
  frame.note.dataset.kind = text ? kind : '';
}
