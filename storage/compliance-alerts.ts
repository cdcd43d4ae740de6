import type { Queryable } from './db.js';

/**
 * Change-only compliance alerts (migration 1700000000090_compliance.sql, compliance_alerts): each
 * keyed by its episode, so the same change never alerts twice, across replicas too.
 */
export type AlertKind = 'security-new' | 'threshold' | 'baseline-drift';

export interface AlertWrite {
  projectId: number | null;
  serverId: number | null;
  kind: AlertKind;
  /** Unique for the episode: the same key never alerts twice. */
  key: string;
  data: Record<string, unknown>;
}

/** Records alerts; returns the keys that were new (the ones to send). */
export async function insertAlerts(
  sql: Queryable,
  rows: readonly AlertWrite[],
  at: Date,
): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const json = rows.map((r) => ({
    project_id: r.projectId,
    server_id: r.serverId,
    kind: r.kind,
    alert_key: r.key,
    data: r.data,
  }));
  const inserted = await sql<{ key: string }[]>`
    insert into compliance_alerts (project_id, server_id, kind, alert_key, data, alerted_at)
    select r.project_id, r.server_id, r.kind, r.alert_key, r.data, ${at}::timestamptz
    from jsonb_to_recordset(${sql.json(json as never)}) as r(project_id bigint, server_id bigint, kind text,
         alert_key text, data jsonb)
    on conflict (alert_key) do nothing
    returning alert_key as key`;
  return new Set(inserted.map((r) => r.key));
}

export interface AlertRecord {
  id: number;
  projectId: number | null;
  serverId: number | null;
  kind: AlertKind;
  key: string;
  data: Record<string, unknown>;
  alertedAt: Date;
}

export async function listAlerts(
  sql: Queryable,
  filter: { projectId?: number; since?: Date; limit: number },
): Promise<AlertRecord[]> {
  return sql<AlertRecord[]>`
    select id, project_id as "projectId", server_id as "serverId", kind, alert_key as key, data,
           alerted_at as "alertedAt"
    from compliance_alerts
    where true
    ${filter.projectId !== undefined ? sql`and project_id = ${filter.projectId}` : sql``}
    ${filter.since ? sql`and alerted_at >= ${filter.since}` : sql``}
    order by id desc limit ${filter.limit}`;
}
