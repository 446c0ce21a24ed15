// Redaction of command lines (execsnoop's `redact` option) on its own.
import { describe, expect, it } from 'vitest';
import { DEFAULT_REDACT, compileRule, parseRedact, redact, redactKey, splitPatterns } from '../../src/modules/shared/redact';
import { parseSection } from '../../src/pmda/config-schema';

const defaults = DEFAULT_REDACT.map(compileRule);

describe('redact', () => {
  it.each([
    ['mysql -u root --password=hunter2 db', 'mysql -u root --password=*** db'],
    ['env MYSQL_PWD=abc AWS_SECRET_ACCESS_KEY=xyz/123 cmd', 'env MYSQL_PWD=*** AWS_SECRET_ACCESS_KEY=*** cmd'],
    ['tool --token abc --api-key def --other x', 'tool --token *** --api-key *** --other x'],
    ['git clone https://alice:p4ss@example.com/r.git', 'git clone https://alice:***@example.com/r.git'],
    ['curl -u admin:pw http://h/ -H Authorization: Bearer eyJhbGciOi', 'curl -u admin:*** http://h/ -H Authorization: Bearer ***'],
    ['prog db_password:s3cr3t', 'prog db_password:***'],
    ['/bin/ls -la /tmp', '/bin/ls -la /tmp'],
    ['compass=north tokenize=1 secretary', 'compass=north tokenize=1 secretary'],
  ])('default patterns: %s', (input, want) => {
    expect(redact(input, defaults)).toBe(want);
  });

  it('replaces what follows "=" for a group-less key=value pattern, the whole match otherwise', () => {
    expect(redact('a password=x b', parseRedact('password=\\S+'))).toBe('a password=*** b');
    expect(redact('id 4111111111111111 ok', parseRedact('\\b\\d{16}\\b'))).toBe('id *** ok');
  });

  it('replaces only the captured groups when the pattern has some', () => {
    expect(redact('user=bob pin=1234', parseRedact('pin=(\\d+)'))).toBe('user=bob pin=***');
    expect(redact('k1=a k2=b', parseRedact('k1=(\\w) k2=(\\w)'))).toBe('k1=*** k2=***');
  });

  it('splits the option on top-level commas only', () => {
    expect(splitPatterns('a{1,3}, [x,y], (p|q),r\\,s')).toEqual(['a{1,3}', '[x,y]', '(p|q)', 'r,s']);
    expect(parseRedact('default, x=\\d').length).toBe(DEFAULT_REDACT.length + 1);
    expect(parseRedact('')).toEqual([]);
  });

  it('writes a rule list back as option text that parses to the same list', () => {
    const text = defaults.join(',');
    expect(parseRedact(text).map((r) => r.source)).toEqual([...DEFAULT_REDACT]);
  });

  it('rejects a bad regex and one that matches the empty string, naming the section and key', () => {
    const schema = { redact: redactKey() };
    expect(() => parseSection('execsnoop', schema, { redact: 'ok, (unclosed' })).toThrow(/\[execsnoop\] redact: "\(unclosed" is not a valid regular expression/);
    expect(() => parseSection('execsnoop', schema, { redact: 'x*' })).toThrow(/matches the empty string/);
    expect((parseSection('execsnoop', schema, {}).redact as unknown[]).length).toBe(DEFAULT_REDACT.length);
  });
});
