-- 0002_outbox: the durable outbox of escalation notifications. Unlike the event
-- times elsewhere, created/updated/next_attempt/lease_until are the dispatcher's
-- wall-clock Unix nanoseconds. key is the idempotency key (one row per policy
-- action, incident and incident version); lease_until_ns is 0 when not leased.
-- ClaimOutbox leases rows with UPDATE ... WHERE key IN (SELECT ... FOR UPDATE
-- SKIP LOCKED), so dispatchers in several processes never take the same item.

CREATE TABLE outbox (
	key              text   COLLATE "C" PRIMARY KEY,
	target           text   COLLATE "C" NOT NULL,
	kind             text   COLLATE "C" NOT NULL,
	incident_id      text   COLLATE "C" NOT NULL,
	incident_version bigint NOT NULL,
	payload          bytea  NOT NULL,
	state            text   COLLATE "C" NOT NULL,
	attempts         integer NOT NULL DEFAULT 0,
	next_attempt_ns  bigint NOT NULL,
	last_error       text   NOT NULL DEFAULT '',
	lease_owner      text   COLLATE "C" NOT NULL DEFAULT '',
	lease_until_ns   bigint NOT NULL DEFAULT 0,
	created_ns       bigint NOT NULL,
	updated_ns       bigint NOT NULL
);
-- The dispatcher's scan: due pending items, oldest first.
CREATE INDEX outbox_due ON outbox (next_attempt_ns, key) WHERE state = 'pending';
CREATE INDEX outbox_created ON outbox (created_ns, key);
CREATE INDEX outbox_incident ON outbox (incident_id, created_ns, key);
