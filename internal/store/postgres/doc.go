// Package postgres is the scale-out implementation of store.Store: one
// PostgreSQL database shared by every Vigil process of a deployment (ingest
// nodes, workers, API nodes), through pgx's connection pool (pgxpool, pgx's
// native interface rather than database/sql: binary parameters and arrays,
// pipelined batches, no per-call reflection).
//
// # Why PostgreSQL
//
// The embedded store (store/sqlite) admits one writer process. Scaled out, many
// processes write signals and incidents at once and several dispatchers drain
// one outbox; PostgreSQL gives them row locks, SKIP LOCKED queues, advisory
// locks and one durable place for incidents, feedback and the audit log.
// Semantics are the SQLite store's, method by method (storetest.Run checks
// both); where PostgreSQL differs (text cannot hold NUL or invalid UTF-8), see
// Text below.
//
// # Schema
//
// Migrations are embedded from migrations/NNNN_name.sql and applied at Open,
// each in its own transaction, recorded in schema_migrations(version, name,
// applied_at). Each migration transaction first takes a transaction-level
// advisory lock keyed by the schema's name, so when several nodes start at
// once one migrates and the others wait, then find the work done; a node that
// dies mid-migration releases the lock with its connection. Open refuses a
// schema whose version is newer than the binary's (ErrSchemaTooNew).
//
// Options.Schema names the schema (created when missing); every pooled
// connection gets it as its only search_path. Without it, the URL's
// search_path (or the server's default) decides, resolved once at Open.
//
// Every event time is Unix nanoseconds (bigint), as in SQLite: exact to the
// nanosecond over the whole range the contract allows, which timestamptz
// (microseconds) is not. Whole records are kept as documents in doc columns of
// type bytea, holding the bytes encoding/json wrote (or, for evidence, the
// caller's JSON): they come back byte for byte, which the redelivery check of
// UpsertIncident relies on (it compares the stored document with the one it
// would write) and evidence promises. jsonb would reorder keys, drop
// duplicates, reject \u0000 and parse every document on insert; json would
// still validate on insert and refuse invalid UTF-8 that encoding/json
// accepts in raw evidence. Queries never look inside documents: the columns
// next to doc exist to be filtered and sorted on. For ad hoc inspection,
// convert_from(doc, 'UTF8')::jsonb reads one.
//
// Text columns that are sorted or compared (ids, keys, entity values) are
// COLLATE "C": byte order, as Go and SQLite compare strings, whatever locale
// the database was created with, and cheaper index comparisons.
//
//	signals           seq (identity) PK, id UNIQUE, time_ns, severity, detector_id, rule_id, doc
//	                  indexes: (time_ns, seq), (rule_id, time_ns, seq)
//	signal_entities   (kind, value, time_ns, seq) PK: signals about an entity, in time order
//	evidence          event_id PK, time_ns, source, format, doc (the event's JSON, byte for byte)
//	incidents         id PK, version, status, severity, risk, first_seen_ns, last_seen_ns,
//	                  title, summary (copies for IncidentQuery.Text), doc
//	                  indexes: (risk, last_seen_ns, id), (last_seen_ns, id)
//	incident_entities (kind, value, incident_id) PK, rewritten on each update
//	model_states      (model_id, key) PK, version, updated_ns, since_ns, blob
//	feedback          id PK, target_kind, target_id, verdict, reason, scope,
//	                  expires_ns (NULL: never), author, created_ns
//	audit_log         id (identity, GENERATED ALWAYS) PK, time_ns, actor, action, target,
//	                  details (JSON or NULL); a trigger refuses UPDATE, DELETE and TRUNCATE
//	outbox            key PK, target, kind, incident_id, incident_version, payload, state,
//	                  attempts, next_attempt_ns, last_error, lease_owner, lease_until_ns,
//	                  created_ns, updated_ns (wall-clock times, not event times)
//	                  indexes: (next_attempt_ns, key) WHERE state = 'pending', (created_ns, key),
//	                  (incident_id, created_ns, key)
//	settings          name PK, revision, data, updated_ns (wall-clock time of the last write)
//
// Lists page with keyset cursors over their sort columns, the cursors of
// store/sqlite: signals by (time_ns, seq), incidents by (risk, last_seen_ns,
// id) or (last_seen_ns, id), feedback by (created_ns, id), the audit log by
// id, the outbox by (created_ns, key).
//
// # Concurrency across processes
//
// Nothing relies on being the only writer; every read-modify-write is decided
// inside PostgreSQL:
//
//   - PutSignals, PutEvidence and EnqueueOutbox insert with ON CONFLICT DO
//     NOTHING, so redelivered rows are skipped whoever wrote them first; rows
//     go in in id order, so two processes inserting overlapping batches take
//     the unique index entries in the same order and cannot deadlock.
//   - UpsertIncident locks the stored row (SELECT ... FOR UPDATE) in a
//     transaction, then applies the version check and KeepTriage to the row as
//     locked; an insert that loses a race to another process's insert locks
//     and decides against the winner's row. UpsertIncidents (the batch form
//     store/stream uses) locks rows in id order. UpdateIncidentTriage and
//     MarkOutbox lock their row the same way.
//   - ClaimOutbox is one UPDATE ... WHERE key IN (SELECT ... FOR UPDATE SKIP
//     LOCKED LIMIT n) RETURNING: concurrent claims pass over each other's rows,
//     and a row leased by a claim that committed meanwhile fails the
//     re-checked condition, so no item is handed to two dispatchers.
//   - AppendAudit takes a transaction-level advisory lock (no table privilege
//     needed, plain reads never wait) around the insert, so ids increase in
//     commit order, not only in allocation order: a reader that has seen entry
//     n never later finds an entry below n.
//   - PutSetting is one conditional statement: INSERT ... ON CONFLICT (name)
//     DO NOTHING for a new setting (a concurrent insert of the name waits for
//     the first to commit, then inserts nothing), UPDATE ... WHERE name = $1
//     AND revision = $prev for the next revision (a concurrent update waits
//     for the row lock and re-checks the revision on the committed row). No
//     row changed means another writer came first: ErrConflict.
//
// # Text
//
// PostgreSQL text holds valid UTF-8 without NUL bytes; SQLite holds any
// bytes. Documents are bytea, so signals and incidents round-trip exactly
// whatever their strings hold. Of the column values: those that name a record
// (signal, event, incident, feedback and outbox ids and keys, model ids and
// keys, detector and rule ids, feedback target ids, outbox targets, kinds,
// incident ids and lease owners, setting names) are
// refused with store.ErrInvalid when PostgreSQL cannot hold them, since
// altering them could merge two records; lookups by such a value find
// nothing. Descriptive values (entity kinds and values in the lookup tables,
// incident title and summary copies, evidence source and format, feedback
// reason, scope and author, audit actor, action and target, an outbox item's
// last error) are stored with NUL and invalid bytes replaced by U+FFFD, as
// encoding/json does in documents, and filters on them are mapped the same
// way, so lookups by the original value still match.
//
// # Throughput
//
// A batch of signals is one statement: the rows travel as parameter arrays
// (unnest), ON CONFLICT DO NOTHING skips stored ids, and RETURNING feeds the
// new ones' seq to the entity insert in the same statement, so a batch of
// 1,000 costs one round trip and no explicit transaction. Batches over 4,096
// rows go in several such statements in one transaction. It was measured
// against a pgx.Batch pipelining one statement per signal (Pipeline) and
// against COPY into temporary tables then INSERT ... SELECT (Copy);
// BenchmarkPutSignalsMethod keeps the comparison. BenchmarkPutSignals mirrors
// store/sqlite's (the same signals, about 1 KiB of JSON, two entities each,
// batches of 1,000), and both ran in one session:
//
//	go test -run '^$' -bench PutSignals -benchmem ./internal/store/sqlite/ ./internal/store/postgres/
//
//	                                     signals/s   cpu-s server-cpu-s client-cpu-s     B/op
//	postgres PutSignals/Empty               31,679  37,612       64,407       90,408  11.9 MB
//	postgres PutSignals/Prefilled300k       25,442  30,292       45,122       92,167  11.9 MB
//	postgres PutSignalsMethod/Unnest        32,204  36,086       58,929       93,096  11.9 MB
//	postgres PutSignalsMethod/Pipeline      21,128  26,562       44,595       65,686  12.9 MB
//	postgres PutSignalsMethod/Copy          30,808  34,549       51,429      105,265   3.3 MB
//	postgres PutSignalsRedelivered          70,631
//	sqlite   PutSignals/Empty               35,173  41,517                             3.5 MB
//	sqlite   PutSignals/Prefilled300k       14,180  19,341                             3.5 MB
//	sqlite   PutSignalsRedelivered         151,771
//
// The machine: 2 vCPUs (AMD EPYC), PostgreSQL 15 on the same host with its
// default settings (fsync and synchronous_commit on, 128 MB shared_buffers),
// shared with other test runs (load average near 5), so wall-clock rates
// (signals/s) swung by up to a factor of two between runs, as did the order of
// the three methods by that measure. CPU per signal was steady within about
// 10%, and decided: cpu-s (signals per CPU second) counts this process's CPU (encoding, pgx,
// GC; client-cpu-s alone) plus that of the server process behind the
// connection, read from /proc (server-cpu-s alone; the WAL writer and
// checkpointer are left out, and do the same work for every method). Unnest
// costs the least in total and on the server, which is what the several
// writers of a deployment share; Copy allocates less in the client but costs
// the server more (temporary tables, two COPY streams); Pipeline costs both
// sides most (1,000 statements). store/sqlite's cpu-s has SQLite inside the
// process. The figures are for one writer; unlike SQLite, PostgreSQL takes
// batches from several connections and processes at once (not measured here).
//
// Tests and benchmarks use the server named by VIGIL_TEST_POSTGRES_URL
// (package pgtest), each in a schema of its own.
//
// # Operations
//
// The pool prepares and caches each statement per connection (pgx's default
// mode) and sets search_path and application_name (default "vigil") as
// startup parameters. Behind a transaction-mode pooler such as PgBouncer both
// need the pooler's support, or default_query_exec_mode=exec in the URL and a
// search_path the pooler keeps; that setup has not been tested. The URL's
// password never appears in an error or a log line of this package, and
// Options formats (fmt, slog) with it masked.
package postgres
