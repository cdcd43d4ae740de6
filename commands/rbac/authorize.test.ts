import { describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors.js';
import { type Actor, authorize, can, canAnywhere, rolesGranting } from './authorize.js';
import { PERMISSIONS, type Permission, ROLE_PERMISSIONS, ROLES, type Role } from './roles.js';

const A = { id: 1, slug: 'alpha' };
const B = { id: 2, slug: 'beta' };
// every listed permission, plus one concrete script that only `sop:run:*` covers
const ALL: readonly Permission[] = [...PERMISSIONS, 'sop:run:backup-db'];

function actor(bindings: [Role, number | null][], extra: Partial<Actor> = {}): Actor {
  return {
    user: { id: 7, handle: 'pat', displayName: 'Pat', email: null, disabled: false },
    bindings: bindings.map(([role, projectId]) => ({ userId: 7, role, projectId })),
    via: 'console',
    ...extra,
  };
}

/** Written from the table, not from roleGrants, so a bug in roleGrants shows up here. */
function expected(role: Role, permission: Permission): boolean {
  const held: readonly string[] = ROLE_PERMISSIONS[role];
  if (held.includes(permission)) return true;
  return permission.startsWith('sop:run:') && held.includes('sop:run:*');
}

function matrix(a: Actor, scope: number | null): Record<string, boolean> {
  return Object.fromEntries(ALL.map((p) => [p, can(a, p, scope)]));
}

function expectedMatrix(role: Role | null): Record<string, boolean> {
  return Object.fromEntries(ALL.map((p) => [p, role ? expected(role, p) : false]));
}

describe('RBAC matrix', () => {
  describe.each(ROLES)('role %s', (role) => {
    it('grants exactly its permissions through a global binding: globally, on A and on B', () => {
      const a = actor([[role, null]]);
      expect(matrix(a, null)).toEqual(expectedMatrix(role));
      expect(matrix(a, A.id)).toEqual(expectedMatrix(role));
      expect(matrix(a, B.id)).toEqual(expectedMatrix(role));
    });

    it('grants exactly its permissions on A through a binding on A, and nothing on B or globally', () => {
      const a = actor([[role, A.id]]);
      expect(matrix(a, A.id)).toEqual(expectedMatrix(role));
      expect(Object.fromEntries(ALL.map((p) => [p, can(a, p, A)]))).toEqual(expectedMatrix(role));
      expect(matrix(a, B.id)).toEqual(expectedMatrix(null));
      expect(matrix(a, null)).toEqual(expectedMatrix(null));
    });

    it('denies everything to a disabled user holding it globally', () => {
      const a = actor([[role, null]]);
      a.user = { ...a.user, disabled: true };
      expect(matrix(a, null)).toEqual(expectedMatrix(null));
      expect(matrix(a, A.id)).toEqual(expectedMatrix(null));
    });
  });

  it('gives admin every permission, and no other role users:manage or tokens:manage', () => {
    expect(ALL.every((p) => expected('admin', p))).toBe(true);
    expect(rolesGranting('users:manage')).toEqual(['admin']);
    expect(rolesGranting('tokens:manage')).toEqual(['admin']);
  });

  it('adds up several bindings on different projects without leaking between them', () => {
    const a = actor([
      ['auditor', A.id],
      ['operator', B.id],
    ]);
    expect(can(a, 'audit:read', A.id)).toBe(true);
    expect(can(a, 'audit:read', B.id)).toBe(false);
    expect(can(a, 'scan:run', B.id)).toBe(true);
    expect(can(a, 'scan:run', A.id)).toBe(false);
    expect(canAnywhere(a, 'scan:run')).toBe(true);
    expect(canAnywhere(a, 'patch:run')).toBe(false);
  });
});

describe('API tokens', () => {
  it('intersects the token scopes with the user roles', () => {
    const a = actor([['operator', null]], { tokenScopes: ['inventory:read', 'patch:run'], via: 'api' });
    expect(can(a, 'inventory:read', A.id)).toBe(true); // both
    expect(can(a, 'patch:run', A.id)).toBe(false); // token only
    expect(can(a, 'scan:run', A.id)).toBe(false); // role only
  });

  it('lets a sop:run:* scope cover one script, and a one-script scope only that script', () => {
    const wide = actor([['operator', null]], { tokenScopes: ['sop:run:*'], via: 'api' });
    expect(can(wide, 'sop:run:backup-db', A.id)).toBe(true);
    const narrow = actor([['operator', null]], { tokenScopes: ['sop:run:backup-db'], via: 'api' });
    expect(can(narrow, 'sop:run:backup-db', A.id)).toBe(true);
    expect(can(narrow, 'sop:run:restart', A.id)).toBe(false);
  });

  it('denies everything with an empty scope list', () => {
    const a = actor([['admin', null]], { tokenScopes: [], via: 'api' });
    expect(matrix(a, A.id)).toEqual(expectedMatrix(null));
  });

  it('limits a project token to its project, even for a global admin', () => {
    const a = actor([['admin', null]], { tokenScopes: ['inventory:read'], tokenProjectId: A.id, via: 'api' });
    expect(can(a, 'inventory:read', A.id)).toBe(true);
    expect(can(a, 'inventory:read', B.id)).toBe(false);
    expect(can(a, 'inventory:read', null)).toBe(false);
  });
});

describe('authorize', () => {
  it('passes silently when the permission is held', () => {
    expect(() => authorize(actor([['approver', A.id]]), 'access:approve', A)).not.toThrow();
  });

  it('says what is missing, where, and which roles grant it', () => {
    let error: unknown;
    try {
      authorize(actor([['approver', A.id]]), 'access:approve', B);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('forbidden');
    expect((error as AppError).message).toBe(
      'you need the access:approve permission on project beta; ask an admin to bind you to one of these roles: admin, approver',
    );
  });

  it('mentions the token when one limits the caller', () => {
    const a = actor([['admin', null]], { tokenScopes: ['inventory:read'], via: 'api' });
    expect(() => authorize(a, 'patch:run', null)).toThrow(
      /globally \(or your API token is not scoped for it\)/,
    );
  });
});
