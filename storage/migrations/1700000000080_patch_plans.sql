-- Up Migration

-- ---------------------------------------------------------------- patch policies
-- One per project; `policy` is validated by the zod PatchPolicy schema (commands/patching/policy.ts)
-- before it is written. A project without a row uses the default policy.
CREATE TABLE patch_policies (
  project_id  bigint PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
  policy      jsonb NOT NULL,
  updated_at  timestamptz NOT NULL,
  updated_by  text NOT NULL
);

-- ---------------------------------------------------------------- patch plans
-- The exact packages and versions per server, pinned by `hash` (commands/patching/hash.ts).
-- Approvers approve a plan; the run (P2, patch_run_servers) installs exactly its items.
CREATE TABLE patch_plans (
  id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project_id             bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  status                 text NOT NULL CHECK (status IN ('draft', 'awaiting-approval', 'approved', 'scheduled',
                           'running', 'succeeded', 'partially-failed', 'failed', 'rolled-back', 'cancelled',
                           'superseded')),
  kind                   text NOT NULL CHECK (kind IN ('scheduled', 'now', 'cve')),
  cve                    text CHECK ((kind = 'cve') = (cve IS NOT NULL)),
  -- sha256 over the canonical plan: items sorted plus the policy parts that decide the run
  hash                   text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  -- the window the run was scheduled into (set when scheduled; a tentative one is in notes)
  window_start           timestamptz,
  window_end             timestamptz,
  -- no server is started at or after this moment
  cutoff_at              timestamptz,
  approval_request_id    bigint REFERENCES approval_requests(id) ON DELETE SET NULL,
  -- the secondary approval of the excluded packages; NULL when the plan has none
  exclusion_request_id   bigint REFERENCES approval_requests(id) ON DELETE SET NULL,
  created_by             bigint REFERENCES users(id) ON DELETE SET NULL,
  created_ref            text NOT NULL,
  created_at             timestamptz NOT NULL,
  approved_at            timestamptz,
  exclusion_approved_at  timestamptz,
  scheduled_at           timestamptz,
  -- the patch-window job enqueued the `patch-run` job at this time (re-enqueued if still not running)
  run_enqueued_at        timestamptz,
  heads_up_sent_at       timestamptz,
  status_changed_at      timestamptz NOT NULL,
  superseded_by          bigint REFERENCES patch_plans(id) ON DELETE SET NULL,
  -- the policy as it was when planned: the run reads rings, backups, reboot, commands and checks here
  policy_snapshot        jsonb NOT NULL,
  -- how it was built: servers considered (fresh), held back, skipped, refused, the tentative window
  notes                  jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- built with --skip-excluded: excluded packages were left out instead of asking for their approval
  skip_excluded          boolean NOT NULL DEFAULT false,
  CHECK (cve IS NULL OR cve ~ '^CVE-[0-9]{4}-[0-9]{4,}$')
);
-- One live plan per project, kind and CVE: a new one supersedes the old, never runs beside it.
CREATE UNIQUE INDEX patch_plans_live_idx ON patch_plans (project_id, kind, coalesce(cve, ''))
  WHERE status IN ('draft', 'awaiting-approval', 'approved', 'scheduled', 'running');
CREATE INDEX patch_plans_scheduled_idx ON patch_plans (window_start) WHERE status = 'scheduled';
CREATE INDEX patch_plans_awaiting_idx ON patch_plans (created_at) WHERE status = 'awaiting-approval';
CREATE INDEX patch_plans_project_idx ON patch_plans (project_id, id DESC);

CREATE TABLE patch_plan_items (
  plan_id          bigint NOT NULL REFERENCES patch_plans(id) ON DELETE CASCADE,
  server_id        bigint NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  -- index into policy_snapshot.rings; rings run in this order
  ring             integer NOT NULL CHECK (ring >= 0),
  -- the server's place in its ring (0-based, by name)
  position         integer NOT NULL CHECK (position >= 0),
  package          text NOT NULL,
  -- '' when the package manager does not say
  arch             text NOT NULL DEFAULT '',
  from_version     text NOT NULL,
  to_version       text NOT NULL,
  classification   text NOT NULL,
  severity         text NOT NULL,
  cves             text[] NOT NULL DEFAULT '{}',
  -- matches a policy exclusion: installed only because the secondary approval was granted
  excluded         boolean NOT NULL DEFAULT false,
  reboot_expected  boolean NOT NULL DEFAULT false,
  -- the package family from the server's last good scan (debian, rhel, suse, alpine, windows, unknown)
  os_family        text NOT NULL,
  -- when the finding was first seen (auto-approval counts from here)
  first_seen_at    timestamptz NOT NULL,
  PRIMARY KEY (plan_id, server_id, package, arch)
);
CREATE INDEX patch_plan_items_server_idx ON patch_plan_items (server_id);

-- Down Migration
DROP TABLE patch_plan_items, patch_plans, patch_policies;
