// bcc.proc.profile (pmdabcc's on-demand profiler) is a string metric holding JSON:
// {"status": "stopped|starting|started|stopping", "data": null | tree}, a tree node being
// {name, libtype, value, children}. Parse it strictly and say what is wrong when it is not that.
import type { FlameNode } from './flame-tree';

export type ProfileStatus = 'stopped' | 'starting' | 'started' | 'stopping';

export interface ProfileValue {
  status: ProfileStatus | string;
  data: FlameNode | null;
}

export class ProfileFormatError extends Error {}

function node(x: unknown, path: string): FlameNode {
  if (typeof x !== 'object' || x === null) throw new ProfileFormatError(`${path} is not an object`);
  const o = x as Record<string, unknown>;
  if (typeof o.name !== 'string') throw new ProfileFormatError(`${path}.name is not a string`);
  const value = Number(o.value);
  if (!Number.isFinite(value)) throw new ProfileFormatError(`${path}.value is not a number`);
  const kids = o.children ?? [];
  if (!Array.isArray(kids)) throw new ProfileFormatError(`${path}.children is not an array`);
  const out: FlameNode = { name: o.name, value, children: kids.map((k, i) => node(k, `${path}.children[${i}]`)) };
  if (typeof o.libtype === 'string' && o.libtype) out.libtype = o.libtype;
  return out;
}

export function parseProfileValue(text: string): ProfileValue {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ProfileFormatError(`bcc.proc.profile is not JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null) throw new ProfileFormatError('bcc.proc.profile is not a JSON object');
  const o = raw as Record<string, unknown>;
  if (typeof o.status !== 'string') throw new ProfileFormatError('bcc.proc.profile has no "status" string');
  const data = o.data === null || o.data === undefined ? null : node(o.data, 'data');
  return { status: o.status, data };
}
