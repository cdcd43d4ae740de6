-- Up Migration

-- Signatures of Slack requests already accepted. A second request with the same signature is a
-- replay and is refused; kept in Postgres so every replica sees it. Rows outlive the ±5 minute
-- timestamp window, after which the signature could not pass verification anyway.
CREATE TABLE slack_request_signatures (
  signature   text PRIMARY KEY,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX slack_request_signatures_expiry_idx ON slack_request_signatures (expires_at);

-- Events API deliveries already taken: Slack retries (X-Slack-Retry-Num) carry the same event_id.
CREATE TABLE slack_event_ids (
  event_id     text PRIMARY KEY,
  received_at  timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL
);
CREATE INDEX slack_event_ids_expiry_idx ON slack_event_ids (expires_at);

-- What users.info said about a Slack user, cached with an expiry (e-mail needs users:read.email).
CREATE TABLE slack_users (
  user_id       text PRIMARY KEY,
  team_id       text,
  name          text,
  email         text,
  deleted       boolean NOT NULL DEFAULT false,
  is_bot        boolean NOT NULL DEFAULT false,
  fetched_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL
);

-- Messages the outbox already posted, by idempotency key, so a re-sent item does not post twice.
CREATE TABLE slack_posts (
  idempotency_key  text PRIMARY KEY,
  channel          text NOT NULL,
  ts               text NOT NULL,
  created_at       timestamptz NOT NULL
);

-- Down Migration
DROP TABLE slack_posts, slack_users, slack_event_ids, slack_request_signatures;
