-- 0003_settings: small named documents every node shares (the users and tokens,
-- the console's session key), changed by compare-and-swap on revision: a write
-- inserts revision 1 only when the name is new (ON CONFLICT DO NOTHING), and
-- otherwise updates only the row still holding the revision the writer read
-- (UPDATE ... WHERE revision = $prev, re-checked on the locked row, so of two
-- writers of one revision exactly one succeeds). updated_ns is the writer's
-- wall-clock Unix nanoseconds, not an event time.

CREATE TABLE settings (
	name       text   COLLATE "C" PRIMARY KEY,
	revision   bigint NOT NULL,
	data       bytea  NOT NULL,
	updated_ns bigint NOT NULL
);
