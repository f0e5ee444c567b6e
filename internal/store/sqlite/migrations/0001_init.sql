-- 0001_init: the first schema. Times are event times as Unix nanoseconds (INTEGER);
-- whole records are kept as JSON documents (doc) next to the columns queries use.

CREATE TABLE signals (
	seq         INTEGER PRIMARY KEY,
	id          TEXT    NOT NULL UNIQUE,
	time_ns     INTEGER NOT NULL,
	severity    INTEGER NOT NULL,
	detector_id TEXT    NOT NULL,
	rule_id     TEXT    NOT NULL,
	doc         BLOB    NOT NULL
);
CREATE INDEX signals_time ON signals (time_ns); -- index entries end with seq: (time_ns, seq) is the list order
-- No detector_id index: a handful of detectors make it unselective; a time scan
-- filtering on detector_id is as fast and saves an index insert per signal.
CREATE INDEX signals_rule ON signals (rule_id, time_ns);

-- One row per (entity, signal), for "every signal about alice", in time order.
-- seq is signals.seq. No foreign key: rows are written in the signal's own
-- transaction, and the per-row parent lookup cost measurable insert throughput.
CREATE TABLE signal_entities (
	kind    TEXT    NOT NULL,
	value   TEXT    NOT NULL,
	time_ns INTEGER NOT NULL,
	seq     INTEGER NOT NULL,
	PRIMARY KEY (kind, value, time_ns, seq)
) WITHOUT ROWID;

CREATE TABLE evidence (
	event_id TEXT    PRIMARY KEY,
	time_ns  INTEGER NOT NULL,
	source   TEXT    NOT NULL,
	format   TEXT    NOT NULL,
	doc      BLOB    NOT NULL
);
CREATE INDEX evidence_time ON evidence (time_ns);

CREATE TABLE incidents (
	id            TEXT    PRIMARY KEY,
	version       INTEGER NOT NULL,
	status        TEXT    NOT NULL,
	severity      INTEGER NOT NULL,
	risk          REAL    NOT NULL,
	first_seen_ns INTEGER NOT NULL,
	last_seen_ns  INTEGER NOT NULL,
	doc           BLOB    NOT NULL
);
CREATE INDEX incidents_risk ON incidents (risk, last_seen_ns, id);
CREATE INDEX incidents_last_seen ON incidents (last_seen_ns, id);

CREATE TABLE incident_entities (
	kind        TEXT NOT NULL,
	value       TEXT NOT NULL,
	incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
	PRIMARY KEY (kind, value, incident_id)
) WITHOUT ROWID;
CREATE INDEX incident_entities_incident ON incident_entities (incident_id);

CREATE TABLE model_states (
	model_id   TEXT    NOT NULL,
	key        TEXT    NOT NULL,
	version    INTEGER NOT NULL,
	updated_ns INTEGER NOT NULL,
	blob       BLOB    NOT NULL,
	PRIMARY KEY (model_id, key)
);

CREATE TABLE feedback (
	id          TEXT    PRIMARY KEY,
	target_kind TEXT    NOT NULL,
	target_id   TEXT    NOT NULL,
	verdict     TEXT    NOT NULL,
	reason      TEXT    NOT NULL,
	scope       TEXT    NOT NULL,
	expires_ns  INTEGER, -- NULL: never expires
	author      TEXT    NOT NULL,
	created_ns  INTEGER NOT NULL
);
CREATE INDEX feedback_target ON feedback (target_kind, target_id, created_ns);
CREATE INDEX feedback_created ON feedback (created_ns, id);

-- The audit log is append-only: ids only grow (AUTOINCREMENT never reuses one) and
-- triggers reject any UPDATE or DELETE, whoever issues it.
CREATE TABLE audit_log (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	time_ns INTEGER NOT NULL,
	actor   TEXT    NOT NULL,
	action  TEXT    NOT NULL,
	target  TEXT    NOT NULL,
	details BLOB    -- JSON document or NULL
);
CREATE INDEX audit_log_time ON audit_log (time_ns);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;
