import type { ConversationReference } from '@microsoft/agents-activity';
import { z } from 'zod';
import type { Queryable } from '../../storage/db.js';
import {
  getTeamsConversation,
  latestTeamsChannel,
  markTeamsConversationRemoved,
  saveTeamsConversation,
  type TeamsConversation,
} from '../../storage/teams.js';
import type { Reply } from '../chat/model.js';
import type { TeamsConfig } from './config.js';
import { activityTenant, baseConversation, conversationKind, type TeamsActivity } from './parse.js';

/**
 * Conversation references, so Warden can post without being spoken to first (digests, alerts,
 * approval cards, thread replies). A reference is stored when the bot is added to a team, a
 * group chat or a personal scope, and refreshed by every activity from that conversation (the
 * serviceUrl can move). Removing the bot marks the reference removed.
 */

/** What proactive calls need of a conversation: where the connector is, who the bot is, the chat. */
export function referenceOf(activity: TeamsActivity): ConversationReference {
  const kind = conversationKind(activity);
  return {
    channelId: 'msteams',
    serviceUrl: activity.serviceUrl,
    // The channel itself, not the thread the activity happened to be in.
    conversation: {
      id: baseConversation(activity.conversation.id),
      conversationType: kind,
      isGroup: kind !== 'personal',
      ...(activityTenant(activity) ? { tenantId: activityTenant(activity) } : {}),
    },
    agent: {
      id: activity.recipient.id,
      ...(activity.recipient.name ? { name: activity.recipient.name } : {}),
    },
    ...(kind === 'personal' ? { user: { id: activity.from.id, name: activity.from.name ?? '' } } : {}),
  } as ConversationReference;
}

/** Store (or refresh) the conversation an activity came from. */
export async function rememberConversation(sql: Queryable, activity: TeamsActivity, at: Date): Promise<void> {
  const kind = conversationKind(activity);
  const tenantId = activityTenant(activity);
  if (!tenantId) return;
  await saveTeamsConversation(sql, {
    conversationId: baseConversation(activity.conversation.id),
    kind,
    tenantId,
    teamId: activity.channelData?.team?.id ?? null,
    aadObjectId: kind === 'personal' ? (activity.from.aadObjectId?.toLowerCase() ?? null) : null,
    serviceUrl: activity.serviceUrl,
    reference: referenceOf(activity) as unknown as Record<string, unknown>,
    at,
  });
}

export type Membership = 'added' | 'removed' | undefined;

/** Was the bot itself added or removed by this conversationUpdate / installationUpdate? */
export function botMembership(activity: TeamsActivity): Membership {
  const bot = activity.recipient.id;
  if (activity.type === 'installationUpdate') {
    const action = (activity as { action?: unknown }).action;
    if (action === 'add' || action === 'add-upgrade') return 'added';
    if (action === 'remove' || action === 'remove-upgrade') return 'removed';
    return undefined;
  }
  if (activity.type !== 'conversationUpdate') return undefined;
  if (activity.membersAdded?.some((m) => m.id === bot)) return 'added';
  if (activity.membersRemoved?.some((m) => m.id === bot)) return 'removed';
  return undefined;
}

/** Record the bot's arrival or departure; returns what happened. */
export async function recordMembership(
  sql: Queryable,
  activity: TeamsActivity,
  at: Date,
): Promise<Membership> {
  const membership = botMembership(activity);
  if (membership === 'added') await rememberConversation(sql, activity, at);
  if (membership === 'removed') {
    const teamId = activity.channelData?.team?.id;
    await markTeamsConversationRemoved(sql, {
      ...(teamId ? { teamId } : { conversationId: baseConversation(activity.conversation.id) }),
      at,
    });
  }
  return membership;
}

/** The first message after the bot joins: what it is and how to point a project here. */
export function welcomeReply(activity: TeamsActivity): Reply {
  const id = baseConversation(activity.conversation.id);
  if (conversationKind(activity) === 'personal') {
    return {
      visibility: 'public',
      header: 'Warden is here',
      text: 'Type `help` to see what Warden can do. Approvals waiting for you and answers meant only for you arrive in this chat.',
    };
  }
  return {
    visibility: 'public',
    header: 'Warden is in this channel',
    text: 'Mention @Warden with a command, e.g. "@Warden help". To send a project\'s approvals, alerts and digests here, an admin sets the project\'s Teams channel to the id below (REST API: PATCH /api/v1/projects/<project> with {"channels":{"teams":"<id>"}}).',
    fields: [{ label: 'Teams channel id', value: id }],
  };
}

const StoredReference = z.looseObject({
  channelId: z.string().min(1),
  serviceUrl: z.string().min(1),
  conversation: z.looseObject({ id: z.string().min(1) }),
  agent: z.looseObject({ id: z.string().min(1) }),
});

/** A stored row's reference, checked (the bot needs `agent` to speak as itself). */
export function storedReference(row: TeamsConversation): ConversationReference | undefined {
  const parsed = StoredReference.safeParse(row.reference);
  return parsed.success ? (parsed.data as unknown as ConversationReference) : undefined;
}

export interface Target {
  reference: ConversationReference;
  kind: TeamsConversation['kind'];
}

/**
 * Where to send for a conversation id: its own stored reference, or, for a channel of a team
 * Warden is in but was never spoken to in, a reference built from the tenant's latest team
 * conversation (same serviceUrl and bot). Undefined when Warden cannot reach it.
 */
export async function findTarget(
  sql: Queryable,
  config: TeamsConfig,
  conversationId: string,
): Promise<{ target?: Target; removed?: boolean }> {
  const own = await getTeamsConversation(sql, conversationId);
  if (own?.removedAt) return { removed: true };
  const ref = own ? storedReference(own) : undefined;
  if (own && ref) return { target: { reference: ref, kind: own.kind } };
  if (!conversationId.startsWith('19:')) return {};
  const sibling = await latestTeamsChannel(sql, config.tenantId);
  const siblingRef = sibling ? storedReference(sibling) : undefined;
  if (!siblingRef) return {};
  return {
    target: {
      kind: 'channel',
      reference: {
        ...siblingRef,
        conversation: {
          id: conversationId,
          conversationType: 'channel',
          isGroup: true,
          tenantId: config.tenantId,
        },
      } as ConversationReference,
    },
  };
}
