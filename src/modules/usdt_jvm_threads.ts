// usdt_jvm_threads → bcc.usdt.jvm.threads.{start,stop} (pmdabcc cluster 110): Java threads
// started and stopped, from HotSpot's thread__start/thread__stop USDT probes in libjvm.so
// (always enabled, no JVM flag needed), summed over every traced JVM.
import { PM_SEM } from '../pcp/types';
import { UNITS } from '../pmda/module';
import { cfg } from '../pmda/config-schema';
import { processKey, processRefreshKey } from './shared/filter';
import { defineKeyedCounter } from './shared/keyed-counter';
import { presentOrThrow, providerOf, requireProcess, runtimeOf } from './shared/runtime-config';
import { ProcessAttachments, attachEach } from './shared/usdt-procs';

/** Fields of struct usdt_events (bpf/uhits.bpf.c) the two probes count into. */
const EV_THREAD = 0;
const EV_THREAD_STOP = 6;

export const usdtJvmThreads = defineKeyedCounter({
  name: 'usdt_jvm_threads',
  cluster: 110,
  // pmdabcc shipped it off.
  defaultEnabled: false,
  indom: null,
  object: 'uhits.bpf.o',
  config: {
    process: {
      ...processKey(),
      doc: 'Required. The JVMs to trace: PIDs, names (java) or regular expressions as in pmdabcc; every match is attached and JVMs started later are picked up.',
    },
    process_refresh: processRefreshKey(),
    jvm_path: cfg.string(
      '',
      'pmdabcc\'s path of libjvm.so. Accepted for compatibility; each JVM is attached through the libjvm.so it actually maps, so this is not needed.',
    ),
  },
  hooks: (c) => {
    requireProcess(c.process, 'usdt_jvm_threads');
    return [{ name: 'usdt', variants: [{ name: 'usdt', programs: ['usdt_event'], available: () => true, attach: () => [] }] }];
  },
  started(loaded, ctx) {
    const c = ctx.config;
    const procs: ProcessAttachments = new ProcessAttachments(
      requireProcess(c.process, 'usdt_jvm_threads'),
      (pid) => {
        const found = runtimeOf(pid, 'java');
        const names = presentOrThrow(found, ['thread__start', 'thread__stop'], 'thread');
        const links = attachEach(names, (name) =>
          loaded.obj.attachUsdt('usdt_event', {
            binary: found.file.file,
            provider: providerOf(found, name),
            name,
            pid,
            cookie: name === 'thread__start' ? EV_THREAD : EV_THREAD_STOP,
          }),
        );
        return { links, what: 'java' };
      },
      ctx.log,
      c.process_refresh * 1000,
      () => ctx.status.setVariant(procs.summary('usdt')),
    );
    procs.start();
    ctx.status.setVariant(procs.summary('usdt'));
    return () => procs.stop();
  },
  map: 'events',
  value: { struct: 'usdt_events', sum: ['thread', 'thread_stop'] },
  metrics: [
    {
      name: 'bcc.usdt.jvm.threads.start',
      item: 0,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      oneline: 'thread starts',
      help: 'thread starts: Java threads started in the traced JVMs since the agent attached to them (HotSpot USDT probe thread__start).\n',
      value: (t) => t.thread,
    },
    {
      name: 'bcc.usdt.jvm.threads.stop',
      item: 1,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      oneline: 'thread stops',
      help: 'thread stops: Java threads that ended in the traced JVMs since the agent attached to them (HotSpot USDT probe thread__stop).\n',
      value: (t) => t.thread_stop,
    },
  ],
});
