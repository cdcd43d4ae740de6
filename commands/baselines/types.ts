import { z } from 'zod';

/**
 * A configuration baseline is data: a list of CIS-style checks, each a fixed command run on the
 * target and a rule saying what output passes. Nothing is ever interpolated into a check's argv:
 * what runs is exactly what the data says (a test overrides a path by overriding the data).
 */
const Pattern = z
  .string()
  .min(1)
  .max(500)
  .refine((p) => {
    try {
      new RegExp(p, 'm');
      return true;
    } catch {
      return false;
    }
  }, 'must be a valid regular expression');

export const CheckId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{0,63}$/, 'a check id is lower-case letters, digits, dots and dashes');

export const Argv = z
  .array(
    z
      .string()
      .max(8000)
      .refine((a) => !a.includes('\0'), 'an argument cannot hold a NUL byte'),
  )
  .min(1, 'a command needs at least a program name')
  .max(64);

/** What passes: every rule given must hold (an empty rule set means exit code 0). */
export const PassRule = z
  .object({
    exitCode: z.number().int().min(0).max(255).optional(),
    /** A multi-line regular expression that must match stdout. */
    stdoutMatches: Pattern.optional(),
    /** A multi-line regular expression that must not match stdout. */
    stdoutNotMatches: Pattern.optional(),
  })
  .strict();
export type PassRule = z.infer<typeof PassRule>;

export const Risk = z.enum(['low', 'medium', 'high']);
export type Risk = z.infer<typeof Risk>;

export const BaselineCheck = z
  .object({
    id: CheckId,
    title: z.string().min(1).max(200),
    /** CIS profile level: 1 is the essential set, 2 the defence-in-depth one. */
    level: z.number().int().min(1).max(3),
    argv: Argv,
    /** Run as root through `sudo -n` where the server's connection allows sudo. */
    root: z.boolean().optional(),
    timeoutMs: z.number().int().min(1000).max(300_000).optional(),
    pass: PassRule,
    /** Exit codes meaning "could not tell" (not a failure). Default: 126 and 127 (not runnable). */
    unknownExitCodes: z.array(z.number().int().min(0).max(255)).max(20).optional(),
    /** What to read and fix by hand when the check fails. */
    advice: z.string().max(1000).optional(),
    /** A fixing command, run only after an approval ('baseline-remediation'). */
    remediation: z
      .object({ argv: Argv, risk: Risk, summary: z.string().min(1).max(300) })
      .strict()
      .optional(),
  })
  .strict();
export type BaselineCheck = z.infer<typeof BaselineCheck>;

export const Baseline = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a baseline name is lower-case letters, digits and dashes'),
    title: z.string().min(1).max(200),
    /** OS families it applies to (integrations/os OsFamily); others are skipped. */
    families: z.array(z.enum(['debian', 'rhel', 'suse', 'alpine', 'unknown'])).min(1),
    checks: z
      .array(BaselineCheck)
      .min(1)
      .max(200)
      .refine((c) => new Set(c.map((x) => x.id)).size === c.length, 'check ids must be unique'),
  })
  .strict();
export type Baseline = z.infer<typeof Baseline>;

export type CheckStatus = 'pass' | 'fail' | 'error';

export interface CheckResult {
  checkId: string;
  title: string;
  level: number;
  status: CheckStatus;
  /** What the check saw: the matching line, the command's message, or why it could not tell. */
  evidence: string;
  exitCode: number | null;
}
