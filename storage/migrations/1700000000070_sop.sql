-- Up Migration

-- The script repository. A script is a name; what it does lives in its versions. Every change is
-- a new version (never an edit), so a run always points at the exact text that ran.
CREATE TABLE scripts (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name                text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
  -- the version a new run uses; set in the same transaction that inserts it
  current_version_id  bigint,
  created_at          timestamptz NOT NULL,
  updated_at          timestamptz NOT NULL
);

CREATE TABLE script_versions (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  script_id       bigint NOT NULL REFERENCES scripts(id) ON DELETE CASCADE,
  version         integer NOT NULL CHECK (version >= 1),
  description     text NOT NULL,
  language        text NOT NULL CHECK (language IN ('bash', 'sh', 'powershell')),
  body            text NOT NULL,
  params          jsonb NOT NULL DEFAULT '[]'::jsonb,
  os              text[] NOT NULL,
  risk            text NOT NULL CHECK (risk IN ('low', 'high')),
  timeout_ms      bigint NOT NULL CHECK (timeout_ms BETWEEN 1000 AND 86400000),
  permission      text NOT NULL CHECK (permission ~ '^sop:run:'),
  -- sha256 of the canonical definition: an import of an unchanged file makes no version
  definition_hash text NOT NULL,
  -- unified diff from the previous version (from /dev/null for the first)
  diff            text NOT NULL,
  author_id       bigint REFERENCES users(id) ON DELETE SET NULL,
  author          text NOT NULL,
  source          text NOT NULL,
  -- high-risk versions wait for a review before any run may use them
  approval_state  text NOT NULL CHECK (approval_state IN ('not-needed', 'pending', 'approved', 'denied')),
  approval_id     bigint REFERENCES approval_requests(id) ON DELETE SET NULL,
  approved_at     timestamptz,
  created_at      timestamptz NOT NULL,
  UNIQUE (script_id, version)
);
ALTER TABLE scripts ADD CONSTRAINT scripts_current_version_fk
  FOREIGN KEY (current_version_id) REFERENCES script_versions(id);

CREATE TABLE script_runs (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  script_id           bigint NOT NULL REFERENCES scripts(id) ON DELETE CASCADE,
  version_id          bigint NOT NULL REFERENCES script_versions(id) ON DELETE CASCADE,
  scope_kind          text NOT NULL CHECK (scope_kind IN ('server', 'project', 'tag')),
  scope_value         text NOT NULL,
  -- the one project every server is in, else NULL (decides where approvals and messages go)
  project_id          bigint REFERENCES projects(id) ON DELETE SET NULL,
  -- validated parameter values, as the script receives them (strings)
  params              jsonb NOT NULL,
  concurrency         integer NOT NULL CHECK (concurrency BETWEEN 1 AND 100),
  status              text NOT NULL CHECK (status IN ('awaiting-approval', 'queued', 'running', 'succeeded',
                        'failed', 'partially-failed', 'cancelled', 'denied', 'expired', 'interrupted')),
  requested_by        bigint REFERENCES users(id) ON DELETE SET NULL,
  requested_ref       text NOT NULL,
  approval_id         bigint REFERENCES approval_requests(id) ON DELETE SET NULL,
  error               text,
  created_at          timestamptz NOT NULL,
  started_at          timestamptz,
  heartbeat_at        timestamptz,
  finished_at         timestamptz,
  cancelled_by        text
);
CREATE INDEX script_runs_status_idx ON script_runs (status, id) WHERE status IN ('queued', 'running');
CREATE INDEX script_runs_script_idx ON script_runs (script_id, id);

-- One row per server of a run: its state, exit code, duration and the full output it printed
-- (up to the per-stream cap), which chat shows cut and the API serves whole.
CREATE TABLE script_run_servers (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id        bigint NOT NULL REFERENCES script_runs(id) ON DELETE CASCADE,
  server_id     bigint REFERENCES servers(id) ON DELETE SET NULL,
  server_name   text NOT NULL,
  status        text NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'timed-out',
                  'cancelled', 'skipped', 'error')),
  exit_code     integer,
  signal        text,
  timed_out     boolean NOT NULL DEFAULT false,
  truncated     boolean NOT NULL DEFAULT false,
  -- bytes (UTF-8), not text: a script may print NUL, which a text column cannot hold
  stdout        bytea NOT NULL DEFAULT ''::bytea,
  stderr        bytea NOT NULL DEFAULT ''::bytea,
  error         text,
  duration_ms   integer,
  -- random part of the pid file name on the server, so a cancel can signal the running script
  cancel_token  text,
  started_at    timestamptz,
  finished_at   timestamptz,
  UNIQUE (run_id, server_name)
);
CREATE INDEX script_run_servers_run_idx ON script_run_servers (run_id, status);

-- Outgoing webhooks: per project (or global when project_id is NULL), to trail event types.
-- `patterns` are the subscription's globs turned into LIKE patterns (`approval.*` → `approval.%`),
-- so the trail finds the matching subscriptions with one query.
CREATE TABLE webhook_subscriptions (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project_id     bigint REFERENCES projects(id) ON DELETE CASCADE,
  url            text NOT NULL CHECK (url ~ '^https?://'),
  events         text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 50),
  patterns       text[] NOT NULL,
  description    text NOT NULL DEFAULT '',
  -- the HMAC secret, sealed by the vault with context `webhook:<id>`
  secret_sealed  text NOT NULL,
  active         boolean NOT NULL DEFAULT true,
  created_by     bigint REFERENCES users(id) ON DELETE SET NULL,
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL
);
CREATE INDEX webhook_subscriptions_active_idx ON webhook_subscriptions (project_id) WHERE active;

-- Every attempt to deliver, successful or not (the outbox row holds the retry state).
CREATE TABLE webhook_deliveries (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  subscription_id  bigint NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,
  outbox_id        bigint NOT NULL,
  delivery_key     text NOT NULL,
  event_seq        bigint,
  event_action     text NOT NULL,
  attempt          integer NOT NULL,
  outcome          text NOT NULL CHECK (outcome IN ('delivered', 'failed')),
  http_status      integer,
  error            text,
  duration_ms      integer NOT NULL,
  at               timestamptz NOT NULL
);
CREATE INDEX webhook_deliveries_subscription_idx ON webhook_deliveries (subscription_id, id);

-- Down Migration
DROP TABLE webhook_deliveries, webhook_subscriptions, script_run_servers, script_runs;
ALTER TABLE scripts DROP CONSTRAINT scripts_current_version_fk;
DROP TABLE script_versions, scripts;
