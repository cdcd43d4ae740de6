-- Up Migration

-- A process running an interaction after its acknowledgement refreshes heartbeat_at every 30 s.
-- An interaction still 'received' whose heartbeat (or, before the first one, its arrival) is
-- older than a few minutes was left by a process that died: the interactions sweep marks it
-- failed ('interrupted') and tells the user, instead of it staying unfinished for ever.
ALTER TABLE interactions ADD COLUMN heartbeat_at timestamptz;

-- Down Migration
ALTER TABLE interactions DROP COLUMN heartbeat_at;
