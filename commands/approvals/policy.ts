import { z } from 'zod';
import { parseDuration } from '../grammar.js';

/**
 * A project's approval knobs, read from `projects.settings.approvals`:
 * `{ "required": 2, "expiresIn": "24h", "remindAfter": "1h", "escalateAfter": "4h" }`.
 * `remindAfter` / `escalateAfter` may be `"off"` (or null) to turn that step off.
 */
export interface ApprovalPolicy {
  required: number;
  expiresInMs: number;
  /** null: no reminder. */
  remindAfterMs: number | null;
  /** null: no escalation. */
  escalateAfterMs: number | null;
}

const HOUR = 3_600_000;

export const DEFAULT_APPROVAL_POLICY: ApprovalPolicy = {
  required: 1,
  expiresInMs: 24 * HOUR,
  remindAfterMs: HOUR,
  escalateAfterMs: 4 * HOUR,
};

/** `30m`, `4h`, `2d`, `1h30m` → milliseconds; undefined when it is not a duration. */
export function parseApprovalDuration(text: string): number | undefined {
  try {
    return parseDuration(text);
  } catch {
    return undefined;
  }
}

const duration = z.string().transform((s, ctx) => {
  const ms = parseApprovalDuration(s);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a duration like 30m, 4h or 1d` });
    return z.NEVER;
  }
  return ms;
});
const optionalStep = z
  .union([z.literal('off'), z.null()])
  .transform(() => null)
  .or(duration);

const fieldSchemas = {
  required: z.number().int().min(1).max(10),
  expiresIn: duration,
  remindAfter: optionalStep,
  escalateAfter: optionalStep,
};

/**
 * The approval policy of a project (or of global requests when `project` is null). Each knob that
 * is missing or malformed falls back to its default on its own, so one typo in the settings never
 * blocks every approval; the settings command validates them when they are written.
 */
export function approvalPolicy(project: { settings?: unknown } | null | undefined): ApprovalPolicy {
  const settings = project?.settings;
  const raw =
    settings && typeof settings === 'object' ? (settings as Record<string, unknown>).approvals : undefined;
  const policy = { ...DEFAULT_APPROVAL_POLICY };
  if (!raw || typeof raw !== 'object') return policy;
  const knobs = raw as Record<string, unknown>;
  const required = fieldSchemas.required.safeParse(knobs.required);
  if (required.success) policy.required = required.data;
  const expires = fieldSchemas.expiresIn.safeParse(knobs.expiresIn);
  if (expires.success) policy.expiresInMs = expires.data;
  if ('remindAfter' in knobs) {
    const remind = fieldSchemas.remindAfter.safeParse(knobs.remindAfter);
    if (remind.success) policy.remindAfterMs = remind.data;
  }
  if ('escalateAfter' in knobs) {
    const escalate = fieldSchemas.escalateAfter.safeParse(knobs.escalateAfter);
    if (escalate.success) policy.escalateAfterMs = escalate.data;
  }
  return policy;
}

/** Validate settings before they are stored; returns the errors, written for the person editing them. */
export function checkApprovalSettings(raw: unknown): string[] {
  if (raw === undefined) return [];
  if (!raw || typeof raw !== 'object') return ['approvals settings must be an object'];
  const knobs = raw as Record<string, unknown>;
  const errors: string[] = [];
  for (const [key, schema] of Object.entries(fieldSchemas)) {
    if (!(key in knobs)) continue;
    const result = schema.safeParse(knobs[key]);
    if (!result.success) errors.push(`approvals.${key}: ${result.error.issues[0]?.message ?? 'invalid'}`);
  }
  for (const key of Object.keys(knobs)) {
    if (!(key in fieldSchemas))
      errors.push(`approvals.${key} is not a setting (known: ${Object.keys(fieldSchemas).join(', ')})`);
  }
  return errors;
}
