import type { Queryable } from './db.js';

/**
 * What the Teams adapter keeps in Postgres so it holds across replicas: the conversation
 * references proactive messages start from, and which outbox items were already posted.
 */

export type TeamsConversationKind = 'personal' | 'channel' | 'groupChat';

export interface TeamsConversation {
  conversationId: string;
  kind: TeamsConversationKind;
  tenantId: string;
  teamId: string | null;
  aadObjectId: string | null;
  serviceUrl: string;
  /** The Bot Framework conversation reference, as stored (checked again by the reader). */
  reference: Record<string, unknown>;
  removedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

const columns = (sql: Queryable) => sql`
  conversation_id as "conversationId", kind, tenant_id as "tenantId", team_id as "teamId",
  aad_object_id as "aadObjectId", service_url as "serviceUrl", reference, removed_at as "removedAt",
  created_at as "createdAt", updated_at as "updatedAt"`;

/** Remember (or refresh) a conversation; hearing from it again clears an earlier removal. */
export async function saveTeamsConversation(
  sql: Queryable,
  input: {
    conversationId: string;
    kind: TeamsConversationKind;
    tenantId: string;
    teamId: string | null;
    aadObjectId: string | null;
    serviceUrl: string;
    reference: Record<string, unknown>;
    at: Date;
  },
): Promise<void> {
  await sql`
    insert into teams_conversations (conversation_id, kind, tenant_id, team_id, aad_object_id, service_url,
                                     reference, removed_at, created_at, updated_at)
    values (${input.conversationId}, ${input.kind}, ${input.tenantId}, ${input.teamId}, ${input.aadObjectId},
            ${input.serviceUrl}, ${sql.json(input.reference as never)}, null, ${input.at}, ${input.at})
    on conflict (conversation_id) do update set kind = excluded.kind, tenant_id = excluded.tenant_id,
      team_id = coalesce(excluded.team_id, teams_conversations.team_id),
      aad_object_id = coalesce(excluded.aad_object_id, teams_conversations.aad_object_id),
      service_url = excluded.service_url, reference = excluded.reference, removed_at = null,
      updated_at = excluded.updated_at`;
}

/** The bot left a team or chat: keep the row (for the message saying so), mark it removed. */
export async function markTeamsConversationRemoved(
  sql: Queryable,
  input: { conversationId?: string; teamId?: string; at: Date },
): Promise<number> {
  if (input.teamId) {
    const result = await sql`
      update teams_conversations set removed_at = ${input.at}, updated_at = ${input.at}
      where team_id = ${input.teamId} and removed_at is null`;
    return result.count;
  }
  const result = await sql`
    update teams_conversations set removed_at = ${input.at}, updated_at = ${input.at}
    where conversation_id = ${input.conversationId ?? ''} and removed_at is null`;
  return result.count;
}

export async function getTeamsConversation(
  sql: Queryable,
  conversationId: string,
): Promise<TeamsConversation | undefined> {
  const [row] = await sql<TeamsConversation[]>`
    select ${columns(sql)} from teams_conversations where conversation_id = ${conversationId}`;
  return row;
}

/** The personal chat Warden has with an Entra user, if the user installed the app or wrote to it. */
export async function findPersonalTeamsConversation(
  sql: Queryable,
  aadObjectId: string,
): Promise<TeamsConversation | undefined> {
  const [row] = await sql<TeamsConversation[]>`
    select ${columns(sql)} from teams_conversations
    where kind = 'personal' and aad_object_id = ${aadObjectId} and removed_at is null
    order by updated_at desc limit 1`;
  return row;
}

/**
 * The most recent live team conversation of a tenant: a channel Warden was never spoken to in
 * is still reachable through the serviceUrl of its team, which Teams gives per tenant region.
 */
export async function latestTeamsChannel(
  sql: Queryable,
  tenantId: string,
): Promise<TeamsConversation | undefined> {
  const [row] = await sql<TeamsConversation[]>`
    select ${columns(sql)} from teams_conversations
    where tenant_id = ${tenantId} and kind = 'channel' and removed_at is null
    order by updated_at desc limit 1`;
  return row;
}

/** The Entra object id a Warden user is linked to on Teams, if any. */
export async function findTeamsIdentity(sql: Queryable, userId: number): Promise<string | undefined> {
  const [row] = await sql<{ externalId: string }[]>`
    select external_id as "externalId" from identities
    where user_id = ${userId} and platform = 'teams' order by created_at desc limit 1`;
  return row?.externalId;
}

export async function getTeamsPost(
  sql: Queryable,
  idempotencyKey: string,
): Promise<{ conversationId: string; activityId: string } | undefined> {
  const [row] = await sql<{ conversationId: string; activityId: string }[]>`
    select conversation_id as "conversationId", activity_id as "activityId" from teams_posts
    where idempotency_key = ${idempotencyKey}`;
  return row;
}

export async function saveTeamsPost(
  sql: Queryable,
  input: { idempotencyKey: string; conversationId: string; activityId: string; at: Date },
): Promise<void> {
  await sql`
    insert into teams_posts (idempotency_key, conversation_id, activity_id, created_at)
    values (${input.idempotencyKey}, ${input.conversationId}, ${input.activityId}, ${input.at})
    on conflict (idempotency_key) do nothing`;
}
