import { CronExpressionParser } from 'cron-parser';
import { canonicalJson } from '../../lib/canonical-json.js';
import { AppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import { getProjectBySlug, type Project } from '../../storage/inventory.js';
import { lockProjectSettings, setProjectSettingsSection } from '../../storage/project-settings.js';
import { accessPolicy } from '../access/policy.js';
import { checkApprovalSettings } from '../approvals/policy.js';
import { recordEvent } from '../audit/trail.js';
import { checkComplianceSettings } from '../compliance/standards.js';
import type { Deps } from '../deps.js';
import { parseDuration } from '../grammar.js';
import { projectRotateEveryMs } from '../keys/policy.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import { ROLES } from '../rbac/roles.js';
import { ReportsSettings } from '../reports/email.js';
import { checkScanSettings } from '../scanning/settings.js';
import { projectNotFound } from './projects.js';
import { actorFacts, actorRef, type CallMeta, holdsAnywhere } from './scope.js';

/**
 * A project's settings, one section at a time, each checked by the same code that reads it, so
 * what is stored is what takes effect. Every problem is reported at once and nothing is written.
 */
export const SETTINGS_SECTIONS = ['approvals', 'scan', 'access', 'keys', 'compliance', 'reports'] as const;
export type SettingsSection = (typeof SETTINGS_SECTIONS)[number];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isDuration(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    parseDuration(value);
    return true;
  } catch {
    return false;
  }
}

const ACCESS_KEYS = ['mode', 'defaultLogin', 'maxDuration', 'from', 'allowRoot', 'ca'];
const CA_KEYS = ['trustedKeysPath', 'revokedKeysPath', 'sshdConfigPath', 'dropInPath', 'sudo', 'reloadArgv'];

/**
 * The access reader (accessPolicy) silently falls back to a default for a malformed knob; here a
 * knob is valid when the reader keeps exactly what was written.
 */
export function checkAccessSettings(raw: unknown): string[] {
  if (!isObject(raw)) return ['access settings must be an object'];
  const policy = accessPolicy({ settings: { access: raw } });
  const errors: string[] = [];
  for (const key of Object.keys(raw)) {
    if (!ACCESS_KEYS.includes(key))
      errors.push(`access.${key} is not a setting (known: ${ACCESS_KEYS.join(', ')})`);
  }
  if ('mode' in raw && raw.mode !== 'certificate' && raw.mode !== 'authorized-keys')
    errors.push('access.mode: write "authorized-keys" or "certificate"');
  if ('defaultLogin' in raw && policy.defaultLogin !== raw.defaultLogin)
    errors.push('access.defaultLogin: a login is lowercase letters, digits, _ or -, up to 32 characters');
  if ('from' in raw && policy.from !== raw.from)
    errors.push('access.from: comma-separated host, address or CIDR patterns, like 10.0.0.0/8');
  if ('allowRoot' in raw && typeof raw.allowRoot !== 'boolean')
    errors.push('access.allowRoot: true or false');
  if ('maxDuration' in raw) {
    if (!isObject(raw.maxDuration)) errors.push('access.maxDuration: an object of role → duration');
    else
      for (const [role, value] of Object.entries(raw.maxDuration)) {
        if (!(ROLES as readonly string[]).includes(role))
          errors.push(`access.maxDuration.${role} is not a role (known: ${ROLES.join(', ')})`);
        else if (!isDuration(value)) errors.push(`access.maxDuration.${role}: write it like 4h or 1d`);
      }
  }
  if ('ca' in raw) {
    if (!isObject(raw.ca)) errors.push('access.ca: an object');
    else
      for (const [key, value] of Object.entries(raw.ca)) {
        if (!CA_KEYS.includes(key))
          errors.push(`access.ca.${key} is not a setting (known: ${CA_KEYS.join(', ')})`);
        else if (key === 'sudo') {
          if (typeof value !== 'boolean') errors.push('access.ca.sudo: true or false');
        } else if (key === 'reloadArgv') {
          if (JSON.stringify(policy.ca.reloadArgv) !== JSON.stringify(value))
            errors.push(
              'access.ca.reloadArgv: an argv of kill, systemctl, service or rc-service with plain arguments',
            );
        } else if (policy.ca[key as 'trustedKeysPath'] !== value) {
          errors.push(`access.ca.${key}: an absolute path without .. or unusual characters`);
        }
      }
  }
  return errors;
}

export function checkKeySettings(raw: unknown): string[] {
  if (!isObject(raw)) return ['keys settings must be an object'];
  const errors = Object.keys(raw)
    .filter((k) => k !== 'rotateEvery')
    .map((k) => `keys.${k} is not a setting (known: rotateEvery)`);
  if ('rotateEvery' in raw) {
    try {
      projectRotateEveryMs({ id: 0, slug: '-', settings: { keys: raw } });
    } catch {
      errors.push('keys.rotateEvery: a duration of at least 1h, like "12h" or "30d"');
    }
  }
  return errors;
}

export function checkReportSettings(raw: unknown): string[] {
  const parsed = ReportsSettings.safeParse(raw);
  if (!parsed.success) {
    return parsed.error.issues.map((i) => `${['reports', ...i.path.map(String)].join('.')}: ${i.message}`);
  }
  try {
    CronExpressionParser.parse(parsed.data.schedule.cron, { tz: parsed.data.schedule.timezone });
    return [];
  } catch {
    return ['reports.schedule: not a valid cron expression (like "0 7 * * 1") in a known time zone'];
  }
}

const CHECKERS: Record<SettingsSection, (raw: unknown) => string[]> = {
  approvals: (raw) => (isObject(raw) ? checkApprovalSettings(raw) : ['approvals settings must be an object']),
  scan: (raw) => (isObject(raw) ? checkScanSettings(raw) : ['scan settings must be an object']),
  access: checkAccessSettings,
  keys: checkKeySettings,
  compliance: (raw) =>
    isObject(raw) ? checkComplianceSettings(raw) : ['compliance settings must be an object'],
  reports: checkReportSettings,
};

export function isSettingsSection(value: string): value is SettingsSection {
  return (SETTINGS_SECTIONS as readonly string[]).includes(value);
}

async function projectFor(
  deps: Deps,
  actor: Actor,
  slug: string,
  permission: 'inventory:read' | 'inventory:write',
) {
  const project = await getProjectBySlug(deps.sql, slug);
  if (!project) {
    if (!holdsAnywhere(actor, permission)) authorize(actor, permission, null);
    throw projectNotFound(slug);
  }
  authorize(actor, permission, project);
  return project;
}

/** The stored sections (absent: defaults apply). */
export async function getProjectSettings(
  deps: Deps,
  actor: Actor,
  input: { slug: string },
): Promise<Partial<Record<SettingsSection, unknown>>> {
  const project: Project = await projectFor(deps, actor, input.slug, 'inventory:read');
  const out: Partial<Record<SettingsSection, unknown>> = {};
  for (const s of SETTINGS_SECTIONS) if (project.settings[s] !== undefined) out[s] = project.settings[s];
  return out;
}

/**
 * Replace one section. `null` removes it (back to the defaults). Records the old and new value.
 * @example
 * await putProjectSettings(deps, actor, { slug: 'shop', section: 'scan', value: { every: '1d' } });
 */
export async function putProjectSettings(
  deps: Deps,
  actor: Actor,
  input: { slug: string; section: string; value: unknown },
  meta: CallMeta = {},
): Promise<unknown> {
  const project = await projectFor(deps, actor, input.slug, 'inventory:write');
  if (!isSettingsSection(input.section)) {
    throw new AppError(
      'bad_request',
      `"${input.section}" is not a settings section; use one of ${SETTINGS_SECTIONS.join(', ')}`,
    );
  }
  const section = input.section;
  const value = input.value;
  const problems = value === null ? [] : CHECKERS[section](value);
  if (problems.length > 0) {
    throw new AppError('bad_request', `the ${section} settings are not valid: ${problems.join('; ')}`, {
      details: {
        issues: problems.map((message) => ({ path: message.split(/[: ]/)[0] ?? section, message })),
      },
    });
  }
  return withTx(deps.sql, async (tx) => {
    const current = (await lockProjectSettings(tx, project.id)) ?? {};
    const from = current[section] ?? null;
    if (canonicalJson(from) === canonicalJson(value ?? null)) return value;
    await setProjectSettingsSection(
      tx,
      project.id,
      section,
      value as Record<string, unknown> | null,
      deps.clock.now(),
    );
    await recordEvent(tx, deps, {
      actor: actorRef(actor),
      action: 'project.settings-changed',
      subject: { type: 'project', id: project.slug },
      projectId: project.id,
      data: { ...actorFacts(actor), section, from, to: value },
      requestId: meta.requestId,
    });
    return value;
  });
}
