/**
 * Roles and permissions, as data. A permission is `<resource>:<verb>`; `sop:run:<script>` names
 * one script, and a role holding `sop:run:*` may run every script.
 *
 * Later capabilities add their permissions here, in PERMISSIONS and in the roles that hold them.
 */
export const ROLES = ['admin', 'patch-manager', 'approver', 'operator', 'auditor', 'contractor'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  'inventory:read',
  'inventory:write',
  'scan:run',
  'access:request',
  'access:approve',
  'access:revoke',
  'access:break-glass',
  'patch:plan',
  'patch:approve',
  'patch:approve-exclusion',
  'patch:run',
  'keys:read',
  'keys:manage',
  'keys:rotate',
  'audit:read',
  'audit:verify',
  'compliance:read',
  'baseline:remediate',
  'approvals:escalation',
  'sop:manage',
  'sop:run:*',
  'sop:approve',
  'webhooks:manage',
  'tokens:manage',
  'users:manage',
] as const;
export type Permission = (typeof PERMISSIONS)[number] | `sop:run:${string}`;

export const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  admin: PERMISSIONS,
  'patch-manager': [
    'inventory:read',
    'inventory:write',
    'scan:run',
    'patch:plan',
    'patch:run',
    'keys:read',
    'audit:read',
    'compliance:read',
    'baseline:remediate',
  ],
  approver: [
    'sop:approve',
    'inventory:read',
    'scan:run',
    'access:request',
    'access:approve',
    'access:revoke',
    'patch:approve',
    'keys:read',
    'audit:read',
    'compliance:read',
  ],
  operator: ['inventory:read', 'scan:run', 'access:request', 'sop:run:*', 'keys:read', 'compliance:read'],
  auditor: ['inventory:read', 'keys:read', 'audit:read', 'audit:verify', 'compliance:read'],
  contractor: ['inventory:read', 'access:request'],
};

/** Permissions that only make sense globally (no project scope). */
export const GLOBAL_ONLY: readonly Permission[] = ['users:manage', 'tokens:manage', 'audit:verify'];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export function isPermission(value: string): value is Permission {
  return (
    (PERMISSIONS as readonly string[]).includes(value) || /^sop:run:[a-z0-9][a-z0-9._-]{0,63}$/.test(value)
  );
}

/** Does `role` grant `permission`? `sop:run:*` covers every `sop:run:<script>`. */
export function roleGrants(role: Role, permission: Permission): boolean {
  const held = ROLE_PERMISSIONS[role];
  if (held.includes(permission)) return true;
  return permission.startsWith('sop:run:') && held.includes('sop:run:*');
}
