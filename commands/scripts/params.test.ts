import { describe, expect, it } from 'vitest';
import { type ParamSpec, ParamSpecs, paramArgv, paramEnv, validateParams } from './params.js';

const specs: ParamSpec[] = [
  { name: 'unit', type: 'string', pattern: '[a-z0-9@._-]+' },
  { name: 'mode', type: 'enum', values: ['restart', 'reload'], default: 'restart' },
  { name: 'count', type: 'integer', min: 1, max: 10 },
  { name: 'peers', type: 'servers', required: false, maxItems: 3 },
  { name: 'note', type: 'string', required: false },
];

describe('script parameters', () => {
  it('turns valid values into the text the script receives, with defaults filled in', () => {
    const { values, serverLists } = validateParams(specs, {
      unit: 'nginx.service',
      count: '3',
      peers: 'web-1, web-2,web-1',
    });
    expect(values).toEqual({
      unit: 'nginx.service',
      mode: 'restart',
      count: '3',
      peers: 'web-1,web-2',
      note: '',
    });
    expect(serverLists).toEqual({ peers: ['web-1', 'web-2'] });
    expect(paramEnv(specs, values)).toMatchObject({
      WARDEN_PARAM_UNIT: 'nginx.service',
      WARDEN_PARAM_COUNT: '3',
    });
    expect(paramArgv(specs, values)).toEqual(['nginx.service', 'restart', '3', 'web-1,web-2', '']);
  });

  it('reports every bad value at once, each naming its parameter and what it must be', () => {
    let caught: unknown;
    try {
      validateParams(specs, {
        unit: 'nginx; rm -rf /',
        mode: 'stop',
        count: '11',
        peers: 'a,b,c,d',
        extra: 'x',
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: 'bad_request' });
    const { message, details } = caught as { message: string; details: { issues: { path: string }[] } };
    expect(message).toContain('parameter unit must match /[a-z0-9@._-]+/');
    expect(message).toContain('parameter mode must be one of restart, reload');
    expect(message).toContain('parameter count must be an integer from 1 to 10 (got 11)');
    expect(details.issues.map((i) => i.path).sort()).toEqual([
      'params.count',
      'params.extra',
      'params.mode',
      'params.peers',
      'params.unit',
    ]);
  });

  it('asks for a required parameter that is missing and refuses a NUL in text', () => {
    expect(() => validateParams(specs, { unit: 'x' })).toThrow(
      /parameter count is required: an integer from 1 to 10/,
    );
    expect(() => validateParams(specs, { unit: 'x', count: 1, note: 'a\0b' })).toThrow(
      /parameter note must not contain a NUL/,
    );
    expect(() => validateParams(specs, { unit: 'x', count: '1.5' })).toThrow(
      /parameter count must be an integer/,
    );
  });

  it('keeps shell syntax in free text as plain text', () => {
    const value = '$(touch /tmp/x); `id` \'"\n ünï';
    expect(validateParams(specs, { unit: 'u', count: 2, note: value }).values.note).toBe(value);
  });

  it('refuses parameter declarations that are ambiguous or broken', () => {
    expect(
      ParamSpecs.safeParse([
        { name: 'a', type: 'string' },
        { name: 'a', type: 'integer' },
      ]).success,
    ).toBe(false);
    expect(ParamSpecs.safeParse([{ name: 'Bad-Name', type: 'string' }]).success).toBe(false);
    expect(ParamSpecs.safeParse([{ name: 'a', type: 'string', pattern: '(' }]).success).toBe(false);
    expect(ParamSpecs.safeParse([{ name: 'a', type: 'integer', min: 5, max: 1 }]).success).toBe(false);
    expect(ParamSpecs.safeParse([{ name: 'a', type: 'enum', values: ['x'], default: 'y' }]).success).toBe(
      false,
    );
  });
});
