import { describe, expect, it } from 'vitest';
import { parseProfileValue, ProfileFormatError } from '../../web/app/lib/profile-json';

describe('parseProfileValue', () => {
  it("reads pmdabcc's profile value", () => {
    const v = parseProfileValue(
      JSON.stringify({
        status: 'stopped',
        data: { name: 'root', value: 3, children: [{ name: 'burner', libtype: 'user', value: 3, children: [{ name: 'spin', libtype: 'user', value: 3, children: [] }] }] },
      }),
    );
    expect(v.status).toBe('stopped');
    expect(v.data!.children[0]!.children[0]).toEqual({ name: 'spin', value: 3, children: [], libtype: 'user' });
  });

  it('accepts data null while running', () => {
    expect(parseProfileValue('{"status":"started","data":null}')).toEqual({ status: 'started', data: null });
  });

  it('says what is wrong with a bad value', () => {
    expect(() => parseProfileValue('nope')).toThrow(ProfileFormatError);
    expect(() => parseProfileValue('{"data":null}')).toThrow(/status/);
    expect(() => parseProfileValue('{"status":"stopped","data":{"name":"r","value":1,"children":[{"name":5,"value":1}]}}')).toThrow(/data.children\[0\].name/);
  });
});
