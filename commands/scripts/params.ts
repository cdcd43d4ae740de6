import { z } from 'zod';
import { AppError } from '../../lib/errors.js';
import { SERVER_NAME_PATTERN } from '../inventory/schema.js';

/**
 * A script's typed parameters. Values are checked against their declared types here, then reach
 * the script only as environment variables (`WARDEN_PARAM_<NAME>`) and positional arguments —
 * never inside the script's text — so a value like `; rm -rf /` is just a string to the script.
 */
export const PARAM_NAME = /^[a-z][a-z0-9_]{0,31}$/;
export const MAX_PARAMS = 20;
const DEFAULT_MAX_LENGTH = 4096;
const DEFAULT_MAX_SERVERS = 50;

const Name = z
  .string()
  .regex(
    PARAM_NAME,
    'a parameter name is lowercase letters, digits and _, starting with a letter (at most 32)',
  );
const Description = z.string().max(200).optional();

function compiles(pattern: string): boolean {
  try {
    new RegExp(`^(?:${pattern})$`, 'u');
    return true;
  } catch {
    return false;
  }
}

export const StringParam = z
  .object({
    name: Name,
    type: z.literal('string'),
    description: Description,
    required: z.boolean().optional(),
    /** The whole value must match (it is anchored for you). */
    pattern: z.string().min(1).max(500).refine(compiles, 'not a valid regular expression').optional(),
    maxLength: z.int().min(1).max(65_536).optional(),
    default: z.string().max(65_536).optional(),
  })
  .strict();

export const EnumParam = z
  .object({
    name: Name,
    type: z.literal('enum'),
    description: Description,
    required: z.boolean().optional(),
    values: z
      .array(z.string().min(1).max(100))
      .min(1)
      .max(100)
      .refine((v) => new Set(v).size === v.length, 'enum values must be unique'),
    default: z.string().optional(),
  })
  .strict()
  .refine(
    (p) => p.default === undefined || p.values.includes(p.default),
    'the default must be one of the values',
  );

export const IntegerParam = z
  .object({
    name: Name,
    type: z.literal('integer'),
    description: Description,
    required: z.boolean().optional(),
    min: z.int().optional(),
    max: z.int().optional(),
    default: z.int().optional(),
  })
  .strict()
  .refine((p) => p.min === undefined || p.max === undefined || p.min <= p.max, 'min must not be above max');

export const ServersParam = z
  .object({
    name: Name,
    type: z.literal('servers'),
    description: Description,
    required: z.boolean().optional(),
    maxItems: z.int().min(1).max(500).optional(),
  })
  .strict();

export const ParamSpec = z.discriminatedUnion('type', [StringParam, EnumParam, IntegerParam, ServersParam]);
export type ParamSpec = z.infer<typeof ParamSpec>;

export const ParamSpecs = z
  .array(ParamSpec)
  .max(MAX_PARAMS)
  .refine((list) => new Set(list.map((p) => p.name)).size === list.length, 'parameter names must be unique');

/** What a script receives for each parameter, as text; a server list is comma-separated. */
export type ParamValues = Record<string, string>;

export interface ValidatedParams {
  values: ParamValues;
  /** The server lists given, by parameter, for the caller to check against the inventory. */
  serverLists: Record<string, string[]>;
}

export interface ParamIssue {
  path: string;
  message: string;
}

function hasDefault(p: ParamSpec): boolean {
  return 'default' in p && p.default !== undefined;
}

export function isRequired(p: ParamSpec): boolean {
  return p.required ?? !hasDefault(p);
}

/** Required parameters with no value and no default: what a form has to ask for. */
export function missingParams(specs: readonly ParamSpec[], input: Record<string, unknown>): ParamSpec[] {
  return specs.filter((p) => isRequired(p) && (input[p.name] === undefined || input[p.name] === ''));
}

/** How a parameter's type reads in help and errors. */
export function describeType(p: ParamSpec): string {
  switch (p.type) {
    case 'string':
      return p.pattern ? `text matching /${p.pattern}/` : 'text';
    case 'enum':
      return `one of ${p.values.join(', ')}`;
    case 'integer': {
      if (p.min !== undefined && p.max !== undefined) return `an integer from ${p.min} to ${p.max}`;
      if (p.min !== undefined) return `an integer of at least ${p.min}`;
      if (p.max !== undefined) return `an integer of at most ${p.max}`;
      return 'an integer';
    }
    case 'servers':
      return `a list of up to ${p.maxItems ?? DEFAULT_MAX_SERVERS} server names, separated by commas`;
  }
}

function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  const chars = [...text];
  return JSON.stringify(chars.length > 40 ? `${chars.slice(0, 40).join('')}…` : text);
}

/** One value against its spec: the text the script gets, or what is wrong with it. */
function checkOne(p: ParamSpec, raw: unknown): { value: string; servers?: string[] } | { problem: string } {
  switch (p.type) {
    case 'string': {
      if (typeof raw !== 'string') return { problem: `must be text, not ${shown(raw)}` };
      // A NUL cannot travel in an argument or an environment variable: the script would see it cut.
      if (raw.includes('\0')) return { problem: 'must not contain a NUL character' };
      const max = p.maxLength ?? DEFAULT_MAX_LENGTH;
      if ([...raw].length > max) return { problem: `must be at most ${max} characters long` };
      if (p.pattern && !new RegExp(`^(?:${p.pattern})$`, 'u').test(raw)) {
        return { problem: `must match /${p.pattern}/ (got ${shown(raw)})` };
      }
      return { value: raw };
    }
    case 'enum': {
      if (typeof raw !== 'string' || !p.values.includes(raw)) {
        return { problem: `must be one of ${p.values.join(', ')} (got ${shown(raw)})` };
      }
      return { value: raw };
    }
    case 'integer': {
      const n =
        typeof raw === 'number'
          ? raw
          : typeof raw === 'string' && /^-?[0-9]{1,15}$/.test(raw.trim())
            ? Number(raw)
            : NaN;
      if (!Number.isSafeInteger(n)) return { problem: `must be ${describeType(p)} (got ${shown(raw)})` };
      if ((p.min !== undefined && n < p.min) || (p.max !== undefined && n > p.max)) {
        return { problem: `must be ${describeType(p)} (got ${n})` };
      }
      return { value: String(n) };
    }
    case 'servers': {
      const list =
        typeof raw === 'string' ? raw.split(/[\s,]+/).filter(Boolean) : Array.isArray(raw) ? raw : undefined;
      if (!list || list.some((s) => typeof s !== 'string')) {
        return { problem: `must be ${describeType(p)} (got ${shown(raw)})` };
      }
      const names = [...new Set(list as string[])];
      const bad = names.find((s) => !SERVER_NAME_PATTERN.test(s));
      if (bad !== undefined) return { problem: `${shown(bad)} is not a server name` };
      const max = p.maxItems ?? DEFAULT_MAX_SERVERS;
      if (names.length === 0 || names.length > max) return { problem: `must name 1 to ${max} servers` };
      return { value: names.join(','), servers: names };
    }
  }
}

/**
 * Check `input` against the specs. Every problem is reported at once, each naming its parameter,
 * as a `bad_request` whose details.issues lists them (path `params.<name>`).
 */
export function validateParams(specs: readonly ParamSpec[], input: Record<string, unknown>): ValidatedParams {
  const issues: ParamIssue[] = [];
  const values: ParamValues = {};
  const serverLists: Record<string, string[]> = {};
  const known = new Set(specs.map((p) => p.name));
  for (const key of Object.keys(input)) {
    if (known.has(key)) continue;
    const takes = specs.length ? `it takes ${specs.map((p) => p.name).join(', ')}` : 'it takes no parameters';
    issues.push({ path: `params.${key}`, message: `the script has no parameter ${shown(key)}; ${takes}` });
  }
  for (const p of specs) {
    const raw = input[p.name];
    if (raw === undefined || raw === '') {
      if (hasDefault(p)) values[p.name] = String((p as { default: unknown }).default);
      else if (isRequired(p))
        issues.push({
          path: `params.${p.name}`,
          message: `parameter ${p.name} is required: ${describeType(p)}`,
        });
      else values[p.name] = '';
      continue;
    }
    const checked = checkOne(p, raw);
    if ('problem' in checked) {
      issues.push({ path: `params.${p.name}`, message: `parameter ${p.name} ${checked.problem}` });
      continue;
    }
    values[p.name] = checked.value;
    if (checked.servers) serverLists[p.name] = checked.servers;
  }
  if (issues.length > 0) {
    const head = issues
      .slice(0, 5)
      .map((i) => i.message)
      .join('; ');
    const more = issues.length > 5 ? ` (and ${issues.length - 5} more)` : '';
    throw new AppError('bad_request', `${head}${more}.`, { details: { issues } });
  }
  return { values, serverLists };
}

/** `WARDEN_PARAM_<NAME>` for each parameter. */
export function paramEnv(specs: readonly ParamSpec[], values: ParamValues): Record<string, string> {
  return Object.fromEntries(specs.map((p) => [`WARDEN_PARAM_${p.name.toUpperCase()}`, values[p.name] ?? '']));
}

/** The positional arguments ($1, $2, …), in the order the parameters are declared. */
export function paramArgv(specs: readonly ParamSpec[], values: ParamValues): string[] {
  return specs.map((p) => values[p.name] ?? '');
}
