import { AppError } from '../lib/errors.js';
import type { CommandSpec, ParsedArgs, Registry } from './registry.js';

/**
 * The `/warden …` grammar: words, quotes, `key=value` options, keywords and `--flags`. Every
 * failure is an `AppError('bad_request')` whose message quotes what was wrong and says how to
 * write it instead; nothing here ever reaches a shell.
 */

export const MAX_COMMAND_LENGTH = 4000;

/** One word of a command. `quoted` words are never read as flags, options or keywords. */
export interface Token {
  text: string;
  quoted: boolean;
}

/** Tests and callers may pass plain strings; they count as unquoted words. */
export type TokenLike = Token | string;

const DOUBLE_QUOTES = new Set(['"', '\u201C', '\u201D', '\u201E']);
const SINGLE_QUOTES = new Set(["'", '\u2018', '\u2019', '\u201A']);
const WHITESPACE = /[\s\u00A0\u2000-\u200A\u202F\u205F\u3000]/;
// C0 controls other than tab/newline/CR, DEL, and C1 controls.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this regex's job
const FORBIDDEN_CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;
// Bidi embedding/override/isolate characters make text display differently from what runs.
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/;
const OPTION_KEY = /^[a-z][a-z0-9_-]*$/;
// Half of a UTF-16 surrogate pair: not a character at all, and Postgres refuses to store it.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Quote user text inside an error message, cut short so a 10k-character word stays readable. */
export function quoteForMessage(text: string, max = 40): string {
  const cut = [...text];
  const shown = cut.length > max ? `${cut.slice(0, max).join('')}…` : text;
  return `"${shown}"`;
}

function quoteFamily(ch: string): Set<string> | undefined {
  if (DOUBLE_QUOTES.has(ch)) return DOUBLE_QUOTES;
  if (SINGLE_QUOTES.has(ch)) return SINGLE_QUOTES;
  return undefined;
}

function checkCharacters(text: string): void {
  if (text.length > MAX_COMMAND_LENGTH) {
    throw new AppError(
      'bad_request',
      `That command is ${text.length} characters long; the limit is ${MAX_COMMAND_LENGTH}. Shorten it (put long text in a ticket and give its number).`,
    );
  }
  const control = FORBIDDEN_CONTROL.exec(text);
  if (control) {
    const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    throw new AppError(
      'bad_request',
      `The command contains a control character (U+${code}) at position ${control.index + 1}. Retype it as plain text.`,
    );
  }
  const broken = LONE_SURROGATE.exec(text);
  if (broken) {
    throw new AppError(
      'bad_request',
      `The command contains a broken character at position ${broken.index + 1}. Retype it as plain text.`,
    );
  }
  const bidi = BIDI_CONTROL.exec(text);
  if (bidi) {
    throw new AppError(
      'bad_request',
      `The command contains an invisible text-direction character at position ${bidi.index + 1}, which can make it look different from what it does. Retype it without copying from elsewhere.`,
    );
  }
}

/**
 * Split a command into words. Straight and typographic quotes group words (`"two words"`,
 * `“two words”`); inside quotes a backslash escapes a quote or a backslash. A quote only opens at
 * the start of a word or right after `=` (`reason="a b"`), so apostrophes in `don't` stay letters.
 * Newlines outside quotes count as spaces.
 */
export function tokenize(text: string): Token[] {
  checkCharacters(text);
  const tokens: Token[] = [];
  const chars = [...text];
  let current = '';
  let inWord = false;
  let quoted = false;
  let i = 0;
  while (i < chars.length) {
    const ch = chars[i]!;
    if (WHITESPACE.test(ch)) {
      if (inWord) tokens.push({ text: current, quoted });
      current = '';
      inWord = false;
      quoted = false;
      i++;
      continue;
    }
    const family = quoteFamily(ch);
    if (family && (!inWord || current.endsWith('='))) {
      if (!inWord) quoted = true;
      inWord = true;
      const start = i;
      i++;
      let closed = false;
      while (i < chars.length) {
        const c = chars[i]!;
        if (c === '\\' && i + 1 < chars.length && (family.has(chars[i + 1]!) || chars[i + 1] === '\\')) {
          current += chars[i + 1];
          i += 2;
          continue;
        }
        if (family.has(c)) {
          closed = true;
          i++;
          break;
        }
        current += c;
        i++;
      }
      if (!closed) {
        const from = chars.slice(start, start + 20).join('');
        throw new AppError(
          'bad_request',
          `The quote ${ch} in ${quoteForMessage(from, 20)} is never closed. Close it, or put a backslash before a quote that is part of the text.`,
        );
      }
      continue;
    }
    current += ch;
    inWord = true;
    i++;
  }
  if (inWord) tokens.push({ text: current, quoted });
  return tokens;
}

function toToken(t: TokenLike): Token {
  return typeof t === 'string' ? { text: t, quoted: false } : t;
}

/** Levenshtein distance, for "did you mean". */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** The candidate nearest to `word`, when it is near enough to be a plausible typo. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase().slice(0, 64);
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(w, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = Math.max(2, Math.ceil(w.length / 2));
  return bestDistance <= limit ? best : undefined;
}

export interface CommandMatch {
  spec: CommandSpec;
  /** The words after the command path. */
  rest: Token[];
}

/** Pick the command whose path matches the most leading words; unknown words get a suggestion. */
export function matchCommand(
  registry: Pick<Registry, 'commands'>,
  tokens: readonly TokenLike[],
): CommandMatch {
  const words = tokens.map(toToken);
  let best: CommandSpec | undefined;
  for (const spec of registry.commands) {
    if (spec.path.length > words.length) continue;
    const matches = spec.path.every((p, i) => !words[i]!.quoted && words[i]!.text.toLowerCase() === p);
    if (matches && (!best || spec.path.length > best.path.length)) best = spec;
  }
  if (best) return { spec: best, rest: words.slice(best.path.length) };

  const first = words[0];
  if (!first) throw new AppError('bad_request', 'Type a command after /warden, or /warden help to see them.');
  // Walk down the known paths as far as the words agree, then suggest at the level that broke.
  let depth = 0;
  let candidates = registry.commands;
  while (depth < words.length) {
    const word = words[depth]!.text.toLowerCase();
    const next = candidates.filter((s) => s.path.length > depth && s.path[depth] === word);
    if (next.length === 0) break;
    candidates = next;
    depth++;
  }
  const prefix = words.slice(0, depth).map((w) => w.text.toLowerCase());
  if (depth === words.length) {
    const subs = [...new Set(candidates.map((s) => s.path[depth]!))].sort();
    throw new AppError(
      'bad_request',
      `/warden ${prefix.join(' ')} needs a subcommand: ${subs.join(', ')}. Type /warden help ${prefix.join(' ')} for details.`,
    );
  }
  const bad = words[depth]!;
  const options = new Set(candidates.filter((s) => s.path.length > depth).map((s) => s.path[depth]!));
  const guess = closest(bad.text, options);
  const suggestion = guess ? ` Did you mean /warden ${[...prefix, guess].join(' ')}?` : '';
  const what =
    depth === 0
      ? `I don't know the command ${quoteForMessage(bad.text)}.`
      : `/warden ${prefix.join(' ')} has no subcommand ${quoteForMessage(bad.text)}.`;
  const helpTopic = depth === 0 ? 'help' : `help ${prefix.join(' ')}`;
  throw new AppError(
    'bad_request',
    `${what}${suggestion} Type /warden ${helpTopic} to see what you can use.`,
  );
}

function usageError(spec: CommandSpec, problem: string): AppError {
  return new AppError('bad_request', `${problem}\nUsage: /warden ${spec.usage}`, {
    details: { usage: spec.usage },
  });
}

/**
 * Read the words after the command path against the spec: declared keywords take the next word,
 * `key=value` options and `--flags` must be declared, and the rest are positional.
 */
export function parseArgs(spec: CommandSpec, tokens: readonly TokenLike[], raw?: string): ParsedArgs {
  const words = tokens.map(toToken);
  const keywords = new Set((spec.keywords ?? []).map((k) => k.toLowerCase()));
  const flags = new Set((spec.flags ?? []).map((f) => f.replace(/^--/, '').toLowerCase()));
  const maxPositional = spec.maxPositional ?? 1;
  const out: ParsedArgs = {
    positional: [],
    options: {},
    keywords: {},
    flags: [],
    raw: raw ?? words.map((w) => w.text).join(' '),
  };
  for (let i = 0; i < words.length; i++) {
    const { text, quoted } = words[i]!;
    const lower = text.toLowerCase();
    if (!quoted && text.startsWith('--')) {
      const name = lower.slice(2);
      if (!flags.has(name)) {
        const known = [...flags].map((f) => `--${f}`);
        const hint = known.length ? ` This command takes ${known.join(', ')}.` : '';
        throw usageError(spec, `Unknown flag ${quoteForMessage(text)}.${hint}`);
      }
      if (!out.flags.includes(name)) out.flags.push(name);
      continue;
    }
    if (!quoted && keywords.has(lower)) {
      const value = words[i + 1];
      if (!value) throw usageError(spec, `${quoteForMessage(text)} needs a value after it.`);
      if (lower in out.keywords) throw usageError(spec, `${quoteForMessage(text)} is given twice.`);
      out.keywords[lower] = value.text;
      i++;
      continue;
    }
    const eq = text.indexOf('=');
    if (!quoted && eq > 0 && OPTION_KEY.test(text.slice(0, eq))) {
      const key = text.slice(0, eq);
      const allowed = spec.options === '*' || (spec.options ?? []).includes(key);
      if (!allowed)
        throw usageError(spec, `Unknown option ${quoteForMessage(key)} in ${quoteForMessage(text)}.`);
      if (key in out.options) throw usageError(spec, `The option ${quoteForMessage(key)} is given twice.`);
      out.options[key] = text.slice(eq + 1);
      continue;
    }
    if (out.positional.length >= maxPositional) {
      throw usageError(spec, `Unexpected ${quoteForMessage(text)}: too many words.`);
    }
    out.positional.push(text);
  }
  return out;
}

const UNIT_MS = { w: 604_800_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 } as const;
const UNIT_ORDER = ['w', 'd', 'h', 'm', 's'] as const;
type Unit = (typeof UNIT_ORDER)[number];
export const MAX_DURATION_MS = 365 * UNIT_MS.d;

/** `90m`, `2h`, `1d`, `1h30m`, `45s`, `2w` → milliseconds. Refuses zero, negatives, garbage and > 365 days. */
export function parseDuration(text: string): number {
  const input = text.trim().toLowerCase();
  const bad = () =>
    new AppError(
      'bad_request',
      `${quoteForMessage(text)} is not a duration. Write it like 90m, 2h, 1d, 1h30m, 45s or 2w.`,
    );
  if (!/^(\d{1,9}[wdhms])+$/.test(input)) throw bad();
  let total = 0;
  let lastUnit = -1;
  for (const [, digits, unit] of input.matchAll(/(\d+)([wdhms])/g)) {
    const index = UNIT_ORDER.indexOf(unit as Unit);
    // Each unit once, largest first: `30m1h` is more likely a typo than a meaning.
    if (index <= lastUnit) throw bad();
    lastUnit = index;
    total += Number(digits) * UNIT_MS[unit as Unit];
  }
  if (total <= 0)
    throw new AppError('bad_request', `A duration must be longer than zero (got ${text.trim()}).`);
  if (total > MAX_DURATION_MS) {
    throw new AppError('bad_request', `${quoteForMessage(text)} is longer than the limit of 365 days.`);
  }
  return total;
}

/** Milliseconds → the compact form parseDuration reads, rounded to seconds: `1h30m`, `2w`, `45s`. */
export function formatDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  let rest = Math.round(Math.abs(ms) / 1000) * 1000;
  if (rest === 0) return '0s';
  let out = '';
  for (const unit of UNIT_ORDER) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * UNIT_MS[unit];
    }
  }
  return sign + out;
}
