// Install's import of a pmdabcc configuration: when ebpf.conf does not exist yet and
// $PCP_PMDAS_DIR/bcc/bcc.conf does, its module list and module options become ebpf.conf, and
// what could not be carried over is printed (Install shows it to the administrator).
//   node dist/tools/import-bcc-conf.js <bcc.conf> <ebpf.conf>
// The module list keeps every name, even of modules this agent does not have: the agent then
// reports them as unknown and runs only the listed ones, never its own default set in their
// place (fail closed), and a module that is added later starts without another edit.
import * as fs from 'node:fs';
import pino from 'pino';
import { MODULES } from '../src/modules';
import { parseIni, PMDA_SCHEMA } from '../src/pmda/config-file';
import { parseSection, type ConfigError } from '../src/pmda/config-schema';
import type { ModuleSpec } from '../src/pmda/module';
import { pmdabccCompat } from '../src/pmda/pmdabcc-compat';

export interface ImportResult {
  text: string;
  mapped: string[];
  notMapped: string[];
}

const silent = pino({ level: 'silent' });

export function importBccConf(bccText: string, source: string, modules: readonly ModuleSpec[] = MODULES): ImportResult {
  const parsed = parseIni(bccText, source);
  if (parsed.fatal) throw new Error(parsed.fatal);
  const raw = parsed.raw;
  const mapped: string[] = [];
  const notMapped: string[] = [];
  for (const [section, why] of parsed.broken) notMapped.push(`[${section}]: ${why} (section not carried over)`);
  const pmda = raw.get('pmda') ?? {};
  const out: string[] = [`# Imported from pmdabcc's ${source} by Install (tools/import-bcc-conf).`, '# See the agent\'s default ebpf.conf for every key.', '', '[pmda]'];

  // pmdabcc's [modules] names sections; a section's `module` key names the module it loads.
  const listed = (pmda.modules ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const names: string[] = [];
  for (const section of listed) {
    const mod = (raw.get(section)?.module ?? section).trim().replace(/^fs\./, '');
    if (!names.includes(mod)) names.push(mod);
    if (!modules.some((m) => m.name === mod)) notMapped.push(`module ${mod}: not in this agent yet (kept in the list; the agent reports it and runs no substitute)`);
  }
  out.push(`modules = ${names.join(',')}`);
  mapped.push(`[pmda] modules = ${names.join(',')}`);
  for (const [key, value] of Object.entries(pmda)) {
    if (key === 'modules') continue;
    if (key === 'module_failure_fatal') {
      notMapped.push(`[pmda] module_failure_fatal = ${value}: dropped (a failing module never stops the others here)`);
      continue;
    }
    try {
      parseSection('pmda', PMDA_SCHEMA, { [key]: value });
      if (key === 'prefix') continue; // the only value accepted is the default
      out.push(`${key} = ${value}`);
      mapped.push(`[pmda] ${key} = ${value}`);
    } catch (e) {
      notMapped.push(`[pmda] ${key} = ${value}: ${(e as Error).message}`);
    }
  }

  for (const [section, keys] of raw) {
    if (section === 'pmda') continue;
    const name = (keys.module ?? section).trim().replace(/^fs\./, '');
    const spec = modules.find((m) => m.name === name);
    if (!names.includes(name)) continue; // options of modules the site had off are not carried over
    if (!spec) continue; // reported with the module list
    const lines: string[] = [];
    let rest: Record<string, string>;
    try {
      rest = pmdabccCompat(spec, keys, undefined, silent);
    } catch (e) {
      // A common key that asks for something we cannot do: drop it, keep the options.
      notMapped.push(`[${section}] ${(e as ConfigError).key}: ${(e as Error).message}`);
      const { module: _m, cluster: _c, prefix: _p, debug: _d, pmda_indom_cache: _i, ...others } = keys;
      rest = others;
    }
    for (const [key, value] of Object.entries(rest)) {
      try {
        parseSection(spec.name, spec.config, { [key]: value });
        lines.push(`${key} = ${value}`);
        mapped.push(`[${spec.name}] ${key} = ${value}`);
      } catch (e) {
        notMapped.push(`[${section}] ${key} = ${value}: ${(e as Error).message}`);
      }
    }
    out.push('', `[${spec.name}]`, ...lines);
  }
  return { text: out.join('\n') + '\n', mapped, notMapped };
}

function main(argv: string[]): number {
  const [from, to] = argv;
  if (!from || !to) {
    process.stderr.write('usage: import-bcc-conf <bcc.conf> <ebpf.conf>\n');
    return 2;
  }
  if (fs.existsSync(to)) {
    process.stdout.write(`${to} exists: nothing imported\n`);
    return 0;
  }
  let r: ImportResult;
  try {
    r = importBccConf(fs.readFileSync(from, 'utf8'), from);
  } catch (e) {
    process.stderr.write(`cannot import ${from}: ${(e as Error).message}\n`);
    return 1;
  }
  fs.writeFileSync(to, r.text);
  process.stdout.write(`Imported pmdabcc's ${from} into ${to}:\n`);
  for (const m of r.mapped) process.stdout.write(`  mapped: ${m}\n`);
  for (const m of r.notMapped) process.stdout.write(`  NOT mapped: ${m}\n`);
  return 0;
}

if (require.main === module) process.exit(main(process.argv.slice(2)));
