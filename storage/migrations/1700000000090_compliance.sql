-- Up Migration

-- Compliance (commands/compliance). Evaluation reads small per-server summary rows (scanning's
-- server_scan_state plus the facts below), never raw history; trends come from daily rollups.

-- ---------------------------------------------------------------- when each server was last updated
-- "Last successful update" = the latest of: a patch run that succeeded on the server, or a pending
-- update that disappeared (findings_resolved, which also catches updates made outside Warden).
-- Kept by triggers in the same transaction as the writes, so it is never behind and no caller has
-- to remember it. storage/compliance.ts `lastUpdateAt` is the one place that combines the two.
CREATE TABLE server_update_state (
  server_id         bigint PRIMARY KEY REFERENCES servers(id) ON DELETE CASCADE,
  last_resolved_at  timestamptz,
  last_patched_at   timestamptz
);

CREATE FUNCTION server_update_state_note_resolved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO server_update_state AS u (server_id, last_resolved_at)
  SELECT r.server_id, max(r.resolved_at) FROM resolved_rows r GROUP BY r.server_id
  ON CONFLICT (server_id) DO UPDATE SET last_resolved_at = greatest(u.last_resolved_at, excluded.last_resolved_at);
  RETURN NULL;
END;
$$;
CREATE TRIGGER findings_resolved_note_update AFTER INSERT ON findings_resolved
  REFERENCING NEW TABLE AS resolved_rows FOR EACH STATEMENT EXECUTE FUNCTION server_update_state_note_resolved();

CREATE FUNCTION server_update_state_note_patched() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO server_update_state AS u (server_id, last_patched_at) VALUES (NEW.server_id, NEW.finished_at)
  ON CONFLICT (server_id) DO UPDATE SET last_patched_at = greatest(u.last_patched_at, excluded.last_patched_at);
  RETURN NULL;
END;
$$;
CREATE TRIGGER patch_run_servers_note_update AFTER INSERT OR UPDATE ON patch_run_servers
  FOR EACH ROW WHEN (NEW.state = 'succeeded' AND NEW.finished_at IS NOT NULL)
  EXECUTE FUNCTION server_update_state_note_patched();

INSERT INTO server_update_state (server_id, last_resolved_at)
  SELECT server_id, max(resolved_at) FROM findings_resolved GROUP BY server_id;
INSERT INTO server_update_state AS u (server_id, last_patched_at)
  SELECT server_id, max(finished_at) FROM patch_run_servers
  WHERE state = 'succeeded' AND finished_at IS NOT NULL GROUP BY server_id
  ON CONFLICT (server_id) DO UPDATE SET last_patched_at = excluded.last_patched_at;

-- ---------------------------------------------------------------- facts other capabilities report
-- Unknown authorized keys found by the last post-action audit that read the server.
CREATE TABLE server_key_audit (
  server_id             bigint PRIMARY KEY REFERENCES servers(id) ON DELETE CASCADE,
  audited_at            timestamptz NOT NULL,
  unknown_keys          integer NOT NULL CHECK (unknown_keys >= 0),
  unknown_fingerprints  text[] NOT NULL DEFAULT '{}'
);

-- The last configuration-baseline run on the server (written by the baselines capability):
-- the ids of the checks that failed. No row: no baseline has run there.
CREATE TABLE server_baseline_state (
  server_id       bigint PRIMARY KEY REFERENCES servers(id) ON DELETE CASCADE,
  checked_at      timestamptz NOT NULL,
  checks_total    integer NOT NULL DEFAULT 0 CHECK (checks_total >= 0),
  failing_checks  text[] NOT NULL DEFAULT '{}'
);

-- ---------------------------------------------------------------- the evaluated state
-- One row per evaluated server. `since` moves only when `state` changes. `next_check_at` is the
-- next moment a threshold would be crossed with time alone (a pending update passing the
-- standard, the scan going stale, a key reaching its rotation date).
CREATE TABLE server_compliance_state (
  server_id          bigint PRIMARY KEY REFERENCES servers(id) ON DELETE CASCADE,
  project_id         bigint REFERENCES projects(id) ON DELETE SET NULL,
  state              text NOT NULL CHECK (state IN ('compliant', 'non-compliant', 'unknown')),
  since              timestamptz NOT NULL,
  -- [{code, since, count?, items?}] for every reason that holds (unknown servers list why, too)
  reasons            jsonb NOT NULL DEFAULT '[]'::jsonb,
  reason_codes       text[] NOT NULL DEFAULT '{}',
  -- what the last evaluation saw, so the next one can tell "0 → N security updates"
  open_security      integer NOT NULL DEFAULT 0,
  last_good_scan_id  bigint,
  next_check_at      timestamptz,
  updated_at         timestamptz NOT NULL
);
CREATE INDEX server_compliance_state_project_idx ON server_compliance_state (project_id, state);
CREATE INDEX server_compliance_state_next_check_idx ON server_compliance_state (next_check_at)
  WHERE next_check_at IS NOT NULL;

-- Servers whose facts changed since they were last evaluated. Triggers on the fact tables mark
-- them in the writer's own transaction, so evaluation looks only at these (plus those whose
-- next_check_at came due) and is never behind. `seq` moves on every mark: evaluation removes a
-- mark only if it is the one it saw, so a change during an evaluation is never lost. No foreign
-- key: a server being deleted may be marked by the cascade, and evaluation drops such marks.
CREATE SEQUENCE compliance_dirty_seq;
CREATE TABLE compliance_dirty (
  server_id  bigint PRIMARY KEY,
  seq        bigint NOT NULL
);

CREATE FUNCTION compliance_mark_dirty(ids bigint[]) RETURNS void LANGUAGE sql AS $$
  INSERT INTO compliance_dirty (server_id, seq)
  SELECT x.id, nextval('compliance_dirty_seq') FROM (SELECT DISTINCT id FROM unnest(ids) AS id WHERE id IS NOT NULL) x
  ON CONFLICT (server_id) DO UPDATE SET seq = excluded.seq;
$$;

-- For tables with a server_id column.
CREATE FUNCTION compliance_dirty_by_server_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM compliance_mark_dirty(ARRAY[OLD.server_id]);
  ELSIF TG_OP = 'UPDATE' THEN
    PERFORM compliance_mark_dirty(ARRAY[NEW.server_id, OLD.server_id]);
  ELSE
    PERFORM compliance_mark_dirty(ARRAY[NEW.server_id]);
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER server_scan_state_compliance AFTER INSERT OR UPDATE ON server_scan_state
  FOR EACH ROW EXECUTE FUNCTION compliance_dirty_by_server_id();
CREATE TRIGGER server_update_state_compliance AFTER INSERT OR UPDATE ON server_update_state
  FOR EACH ROW EXECUTE FUNCTION compliance_dirty_by_server_id();
CREATE TRIGGER key_installations_compliance AFTER INSERT OR UPDATE OR DELETE ON key_installations
  FOR EACH ROW EXECUTE FUNCTION compliance_dirty_by_server_id();
CREATE TRIGGER server_key_audit_compliance AFTER INSERT OR UPDATE ON server_key_audit
  FOR EACH ROW EXECUTE FUNCTION compliance_dirty_by_server_id();
CREATE TRIGGER server_baseline_state_compliance AFTER INSERT OR UPDATE ON server_baseline_state
  FOR EACH ROW EXECUTE FUNCTION compliance_dirty_by_server_id();

CREATE FUNCTION compliance_dirty_server() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM compliance_mark_dirty(ARRAY[NEW.id]);
  RETURN NULL;
END;
$$;
CREATE TRIGGER servers_compliance AFTER INSERT OR UPDATE OF project_id ON servers
  FOR EACH ROW EXECUTE FUNCTION compliance_dirty_server();

-- A key retired, re-dated or given its own policy changes every server it is installed on.
CREATE FUNCTION compliance_dirty_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM compliance_mark_dirty(ARRAY(
    SELECT server_id FROM key_installations WHERE key_id = NEW.id AND removed_at IS NULL));
  RETURN NULL;
END;
$$;
CREATE TRIGGER keys_compliance AFTER UPDATE OF retired_at, rotate_every_ms, created_at, kind ON keys
  FOR EACH ROW EXECUTE FUNCTION compliance_dirty_key();

INSERT INTO compliance_dirty (server_id, seq) SELECT id, nextval('compliance_dirty_seq') FROM servers;

-- The standards each project was last evaluated against (project_key 0: servers in no project).
-- A different hash (settings edited, or new defaults in a new version) re-evaluates the project.
CREATE TABLE compliance_standards_seen (
  project_key  bigint PRIMARY KEY,
  hash         text NOT NULL
);

-- Every change-only alert sent, keyed so that each fires once (across replicas, too).
CREATE TABLE compliance_alerts (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project_id  bigint REFERENCES projects(id) ON DELETE CASCADE,
  server_id   bigint REFERENCES servers(id) ON DELETE CASCADE,
  kind        text NOT NULL CHECK (kind IN ('security-new', 'threshold', 'baseline-drift')),
  alert_key   text NOT NULL UNIQUE,
  data        jsonb NOT NULL DEFAULT '{}'::jsonb,
  alerted_at  timestamptz NOT NULL
);
CREATE INDEX compliance_alerts_project_idx ON compliance_alerts (project_id, alerted_at);

-- ---------------------------------------------------------------- rollups and digests
-- Per project and local day (the project's digest time zone): the state at the day's last
-- evaluation, and the mean time to patch of the security updates that disappeared that day.
CREATE TABLE compliance_daily (
  project_id         bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  day                date NOT NULL,
  servers            integer NOT NULL,
  compliant          integer NOT NULL,
  non_compliant      integer NOT NULL,
  unknown            integer NOT NULL,
  pending_security   integer NOT NULL,
  security_resolved  integer NOT NULL DEFAULT 0,
  -- mean of resolved_at - first_seen_at over those; NULL when none was resolved that day
  mttp_seconds       double precision,
  computed_at        timestamptz NOT NULL,
  PRIMARY KEY (project_id, day)
);

-- One row per project and local day whose daily digest was sent: the job's idempotency.
CREATE TABLE compliance_digests (
  project_id  bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  day         date NOT NULL,
  sent_at     timestamptz NOT NULL,
  audit_seq   bigint,
  PRIMARY KEY (project_id, day)
);

-- Down Migration
DROP TRIGGER keys_compliance ON keys;
DROP TRIGGER servers_compliance ON servers;
DROP TRIGGER key_installations_compliance ON key_installations;
DROP TRIGGER server_scan_state_compliance ON server_scan_state;
DROP TRIGGER server_update_state_compliance ON server_update_state;
DROP TABLE compliance_digests, compliance_daily, compliance_alerts, compliance_standards_seen, compliance_dirty,
  server_compliance_state, server_baseline_state, server_key_audit;
DROP FUNCTION compliance_dirty_key, compliance_dirty_server, compliance_dirty_by_server_id, compliance_mark_dirty;
DROP SEQUENCE compliance_dirty_seq;
DROP TRIGGER patch_run_servers_note_update ON patch_run_servers;
DROP TRIGGER findings_resolved_note_update ON findings_resolved;
DROP FUNCTION server_update_state_note_patched, server_update_state_note_resolved;
DROP TABLE server_update_state;
