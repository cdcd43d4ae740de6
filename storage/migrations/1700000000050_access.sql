-- Up Migration

-- Just-in-time access: a request (approved through approval_requests), the grant it becomes, and
-- where each grant's key is installed, so a crash between the approval and the servers resumes.

CREATE TABLE access_requests (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  requester_id      bigint NOT NULL REFERENCES users(id),
  project_id        bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  -- what was asked for: one server by name, or a whole project
  scope             text NOT NULL CHECK (scope IN ('server', 'project')),
  scope_name        text NOT NULL,
  server_ids        bigint[] NOT NULL CHECK (cardinality(server_ids) > 0),
  login             text NOT NULL CHECK (login ~ '^[a-z_][a-z0-9_-]{0,31}$'),
  duration_ms       bigint NOT NULL CHECK (duration_ms > 0),
  requested_start   timestamptz,
  ticket            text NOT NULL,
  reason            text NOT NULL,
  mode              text NOT NULL CHECK (mode IN ('authorized-keys', 'certificate')),
  emergency         boolean NOT NULL DEFAULT false,
  -- the user's registered public key as it was when they asked (OpenSSH line) and its fingerprint
  public_key        text NOT NULL,
  key_fingerprint   text NOT NULL,
  -- the key registry's row for it (keys.id; the registry's migration comes later, so no FK)
  key_id            bigint,
  -- set for an extension: the grant it lengthens
  extends_grant_id  bigint,
  status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'cancelled')),
  approval_id       bigint REFERENCES approval_requests(id) ON DELETE SET NULL,
  created_at        timestamptz NOT NULL,
  decided_at        timestamptz
);
CREATE INDEX access_requests_requester_idx ON access_requests (requester_id, id);
CREATE INDEX access_requests_project_idx ON access_requests (project_id, id);

CREATE SEQUENCE access_certificate_serial;

CREATE TABLE grants (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  request_id        bigint NOT NULL UNIQUE REFERENCES access_requests(id),
  requester_id      bigint NOT NULL REFERENCES users(id),
  project_id        bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  -- the approval whose thread tells this grant's story
  approval_id       bigint REFERENCES approval_requests(id) ON DELETE SET NULL,
  login             text NOT NULL CHECK (login ~ '^[a-z_][a-z0-9_-]{0,31}$'),
  mode              text NOT NULL CHECK (mode IN ('authorized-keys', 'certificate')),
  public_key        text NOT NULL,
  key_fingerprint   text NOT NULL,
  key_id            bigint,
  -- authorized_keys `from="…"` patterns, when the project restricts where logins come from
  from_patterns     text,
  ticket            text NOT NULL,
  emergency         boolean NOT NULL DEFAULT false,
  status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'expired', 'revoked')),
  starts_at         timestamptz NOT NULL,
  expires_at        timestamptz NOT NULL CHECK (expires_at > starts_at),
  -- certificate mode: the current certificate (public, like the key it certifies)
  cert_serial       bigint,
  cert_key_id       text,
  certificate       text,
  reviewed_at       timestamptz,
  reviewed_by       bigint REFERENCES users(id),
  created_at        timestamptz NOT NULL,
  ended_at          timestamptz,
  ended_by          text,
  end_reason        text
);
CREATE INDEX grants_active_expiry_idx ON grants (expires_at) WHERE status = 'active';
CREATE INDEX grants_requester_idx ON grants (requester_id, id);
CREATE INDEX grants_project_idx ON grants (project_id, id);

ALTER TABLE access_requests
  ADD CONSTRAINT access_requests_extends_fk FOREIGN KEY (extends_grant_id) REFERENCES grants(id);

-- One row per server in a grant's scope. `state` is what is true on the server as far as Warden
-- knows: pending (to install), installed, removing (to remove, or for a certificate: to push the
-- revocation list), removed, failed (an install that failed; retried while the grant is active).
CREATE TABLE grant_servers (
  grant_id          bigint NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
  server_id         bigint NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
  tag               text NOT NULL,
  state             text NOT NULL CHECK (state IN ('pending', 'installed', 'removing', 'removed', 'failed')),
  attempts          integer NOT NULL DEFAULT 0,
  next_attempt_at   timestamptz NOT NULL,
  -- a worker's claim on the row; a crashed worker's claim runs out and another takes over
  locked_until      timestamptz,
  last_error        text,
  updated_at        timestamptz NOT NULL,
  PRIMARY KEY (grant_id, server_id)
);
CREATE INDEX grant_servers_due_idx ON grant_servers (next_attempt_at)
  WHERE state IN ('pending', 'removing', 'failed');

-- Certificates revoked before they ran out: their keys go into each server's RevokedKeys list
-- until `valid_until`, after which the certificate is dead by itself.
CREATE TABLE revoked_certificates (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  grant_id          bigint NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
  project_id        bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  public_key        text NOT NULL,
  key_fingerprint   text NOT NULL,
  serial            bigint,
  key_id            text,
  valid_until       timestamptz NOT NULL,
  revoked_at        timestamptz NOT NULL,
  revoked_by        text NOT NULL,
  -- when the list was pushed again without this key, after the certificate ran out
  pruned_at         timestamptz
);
CREATE INDEX revoked_certificates_project_idx ON revoked_certificates (project_id, valid_until);
CREATE INDEX revoked_certificates_unpruned_idx ON revoked_certificates (valid_until) WHERE pruned_at IS NULL;

-- Down Migration
DROP TABLE revoked_certificates, grant_servers;
ALTER TABLE access_requests DROP CONSTRAINT access_requests_extends_fk;
DROP TABLE grants, access_requests;
DROP SEQUENCE access_certificate_serial;
