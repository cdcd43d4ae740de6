import type { Queryable } from './db.js';

/** Providers a server or account may live on (the CHECK in the foundation migration). */
export const PROVIDERS = ['local', 'ssh', 'aws', 'azure', 'gcp'] as const;
export type Provider = (typeof PROVIDERS)[number];

export interface Project {
  id: number;
  slug: string;
  name: string;
  description: string;
  channels: Record<string, string>;
  settings: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

export interface ProjectWithCount extends Project {
  serverCount: number;
}

/** The columns of a project that commands write. */
export interface ProjectWrite {
  slug: string;
  name: string;
  description: string;
  channels: Record<string, string>;
}

/** The columns of a server that commands write (ids already resolved from names). */
export interface ServerWrite {
  name: string;
  projectId: number | null;
  accountId: number | null;
  provider: Provider;
  providerId: string | null;
  address: string | null;
  port: number | null;
  os: Record<string, string>;
  tags: Record<string, string>;
  ownerId: number | null;
  connection: Record<string, unknown>;
}

export interface Server extends ServerWrite {
  id: number;
  projectSlug: string | null;
  accountName: string | null;
  ownerHandle: string | null;
  createdAt: Date;
  updatedAt: Date;
}

const projectColumns = (sql: Queryable) => sql`
  p.id, p.slug, p.name, p.description, p.channels, p.settings,
  p.created_at as "createdAt", p.updated_at as "updatedAt"`;

const serverSelect = (sql: Queryable) => sql`
  select s.id, s.name, s.project_id as "projectId", p.slug as "projectSlug", s.account_id as "accountId",
         a.name as "accountName", s.provider, s.provider_id as "providerId", s.address, s.port, s.os, s.tags,
         s.owner_id as "ownerId", u.handle as "ownerHandle", s.connection,
         s.created_at as "createdAt", s.updated_at as "updatedAt"
  from servers s
  left join projects p on p.id = s.project_id
  left join accounts a on a.id = s.account_id
  left join users u on u.id = s.owner_id`;

export async function getProjectBySlug(sql: Queryable, slug: string): Promise<Project | undefined> {
  const [row] = await sql<Project[]>`select ${projectColumns(sql)} from projects p where p.slug = ${slug}`;
  return row;
}

export async function getProjectById(sql: Queryable, id: number): Promise<Project | undefined> {
  const [row] = await sql<Project[]>`select ${projectColumns(sql)} from projects p where p.id = ${id}`;
  return row;
}

export async function getProjectsBySlugs(sql: Queryable, slugs: readonly string[]): Promise<Project[]> {
  if (slugs.length === 0) return [];
  return sql<Project[]>`
    select ${projectColumns(sql)} from projects p where p.slug = any(${slugs as string[]}) order by p.slug`;
}

/** Projects with their server counts; `projectIds` null lists every project. */
export async function listProjects(
  sql: Queryable,
  filter: { projectIds: readonly number[] | null },
): Promise<ProjectWithCount[]> {
  return sql<ProjectWithCount[]>`
    select ${projectColumns(sql)}, (select count(*) from servers s where s.project_id = p.id)::int as "serverCount"
    from projects p
    ${filter.projectIds ? sql`where p.id = any(${filter.projectIds as number[]})` : sql``}
    order by p.slug`;
}

export async function insertProject(sql: Queryable, input: ProjectWrite, at: Date): Promise<Project> {
  const [row] = await sql<Project[]>`
    insert into projects as p (slug, name, description, channels, created_at, updated_at)
    values (${input.slug}, ${input.name}, ${input.description}, ${sql.json(input.channels)}, ${at}, ${at})
    returning ${projectColumns(sql)}`;
  return row!;
}

export async function updateProject(
  sql: Queryable,
  id: number,
  input: ProjectWrite,
  at: Date,
): Promise<Project> {
  const [row] = await sql<Project[]>`
    update projects as p
    set name = ${input.name}, description = ${input.description}, channels = ${sql.json(input.channels)},
        updated_at = ${at}
    where p.id = ${id}
    returning ${projectColumns(sql)}`;
  return row!;
}

export async function getServerByName(sql: Queryable, name: string): Promise<Server | undefined> {
  const [row] = await sql<Server[]>`${serverSelect(sql)} where s.name = ${name}`;
  return row;
}

export async function getServersByNames(sql: Queryable, names: readonly string[]): Promise<Server[]> {
  if (names.length === 0) return [];
  return sql<Server[]>`${serverSelect(sql)} where s.name = any(${names as string[]}) order by s.name`;
}

export interface ServerFilter {
  /** Only servers in these projects; null: every server, including those in no project. */
  projectIds: readonly number[] | null;
  projectId?: number;
  /** `key` (has the tag) or `key` and `value` (has it with that value). */
  tag?: { key: string; value?: string };
  provider?: Provider;
  /** Keyset pagination: names sort after this one. */
  afterName?: string;
  limit: number;
}

/** Servers ordered by name, at most `limit` of them. */
export async function listServers(sql: Queryable, filter: ServerFilter): Promise<Server[]> {
  const tag = filter.tag;
  return sql<Server[]>`
    ${serverSelect(sql)}
    where true
    ${filter.projectIds ? sql`and s.project_id = any(${filter.projectIds as number[]})` : sql``}
    ${filter.projectId !== undefined ? sql`and s.project_id = ${filter.projectId}` : sql``}
    ${tag && tag.value === undefined ? sql`and s.tags ? ${tag.key}` : sql``}
    ${tag && tag.value !== undefined ? sql`and s.tags ->> ${tag.key} = ${tag.value}` : sql``}
    ${filter.provider ? sql`and s.provider = ${filter.provider}` : sql``}
    ${filter.afterName !== undefined ? sql`and s.name > ${filter.afterName}` : sql``}
    order by s.name
    limit ${filter.limit}`;
}

export async function insertServer(sql: Queryable, input: ServerWrite, at: Date): Promise<number> {
  const [row] = await sql<{ id: number }[]>`
    insert into servers (name, project_id, account_id, provider, provider_id, address, port, os, tags, owner_id,
                         connection, created_at, updated_at)
    values (${input.name}, ${input.projectId}, ${input.accountId}, ${input.provider}, ${input.providerId},
            ${input.address}, ${input.port}, ${sql.json(input.os)}, ${sql.json(input.tags)}, ${input.ownerId},
            ${sql.json(input.connection as never)}, ${at}, ${at})
    returning id`;
  return row!.id;
}

export async function updateServer(sql: Queryable, id: number, input: ServerWrite, at: Date): Promise<void> {
  await sql`
    update servers
    set name = ${input.name}, project_id = ${input.projectId}, account_id = ${input.accountId},
        provider = ${input.provider}, provider_id = ${input.providerId}, address = ${input.address},
        port = ${input.port}, os = ${sql.json(input.os)}, tags = ${sql.json(input.tags)}, owner_id = ${input.ownerId},
        connection = ${sql.json(input.connection as never)}, updated_at = ${at}
    where id = ${id}`;
}

export async function deleteServer(sql: Queryable, id: number): Promise<void> {
  await sql`delete from servers where id = ${id}`;
}

/** Account ids by name, for resolving `account:` in server input. */
export async function getAccountIdsByNames(
  sql: Queryable,
  names: readonly string[],
): Promise<Map<string, number>> {
  if (names.length === 0) return new Map();
  const rows = await sql<{ id: number; name: string }[]>`
    select id, name from accounts where name = any(${names as string[]})`;
  return new Map(rows.map((r) => [r.name, r.id]));
}

/** User ids by handle, for resolving `owner:` in server input. */
export async function getUserIdsByHandles(
  sql: Queryable,
  handles: readonly string[],
): Promise<Map<string, number>> {
  if (handles.length === 0) return new Map();
  const rows = await sql<{ id: number; handle: string }[]>`
    select id, handle from users where handle = any(${handles.map((h) => h.toLowerCase())})`;
  return new Map(rows.map((r) => [r.handle, r.id]));
}
