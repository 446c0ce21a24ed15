import { describe, expect, it } from 'vitest';
import { moduleSection, parseIni, pmdaSettings } from '../../src/pmda/config-file';
import { cfg, ConfigError, parseSection } from '../../src/pmda/config-schema';

describe('ebpf.conf parsing', () => {
  it('reads sections, keys and comments', () => {
    const raw = parseIni('# c\n[pmda]\nmodules = runqlat, biolatency\n\n[runqlat]\nenabled=false\n; other\n');
    expect(pmdaSettings(raw).modules).toEqual(['runqlat', 'biolatency']);
    expect(moduleSection(raw, 'runqlat', true)).toEqual({ enabled: false, rest: {} });
    expect(moduleSection(raw, 'execsnoop', true)).toEqual({ enabled: true, rest: {} });
  });

  it('names file and line for syntax errors', () => {
    expect(() => parseIni('[pmda]\nthis is not a key\n', '/etc/x.conf')).toThrow('/etc/x.conf:2: expected "[section]" or "key = value"');
    expect(() => parseIni('key = 1\n')).toThrow(/outside any \[section\]/);
    expect(() => parseIni('[a]\nk=1\nk=2\n')).toThrow(/set twice/);
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
    expect(() => moduleSection(parseIni('[runqlat]\nenabled = maybe\n'), 'runqlat', true)).toThrow('[runqlat] enabled: expected true or false, got "maybe"');
  });
});
