-- Up Migration

-- Files the outbox already uploaded to Slack (digest charts), by idempotency key: an item sent
-- again after a crash finds its file here instead of uploading a second copy. Kept apart from
-- slack_posts because a file id is not a message ts (it cannot be threaded under or updated).
CREATE TABLE slack_uploads (
  idempotency_key  text PRIMARY KEY,
  channel          text NOT NULL,
  file_id          text NOT NULL,
  created_at       timestamptz NOT NULL
);

-- Down Migration
DROP TABLE slack_uploads;
