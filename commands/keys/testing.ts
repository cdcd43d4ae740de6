import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { classifyTargetError } from '../../integrations/targets/errors.js';
import type { TargetErrorKind } from '../../integrations/targets/types.js';
import type { Sql } from '../../storage/db.js';
import { withTx } from '../../storage/db.js';
import { getServerByName, insertServer, type Server } from '../../storage/inventory.js';
import type { KeyRecord } from '../../storage/keys.js';
import type { SshdHandle } from '../../test/sshd.js';
import type { Deps } from '../deps.js';
import { sshTargetFor, unsealServiceKey, withTarget } from './connect.js';
import { createServiceKey } from './service.js';

/**
 * Test helpers for key work against the real sshd of test/sshd.ts. Each test file uses its own
 * test account, so files running side by side never edit the same authorized_keys.
 */
export function homeOf(user: string): string {
  return execFileSync('getent', ['passwd', user], { encoding: 'utf8' }).split(':')[5]!;
}

export function authorizedKeysPath(user: string): string {
  return `${homeOf(user)}/.ssh/authorized_keys`;
}

/** Replace the account's own authorized_keys (not the harness's file) with these lines. */
export function writeAuthorizedKeys(user: string, lines: readonly string[]): void {
  const home = homeOf(user);
  const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
  if (!existsSync(`${home}/.ssh`)) mkdirSync(`${home}/.ssh`, { mode: 0o700 });
  chownSync(`${home}/.ssh`, uid, gid);
  const file = `${home}/.ssh/authorized_keys`;
  writeFileSync(file, lines.length ? `${lines.join('\n')}\n` : '');
  chmodSync(file, 0o600);
  chownSync(file, uid, gid);
}

export function readAuthorizedKeys(user: string): string {
  const file = authorizedKeysPath(user);
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** A server row pointing at the harness sshd, logging in as `login`, with the host key pinned. */
export async function sshdServer(
  sql: Sql,
  sshd: SshdHandle,
  input: { name: string; login: string; projectId: number | null; ownerId?: number | null },
): Promise<Server> {
  await insertServer(
    sql,
    {
      name: input.name,
      projectId: input.projectId,
      accountId: null,
      provider: 'ssh',
      providerId: null,
      address: sshd.host,
      port: sshd.port,
      os: {},
      tags: {},
      ownerId: input.ownerId ?? null,
      connection: { user: input.login, hostKey: sshd.hostKeyFingerprint },
    },
    new Date('2026-01-01T00:00:00Z'),
  );
  return (await getServerByName(sql, input.name))!;
}

/** A service key made by Warden and installed by hand (untagged), as an admin would at setup. */
export async function installServiceKey(
  deps: Deps,
  input: { server: Server; login: string; ownerId: number; secretName: string; projectId: number | null },
): Promise<{ key: KeyRecord; privateKey: string }> {
  const { key } = await withTx(deps.sql, (tx) =>
    createServiceKey(tx, deps, {
      secretName: input.secretName,
      ownerId: input.ownerId,
      purpose: `warden service key for ${input.server.name}`,
      projectId: input.projectId,
      placements: [{ serverId: input.server.id, login: input.login }],
      actor: 'system',
    }),
  );
  writeAuthorizedKeys(input.login, [key.publicKey]);
  return { key, privateKey: await unsealServiceKey(deps, key.id) };
}

/** Log in with `privateKey` on a fresh connection: 'ok', or the kind of failure (e.g. 'auth-failed'). */
export async function tryLogin(server: Server, privateKey: string): Promise<'ok' | TargetErrorKind> {
  try {
    const result = await withTarget(sshTargetFor, server, privateKey, (t) => t.exec(['id', '-un']));
    return result.exitCode === 0 ? 'ok' : 'command-failed';
  } catch (error) {
    return classifyTargetError(error);
  }
}
