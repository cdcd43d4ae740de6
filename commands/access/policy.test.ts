import { describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors.js';
import type { User } from '../../storage/users.js';
import type { Actor } from '../rbac/authorize.js';
import { grantKeyLine, opensshTime } from './grant.js';
import { accessPolicy, DEFAULT_CA_PATHS, durationCap } from './policy.js';

const HOUR = 3_600_000;
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop';

function actor(bindings: Actor['bindings']): Actor {
  const user: User = { id: 1, handle: 'alice', displayName: 'Alice', email: null, disabled: false };
  return { user, bindings, via: 'console' };
}

describe('access policy', () => {
  it('reads each knob on its own and falls back to the default when one is malformed', () => {
    const policy = accessPolicy({
      settings: {
        access: {
          mode: 'certificates!',
          defaultLogin: 'Deploy; rm -rf /',
          from: '10.0.0.0/8,"$(id)"',
          maxDuration: { contractor: '2h', operator: 'forever' },
          ca: {
            trustedKeysPath: '/etc/ssh/../shadow',
            revokedKeysPath: '/etc/ssh/revoked keys',
            sudo: false,
          },
        },
      },
    });
    expect(policy.mode).toBe('authorized-keys');
    expect(policy.defaultLogin).toBeNull();
    expect(policy.from).toBeNull();
    expect(policy.maxDurationMs.contractor).toBe(2 * HOUR);
    expect(policy.maxDurationMs.operator).toBe(8 * HOUR);
    expect(policy.ca).toEqual({ ...DEFAULT_CA_PATHS, sudo: false });
  });

  it('gives a requester the cap of their most generous role on the project', () => {
    const policy = accessPolicy({ settings: {} });
    expect(durationCap(actor([{ userId: 1, role: 'contractor', projectId: 7 }]), 7, policy)).toBe(4 * HOUR);
    const both = actor([
      { userId: 1, role: 'contractor', projectId: 7 },
      { userId: 1, role: 'operator', projectId: null },
    ]);
    expect(durationCap(both, 7, policy)).toBe(8 * HOUR);
    expect(durationCap(actor([{ userId: 1, role: 'operator', projectId: 8 }]), 7, policy)).toBe(0);
    expect(durationCap(actor([{ userId: 1, role: 'auditor', projectId: 7 }]), 7, policy)).toBe(0);
  });
});

describe('the authorized_keys line of a grant', () => {
  const expiresAt = new Date('2026-01-05T11:30:59.900Z');

  it('carries a UTC expiry-time, floored to the second, and drops the key’s own comment', () => {
    expect(opensshTime(expiresAt)).toBe('20260105113059Z');
    const line = grantKeyLine({ id: 12, publicKey: KEY, expiresAt, fromPatterns: '10.0.0.0/8,!10.0.0.1' });
    expect(line).toBe(
      `expiry-time="20260105113059Z",from="10.0.0.0/8,!10.0.0.1" ${KEY.split(' ').slice(0, 2).join(' ')} grant-12`,
    );
  });

  it('refuses a stored key that would smuggle options into the line', () => {
    for (const publicKey of ['ssh-ed25519 AAAA",command="reboot', 'command="id" ssh-ed25519 AAAA', '']) {
      expect(() => grantKeyLine({ id: 1, publicKey, expiresAt, fromPatterns: null })).toThrow(AppError);
    }
  });
});
