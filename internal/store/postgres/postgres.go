package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vigilsec/vigil/internal/store"
)

// DefaultApplicationName is the application_name Open sets on its connections
// (visible in pg_stat_activity) unless the URL names one.
const DefaultApplicationName = "vigil"

// maxIdentifier is the longest identifier PostgreSQL keeps (NAMEDATALEN-1
// bytes); a longer one would be silently truncated.
const maxIdentifier = 63

// Options configures Open.
type Options struct {
	// URL is the connection string: a postgres:// URL or key=value pairs, with
	// any parameter pgx understands (sslmode, pool_max_conns, ...). Required.
	// Its password never appears in an error or a log message.
	URL string
	// Schema is the schema the store's tables live in. Open creates it when
	// missing and sets it as every connection's search_path. Empty means the
	// URL's search_path (a search_path parameter) or else the server's default,
	// whose first existing schema (usually public) is used.
	Schema string
	// MaxConns caps the pool's connections; zero means the URL's
	// pool_max_conns or pgx's default (the larger of 4 and the CPU count).
	MaxConns int32
	// Logger receives migration and lifecycle messages; nil discards them.
	Logger *slog.Logger
}

// String describes the options with the URL's password masked, so logging
// Options with %v never prints it.
func (o Options) String() string {
	return fmt.Sprintf("{URL:%s Schema:%s MaxConns:%d}", redactURL(o.URL), o.Schema, o.MaxConns)
}

// LogValue implements slog.LogValuer, with the URL's password masked.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", redactURL(o.URL)),
		slog.String("schema", o.Schema),
		slog.Int("max_conns", int(o.MaxConns)),
	)
}

// Store is the PostgreSQL implementation of store.Store, over one pgx
// connection pool. Several Stores, in one process or many, may share a
// database and schema: every read-modify-write happens inside PostgreSQL
// (row locks, conditional upserts, SKIP LOCKED claims), never in Go memory.
type Store struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	schema string // the schema holding the tables
	// auditLock is the advisory lock serializing AppendAudit on the schema.
	auditLock int64

	closed    atomic.Bool
	closeOnce sync.Once
}

// Open connects to the database, applies pending migrations under an advisory
// lock (so several nodes can start at once) and returns the store. It refuses a
// schema migrated by a newer Vigil (ErrSchemaTooNew).
func Open(ctx context.Context, opts Options) (*Store, error) {
	s, err := open(ctx, opts)
	if err != nil {
		return nil, redactError(fmt.Errorf("opening PostgreSQL store: %w", err), urlSecrets(opts.URL))
	}
	return s, nil
}

func open(ctx context.Context, opts Options) (*Store, error) {
	if opts.URL == "" {
		return nil, fmt.Errorf("no database URL: %w", store.ErrInvalid)
	}
	if opts.MaxConns < 0 {
		return nil, fmt.Errorf("negative MaxConns %d: %w", opts.MaxConns, store.ErrInvalid)
	}
	if opts.Schema != "" && (!storable(opts.Schema) || len(opts.Schema) > maxIdentifier) {
		return nil, fmt.Errorf("schema name %q: want at most %d bytes of UTF-8 without NUL: %w", opts.Schema, maxIdentifier, store.ErrInvalid)
	}
	cfg, err := pgxpool.ParseConfig(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("parsing database URL: %w: %w", store.ErrInvalid, err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	rp := cfg.ConnConfig.RuntimeParams
	if rp["application_name"] == "" {
		rp["application_name"] = DefaultApplicationName
	}
	schema := opts.Schema
	if schema == "" {
		if schema, err = currentSchema(ctx, cfg.ConnConfig); err != nil {
			return nil, err
		}
	}
	// Every connection searches only the store's schema (pg_catalog is always
	// searched first): unqualified names resolve to its tables and nothing
	// else, whatever schemas are created later.
	rp["search_path"] = pgx.Identifier{schema}.Sanitize()
	s := &Store{log: opts.Logger, schema: schema, auditLock: lockKey("audit", schema)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("creating connection pool: %w", err)
	}
	err = s.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		return migrate(ctx, c.Conn(), schema, opts.Schema != "", s.log)
	})
	if err != nil {
		s.pool.Close()
		return nil, err
	}
	s.log.InfoContext(ctx, "opened PostgreSQL store", "url", redactURL(opts.URL), "schema", s.schema,
		"schema_version", SchemaVersion(), "max_conns", cfg.MaxConns)
	return s, nil
}

// currentSchema connects once to find the schema the URL's (or the server's)
// search_path points at: its first schema that exists.
func currentSchema(ctx context.Context, cfg *pgx.ConnConfig) (string, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return "", fmt.Errorf("connecting: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }() // read-only session: nothing to lose
	var cur *string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&cur); err != nil {
		return "", fmt.Errorf("reading current schema: %w", err)
	}
	if cur == nil {
		return "", fmt.Errorf("no schema of the search_path exists; create one or set Options.Schema: %w", store.ErrInvalid)
	}
	return *cur, nil
}

// Schema returns the schema holding the store's tables.
func (s *Store) Schema() string { return s.schema }

// Close closes the pool, waiting for calls in progress to return their
// connections. Later calls do nothing and return nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.pool.Close()
	})
	return nil
}

// check returns ErrClosed once the store is closed.
func (s *Store) check(op string) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", op, store.ErrClosed)
	}
	return nil
}

// wrap adds the operation to err, ErrClosed when Close raced with the call, and
// ErrInvalid when PostgreSQL refused a value as text it cannot hold (a NUL byte
// or invalid UTF-8 in a string the store keeps exactly).
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() && !errors.Is(err, store.ErrClosed) {
		return fmt.Errorf("%s: %w: %w", op, store.ErrClosed, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "22021" || pe.Code == "22P05") && !errors.Is(err, store.ErrInvalid) {
		return fmt.Errorf("%s: %w: %w", op, store.ErrInvalid, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// tx runs fn in a transaction: committed when fn returns nil, rolled back
// otherwise.
func (s *Store) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

var _ store.Store = (*Store)(nil)

// queryPage runs a keyset-paged query, which asks for limit+1 rows, and scans at
// most limit items; when a further row exists, Next is the cursor of the last
// item kept. Every List method pages through it.
func queryPage[T any](ctx context.Context, s *Store, op string, b *queryBuilder, limit int,
	scan func(pgx.Rows) (T, store.Cursor, error)) (store.Page[T], error) {
	if b.none {
		return store.Page[T]{}, nil
	}
	rows, err := s.pool.Query(ctx, b.String(), b.args...)
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

// orderSQL returns the ORDER BY direction and the keyset comparison for o.
func orderSQL(o store.Order) (dir, cmp string) {
	if o == store.OrderAsc {
		return "ASC", ">"
	}
	return "DESC", "<"
}

// queryBuilder assembles a SELECT with AND-ed conditions and numbered
// parameters.
type queryBuilder struct {
	strings.Builder
	args   []any
	nwhere int
	// none is set when a filter compares an exact column with a value no row
	// can hold (see exactArg): the query then matches nothing.
	none bool
}

// arg adds a parameter and returns its placeholder ($1, $2, ...).
func (b *queryBuilder) arg(v any) string {
	b.args = append(b.args, v)
	return fmt.Sprintf("$%d", len(b.args))
}

// exactArg is arg for a value compared with an exact column (an id, a key): a
// value PostgreSQL text cannot hold matches no stored row, so the query is not
// sent at all (PostgreSQL would reject the parameter).
func (b *queryBuilder) exactArg(v string) string {
	if !storable(v) {
		b.none = true
	}
	return b.arg(v)
}

// where adds a condition, written with placeholders from arg.
func (b *queryBuilder) where(cond string) {
	if b.nwhere == 0 {
		b.WriteString(" WHERE ")
	} else {
		b.WriteString(" AND ")
	}
	b.nwhere++
	b.WriteString(cond)
}

// storable reports whether PostgreSQL text can hold s exactly: valid UTF-8
// without NUL bytes.
func storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// exact checks that a string the store keeps exactly (an id, a key) fits a
// text column; what names a record is never altered, as that could merge two
// records into one.
func exact(what, s string) error {
	if !storable(s) {
		return fmt.Errorf("%s %q is not valid UTF-8 without NUL bytes, which PostgreSQL text cannot hold: %w", what, s, store.ErrInvalid)
	}
	return nil
}

// lossy makes a descriptive string (an entity value in a lookup table, a search
// column, an error message) fit a text column, as encoding/json does in the
// documents: invalid UTF-8, and here NUL too, become U+FFFD. Filters on such
// columns pass through it as well, so lookups match what was stored.
func lossy(s string) string {
	if storable(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// asciiLower lowers ASCII letters only, as lower() does under COLLATE "C".
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// redactURL returns the connection string with its password masked, for logs
// and messages. A string that does not parse as a URL is reduced to what is
// certainly not a secret.
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	if strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://") {
		u, err := url.Parse(raw)
		if err != nil {
			return "postgres://(unparsable URL)"
		}
		q := u.Query()
		for k := range q {
			if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
		return u.Redacted()
	}
	// key=value form: keep the keys that cannot hold a secret.
	var keep []string
	for _, f := range strings.Fields(raw) {
		k, _, _ := strings.Cut(f, "=")
		switch strings.ToLower(k) {
		case "host", "port", "dbname", "user", "sslmode", "search_path", "application_name":
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, " ")
}

// urlSecrets returns the password of a connection string, raw and decoded, for
// redactError.
func urlSecrets(raw string) []string {
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s)
		}
	}
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		if pw, ok := u.User.Password(); ok {
			add(pw)
		}
		for k, vs := range u.Query() {
			if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
				for _, v := range vs {
					add(v)
				}
			}
		}
	}
	// Whatever the form, a password between "user:" and "@", or after
	// password=, in the raw text (also when the URL does not parse).
	if rest, ok := strings.CutPrefix(raw, "postgres://"); ok || strings.HasPrefix(raw, "postgresql://") {
		if !ok {
			rest = strings.TrimPrefix(raw, "postgresql://")
		}
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				add(pw)
				if dec, err := url.PathUnescape(pw); err == nil {
					add(dec)
				}
			}
		}
	}
	for _, f := range strings.Fields(raw) {
		k, v, ok := strings.Cut(f, "=")
		if ok && (strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword")) {
			add(strings.Trim(v, "'"))
		}
	}
	for _, f := range strings.Split(raw, "&") {
		k, v, ok := strings.Cut(f, "=")
		if ok && (strings.HasSuffix(strings.ToLower(k), "password")) {
			add(v)
			if dec, err := url.QueryUnescape(v); err == nil {
				add(dec)
			}
		}
	}
	return out
}

// redactedError masks secrets in an error's message while keeping it
// unwrappable (errors.Is still finds ErrInvalid, ErrSchemaTooNew, ...).
type redactedError struct {
	err     error
	secrets []string
}

func (e *redactedError) Error() string {
	msg := e.err.Error()
	for _, s := range e.secrets {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	return msg
}

func (e *redactedError) Unwrap() error { return e.err }

// redactError wraps err so its message never contains one of secrets.
func redactError(err error, secrets []string) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	// Longest first, so a secret that contains another is masked whole.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	return &redactedError{err: err, secrets: secrets}
}
