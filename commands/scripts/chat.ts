import type { Form, FormField, InteractionResult, ListItem } from '../../bot/chat/model.js';
import { AppError, isAppError } from '../../lib/errors.js';
import { getCurrentScriptVersion, getScriptVersionById } from '../../storage/scripts.js';
import { formatDuration, quoteForMessage } from '../grammar.js';
import { holdsAnywhere } from '../inventory/scope.js';
import { rolesGranting } from '../rbac/authorize.js';
import type { Permission } from '../rbac/roles.js';
import type { CommandSpec, FormSpec } from '../registry.js';
import { cancelRun } from './cancel.js';
import { SCRIPT_NAME_PATTERN } from './definition.js';
import { describeType, isRequired, missingParams, type ParamSpec } from './params.js';
import { getRunDetail } from './queries.js';
import { MAX_SERVER_REPLIES, runMessage, serverLine } from './render.js';
import { getScript, listScripts } from './repository.js';
import { startRun } from './run.js';

/**
 * Chat: `scripts`, `script show <name>`, `run <script> on <server|project|tag> [param=value …]`
 * (a form asks for what is missing), `run status <id>` and `run cancel <id>`.
 */
export const RUN_FORM_PREFIX = 'script-run:';
const RUN_USAGE = 'run <script> on <server|project|tag:key=value> [param=value …]';
const LIST_LIMIT = 25;

function parseRunId(word: string | undefined, usage: string): number {
  const text = (word ?? '').replace(/^#/, '');
  if (!/^[0-9]{1,12}$/.test(text) || Number(text) < 1) {
    throw new AppError(
      'bad_request',
      `${word ? quoteForMessage(word) : 'nothing'} is not a run number.\nUsage: /warden ${usage}`,
    );
  }
  return Number(text);
}

function paramLine(p: ParamSpec): string {
  const dflt = 'default' in p && p.default !== undefined ? `, default ${JSON.stringify(p.default)}` : '';
  return `${p.name}${isRequired(p) ? '' : ' (optional)'}: ${describeType(p)}${dflt}${p.description ? ` — ${p.description}` : ''}`;
}

export const scriptsCommand: CommandSpec = {
  path: ['scripts'],
  usage: 'scripts',
  summary: 'List the scripts you may run, with their risk and version',
  maxPositional: 0,
  async run(_args, ctx) {
    const scripts = await listScripts(ctx.deps, ctx.actor);
    const items: ListItem[] = scripts.slice(0, LIST_LIMIT).map((v) => ({
      text: `${v.scriptName} — ${v.description}`,
      detail: `v${v.version} · ${v.risk} risk · ${v.language} · ${v.permission}${v.approvalState === 'pending' ? ' · waits for review' : ''}`,
    }));
    return {
      reply: {
        visibility: 'private',
        header: 'Scripts',
        ...(items.length
          ? { items }
          : {
              text: 'No scripts you may run yet. Someone with sop:manage adds them through the API or an import.',
            }),
        ...(scripts.length > LIST_LIMIT ? { moreUrl: `${ctx.deps.config.publicUrl}/api/v1/scripts` } : {}),
      },
    };
  },
};

export const scriptShowCommand: CommandSpec = {
  path: ['script', 'show'],
  usage: 'script show <name>',
  summary: 'Show a script: what it does, its parameters, risk and who may run it',
  maxPositional: 1,
  async run(args, ctx) {
    const name = args.positional[0];
    if (!name) throw new AppError('bad_request', 'say which script.\nUsage: /warden script show <name>');
    const v = await getScript(ctx.deps, ctx.actor, name.toLowerCase());
    const review =
      v.risk === 'high'
        ? ` · review ${v.approvalState}${v.approvalId ? ` (approval #${v.approvalId})` : ''}`
        : '';
    return {
      reply: {
        visibility: 'private',
        header: `${v.scriptName} v${v.version}`,
        text: v.description,
        fields: [
          { label: 'Risk', value: `${v.risk}${review}` },
          {
            label: 'Runs as',
            value: `${v.language} on ${v.os.join(', ')}, timeout ${formatDuration(v.timeoutMs)}`,
          },
          { label: 'Permission', value: v.permission },
          { label: 'Changed by', value: `${v.author} (${v.source})` },
        ],
        items: (v.params as ParamSpec[]).map((p) => ({ text: paramLine(p) })),
        context: [
          `Run it: /warden run ${v.scriptName} on <server|project|tag:key=value>${(v.params as ParamSpec[]).map((p) => ` ${p.name}=…`).join('')}`,
        ],
      },
    };
  },
};

interface FormState {
  script: string;
  target?: string;
  params: Record<string, string>;
}

function buildRunForm(state: FormState, params: readonly ParamSpec[], missing: readonly ParamSpec[]): Form {
  const fields: FormField[] = [];
  if (!state.target) {
    fields.push({
      id: 'target',
      label: 'Run on',
      kind: 'server',
      required: true,
      placeholder: 'a server, a project, or tag:key=value',
    });
  }
  for (const p of missing) {
    const field: FormField = {
      id: `param.${p.name}`,
      label: p.name,
      kind: 'text',
      required: true,
      hint: p.description ?? describeType(p),
    };
    if (p.type === 'enum') {
      field.kind = 'select';
      field.options = p.values.map((value) => ({ label: value, value }));
    } else if (p.type === 'string' && (p.maxLength ?? 4096) > 200) {
      field.kind = 'textarea';
    }
    fields.push(field);
  }
  const names = new Set(params.map((p) => p.name));
  // Only parameters the script has travel in the state; the rest is re-checked on submit anyway.
  const carried = Object.fromEntries(Object.entries(state.params).filter(([k]) => names.has(k)));
  return {
    id: `${RUN_FORM_PREFIX}${state.script}`,
    title: `Run ${state.script}`.slice(0, 24),
    submitLabel: 'Run',
    fields,
    state: JSON.stringify({ ...state, params: carried }),
  };
}

async function runOrAsk(
  state: FormState,
  ctx: Parameters<CommandSpec['run']>[1],
): Promise<InteractionResult> {
  const version = SCRIPT_NAME_PATTERN.test(state.script)
    ? await getCurrentScriptVersion(ctx.deps.sql, state.script)
    : undefined;
  if (!version)
    throw new AppError(
      'not_found',
      `there is no script ${quoteForMessage(state.script)}; type \`scripts\` to list them`,
    );
  if (!holdsAnywhere(ctx.actor, version.permission as Permission)) {
    // Say why before asking for anything: a form the person could never submit helps nobody.
    throw new AppError(
      'forbidden',
      `you may not run ${version.scriptName}: it needs the ${version.permission} permission on the servers' project. Ask an admin to bind you to one of these roles there: ${rolesGranting(version.permission as Permission).join(', ')}.`,
    );
  }
  const params = version.params as ParamSpec[];
  const missing = missingParams(params, state.params);
  if (!state.target || missing.length > 0) {
    const what = [...(state.target ? [] : ['where to run it']), ...missing.map((p) => p.name)].join(', ');
    return {
      reply: {
        visibility: 'private',
        text: `${version.scriptName} needs: ${what}.`,
        form: buildRunForm(state, params, missing),
      },
    };
  }
  const started = await startRun(ctx.deps, ctx.actor, {
    script: state.script,
    target: state.target,
    params: state.params,
  });
  return { reply: started.reply };
}

export const runCommand: CommandSpec = {
  path: ['run'],
  usage: RUN_USAGE,
  summary: 'Run a script from the repository on servers; high-risk scripts wait for approval',
  permission: 'sop:run:*',
  keywords: ['on'],
  options: '*',
  maxPositional: 1,
  async run(args, ctx) {
    const script = args.positional[0]?.toLowerCase();
    if (!script)
      throw new AppError(
        'bad_request',
        `say which script; type \`scripts\` to list them.\nUsage: /warden ${RUN_USAGE}`,
      );
    return runOrAsk(
      { script, ...(args.keywords.on ? { target: args.keywords.on } : {}), params: { ...args.options } },
      ctx,
    );
  },
};

export const runStatusCommand: CommandSpec = {
  path: ['run', 'status'],
  usage: 'run status <id>',
  summary: 'Where a script run is: each server’s exit code and duration',
  maxPositional: 1,
  async run(args, ctx) {
    const id = parseRunId(args.positional[0], 'run status <id>');
    const { run, servers } = await getRunDetail(ctx.deps, ctx.actor, id);
    const version = await getScriptVersionById(ctx.deps.sql, run.versionId);
    const message = runMessage(
      run,
      { risk: version?.risk ?? 'low' },
      servers,
      run.requestedRef.replace(/^user:/, ''),
    );
    return {
      reply: {
        ...message,
        visibility: 'private',
        items: servers.slice(0, MAX_SERVER_REPLIES).map((s) => ({ text: serverLine(s) })),
        moreUrl: `${ctx.deps.config.publicUrl}/api/v1/script-runs/${id}`,
      },
    };
  },
};

export const runCancelCommand: CommandSpec = {
  path: ['run', 'cancel'],
  usage: 'run cancel <id>',
  summary: 'Cancel a script run: servers not started yet never start, running scripts are stopped',
  maxPositional: 1,
  async run(args, ctx) {
    const cancelled = await cancelRun(ctx.deps, ctx.actor, parseRunId(args.positional[0], 'run cancel <id>'));
    return { reply: cancelled.reply };
  },
};

function parseState(text: string | undefined): FormState {
  try {
    const value = JSON.parse(text ?? '') as Partial<FormState>;
    if (typeof value.script === 'string' && value.params && typeof value.params === 'object') {
      return {
        script: value.script,
        ...(typeof value.target === 'string' ? { target: value.target } : {}),
        params: { ...value.params },
      };
    }
  } catch {
    // fall through
  }
  throw new AppError('bad_request', 'that form is out of date; run the command again for a fresh one');
}

/** The form a run opens when something is missing; on submit the values join what was typed. */
export const runFormSpec: FormSpec = {
  prefix: RUN_FORM_PREFIX,
  async run(form, ctx) {
    const state = parseState(form.state);
    const target = form.values.target?.trim() || state.target;
    const params = { ...state.params };
    for (const [key, value] of Object.entries(form.values)) {
      if (key.startsWith('param.') && value !== '') params[key.slice('param.'.length)] = value;
    }
    try {
      return await runOrAsk({ script: state.script, ...(target ? { target } : {}), params }, ctx);
    } catch (error) {
      if (!isAppError(error) || error.code !== 'bad_request') throw error;
      const issues = (error.details?.issues ?? []) as { path: string; message: string }[];
      const fieldErrors: Record<string, string> = {};
      for (const issue of issues) {
        const field = `param.${issue.path.slice('params.'.length)}`;
        // Only fields the form shows can carry an error; anything else is answered as a message.
        if (issue.path.startsWith('params.') && field in form.values) fieldErrors[field] = issue.message;
      }
      if (Object.keys(fieldErrors).length === 0) throw error;
      return { fieldErrors };
    }
  },
};

/** For commands/index.ts. */
export const scriptCommands: readonly CommandSpec[] = [
  scriptsCommand,
  scriptShowCommand,
  runCommand,
  runStatusCommand,
  runCancelCommand,
];
export const scriptForms: readonly FormSpec[] = [runFormSpec];
