-- 0002_outbox: the durable outbox of escalation notifications. Unlike the event
-- times elsewhere, created/updated/next_attempt/lease_until are the dispatcher's
-- wall-clock Unix nanoseconds. key is the idempotency key (one row per policy
-- action, incident and incident version); lease_until_ns is 0 when not leased.

CREATE TABLE outbox (
	key              TEXT    PRIMARY KEY,
	target           TEXT    NOT NULL,
	kind             TEXT    NOT NULL,
	incident_id      TEXT    NOT NULL,
	incident_version INTEGER NOT NULL,
	payload          BLOB    NOT NULL,
	state            TEXT    NOT NULL,
	attempts         INTEGER NOT NULL DEFAULT 0,
	next_attempt_ns  INTEGER NOT NULL,
	last_error       TEXT    NOT NULL DEFAULT '',
	lease_owner      TEXT    NOT NULL DEFAULT '',
	lease_until_ns   INTEGER NOT NULL DEFAULT 0,
	created_ns       INTEGER NOT NULL,
	updated_ns       INTEGER NOT NULL
);
-- The dispatcher's scan: due pending items, oldest first.
CREATE INDEX outbox_due ON outbox (next_attempt_ns) WHERE state = 'pending';
CREATE INDEX outbox_created ON outbox (created_ns, key);
CREATE INDEX outbox_incident ON outbox (incident_id, created_ns);
