import type { Queryable } from './db.js';

/**
 * The script repository, its runs and their per-server results (migration 1700000000070).
 * Times are always passed in (the caller's clock), never SQL `now()`.
 */
export type ScriptLanguage = 'bash' | 'sh' | 'powershell';
export type ScriptRisk = 'low' | 'high';
export type ScriptOs = 'linux' | 'windows';
export type VersionApprovalState = 'not-needed' | 'pending' | 'approved' | 'denied';

export interface ScriptRow {
  id: number;
  name: string;
  currentVersionId: number | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface ScriptVersionRow {
  id: number;
  scriptId: number;
  scriptName: string;
  version: number;
  description: string;
  language: ScriptLanguage;
  body: string;
  params: unknown[];
  os: ScriptOs[];
  risk: ScriptRisk;
  timeoutMs: number;
  permission: string;
  definitionHash: string;
  diff: string;
  authorId: number | null;
  author: string;
  source: string;
  approvalState: VersionApprovalState;
  approvalId: number | null;
  approvedAt: Date | null;
  createdAt: Date;
}

export type NewScriptVersion = Omit<
  ScriptVersionRow,
  'id' | 'scriptName' | 'approvalId' | 'approvedAt' | 'createdAt'
>;

const versionSelect = (sql: Queryable) => sql`
  select v.id, v.script_id as "scriptId", s.name as "scriptName", v.version, v.description, v.language, v.body,
         v.params, v.os, v.risk, v.timeout_ms as "timeoutMs", v.permission, v.definition_hash as "definitionHash",
         v.diff, v.author_id as "authorId", v.author, v.source, v.approval_state as "approvalState",
         v.approval_id as "approvalId", v.approved_at as "approvedAt", v.created_at as "createdAt"
  from script_versions v join scripts s on s.id = v.script_id`;

const scriptColumns = (sql: Queryable) => sql`
  id, name, current_version_id as "currentVersionId", created_at as "createdAt", updated_at as "updatedAt"`;

/** The script row, locked so that two edits of one script make versions one after the other. */
export async function lockScriptByName(sql: Queryable, name: string): Promise<ScriptRow | undefined> {
  const [row] = await sql<
    ScriptRow[]
  >`select ${scriptColumns(sql)} from scripts where name = ${name} for update`;
  return row;
}

export async function insertScript(sql: Queryable, name: string, at: Date): Promise<ScriptRow> {
  const [row] = await sql<ScriptRow[]>`
    insert into scripts (name, created_at, updated_at) values (${name}, ${at}, ${at})
    returning ${scriptColumns(sql)}`;
  return row!;
}

export async function insertScriptVersion(
  sql: Queryable,
  input: NewScriptVersion,
  at: Date,
): Promise<ScriptVersionRow> {
  const [row] = await sql<{ id: number }[]>`
    insert into script_versions (script_id, version, description, language, body, params, os, risk, timeout_ms,
                                 permission, definition_hash, diff, author_id, author, source, approval_state,
                                 created_at)
    values (${input.scriptId}, ${input.version}, ${input.description}, ${input.language}, ${input.body},
            ${sql.json(input.params as never)}, ${input.os as string[]}, ${input.risk}, ${input.timeoutMs},
            ${input.permission}, ${input.definitionHash}, ${input.diff}, ${input.authorId}, ${input.author},
            ${input.source}, ${input.approvalState}, ${at})
    returning id`;
  return (await getScriptVersionById(sql, row!.id))!;
}

/** Make `versionId` the one new runs use. */
export async function setCurrentScriptVersion(
  sql: Queryable,
  scriptId: number,
  versionId: number,
  at: Date,
): Promise<void> {
  await sql`update scripts set current_version_id = ${versionId}, updated_at = ${at} where id = ${scriptId}`;
}

export async function getScriptVersionById(
  sql: Queryable,
  id: number,
): Promise<ScriptVersionRow | undefined> {
  const [row] = await sql<ScriptVersionRow[]>`${versionSelect(sql)} where v.id = ${id}`;
  return row;
}

/** The current version of a script by name. */
export async function getCurrentScriptVersion(
  sql: Queryable,
  name: string,
): Promise<ScriptVersionRow | undefined> {
  const [row] = await sql<ScriptVersionRow[]>`
    ${versionSelect(sql)} where s.name = ${name} and v.id = s.current_version_id`;
  return row;
}

export async function getScriptVersion(
  sql: Queryable,
  name: string,
  version: number,
): Promise<ScriptVersionRow | undefined> {
  const [row] = await sql<
    ScriptVersionRow[]
  >`${versionSelect(sql)} where s.name = ${name} and v.version = ${version}`;
  return row;
}

/** Every script's current version, by name. */
export async function listCurrentScriptVersions(sql: Queryable, limit: number): Promise<ScriptVersionRow[]> {
  return sql<ScriptVersionRow[]>`
    ${versionSelect(sql)} where v.id = s.current_version_id order by s.name limit ${limit}`;
}

/** A script's versions, newest first. */
export async function listScriptVersions(
  sql: Queryable,
  name: string,
  limit: number,
): Promise<ScriptVersionRow[]> {
  return sql<
    ScriptVersionRow[]
  >`${versionSelect(sql)} where s.name = ${name} order by v.version desc limit ${limit}`;
}

export async function setVersionApproval(
  sql: Queryable,
  id: number,
  input: { state: VersionApprovalState; approvalId: number | null; at: Date | null },
): Promise<void> {
  await sql`
    update script_versions
    set approval_state = ${input.state}, approval_id = coalesce(${input.approvalId}, approval_id),
        approved_at = ${input.state === 'approved' ? input.at : null}
    where id = ${id}`;
}
