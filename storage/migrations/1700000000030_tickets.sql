-- Up Migration
-- Which ticket (Jira issue, ServiceNow change or incident) belongs to which Warden subject: a patch
-- plan's change request, the ticket an access request names. Outbound comments find the ticket
-- here; inbound webhooks find the subject (and its pending approval) by (system, key).
CREATE TABLE ticket_links (
  subject_type  text NOT NULL,
  subject_id    text NOT NULL,
  system        text NOT NULL CHECK (system IN ('jira', 'servicenow')),
  key           text NOT NULL,
  url           text NOT NULL,
  created_at    timestamptz NOT NULL,
  PRIMARY KEY (subject_type, subject_id, system)
);
CREATE INDEX ticket_links_key_idx ON ticket_links (system, key);

-- Inbound deliveries already acted on (Jira's X-Atlassian-Webhook-Identifier, ServiceNow's
-- number + sys_mod_count), so a retried or replayed call changes nothing the second time.
CREATE TABLE ticket_inbound (
  system       text NOT NULL,
  delivery_id  text NOT NULL,
  received_at  timestamptz NOT NULL,
  PRIMARY KEY (system, delivery_id)
);

-- Down Migration
DROP TABLE ticket_inbound, ticket_links;
