-- Up Migration

-- Pictures Warden links from chat messages (a digest's chart in a Teams card): Teams fetches an
-- Adaptive Card's Image from a URL, and a chart is too big to ride inside a Teams message. The
-- URL carries a random token; only its SHA-256 is kept here, so the table alone never yields a
-- working link. Rows past expires_at are never served and are deleted when the next image is stored.
CREATE TABLE chat_images (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  token_hash  text NOT NULL,
  png         bytea NOT NULL,
  title       text NOT NULL,
  alt         text NOT NULL,
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  CHECK (expires_at > created_at)
);
CREATE INDEX chat_images_expiry_idx ON chat_images (expires_at);

-- Down Migration
DROP TABLE chat_images;
