import { describe, expect, it } from 'vitest';
import { AppError } from '../lib/errors.js';
import {
  closest,
  formatDuration,
  MAX_DURATION_MS,
  matchCommand,
  parseArgs,
  parseDuration,
  type Token,
  tokenize,
} from './grammar.js';
import type { CommandSpec } from './registry.js';

function spec(path: string[], extra: Partial<CommandSpec> = {}): CommandSpec {
  return {
    path,
    usage: `${path.join(' ')} <thing>`,
    summary: 'test',
    run: async () => ({}),
    ...extra,
  };
}

const registry = {
  commands: [
    spec(['help']),
    spec(['access', 'request'], {
      usage: 'access request <server> for <duration>',
      keywords: ['for', 'reason'],
    }),
    spec(['access', 'list']),
    spec(['access', 'revoke']),
    spec(['scan']),
    spec(['patch', 'plan']),
  ],
};

function texts(tokens: Token[]): string[] {
  return tokens.map((t) => t.text);
}

function badRequest(fn: () => unknown): AppError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('bad_request');
    return error as AppError;
  }
  throw new Error('expected a bad_request AppError, but nothing was thrown');
}

describe('tokenize', () => {
  it('splits on spaces and keeps double- and single-quoted text together', () => {
    expect(texts(tokenize(`access request web-01 reason "disk is full" note 'two words'`))).toEqual([
      'access',
      'request',
      'web-01',
      'reason',
      'disk is full',
      'note',
      'two words',
    ]);
  });

  it('reads escaped quotes and backslashes inside quotes', () => {
    expect(texts(tokenize(String.raw`reason "say \"hi\" to C:\\temp" 'it\'s'`))).toEqual([
      'reason',
      'say "hi" to C:\\temp',
      "it's",
    ]);
  });

  it('treats typographic quotes as quotes', () => {
    expect(texts(tokenize('reason “disk is full” note ‘a b’'))).toEqual([
      'reason',
      'disk is full',
      'note',
      'a b',
    ]);
  });

  it('keeps apostrophes inside words as letters', () => {
    expect(texts(tokenize(`reason don't O’Brien`))).toEqual(['reason', "don't", 'O’Brien']);
  });

  it('marks quoted words and reads a quote right after = as the option value', () => {
    const tokens = tokenize(`reason="a b" "--force" x`);
    expect(tokens).toEqual([
      { text: 'reason=a b', quoted: false },
      { text: '--force', quoted: true },
      { text: 'x', quoted: false },
    ]);
  });

  it('treats newlines and tabs outside quotes as spaces and keeps them inside quotes', () => {
    expect(texts(tokenize('scan\nweb-01\t"line one\nline two"'))).toEqual([
      'scan',
      'web-01',
      'line one\nline two',
    ]);
  });

  it('keeps an empty quoted string as an empty word', () => {
    expect(texts(tokenize(`reason ""`))).toEqual(['reason', '']);
  });

  it('refuses an unterminated quote and quotes where it starts', () => {
    const error = badRequest(() => tokenize('access request web-01 reason "disk full'));
    expect(error.message).toContain('"disk full');
    expect(error.message).toContain('never closed');
  });

  it('refuses NUL and other control characters with a clear error', () => {
    expect(badRequest(() => tokenize('scan web\u000001')).message).toContain('U+0000');
    expect(badRequest(() => tokenize('scan \u001b[31mred')).message).toContain('U+001B');
  });

  it('refuses right-to-left override characters', () => {
    expect(badRequest(() => tokenize('scan web\u202E10-bew')).message).toContain('text-direction');
  });

  it('refuses half of a surrogate pair', () => {
    expect(badRequest(() => tokenize('scan \uD800x')).message).toContain('broken character');
  });

  it('refuses input longer than 4000 characters', () => {
    expect(badRequest(() => tokenize(`scan ${'a'.repeat(4000)}`)).message).toContain('limit is 4000');
  });

  it('keeps shell metacharacters as plain text', () => {
    expect(texts(tokenize('scan ; rm -rf / $(reboot) `id` && | >'))).toEqual([
      'scan',
      ';',
      'rm',
      '-rf',
      '/',
      '$(reboot)',
      '`id`',
      '&&',
      '|',
      '>',
    ]);
  });
});

describe('matchCommand', () => {
  it('picks the longest matching path, case-insensitively', () => {
    const m = matchCommand(registry, tokenize('Access Request web-01 for 2h'));
    expect(m.spec.path).toEqual(['access', 'request']);
    expect(texts(m.rest)).toEqual(['web-01', 'for', '2h']);
  });

  it('suggests the closest command for an unknown word and points at help', () => {
    const error = badRequest(() => matchCommand(registry, ['sacn', 'web-01']));
    expect(error.message).toContain('"sacn"');
    expect(error.message).toContain('Did you mean /warden scan?');
    expect(error.message).toContain('/warden help');
  });

  it('suggests the closest subcommand for an unknown subcommand', () => {
    const error = badRequest(() => matchCommand(registry, ['access', 'reqest']));
    expect(error.message).toContain('/warden access has no subcommand "reqest"');
    expect(error.message).toContain('Did you mean /warden access request?');
    expect(error.message).toContain('/warden help access');
  });

  it('offers no suggestion when nothing is close', () => {
    const error = badRequest(() => matchCommand(registry, ['frobnicate']));
    expect(error.message).not.toContain('Did you mean');
    expect(error.message).toContain('"frobnicate"');
  });

  it('lists the subcommands of a group typed alone', () => {
    expect(badRequest(() => matchCommand(registry, ['access'])).message).toContain('list, request, revoke');
  });

  it('does not match a quoted word as a command', () => {
    badRequest(() => matchCommand(registry, [{ text: 'scan', quoted: true }]));
  });
});

describe('parseArgs', () => {
  const access = spec(['access', 'request'], {
    usage: 'access request <server> for <duration> reason <text>',
    keywords: ['for', 'reason'],
    flags: ['--dry-run'],
    options: ['login'],
    maxPositional: 1,
  });

  it('reads positional words, keywords, options and flags', () => {
    const args = parseArgs(
      access,
      tokenize('web-01 FOR 2h reason "disk full" login=deploy --dry-run'),
      'raw text',
    );
    expect(args).toEqual({
      positional: ['web-01'],
      keywords: { for: '2h', reason: 'disk full' },
      options: { login: 'deploy' },
      flags: ['dry-run'],
      raw: 'raw text',
    });
  });

  it('refuses an unknown flag, quoting it and showing usage', () => {
    const error = badRequest(() => parseArgs(access, ['web-01', '--force']));
    expect(error.message).toContain('Unknown flag "--force"');
    expect(error.message).toContain('Usage: /warden access request <server> for <duration> reason <text>');
  });

  it('refuses an unknown option key', () => {
    const error = badRequest(() => parseArgs(access, ['web-01', 'colour=red']));
    expect(error.message).toContain('Unknown option "colour"');
    expect(error.message).toContain('Usage: /warden');
  });

  it('refuses a keyword without a value', () => {
    expect(badRequest(() => parseArgs(access, ['web-01', 'for'])).message).toContain('"for" needs a value');
  });

  it('refuses too many positional words', () => {
    const error = badRequest(() => parseArgs(access, ['web-01', 'web-02']));
    expect(error.message).toContain('Unexpected "web-02"');
  });

  it('accepts any option when the spec says *', () => {
    expect(parseArgs(spec(['x'], { options: '*' }), ['a=1', 'b-c=2']).options).toEqual({
      a: '1',
      'b-c': '2',
    });
  });

  it('reads quoted words as positional text, never as flags or options', () => {
    const args = parseArgs(spec(['x'], { maxPositional: 2 }), tokenize(`"--force" "a=b"`));
    expect(args.positional).toEqual(['--force', 'a=b']);
  });

  it('treats words whose key is not an option name as positional', () => {
    expect(parseArgs(spec(['x']), ['https://example.com/?a=b']).positional).toEqual([
      'https://example.com/?a=b',
    ]);
  });
});

describe('parseDuration and formatDuration', () => {
  it.each([
    ['90m', 90 * 60_000],
    ['2h', 2 * 3_600_000],
    ['1d', 86_400_000],
    ['1h30m', 5_400_000],
    ['45s', 45_000],
    ['2w', 14 * 86_400_000],
    ['2H', 2 * 3_600_000],
    ['365d', MAX_DURATION_MS],
  ])('reads %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    '0m',
    '0h0m',
    '-1h',
    'abc',
    '',
    '1.5h',
    '2 h',
    '1x',
    'h',
    '30m1h',
    '1h1h',
    '366d',
    '53w',
    '9999999999h',
  ])('refuses %j', (text) => {
    badRequest(() => parseDuration(text));
  });

  it('formats durations in the form it reads', () => {
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(14 * 86_400_000)).toBe('2w');
    expect(formatDuration(45_000)).toBe('45s');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(-90_000)).toBe('-1m30s');
    for (const text of ['1h30m', '1d2h', '2w3d4h5m6s'])
      expect(formatDuration(parseDuration(text))).toBe(text);
  });
});

describe('closest', () => {
  it('finds a near typo and ignores far-off words', () => {
    expect(closest('halp', ['help', 'scan'])).toBe('help');
    expect(closest('zzzzzzzz', ['help', 'scan'])).toBeUndefined();
  });
});

describe('hostile input', () => {
  const hostile = [
    '; rm -rf /',
    '$(reboot)',
    '`reboot`',
    'scan web-01\n; reboot',
    'scan \u0000',
    'scan \u202Eevil',
    'scan \u200Bzero-width',
    'scan 𝕨𝕖𝕓',
    '\uD800 lone surrogate',
    'a'.repeat(10_000),
    `scan ${'"'.repeat(501)}`,
    'scan "unbalanced',
    "scan 'unbalanced",
    'scan “unbalanced',
    'scan \\',
    'scan "\\',
    '=',
    '--',
    'access request --',
    'access request web-01 for',
    'access request web-01 for "" reason',
    `access ${'request '.repeat(400)}`,
  ];

  it.each(
    hostile.map((h) => [h.length > 60 ? `${h.slice(0, 60)}…` : h, h]),
  )('never fails with anything but bad_request: %j', (_label, text) => {
    try {
      const tokens = tokenize(text);
      if (tokens.length === 0) return;
      const match = matchCommand(registry, tokens);
      parseArgs(match.spec, match.rest, text);
      for (const t of tokens) {
        try {
          parseDuration(t.text);
        } catch (error) {
          expect(error).toBeInstanceOf(AppError);
          expect((error as AppError).code).toBe('bad_request');
        }
      }
    } catch (error) {
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('bad_request');
      expect((error as AppError).message.length).toBeLessThan(400);
    }
  });
});
