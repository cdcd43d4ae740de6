import type { Queryable } from './db.js';
import type { Server } from './inventory.js';

/**
 * Scan batches, scans, the per-server summary row (server_scan_state) and the daily rollups.
 * The summary holds timestamps only: whether a result is stale is worked out when it is read.
 */
export type ScanStatus = 'running' | 'succeeded' | 'failed';
export type BatchStatus = 'running' | 'done' | 'interrupted';
export type ScanTrigger = 'chat' | 'api' | 'schedule' | 'cli';
export type ScopeKind = 'server' | 'project' | 'all';
/** The target's failure kinds plus what Warden itself decides (see the scans CHECK). */
export type ScanErrorKind =
  | 'unreachable'
  | 'auth-failed'
  | 'host-key-changed'
  | 'host-key-unknown'
  | 'timeout'
  | 'package-lock'
  | 'command-failed'
  | 'not-configured'
  | 'unsupported-os'
  | 'interrupted';

export interface ScanBatch {
  id: number;
  scopeKind: ScopeKind;
  scopeValue: string | null;
  projectId: number | null;
  serverIds: number[];
  status: BatchStatus;
  total: number;
  done: number;
  failed: number;
  triggeredBy: ScanTrigger;
  requestedBy: number | null;
  requestedRef: string;
  originChannel: string | null;
  startedAt: Date;
  heartbeatAt: Date;
  finishedAt: Date | null;
}

export interface ScanCounts {
  total: number;
  security: number;
  critical: number;
  /** First seen by this scan (every finding is new on a server's first scan). */
  new: number;
  newSecurity: number;
  resolved: number;
  resolvedSecurity: number;
  /** This was the server's first good scan, so "new" means nothing yet. */
  firstScan: boolean;
  byClassification: Record<string, number>;
  bySeverity: Record<string, number>;
}

export interface ScanRecord {
  id: number;
  batchId: number | null;
  serverId: number;
  serverName: string;
  projectId: number | null;
  startedAt: Date;
  finishedAt: Date | null;
  method: string | null;
  status: ScanStatus;
  errorKind: ScanErrorKind | null;
  errorMessage: string | null;
  os: Record<string, unknown> | null;
  rebootRequired: boolean | null;
  counts: Partial<ScanCounts>;
  problems: unknown[];
  triggeredBy: string;
}

export interface ServerScanState {
  serverId: number;
  serverName: string;
  projectId: number | null;
  projectSlug: string | null;
  provider: string;
  lastScanId: number | null;
  lastScanAt: Date | null;
  lastScanStatus: 'succeeded' | 'failed' | null;
  lastErrorKind: string | null;
  lastErrorMessage: string | null;
  lastGoodScanAt: Date | null;
  lastGoodScanId: number | null;
  consecutiveFailures: number;
  openTotal: number;
  openSecurity: number;
  openCritical: number;
  oldestOpenSecurityFirstSeenAt: Date | null;
  rebootRequired: boolean | null;
  os: Record<string, unknown> | null;
}

const batchColumns = (sql: Queryable) => sql`
  id, scope_kind as "scopeKind", scope_value as "scopeValue", project_id as "projectId", server_ids as "serverIds",
  status, total, done, failed, triggered_by as "triggeredBy", requested_by as "requestedBy",
  requested_ref as "requestedRef", origin_channel as "originChannel", started_at as "startedAt",
  heartbeat_at as "heartbeatAt", finished_at as "finishedAt"`;

const scanColumns = (sql: Queryable) => sql`
  c.id, c.batch_id as "batchId", c.server_id as "serverId", s.name as "serverName", c.project_id as "projectId",
  c.started_at as "startedAt", c.finished_at as "finishedAt", c.method, c.status, c.error_kind as "errorKind",
  c.error_message as "errorMessage", c.os, c.reboot_required as "rebootRequired", c.counts, c.problems,
  c.triggered_by as "triggeredBy"`;

// ---------------------------------------------------------------- batches

export interface BatchInsert {
  scopeKind: ScopeKind;
  scopeValue: string | null;
  projectId: number | null;
  serverIds: readonly number[];
  triggeredBy: ScanTrigger;
  requestedBy: number | null;
  requestedRef: string;
  originChannel: string | null;
  at: Date;
}

export async function insertBatch(sql: Queryable, input: BatchInsert): Promise<ScanBatch> {
  const [row] = await sql<ScanBatch[]>`
    insert into scan_batches (scope_kind, scope_value, project_id, server_ids, total, triggered_by, requested_by,
                              requested_ref, origin_channel, started_at, heartbeat_at)
    values (${input.scopeKind}, ${input.scopeValue}, ${input.projectId}, ${input.serverIds as number[]},
            ${input.serverIds.length}, ${input.triggeredBy}, ${input.requestedBy}, ${input.requestedRef},
            ${input.originChannel}, ${input.at}, ${input.at})
    returning ${batchColumns(sql)}`;
  return row!;
}

export async function getBatch(sql: Queryable, id: number): Promise<ScanBatch | undefined> {
  const [row] = await sql<ScanBatch[]>`select ${batchColumns(sql)} from scan_batches where id = ${id}`;
  return row;
}

/** Newest first; `projectIds` null lists every batch, otherwise only those of these projects. */
export async function listBatches(
  sql: Queryable,
  filter: { projectIds: readonly number[] | null; projectId?: number; beforeId?: number; limit: number },
): Promise<ScanBatch[]> {
  return sql<ScanBatch[]>`
    select ${batchColumns(sql)} from scan_batches
    where true
    ${filter.projectIds ? sql`and project_id = any(${filter.projectIds as number[]})` : sql``}
    ${filter.projectId !== undefined ? sql`and project_id = ${filter.projectId}` : sql``}
    ${filter.beforeId !== undefined ? sql`and id < ${filter.beforeId}` : sql``}
    order by id desc
    limit ${filter.limit}`;
}

/** Progress so far, and proof of life for the sweep. */
export async function updateBatchProgress(
  sql: Queryable,
  id: number,
  input: { done: number; failed: number; heartbeatAt: Date },
): Promise<void> {
  await sql`
    update scan_batches set done = ${input.done}, failed = ${input.failed}, heartbeat_at = ${input.heartbeatAt}
    where id = ${id} and status = 'running'`;
}

export async function touchBatch(sql: Queryable, id: number, at: Date): Promise<void> {
  await sql`update scan_batches set heartbeat_at = ${at} where id = ${id} and status = 'running'`;
}

/** Ends a running batch; false when it had already ended (an interrupted batch stays interrupted). */
export async function finishBatch(
  sql: Queryable,
  id: number,
  input: { status: 'done' | 'interrupted'; done: number; failed: number; at: Date },
): Promise<boolean> {
  const rows = await sql`
    update scan_batches
    set status = ${input.status}, done = ${input.done}, failed = ${input.failed}, finished_at = ${input.at},
        heartbeat_at = ${input.at}
    where id = ${id} and status = 'running'
    returning id`;
  return rows.length > 0;
}

/** Running batches whose heartbeat stopped before `before`, locked so two sweepers never both take one. */
export async function lockStaleBatches(sql: Queryable, before: Date): Promise<ScanBatch[]> {
  return sql<ScanBatch[]>`
    select ${batchColumns(sql)} from scan_batches
    where status = 'running' and heartbeat_at < ${before}
    order by id
    for update skip locked`;
}

/** When each project was last scanned as a whole (by hand or on schedule). */
export async function lastProjectScanStarts(
  sql: Queryable,
  projectIds: readonly number[],
): Promise<Map<number, Date>> {
  if (projectIds.length === 0) return new Map();
  // One index probe per project (scan_batches_project_idx), however many batches the fleet has run.
  const rows = await sql<{ projectId: number; at: Date | null }[]>`
    select p.id as "projectId",
      (select b.started_at from scan_batches b
       where b.project_id = p.id and b.scope_kind = 'project'
       order by b.started_at desc limit 1) as at
    from unnest(${projectIds as number[]}::bigint[]) as p(id)`;
  return new Map(rows.filter((r) => r.at !== null).map((r) => [r.projectId, r.at!]));
}

// ---------------------------------------------------------------- scans

export async function insertScan(
  sql: Queryable,
  input: {
    batchId: number | null;
    serverId: number;
    projectId: number | null;
    triggeredBy: string;
    at: Date;
  },
): Promise<number> {
  const [row] = await sql<{ id: number }[]>`
    insert into scans (batch_id, server_id, project_id, started_at, triggered_by)
    values (${input.batchId}, ${input.serverId}, ${input.projectId}, ${input.at}, ${input.triggeredBy})
    returning id`;
  return row!.id;
}

export async function completeScanSucceeded(
  sql: Queryable,
  id: number,
  input: {
    at: Date;
    method: string;
    os: Record<string, unknown>;
    rebootRequired: boolean | null;
    counts: ScanCounts;
    problems: unknown[];
  },
): Promise<void> {
  await sql`
    update scans set status = 'succeeded', finished_at = ${input.at}, method = ${input.method},
      os = ${sql.json(input.os as never)}, reboot_required = ${input.rebootRequired},
      counts = ${sql.json(input.counts as never)}, problems = ${sql.json(input.problems as never)}
    where id = ${id} and status = 'running'`;
}

export async function completeScanFailed(
  sql: Queryable,
  id: number,
  input: { at: Date; kind: ScanErrorKind; message: string; method?: string | null; problems?: unknown[] },
): Promise<void> {
  await sql`
    update scans set status = 'failed', finished_at = ${input.at}, error_kind = ${input.kind},
      error_message = ${input.message}, method = coalesce(${input.method ?? null}, method),
      problems = ${sql.json((input.problems ?? []) as never)}
    where id = ${id} and status = 'running'`;
}

/** Marks a batch's still-running scans failed (the batch was interrupted); returns how many. */
export async function failRunningScansOfBatch(
  sql: Queryable,
  batchId: number,
  input: { at: Date; message: string },
): Promise<number> {
  const rows = await sql`
    update scans set status = 'failed', finished_at = ${input.at}, error_kind = 'interrupted',
      error_message = ${input.message}
    where batch_id = ${batchId} and status = 'running'
    returning id`;
  return rows.length;
}

/** How many of a batch's scans finished, and how many of those failed. */
export async function countBatchScans(
  sql: Queryable,
  batchId: number,
): Promise<{ done: number; failed: number }> {
  const [row] = await sql<{ done: number; failed: number }[]>`
    select (count(*) filter (where status <> 'running'))::int as done,
           (count(*) filter (where status = 'failed'))::int as failed
    from scans where batch_id = ${batchId}`;
  return row!;
}

export async function listScansOfBatch(sql: Queryable, batchId: number): Promise<ScanRecord[]> {
  return sql<ScanRecord[]>`
    select ${scanColumns(sql)} from scans c join servers s on s.id = c.server_id
    where c.batch_id = ${batchId} order by s.name, c.id`;
}

export async function listScansOfServer(
  sql: Queryable,
  serverId: number,
  limit: number,
): Promise<ScanRecord[]> {
  return sql<ScanRecord[]>`
    select ${scanColumns(sql)} from scans c join servers s on s.id = c.server_id
    where c.server_id = ${serverId} order by c.started_at desc, c.id desc limit ${limit}`;
}

// ---------------------------------------------------------------- per-server summary and rollups

export async function lockServerScanState(
  sql: Queryable,
  serverId: number,
): Promise<{ lastGoodScanId: number | null } | undefined> {
  const [row] = await sql<{ lastGoodScanId: number | null }[]>`
    select last_good_scan_id as "lastGoodScanId" from server_scan_state where server_id = ${serverId} for update`;
  return row;
}

export async function saveGoodScanState(
  sql: Queryable,
  input: {
    serverId: number;
    scanId: number;
    at: Date;
    open: {
      total: number;
      security: number;
      critical: number;
      oldestSecurity: Date | null;
      oldestCritical: Date | null;
    };
    rebootRequired: boolean | null;
    os: Record<string, unknown>;
  },
): Promise<void> {
  const o = input.open;
  await sql`
    insert into server_scan_state as t (server_id, last_scan_id, last_scan_at, last_scan_status, last_error_kind,
      last_error_message, last_good_scan_at, last_good_scan_id, consecutive_failures, open_total, open_security,
      open_critical, oldest_open_security_first_seen_at, oldest_open_critical_first_seen_at, reboot_required, os,
      updated_at)
    values (${input.serverId}, ${input.scanId}, ${input.at}, 'succeeded', null, null, ${input.at}, ${input.scanId}, 0,
      ${o.total}, ${o.security}, ${o.critical}, ${o.oldestSecurity}, ${o.oldestCritical}, ${input.rebootRequired},
      ${sql.json(input.os as never)}, ${input.at})
    on conflict (server_id) do update set
      last_scan_id = excluded.last_scan_id, last_scan_at = excluded.last_scan_at, last_scan_status = 'succeeded',
      last_error_kind = null, last_error_message = null, last_good_scan_at = excluded.last_good_scan_at,
      last_good_scan_id = excluded.last_good_scan_id, consecutive_failures = 0, open_total = excluded.open_total,
      open_security = excluded.open_security, open_critical = excluded.open_critical,
      oldest_open_security_first_seen_at = excluded.oldest_open_security_first_seen_at,
      oldest_open_critical_first_seen_at = excluded.oldest_open_critical_first_seen_at,
      reboot_required = excluded.reboot_required, os = excluded.os, updated_at = excluded.updated_at`;
}

/** A failed scan: the last good result and its findings stay as they were. */
export async function saveFailedScanState(
  sql: Queryable,
  input: { serverId: number; scanId: number; at: Date; kind: ScanErrorKind; message: string },
): Promise<void> {
  await sql`
    insert into server_scan_state as t (server_id, last_scan_id, last_scan_at, last_scan_status, last_error_kind,
      last_error_message, consecutive_failures, updated_at)
    values (${input.serverId}, ${input.scanId}, ${input.at}, 'failed', ${input.kind}, ${input.message}, 1, ${input.at})
    on conflict (server_id) do update set
      last_scan_id = excluded.last_scan_id, last_scan_at = excluded.last_scan_at, last_scan_status = 'failed',
      last_error_kind = excluded.last_error_kind, last_error_message = excluded.last_error_message,
      consecutive_failures = t.consecutive_failures + 1, updated_at = excluded.updated_at`;
}

/** Adds one scan to the server's row of the day (UTC), carrying the open counts of the summary row. */
export async function addToDailyRollup(
  sql: Queryable,
  input: { serverId: number; at: Date; succeeded: boolean; opened: number; resolved: number },
): Promise<void> {
  const day = input.at.toISOString().slice(0, 10);
  const failed = input.succeeded ? 0 : 1;
  await sql`
    insert into findings_daily as d (server_id, day, open_total, open_security, open_critical, opened, resolved, scans,
                                     failed_scans)
    select ${input.serverId}, ${day}::date, coalesce(st.open_total, 0), coalesce(st.open_security, 0),
           coalesce(st.open_critical, 0), ${input.opened}, ${input.resolved}, 1, ${failed}
    from (select 1) one left join server_scan_state st on st.server_id = ${input.serverId}
    on conflict (server_id, day) do update set
      open_total = excluded.open_total, open_security = excluded.open_security, open_critical = excluded.open_critical,
      opened = d.opened + excluded.opened, resolved = d.resolved + excluded.resolved, scans = d.scans + 1,
      failed_scans = d.failed_scans + excluded.failed_scans`;
}

/** Every server's scan summary (servers never scanned included, with nulls), by name. */
export async function listServerScanStates(
  sql: Queryable,
  filter: {
    projectIds: readonly number[] | null;
    projectId?: number;
    serverIds?: readonly number[];
    limit: number;
  },
): Promise<ServerScanState[]> {
  return sql<ServerScanState[]>`
    select s.id as "serverId", s.name as "serverName", s.project_id as "projectId", p.slug as "projectSlug",
      s.provider, st.last_scan_id as "lastScanId", st.last_scan_at as "lastScanAt",
      st.last_scan_status as "lastScanStatus", st.last_error_kind as "lastErrorKind",
      st.last_error_message as "lastErrorMessage", st.last_good_scan_at as "lastGoodScanAt",
      st.last_good_scan_id as "lastGoodScanId", coalesce(st.consecutive_failures, 0) as "consecutiveFailures",
      coalesce(st.open_total, 0) as "openTotal", coalesce(st.open_security, 0) as "openSecurity",
      coalesce(st.open_critical, 0) as "openCritical",
      st.oldest_open_security_first_seen_at as "oldestOpenSecurityFirstSeenAt",
      st.reboot_required as "rebootRequired", st.os
    from servers s
    left join projects p on p.id = s.project_id
    left join server_scan_state st on st.server_id = s.id
    where true
    ${filter.projectIds ? sql`and s.project_id = any(${filter.projectIds as number[]})` : sql``}
    ${filter.projectId !== undefined ? sql`and s.project_id = ${filter.projectId}` : sql``}
    ${filter.serverIds ? sql`and s.id = any(${filter.serverIds as number[]})` : sql``}
    order by s.name
    limit ${filter.limit}`;
}

// ---------------------------------------------------------------- what a scan needs to reach a server

/** Servers by id, as storage/inventory.ts shapes them. */
export async function getServersByIds(sql: Queryable, ids: readonly number[]): Promise<Server[]> {
  if (ids.length === 0) return [];
  return sql<Server[]>`
    select s.id, s.name, s.project_id as "projectId", p.slug as "projectSlug", s.account_id as "accountId",
           a.name as "accountName", s.provider, s.provider_id as "providerId", s.address, s.port, s.os, s.tags,
           s.owner_id as "ownerId", u.handle as "ownerHandle", s.connection,
           s.created_at as "createdAt", s.updated_at as "updatedAt"
    from servers s
    left join projects p on p.id = s.project_id
    left join accounts a on a.id = s.account_id
    left join users u on u.id = s.owner_id
    where s.id = any(${ids as number[]})
    order by s.name`;
}

export interface AccountRecord {
  id: number;
  name: string;
  provider: string;
  config: Record<string, unknown>;
  sealedCredentials: string | null;
}

export async function getAccount(sql: Queryable, id: number): Promise<AccountRecord | undefined> {
  const [row] = await sql<AccountRecord[]>`
    select id, name, provider, config, sealed_credentials as "sealedCredentials" from accounts where id = ${id}`;
  return row;
}

/** The first of these secrets that exists, in the order given. */
export async function firstSealedSecret(
  sql: Queryable,
  names: readonly string[],
): Promise<{ name: string; sealed: string } | undefined> {
  if (names.length === 0) return undefined;
  const rows = await sql<{ name: string; sealed: string }[]>`
    select name, sealed from secrets where name = any(${names as string[]})`;
  for (const name of names) {
    const row = rows.find((r) => r.name === name);
    if (row) return row;
  }
  return undefined;
}

/** Pins a host key seen on first contact; false when the server already had one (someone was first). */
export async function pinHostKey(
  sql: Queryable,
  serverId: number,
  fingerprint: string,
  at: Date,
): Promise<boolean> {
  const rows = await sql`
    update servers set connection = connection || jsonb_build_object('hostKey', ${fingerprint}::text),
      updated_at = ${at}
    where id = ${serverId} and not (connection ? 'hostKey')
    returning id`;
  return rows.length > 0;
}

export async function getPinnedHostKey(sql: Queryable, serverId: number): Promise<string | null> {
  const [row] = await sql<{ hostKey: string | null }[]>`
    select connection ->> 'hostKey' as "hostKey" from servers where id = ${serverId}`;
  return row?.hostKey ?? null;
}

// ---------------------------------------------------------------- chat notifications outside the trail

export interface OutboxInsert {
  channel: string;
  kind: string;
  payload: Record<string, unknown>;
  idempotencyKey: string;
  orderingKey: string | null;
  at: Date;
}

/**
 * Progress edits of a batch message are not state changes worth an audit event each, so they
 * go straight to the outbox (same delivery, ordering and retries as the trail's notifications).
 * A key already written is skipped.
 */
export async function insertOutboxItems(sql: Queryable, items: readonly OutboxInsert[]): Promise<void> {
  for (const item of items) {
    await sql`
      insert into outbox (channel, kind, payload, idempotency_key, ordering_key, next_attempt_at, created_at)
      values (${item.channel}, ${item.kind}, ${sql.json(item.payload as never)}, ${item.idempotencyKey},
              ${item.orderingKey}, ${item.at}, ${item.at})
      on conflict (idempotency_key) do nothing`;
  }
}

// ---------------------------------------------------------------- locks and lookups for scans and discovery

/** Locks a server's row while its scan result is written; false when the server is gone. */
export async function lockServerRow(sql: Queryable, serverId: number): Promise<boolean> {
  const rows = await sql`select id from servers where id = ${serverId} for update`;
  return rows.length > 0;
}

// Any constant: it only has to differ from the other advisory locks Warden takes.
const SCAN_SCHEDULE_LOCK = 0x5ca7_0001;

/** Serialises the scheduled-scan check across replicas until the transaction ends. */
export async function lockScanSchedule(sql: Queryable): Promise<void> {
  await sql`select pg_advisory_xact_lock(${SCAN_SCHEDULE_LOCK})`;
}

export async function projectSlugsByIds(
  sql: Queryable,
  ids: readonly number[],
): Promise<Map<number, string>> {
  if (ids.length === 0) return new Map();
  const rows = await sql<{ id: number; slug: string }[]>`
    select id, slug from projects where id = any(${ids as number[]})`;
  return new Map(rows.map((r) => [r.id, r.slug]));
}

export async function listAccounts(sql: Queryable): Promise<AccountRecord[]> {
  return sql<AccountRecord[]>`
    select id, name, provider, config, sealed_credentials as "sealedCredentials" from accounts order by name`;
}

export interface AccountServer {
  id: number;
  name: string;
  providerId: string;
  address: string | null;
  os: Record<string, string>;
  tags: Record<string, string>;
}

/** An account's servers that carry a provider id (the ones discovery matches). */
export async function serversOfAccount(sql: Queryable, accountId: number): Promise<AccountServer[]> {
  return sql<AccountServer[]>`
    select id, name, provider_id as "providerId", address, os, tags from servers
    where account_id = ${accountId} and provider_id is not null`;
}

export async function refreshDiscoveredServer(
  sql: Queryable,
  id: number,
  input: { address: string | null; os: Record<string, string>; tags: Record<string, string>; at: Date },
): Promise<void> {
  await sql`
    update servers set address = ${input.address}, os = ${sql.json(input.os)}, tags = ${sql.json(input.tags)},
      updated_at = ${input.at}
    where id = ${id}`;
}

export async function serverNameTaken(sql: Queryable, name: string): Promise<boolean> {
  return (await sql`select 1 from servers where name = ${name}`).length > 0;
}
