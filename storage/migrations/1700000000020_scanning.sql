-- Up Migration

-- ---------------------------------------------------------------- scan batches
-- One per `/warden scan X`, API call or scheduled run. The batch's chat message lives in
-- message_refs under the subject ('scan-batch', id); progress updates edit it in place.
CREATE TABLE scan_batches (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  scope_kind      text NOT NULL CHECK (scope_kind IN ('server', 'project', 'all')),
  scope_value     text,
  -- where the progress message goes: the one project concerned, or NULL when several are
  project_id      bigint REFERENCES projects(id) ON DELETE SET NULL,
  server_ids      bigint[] NOT NULL,
  status          text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'interrupted')),
  total           integer NOT NULL CHECK (total >= 0),
  done            integer NOT NULL DEFAULT 0,
  failed          integer NOT NULL DEFAULT 0,
  triggered_by    text NOT NULL CHECK (triggered_by IN ('chat', 'api', 'schedule', 'cli')),
  requested_by    bigint REFERENCES users(id) ON DELETE SET NULL,
  -- as the trail names the actor: user:<handle> or job:<name>
  requested_ref   text NOT NULL,
  -- the conversation the request came from (chat), for the record
  origin_channel  text,
  started_at      timestamptz NOT NULL,
  -- bumped while the batch runs; a running batch whose heartbeat stopped was interrupted
  heartbeat_at    timestamptz NOT NULL,
  finished_at     timestamptz
);
CREATE INDEX scan_batches_running_idx ON scan_batches (heartbeat_at) WHERE status = 'running';
CREATE INDEX scan_batches_project_idx ON scan_batches (project_id, scope_kind, started_at DESC);

-- ---------------------------------------------------------------- scans (one per server per run)
CREATE TABLE scans (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  batch_id         bigint REFERENCES scan_batches(id) ON DELETE SET NULL,
  server_id        bigint NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  project_id       bigint REFERENCES projects(id) ON DELETE SET NULL,
  started_at       timestamptz NOT NULL,
  finished_at      timestamptz,
  -- how: transport and package-manager output, e.g. 'ssh: apt-get -s dist-upgrade'
  method           text,
  status           text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
  error_kind       text CHECK (error_kind IN ('unreachable', 'auth-failed', 'host-key-changed', 'host-key-unknown',
                                              'timeout', 'package-lock', 'command-failed', 'not-configured',
                                              'unsupported-os', 'interrupted')),
  error_message    text,
  os               jsonb,
  reboot_required  boolean,
  -- {total, security, critical, new, newSecurity, resolved, firstScan, byClassification, bySeverity}
  counts           jsonb NOT NULL DEFAULT '{}'::jsonb,
  problems         jsonb NOT NULL DEFAULT '[]'::jsonb,
  triggered_by     text NOT NULL,
  CHECK ((status = 'failed') = (error_kind IS NOT NULL))
);
CREATE INDEX scans_server_idx ON scans (server_id, started_at DESC);
CREATE INDEX scans_batch_idx ON scans (batch_id);
CREATE INDEX scans_running_idx ON scans (started_at) WHERE status = 'running';

-- ---------------------------------------------------------------- findings: open and resolved
-- What is pending now, one row per server and package: a scan updates last_seen_* and keeps
-- first_seen_*, so every finding keeps its age.
CREATE TABLE findings_open (
  server_id          bigint NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  package            text NOT NULL,
  -- '' when the package manager does not say
  arch               text NOT NULL DEFAULT '',
  installed_version  text NOT NULL,
  candidate_version  text NOT NULL,
  classification     text NOT NULL CHECK (classification IN ('security', 'bugfix', 'enhancement', 'other')),
  severity           text NOT NULL CHECK (severity IN ('critical', 'important', 'moderate', 'low', 'unknown')),
  cves               text[] NOT NULL DEFAULT '{}',
  advisories         text[] NOT NULL DEFAULT '{}',
  source             text,
  reboot_required    boolean NOT NULL DEFAULT false,
  first_seen_at      timestamptz NOT NULL,
  last_seen_at       timestamptz NOT NULL,
  first_scan_id      bigint NOT NULL,
  last_scan_id       bigint NOT NULL,
  PRIMARY KEY (server_id, package, arch)
);
CREATE INDEX findings_open_security_idx ON findings_open (server_id, first_seen_at) WHERE classification = 'security';
CREATE INDEX findings_open_critical_idx ON findings_open (server_id, first_seen_at) WHERE severity = 'critical';
CREATE INDEX findings_open_cves_idx ON findings_open USING gin (cves) WHERE cardinality(cves) > 0;
CREATE INDEX findings_open_first_scan_idx ON findings_open (first_scan_id);

-- What was pending and no longer is: append-only history (time to patch, trends).
CREATE TABLE findings_resolved (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  server_id          bigint NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  package            text NOT NULL,
  arch               text NOT NULL,
  installed_version  text NOT NULL,
  candidate_version  text NOT NULL,
  classification     text NOT NULL,
  severity           text NOT NULL,
  cves               text[] NOT NULL,
  advisories         text[] NOT NULL,
  source             text,
  reboot_required    boolean NOT NULL,
  first_seen_at      timestamptz NOT NULL,
  last_seen_at       timestamptz NOT NULL,
  first_scan_id      bigint NOT NULL,
  last_scan_id       bigint NOT NULL,
  resolved_at        timestamptz NOT NULL,
  resolved_scan_id   bigint NOT NULL
);
CREATE INDEX findings_resolved_server_idx ON findings_resolved (server_id, resolved_at DESC);
CREATE INDEX findings_resolved_at_idx ON findings_resolved (resolved_at);
CREATE INDEX findings_resolved_security_idx ON findings_resolved (resolved_at) WHERE classification = 'security';

CREATE FUNCTION findings_resolved_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'findings_resolved is history: UPDATE refused' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER findings_resolved_no_update BEFORE UPDATE ON findings_resolved
  FOR EACH ROW EXECUTE FUNCTION findings_resolved_refuse_update();

-- ---------------------------------------------------------------- per-server summary
-- Written in the same transaction as each scan result. It holds timestamps, never a status
-- computed against "now": staleness and compliance are evaluated at read time.
CREATE TABLE server_scan_state (
  server_id                           bigint PRIMARY KEY REFERENCES servers(id) ON DELETE CASCADE,
  last_scan_id                        bigint,
  last_scan_at                        timestamptz,
  last_scan_status                    text CHECK (last_scan_status IN ('succeeded', 'failed')),
  last_error_kind                     text,
  last_error_message                  text,
  last_good_scan_at                   timestamptz,
  last_good_scan_id                   bigint,
  consecutive_failures                integer NOT NULL DEFAULT 0,
  open_total                          integer NOT NULL DEFAULT 0,
  open_security                       integer NOT NULL DEFAULT 0,
  open_critical                       integer NOT NULL DEFAULT 0,
  oldest_open_security_first_seen_at  timestamptz,
  oldest_open_critical_first_seen_at  timestamptz,
  reboot_required                     boolean,
  os                                  jsonb,
  updated_at                          timestamptz NOT NULL
);
CREATE INDEX server_scan_state_good_idx ON server_scan_state (last_good_scan_at);

-- Daily rollups (UTC days) for trends: the state after the day's last scan. A day without a
-- scan has no row; a trend carries the previous day forward.
CREATE TABLE findings_daily (
  server_id       bigint NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  day             date NOT NULL,
  open_total      integer NOT NULL DEFAULT 0,
  open_security   integer NOT NULL DEFAULT 0,
  open_critical   integer NOT NULL DEFAULT 0,
  opened          integer NOT NULL DEFAULT 0,
  resolved        integer NOT NULL DEFAULT 0,
  scans           integer NOT NULL DEFAULT 0,
  failed_scans    integer NOT NULL DEFAULT 0,
  PRIMARY KEY (server_id, day)
);
CREATE INDEX findings_daily_day_idx ON findings_daily (day);

-- Down Migration
DROP TABLE findings_daily, server_scan_state, findings_resolved, findings_open, scans, scan_batches;
DROP FUNCTION findings_resolved_refuse_update;
