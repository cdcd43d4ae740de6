import { z } from 'zod';
import type { InteractionResult, ListItem, Reply } from '../../bot/chat/model.js';
import { AppError } from '../../lib/errors.js';
import type { BaselineStateWithServer } from '../../storage/baselines.js';
import type { ActionSpec, CommandSpec } from '../registry.js';
import { ago } from '../scanning/chat.js';
import { baselineStatus, runBaselineNow } from './queries.js';
import { requestRemediation } from './remediate.js';
import type { BaselineRunOutcome } from './run.js';

/**
 * `/warden baseline <server|project>`, `baseline run <server>`, `baseline remediate <server> <check>`
 * and the "Request remediation" button on a drift alert.
 */
const SHOWN = 30;
const MARK = { pass: '✅', fail: '❌', unknown: '❔', error: '❔' } as const;

function stateItem(s: BaselineStateWithServer, now: Date, withServer: boolean): ListItem {
  const since =
    s.status === 'fail' ? `failing since ${ago(s.since, now)}` : s.status === 'pass' ? 'passing' : 'unknown';
  return {
    text: `${MARK[s.status]} ${withServer ? `${s.serverName}: ` : ''}${s.checkId}: ${s.title}`,
    detail: `${since} · checked ${ago(s.lastCheckedAt, now)}${s.lastEvidence ? ` · ${s.lastEvidence}` : ''}`,
  };
}

export function runReply(outcome: BaselineRunOutcome): Reply {
  if (outcome.status === 'failed') {
    return {
      visibility: 'private',
      tone: 'error',
      text: `Could not check the baseline on ${outcome.serverName}: ${outcome.error ?? 'unknown error'}`,
    };
  }
  const failed = outcome.results.filter((r) => r.status === 'fail').length;
  return {
    visibility: 'private',
    tone: failed > 0 ? 'warning' : 'success',
    header: `Baseline on ${outcome.serverName}: ${outcome.results.filter((r) => r.status === 'pass').length}/${outcome.results.length} pass`,
    items: outcome.results.map((r) => ({
      text: `${MARK[r.status]} ${r.checkId}: ${r.title}`,
      detail: r.evidence,
    })),
    ...(outcome.drifted.length ? { context: [`Drifted now (alerted): ${outcome.drifted.join(', ')}`] } : {}),
  };
}

export const baselineCommand: CommandSpec = {
  path: ['baseline'],
  usage: 'baseline <server|project>',
  summary: 'Configuration baseline (CIS-style checks): what passes, what fails and since when',
  permission: 'compliance:read',
  maxPositional: 1,
  async run(args, ctx): Promise<InteractionResult> {
    const name = args.positional[0];
    if (!name)
      throw new AppError(
        'bad_request',
        'Say which server or project.\nUsage: /warden baseline <server|project>',
      );
    const status = await baselineStatus(ctx.deps, ctx.actor, name);
    const now = ctx.deps.clock.now();
    const failing = status.states.filter((s) => s.status === 'fail');
    const ordered = [...failing, ...status.states.filter((s) => s.status !== 'fail')];
    const many = status.scope.kind === 'project';
    return {
      reply: {
        visibility: 'private',
        tone: failing.length ? 'warning' : 'info',
        header: `Baseline: ${status.scope.kind} ${status.scope.name}`,
        ...(status.states.length
          ? { items: ordered.slice(0, SHOWN).map((s) => stateItem(s, now, many)) }
          : {
              text: 'No baseline results yet: they come after the next successful scan, or run `baseline run <server>`.',
            }),
        context: [
          `${failing.length} failing of ${status.states.length}${status.states.length > SHOWN ? `, ${SHOWN} shown` : ''}.`,
          ...(status.lastRun
            ? [`Last run ${ago(status.lastRun.startedAt, now)} (${status.lastRun.triggeredBy}).`]
            : []),
        ],
      },
    };
  },
};

export const baselineRunCommand: CommandSpec = {
  path: ['baseline', 'run'],
  usage: 'baseline run <server>',
  summary: 'Run the configuration baseline on a server now',
  permission: 'scan:run',
  maxPositional: 1,
  async run(args, ctx): Promise<InteractionResult> {
    const name = args.positional[0];
    if (!name) throw new AppError('bad_request', 'Say which server.\nUsage: /warden baseline run <server>');
    return { reply: runReply(await runBaselineNow(ctx.deps, ctx.actor, name, 'chat')) };
  },
};

export const baselineRemediateCommand: CommandSpec = {
  path: ['baseline', 'remediate'],
  usage: 'baseline remediate <server> <check>',
  summary: 'Ask for approval to run a failing check’s remediation command',
  permission: 'baseline:remediate',
  maxPositional: 2,
  async run(args, ctx): Promise<InteractionResult> {
    const [server, check] = args.positional;
    if (!server || !check) {
      throw new AppError(
        'bad_request',
        'Say which server and check.\nUsage: /warden baseline remediate <server> <check>',
      );
    }
    return { reply: (await requestRemediation(ctx.deps, ctx.actor, { server, check })).reply };
  },
};

const ButtonValue = z.object({ server: z.string().max(128), check: z.string().max(64) });

export const baselineActions: ActionSpec[] = [
  {
    prefix: 'baseline.remediate',
    async run(action, ctx): Promise<InteractionResult> {
      let value: z.infer<typeof ButtonValue>;
      try {
        value = ButtonValue.parse(JSON.parse(action.value));
      } catch {
        throw new AppError(
          'bad_request',
          'That button is from an older message; run `baseline remediate <server> <check>`.',
        );
      }
      return { reply: (await requestRemediation(ctx.deps, ctx.actor, value)).reply };
    },
  },
];

export const baselineCommands: CommandSpec[] = [
  baselineCommand,
  baselineRunCommand,
  baselineRemediateCommand,
];
