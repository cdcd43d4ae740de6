import { createHash } from 'node:crypto';
import type { Target } from '../../integrations/targets/types.js';
import { AppError, isAppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import { listLiveRevokedKeys } from '../../storage/grant-servers.js';
import { getProjectBySlug, listServers, type Server } from '../../storage/inventory.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { quoteForMessage } from '../grammar.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import { loadOrCreateUserCa } from './certificate.js';
import { type AccessPolicy, accessPolicy } from './policy.js';
import { targetFor } from './ports.js';

/**
 * The one script that writes the CA files on a server. It is a constant: the paths arrive as
 * positional arguments (checked again here against a strict character set) and the contents on
 * standard input, never spliced into its text. Each file is written to a temporary file in the same
 * directory and renamed over the old one, so sshd reads the old list or the new one, never half of
 * one (a missing or unreadable RevokedKeys file makes sshd refuse every key). It prints the
 * SHA-256 of what is now on disk, and whether sshd's configuration names the files.
 */
export const CA_FILES_SCRIPT = `set -eu
op=$1 ca=$2 revoked=$3 conf=$4
fail() { printf 'warden-ca: %s\\n' "$2" >&2; exit "$1"; }
for p in "$ca" "$revoked" "$conf"; do
  case $p in /*) ;; *) fail 2 "path $p is not absolute" ;; esac
  case $p in *[!A-Za-z0-9._/-]*|*/../*|*/..) fail 2 "path $p has characters Warden will not write to" ;; esac
done
tmp=
trap 'if [ -n "$tmp" ]; then rm -f "$tmp"; fi' EXIT
put() {
  dir=$(dirname "$1")
  [ -d "$dir" ] || fail 3 "directory $dir does not exist"
  [ ! -L "$1" ] || fail 4 "$1 is a symbolic link; refusing to write through it"
  tmp=$(mktemp "$dir/.warden-ca.XXXXXX")
  cat > "$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$1"
  tmp=
}
if [ "$op" = install ]; then
  IFS= read -r caline || fail 2 'no CA key on standard input'
  printf '%s\\n' "$caline" | put "$ca"
fi
put "$revoked"
printf 'ca_sha256=%s\\n' "$(sha256sum "$ca" 2>/dev/null | cut -d' ' -f1)"
printf 'revoked_sha256=%s\\n' "$(sha256sum "$revoked" | cut -d' ' -f1)"
confs="$conf"
for f in "$(dirname "$conf")"/sshd_config.d/*.conf; do [ -f "$f" ] && confs="$confs $f"; done
named() { cat $confs 2>/dev/null | grep -iE "^[[:space:]]*$1[[:space:]]" | grep -qF "$2" && echo yes || echo no; }
printf 'ca_configured=%s\\n' "$(named TrustedUserCAKeys "$ca")"
printf 'revoked_configured=%s\\n' "$(named RevokedKeys "$revoked")"
`;

export interface CaPushResult {
  /** Whether sshd's configuration names both files (the files alone change nothing). */
  configured: boolean;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The RevokedKeys file: one public key per line (sshd also refuses certificates of these keys). */
export function revokedKeysFile(keys: readonly string[]): string {
  return keys.map((k) => `${k.trim().split(/\s+/).slice(0, 2).join(' ')}\n`).join('');
}

/**
 * Write the CA key (when given) and the revocation list on one server, then check that what is on
 * disk is what was sent.
 */
export async function pushCaFiles(
  target: Target,
  ca: AccessPolicy['ca'],
  content: { caPublicKey: string | null; revokedKeys: readonly string[] },
): Promise<CaPushResult> {
  const revoked = revokedKeysFile(content.revokedKeys);
  const caLine = content.caPublicKey ? `${content.caPublicKey.trim()}\n` : '';
  const op = content.caPublicKey ? 'install' : 'revoked';
  const result = await target.exec(
    ['sh', '-c', CA_FILES_SCRIPT, 'warden-ca', op, ca.trustedKeysPath, ca.revokedKeysPath, ca.sshdConfigPath],
    { sudo: ca.sudo, stdin: caLine + revoked, timeoutMs: 60_000, maxOutputBytes: 64 * 1024 },
  );
  const reason = result.stderr.replace(/^warden-ca: /, '').trim();
  if (result.exitCode !== 0) {
    throw new AppError(
      result.exitCode === 3 || result.exitCode === 4 ? 'conflict' : 'integration',
      `could not write the CA files on ${target.name} (exit ${result.exitCode ?? result.signal}): ${reason || 'no message'}`,
    );
  }
  const out = Object.fromEntries(
    result.stdout
      .split('\n')
      .map((l) => l.split('='))
      .filter((p) => p.length === 2),
  ) as Record<string, string>;
  if (out.revoked_sha256 !== sha256(revoked) || (caLine && out.ca_sha256 !== sha256(caLine))) {
    throw new AppError(
      'integration',
      `the CA files on ${target.name} do not read back as written; try again`,
    );
  }
  return { configured: out.ca_configured === 'yes' && out.revoked_configured === 'yes' };
}

/** Run `fn` over `items`, at most `limit` at a time. */
export async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

export interface CaInstallResult {
  project: string;
  caFingerprint: string;
  servers: { server: string; ok: boolean; configured: boolean; error?: string }[];
}

/** `/warden ca install <project>`: trust Warden's user CA and its revocation list on every server. */
export async function installCa(deps: Deps, actor: Actor, projectSlug: string): Promise<CaInstallResult> {
  const slug = projectSlug.toLowerCase();
  const project = /^[a-z0-9][a-z0-9-]{0,62}$/.test(slug) ? await getProjectBySlug(deps.sql, slug) : undefined;
  if (!project) {
    throw new AppError(
      'not_found',
      `there is no project ${quoteForMessage(projectSlug)}; type \`projects\` to list them`,
    );
  }
  authorize(actor, 'keys:manage', project);
  const policy = accessPolicy(project);
  const who = `user:${actor.user.handle}`;
  const ca = await withTx(deps.sql, (tx) => loadOrCreateUserCa(tx, deps, who));
  const servers: Server[] = await listServers(deps.sql, {
    projectIds: null,
    projectId: project.id,
    limit: 1000,
  });
  const revoked = (await listLiveRevokedKeys(deps.sql, project.id, deps.clock.now())).map((k) => k.publicKey);
  const results: CaInstallResult['servers'] = [];
  await eachLimited(servers, 8, async (server) => {
    try {
      const target = await targetFor(deps, server);
      const pushed = await pushCaFiles(target, policy.ca, {
        caPublicKey: ca.publicKey,
        revokedKeys: revoked,
      });
      results.push({ server: server.name, ok: true, configured: pushed.configured });
    } catch (error) {
      const message = isAppError(error) || error instanceof Error ? error.message : String(error);
      results.push({ server: server.name, ok: false, configured: false, error: message.slice(0, 300) });
    }
  });
  results.sort((a, b) => a.server.localeCompare(b.server));
  await withTx(deps.sql, (tx) =>
    recordEvent(tx, deps, {
      actor: who,
      action: 'access.ca-installed',
      subject: { type: 'project', id: project.slug },
      projectId: project.id,
      data: {
        caFingerprint: ca.fingerprint,
        revokedKeys: revoked.length,
        servers: results,
        paths: policy.ca,
      },
    }),
  );
  return { project: project.slug, caFingerprint: ca.fingerprint, servers: results };
}
