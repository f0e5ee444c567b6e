-- 0004_settings: small named documents every node shares (the users and tokens,
-- the console's session key), changed by compare-and-swap on revision: a write
-- inserts revision 1 only when the name is new (ON CONFLICT DO NOTHING), and
-- otherwise updates only the row still holding the revision the writer read.
-- updated_ns is the writer's wall-clock Unix nanoseconds, not an event time.

CREATE TABLE settings (
	name       TEXT    PRIMARY KEY,
	revision   INTEGER NOT NULL,
	data       BLOB    NOT NULL,
	updated_ns INTEGER NOT NULL
);
