import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_CONFIG_BYTES, moduleSection, parseIni, pmdaSettings, readConfigFile } from '../../src/pmda/config-file';
import { planConfig } from '../../src/pmda/config-plan';
import { cfg, ConfigError, parseSection, quote } from '../../src/pmda/config-schema';
import { MODULES } from '../../src/modules';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'conf-'));
const plan = (text: string) => planConfig({ ...parseIni(text, 'ebpf.conf'), notes: [] }, MODULES);

describe('ebpf.conf parsing', () => {
  it('reads sections, keys and comments', () => {
    const { raw, broken, fatal } = parseIni('# c\n[pmda]\nmodules = runqlat, biolatency\n\n[runqlat]\nenabled=false\n; other\n');
    expect(fatal).toBeNull();
    expect(broken.size).toBe(0);
    expect(pmdaSettings(raw).settings.modules).toEqual(['runqlat', 'biolatency']);
    expect(moduleSection(raw, 'runqlat', true)).toEqual({ enabled: false, rest: {} });
    expect(moduleSection(raw, 'execsnoop', true)).toEqual({ enabled: true, rest: {} });
  });

  it('a syntax error spoils only its own section, naming file and line', () => {
    const p = parseIni('[runqlat]\nenabled = false\nthis is not a key\n[biolatency]\nenabled = false\n', '/etc/x.conf');
    expect(p.fatal).toBeNull();
    expect(p.broken.get('runqlat')).toMatch(/^\/etc\/x.conf:3: expected "\[section\]" or "key = value", got "this is not a key"$/);
    expect(p.raw.has('runqlat')).toBe(false);
    expect(p.raw.get('biolatency')).toEqual({ enabled: 'false' });
  });

  it('a duplicate section or key spoils that section; the module stays off (fails closed)', () => {
    const dupSection = plan('[runqlat]\nenabled = false\n[runqlat]\nenabled = false\n');
    expect(dupSection.modules.get('runqlat')).toEqual({ kind: 'error', error: 'ebpf.conf:3: section [runqlat] appears twice' });
    expect(dupSection.modules.get('biolatency')).toEqual({ kind: 'run', rest: {} });
    const dupKey = plan('[biolatency]\nenabled = false\nenabled = false\n');
    expect(dupKey.modules.get('biolatency')).toMatchObject({ kind: 'error', error: expect.stringMatching(/key "enabled" is set twice in \[biolatency\]/) });
    expect(dupKey.errors).toHaveLength(1);
  });

  it('a broken header keeps the module it names off, with the lines under it', () => {
    const p = plan('[runqlat\nenabled = true\n[biolatency]\nenabled = false\n');
    expect(p.modules.get('runqlat')).toMatchObject({ kind: 'error', error: expect.stringContaining('broken section header "[runqlat"') });
    expect(p.modules.get('biolatency')).toEqual({ kind: 'off' });
  });

  it('lines outside any section, a header naming nothing, or a broken [pmda] start no tool module', () => {
    for (const text of ['junk\n[runqlat]\n', '[]\n[runqlat]\n', '[pmda]\nmodules = runqlat\nnot a key\n', '[pmda]\n[pmda]\n', '[pmda\n']) {
      const p = plan(text);
      expect(p.fatal, text).not.toBeNull();
      for (const m of MODULES) expect(p.modules.get(m.name)?.kind, `${m.name} in ${JSON.stringify(text)}`).toBe('error');
      expect(p.modules.get('runqlat')).toMatchObject({ error: expect.stringMatching(/^not started: configuration unusable \(ebpf.conf:\d+: /) });
    }
  });

  it('an unknown or bad [pmda] key is reported and the other keys still apply', () => {
    const p = plan('[pmda]\nlog_levle = debug\nmodules = runqlat\nmax_reply_bytes = lots\n');
    expect(p.fatal).toBeNull();
    expect(p.settings.modules).toEqual(['runqlat']);
    expect(p.settings.max_reply_bytes).toBe(8 * 1024 * 1024);
    expect(p.errors).toEqual([
      expect.stringMatching(/^\[pmda\] log_levle: unknown key/),
      '[pmda] max_reply_bytes: expected an integer, got "lots"',
    ]);
    expect(p.modules.get('runqlat')).toEqual({ kind: 'run', rest: {} });
    expect(p.modules.get('biolatency')).toEqual({ kind: 'off' });
  });

  it('a bad module value is found before anything starts', () => {
    const p = plan('[tcptop]\nconn_count = many\n');
    expect(p.modules.get('tcptop')).toEqual({ kind: 'error', error: '[tcptop] conn_count: expected an integer, got "many"' });
  });

  it('quotes at most ~80 bytes of an offending line, escaped', () => {
    const junk = `${'\u0001\u001b[31m"\\'.repeat(10)}${'x'.repeat(10_000)}`;
    const p = parseIni(`[runqlat]\n${junk}\n`);
    const msg = p.broken.get('runqlat')!;
    expect(msg.length).toBeLessThan(400);
    expect(msg).toContain('\\x01\\x1b[31m\\"\\\\');
    expect(msg).toContain(`(${junk.length} bytes)`);
    expect(quote('é\n')).toBe('"\\xe9\\x0a"');
    const long = plan(`[${'a'.repeat(5000)}]\n`).errors[0]!;
    // The quote is cut (the rest of the message lists the known sections, which grows with the modules).
    expect(Math.max(...(long.match(/a+/g) ?? ['']).map((r) => r.length))).toBeLessThanOrEqual(80);
    expect(long.length).toBeLessThan(300 + MODULES.map((m) => m.name.length + 2).reduce((a, b) => a + b, 0));
    expect(plan(`[runqlat]\nenabled = ${'y'.repeat(100_000)}\n`).modules.get('runqlat')).toMatchObject({ error: expect.stringMatching(/\(100000 bytes\)$/) });
  });

  it('keeps at most 20 errors and counts the rest', () => {
    const p = plan(Array.from({ length: 50 }, (_, i) => `[nosuch${i}]\n`).join(''));
    expect(p.errors).toHaveLength(21);
    expect(p.errors[20]).toBe('... and 30 more configuration errors');
  });

  it('names section and key for bad values and unknown keys', () => {
    const schema = { process_count: cfg.int(20, { min: 1, max: 1000 }, 'ring size'), command: cfg.regex('comm filter') };
    expect(parseSection('execsnoop', schema, { process_count: '5' })).toEqual({ process_count: 5, command: null });
    const bad = (raw: Record<string, string>) => {
      try {
        parseSection('execsnoop', schema, raw);
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('no error');
    };
    expect(bad({ process_count: 'lots' }).message).toBe('[execsnoop] process_count: expected an integer, got "lots"');
    expect(bad({ process_count: '0' }).message).toBe('[execsnoop] process_count: 0 is below the minimum 1');
    expect(bad({ command: '(' }).key).toBe('command');
    expect(bad({ colour: 'red' }).message).toMatch(/^\[execsnoop\] colour: unknown key \(known keys: command, process_count\)/);
    const { raw } = parseIni('[runqlat]\nenabled = maybe\n');
    expect(() => moduleSection(raw, 'runqlat', true)).toThrow('[runqlat] enabled: expected true or false, got "maybe"');
  });
});

describe('reading ebpf.conf', () => {
  it('a missing default file keeps the defaults and says so; a missing -c file starts nothing', () => {
    const f = path.join(tmp(), 'nope.conf');
    const dflt = readConfigFile(f, false);
    expect(dflt.fatal).toBeNull();
    expect(dflt.notes).toEqual([`no config file ${f}: built-in defaults apply`]);
    expect(planConfig(dflt, MODULES).modules.get('runqlat')).toEqual({ kind: 'run', rest: {} });
    expect(readConfigFile(f, true).fatal).toBe(`cannot use config ${f}: no such file`);
  });

  it('refuses a FIFO without blocking, a directory, binary junk and a file over 1 MiB', () => {
    const d = tmp();
    execFileSync('mkfifo', [path.join(d, 'fifo')]);
    const t0 = Date.now();
    expect(readConfigFile(path.join(d, 'fifo')).fatal).toMatch(/fifo: not a regular file$/);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(readConfigFile(d).fatal).toMatch(/not a regular file$/);
    fs.writeFileSync(path.join(d, 'junk'), Buffer.from([0x5b, 0x00, 0xff, 0xfe, 0x0a, 0x80, 0x01]));
    expect(readConfigFile(path.join(d, 'junk')).fatal).toMatch(/binary content/);
    fs.writeFileSync(path.join(d, 'big'), Buffer.alloc(10 * 1024 * 1024, '#'));
    expect(readConfigFile(path.join(d, 'big')).fatal).toBe(`cannot use config ${path.join(d, 'big')}: 10485760 bytes is larger than the ${MAX_CONFIG_BYTES} byte limit`);
  });

  it('an unreadable file starts nothing (read error EIO, which root cannot bypass)', () => {
    // /proc/self/mem is a regular file whose read at offset 0 fails (nothing is mapped there).
    const r = readConfigFile('/proc/self/mem');
    expect(r.fatal).toMatch(/^cannot use config \/proc\/self\/mem: .*(EIO|input\/output error)/i);
    for (const p of planConfig(r, MODULES).modules.values()) expect(p.kind).toBe('error');
  });
});
