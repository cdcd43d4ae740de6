-- Up Migration

-- ---------------------------------------------------------------- configuration baselines
-- One run of a baseline (a list of CIS-style checks, commands/baselines) on one server.
CREATE TABLE baseline_runs (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  server_id    bigint NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  project_id   bigint REFERENCES projects(id) ON DELETE SET NULL,
  baseline     text NOT NULL,
  -- what started it: after a scan (the baseline-due job), chat, the API, a test
  triggered_by text NOT NULL,
  started_at   timestamptz NOT NULL,
  finished_at  timestamptz NOT NULL,
  -- failed: the server could not be reached at all (no check result recorded)
  status       text NOT NULL CHECK (status IN ('succeeded', 'failed')),
  error        text,
  passed       integer NOT NULL DEFAULT 0,
  failed       integer NOT NULL DEFAULT 0,
  errored      integer NOT NULL DEFAULT 0
);
CREATE INDEX baseline_runs_server_idx ON baseline_runs (server_id, started_at DESC);

-- History: every check's result in every run, never updated.
CREATE TABLE baseline_results (
  run_id     bigint NOT NULL REFERENCES baseline_runs(id) ON DELETE CASCADE,
  server_id  bigint NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  check_id   text NOT NULL,
  level      integer NOT NULL,
  title      text NOT NULL,
  -- error: the check could not tell (command missing, no permission, timeout)
  status     text NOT NULL CHECK (status IN ('pass', 'fail', 'error')),
  evidence   text NOT NULL DEFAULT '',
  exit_code  integer,
  at         timestamptz NOT NULL,
  PRIMARY KEY (run_id, check_id)
);
CREATE INDEX baseline_results_server_idx ON baseline_results (server_id, check_id, at DESC);

-- Where each check stands now on each server: the last definite result (pass or fail) and since
-- when. A check that passed and now fails has drifted; drifted_at marks that moment, so the
-- drift alert is sent once per drift and not on every later run that still fails.
CREATE TABLE baseline_state (
  server_id         bigint NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  check_id          text NOT NULL,
  title             text NOT NULL,
  level             integer NOT NULL,
  -- unknown: the check has never given a definite answer on this server
  status            text NOT NULL CHECK (status IN ('pass', 'fail', 'unknown')),
  since             timestamptz NOT NULL,
  last_result       text NOT NULL CHECK (last_result IN ('pass', 'fail', 'error')),
  last_evidence     text NOT NULL DEFAULT '',
  last_checked_at   timestamptz NOT NULL,
  last_run_id       bigint NOT NULL,
  last_passed_at    timestamptz,
  drifted_at        timestamptz,
  drift_alerted_at  timestamptz,
  PRIMARY KEY (server_id, check_id)
);
CREATE INDEX baseline_state_failing_idx ON baseline_state (server_id) WHERE status = 'fail';

-- A remediation command asked for, approved (or not) and run. argv is the command as it was
-- when asked for: approvers approve exactly what will run.
CREATE TABLE baseline_remediations (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  server_id      bigint NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  project_id     bigint REFERENCES projects(id) ON DELETE SET NULL,
  baseline       text NOT NULL,
  check_id       text NOT NULL,
  argv           text[] NOT NULL CHECK (cardinality(argv) > 0),
  risk           text NOT NULL CHECK (risk IN ('low', 'medium', 'high')),
  status         text NOT NULL CHECK (status IN ('awaiting-approval', 'approved', 'running', 'succeeded',
                                                 'failed', 'denied', 'expired', 'cancelled')),
  approval_id    bigint REFERENCES approval_requests(id) ON DELETE SET NULL,
  requested_by   bigint REFERENCES users(id) ON DELETE SET NULL,
  requested_ref  text NOT NULL,
  created_at     timestamptz NOT NULL,
  decided_at     timestamptz,
  started_at     timestamptz,
  finished_at    timestamptz,
  exit_code      integer,
  output         text,
  error          text
);
CREATE UNIQUE INDEX baseline_remediations_open_idx ON baseline_remediations (server_id, check_id)
  WHERE status IN ('awaiting-approval', 'approved', 'running');

-- ---------------------------------------------------------------- scheduled report e-mails
-- One row per project and schedule slot, written in the same transaction as the outbox item
-- that sends it, so a slot is mailed once however many replicas look at it.
CREATE TABLE report_deliveries (
  project_id  bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  slot        timestamptz NOT NULL,
  recipients  text[] NOT NULL,
  queued_at   timestamptz NOT NULL,
  PRIMARY KEY (project_id, slot)
);

-- Down Migration
DROP TABLE report_deliveries, baseline_remediations, baseline_state, baseline_results, baseline_runs;
