-- Up Migration

-- The key registry: every SSH key Warden manages (its own service keys, users' public keys, the
-- SSH user CA) with exactly one owner. A rotation never edits a key: it adds a new row
-- (rotated_from = the old one) and retires the old row, so the history of a key stays readable.
CREATE TABLE keys (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind              text NOT NULL CHECK (kind IN ('service', 'user', 'ca')),
  -- the one caretaker; moves only through key_handovers (and the trail)
  owner_id          bigint NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
  purpose           text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 200),
  -- `SHA256:…` as ssh-keygen -l prints it; unique for ever, so a key is never registered twice
  fingerprint       text NOT NULL UNIQUE CHECK (fingerprint ~ '^SHA256:[A-Za-z0-9+/]{43}$'),
  key_type          text NOT NULL,
  bits              integer NOT NULL,
  -- the OpenSSH public key line (type, base64, comment)
  public_key        text NOT NULL,
  -- service keys and the CA: the sealed private key; several generations share one secret,
  -- whose value is the current generation's key
  secret_id         bigint REFERENCES secrets(id) ON DELETE RESTRICT,
  -- the project whose policy the key follows (service keys of one project, the CA of a project)
  project_id        bigint REFERENCES projects(id) ON DELETE SET NULL,
  created_at        timestamptz NOT NULL,
  last_used_at      timestamptz,
  -- NULL: the projects' policy (settings.keys.rotateEvery, default 30 days)
  rotate_every_ms   bigint CHECK (rotate_every_ms IS NULL OR rotate_every_ms >= 60000),
  next_rotation_at  timestamptz,
  rotated_from      bigint REFERENCES keys(id),
  retired_at        timestamptz,
  retired_reason    text,
  CHECK (kind <> 'service' OR secret_id IS NOT NULL),
  CHECK (kind <> 'user' OR secret_id IS NULL)
);
CREATE INDEX keys_owner_idx ON keys (owner_id, id);
CREATE INDEX keys_secret_idx ON keys (secret_id) WHERE retired_at IS NULL;
-- One live generation per secret: the service key (or CA) Warden currently uses.
CREATE UNIQUE INDEX keys_one_live_per_secret_idx ON keys (secret_id) WHERE retired_at IS NULL AND secret_id IS NOT NULL;

-- Where a key is (or was) in an authorized_keys file. `tag` is the `warden:<tag>` mark when
-- Warden wrote the line; NULL when someone installed the key by hand.
CREATE TABLE key_installations (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key_id        bigint NOT NULL REFERENCES keys(id) ON DELETE CASCADE,
  server_id     bigint NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  login         text NOT NULL CHECK (login ~ '^[a-z_][a-z0-9_-]{0,31}$'),
  tag           text,
  installed_at  timestamptz NOT NULL,
  -- the last time a login with the key was seen to work (or, after removal, to be refused)
  verified_at   timestamptz,
  removed_at    timestamptz
);
CREATE UNIQUE INDEX key_installations_live_idx ON key_installations (key_id, server_id, login)
  WHERE removed_at IS NULL;
CREATE INDEX key_installations_server_idx ON key_installations (server_id) WHERE removed_at IS NULL;

-- Every change of owner, with who did it and why.
CREATE TABLE key_handovers (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key_id         bigint NOT NULL REFERENCES keys(id) ON DELETE CASCADE,
  from_user_id   bigint NOT NULL REFERENCES users(id),
  to_user_id     bigint NOT NULL REFERENCES users(id),
  by_user_id     bigint NOT NULL REFERENCES users(id),
  reason         text NOT NULL,
  at             timestamptz NOT NULL,
  CHECK (from_user_id <> to_user_id)
);
CREATE INDEX key_handovers_key_idx ON key_handovers (key_id, id);

-- One row per rotation attempt of a service key. Claimed before anything touches a server
-- (the partial unique index lets only one run rotate a key at a time, across replicas); a run
-- that dies leaves its row 'adding' or 'switched', and the next run cleans up or finishes it.
CREATE TABLE key_rotations (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key_id           bigint NOT NULL REFERENCES keys(id) ON DELETE CASCADE,
  new_key_id       bigint REFERENCES keys(id) ON DELETE SET NULL,
  new_fingerprint  text,
  -- the authorized_keys tag of the new key's lines
  tag              text NOT NULL,
  status           text NOT NULL CHECK (status IN ('adding', 'switched', 'done', 'failed', 'abandoned')),
  trigger          text NOT NULL,
  started_at       timestamptz NOT NULL,
  heartbeat_at     timestamptz NOT NULL,
  finished_at      timestamptz,
  error            text
);
CREATE UNIQUE INDEX key_rotations_one_running_idx ON key_rotations (key_id) WHERE status IN ('adding', 'switched');
CREATE INDEX key_rotations_key_idx ON key_rotations (key_id, id);

-- Down Migration
DROP TABLE key_rotations, key_handovers, key_installations, keys;
