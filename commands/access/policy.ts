import { z } from 'zod';
import type { AccessMode } from '../../storage/access.js';
import { parseDuration } from '../grammar.js';
import type { Actor } from '../rbac/authorize.js';
import { ROLES, type Role, roleGrants } from '../rbac/roles.js';

/**
 * A project's access knobs, read from `projects.settings.access`:
 * ```json
 * { "mode": "authorized-keys", "defaultLogin": "deploy", "maxDuration": { "contractor": "2h" },
 *   "from": "10.0.0.0/8", "allowRoot": false,
 *   "ca": { "trustedKeysPath": "/etc/ssh/warden_user_ca.pub", "revokedKeysPath": "/etc/ssh/warden_revoked_keys",
 *           "dropInPath": "/etc/ssh/sshd_config.d/50-warden-ca.conf", "reloadArgv": ["systemctl", "reload", "ssh"] } }
 * ```
 * Each knob that is missing or malformed falls back to its default on its own, like the approval
 * policy: one typo never blocks every request.
 */
export interface AccessPolicy {
  mode: AccessMode;
  defaultLogin: string | null;
  /** Longest grant per role; a requester gets the longest of the roles they hold there. */
  maxDurationMs: Record<Role, number>;
  /** authorized_keys `from="…"` patterns, or null for anywhere. */
  from: string | null;
  allowRoot: boolean;
  /** Where `ca install` writes the CA key, the revocation list and the sshd drop-in naming them,
   * which sshd config must include the drop-in's directory, whether it needs `sudo -n` (default
   * true; ignored when the target is root), and how it reloads sshd (default: systemd, else the
   * pid in /run/sshd.pid). */
  ca: {
    trustedKeysPath: string;
    revokedKeysPath: string;
    sshdConfigPath: string;
    dropInPath: string;
    sudo: boolean;
    reloadArgv?: string[];
  };
}

const HOUR = 3_600_000;
export const LOGIN = /^[a-z_][a-z0-9_-]{0,31}$/;
// authorized_keys from= patterns: hosts, addresses, CIDRs, wildcards and negations, comma-separated.
const FROM_PATTERNS = /^!?[A-Za-z0-9.:*?/_-]{1,255}(,!?[A-Za-z0-9.:*?/_-]{1,255}){0,31}$/;
const ABSOLUTE_PATH = /^\/[A-Za-z0-9._/-]{1,255}$/;

export const DEFAULT_MAX_DURATION: Record<Role, number> = {
  admin: 24 * HOUR,
  'patch-manager': 24 * HOUR,
  approver: 24 * HOUR,
  operator: 8 * HOUR,
  auditor: 24 * HOUR,
  contractor: 4 * HOUR,
};

export const DEFAULT_CA_PATHS = {
  trustedKeysPath: '/etc/ssh/warden_user_ca.pub',
  revokedKeysPath: '/etc/ssh/warden_revoked_keys',
  sshdConfigPath: '/etc/ssh/sshd_config',
  dropInPath: '/etc/ssh/sshd_config.d/50-warden-ca.conf',
} as const;

// A reload command runs as root on every server of the project: only the usual service tools,
// by bare name or from a system directory, with plain arguments (a unit name, a signal, a pid).
const RELOAD_COMMAND = /^(\/(usr\/)?s?bin\/)?(kill|systemctl|service|rc-service)$/;
const RELOAD_ARG = /^[A-Za-z0-9._@:+=,-]{1,128}$/;

function reloadArgvOf(value: unknown): string[] | undefined {
  if (!Array.isArray(value) || value.length === 0 || value.length > 8) return undefined;
  if (!value.every((a): a is string => typeof a === 'string')) return undefined;
  const [command, ...args] = value;
  return RELOAD_COMMAND.test(command!) && args.every((a) => RELOAD_ARG.test(a)) ? value : undefined;
}

function durationOf(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    return parseDuration(value);
  } catch {
    return undefined;
  }
}

const Path = z
  .string()
  .regex(ABSOLUTE_PATH)
  .refine((p) => !p.split('/').includes('..'));

export function accessPolicy(project: { settings?: unknown } | null | undefined): AccessPolicy {
  const settings = project?.settings;
  const raw =
    settings && typeof settings === 'object' ? (settings as Record<string, unknown>).access : undefined;
  const knobs = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const maxDurationMs = { ...DEFAULT_MAX_DURATION };
  const caps = knobs.maxDuration;
  if (caps && typeof caps === 'object') {
    for (const role of ROLES) {
      const ms = durationOf((caps as Record<string, unknown>)[role]);
      if (ms !== undefined) maxDurationMs[role] = ms;
    }
  }
  const ca: AccessPolicy['ca'] = { ...DEFAULT_CA_PATHS, sudo: true };
  if (knobs.ca && typeof knobs.ca === 'object') {
    const given = knobs.ca as Record<string, unknown>;
    for (const key of Object.keys(DEFAULT_CA_PATHS) as (keyof typeof DEFAULT_CA_PATHS)[]) {
      const parsed = Path.safeParse(given[key]);
      if (parsed.success) ca[key] = parsed.data;
    }
    if (given.sudo === false) ca.sudo = false;
    const reloadArgv = reloadArgvOf(given.reloadArgv);
    if (reloadArgv) ca.reloadArgv = reloadArgv;
  }
  const login =
    typeof knobs.defaultLogin === 'string' && LOGIN.test(knobs.defaultLogin) ? knobs.defaultLogin : null;
  const from = typeof knobs.from === 'string' && FROM_PATTERNS.test(knobs.from) ? knobs.from : null;
  return {
    mode: knobs.mode === 'certificate' ? 'certificate' : 'authorized-keys',
    defaultLogin: login,
    maxDurationMs,
    from,
    allowRoot: knobs.allowRoot === true,
    ca,
  };
}

/** The longest grant `actor` may ask for on the project: the most generous role they hold there. */
export function durationCap(actor: Actor, projectId: number, policy: AccessPolicy): number {
  let cap = 0;
  for (const b of actor.bindings) {
    if (b.projectId !== null && b.projectId !== projectId) continue;
    if (!roleGrants(b.role, 'access:request')) continue;
    cap = Math.max(cap, policy.maxDurationMs[b.role]);
  }
  return cap;
}
