-- Up Migration

-- The outbox item an image was stored for. A send that failed after its image was stored and is
-- retried finds the row here and gives it a new link token, instead of storing a second copy.
ALTER TABLE chat_images ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX chat_images_idempotency_idx ON chat_images (idempotency_key) WHERE idempotency_key IS NOT NULL;

-- Down Migration
DROP INDEX chat_images_idempotency_idx;
ALTER TABLE chat_images DROP COLUMN idempotency_key;
