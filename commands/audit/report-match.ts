import type { GrantOnServer } from '../../storage/audit-report.js';
import type { KeyRecord } from '../../storage/keys.js';
import type { AuthorizedKeyEntry, LocalAccount, SshdLogin } from './report-parse.js';

/**
 * Pure matching of what was found on a server against what Warden knows: registered keys (with
 * their kind and owner) and grants (who, which login, which key, when). Anything that matches no
 * key, or a key used outside a grant, is flagged.
 */
export type KeyMatch = 'grant' | 'service' | 'user-key' | 'ca' | 'retired' | 'unknown' | 'invalid';

export interface MatchResult {
  match: KeyMatch;
  keyId: number | null;
  grantId: number | null;
  /** Whose it is: the grant's requester or the key's owner (a handle), when known. */
  user: string | null;
  flagged: boolean;
  note: string;
}

export interface ServerKnowledge {
  serverId: number;
  keysByFingerprint: ReadonlyMap<string, KeyRecord>;
  /** Grants that covered this server. */
  grants: readonly GrantOnServer[];
  /** Logins Warden itself uses on this server (service key installations, connection.user). */
  serviceLogins: ReadonlySet<string>;
  /** Logins the project declares as expected (settings.audit.knownLogins). */
  declaredLogins: ReadonlySet<string>;
}

/** sshd and Warden's clocks may differ a little: a login this close to a grant's edges counts. */
export const GRANT_SLACK_MS = 5 * 60_000;

function result(
  match: KeyMatch,
  flagged: boolean,
  note: string,
  extra: Partial<MatchResult> = {},
): MatchResult {
  return { match, flagged, note, keyId: null, grantId: null, user: null, ...extra };
}

function inWindow(grant: GrantOnServer, at: Date): boolean {
  return (
    at.getTime() >= grant.startsAt.getTime() - GRANT_SLACK_MS &&
    at.getTime() <= grant.endsAt.getTime() + GRANT_SLACK_MS
  );
}

/** Who a logged login was, and under which grant; flagged when it matches no grant or service key. */
export function matchLogin(login: SshdLogin, k: ServerKnowledge): MatchResult {
  if (!login.fingerprint) return result('unknown', true, 'sshd did not log the key fingerprint');
  const grants = k.grants.filter((g) => g.fingerprint === login.fingerprint && g.login === login.user);
  const covering = login.at ? grants.find((g) => inWindow(g, login.at!)) : grants[0];
  const key = k.keysByFingerprint.get(login.fingerprint);
  if (covering) {
    if (login.certificate) {
      const ca = k.keysByFingerprint.get(login.certificate.caFingerprint);
      if (!ca || ca.kind !== 'ca') {
        return result(
          'unknown',
          true,
          `certificate signed by a CA Warden does not know (${login.certificate.caFingerprint})`,
          {
            grantId: covering.grantId,
            user: covering.requester,
          },
        );
      }
    }
    const when = login.at ? '' : ' (the log line has no time, so the window was not checked)';
    return result('grant', false, `grant #${covering.grantId} (${covering.mode})${when}`, {
      grantId: covering.grantId,
      user: covering.requester,
      keyId: key?.id ?? null,
    });
  }
  if (grants.length > 0) {
    const g = grants[grants.length - 1]!;
    return result(
      'grant',
      true,
      `outside grant #${g.grantId}'s window (${g.startsAt.toISOString()} – ${g.endsAt.toISOString()})`,
      {
        grantId: g.grantId,
        user: g.requester,
        keyId: key?.id ?? null,
      },
    );
  }
  if (!key) return result('unknown', true, 'no key Warden knows');
  const owner = { keyId: key.id, user: key.ownerHandle };
  if (key.kind === 'service') {
    if (key.retiredAt && login.at && login.at.getTime() > key.retiredAt.getTime() + GRANT_SLACK_MS) {
      return result(
        'retired',
        true,
        `Warden service key retired ${key.retiredAt.toISOString()} still logged in`,
        owner,
      );
    }
    return result('service', false, 'Warden service key', owner);
  }
  if (key.kind === 'user') {
    return result(
      'user-key',
      true,
      `@${key.ownerHandle}'s registered key, but no grant covers this login`,
      owner,
    );
  }
  return result('ca', true, 'a CA key used as a login key', owner);
}

/** Is this authorized_keys line one Warden knows and expects here? */
export function matchAuthorizedKey(entry: AuthorizedKeyEntry, k: ServerKnowledge, now: Date): MatchResult {
  if (entry.error || !entry.fingerprint)
    return result('invalid', true, `unreadable line: ${entry.error ?? 'no key'}`);
  const grants = k.grants.filter((g) => g.fingerprint === entry.fingerprint && g.login === entry.user);
  const live = grants.find((g) => g.status === 'active' && inWindow(g, now));
  const key = k.keysByFingerprint.get(entry.fingerprint);
  if (live) {
    return result('grant', false, `grant #${live.grantId} for @${live.requester}`, {
      grantId: live.grantId,
      user: live.requester,
      keyId: key?.id ?? null,
    });
  }
  if (grants.length > 0) {
    // OpenSSH refuses a line past its expiry-time by itself, but the line should be gone.
    const g = grants[grants.length - 1]!;
    return result('grant', true, `grant #${g.grantId} (${g.status}) ended, but its line is still here`, {
      grantId: g.grantId,
      user: g.requester,
      keyId: key?.id ?? null,
    });
  }
  if (!key) {
    const how = entry.tag ? ` (marked warden:${entry.tag}, e.g. left by an interrupted change)` : '';
    return result('unknown', true, `a key Warden does not know${how}`);
  }
  const owner = { keyId: key.id, user: key.ownerHandle };
  if (key.retiredAt)
    return result('retired', true, `retired key (${key.retiredReason ?? 'retired'}) still present`, owner);
  if (key.kind === 'service') return result('service', false, `Warden service key (${key.purpose})`, owner);
  if (key.kind === 'user')
    return result('user-key', true, `@${key.ownerHandle}'s registered key without an active grant`, owner);
  return result('ca', true, 'a CA key listed as a login key', owner);
}

/** Is a login-shell account one Warden expects on this server? */
export function accountKnown(account: LocalAccount, k: ServerKnowledge): { known: boolean; why: string } {
  if (account.user === 'root') return { known: true, why: 'root' };
  if (k.serviceLogins.has(account.user)) return { known: true, why: "Warden's service login" };
  const grant = k.grants.find((g) => g.login === account.user);
  if (grant) return { known: true, why: `login of grant #${grant.grantId}` };
  if (k.declaredLogins.has(account.user)) return { known: true, why: 'declared in the project settings' };
  return { known: false, why: 'a login-shell account Warden does not know' };
}
