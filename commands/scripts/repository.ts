import { AppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import {
  getCurrentScriptVersion,
  getScriptVersion,
  listCurrentScriptVersions,
  listScriptVersions,
  lockScriptByName,
  type ScriptVersionRow,
} from '../../storage/scripts.js';
import type { Deps } from '../deps.js';
import { quoteForMessage } from '../grammar.js';
import { type CallMeta, holdsAnywhere } from '../inventory/scope.js';
import { type Actor, authorize } from '../rbac/authorize.js';
import type { Permission } from '../rbac/roles.js';
import { headerOf, normalizeDefinition, SCRIPT_NAME_PATTERN, type ScriptUpdate } from './definition.js';
import { definitionOf, type SavedVersion, SOP_APPROVE, saveScriptVersion } from './versions.js';

/**
 * The script repository's use cases: create and change scripts (sop:manage, globally), and read
 * them (anyone who may manage, review or run them). Each change is a version (versions.ts).
 */
export const MAX_SCRIPTS_LISTED = 500;
const MAX_VERSIONS_LISTED = 200;

/** May the actor see this script: they manage or review scripts, or may run it somewhere. */
export function maySeeScript(actor: Actor, version: Pick<ScriptVersionRow, 'permission'>): boolean {
  return (
    holdsAnywhere(actor, 'sop:manage') ||
    holdsAnywhere(actor, SOP_APPROVE) ||
    holdsAnywhere(actor, version.permission as Permission)
  );
}

function notFound(name: string): AppError {
  return new AppError(
    'not_found',
    `there is no script ${quoteForMessage(name)}; type \`scripts\` to list the ones you may run`,
  );
}

/** The current version of `name`, refused as not found when the actor may not see it. */
export async function getScript(deps: Deps, actor: Actor, name: string): Promise<ScriptVersionRow> {
  const version = SCRIPT_NAME_PATTERN.test(name) ? await getCurrentScriptVersion(deps.sql, name) : undefined;
  if (!version || !maySeeScript(actor, version)) throw notFound(name);
  return version;
}

export async function listScripts(deps: Deps, actor: Actor): Promise<ScriptVersionRow[]> {
  const all = await listCurrentScriptVersions(deps.sql, MAX_SCRIPTS_LISTED);
  return all.filter((v) => maySeeScript(actor, v));
}

export async function listVersionsOf(deps: Deps, actor: Actor, name: string): Promise<ScriptVersionRow[]> {
  await getScript(deps, actor, name);
  return listScriptVersions(deps.sql, name, MAX_VERSIONS_LISTED);
}

export async function getVersionOf(
  deps: Deps,
  actor: Actor,
  name: string,
  version: number,
): Promise<ScriptVersionRow> {
  await getScript(deps, actor, name);
  const row = await getScriptVersion(deps.sql, name, version);
  if (!row) throw new AppError('not_found', `${name} has no version ${version}`);
  return row;
}

/** A new script (its version 1). Refused with `conflict` when the name is taken. */
export async function createScript(
  deps: Deps,
  actor: Actor,
  input: unknown,
  meta: CallMeta & { source?: string } = {},
): Promise<SavedVersion> {
  authorize(actor, 'sop:manage', null);
  const definition = normalizeDefinition(input);
  const saved = await withTx(deps.sql, async (tx) => {
    if (await getCurrentScriptVersion(tx, definition.name)) {
      throw new AppError(
        'conflict',
        `a script named ${definition.name} already exists; change it instead (PATCH /api/v1/scripts/${definition.name})`,
      );
    }
    return saveScriptVersion(tx, deps, {
      actor,
      definition,
      source: meta.source ?? `${actor.via}`,
      ...(meta.requestId ? { requestId: meta.requestId } : {}),
    });
  });
  deps.kickOutbox?.();
  return saved;
}

/** Change a script: fields left out stay as they are. An identical result makes no version. */
export async function updateScript(
  deps: Deps,
  actor: Actor,
  name: string,
  patch: ScriptUpdate,
  meta: CallMeta & { source?: string } = {},
): Promise<SavedVersion> {
  authorize(actor, 'sop:manage', null);
  if (!SCRIPT_NAME_PATTERN.test(name)) throw notFound(name);
  const saved = await withTx(deps.sql, async (tx) => {
    // Locked first, so the fields left out come from the version this change replaces.
    await lockScriptByName(tx, name);
    const current = await getCurrentScriptVersion(tx, name);
    if (!current) throw notFound(name);
    const base = definitionOf(current);
    const definition = normalizeDefinition({ ...headerOf(base), body: base.body, ...patch, name });
    return saveScriptVersion(tx, deps, {
      actor,
      definition,
      source: meta.source ?? `${actor.via}`,
      ...(meta.requestId ? { requestId: meta.requestId } : {}),
    });
  });
  deps.kickOutbox?.();
  return saved;
}
