import type { Sql } from '../../storage/db.js';

/**
 * The synthetic fleet, generated inside PostgreSQL with generate_series (a few statements, no
 * rows cross the wire). Deterministic: every "random" choice is arithmetic on ids.
 *
 *   50 projects × 200 servers; 1% never scanned, 2% with a stale scan; 500,000 open findings on
 *   the scanned ones (a third of servers carry security updates, some past 7 days); 90 days of
 *   resolved findings (which the trigger turns into each server's last update); one service key
 *   per project installed on each of its servers (some overdue); audits (1% unknown keys),
 *   baseline results (3% failing), pending approvals and expiring grants; 90 days of rollups.
 */
export interface FleetSize {
  projects: number;
  serversPerProject: number;
  openFindings: number;
  resolvedFindings: number;
  historyDays: number;
}

export const DEFAULT_SIZE: FleetSize = {
  projects: 50,
  serversPerProject: 200,
  openFindings: 500_000,
  resolvedFindings: 450_000,
  historyDays: 90,
};

export async function generateFleet(sql: Sql, size: FleetSize, now: Date): Promise<void> {
  const servers = size.projects * size.serversPerProject;
  await sql`insert into users (handle, display_name) values ('owner', 'Owner'), ('requester', 'Requester')`;
  await sql`
    insert into projects (slug, name, channels, settings)
    select format('p%s', lpad(i::text, 2, '0')), format('Project %s', i), jsonb_build_object('console', format('p%s', i)),
           jsonb_build_object('compliance', jsonb_build_object('digest', jsonb_build_object('time', '09:00',
             'timezone', case when i % 2 = 0 then 'Europe/Paris' else 'America/New_York' end)))
    from generate_series(1, ${size.projects}) i`;
  await sql`
    insert into servers (name, project_id, owner_id, created_at, updated_at)
    select format('srv-%s', lpad(i::text, 5, '0')), p.id, (select id from users where handle = 'owner'),
           ${now}::timestamptz - interval '200 days', ${now}::timestamptz - interval '200 days'
    from generate_series(1, ${servers}) i
    join (select id, row_number() over (order by id) as rn from projects) p on p.rn = (i - 1) / ${size.serversPerProject} + 1`;
  // Scanned servers, numbered 0..n-1 so findings can be spread over them evenly.
  await sql`
    create unlogged table scanned as
    select id, (row_number() over (order by id) - 1)::int as k from servers where id % 100 <> 0`;
  await sql`
    insert into findings_open (server_id, package, arch, installed_version, candidate_version, classification, severity,
                               first_seen_at, last_seen_at, first_scan_id, last_scan_id)
    select sc.id, format('pkg-%s', (r - 1) / n.c), 'amd64', '1.0', '1.1',
           case when sc.id % 3 = 0 and (r - 1) / n.c < 3 then 'security' else 'bugfix' end,
           case when sc.id % 15 = 0 and (r - 1) / n.c = 0 then 'critical' else 'moderate' end,
           ${now}::timestamptz - ((sc.id * 7 + (r - 1) / n.c) % 12) * interval '1 day' - interval '1 hour',
           ${now}::timestamptz - interval '1 hour', 1, 1
    from generate_series(1, ${size.openFindings}) r
    cross join (select count(*)::int as c from scanned) n
    join scanned sc on sc.k = (r - 1) % n.c`;
  await sql`
    insert into server_scan_state (server_id, last_scan_id, last_scan_at, last_scan_status, last_good_scan_at,
      last_good_scan_id, consecutive_failures, open_total, open_security, open_critical,
      oldest_open_security_first_seen_at, oldest_open_critical_first_seen_at, reboot_required, os, updated_at)
    select sc.id, sc.id, t.at, 'succeeded', t.at, sc.id, 0, coalesce(a.total, 0), coalesce(a.security, 0),
           coalesce(a.critical, 0), a.oldest_security, a.oldest_critical, false, '{}'::jsonb, t.at
    from scanned sc
    cross join lateral (select case when sc.id % 50 = 1 then ${now}::timestamptz - interval '15 days'
                                    else ${now}::timestamptz - (sc.id % 7) * interval '1 day' - interval '1 hour' end as at) t
    left join (
      select server_id, count(*)::int as total,
             (count(*) filter (where classification = 'security'))::int as security,
             (count(*) filter (where severity = 'critical'))::int as critical,
             min(first_seen_at) filter (where classification = 'security') as oldest_security,
             min(first_seen_at) filter (where severity = 'critical') as oldest_critical
      from findings_open group by server_id
    ) a on a.server_id = sc.id`;
  // History: resolved findings over 90 days; servers with id % 200 = 7 were never updated.
  await sql`
    insert into findings_resolved (server_id, package, arch, installed_version, candidate_version, classification,
      severity, cves, advisories, source, reboot_required, first_seen_at, last_seen_at, first_scan_id, last_scan_id,
      resolved_at, resolved_scan_id)
    select sc.id, format('old-%s', r), 'amd64', '0.9', '1.0', case when r % 4 = 0 then 'security' else 'bugfix' end,
           'moderate', '{}', '{}', null, false, x.resolved_at - ((r * 31) % 20 + 1) * interval '1 day',
           x.resolved_at - interval '1 hour', 1, 1, x.resolved_at, 1
    from generate_series(1, ${size.resolvedFindings}) r
    cross join (select count(*)::int as c from scanned) n
    join scanned sc on sc.k = (r - 1) % n.c
    cross join lateral (select ${now}::timestamptz - (r % ${size.historyDays}) * interval '1 day'
                               - ((r * 13) % 24) * interval '1 hour' as resolved_at) x
    where sc.id % 200 <> 7`;
  // One service key per project, on each of its servers; projects 31-35 are past 30 days.
  await sql`
    insert into secrets (name, purpose, sealed)
    select format('svc-%s', id), 'service key', 'sealed' from projects`;
  await sql`
    insert into keys (kind, owner_id, purpose, fingerprint, key_type, bits, public_key, secret_id, project_id, created_at)
    select 'service', (select id from users where handle = 'owner'), 'scanning service key',
           'SHA256:' || substr(encode(sha256(p.id::text::bytea), 'base64'), 1, 43), 'ssh-ed25519', 256,
           'ssh-ed25519 AAAA bench', s.id, p.id, ${now}::timestamptz - (p.id % 36) * interval '1 day'
    from projects p join secrets s on s.name = format('svc-%s', p.id)`;
  await sql`
    insert into key_installations (key_id, server_id, login, installed_at)
    select k.id, s.id, 'warden', k.created_at from servers s join keys k on k.project_id = s.project_id`;
  await sql`
    insert into server_key_audit (server_id, audited_at, unknown_keys, unknown_fingerprints)
    select id, ${now}::timestamptz - interval '2 days', case when id % 97 = 0 then 1 else 0 end,
           case when id % 97 = 0 then array['SHA256:stray'] else '{}'::text[] end
    from scanned`;
  await sql`
    insert into server_baseline_state (server_id, checked_at, checks_total, failing_checks)
    select id, ${now}::timestamptz - interval '1 day', 12,
           case when id % 31 = 0 then array['ssh-root-login', 'firewall-active'] else '{}'::text[] end
    from scanned`;
  await sql`
    insert into approval_requests (subject_type, subject_id, project_id, requester_id, permission, title, expires_at,
                                   created_at)
    select 'patch-plan', format('%s-%s', p.id, i), p.id, (select id from users where handle = 'requester'),
           'patch:approve', format('Patch plan %s-%s', p.id, i), ${now}::timestamptz + interval '2 days',
           ${now}::timestamptz - i * interval '1 hour'
    from projects p cross join generate_series(1, 3) i`;
  await sql`
    with req as (
      insert into access_requests (requester_id, project_id, scope, scope_name, server_ids, login, duration_ms, ticket,
                                   reason, mode, public_key, key_fingerprint, status, created_at)
      select (select id from users where handle = 'requester'), p.id, 'project', p.slug, array[1::bigint], 'deploy',
             3600000, format('OPS-%s-%s', p.id, i), 'bench', 'authorized-keys', 'ssh-ed25519 AAAA r', 'SHA256:r',
             'approved', ${now}::timestamptz - interval '1 hour'
      from projects p cross join generate_series(1, 2) i
      returning id, requester_id, project_id, ticket
    )
    insert into grants (request_id, requester_id, project_id, login, mode, public_key, key_fingerprint, ticket,
                        starts_at, expires_at, created_at)
    select id, requester_id, project_id, 'deploy', 'authorized-keys', 'ssh-ed25519 AAAA r', 'SHA256:r', ticket,
           ${now}::timestamptz - interval '1 hour', ${now}::timestamptz + (id % 30) * interval '1 hour',
           ${now}::timestamptz - interval '1 hour'
    from req`;
  await sql`
    insert into compliance_daily (project_id, day, servers, compliant, non_compliant, unknown, pending_security,
                                  security_resolved, mttp_seconds, computed_at)
    select p.id, (${now}::timestamptz - d * interval '1 day')::date, ${size.serversPerProject},
           150 + (p.id + d) % 30, 40 - (p.id + d) % 30, 10, 300 + (d * 7) % 50, 40 + d % 10,
           86400 * (3 + (d % 5)), ${now}::timestamptz - d * interval '1 day'
    from projects p cross join generate_series(1, ${size.historyDays}) d`;
  await sql`drop table scanned`;
  await sql`analyze`;
}
