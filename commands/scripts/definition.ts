import { stringify } from 'yaml';
import { z } from 'zod';
import { canonicalJson } from '../../lib/canonical-json.js';
import { sha256Hex } from '../../lib/crypto.js';
import { AppError } from '../../lib/errors.js';
import type { ScriptLanguage, ScriptOs, ScriptRisk } from '../../storage/scripts.js';
import { formatDuration, parseDuration } from '../grammar.js';
import { issuesFromZod, summarizeIssues } from '../inventory/issues.js';
import { type ParamSpec, ParamSpecs } from './params.js';

/**
 * What a script is: the fields an author writes (API body, or a file's front matter), checked
 * and normalised into one definition whose hash says whether anything changed.
 */
export const SCRIPT_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** Words that follow `run` in chat (`run status 4`) and paths under /scripts, so never script names. */
export const RESERVED_SCRIPT_NAMES = ['status', 'cancel', 'list', 'import', 'runs', 'versions'];
export const MAX_BODY_BYTES = 256 * 1024;
export const MIN_TIMEOUT_MS = 1_000;
export const MAX_TIMEOUT_MS = 24 * 3_600_000;
const DEFAULT_TIMEOUT = '10m';

export const ScriptName = z
  .string()
  .regex(SCRIPT_NAME_PATTERN, 'a script name is lowercase letters, digits, . _ and -, at most 64')
  .refine(
    (n) => !RESERVED_SCRIPT_NAMES.includes(n),
    `these names are reserved: ${RESERVED_SCRIPT_NAMES.join(', ')}`,
  );

const Timeout = z
  .union([z.string().max(20), z.int().min(1)])
  .describe('a duration like 90s, 5m or 1h, or seconds');

/** What an author sends (API) or writes in a file's front matter. */
export const ScriptInput = z
  .object({
    name: ScriptName,
    description: z.string().trim().min(1).max(500),
    language: z.enum(['bash', 'sh', 'powershell']).optional().describe('default bash'),
    body: z.string().min(1),
    params: ParamSpecs.optional(),
    os: z
      .array(z.enum(['linux', 'windows']))
      .min(1)
      .max(2)
      .optional()
      .describe('default: linux, or windows for powershell'),
    risk: z
      .enum(['low', 'high'])
      .optional()
      .describe('default low; high needs approval for each run and each new version'),
    timeout: Timeout.optional().describe(`default ${DEFAULT_TIMEOUT}`),
    permission: z
      .string()
      .regex(/^sop:run:(\*|[a-z0-9][a-z0-9._-]{0,63})$/, 'the permission is sop:run:<name> or sop:run:*')
      .optional()
      .describe('default sop:run:<name>'),
  })
  .strict();
export type ScriptInput = z.input<typeof ScriptInput>;

/** The fields of a change through the API: everything but the name, which is in the path. */
export const ScriptUpdate = ScriptInput.omit({ name: true }).partial().strict();
export type ScriptUpdate = z.input<typeof ScriptUpdate>;

export interface ScriptDefinition {
  name: string;
  description: string;
  language: ScriptLanguage;
  body: string;
  params: ParamSpec[];
  os: ScriptOs[];
  risk: ScriptRisk;
  timeoutMs: number;
  permission: `sop:run:${string}`;
}

function timeoutMs(value: string | number | undefined): number {
  const ms = typeof value === 'number' ? value * 1000 : parseDuration(value ?? DEFAULT_TIMEOUT);
  if (ms < MIN_TIMEOUT_MS || ms > MAX_TIMEOUT_MS) {
    throw new AppError('bad_request', 'the timeout must be between 1s and 24h', {
      details: { issues: [{ path: 'timeout', message: 'between 1s and 24h' }] },
    });
  }
  return ms;
}

/** Check an author's input and fill in the defaults. Throws `bad_request` naming each field that is wrong. */
export function normalizeDefinition(input: unknown): ScriptDefinition {
  const parsed = ScriptInput.safeParse(input);
  if (!parsed.success) {
    const issues = issuesFromZod(parsed.error.issues, []);
    throw new AppError('bad_request', `the script is not valid: ${summarizeIssues(issues)}`, {
      details: { issues },
    });
  }
  const s = parsed.data;
  if (s.body.includes('\0')) throw new AppError('bad_request', 'the script body contains a NUL byte');
  if (Buffer.byteLength(s.body) > MAX_BODY_BYTES) {
    throw new AppError('bad_request', `the script body is larger than ${MAX_BODY_BYTES / 1024} KB`);
  }
  const language = s.language ?? 'bash';
  return {
    name: s.name,
    description: s.description,
    language,
    // One trailing newline, so an editor's final newline does not make a new version.
    body: `${s.body.replace(/\r\n/g, '\n').replace(/\n+$/, '')}\n`,
    params: s.params ?? [],
    os: [...new Set(s.os ?? [language === 'powershell' ? 'windows' : 'linux'])].sort() as ScriptOs[],
    risk: s.risk ?? 'low',
    timeoutMs: timeoutMs(s.timeout),
    permission: (s.permission ?? `sop:run:${s.name}`) as `sop:run:${string}`,
  };
}

/** The definition as an author would write it: the header fields (ScriptInput shape) without the body. */
export function headerOf(d: ScriptDefinition): Record<string, unknown> {
  return {
    name: d.name,
    description: d.description,
    language: d.language,
    os: d.os,
    risk: d.risk,
    timeout: formatDuration(d.timeoutMs),
    permission: d.permission,
    ...(d.params.length > 0 ? { params: d.params } : {}),
  };
}

/** The definition as one file (front matter in a comment block, then the body): what diffs compare. */
export function renderScriptFile(d: ScriptDefinition): string {
  const yaml = stringify(headerOf(d), { lineWidth: 0 }).trimEnd();
  const header = ['# ---', ...yaml.split('\n').map((l) => (l ? `# ${l}` : '#')), '# ---'].join('\n');
  return `${header}\n${d.body}`;
}

export function definitionHash(d: ScriptDefinition): string {
  return sha256Hex(canonicalJson({ ...headerOf(d), timeoutMs: d.timeoutMs, body: d.body }));
}
