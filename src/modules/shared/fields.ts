// A tool's field table: one row per metric that reads one field of the tool's records (an
// event of the ring, a row of a top-N table). The shapes turn the table into metric specs,
// fetch dispatch and, for events, record parameters; nothing about a field is written twice.
import { PM_SEM, type PmType, type Units } from '../../pcp/types';
import { UNITS, type FetchValue, type MetricSpec } from '../../pmda/module';

export interface Field<R> {
  leaf: string;
  item: number;
  type: PmType;
  units?: Units;
  oneline: string;
  /** Help of this field; the shape appends what the instances mean. */
  help: string;
  get(r: R): FetchValue;
}

/** Instant metrics `prefix + leaf` over one indom, each help followed by `instancesHelp`. */
export function fieldMetrics<R>(prefix: string, fields: readonly Field<R>[], indom: number, instancesHelp: string): MetricSpec[] {
  return fields.map((f) => ({
    name: prefix + f.leaf,
    item: f.item,
    type: f.type,
    sem: PM_SEM.INSTANT,
    units: f.units ?? UNITS.none,
    indom,
    oneline: f.oneline,
    help: f.help + instancesHelp,
  }));
}

/** The fields by item, for fetch dispatch. */
export function byItem<R>(fields: readonly Field<R>[]): Map<number, Field<R>> {
  return new Map(fields.map((f) => [f.item, f]));
}
