import { createHash } from 'node:crypto';
import type { FakeClock } from '../../lib/clock.js';
import { saveKeyAudits } from '../../storage/compliance.js';
import type { Sql } from '../../storage/db.js';
import { getServersByIds, insertScan } from '../../storage/scans.js';
import { bindRole, createUser } from '../../storage/users.js';
import type { TestDeps } from '../../test/deps.js';
import { recordScanSuccess } from '../scanning/record.js';
import { finding, scanResult } from '../scanning/testing.js';

/**
 * A fixture fleet with known answers, built through the real scan-recording path (so the summary
 * rows, the findings history and the update triggers are what production writes). `NOW` is a
 * Tuesday, 11:00 in Paris; project `prod` wants its digest at 09:00 Paris time.
 *
 * prod (10 servers)                                        expected state
 *   web-01   clean, scanned 1d ago (2 security fixed today)   compliant
 *   web-02   3 security pending for 2d                        compliant
 *   web-03   2 security pending for 10d (> 7d)                non-compliant since NOW-3d
 *   web-04   1 critical security pending for 6d               compliant
 *   db-01    5 bugfixes pending, last update 100d ago (> 90d) non-compliant since NOW-10d
 *   db-02    last good scan 12d ago (stale after 8d)          unknown since NOW-4d
 *   db-03    never scanned                                    unknown
 *   cache-01 service key created 40d ago (rotate every 30d)   non-compliant since NOW-10d
 *   cache-02 audit 3h ago found an unknown authorized key     non-compliant since NOW-3h
 *   cache-03 scan stale (20d) AND an unknown key (audit 30h)  non-compliant since NOW-30h
 * staging: stg-01 never scanned (unknown), stg-02 clean (compliant)
 */
export const NOW = new Date('2026-03-10T10:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
export const ago = (ms: number) => new Date(NOW.getTime() - ms);
export { DAY, HOUR };

export interface Fleet {
  prodId: number;
  stagingId: number;
  servers: Record<string, number>;
  users: { owner: number; alice: number; admin: number };
  tag: string;
}

const sec = (pkg: string, severity: 'critical' | 'important' = 'important') =>
  finding(pkg, { classification: 'security', severity });

async function insertServer(sql: Sql, name: string, projectId: number, createdAt: Date, ownerId: number) {
  const [row] = await sql<{ id: number }[]>`
    insert into servers (name, project_id, created_at, updated_at, owner_id)
    values (${name}, ${projectId}, ${createdAt}, ${createdAt}, ${ownerId}) returning id`;
  return row!.id;
}

function fingerprint(seed: string): string {
  return `SHA256:${createHash('sha256').update(seed).digest('base64').replace(/=+$/, '')}`;
}

/** `count` pending security updates of importance "important", pkg0…pkgN. */
export function securityFindings(count: number): ReturnType<typeof finding>[] {
  return Array.from({ length: count }, (_, i) =>
    finding(`pkg${i}`, {
      installedVersion: '1',
      candidateVersion: '2',
      classification: 'security',
      severity: 'important',
    }),
  );
}

/** Scans `server` at `at` with these findings, through scanning's own recording. */
export async function scanAt(
  deps: TestDeps,
  serverId: number,
  at: Date,
  findings: ReturnType<typeof finding>[],
): Promise<void> {
  const clock = deps.clock as FakeClock;
  clock.set(at);
  const [server] = await getServersByIds(deps.sql, [serverId]);
  const scanId = await insertScan(deps.sql, {
    batchId: null,
    serverId,
    projectId: server!.projectId,
    triggeredBy: 'test',
    at,
  });
  await recordScanSuccess(deps, server!, scanId, scanResult(findings));
}

export async function buildFleet(deps: TestDeps, tag = ''): Promise<Fleet> {
  const sql = deps.sql;
  const owner = await createUser(sql, { handle: `owner${tag}`, displayName: 'Owner' });
  const alice = await createUser(sql, { handle: `alice${tag}`, displayName: 'Alice' });
  const admin = await createUser(sql, { handle: `admin${tag}`, displayName: 'Admin' });
  const settings = { compliance: { digest: { time: '09:00', timezone: 'Europe/Paris' } } };
  const [prod] = await sql<{ id: number }[]>`
    insert into projects (slug, name, channels, settings)
    values (${`prod${tag}`}, 'Production', ${sql.json({ console: `prod${tag}` })}, ${sql.json(settings)})
    returning id`;
  const [staging] = await sql<{ id: number }[]>`
    insert into projects (slug, name) values (${`staging${tag}`}, 'Staging') returning id`;
  const prodId = prod!.id;
  const stagingId = staging!.id;
  await bindRole(sql, { userId: alice.id, role: 'operator', projectId: prodId });
  await bindRole(sql, { userId: admin.id, role: 'admin', projectId: null });

  const names = [
    'web-01',
    'web-02',
    'web-03',
    'web-04',
    'db-01',
    'db-02',
    'db-03',
    'cache-01',
    'cache-02',
    'cache-03',
  ];
  const servers: Record<string, number> = {};
  for (const name of names) {
    const created = name === 'db-01' ? ago(200 * DAY) : ago(60 * DAY);
    servers[name] = await insertServer(sql, `${name}${tag}`, prodId, created, owner.id);
  }
  servers['stg-01'] = await insertServer(sql, `stg-01${tag}`, stagingId, ago(60 * DAY), owner.id);
  servers['stg-02'] = await insertServer(sql, `stg-02${tag}`, stagingId, ago(60 * DAY), owner.id);
  const s = servers as Record<string, number> & Record<(typeof names)[number], number>;

  // Chronological per server; first_seen comes from the first scan that saw each update.
  await scanAt(deps, s['db-01']!, ago(101 * DAY), [finding('old-lib', { classification: 'bugfix' })]);
  const bugfixes = ['a', 'b', 'c', 'd', 'e'].map((p) => finding(`lib${p}`, { classification: 'bugfix' }));
  await scanAt(deps, s['db-01']!, ago(100 * DAY), bugfixes);
  await scanAt(deps, s['db-01']!, ago(2 * DAY), bugfixes);
  await scanAt(deps, s['cache-03']!, ago(20 * DAY), []);
  await scanAt(deps, s['db-02']!, ago(12 * DAY), []);
  await scanAt(deps, s['web-03']!, ago(10 * DAY), [sec('openssl'), sec('libssl3')]);
  await scanAt(deps, s['web-04']!, ago(6 * DAY), [sec('sudo', 'critical')]);
  // web-01: two security updates first seen 2026-03-07 08:00Z, installed and gone at 2026-03-10 08:00Z.
  await scanAt(deps, s['web-01']!, new Date('2026-03-07T08:00:00Z'), [sec('curl'), sec('libcurl4')]);
  await scanAt(deps, s['web-02']!, ago(2 * DAY), [sec('bash'), sec('zlib1g'), sec('tar')]);
  for (const name of ['web-02', 'web-03', 'web-04', 'cache-01', 'cache-02', 'stg-02']) {
    const keep: Record<string, ReturnType<typeof finding>[]> = {
      'web-02': [sec('bash'), sec('zlib1g'), sec('tar')],
      'web-03': [sec('openssl'), sec('libssl3')],
      'web-04': [sec('sudo', 'critical')],
    };
    await scanAt(deps, s[name]!, ago(DAY), keep[name] ?? []);
  }
  await scanAt(deps, s['web-01']!, new Date('2026-03-10T08:00:00Z'), []);

  // Keys: a service key past its 30-day rotation on cache-01; a user key with its own 30-day
  // policy on web-01, due in 5 days.
  const [secret] = await sql<{ id: number }[]>`
    insert into secrets (name, purpose, sealed) values (${`svc-key${tag}`}, 'service key', 'sealed') returning id`;
  const [svc] = await sql<{ id: number }[]>`
    insert into keys (kind, owner_id, purpose, fingerprint, key_type, bits, public_key, secret_id, project_id, created_at)
    values ('service', ${owner.id}, 'scanning service key', ${fingerprint(`svc${tag}`)}, 'ssh-ed25519', 256,
            'ssh-ed25519 AAAA svc', ${secret!.id}, ${prodId}, ${ago(40 * DAY)})
    returning id`;
  await sql`
    insert into key_installations (key_id, server_id, login, installed_at)
    values (${svc!.id}, ${s['cache-01']!}, 'warden', ${ago(40 * DAY)})`;
  const [userKey] = await sql<{ id: number }[]>`
    insert into keys (kind, owner_id, purpose, fingerprint, key_type, bits, public_key, created_at, rotate_every_ms)
    values ('user', ${alice.id}, 'alice laptop', ${fingerprint(`user${tag}`)}, 'ssh-ed25519', 256,
            'ssh-ed25519 AAAA alice', ${ago(25 * DAY)}, ${30 * DAY})
    returning id`;
  await sql`
    insert into key_installations (key_id, server_id, login, installed_at)
    values (${userKey!.id}, ${s['web-01']!}, 'alice', ${ago(25 * DAY)})`;
  await saveKeyAudits(
    sql,
    [{ serverId: s['cache-02']!, unknownFingerprints: [fingerprint('stray')] }],
    ago(3 * HOUR),
  );
  await saveKeyAudits(
    sql,
    [{ serverId: s['cache-03']!, unknownFingerprints: [fingerprint('stray2')] }],
    ago(30 * HOUR),
  );
  await saveKeyAudits(sql, [{ serverId: s['web-01']!, unknownFingerprints: [] }], ago(2 * HOUR));

  // One approval waiting; one grant expiring within the day, one later.
  await sql`
    insert into approval_requests (subject_type, subject_id, project_id, requester_id, permission, title, expires_at,
                                   created_at)
    values ('patch-plan', ${`7${tag}`}, ${prodId}, ${alice.id}, 'patch:approve', 'Patch plan #7 for prod',
            ${new Date(NOW.getTime() + 2 * DAY)}, ${ago(2 * HOUR)})`;
  for (const [i, hours] of [3, 72].entries()) {
    const [req] = await sql<{ id: number }[]>`
      insert into access_requests (requester_id, project_id, scope, scope_name, server_ids, login, duration_ms, ticket,
                                   reason, mode, public_key, key_fingerprint, status, created_at)
      values (${alice.id}, ${prodId}, 'server', ${`web-01${tag}`}, ${[s['web-01']!]}, 'deploy', ${hours * HOUR},
              ${`OPS-${i}`}, 'fixture', 'authorized-keys', 'ssh-ed25519 AAAA alice', ${fingerprint(`user${tag}`)},
              'approved', ${ago(HOUR)})
      returning id`;
    await sql`
      insert into grants (request_id, requester_id, project_id, login, mode, public_key, key_fingerprint, ticket,
                          starts_at, expires_at, created_at)
      values (${req!.id}, ${alice.id}, ${prodId}, 'deploy', 'authorized-keys', 'ssh-ed25519 AAAA alice',
              ${fingerprint(`user${tag}`)}, ${`OPS-${i}`}, ${ago(HOUR)}, ${new Date(NOW.getTime() + hours * HOUR)},
              ${ago(HOUR)})`;
  }

  // 30 days of history for prod: compliance rising from 10% to 20% (yesterday), and yesterday's
  // patching (4 security updates, 2 days each on average).
  for (let i = 30; i >= 1; i--) {
    const day = new Date(NOW.getTime() - i * DAY).toISOString().slice(0, 10);
    const compliant = i > 15 ? 1 : 2;
    const yesterday = i === 1;
    await sql`
      insert into compliance_daily (project_id, day, servers, compliant, non_compliant, unknown, pending_security,
                                    security_resolved, mttp_seconds, computed_at)
      values (${prodId}, ${day}::date, 10, ${compliant}, 5, ${10 - 5 - compliant}, ${20 - Math.floor(i / 3)},
              ${yesterday ? 4 : 0}, ${yesterday ? 2 * 86_400 : null}, ${ago(i * DAY)})`;
  }
  (deps.clock as FakeClock).set(NOW);
  return { prodId, stagingId, servers, users: { owner: owner.id, alice: alice.id, admin: admin.id }, tag };
}
