// ustat → bcc.proc.ustat.{thread,method,object,class,except,gc} (pmdabcc cluster 17): runtime
// events per process (threads started, method calls, objects created, classes loaded,
// exceptions, garbage collections) from each runtime's USDT probes (pmdabcc's ustat table,
// src/modules/shared/runtimes.ts). bpf/uhits.bpf.c program usdt_event counts into the field
// the attach cookie names, per tgid. Instances are plain PIDs as pmdabcc's (QA 1179).
import * as fs from 'node:fs';
import { PM_SEM } from '../pcp/types';
import { UNITS } from '../pmda/module';
import { defineKeyedCounter, type KeyedMetric } from './shared/keyed-counter';
import { presentOrThrow, providerOf, requireProcess, runtimeOf, runtimeProcessConfig } from './shared/runtime-config';
import { STAT_FIELDS, type StatField } from './shared/runtimes';
import { ProcessAttachments, attachEach } from './shared/usdt-procs';

const HELP: Record<StatField, [string, string]> = {
  thread: ['threads started', 'threads started (Java thread__start)'],
  method: ['method call count', 'method calls (Python function__entry, Java method__entry, Ruby method__entry/cmethod__entry, Perl sub__entry, PHP function__entry, Tcl proc__entry)'],
  object: ['objects created', 'objects created (Java object__alloc, Ruby object/hash/string/array__create, Tcl obj__create)'],
  class: ['class load count', 'classes loaded (Java class__loaded, Ruby require__entry/load__entry, PHP compile__file__entry)'],
  except: ['exception count', 'exceptions (Java ExceptionOccurred__entry, Ruby raise, PHP exception__thrown)'],
  gc: ['gc count', 'garbage collections (Python gc__start, Java gc__begin/mem__pool__gc__begin, Ruby gc__mark__begin/gc__sweep__begin, Node gc__start)'],
};

export const ustat = defineKeyedCounter({
  name: 'ustat',
  cluster: 17,
  // pmdabcc shipped it off.
  defaultEnabled: false,
  indom: {
    serial: 17,
    oneline: 'traced processes by PID',
    help: 'One instance per traced process, named by its PID (plain, as pmdabcc); a process that exits leaves the instance domain.\n',
  },
  object: 'uhits.bpf.o',
  config: runtimeProcessConfig(),
  configure: (obj) => obj.setRodata({ per_pid: true }),
  hooks: (c) => {
    requireProcess(c.process, 'ustat');
    return [{ name: 'usdt', variants: [{ name: 'usdt', programs: ['usdt_event'], available: () => true, attach: () => [] }] }];
  },
  started(loaded, ctx) {
    const c = ctx.config;
    const procs: ProcessAttachments = new ProcessAttachments(
      requireProcess(c.process, 'ustat'),
      (pid) => {
        const found = runtimeOf(pid, c.language);
        const names = presentOrThrow(found, Object.keys(found.runtime.stats), 'ustat');
        const links = attachEach(names, (name) =>
          loaded.obj.attachUsdt('usdt_event', {
            binary: found.file.file,
            provider: providerOf(found, name),
            name,
            pid,
            cookie: STAT_FIELDS.indexOf(found.runtime.stats[name]!),
          }),
        );
        return { links, what: found.runtime.language };
      },
      ctx.log,
      c.process_refresh * 1000,
      () => ctx.status.setVariant(procs.summary('usdt')),
    );
    procs.start();
    ctx.status.setVariant(procs.summary('usdt'));
    return () => procs.stop();
  },
  keyName: (key) => {
    const pid = key.readUInt32LE(0);
    return { name: String(pid), id: pid };
  },
  gone: { everyMs: 5000, test: (name) => !fs.existsSync(`/proc/${name}`), drop: true },
  map: 'events',
  value: { struct: 'usdt_events', sum: [...STAT_FIELDS] },
  metrics: STAT_FIELDS.map(
    (f, item): KeyedMetric<StatField> => ({
      name: `bcc.proc.ustat.${f}`,
      item,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      oneline: HELP[f][0],
      help: `${HELP[f][0]}: ${HELP[f][1]} in each traced process since the agent attached to it.\n`,
      value: (t) => t[f],
    }),
  ),
});
