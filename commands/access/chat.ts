import type { Form, InteractionResult } from '../../bot/chat/model.js';
import { AppError } from '../../lib/errors.js';
import type { CommandSpec, FormSpec, ParsedArgs } from '../registry.js';
import { requestCaInstall } from './ca-install.js';
import { listAccess, renderAccessList } from './list.js';
import {
  type AccessRequestInput,
  type AccessRequestOutcome,
  extendAccess,
  missingFields,
  requestAccess,
} from './request.js';
import { parseGrantId, revokeGrant } from './revoke.js';

/** The chat surface of access: `access request|extend|revoke|list`, `ca install`, and the request form. */
const REQUEST_USAGE =
  'access request <server|project> for <duration> [as <login>] ticket <KEY> reason "<why>" [--emergency] [start=<ISO time>] [key=<fingerprint>]';
export const ACCESS_FORM_ID = 'access.request';

function requestForm(input: AccessRequestInput): Form {
  return {
    id: ACCESS_FORM_ID,
    title: 'Request server access',
    submitLabel: 'Request',
    fields: [
      { id: 'target', label: 'Server or project', kind: 'server', required: true, initial: input.target },
      {
        id: 'duration',
        label: 'For how long',
        kind: 'duration',
        required: true,
        placeholder: '2h',
        initial: input.duration,
      },
      {
        id: 'login',
        label: 'Login on the server',
        kind: 'text',
        placeholder: 'the project default',
        initial: input.login,
      },
      {
        id: 'ticket',
        label: 'Ticket',
        kind: 'text',
        required: true,
        placeholder: 'OPS-123',
        initial: input.ticket,
      },
      { id: 'reason', label: 'Reason', kind: 'textarea', required: true, initial: input.reason },
      {
        id: 'start',
        label: 'Start (optional, ISO time)',
        kind: 'text',
        placeholder: '2026-01-05T14:00Z',
        initial: input.start,
      },
      {
        id: 'emergency',
        label: 'Break-glass (grant now, alert security, review later)',
        kind: 'select',
        initial: input.emergency ? 'yes' : 'no',
        options: [
          { label: 'No: wait for approval', value: 'no' },
          { label: 'Yes: emergency', value: 'yes' },
        ],
      },
    ],
  };
}

function outcomeReply(outcome: AccessRequestOutcome): InteractionResult {
  const { request } = outcome;
  if (outcome.grant) {
    return {
      reply: {
        visibility: 'private',
        tone: 'warning',
        header: `Break-glass grant #${outcome.grant.id} is active`,
        text: `You have ${request.login} on ${request.scopeName} until ${outcome.grant.expiresAt.toISOString()}. The security channel was alerted and review #${outcome.reviewId} waits for an approver.`,
      },
    };
  }
  const approvers = outcome.approval?.approvers ?? [];
  const who = approvers.length
    ? `It waits for ${approvers.map((u) => u.handle).join(', ')}.`
    : 'Nobody can approve it yet: ask an admin to bind an approver to the project.';
  return {
    reply: {
      visibility: 'private',
      tone: 'success',
      text: `Request #${request.id} (approval #${request.approvalId}) for ${request.login} on ${request.scopeName} is open. ${who} The clock starts when it is approved.`,
    },
  };
}

function inputFrom(args: ParsedArgs): AccessRequestInput {
  return {
    target: args.positional[0],
    duration: args.keywords.for ?? args.positional[1],
    login: args.keywords.as,
    ticket: args.keywords.ticket,
    reason: args.keywords.reason,
    emergency: args.flags.includes('emergency'),
    start: args.options.start,
    key: args.options.key,
  };
}

export const accessRequestCommand: CommandSpec = {
  path: ['access', 'request'],
  usage: REQUEST_USAGE,
  summary: 'Ask for time-bound access to a server or project; approvers decide in chat.',
  permission: 'access:request',
  keywords: ['for', 'as', 'ticket', 'reason'],
  flags: ['emergency'],
  options: ['start', 'key'],
  maxPositional: 2,
  async run(args, ctx) {
    const input = inputFrom(args);
    if (missingFields(input).length) {
      return {
        reply: { visibility: 'private', text: 'A few details are missing.', form: requestForm(input) },
      };
    }
    return outcomeReply(await requestAccess(ctx.deps, ctx.actor, input));
  },
};

export const accessRequestForm: FormSpec = {
  prefix: ACCESS_FORM_ID,
  async run(form, ctx) {
    const v = form.values;
    const text = (key: string) => (v[key]?.trim() ? v[key] : undefined);
    const input: AccessRequestInput = {
      target: text('target'),
      duration: text('duration'),
      login: text('login'),
      ticket: text('ticket'),
      reason: text('reason'),
      start: text('start'),
      emergency: v.emergency === 'yes',
    };
    const missing = missingFields(input);
    if (missing.length) throw new AppError('bad_request', `fill in: ${missing.join(', ')}`);
    try {
      return outcomeReply(await requestAccess(ctx.deps, ctx.actor, input));
    } catch (error) {
      // A bad value in one field is shown under that field; anything else refuses the whole form.
      if (!(error instanceof AppError)) throw error;
      const field = error.details?.field;
      if (typeof field === 'string' && field in v) return { fieldErrors: { [field]: error.message } };
      throw error;
    }
  },
};

export const accessExtendCommand: CommandSpec = {
  path: ['access', 'extend'],
  usage: 'access extend <grant> for <duration> [ticket <KEY>] reason "<why>"',
  summary: 'Ask to lengthen one of your grants; it is a new approval.',
  permission: 'access:request',
  keywords: ['for', 'ticket', 'reason'],
  maxPositional: 1,
  async run(args, ctx) {
    const grantId = parseGrantId(args.positional[0]);
    const outcome = await extendAccess(ctx.deps, ctx.actor, {
      grantId,
      duration: args.keywords.for,
      ticket: args.keywords.ticket,
      reason: args.keywords.reason,
    });
    return {
      reply: {
        visibility: 'private',
        tone: 'success',
        text: `Extension request #${outcome.request.id} (approval #${outcome.request.approvalId}) for grant #${grantId} is open.`,
      },
    };
  },
};

export const accessRevokeCommand: CommandSpec = {
  path: ['access', 'revoke'],
  usage: 'access revoke <grant> [reason "<why>"]',
  summary: 'End a grant now: its keys come off the servers, or its certificate is revoked.',
  keywords: ['reason'],
  maxPositional: 1,
  async run(args, ctx) {
    const grant = await revokeGrant(ctx.deps, {
      actor: ctx.actor,
      grantId: parseGrantId(args.positional[0]),
      reason: args.keywords.reason,
    });
    const what =
      grant.mode === 'certificate'
        ? 'its certificate goes on every server’s RevokedKeys list'
        : 'its key is being removed from every server';
    return {
      reply: {
        visibility: 'private',
        tone: 'success',
        text: `Grant #${grant.id} is revoked; ${what}. The thread shows when each server is done.`,
      },
    };
  },
};

export const accessListCommand: CommandSpec = {
  path: ['access', 'list'],
  usage: 'access list',
  summary: 'Your access requests and grants (approvers also see their projects’).',
  maxPositional: 0,
  async run(_args, ctx) {
    return { reply: renderAccessList(await listAccess(ctx.deps, ctx.actor), ctx.deps.clock.now()) };
  },
};

export const caInstallCommand: CommandSpec = {
  path: ['ca', 'install'],
  usage: 'ca install <project>',
  summary: "Make a project's servers trust Warden's SSH user CA and its revocation list.",
  permission: 'keys:manage',
  maxPositional: 1,
  async run(args, ctx) {
    const slug = args.positional[0];
    if (!slug) throw new AppError('bad_request', 'say which project: ca install <project>');
    // the servers are done after the reply (a chat command answers within seconds)
    const queued = await requestCaInstall(ctx.deps, ctx.actor, slug);
    return {
      reply: {
        visibility: 'private',
        tone: queued.servers ? 'info' : 'warning',
        text: queued.servers
          ? `Installing the CA ${queued.caFingerprint} on ${queued.servers} server${queued.servers === 1 ? '' : 's'} of ${queued.project}… Each server's result goes to the project's channel, in the thread of this install.`
          : `${queued.project} has no servers: nothing to install the CA on.`,
      },
    };
  },
};

export const accessCommands: readonly CommandSpec[] = [
  accessRequestCommand,
  accessExtendCommand,
  accessRevokeCommand,
  accessListCommand,
  caInstallCommand,
];
export const accessForms: readonly FormSpec[] = [accessRequestForm];
