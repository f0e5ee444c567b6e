-- 0001_init: signals, evidence, incidents, model state, feedback and the audit
-- log. Times are event times as Unix nanoseconds (bigint); whole records are
-- kept as documents (doc, bytea: the exact bytes encoding/json wrote) next to
-- the columns queries filter and sort on. Identifiers and keys are COLLATE "C":
-- byte order, as Go and SQLite compare strings, whatever the database's locale,
-- and cheaper btree comparisons than a linguistic collation.

CREATE TABLE signals (
	seq         bigint   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id          text     COLLATE "C" NOT NULL UNIQUE,
	time_ns     bigint   NOT NULL,
	severity    smallint NOT NULL,
	detector_id text     COLLATE "C" NOT NULL,
	rule_id     text     COLLATE "C" NOT NULL,
	doc         bytea    NOT NULL
);
-- (time_ns, seq) is the list order; seq breaks ties between signals of the
-- same nanosecond. No detector_id index: a handful of detectors make it
-- unselective, and every index costs each insert.
CREATE INDEX signals_time ON signals (time_ns, seq);
CREATE INDEX signals_rule ON signals (rule_id, time_ns, seq);

-- One row per (entity, signal), for "every signal about alice", in list order.
-- seq is signals.seq. No foreign key: rows are written in the signal's own
-- statement, and the per-row check would cost insert throughput.
CREATE TABLE signal_entities (
	kind    text   COLLATE "C" NOT NULL,
	value   text   COLLATE "C" NOT NULL,
	time_ns bigint NOT NULL,
	seq     bigint NOT NULL,
	PRIMARY KEY (kind, value, time_ns, seq)
);

CREATE TABLE evidence (
	event_id text   COLLATE "C" PRIMARY KEY,
	time_ns  bigint NOT NULL,
	source   text   NOT NULL,
	format   text   NOT NULL,
	doc      bytea  NOT NULL -- the event's JSON, byte for byte
);
CREATE INDEX evidence_time ON evidence (time_ns);

CREATE TABLE incidents (
	id            text     COLLATE "C" PRIMARY KEY,
	version       bigint   NOT NULL,
	status        text     COLLATE "C" NOT NULL,
	severity      smallint NOT NULL,
	risk          double precision NOT NULL,
	first_seen_ns bigint   NOT NULL,
	last_seen_ns  bigint   NOT NULL,
	-- Copies of the document's title and summary for IncidentQuery.Text.
	title         text     COLLATE "C" NOT NULL,
	summary       text     COLLATE "C" NOT NULL,
	doc           bytea    NOT NULL
);
CREATE INDEX incidents_risk ON incidents (risk, last_seen_ns, id);
CREATE INDEX incidents_last_seen ON incidents (last_seen_ns, id);

CREATE TABLE incident_entities (
	kind        text COLLATE "C" NOT NULL,
	value       text COLLATE "C" NOT NULL,
	incident_id text COLLATE "C" NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
	PRIMARY KEY (kind, value, incident_id)
);
CREATE INDEX incident_entities_incident ON incident_entities (incident_id);

CREATE TABLE model_states (
	model_id   text   COLLATE "C" NOT NULL,
	key        text   COLLATE "C" NOT NULL,
	version    bigint NOT NULL,
	updated_ns bigint NOT NULL,
	since_ns   bigint NOT NULL DEFAULT 0, -- 0: unknown
	blob       bytea  NOT NULL,
	PRIMARY KEY (model_id, key)
);

CREATE TABLE feedback (
	id          text   COLLATE "C" PRIMARY KEY,
	target_kind text   COLLATE "C" NOT NULL,
	target_id   text   COLLATE "C" NOT NULL,
	verdict     text   COLLATE "C" NOT NULL,
	reason      text   NOT NULL,
	scope       text   NOT NULL,
	expires_ns  bigint, -- NULL: never expires
	author      text   NOT NULL,
	created_ns  bigint NOT NULL
);
CREATE INDEX feedback_target ON feedback (target_kind, target_id, created_ns);
CREATE INDEX feedback_created ON feedback (created_ns, id);

-- The audit log is append-only. Ids come from an identity column that nobody
-- can set (GENERATED ALWAYS) and that never reuses a value; AppendAudit holds
-- a transaction-level advisory lock around the insert, so ids also increase in
-- commit order across processes. A trigger rejects UPDATE, DELETE and
-- TRUNCATE, whoever issues them (short of disabling it: its owner or a
-- superuser can).
CREATE TABLE audit_log (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time_ns bigint NOT NULL,
	actor   text   COLLATE "C" NOT NULL,
	action  text   COLLATE "C" NOT NULL,
	target  text   COLLATE "C" NOT NULL,
	details bytea  -- JSON document or NULL
);
CREATE INDEX audit_log_time ON audit_log (time_ns);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
