import { z } from 'zod';
import { AppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import {
  getProjectsBySlugs,
  getServerByName,
  getServersByNames,
  insertProject,
  insertServer,
  type ProjectWrite,
  updateProject as updateProjectRow,
  updateServer as updateServerRow,
} from '../../storage/inventory.js';
import { recordEvent } from '../audit/trail.js';
import type { Deps } from '../deps.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import { type InputIssue, issueAt, issuesFromZod, summarizeIssues } from './issues.js';
import { projectChanges } from './projects.js';
import { MAX_IMPORT_PROJECTS, MAX_IMPORT_SERVERS, ProjectCreate, ServerCreate } from './schema.js';
import { actorFacts, actorRef, type CallMeta, pgErrorCode } from './scope.js';
import {
  loadServerRefs,
  mergeServer,
  SERVER_DEFAULTS,
  serverAsInput,
  serverChanges,
} from './server-input.js';

export interface ImportOutcome {
  created: string[];
  updated: string[];
  unchanged: string[];
}

export interface ImportResult {
  projects: ImportOutcome;
  servers: ImportOutcome;
}

/** The outer shape only; entries are parsed one by one so every bad entry is reported. */
const Envelope = z
  .object({
    projects: z.array(z.unknown()).max(MAX_IMPORT_PROJECTS).optional(),
    servers: z.array(z.unknown()).max(MAX_IMPORT_SERVERS).optional(),
  })
  .strict();

function invalid(issues: InputIssue[]): AppError {
  const entries = new Set(issues.map((i) => `${i.section}[${i.index}]`)).size;
  return new AppError(
    'bad_request',
    `nothing was imported: ${entries} ${entries === 1 ? 'entry has' : 'entries have'} problems: ${summarizeIssues(issues)}`,
    { details: { issues } },
  );
}

function parseEntries(input: unknown) {
  const envelope = Envelope.safeParse(input);
  if (!envelope.success) throw invalid(issuesFromZod(envelope.error.issues));
  const issues: InputIssue[] = [];
  const projects: ProjectCreate[] = [];
  const servers: ServerCreate[] = [];
  const seenSlugs = new Set<string>();
  const seenNames = new Set<string>();
  for (const [i, raw] of (envelope.data.projects ?? []).entries()) {
    const r = ProjectCreate.safeParse(raw);
    if (!r.success) issues.push(...issuesFromZod(r.error.issues, ['projects', i]));
    else if (seenSlugs.has(r.data.slug)) {
      issues.push(issueAt(['projects', i, 'slug'], `project "${r.data.slug}" appears twice`));
    } else {
      seenSlugs.add(r.data.slug);
      projects.push(r.data);
    }
  }
  for (const [i, raw] of (envelope.data.servers ?? []).entries()) {
    const r = ServerCreate.safeParse(raw);
    if (!r.success) issues.push(...issuesFromZod(r.error.issues, ['servers', i]));
    else if (seenNames.has(r.data.name)) {
      issues.push(issueAt(['servers', i, 'name'], `server "${r.data.name}" appears twice`));
    } else {
      seenNames.add(r.data.name);
      servers.push(r.data);
    }
  }
  return { projects, servers, issues };
}

/**
 * Create or update projects and servers from one document, all or nothing: every entry is
 * checked (shape, references, permissions) before anything is written, and the writes share one
 * transaction. Entries are matched by slug and name, and fields an entry leaves out stay as they
 * are, so importing the same document twice changes nothing the second time.
 */
export async function importInventory(
  input: unknown,
  deps: Deps,
  actor: Actor,
  meta: CallMeta = {},
): Promise<ImportResult> {
  const { projects, servers, issues } = parseEntries(input);
  // From here on, entry i of `servers` is entry i of the caller's document (nothing was dropped).
  if (issues.length > 0) throw invalid(issues);
  const result: ImportResult = {
    projects: { created: [], updated: [], unchanged: [] },
    servers: { created: [], updated: [], unchanged: [] },
  };
  try {
    await withTx(deps.sql, async (tx) => {
      const existingProjects = new Map(
        (
          await getProjectsBySlugs(
            tx,
            projects.map((p) => p.slug),
          )
        ).map((p) => [p.slug, p]),
      );
      const existingServers = new Map(
        (
          await getServersByNames(
            tx,
            servers.map((s) => s.name),
          )
        ).map((s) => [s.name, s]),
      );
      const refs = await loadServerRefs(tx, servers);
      const importedSlugs = new Set(projects.map((p) => p.slug));
      const importedNames = new Set(servers.map((s) => s.name));
      const jumps = servers.flatMap((s) => (s.connection?.jump ? [s.connection.jump] : []));
      const knownJumps = new Set((await getServersByNames(tx, jumps)).map((s) => s.name));

      const refIssues: InputIssue[] = [];
      servers.forEach((s, i) => {
        if (s.project && !refs.projects.has(s.project) && !importedSlugs.has(s.project)) {
          refIssues.push(
            issueAt(['servers', i, 'project'], `there is no project "${s.project}" here or in the database`),
          );
        }
        if (s.account && !refs.accounts.has(s.account)) {
          refIssues.push(issueAt(['servers', i, 'account'], `there is no account "${s.account}"`));
        }
        if (s.owner && !refs.owners.has(s.owner)) {
          refIssues.push(issueAt(['servers', i, 'owner'], `there is no user "${s.owner}"`));
        }
        const jump = s.connection?.jump;
        if (jump && !importedNames.has(jump) && !knownJumps.has(jump)) {
          refIssues.push(
            issueAt(['servers', i, 'connection.jump'], `there is no server "${jump}" to jump through`),
          );
        }
      });
      if (refIssues.length > 0) throw invalid(refIssues);

      // Permissions, before any write: importing an entry means being allowed to write it.
      for (const p of projects) authorize(actor, 'inventory:write', existingProjects.get(p.slug) ?? null);
      for (const s of servers) {
        const current = existingServers.get(s.name);
        if (current) {
          authorize(
            actor,
            'inventory:write',
            current.projectId === null ? null : { id: current.projectId, slug: current.projectSlug ?? '' },
          );
        }
        const target = s.project === undefined ? undefined : s.project === null ? null : s.project;
        if (target !== undefined && (!current || target !== current.projectSlug)) {
          authorize(actor, 'inventory:write', target === null ? null : (refs.projects.get(target) ?? null));
        }
      }

      const at = deps.clock.now();
      const event = (action: string, type: string, id: string, projectId: number | null, data: object) =>
        recordEvent(tx, deps, {
          actor: actorRef(actor),
          action,
          subject: { type, id },
          projectId,
          data: { ...actorFacts(actor), source: 'import', ...data },
          requestId: meta.requestId,
        });

      for (const p of projects) {
        const current = existingProjects.get(p.slug);
        if (!current) {
          const write: ProjectWrite = {
            slug: p.slug,
            name: p.name,
            description: p.description ?? '',
            channels: p.channels ?? {},
          };
          const created = await insertProject(tx, write, at);
          refs.projects.set(created.slug, created);
          await event('project.created', 'project', created.slug, created.id, {
            slug: created.slug,
            name: created.name,
          });
          result.projects.created.push(p.slug);
          continue;
        }
        const next: ProjectWrite = {
          slug: current.slug,
          name: p.name,
          description: p.description ?? current.description,
          channels: p.channels ?? current.channels,
        };
        const changes = projectChanges(current, next);
        if (Object.keys(changes).length === 0) {
          result.projects.unchanged.push(p.slug);
          continue;
        }
        refs.projects.set(p.slug, await updateProjectRow(tx, current.id, next, at));
        await event('project.updated', 'project', p.slug, current.id, { changes });
        result.projects.updated.push(p.slug);
      }

      for (const s of servers) {
        const current = existingServers.get(s.name);
        if (!current) {
          await insertServer(tx, mergeServer({ name: s.name, ...SERVER_DEFAULTS }, s, refs), at);
          const created = (await getServerByName(tx, s.name))!;
          await event('server.created', 'server', s.name, created.projectId, {
            server: serverAsInput(created),
          });
          result.servers.created.push(s.name);
          continue;
        }
        const changes = serverChanges(current, s);
        if (Object.keys(changes).length === 0) {
          result.servers.unchanged.push(s.name);
          continue;
        }
        const next = mergeServer(current, s, refs);
        await updateServerRow(tx, current.id, next, at);
        await event('server.updated', 'server', s.name, next.projectId, { changes });
        result.servers.updated.push(s.name);
      }

      const changed =
        result.projects.created.length +
        result.projects.updated.length +
        result.servers.created.length +
        result.servers.updated.length;
      if (changed > 0) {
        await recordEvent(tx, deps, {
          actor: actorRef(actor),
          action: 'inventory.imported',
          data: {
            ...actorFacts(actor),
            projects: counts(result.projects),
            servers: counts(result.servers),
          },
          requestId: meta.requestId,
        });
      }
    });
  } catch (error) {
    if (pgErrorCode(error) === '23505') {
      throw new AppError(
        'conflict',
        'nothing was imported: two servers would share one provider id in the same account; make them unique',
        { cause: error },
      );
    }
    throw error;
  }
  return result;
}

function counts(o: ImportOutcome) {
  return { created: o.created.length, updated: o.updated.length, unchanged: o.unchanged.length };
}
