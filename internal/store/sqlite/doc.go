// Package sqlite is the embedded implementation of store.Store: one SQLite file,
// <data dir>/vigil.db, used by a single Vigil process.
//
// # Why SQLite, and this driver
//
// The embedded deployment is one binary and one data directory, with no service to
// install. SQLite gives transactions, indexes and crash safety in a file. The
// driver is modernc.org/sqlite, SQLite transpiled to pure Go: no cgo, so Vigil
// stays one static, cross-compiled binary. The database runs in WAL mode, so the
// readers (API, console, triage) never block the writer (the pipeline) nor each
// other; synchronous=NORMAL, which in WAL mode keeps the database consistent on
// power loss and may lose only the last transactions; foreign keys on; a busy
// timeout for the rare second process (a CLI reading the same directory).
//
// SQLite admits one writer at a time, so the Store holds exactly one writer
// connection (writes queue in Go instead of failing with SQLITE_BUSY) and a small
// pool of query_only reader connections. Batches (PutSignals, PutEvidence) are
// inserted in one transaction with statements prepared once at Open; signals go
// in multi-row INSERTs of up to 128 rows (... RETURNING id, seq tells which were
// new, and only those get entity rows).
//
// # Throughput
//
// BenchmarkPutSignals inserts batches of 1,000 realistic signals (two entities,
// two evidence refs, about 1 KiB of JSON each). The writer's pragmas were chosen
// with it: 16 KiB pages (fewer WAL frames and syscalls per batch), a 64 MiB page
// cache, temp_store=MEMORY (statement journals of multi-row inserts), and a
// checkpoint every 4,096 pages. Throughput falls as the table grows: the unique
// id index (ids are hashes) and the entity index take random inserts, so each
// batch dirties more distinct pages, each written to the WAL and checkpointed.
// See the package tests' benchmark for the figures on a given machine.
//
// # Schema
//
// Migrations are embedded from migrations/NNNN_name.sql and applied in order at
// Open, each in its own transaction, recorded in schema_migrations(version, name,
// applied_at). Open refuses a database whose version is newer than the binary's
// (ErrSchemaTooNew) rather than guess at a schema it does not know.
//
// Every time is event time in Unix nanoseconds (INTEGER). Whole records are kept
// as JSON documents (doc) so fields can be added to Signal or Incident without a
// migration; the columns next to doc exist to be filtered and sorted on.
//
//	signals           seq (rowid), id UNIQUE, time_ns, severity, detector_id, rule_id, doc
//	                  indexes: (time_ns), (rule_id, time_ns)
//	signal_entities   (kind, value, time_ns, seq) primary key: signals about an entity, in time order
//	evidence          event_id PK, time_ns, source, format, doc (the event's JSON, byte for byte)
//	incidents         id PK, version, status, severity, risk, first_seen_ns, last_seen_ns, doc
//	                  indexes: (risk, last_seen_ns, id), (last_seen_ns, id)
//	incident_entities (kind, value, incident_id) primary key, rewritten on each update
//	model_states      (model_id, key) PK, version, updated_ns, blob
//	feedback          id PK, target_kind, target_id, verdict, reason, scope,
//	                  expires_ns (NULL: never), author, created_ns
//	audit_log         id AUTOINCREMENT, time_ns, actor, action, target, details (JSON or NULL);
//	                  triggers abort any UPDATE or DELETE
//	outbox            key PK (idempotency key), target, kind, incident_id, incident_version,
//	                  payload, state, attempts, next_attempt_ns, last_error, lease_owner,
//	                  lease_until_ns, created_ns, updated_ns (wall-clock times, not event times)
//	                  indexes: (next_attempt_ns) WHERE state = 'pending', (created_ns, key),
//	                  (incident_id, created_ns)
//	settings          name PK, revision, data, updated_ns (wall-clock time of the last write)
//
// ClaimOutbox leases due items with one UPDATE ... WHERE key IN (SELECT ... LIMIT n)
// RETURNING on the single writer connection, so two claims never take the same
// item; a lease that ends unsettled (a dispatcher died) makes its items due again.
//
// PutSetting is a compare-and-swap in one statement: INSERT ... ON CONFLICT DO
// NOTHING for a new setting, UPDATE ... WHERE name = ? AND revision = ? for the
// next revision; no row changed means another writer came first (ErrConflict).
// SQLite runs one write transaction at a time, across processes too, so the
// check and the write cannot be separated.
//
// Signals list in (time_ns, seq) order: seq is the insertion order and breaks ties
// between signals of the same nanosecond. Pages are keyset cursors over the sort
// columns, so paging stays cheap deep into a large table.
package sqlite
