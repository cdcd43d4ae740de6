-- Up Migration

-- ---------------------------------------------------------------- people
CREATE TABLE users (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  handle        text NOT NULL UNIQUE CHECK (handle ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
  display_name  text NOT NULL,
  email         text UNIQUE CHECK (email IS NULL OR email = lower(email)),
  disabled      boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- A user's identity on each platform: slack user id, teams AAD object id, console handle, e-mail.
CREATE TABLE identities (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  platform     text NOT NULL CHECK (platform IN ('console', 'slack', 'teams', 'api', 'email')),
  external_id  text NOT NULL,
  email        text,
  verified_at  timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (platform, external_id)
);
CREATE INDEX identities_user_idx ON identities (user_id);

-- ---------------------------------------------------------------- inventory
CREATE TABLE accounts (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        text NOT NULL UNIQUE,
  provider    text NOT NULL CHECK (provider IN ('local', 'ssh', 'aws', 'azure', 'gcp')),
  config      jsonb NOT NULL DEFAULT '{}'::jsonb,
  sealed_credentials text,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  slug         text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name         text NOT NULL,
  description  text NOT NULL DEFAULT '',
  -- where this project talks: {"console": "demo", "slack": "C0123", "teams": "19:…"}
  channels     jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- per-project policy knobs (approvals, access caps, …), validated by commands/
  settings     jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE servers (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name         text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'),
  project_id   bigint REFERENCES projects(id) ON DELETE RESTRICT,
  account_id   bigint REFERENCES accounts(id) ON DELETE RESTRICT,
  provider     text NOT NULL DEFAULT 'ssh' CHECK (provider IN ('local', 'ssh', 'aws', 'azure', 'gcp')),
  provider_id  text,
  address      text,
  port         integer CHECK (port IS NULL OR (port > 0 AND port < 65536)),
  os           jsonb NOT NULL DEFAULT '{}'::jsonb,
  tags         jsonb NOT NULL DEFAULT '{}'::jsonb,
  owner_id     bigint REFERENCES users(id) ON DELETE SET NULL,
  -- how to reach it: {"user": "patchbot", "sudo": true, "jump": "bastion-1", "hostKey": "SHA256:…"}
  connection   jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX servers_provider_id_idx ON servers (account_id, provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX servers_project_idx ON servers (project_id);

-- ---------------------------------------------------------------- rbac and tokens
CREATE TABLE role_bindings (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role        text NOT NULL CHECK (role IN ('admin', 'patch-manager', 'approver', 'operator', 'auditor', 'contractor')),
  -- NULL: the binding holds on every project
  project_id  bigint REFERENCES projects(id) ON DELETE CASCADE,
  granted_by  bigint REFERENCES users(id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE NULLS NOT DISTINCT (user_id, role, project_id)
);

CREATE TABLE api_tokens (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name          text NOT NULL,
  -- SHA-256 of the token; the token itself is shown once and never stored
  token_hash    text NOT NULL UNIQUE,
  prefix        text NOT NULL,
  -- permissions this token may use (intersected with the user's own); empty = none
  scopes        text[] NOT NULL,
  project_id    bigint REFERENCES projects(id) ON DELETE CASCADE,
  expires_at    timestamptz,
  last_used_at  timestamptz,
  revoked_at    timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- Encrypted secrets (vault envelopes): service keys, integration credentials, the SSH CA.
CREATE TABLE secrets (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        text NOT NULL UNIQUE,
  purpose     text NOT NULL,
  owner_id    bigint REFERENCES users(id) ON DELETE RESTRICT,
  sealed      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  rotated_at  timestamptz
);

-- ---------------------------------------------------------------- the trail
-- Append-only, hash-chained. Writers take the single audit_head row FOR UPDATE, so two
-- concurrent writers can never fork the chain, and seq is gapless.
CREATE TABLE audit_events (
  seq           bigint PRIMARY KEY,
  at            timestamptz NOT NULL,
  actor         text NOT NULL,
  action        text NOT NULL,
  subject_type  text,
  subject_id    text,
  project_id    bigint,
  data          jsonb NOT NULL DEFAULT '{}'::jsonb,
  request_id    text,
  prev_hash     text NOT NULL,
  hash          text NOT NULL UNIQUE
);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_type, subject_id, seq);
CREATE INDEX audit_events_actor_idx ON audit_events (actor, seq);
CREATE INDEX audit_events_project_idx ON audit_events (project_id, seq);

CREATE TABLE audit_head (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  seq        bigint NOT NULL,
  hash       text NOT NULL
);
INSERT INTO audit_head (singleton, seq, hash) VALUES (true, 0, repeat('0', 64));

CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();

CREATE FUNCTION audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' OR NEW.seq <> OLD.seq + 1 THEN
    RAISE EXCEPTION 'audit_head only moves forward one event at a time' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER audit_head_forward BEFORE UPDATE OR DELETE ON audit_head
  FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only();

-- What must be told elsewhere, written in the same transaction as the audit event.
CREATE TABLE outbox (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- which deliverer handles it: 'chat', 'ticket', 'webhook', 'mail'
  channel          text NOT NULL,
  kind             text NOT NULL,
  payload          jsonb NOT NULL,
  idempotency_key  text NOT NULL UNIQUE,
  -- items sharing an ordering key are delivered one after another, in id order
  ordering_key     text,
  audit_seq        bigint,
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  locked_until     timestamptz,
  last_error       text,
  result           jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX outbox_ordering_idx ON outbox (ordering_key, id) WHERE status = 'pending';

-- Where a subject's message lives on each platform, so later events update it and reply in its thread.
CREATE TABLE message_refs (
  subject_type  text NOT NULL,
  subject_id    text NOT NULL,
  platform      text NOT NULL,
  channel       text NOT NULL,
  message_id    text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (subject_type, subject_id, platform)
);

-- Every command and click, committed before it is acknowledged (nothing lost on a crash).
CREATE TABLE interactions (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  platform     text NOT NULL,
  dedupe_key   text NOT NULL,
  user_ref     text NOT NULL,
  kind         text NOT NULL CHECK (kind IN ('command', 'action', 'form')),
  body         jsonb NOT NULL,
  status       text NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'done', 'failed')),
  error        text,
  received_at  timestamptz NOT NULL DEFAULT now(),
  done_at      timestamptz,
  UNIQUE (platform, dedupe_key)
);
CREATE INDEX interactions_unfinished_idx ON interactions (received_at) WHERE status = 'received';

-- ---------------------------------------------------------------- approvals
CREATE TABLE approval_requests (
  id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  subject_type           text NOT NULL,
  subject_id             text NOT NULL,
  project_id             bigint REFERENCES projects(id) ON DELETE CASCADE,
  requester_id           bigint NOT NULL REFERENCES users(id),
  permission             text NOT NULL,
  required_approvals     integer NOT NULL DEFAULT 1 CHECK (required_approvals BETWEEN 1 AND 10),
  deny_ends              boolean NOT NULL DEFAULT true,
  status                 text NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'cancelled')),
  title                  text NOT NULL,
  details                jsonb NOT NULL DEFAULT '{}'::jsonb,
  expires_at             timestamptz NOT NULL,
  remind_at              timestamptz,
  reminded_at            timestamptz,
  escalate_at            timestamptz,
  escalated_at           timestamptz,
  escalation_permission  text,
  created_at             timestamptz NOT NULL,
  decided_at             timestamptz,
  decided_reason         text
);
CREATE UNIQUE INDEX approval_requests_one_pending_idx ON approval_requests (subject_type, subject_id)
  WHERE status = 'pending';
CREATE INDEX approval_requests_pending_idx ON approval_requests (expires_at) WHERE status = 'pending';

CREATE TABLE approval_decisions (
  request_id   bigint NOT NULL REFERENCES approval_requests(id) ON DELETE CASCADE,
  approver_id  bigint NOT NULL REFERENCES users(id),
  decision     text NOT NULL CHECK (decision IN ('approve', 'deny')),
  comment      text,
  decided_at   timestamptz NOT NULL,
  PRIMARY KEY (request_id, approver_id)
);

-- ---------------------------------------------------------------- the local console (embedded chat)
CREATE TABLE console_messages (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  channel          text NOT NULL,
  thread_id        bigint REFERENCES console_messages(id) ON DELETE CASCADE,
  author           text NOT NULL,
  -- NULL: everyone in the channel sees it; otherwise only this user (an ephemeral reply)
  visible_to       bigint REFERENCES users(id) ON DELETE CASCADE,
  body             jsonb NOT NULL,
  idempotency_key  text UNIQUE,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX console_messages_channel_idx ON console_messages (channel, id);
CREATE INDEX console_messages_updated_idx ON console_messages (updated_at);

-- Down Migration
DROP TABLE console_messages, approval_decisions, approval_requests, interactions, message_refs, outbox,
  audit_head, audit_events, secrets, api_tokens, role_bindings, servers, projects, accounts, identities, users;
DROP FUNCTION audit_events_refuse_change, audit_head_forward_only;
