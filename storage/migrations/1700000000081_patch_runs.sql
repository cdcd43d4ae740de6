-- Up Migration

-- Patch runs (commands/patching/run.ts). A plan (patch_plans, migration 080) in status 'running'
-- has one patch_runs row: who is running it (a lease renewed by a heartbeat, so a process that
-- died is noticed and the run resumed elsewhere), whether it was halted and why.
CREATE TABLE patch_runs (
  plan_id        bigint PRIMARY KEY REFERENCES patch_plans(id) ON DELETE CASCADE,
  owner          text,
  lease_until    timestamptz,
  started_at     timestamptz NOT NULL,
  finished_at    timestamptz,
  -- Set once: the error threshold was reached, or someone typed `patch halt`.
  halted_at      timestamptz,
  halted_reason  text,
  halted_by      text,
  outcome        text CHECK (outcome IN ('succeeded', 'partially-failed', 'failed', 'rolled-back')),
  progress_seq   integer NOT NULL DEFAULT 0
);
CREATE INDEX patch_runs_open_idx ON patch_runs (lease_until) WHERE finished_at IS NULL;

-- One row per server of a running plan. The state is written (and committed) before the step it
-- names starts, so after a crash each server's row says exactly where it stood.
CREATE TABLE patch_run_servers (
  plan_id            bigint NOT NULL REFERENCES patch_plans(id) ON DELETE CASCADE,
  server_id          bigint NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  ring               integer NOT NULL,
  position           integer NOT NULL DEFAULT 0,
  state              text NOT NULL DEFAULT 'pending' CHECK (state IN (
                       'pending', 'backing-up', 'pre', 'installing', 'rebooting', 'post', 'checking',
                       'confirming', 'succeeded', 'failed', 'rolling-back', 'rolled-back',
                       'skipped-cutoff', 'skipped-halted')),
  attempt            integer NOT NULL DEFAULT 0,
  -- What to go back to: [{package, arch, version}], plus the rpm history id and snapshot taken.
  previous_versions  jsonb,
  -- The log of steps: [{at, state, ok, detail, ms}], bounded by the code that appends to it.
  steps              jsonb NOT NULL DEFAULT '[]'::jsonb,
  error              text,
  started_at         timestamptz,
  finished_at        timestamptz,
  PRIMARY KEY (plan_id, server_id)
);
CREATE INDEX patch_run_servers_order_idx ON patch_run_servers (plan_id, ring, position, server_id);

-- Down Migration
DROP TABLE patch_run_servers, patch_runs;
