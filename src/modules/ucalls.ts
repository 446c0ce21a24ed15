// ucalls → bcc.proc.ucall.{count,latency.avg,latency.cml} (pmdabcc cluster 16): method calls
// of language runtimes (Python, Java, Ruby, Perl, PHP, Tcl) per class.method, from their
// USDT entry/return probes (bpf/ucalls.bpf.c). Each matching process is attached on its own
// with its runtime's probes; the attach cookie tells the program where class and method are
// among the probe's arguments, so processes of different runtimes can be traced at once.
import { PM_SEM } from '../pcp/types';
import { UNITS } from '../pmda/module';
import { cfg } from '../pmda/config-schema';
import { defineKeyedCounter } from './shared/keyed-counter';
import { presentOrThrow, providerOf, requireProcess, runtimeOf, runtimeProcessConfig } from './shared/runtime-config';
import { callLayoutCookie, sanitizeInstName, type Language } from './shared/runtimes';
import { ProcessAttachments, attachEach } from './shared/usdt-procs';

const NAME_LEN = 128;
const UCALL_LANGUAGES: Language[] = ['java', 'perl', 'php', 'python', 'ruby', 'tcl'];

function cstr(b: Buffer, start: number, len: number): string {
  const end = b.indexOf(0, start);
  return b.toString('latin1', start, end < 0 || end > start + len ? start + len : end);
}

/** pmdabcc's instance name of a (class, method) key: parse_inst_name(class + "." + method). */
export function ucallName(key: Buffer): string | null {
  const name = sanitizeInstName(`${cstr(key, 0, NAME_LEN)}.${cstr(key, NAME_LEN, NAME_LEN)}`);
  return name === '' ? null : name;
}

export const ucalls = defineKeyedCounter({
  name: 'ucalls',
  cluster: 16,
  // pmdabcc shipped it off.
  defaultEnabled: false,
  indom: {
    serial: 16,
    oneline: 'methods as class.method',
    help:
      'One instance per called method, named class.method with pmdabcc\'s sanitising: leading non-alphanumerics dropped, the name cut at the first ' +
      'character outside letters, digits and . / < > [ ] _, then / as . and [ ] as { }. For Python the class is the file name (/tmp/app.py + f: tmp.app.py.f).\n',
  },
  object: 'ucalls.bpf.o',
  config: {
    ...runtimeProcessConfig(UCALL_LANGUAGES),
    latency: cfg.bool(false, 'Also time each call (entry to return): latency.avg and latency.cml. Costs a second probe per call.'),
  },
  configure: (obj, c) => obj.setRodata({ latency: c.latency }),
  hooks: (c) => {
    requireProcess(c.process, 'ucalls');
    return [
      {
        name: 'usdt',
        variants: [{ name: 'usdt', programs: c.latency ? ['ucall_entry', 'ucall_return'] : ['ucall_entry'], available: () => true, attach: () => [] }],
      },
    ];
  },
  started(loaded, ctx) {
    const c = ctx.config;
    const procs: ProcessAttachments = new ProcessAttachments(
      requireProcess(c.process, 'ucalls'),
      (pid) => {
        const found = runtimeOf(pid, c.language, (f) => f.runtime.calls !== null);
        const calls = found.runtime.calls!;
        const cookie = callLayoutCookie(calls);
        const entries = presentOrThrow(found, calls.entry, 'method entry');
        const rets = c.latency ? presentOrThrow(found, calls.ret, 'method return') : [];
        const attach = (program: string, names: string[]) =>
          names.map((name) => ({ program, name, provider: providerOf(found, name) }));
        const links = attachEach([...attach('ucall_entry', entries), ...attach('ucall_return', rets)], (t) =>
          loaded.obj.attachUsdt(t.program, { binary: found.file.file, provider: t.provider, name: t.name, pid, cookie }),
        );
        if (found.runtime.enable) ctx.log.info({ pid, runtime: found.runtime.language, note: found.runtime.enable }, 'runtime probe note');
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
  keyName: (key) => ucallName(key),
  value: { struct: 'call_stats', sum: ['calls', 'timed', 'total_ns'] },
  metrics: [
    {
      name: 'bcc.proc.ucall.count',
      item: 0,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      oneline: 'ucall count',
      help: 'ucall count: calls of each method (method entry probe firings) in the traced processes since the agent started.\n',
      value: (t) => t.calls,
    },
    {
      name: 'bcc.proc.ucall.latency.avg',
      item: 1,
      sem: PM_SEM.INSTANT,
      units: UNITS.usec,
      oneline: 'ucall avg latency',
      help:
        'ucall avg latency: mean time from entry to return of the timed calls of each method, in microseconds, since the agent started ' +
        '(only with latency = true; calls that began before the agent attached are not timed).\n',
      value: (t) => (t.timed === 0n ? undefined : t.total_ns / t.timed / 1000n),
    },
    {
      name: 'bcc.proc.ucall.latency.cml',
      item: 2,
      sem: PM_SEM.COUNTER,
      units: UNITS.usec,
      oneline: 'ucall cml latency',
      help: 'ucall cml latency: total time spent in each method (entry to return, nested calls included), in microseconds (only with latency = true).\n',
      value: (t) => (t.timed === 0n ? undefined : t.total_ns / 1000n),
    },
  ],
});
