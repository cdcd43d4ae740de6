import type { Sql } from '../../storage/db.js';
import { createActor, createProjectRow } from '../approvals/testing.js';
import type { Actor } from '../rbac/authorize.js';
import { insertTestServer } from '../scanning/testing.js';

/**
 * A small fleet with known answers, for the report, e-mail and dashboard tests:
 *
 *   alpha: alpha-ok (scanned a day ago, nothing pending: compliant),
 *          alpha-late (a security update pending 10 days: non-compliant),
 *          alpha-new (never scanned: unknown)
 *   beta:  beta-stale (last good scan 20 days ago: unknown)
 *
 * with an auditor on alpha only, an operator on beta only, and a global admin. Text other people
 * wrote (a package name, a display name) carries spreadsheet formulas and non-Latin script.
 */
export const DAY = 86_400_000;
export const HOSTILE_PACKAGE = '=HYPERLINK("http://evil.example/x","click")';
export const UNICODE_NAME = 'Zoë Ünïcødé Ωμέγα Кирилл';

export interface ReportFleet {
  alpha: { id: number; slug: string };
  beta: { id: number; slug: string };
  servers: Record<'alphaOk' | 'alphaLate' | 'alphaNew' | 'betaStale', number>;
  auditor: Actor;
  operator: Actor;
  admin: Actor;
}

async function scanState(
  sql: Sql,
  serverId: number,
  input: { at: Date; security: number; oldestSecurity: Date | null; total?: number },
): Promise<void> {
  await sql`
    insert into server_scan_state (server_id, last_scan_id, last_scan_at, last_scan_status, last_good_scan_at,
                                   last_good_scan_id, open_total, open_security, oldest_open_security_first_seen_at,
                                   os, updated_at)
    values (${serverId}, ${serverId * 10}, ${input.at}, 'succeeded', ${input.at}, ${serverId * 10},
            ${input.total ?? input.security}, ${input.security}, ${input.oldestSecurity},
            ${sql.json({ family: 'debian' })}, ${input.at})`;
}

export async function seedReportFleet(sql: Sql, now: Date, prefix = ''): Promise<ReportFleet> {
  const alpha = await createProjectRow(sql, `${prefix}alpha`);
  const beta = await createProjectRow(sql, `${prefix}beta`);
  const ago = (days: number) => new Date(now.getTime() - days * DAY);
  const created = ago(60);
  const server = async (name: string, projectId: number, region: string) => {
    const id = await insertTestServer(sql, {
      name: `${prefix}${name}`,
      projectId,
      provider: 'ssh',
      address: '10.0.0.1',
    });
    await sql`update servers set created_at = ${created}, tags = ${sql.json({ region })} where id = ${id}`;
    return id;
  };
  const servers = {
    alphaOk: await server('alpha-ok', alpha.id, 'eu-west-1'),
    alphaLate: await server('alpha-late', alpha.id, 'eu-west-1'),
    alphaNew: await server('alpha-new', alpha.id, 'us-east-1'),
    betaStale: await server('beta-stale', beta.id, 'us-east-1'),
  };
  await scanState(sql, servers.alphaOk, { at: ago(1), security: 0, oldestSecurity: null });
  await scanState(sql, servers.alphaLate, { at: ago(1), security: 1, oldestSecurity: ago(10) });
  await scanState(sql, servers.betaStale, { at: ago(20), security: 0, oldestSecurity: null });
  await sql`
    insert into findings_open (server_id, package, arch, installed_version, candidate_version, classification, severity,
                               source, first_seen_at, last_seen_at, first_scan_id, last_scan_id)
    values (${servers.alphaLate}, ${HOSTILE_PACKAGE}, 'amd64', '1.0', '1.1', 'security', 'important',
            'debian-security', ${ago(10)}, ${ago(1)}, 1, 2)`;
  await sql`
    insert into findings_resolved (server_id, package, arch, installed_version, candidate_version, classification,
                                   severity, cves, advisories, source, reboot_required, first_seen_at, last_seen_at,
                                   first_scan_id, last_scan_id, resolved_at, resolved_scan_id)
    values (${servers.alphaOk}, 'openssl', 'amd64', '3.0.1', '3.0.2', 'security', 'critical', '{CVE-2026-0001}', '{}',
            'debian-security', false, ${ago(6)}, ${ago(3)}, 1, 2, ${ago(2)}, 3)`;
  const auditor = await createActor(sql, `${prefix}audrey`, [['auditor', alpha.id]]);
  await sql`update users set display_name = ${UNICODE_NAME} where id = ${auditor.user.id}`;
  const operator = await createActor(sql, `${prefix}otto`, [['operator', beta.id]]);
  const admin = await createActor(sql, `${prefix}ada`, [['admin', null]]);
  return { alpha, beta, servers, auditor, operator, admin };
}

/** Daily rollups for alpha: compliance 1/3 → 2/3 over three days, one security update patched in 4 days. */
export async function seedAlphaRollups(sql: Sql, alphaId: number, now: Date): Promise<string[]> {
  const day = (n: number) => new Date(now.getTime() - n * DAY).toISOString().slice(0, 10);
  const rows = [
    { day: day(3), compliant: 1, unknown: 1, pending: 2, resolved: 0, mttp: null },
    { day: day(2), compliant: 2, unknown: 1, pending: 1, resolved: 1, mttp: (4 * DAY) / 1000 },
    { day: day(1), compliant: 2, unknown: 0, pending: 1, resolved: 0, mttp: null },
  ];
  for (const r of rows) {
    await sql`
      insert into compliance_daily (project_id, day, servers, compliant, non_compliant, unknown, pending_security,
                                    security_resolved, mttp_seconds, computed_at)
      values (${alphaId}, ${r.day}, 3, ${r.compliant}, ${3 - r.compliant - r.unknown}, ${r.unknown}, ${r.pending},
              ${r.resolved}, ${r.mttp}, ${now})`;
  }
  return rows.map((r) => r.day);
}
