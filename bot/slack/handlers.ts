import { handleInteraction } from '../../commands/router.js';
import { findUserByIdentity } from '../../storage/users.js';
import type { Interaction, InteractionResult, PlatformUser, Reply } from '../chat/model.js';
import { buildHomeView } from './home.js';
import { checkSubmission, decodeMeta, fieldErrorsResponse, formToModal, modalWithError } from './modals.js';
import {
  actionInteraction,
  BlockAction,
  commandInteraction,
  formInteraction,
  type SlackReplyHandle,
  SlashCommand,
  ViewSubmission,
} from './parse.js';
import { LINK_ACTION_PREFIX } from './render.js';
import { answerLater, answerPrivately, replaceClicked, responseBody, type SlackContext } from './respond.js';

/**
 * What Warden does with each kind of Slack request once it is verified: every one becomes a
 * neutral Interaction for the router, which commits it before it runs. Clicks are acknowledged
 * the moment that commit lands; slash commands get their answer in the acknowledgement when it
 * is ready within `fastReplyMs`, and "working on it" otherwise, the answer following later.
 */
export type Ack = (response?: object) => Promise<void>;

/** How long a modal submission may run before the modal is closed and the answer sent later. */
const VIEW_BUDGET_MS = 2_000;

function timeout(ms: number): { promise: Promise<undefined>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** The work's result if it is ready within `ms`, else undefined (the work goes on). */
async function within<T>(work: Promise<T>, ms: number): Promise<{ value: T } | undefined> {
  const t = timeout(ms);
  try {
    return await Promise.race([work.then((value) => ({ value })), t.promise]);
  } finally {
    t.cancel();
  }
}

/**
 * The platform user for a Slack id. When Slack could not be asked and the identity is not
 * linked yet, the answer is "try again", not "Warden does not know you".
 */
export async function slackUser(
  ctx: SlackContext,
  userId: string,
  name: string | undefined,
): Promise<{ user: PlatformUser } | { refusal: Reply }> {
  const { lookupFailed, ...user } = await ctx.identity.describe(userId, name);
  if (lookupFailed && !(await findUserByIdentity(ctx.deps.sql, 'slack', userId))) {
    return {
      refusal: {
        visibility: 'private',
        tone: 'warning',
        text: 'Warden could not ask Slack who you are just now, so it cannot act for you yet. Try again in a minute; if it keeps happening, ask an admin to check the Slack app (it needs the users:read.email scope).',
      },
    };
  }
  return { user };
}

/**
 * Record the interaction on the ingress pool, call `recorded` the moment it is committed (the
 * acknowledgement), then run it once the gate has room.
 */
async function run(
  ctx: SlackContext,
  interaction: Interaction,
  recorded?: () => void,
): Promise<InteractionResult> {
  let release: (() => void) | undefined;
  try {
    return await handleInteraction(interaction, ctx.deps, ctx.registry, {
      recordWith: ctx.ingressSql,
      onRecorded: async () => {
        recorded?.();
        release = await ctx.gate.acquire();
      },
    });
  } finally {
    release?.();
  }
}

const UNREADABLE: Reply = {
  visibility: 'private',
  tone: 'error',
  text: 'Warden could not read that request from Slack, so it did nothing. Try again; if it keeps happening, tell an admin.',
};

async function finishCommand(
  ctx: SlackContext,
  result: InteractionResult,
  handle: SlackReplyHandle,
  user: string,
  ack: Ack | undefined,
): Promise<void> {
  const reply = result.reply;
  if (reply?.form) {
    if (ack) await ack();
    try {
      if (!handle.triggerId) throw new Error('no trigger_id');
      await ctx.platform.client.views.open({
        trigger_id: handle.triggerId,
        view: formToModal(reply.form, {
          channel: handle.channel,
          state: reply.form.state,
          responseUrl: handle.responseUrl,
        }),
      });
    } catch (error) {
      ctx.log.warn({ err: error }, 'could not open a Slack modal');
      await answerPrivately(ctx, handle, user, {
        visibility: 'private',
        tone: 'error',
        text: `Warden could not open the form "${reply.form.title}" in Slack. Type the command again with every field filled in (see /warden help).`,
      });
    }
    return;
  }
  if (ack) return ack(reply ? responseBody(reply) : undefined);
  if (reply) await answerLater(ctx, handle, user, reply);
}

export async function onCommand(ctx: SlackContext, body: unknown, ack: Ack): Promise<void> {
  const parsed = SlashCommand.safeParse(body);
  if (!parsed.success) return ack(responseBody(UNREADABLE));
  const cmd = parsed.data;
  const who = await slackUser(ctx, cmd.user_id, cmd.user_name);
  if ('refusal' in who) return ack(responseBody(who.refusal));
  const interaction = commandInteraction(cmd, who.user, ctx.deps.clock.now());
  const handle = interaction.replyHandle as SlackReplyHandle;
  let recorded: () => void = () => {};
  const committed = new Promise<void>((resolve) => {
    recorded = resolve;
  });
  const work = run(ctx, interaction, () => recorded());
  // Nothing is acknowledged before the commit: a failure to record reaches Slack as an error.
  await Promise.race([committed, work]);
  const early = await within(work, ctx.fastReplyMs);
  if (early) return finishCommand(ctx, early.value, handle, cmd.user_id, ack);
  await ack(responseBody({ visibility: 'private', text: ':hourglass_flowing_sand: Working on it…' }));
  ctx.track(
    work
      .then((result) => finishCommand(ctx, result, handle, cmd.user_id, undefined))
      .catch((error: unknown) =>
        ctx.log.error({ err: error }, 'a slow Slack command failed after its acknowledgement'),
      ),
  );
}

export async function onAction(ctx: SlackContext, body: unknown, ack: Ack): Promise<void> {
  const parsed = BlockAction.safeParse(body);
  if (!parsed.success) {
    ctx.log.warn({ issue: parsed.error.issues[0]?.message }, 'ignored a Slack click Warden cannot read');
    return ack();
  }
  const click = parsed.data;
  if (click.actions[0]!.action_id.startsWith(LINK_ACTION_PREFIX)) return ack();
  const who = await slackUser(ctx, click.user.id, click.user.username ?? click.user.name);
  const interaction = actionInteraction(
    click,
    'user' in who ? who.user : { platform: 'slack', externalId: click.user.id },
    ctx.deps.clock.now(),
  );
  const handle = interaction.replyHandle as SlackReplyHandle;
  if ('refusal' in who) {
    await ack();
    return answerPrivately(ctx, handle, click.user.id, who.refusal);
  }
  let acked = false;
  const result = await run(ctx, interaction, () => {
    acked = true;
    void ack();
  });
  if (!acked) await ack();
  if (click.view?.type === 'home') {
    return publishHome(ctx, click.user.id, result.reply ?? result.replaceOriginal);
  }
  if (result.replaceOriginal) await replaceClicked(ctx, handle, result.replaceOriginal);
  if (result.reply) await answerPrivately(ctx, handle, click.user.id, result.reply);
}

export async function onViewSubmission(ctx: SlackContext, body: unknown, ack: Ack): Promise<void> {
  const parsed = ViewSubmission.safeParse(body);
  if (!parsed.success) return ack();
  const submission = parsed.data;
  const { view } = submission;
  const errors = checkSubmission(view);
  if (Object.keys(errors).length > 0) return ack(fieldErrorsResponse(errors));
  const who = await slackUser(ctx, submission.user.id, submission.user.username ?? submission.user.name);
  if ('refusal' in who) {
    return ack({ response_action: 'update', view: modalWithError(view, who.refusal.text ?? '') });
  }
  const meta = decodeMeta(view.private_metadata) ?? { channel: '' };
  const interaction = formInteraction(submission, who.user, ctx.deps.clock.now(), meta);
  const handle = interaction.replyHandle as SlackReplyHandle;
  const work = run(ctx, interaction);
  const early = await within(work, VIEW_BUDGET_MS);
  if (!early) {
    await ack();
    ctx.track(
      work
        .then((r) => (r.reply ? answerLater(ctx, handle, submission.user.id, r.reply) : undefined))
        .catch((error: unknown) =>
          ctx.log.error({ err: error }, 'a Slack form failed after its acknowledgement'),
        ),
    );
    return;
  }
  const result = early.value;
  if (result.fieldErrors && Object.keys(result.fieldErrors).length > 0) {
    return ack(fieldErrorsResponse(result.fieldErrors));
  }
  if (result.reply?.tone === 'error') {
    const message = [result.reply.header, result.reply.text].filter(Boolean).join(': ');
    return ack({
      response_action: 'update',
      view: modalWithError(view, message || 'Warden refused this form.'),
    });
  }
  await ack();
  const answer = result.reply ?? result.replaceOriginal;
  if (answer) await answerLater(ctx, handle, submission.user.id, answer);
}

/** Publish the user's Home tab (app_home_opened, or after a click on it). */
export async function publishHome(ctx: SlackContext, userId: string, notice?: Reply): Promise<void> {
  const who = await slackUser(ctx, userId, undefined);
  const user: PlatformUser = 'user' in who ? who.user : { platform: 'slack', externalId: userId };
  const view = await buildHomeView(ctx.deps, user, {
    ...(ctx.homeSources ? { sources: ctx.homeSources } : {}),
    ...(notice ? { notice } : 'refusal' in who ? { notice: who.refusal } : {}),
  });
  try {
    await ctx.platform.client.views.publish({ user_id: userId, view });
  } catch (error) {
    ctx.platform.fail(error, `publishing the Home tab of ${userId}`);
  }
}
