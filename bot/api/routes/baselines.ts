import { z } from 'zod';
import { BASELINES } from '../../../commands/baselines/default-linux.js';
import { baselineStatus, runBaselineNow } from '../../../commands/baselines/queries.js';
import { requestRemediation } from '../../../commands/baselines/remediate.js';
import type { BaselineRunOutcome } from '../../../commands/baselines/run.js';
import { type ApiRoute, defineRoute } from '../registry.js';

/** Configuration baselines: the checks (as data), a server's results, a run now, a remediation request. */
const ServerName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a server name');
const CheckView = z.object({
  id: z.string(),
  title: z.string(),
  level: z.int(),
  argv: z.array(z.string()),
  root: z.boolean(),
  pass: z.record(z.string(), z.union([z.string(), z.number()])),
  advice: z.string().nullable(),
  remediation: z.object({ summary: z.string(), risk: z.enum(['low', 'medium', 'high']) }).nullable(),
});
const StateView = z.object({
  server: z.string(),
  check: z.string(),
  title: z.string(),
  level: z.int(),
  status: z.enum(['pass', 'fail', 'unknown']),
  since: z.iso.datetime(),
  lastResult: z.enum(['pass', 'fail', 'error']),
  evidence: z.string(),
  checkedAt: z.iso.datetime(),
});
const ResultView = z.object({
  check: z.string(),
  status: z.enum(['pass', 'fail', 'error']),
  evidence: z.string(),
  exitCode: z.int().nullable(),
});
const RunView = z.object({
  runId: z.int(),
  server: z.string(),
  status: z.enum(['succeeded', 'failed']),
  error: z.string().nullable(),
  results: z.array(ResultView),
  drifted: z.array(z.string()),
  restored: z.array(z.string()),
});

function runView(o: BaselineRunOutcome): z.input<typeof RunView> {
  return {
    runId: o.runId,
    server: o.serverName,
    status: o.status,
    error: o.error,
    results: o.results.map((r) => ({
      check: r.checkId,
      status: r.status,
      evidence: r.evidence,
      exitCode: r.exitCode,
    })),
    drifted: o.drifted,
    restored: o.restored,
  };
}

export const baselineRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/baselines',
    operationId: 'listBaselines',
    summary: 'The configuration baselines and their checks, as the data that runs them',
    tag: 'baselines',
    permission: 'compliance:read',
    response: z.object({
      items: z.array(
        z.object({
          name: z.string(),
          title: z.string(),
          families: z.array(z.string()),
          checks: z.array(CheckView),
        }),
      ),
    }),
    handler: async () => ({
      items: [...BASELINES.values()].map((b) => ({
        name: b.name,
        title: b.title,
        families: b.families,
        checks: b.checks.map((c) => ({
          id: c.id,
          title: c.title,
          level: c.level,
          argv: c.argv,
          root: c.root === true,
          pass: { ...c.pass },
          advice: c.advice ?? null,
          remediation: c.remediation ? { summary: c.remediation.summary, risk: c.remediation.risk } : null,
        })),
      })),
    }),
  }),
  defineRoute({
    method: 'get',
    path: '/servers/{name}/baseline',
    operationId: 'getServerBaseline',
    summary: 'Where each baseline check stands on a server, since when, and what it saw',
    tag: 'baselines',
    permission: 'compliance:read',
    params: z.object({ name: ServerName }),
    response: z.object({ items: z.array(StateView), lastRunAt: z.iso.datetime().nullable() }),
    handler: async ({ params, deps, actor }) => {
      const status = await baselineStatus(deps, actor, params.name);
      return {
        items: status.states.map((s) => ({
          server: s.serverName,
          check: s.checkId,
          title: s.title,
          level: s.level,
          status: s.status,
          since: s.since.toISOString(),
          lastResult: s.lastResult,
          evidence: s.lastEvidence,
          checkedAt: s.lastCheckedAt.toISOString(),
        })),
        lastRunAt: status.lastRun?.startedAt.toISOString() ?? null,
      };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/servers/{name}/baseline/run',
    operationId: 'runServerBaseline',
    summary: 'Run the configuration baseline on a server now (a drift alerts once)',
    tag: 'baselines',
    permission: 'scan:run',
    params: z.object({ name: ServerName }),
    response: RunView,
    handler: async ({ params, deps, actor }) =>
      runView(await runBaselineNow(deps, actor, params.name, 'api')),
  }),
  defineRoute({
    method: 'post',
    path: '/baseline-remediations',
    operationId: 'requestBaselineRemediation',
    summary: 'Ask for approval to run a failing check’s remediation command on a server',
    tag: 'baselines',
    permission: 'baseline:remediate',
    body: z.object({ server: ServerName, check: z.string().max(64) }).strict(),
    response: z.object({ id: z.int(), approvalId: z.int(), status: z.string() }),
    status: 201,
    handler: async ({ body, deps, actor }) => {
      const out = await requestRemediation(deps, actor, body);
      return { id: out.remediation.id, approvalId: out.approvalId, status: out.remediation.status };
    },
  }),
];
