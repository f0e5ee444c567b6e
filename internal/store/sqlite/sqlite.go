package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver

	"github.com/vigilsec/vigil/internal/store"
)

// FileName is the database file Open creates in Options.Dir.
const FileName = "vigil.db"

// Defaults for Options.
const (
	DefaultBusyTimeout = 5 * time.Second
	DefaultReadConns   = 4
)

// Options configures Open.
type Options struct {
	// Dir is the data directory. Open creates it (mode 0700) when missing.
	Dir string
	// Logger receives migration and lifecycle messages; nil discards them.
	Logger *slog.Logger
	// BusyTimeout is how long a statement waits for a lock held by another
	// process before failing; zero means DefaultBusyTimeout.
	BusyTimeout time.Duration
	// ReadConns is the size of the reader pool; zero means DefaultReadConns.
	ReadConns int
}

// Store is the SQLite implementation of store.Store. Writes go through one
// connection (SQLite admits one writer at a time, and queuing in Go is cheaper
// than SQLITE_BUSY retries); reads use a small pool of query-only connections that
// WAL lets run alongside the writer.
type Store struct {
	path string
	log  *slog.Logger
	w    *sql.DB // exactly one connection
	r    *sql.DB // query-only pool

	ws    writeStmts
	reads stmtCache // reader statements, keyed by SQL text

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// writeStmts are the statements prepared once on the writer connection.
type writeStmts struct {
	insSignals, insSignalEntities                       *batchInsert
	insEvidence                                         *sql.Stmt
	upsIncident, delIncidentEntities, insIncidentEntity *sql.Stmt
	getIncidentForUpdate                                *sql.Stmt
	putModelState, putFeedback, appendAudit             *sql.Stmt
	insSetting, updSetting                              *sql.Stmt
}

// Open opens (creating when needed) the database Options.Dir/vigil.db, applies
// pending migrations and prepares the statements. It refuses a database whose
// schema is newer than this binary knows.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("opening sqlite store: no data directory: %w", store.ErrInvalid)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("resolving data directory %s: %w", opts.Dir, err)
	}
	if strings.ContainsRune(dir, '?') {
		return nil, fmt.Errorf("opening sqlite store: data directory %q contains '?': %w", dir, store.ErrInvalid)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	s := &Store{
		path: filepath.Join(dir, FileName),
		log:  opts.Logger,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := s.open(ctx, opts); err != nil {
		_ = s.closeDBs() // the open error is the one worth reporting
		return nil, fmt.Errorf("opening %s: %w", s.path, err)
	}
	return s, nil
}

func (s *Store) open(ctx context.Context, opts Options) error {
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = DefaultBusyTimeout
	}
	readConns := opts.ReadConns
	if readConns <= 0 {
		readConns = DefaultReadConns
	}
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(busy.Milliseconds(), 10))
	q.Set("_foreign_keys", "1")
	q.Set("_synchronous", "NORMAL")

	wq := url.Values{}
	for k, v := range q {
		wq[k] = v
	}
	wq.Set("_journal_mode", "WAL")
	wq.Set("_txlock", "immediate") // take the write lock at BEGIN, not mid-transaction
	// Tuned for batched inserts, measured with BenchmarkPutSignals (see doc.go).
	// page_size only takes effect when the file is created (before WAL is on).
	wq.Add("_pragma", "page_size(16384)")         // fewer, larger WAL frames: far fewer syscalls per batch
	wq.Add("_pragma", "cache_size(-65536)")       // 64 MiB page cache for the writer
	wq.Add("_pragma", "temp_store(MEMORY)")       // statement journals of multi-row inserts stay off disk
	wq.Add("_pragma", "wal_autocheckpoint(4096)") // checkpoint every 64 MiB of WAL rather than 16 MiB
	wq.Add("_pragma", "journal_size_limit(67108864)")
	w, err := sql.Open("sqlite", s.path+"?"+wq.Encode())
	if err != nil {
		return fmt.Errorf("opening writer: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s.w = w

	if err := migrate(ctx, w, s.log); err != nil {
		return err
	}

	q.Set("_query_only", "1")
	r, err := sql.Open("sqlite", s.path+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("opening readers: %w", err)
	}
	r.SetMaxOpenConns(readConns)
	r.SetMaxIdleConns(readConns)
	r.SetConnMaxIdleTime(0)
	s.r = r
	s.reads.db = r
	if err := r.PingContext(ctx); err != nil {
		return fmt.Errorf("connecting reader: %w", err)
	}
	return s.prepareWrites(ctx)
}

func (s *Store) prepareWrites(ctx context.Context) error {
	list := []struct {
		dst **sql.Stmt
		sql string
	}{
		{&s.ws.insEvidence, `INSERT INTO evidence (event_id, time_ns, source, format, doc)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`},
		{&s.ws.upsIncident, `INSERT INTO incidents (id, version, status, severity, risk, first_seen_ns, last_seen_ns, doc)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET version = excluded.version, status = excluded.status,
				severity = excluded.severity, risk = excluded.risk, first_seen_ns = excluded.first_seen_ns,
				last_seen_ns = excluded.last_seen_ns, doc = excluded.doc
			WHERE excluded.version > incidents.version`},
		{&s.ws.delIncidentEntities, `DELETE FROM incident_entities WHERE incident_id = ?`},
		{&s.ws.insIncidentEntity, `INSERT OR IGNORE INTO incident_entities (kind, value, incident_id) VALUES (?, ?, ?)`},
		{&s.ws.getIncidentForUpdate, `SELECT version, doc FROM incidents WHERE id = ?`},
		{&s.ws.putModelState, `INSERT INTO model_states (model_id, key, version, updated_ns, blob, since_ns) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (model_id, key) DO UPDATE SET version = excluded.version,
				updated_ns = excluded.updated_ns, blob = excluded.blob, since_ns = excluded.since_ns`},
		{&s.ws.putFeedback, `INSERT INTO feedback (id, target_kind, target_id, verdict, reason, scope, expires_ns, author, created_ns)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET target_kind = excluded.target_kind, target_id = excluded.target_id,
				verdict = excluded.verdict, reason = excluded.reason, scope = excluded.scope,
				expires_ns = excluded.expires_ns, author = excluded.author, created_ns = excluded.created_ns`},
		{&s.ws.appendAudit, `INSERT INTO audit_log (time_ns, actor, action, target, details) VALUES (?, ?, ?, ?, ?)`},
		{&s.ws.insSetting, `INSERT INTO settings (name, revision, data, updated_ns) VALUES (?, 1, ?, ?)
			ON CONFLICT (name) DO NOTHING`},
		{&s.ws.updSetting, `UPDATE settings SET revision = revision + 1, data = ?, updated_ns = ?
			WHERE name = ? AND revision = ?`},
	}
	for _, st := range list {
		p, err := s.w.PrepareContext(ctx, st.sql)
		if err != nil {
			return fmt.Errorf("preparing %q: %w", firstLine(st.sql), err)
		}
		*st.dst = p
	}
	var err error
	s.ws.insSignals, err = prepareBatchInsert(ctx, s.w, `INSERT INTO signals (id, time_ns, severity, detector_id, rule_id, doc)`,
		6, 128, ` ON CONFLICT (id) DO NOTHING RETURNING id, seq`)
	if err != nil {
		return err
	}
	s.ws.insSignalEntities, err = prepareBatchInsert(ctx, s.w, `INSERT OR IGNORE INTO signal_entities (kind, value, time_ns, seq)`, 4, 256, "")
	return err
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Close closes the store; later calls return nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.closeErr = s.closeDBs()
	})
	return s.closeErr
}

func (s *Store) closeDBs() error {
	errs := []error{s.reads.close(), s.ws.insSignals.close(), s.ws.insSignalEntities.close()}
	for _, st := range []*sql.Stmt{
		s.ws.insEvidence, s.ws.upsIncident, s.ws.delIncidentEntities,
		s.ws.insIncidentEntity, s.ws.getIncidentForUpdate, s.ws.putModelState, s.ws.putFeedback, s.ws.appendAudit,
		s.ws.insSetting, s.ws.updSetting,
	} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		// Closing the last connection checkpoints the WAL into the database file.
		errs = append(errs, s.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("closing %s: %w", s.path, err)
	}
	return nil
}

// check returns ErrClosed once the store is closed.
func (s *Store) check(op string) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", op, store.ErrClosed)
	}
	return nil
}

// wrap adds the operation to err, and ErrClosed when Close raced with the call.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() && !errors.Is(err, store.ErrClosed) {
		return fmt.Errorf("%s: %w: %w", op, store.ErrClosed, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// write runs fn in a transaction on the writer connection.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the error that matters is fn's
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// stmtCache holds statements prepared on one *sql.DB, keyed by SQL text. The
// SQL comes from a fixed set of fragments (query filters, batch sizes), so the
// cache stays small.
type stmtCache struct {
	db     *sql.DB
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	closed bool
}

// get returns the statement for query, preparing it on first use.
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st, nil
	}
	if c.closed {
		return nil, store.ErrClosed
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("preparing %q: %w", firstLine(query), err)
	}
	if c.m == nil {
		c.m = make(map[string]*sql.Stmt)
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for _, st := range c.m {
		errs = append(errs, st.Close())
	}
	clear(c.m)
	return errors.Join(errs...)
}

func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.reads.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (s *Store) queryRow(ctx context.Context, query string, args ...any) (*sql.Row, error) {
	st, err := s.reads.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(ctx, args...), nil
}

var _ store.Store = (*Store)(nil)

// queryPage runs a keyset-paged query, which asks for limit+1 rows, and scans at
// most limit items; when a further row exists, Next is the cursor of the last item
// kept. Every List method pages through it.
func queryPage[T any](ctx context.Context, s *Store, op, query string, args []any, limit int,
	scan func(*sql.Rows) (T, store.Cursor, error)) (store.Page[T], error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return store.Page[T]{}, s.wrap(op, err)
	}
	defer rows.Close()
	var (
		page store.Page[T]
		cur  store.Cursor
	)
	for rows.Next() {
		if len(page.Items) == limit {
			page.Next = cur.Encode()
			break
		}
		item, c, err := scan(rows)
		if err != nil {
			return store.Page[T]{}, s.wrap(op, err)
		}
		page.Items, cur = append(page.Items, item), c
	}
	if err := rows.Err(); err != nil {
		return store.Page[T]{}, s.wrap(op, err)
	}
	return page, nil
}
