import { z } from 'zod';
import { decodeCursor, encodeCursor } from '../../../commands/inventory/paging.js';
import { cancelRun } from '../../../commands/scripts/cancel.js';
import { ScriptInput, ScriptName, ScriptUpdate } from '../../../commands/scripts/definition.js';
import { importScripts } from '../../../commands/scripts/import.js';
import { getRunDetail, getRunOutput, listRunsFor } from '../../../commands/scripts/queries.js';
import {
  createScript,
  getScript,
  getVersionOf,
  listScripts,
  listVersionsOf,
  updateScript,
} from '../../../commands/scripts/repository.js';
import { MAX_CONCURRENCY, startRun } from '../../../commands/scripts/run.js';
import { type ApiRoute, defineRoute } from '../registry.js';
import { pageOf } from '../views.js';
import {
  CancelledRunView,
  RunDetailView,
  RunOutputView,
  RunView,
  runOutputView,
  runServerView,
  runView,
  SavedScriptView,
  ScriptImportView,
  ScriptVersionSummaryView,
  ScriptVersionView,
  StartedRunView,
  scriptVersionView,
} from './scripts-views.js';

const NameParam = z.object({ name: ScriptName });
const RunIdParam = z.object({ id: z.coerce.number().int().min(1).describe('the run number') });
const ParamValue = z.union([z.string(), z.number(), z.array(z.string())]);

const RunCreate = z
  .object({
    script: ScriptName,
    target: z
      .string()
      .min(1)
      .max(300)
      .describe('a server, a project, server:<name>, project:<slug> or tag:<key>[=<value>]'),
    params: z
      .record(z.string(), ParamValue)
      .optional()
      .describe('by parameter name; checked against the script'),
    concurrency: z.int().min(1).max(MAX_CONCURRENCY).optional().describe('servers at once (default 10)'),
  })
  .strict();

const RunQuery = z
  .object({
    script: ScriptName.optional(),
    limit: z.coerce.number().int().min(1).max(200).optional().describe('page size (default 50)'),
    cursor: z.string().max(200).optional().describe('the nextCursor of the previous page'),
  })
  .strict();

const ImportBody = z
  .object({
    files: z
      .array(z.object({ path: z.string().min(1).max(300), content: z.string() }).strict())
      .min(1)
      .max(1000)
      .describe('script files with their front matter, as in the repository'),
  })
  .strict();

export const scriptRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/scripts',
    operationId: 'listScripts',
    summary: 'The scripts you may run, manage or review, each at its current version',
    tag: 'scripts',
    permission: null,
    response: z.object({ items: z.array(ScriptVersionSummaryView) }),
    handler: async ({ deps, actor }) => ({
      items: (await listScripts(deps, actor)).map((v) => scriptVersionView(v)),
    }),
  }),
  defineRoute({
    method: 'post',
    path: '/scripts',
    operationId: 'createScript',
    summary: 'Add a script (sop:manage); a high-risk one needs its review approved before it runs',
    tag: 'scripts',
    permission: 'sop:manage',
    body: ScriptInput,
    response: SavedScriptView,
    status: 201,
    handler: async ({ body, deps, actor, meta }) => {
      const saved = await createScript(deps, actor, body, { ...meta, source: 'api' });
      return {
        changed: saved.changed,
        approvalId: saved.approvalId,
        script: scriptVersionView(saved.version, true),
      };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/scripts/import',
    operationId: 'importScripts',
    summary: 'Import script files with front matter, all or nothing; unchanged files make no version',
    tag: 'scripts',
    permission: 'sop:manage',
    body: ImportBody,
    response: ScriptImportView,
    handler: async ({ body, deps, actor, meta }) => importScripts(deps, actor, body.files, meta),
  }),
  defineRoute({
    method: 'get',
    path: '/scripts/{name}',
    operationId: 'getScript',
    summary: 'A script at its current version, with its body',
    tag: 'scripts',
    permission: null,
    params: NameParam,
    response: ScriptVersionView,
    handler: async ({ params, deps, actor }) =>
      scriptVersionView(await getScript(deps, actor, params.name), true),
  }),
  defineRoute({
    method: 'patch',
    path: '/scripts/{name}',
    operationId: 'updateScript',
    summary: 'Change a script: a new version with you as author and a diff; fields left out stay',
    tag: 'scripts',
    permission: 'sop:manage',
    params: NameParam,
    body: ScriptUpdate,
    response: SavedScriptView,
    handler: async ({ params, body, deps, actor, meta }) => {
      const saved = await updateScript(deps, actor, params.name, body, { ...meta, source: 'api' });
      return {
        changed: saved.changed,
        approvalId: saved.approvalId,
        script: scriptVersionView(saved.version, true),
      };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/scripts/{name}/versions',
    operationId: 'listScriptVersions',
    summary: 'Every version of a script, newest first',
    tag: 'scripts',
    permission: null,
    params: NameParam,
    response: z.object({ items: z.array(ScriptVersionSummaryView) }),
    handler: async ({ params, deps, actor }) => ({
      items: (await listVersionsOf(deps, actor, params.name)).map((v) => scriptVersionView(v)),
    }),
  }),
  defineRoute({
    method: 'get',
    path: '/scripts/{name}/versions/{version}',
    operationId: 'getScriptVersion',
    summary: 'One version of a script, with its body and its diff from the one before',
    tag: 'scripts',
    permission: null,
    params: z.object({ name: ScriptName, version: z.coerce.number().int().min(1) }),
    response: ScriptVersionView,
    handler: async ({ params, deps, actor }) =>
      scriptVersionView(await getVersionOf(deps, actor, params.name, params.version), true),
  }),
  defineRoute({
    method: 'post',
    path: '/script-runs',
    operationId: 'startScriptRun',
    summary: 'Run a script on a server, project or tag; a high-risk one waits for approval',
    description:
      "Needs the script's permission (sop:run:<script>, or sop:run:*) on every project concerned. Parameters are " +
      'checked against their types and reach the script only as WARDEN_PARAM_<NAME> variables and arguments.',
    tag: 'scripts',
    permission: null,
    body: RunCreate,
    response: StartedRunView,
    status: 201,
    handler: async ({ body, deps, actor, meta }) => {
      const started = await startRun(deps, actor, body, meta);
      return { ...runView(started.run), serverCount: started.serverCount };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/script-runs',
    operationId: 'listScriptRuns',
    summary: 'Script runs you may see, newest first, a page at a time',
    tag: 'scripts',
    permission: null,
    query: RunQuery,
    response: pageOf(RunView),
    handler: async ({ query, deps, actor }) => {
      const limit = query.limit ?? 50;
      const beforeId = query.cursor ? decodeCursor<number>(query.cursor, 'number') : undefined;
      const page = await listRunsFor(deps, actor, {
        ...(query.script ? { script: query.script } : {}),
        ...(beforeId !== undefined ? { beforeId } : {}),
        limit,
      });
      return {
        items: page.items.map(runView),
        nextCursor: page.lastId === null ? null : encodeCursor(page.lastId),
      };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/script-runs/{id}',
    operationId: 'getScriptRun',
    summary: 'A run with each server’s status, exit code and duration',
    tag: 'scripts',
    permission: null,
    params: RunIdParam,
    response: RunDetailView,
    handler: async ({ params, deps, actor }) => {
      const { run, servers } = await getRunDetail(deps, actor, params.id);
      return { ...runView(run), servers: servers.map(runServerView) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/script-runs/{id}/servers/{server}/output',
    operationId: 'getScriptRunOutput',
    summary: 'One server’s full output of a run (chat shows it cut)',
    tag: 'scripts',
    permission: null,
    params: z.object({ id: RunIdParam.shape.id, server: z.string().min(1).max(128) }),
    response: RunOutputView,
    handler: async ({ params, deps, actor }) =>
      runOutputView(await getRunOutput(deps, actor, params.id, params.server)),
  }),
  defineRoute({
    method: 'post',
    path: '/script-runs/{id}/cancel',
    operationId: 'cancelScriptRun',
    summary: 'Cancel a run: servers not started never start, running scripts get TERM',
    tag: 'scripts',
    permission: null,
    params: RunIdParam,
    response: CancelledRunView,
    handler: async ({ params, deps, actor }) => {
      const cancelled = await cancelRun(deps, actor, params.id);
      return {
        run: runView(cancelled.run),
        notStarted: cancelled.notStarted,
        signalled: cancelled.signalled,
      };
    },
  }),
];
