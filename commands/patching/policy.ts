import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { AppError } from '../../lib/errors.js';
import { parseDuration } from '../grammar.js';
import { issuesFromZod, summarizeIssues } from '../inventory/issues.js';

/**
 * A project's patch policy: what to install, what needs a second approval, when (windows), in which
 * order (rings), and how each server is handled (backups, reboot, commands, checks). Stored in
 * patch_policies; every plan keeps a copy (policy_snapshot) that its run reads.
 *
 * Every field has a default, so `{}` is a valid policy: security updates of any severity, canary
 * ring of one server then the rest, reboot if required, a heads-up an hour before the window.
 */
export const CLASSIFICATIONS = ['security', 'bugfix', 'enhancement', 'other'] as const;
/** Most to least severe; `unknown` ranks last (apt and apk never say). */
export const SEVERITIES = ['critical', 'important', 'moderate', 'low', 'unknown'] as const;
export type PolicyClassification = (typeof CLASSIFICATIONS)[number];
export type PolicySeverity = (typeof SEVERITIES)[number];

// Wildcards * and ? only; brackets and braces would let a glob mean more than it shows.
const PackageGlob = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._+:*?-]+$/, 'a package glob uses letters, digits, . _ + - : and the wildcards * and ?');
const ServerGlob = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._*?-]+$/, 'a server glob uses letters, digits, . _ - and the wildcards * and ?');
const Instant = z.iso.datetime({ offset: true });

// Arguments go to the server as an argv (quoted where a transport needs a string); control
// characters are refused so what is shown is what runs.
const Arg = z
  .string()
  .min(1)
  .max(4096)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'an argument may not contain control characters (newlines, tabs, NUL)');
export const Argv = z.array(Arg).min(1).max(64);

function validTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function durationMs(text: string): number | undefined {
  try {
    return parseDuration(text);
  } catch {
    return undefined;
  }
}

/**
 * A maintenance window, one of:
 *  - `{ cron: "0 2 * * 6", timezone: "Europe/Paris", durationMinutes, cutoffMinutes }`
 *  - `{ dates: ["2026-02-07T02:00:00+01:00", …], durationMinutes, cutoffMinutes }`
 *  - `{ every: "14d", start: "2026-01-03T02:00:00Z", timezone?, durationMinutes, cutoffMinutes }`
 *    (with a timezone, whole-day intervals keep the start's wall-clock time across DST)
 * No server is started in the last `cutoffMinutes` of the window.
 */
export const PatchWindow = z
  .object({
    cron: z.string().min(1).max(200).optional(),
    dates: z.array(Instant).min(1).max(366).optional(),
    every: z.string().min(2).max(20).optional(),
    start: Instant.optional(),
    timezone: z.string().min(1).max(64).optional(),
    durationMinutes: z.int().min(15).max(1440),
    cutoffMinutes: z.int().min(0).max(1439).default(0),
  })
  .strict()
  .superRefine((w, ctx) => {
    const kinds = [w.cron, w.dates, w.every].filter((k) => k !== undefined).length;
    if (kinds !== 1) {
      ctx.addIssue({ code: 'custom', message: 'a window has exactly one of cron, dates or every' });
      return;
    }
    if (w.timezone !== undefined && !validTimezone(w.timezone)) {
      ctx.addIssue({ code: 'custom', path: ['timezone'], message: `unknown time zone ${w.timezone}` });
    }
    if (w.cutoffMinutes >= w.durationMinutes) {
      ctx.addIssue({
        code: 'custom',
        path: ['cutoffMinutes'],
        message: 'the cutoff must leave part of the window to start work in',
      });
    }
    if (w.cron !== undefined) {
      try {
        CronExpressionParser.parse(w.cron, { tz: w.timezone ?? 'UTC' });
      } catch {
        ctx.addIssue({ code: 'custom', path: ['cron'], message: 'not a cron expression like "0 2 * * 6"' });
      }
    }
    if (w.dates !== undefined && w.timezone !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['timezone'], message: 'dates carry their own offset' });
    }
    if (w.every !== undefined) {
      const ms = durationMs(w.every);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', path: ['every'], message: 'write the interval like 14d, 1w or 12h' });
      } else if (ms < w.durationMinutes * 60_000) {
        ctx.addIssue({
          code: 'custom',
          path: ['every'],
          message: 'windows may not overlap: every ≥ duration',
        });
      }
      if (w.start === undefined) {
        ctx.addIssue({ code: 'custom', path: ['start'], message: 'an interval window needs a start' });
      }
    } else if (w.start !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['start'], message: 'start only goes with every' });
    }
  });
export type PatchWindow = z.output<typeof PatchWindow>;

const TagMatch = z
  .record(z.string().min(1).max(128), z.string().max(256))
  .refine((tags) => Object.keys(tags).length > 0, 'name at least one tag');

/** A ring's error threshold: a count of failed servers, or a percentage of the ring ("10%"). */
export const ErrorThreshold = z.union([
  z.int().min(0).max(100_000),
  z.string().regex(/^(100|[1-9]?[0-9])%$/, 'a percentage like 10%'),
]);
export type ErrorThreshold = z.output<typeof ErrorThreshold>;

export const Ring = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'a ring name is lowercase letters, digits and -, up to 40'),
    match: z.union([
      z.literal('rest'),
      z.object({ tag: TagMatch }).strict(),
      z.object({ count: z.int().min(1).max(10_000) }).strict(),
    ]),
    maxConcurrency: z.int().min(1).max(100).default(1),
    errorThreshold: ErrorThreshold.default(0),
  })
  .strict();
export type Ring = z.output<typeof Ring>;

const BackupStep = z.enum(['snapshot', 'command']).nullable().default(null);

export const Check = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/, 'a check name is letters, digits, space . _ -'),
    argv: Argv,
    expect: z
      .object({
        exitCode: z.int().min(0).max(255).default(0),
        stdoutIncludes: z.string().min(1).max(1000).optional(),
      })
      .strict()
      .default({ exitCode: 0 }),
  })
  .strict();
export type Check = z.output<typeof Check>;

export const PolicyException = z
  .object({
    package: PackageGlob,
    /** Server names or globs; absent: every server of the project. */
    servers: z.array(ServerGlob).min(1).max(200).optional(),
    owner: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'the owner is a Warden user handle'),
    expiresAt: Instant,
    reason: z.string().min(3).max(500),
  })
  .strict();
export type PolicyException = z.output<typeof PolicyException>;

export const PatchPolicy = z
  .object({
    classifications: z
      .array(z.enum(CLASSIFICATIONS))
      .min(1)
      .refine((a) => new Set(a).size === a.length, 'list each classification once')
      .default(['security']),
    minimumSeverity: z.enum(SEVERITIES).default('low'),
    /** apt and apk report no severity: keep their updates unless this is false. */
    includeUnknownSeverity: z.boolean().default(true),
    /** Approve a waiting plan by itself once every package in it was first seen this many days ago. */
    autoApproveAfterDays: z.int().min(1).max(365).nullable().default(null),
    /** Package globs that need the secondary approval (patch:approve-exclusion) to be installed. */
    exclusions: z.array(PackageGlob).max(200).default([]),
    /** The person who approves the plan may not also approve its exclusions (and the reverse). */
    separateExclusionApprover: z.boolean().default(true),
    /** Packages left out of plans, each with an owner and an expiry. */
    exceptions: z.array(PolicyException).max(500).default([]),
    windows: z.array(PatchWindow).max(20).default([]),
    /** The window of `patch run <project> now` and CVE plans, starting when they are approved. */
    immediateWindow: z
      .object({
        durationMinutes: z.int().min(15).max(1440).default(120),
        cutoffMinutes: z.int().min(0).max(1439).default(0),
      })
      .strict()
      .refine((w) => w.cutoffMinutes < w.durationMinutes, 'the cutoff must be shorter than the window')
      .default({ durationMinutes: 120, cutoffMinutes: 0 }),
    rings: z
      .array(Ring)
      .min(1)
      .max(20)
      .default([
        { name: 'canary', match: { count: 1 }, maxConcurrency: 1, errorThreshold: 0 },
        { name: 'rest', match: 'rest', maxConcurrency: 5, errorThreshold: '10%' },
      ]),
    backups: z
      .object({ before: BackupStep, after: BackupStep, command: Argv.optional() })
      .strict()
      .refine(
        (b) => (b.before !== 'command' && b.after !== 'command') || b.command !== undefined,
        'a command backup needs backups.command',
      )
      .default({ before: null, after: null }),
    reboot: z
      .object({
        rule: z.enum(['never', 'if-required', 'always']).default('if-required'),
        when: z.enum(['immediately', 'end-of-window']).default('immediately'),
      })
      .strict()
      .default({ rule: 'if-required', when: 'immediately' }),
    preCommands: z.array(Argv).max(20).default([]),
    postCommands: z.array(Argv).max(20).default([]),
    checks: z.array(Check).max(20).default([]),
    /** Minutes before a window that the channel hears about it; 0: no heads-up. */
    headsUpMinutes: z.int().min(0).max(10_080).default(60),
  })
  .strict()
  .superRefine((p, ctx) => {
    const names = p.rings.map((r) => r.name);
    if (new Set(names).size !== names.length) {
      ctx.addIssue({ code: 'custom', path: ['rings'], message: 'ring names must be unique' });
    }
    const rest = p.rings.findIndex((r) => r.match === 'rest');
    if (rest !== -1 && rest !== p.rings.length - 1) {
      ctx.addIssue({ code: 'custom', path: ['rings', rest], message: 'the "rest" ring must come last' });
    }
  });
export type PatchPolicy = z.output<typeof PatchPolicy>;
export type PatchPolicyInput = z.input<typeof PatchPolicy>;

export const DEFAULT_PATCH_POLICY: PatchPolicy = PatchPolicy.parse({});

/** The policy, or a bad_request listing every problem (the API shows them in details.issues). */
export function parsePatchPolicy(raw: unknown): PatchPolicy {
  const result = PatchPolicy.safeParse(raw);
  if (result.success) return result.data;
  const issues = issuesFromZod(result.error.issues);
  throw new AppError('bad_request', `the patch policy is not valid: ${summarizeIssues(issues)}`, {
    details: { issues },
  });
}

// The rules that read a policy live in policy-rules.ts; re-exported so callers import one module.
export {
  activeException,
  allowedFailures,
  globMatch,
  isExcluded,
  policyHashParts,
  severityRank,
  wantedByPolicy,
} from './policy-rules.js';
