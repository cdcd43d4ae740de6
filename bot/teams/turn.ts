import { Activity } from '@microsoft/agents-activity';
import type { CloudAdapter, ConnectorClient, TurnContext } from '@microsoft/agents-hosting';
import { TeamsInfo } from '@microsoft/agents-hosting-extensions-teams';
import type { Deps } from '../../commands/deps.js';
import type { Registry } from '../../commands/registry.js';
import { handleInteraction } from '../../commands/router.js';
import { findPersonalTeamsConversation } from '../../storage/teams.js';
import type { Interaction, InteractionResult, Reply } from '../chat/model.js';
import type { TeamsConfig } from './config.js';
import { resolveTeamsUser } from './identity.js';
import { conversationKind, parseCardAction, parseMessage, type TeamsActivity } from './parse.js';
import { recordMembership, rememberConversation, storedReference, welcomeReply } from './proactive.js';
import { CARD_CONTENT_TYPE, cardMessage, renderCard } from './render.js';

/**
 * One Teams activity, after bridge.ts has verified who sent it: store where it came from, turn it
 * into an Interaction, let commands/ decide, and answer the Teams way. Private answers stay with
 * the sender where Teams allows it (a personal chat, the clicker's own view of a card); in a
 * channel an error becomes a short reply that names the fix, and other private answers go to the
 * sender's personal chat with Warden when there is one.
 */
export interface TurnOptions {
  deps: Deps;
  registry: Registry;
  config: TeamsConfig;
  adapter: CloudAdapter;
}

const ONLY_YOU = 'Only you see this. The card is unchanged for everyone else.';
const SHORT = 300;

function short(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > SHORT ? `${flat.slice(0, SHORT - 1)}…` : flat;
}

function invokeResponse(body: Record<string, unknown>, status = 200): Activity {
  return Activity.fromObject({ type: 'invokeResponse', value: { status, body } });
}

export function createTurnHandler(options: TurnOptions) {
  const { deps, registry, adapter } = options;

  function client(ctx: TurnContext): ConnectorClient {
    return ctx.turnState.get<ConnectorClient>(adapter.ConnectorClientKey);
  }

  /** Answer in the conversation the activity came from, under the activity that asked. */
  async function answer(
    ctx: TurnContext,
    activity: TeamsActivity,
    reply: Reply,
    note?: string,
  ): Promise<void> {
    const body = Activity.fromObject({
      ...cardMessage(reply, note ? { note } : {}),
      channelId: 'msteams',
      serviceUrl: activity.serviceUrl,
      from: activity.recipient,
      recipient: activity.from,
      conversation: activity.conversation,
      replyToId: activity.id,
    });
    if (activity.id) await client(ctx).replyToActivity(activity.conversation.id, activity.id, body);
    else await client(ctx).sendToConversation(activity.conversation.id, body);
  }

  /** A private answer to a typed command. */
  async function answerPrivately(ctx: TurnContext, activity: TeamsActivity, reply: Reply, text: string) {
    if (conversationKind(activity) === 'personal') return answer(ctx, activity, reply);
    const name = activity.from.name ? `${activity.from.name}: ` : '';
    if (reply.tone === 'error' || reply.tone === 'warning') {
      const line = reply.text ?? reply.header ?? 'Warden could not do that.';
      return answer(ctx, activity, { visibility: 'public', tone: reply.tone, text: `${name}${short(line)}` });
    }
    const aad = activity.from.aadObjectId?.toLowerCase();
    const chat = aad ? await findPersonalTeamsConversation(deps.sql, aad) : undefined;
    const reference = chat ? storedReference(chat) : undefined;
    if (chat && reference) {
      const body = Activity.fromObject({
        ...cardMessage(reply),
        channelId: 'msteams',
        serviceUrl: activity.serviceUrl,
        from: activity.recipient,
        conversation: reference.conversation,
      });
      await client(ctx).sendToConversation(chat.conversationId, body);
      return answer(ctx, activity, {
        visibility: 'public',
        tone: 'info',
        text: `${name}the answer is only for you, so Warden sent it to your personal chat with Warden.`,
      });
    }
    return answer(ctx, activity, {
      visibility: 'public',
      tone: 'info',
      text: `${name}the answer is only for you. Open a personal chat with Warden (Apps → Warden → Open) and type "${short(text)}" there.`,
    });
  }

  async function run(ctx: TurnContext, activity: TeamsActivity, interaction: Interaction) {
    const user = await resolveTeamsUser(deps, interaction.user, async () => {
      const member = await TeamsInfo.getMember(ctx, activity.from.id);
      return { email: member.email ?? null, userPrincipalName: member.userPrincipalName ?? null };
    });
    return handleInteraction({ ...interaction, user }, deps, registry);
  }

  async function onMessage(ctx: TurnContext, activity: TeamsActivity): Promise<void> {
    const parsed = parseMessage(activity, deps.clock.now());
    if (parsed.kind === 'ignore') return;
    if (parsed.kind === 'refuse') {
      return answerPrivately(
        ctx,
        activity,
        { visibility: 'private', tone: 'warning', text: parsed.text },
        '',
      );
    }
    const result = await run(ctx, activity, parsed.interaction);
    const text =
      parsed.interaction.kind === 'command' ? `warden ${parsed.interaction.text}`.trim() : 'warden';
    const reply = result.replaceOriginal ?? result.reply;
    if (result.fieldErrors) {
      const lines = Object.values(result.fieldErrors).join(' ');
      return answerPrivately(ctx, activity, { visibility: 'private', tone: 'error', text: lines }, text);
    }
    if (!reply) return;
    if (reply.visibility === 'public' || reply.form) return answer(ctx, activity, reply);
    return answerPrivately(ctx, activity, reply, text);
  }

  /** Replace the card that was clicked, for everyone (Action.Execute's shared update). */
  async function replaceCard(ctx: TurnContext, activity: TeamsActivity, reply: Reply): Promise<void> {
    if (!activity.replyToId) return;
    const body = Activity.fromObject({
      ...cardMessage(reply),
      id: activity.replyToId,
      channelId: 'msteams',
      serviceUrl: activity.serviceUrl,
      from: activity.recipient,
      conversation: activity.conversation,
    });
    try {
      await client(ctx).updateActivity(activity.conversation.id, activity.replyToId, body);
    } catch (err) {
      // The clicker still gets the new card; the outbox's subject update repeats the PUT later.
      deps.log.warn(
        { err: String(err), activityId: activity.replyToId },
        'could not update the Teams card in place',
      );
    }
  }

  function cardBody(reply: Reply, note?: string): Record<string, unknown> {
    return { statusCode: 200, type: CARD_CONTENT_TYPE, value: renderCard(reply, note ? { note } : {}) };
  }

  async function onCardAction(ctx: TurnContext, activity: TeamsActivity): Promise<void> {
    const parsed = parseCardAction(activity, deps.clock.now());
    if (parsed.kind !== 'interaction') {
      const text = parsed.kind === 'refuse' ? parsed.text : 'Nothing to do.';
      await ctx.sendActivity(
        invokeResponse(cardBody({ visibility: 'private', tone: 'warning', text }, ONLY_YOU)),
      );
      return;
    }
    const result: InteractionResult = await run(ctx, activity, parsed.interaction);
    if (result.fieldErrors) {
      // An error answer keeps the form (and what was typed) on the clicker's screen.
      const message = Object.entries(result.fieldErrors)
        .map(([field, problem]) => `${field}: ${problem}`)
        .join('; ');
      await ctx.sendActivity(
        invokeResponse({
          statusCode: 400,
          type: 'application/vnd.microsoft.error',
          value: { code: 'BadRequest', message: short(message) },
        }),
      );
      return;
    }
    if (result.replaceOriginal) {
      await replaceCard(ctx, activity, result.replaceOriginal);
      await ctx.sendActivity(invokeResponse(cardBody(result.replaceOriginal)));
      if (result.reply && conversationKind(activity) === 'personal')
        await answer(ctx, activity, result.reply);
      return;
    }
    const reply = result.reply ?? { visibility: 'private', tone: 'success', text: 'Done.' };
    await ctx.sendActivity(
      invokeResponse(cardBody(reply, reply.visibility === 'private' ? ONLY_YOU : undefined)),
    );
  }

  async function onMembership(ctx: TurnContext, activity: TeamsActivity): Promise<void> {
    const membership = await recordMembership(deps.sql, activity, deps.clock.now());
    if (membership !== 'added') return;
    const body = Activity.fromObject({
      ...cardMessage(welcomeReply(activity)),
      channelId: 'msteams',
      serviceUrl: activity.serviceUrl,
      from: activity.recipient,
      conversation: activity.conversation,
    });
    try {
      await client(ctx).sendToConversation(activity.conversation.id, body);
    } catch (err) {
      deps.log.warn({ err: String(err) }, 'could not post the Teams welcome message');
    }
  }

  return async function onTurn(ctx: TurnContext, activity: TeamsActivity): Promise<void> {
    switch (activity.type) {
      case 'message':
        await rememberConversation(deps.sql, activity, deps.clock.now());
        return onMessage(ctx, activity);
      case 'invoke':
        if (activity.name !== 'adaptiveCard/action') return;
        await rememberConversation(deps.sql, activity, deps.clock.now());
        return onCardAction(ctx, activity);
      case 'conversationUpdate':
      case 'installationUpdate':
        return onMembership(ctx, activity);
      default:
        return;
    }
  };
}
