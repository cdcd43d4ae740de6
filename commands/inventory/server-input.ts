import { canonicalJson } from '../../lib/canonical-json.js';
import type { Queryable } from '../../storage/db.js';
import {
  getAccountIdsByNames,
  getProjectsBySlugs,
  getUserIdsByHandles,
  type Project,
  type Server,
  type ServerWrite,
} from '../../storage/inventory.js';
import { type InputIssue, issueAt } from './issues.js';
import type { ServerPatch } from './schema.js';

/**
 * Server input as callers write it (project slugs, user handles, account names) against the
 * stored row (ids): resolving the names, applying input over a row, and saying what changed.
 */
export const SERVER_DEFAULTS: Omit<ServerWrite, 'name'> = {
  projectId: null,
  accountId: null,
  provider: 'ssh',
  providerId: null,
  address: null,
  port: null,
  os: {},
  tags: {},
  ownerId: null,
  connection: {},
};

/** Names in server input resolved to rows: projects by slug, accounts and owners to ids. */
export interface ServerRefs {
  projects: Map<string, Project>;
  accounts: Map<string, number>;
  owners: Map<string, number>;
}

export async function loadServerRefs(sql: Queryable, inputs: readonly ServerPatch[]): Promise<ServerRefs> {
  const slugs = new Set<string>();
  const accounts = new Set<string>();
  const owners = new Set<string>();
  for (const s of inputs) {
    if (s.project) slugs.add(s.project);
    if (s.account) accounts.add(s.account);
    if (s.owner) owners.add(s.owner);
  }
  const projects = await getProjectsBySlugs(sql, [...slugs]);
  return {
    projects: new Map(projects.map((p) => [p.slug, p])),
    accounts: await getAccountIdsByNames(sql, [...accounts]),
    owners: await getUserIdsByHandles(sql, [...owners]),
  };
}

/** Issues for names that point at nothing, located under `base` (e.g. ['servers', 3]). */
export function serverRefIssues(
  input: ServerPatch,
  refs: ServerRefs,
  base: PropertyKey[] = [],
): InputIssue[] {
  const issues: InputIssue[] = [];
  if (input.project && !refs.projects.has(input.project)) {
    issues.push(issueAt([...base, 'project'], `there is no project "${input.project}"`));
  }
  if (input.account && !refs.accounts.has(input.account)) {
    issues.push(issueAt([...base, 'account'], `there is no account "${input.account}"`));
  }
  if (input.owner && !refs.owners.has(input.owner)) {
    issues.push(issueAt([...base, 'owner'], `there is no user "${input.owner}"`));
  }
  return issues;
}

/** Apply input to a server: fields left out keep `base`'s values. Refs must already be checked. */
export function mergeServer(base: ServerWrite, input: ServerPatch, refs: ServerRefs): ServerWrite {
  const ref = <T>(
    value: string | null | undefined,
    map: Map<string, T>,
    keep: number | null,
    pick: (t: T) => number,
  ) => (value === undefined ? keep : value === null ? null : pick(map.get(value)!));
  return {
    name: input.name ?? base.name,
    projectId: ref(input.project, refs.projects, base.projectId, (p) => p.id),
    accountId: ref(input.account, refs.accounts, base.accountId, (id) => id),
    ownerId: ref(input.owner, refs.owners, base.ownerId, (id) => id),
    provider: input.provider ?? base.provider,
    providerId: input.providerId === undefined ? base.providerId : input.providerId,
    address: input.address === undefined ? base.address : input.address,
    port: input.port === undefined ? base.port : input.port,
    os: input.os ?? base.os,
    tags: input.tags ?? base.tags,
    connection: input.connection ?? base.connection,
  };
}

/** A server as the caller names things (slugs and handles rather than ids). */
export function serverAsInput(s: Server): Required<{ [K in keyof ServerPatch]-?: unknown }> {
  return {
    name: s.name,
    project: s.projectSlug,
    provider: s.provider,
    providerId: s.providerId,
    account: s.accountName,
    address: s.address,
    port: s.port,
    os: s.os,
    tags: s.tags,
    owner: s.ownerHandle,
    connection: s.connection,
  };
}

/** `{ field: { from, to } }` for the fields of `input` that differ from `current`. */
export function serverChanges(
  current: Server,
  input: ServerPatch,
): Record<string, { from: unknown; to: unknown }> {
  const before = serverAsInput(current);
  const changes: Record<string, { from: unknown; to: unknown }> = {};
  for (const [key, to] of Object.entries(input)) {
    if (to === undefined) continue;
    const from = before[key as keyof typeof before];
    if (canonicalJson(from) !== canonicalJson(to)) changes[key] = { from, to };
  }
  return changes;
}
