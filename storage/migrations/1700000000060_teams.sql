-- Up Migration

-- Where Warden can talk on Teams without being spoken to first: one row per conversation the bot
-- was added to or heard from (a team's channel, a group chat, a user's personal chat). The
-- reference is the Bot Framework conversation reference (serviceUrl, conversation, agent, user)
-- that proactive posts, updates and thread replies start from.
CREATE TABLE teams_conversations (
  conversation_id  text PRIMARY KEY,
  kind             text NOT NULL CHECK (kind IN ('personal', 'channel', 'groupChat')),
  tenant_id        text NOT NULL,
  team_id          text,
  -- personal chats: the Entra object id of the user the chat is with
  aad_object_id    text,
  service_url      text NOT NULL,
  reference        jsonb NOT NULL,
  -- set when the bot was removed; posting there then fails with a clear message
  removed_at       timestamptz,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL
);
CREATE INDEX teams_conversations_personal_idx ON teams_conversations (aad_object_id) WHERE kind = 'personal';
CREATE INDEX teams_conversations_tenant_idx ON teams_conversations (tenant_id, updated_at);

-- Messages the outbox already posted, by idempotency key, so a re-sent item does not post twice.
CREATE TABLE teams_posts (
  idempotency_key  text PRIMARY KEY,
  conversation_id  text NOT NULL,
  activity_id      text NOT NULL,
  created_at       timestamptz NOT NULL
);

-- Down Migration
DROP TABLE teams_posts, teams_conversations;
