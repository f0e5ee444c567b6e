package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/postgres/pgtest"
	"github.com/vigilsec/vigil/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	pgtest.URL(t) // skip (or fail) once, not in every case, when there is no server
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTemp(t)
	})
}

// openTemp opens a store on a fresh schema of its own, dropped when the test
// ends. The store is closed by the caller (the conformance suite) or, at the
// latest, before the schema is dropped.
func openTemp(t testing.TB) *Store {
	t.Helper()
	u, schema := pgtest.Schema(t)
	return openOn(t, u, schema)
}

// openOn opens a store on schema, closed when the test ends (cleanups run in
// reverse order, so before pgtest drops the schema).
func openOn(t testing.TB, u, schema string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Options{URL: u, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() }) // idempotent: harmless when the test closed it
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// conn opens a plain connection on schema, for looking under the store.
func conn(t testing.TB, u, schema string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(u)
	must(t, err)
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	c, err := pgx.ConnectConfig(t.Context(), cfg)
	must(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 999999999, time.UTC)

func TestOpenInvalid(t *testing.T) {
	ctx := t.Context()
	for name, opts := range map[string]Options{
		"no URL":            {},
		"negative MaxConns": {URL: pgtest.DefaultURL, MaxConns: -1},
		"schema with NUL":   {URL: pgtest.DefaultURL, Schema: "a\x00b"},
		"schema too long":   {URL: pgtest.DefaultURL, Schema: strings.Repeat("s", 64)},
		"unparsable URL":    {URL: "postgres://u:pw@[::1/db"},
		"unknown sslmode":   {URL: "postgres://127.0.0.1/db?sslmode=sometimes"},
		"not a conn string": {URL: "this is = not a connection string"},
	} {
		s, err := Open(ctx, opts)
		if !errors.Is(err, store.ErrInvalid) {
			if s != nil {
				_ = s.Close()
			}
			t.Errorf("%s: Open = %v, want ErrInvalid", name, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "opening PostgreSQL store: ") {
			t.Errorf("%s: error %q lacks the operation", name, err)
		}
	}
}

// TestPasswordNeverShown opens stores with a password in the URL, in several
// spellings, that fail in different ways (unparsable, bad option, unreachable
// server) or succeed, and checks that no error, log line or formatted Options
// contains it.
func TestPasswordNeverShown(t *testing.T) {
	const pw = "Sup3r-s3cret_pw"
	encoded := url.QueryEscape(pw + "@/:") // percent-encoded
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for name, u := range map[string]string{
		"unparsable":       "postgres://vigil:" + pw + "@[::1/db",
		"bad option":       "postgres://vigil:" + pw + "@127.0.0.1/db?sslmode=sometimes",
		"encoded":          "postgres://vigil:" + encoded + "@127.0.0.1/db?sslmode=sometimes",
		"query password":   "postgres://vigil@127.0.0.1/db?sslmode=sometimes&password=" + pw,
		"key=value":        "host=127.0.0.1 user=vigil password=" + pw + " sslmode=sometimes",
		"quoted key=value": "host=127.0.0.1 user=vigil password='" + pw + "' sslmode=sometimes",
		"unreachable":      "postgres://vigil:" + pw + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=2",
	} {
		opts := Options{URL: u, Logger: log}
		s, err := Open(t.Context(), opts)
		if err == nil {
			_ = s.Close()
			t.Errorf("%s: Open succeeded", name)
			continue
		}
		for _, secret := range []string{pw, encoded} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error shows the password: %v", name, err)
			}
			for _, formatted := range []string{fmt.Sprint(opts), fmt.Sprintf("%+v", opts)} {
				if strings.Contains(formatted, secret) {
					t.Errorf("%s: formatted Options show the password: %s", name, formatted)
				}
			}
		}
		log.Info("options", "opts", opts)
	}

	// A successful open with a password (the test server may ignore it).
	u, schema := pgtest.Schema(t)
	p, err := url.Parse(u)
	must(t, err)
	if p.User == nil {
		t.Fatalf("test URL %s has no user", p.Redacted())
	}
	p.User = url.UserPassword(p.User.Username(), pw)
	s, err := Open(t.Context(), Options{URL: p.String(), Schema: schema, Logger: log})
	if err != nil {
		if strings.Contains(err.Error(), pw) {
			t.Errorf("error shows the password: %v", err)
		}
		t.Logf("the test server refuses the password (it does not trust the host): %v", err)
	} else {
		must(t, s.Close())
	}
	if strings.Contains(logs.String(), pw) || strings.Contains(logs.String(), encoded) {
		t.Errorf("the log shows the password:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "xxxxx") {
		t.Errorf("the log does not show the masked URL:\n%s", logs.String())
	}
}

func TestOpenUnreachableFailsFast(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := Open(ctx, Options{URL: "postgres://vigil@127.0.0.1:1/db?sslmode=disable&connect_timeout=2"})
	if err == nil || !strings.Contains(err.Error(), "opening PostgreSQL store") {
		t.Fatalf("Open of an unreachable server: %v", err)
	}
}

// TestMigrations checks what Open records, that reopening applies nothing
// again, and that the tables live in the store's schema only.
func TestMigrations(t *testing.T) {
	ms, err := loadMigrations()
	must(t, err)
	if len(ms) < 2 || ms[0].Version != 1 || ms[0].Name != "0001_init" || ms[1].Name != "0002_outbox" {
		t.Fatalf("migrations: %+v", ms)
	}
	if SchemaVersion() != len(ms) {
		t.Fatalf("SchemaVersion() = %d with %d migrations", SchemaVersion(), len(ms))
	}
	u, schema := pgtest.Schema(t)
	var logs bytes.Buffer
	for range 3 {
		s, err := Open(t.Context(), Options{URL: u, Schema: schema, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		must(t, err)
		if s.Schema() != schema {
			t.Errorf("Schema() = %q, want %q", s.Schema(), schema)
		}
		must(t, s.Close())
	}
	if n := strings.Count(logs.String(), "applied schema migration"); n != len(ms) {
		t.Errorf("%d migrations logged over three opens, want %d:\n%s", n, len(ms), logs.String())
	}
	c := conn(t, u, schema)
	rows, err := c.Query(t.Context(), `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	must(t, err)
	type rec struct {
		version int
		name    string
		at      time.Time
	}
	recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rec, error) {
		var x rec
		err := r.Scan(&x.version, &x.name, &x.at)
		return x, err
	})
	must(t, err)
	if len(recs) != len(ms) {
		t.Fatalf("schema_migrations has %d rows, want %d", len(recs), len(ms))
	}
	for i, r := range recs {
		if r.version != ms[i].Version || r.name != ms[i].Name || time.Since(r.at) > time.Hour || time.Since(r.at) < 0 {
			t.Errorf("schema_migrations row %d: %+v, want version %d name %s applied just now", i, r, ms[i].Version, ms[i].Name)
		}
	}
	for _, table := range []string{"signals", "signal_entities", "evidence", "incidents", "incident_entities",
		"model_states", "feedback", "audit_log", "outbox", "settings", "schema_migrations"} {
		var where string
		err := c.QueryRow(t.Context(), `SELECT table_schema FROM information_schema.tables WHERE table_name = $1 AND table_schema = $2`,
			table, schema).Scan(&where)
		if err != nil {
			t.Errorf("table %s in schema %s: %v", table, schema, err)
		}
	}
}

// TestOpenCreatesSchema opens a schema that does not exist yet, and one named
// with characters that need quoting.
func TestOpenCreatesSchema(t *testing.T) {
	u := pgtest.URL(t)
	for _, schema := range []string{
		pgtest.SchemaPrefix + "new_" + fmt.Sprint(time.Now().UnixNano()),
		pgtest.SchemaPrefix + `Quoted "Schema"; DROP ` + fmt.Sprint(time.Now().UnixNano()%1e6),
	} {
		t.Cleanup(func() { pgtest.DropSchema(t, u, schema) })
		s := openOn(t, u, schema)
		must(t, probe(t, s))
		var n int
		must(t, conn(t, u, schema).QueryRow(t.Context(), `SELECT count(*) FROM audit_log`).Scan(&n))
		if n != 1 {
			t.Errorf("schema %q: %d audit rows, want 1", schema, n)
		}
	}
}

// probe appends one audit entry, for tests that need a write to succeed.
func probe(t testing.TB, s *Store) error {
	_, err := s.AppendAudit(t.Context(), store.AuditEntry{Time: t0, Actor: "test", Action: "probe"})
	return err
}

// TestOpenDefaultSchema opens without Options.Schema: the URL's search_path
// decides.
func TestOpenDefaultSchema(t *testing.T) {
	u, schema := pgtest.Schema(t)
	p, err := url.Parse(u)
	must(t, err)
	q := p.Query()
	q.Set("search_path", schema)
	p.RawQuery = q.Encode()
	s, err := Open(t.Context(), Options{URL: p.String()})
	must(t, err)
	defer s.Close()
	if s.Schema() != schema {
		t.Errorf("Schema() = %q, want the URL's search_path %q", s.Schema(), schema)
	}
	must(t, probe(t, s))

	q.Set("search_path", pgtest.SchemaPrefix+"missing_"+fmt.Sprint(time.Now().UnixNano()))
	p.RawQuery = q.Encode()
	if _, err := Open(t.Context(), Options{URL: p.String()}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Open with a search_path of no existing schema: %v, want ErrInvalid", err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	u, schema := pgtest.Schema(t)
	s := openOn(t, u, schema)
	must(t, s.Close())
	future := SchemaVersion() + 1
	_, err := conn(t, u, schema).Exec(t.Context(), `INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_the_future')`, future)
	must(t, err)

	_, err = Open(t.Context(), Options{URL: u, Schema: schema})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema: %v, want ErrSchemaTooNew", err)
	}
	for _, want := range []string{schema, fmt.Sprintf("version %d", future), fmt.Sprintf("up to %d", future-1)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestConcurrentOpen opens one empty schema from several goroutines at once,
// each with its own pool, as nodes starting together do: the advisory lock
// lets one migrate while the others wait, so every Open succeeds and each
// migration is applied once.
func TestConcurrentOpen(t *testing.T) {
	u, schema := pgtest.Schema(t)
	const nodes = 8
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		stores []*Store
		logs   bytes.Buffer
	)
	log := slog.New(slog.NewTextHandler(&syncWriter{w: &logs, mu: &mu}, nil))
	start := make(chan struct{})
	errs := make(chan error, nodes)
	for range nodes {
		wg.Go(func() {
			<-start
			s, err := Open(t.Context(), Options{URL: u, Schema: schema, MaxConns: 2, Logger: log})
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			stores = append(stores, s)
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, s := range stores {
		must(t, probe(t, s))
		must(t, s.Close())
	}
	var n, maxV int
	must(t, conn(t, u, schema).QueryRow(t.Context(), `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &maxV))
	if n != SchemaVersion() || maxV != SchemaVersion() {
		t.Errorf("schema_migrations: %d rows up to version %d, want %d", n, maxV, SchemaVersion())
	}
	if got := strings.Count(logs.String(), "applied schema migration"); got != SchemaVersion() {
		t.Errorf("%d migrations applied by %d nodes, want %d", got, nodes, SchemaVersion())
	}
}

type syncWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// TestOutboxClaimsAcrossStores claims from two Stores (two pools, as two
// processes would have) on one schema at once: no item may be handed out
// twice, none may be left.
func TestOutboxClaimsAcrossStores(t *testing.T) {
	u, schema := pgtest.Schema(t)
	a, b := openOn(t, u, schema), openOn(t, u, schema)
	base := t0
	var items []store.OutboxItem
	for i := range 500 {
		items = append(items, store.OutboxItem{Key: fmt.Sprintf("k%04d", i), Target: "t/webhook", Kind: "webhook",
			IncidentID: "inc", IncidentVersion: 1, Payload: json.RawMessage(`{}`), Created: base.Add(time.Duration(i%13) * time.Millisecond)})
	}
	n, err := a.EnqueueOutbox(t.Context(), items)
	must(t, err)
	if n != len(items) {
		t.Fatalf("enqueued %d, want %d", n, len(items))
	}
	var (
		mu   sync.Mutex
		seen = map[string]string{}
		wg   sync.WaitGroup
	)
	for w := range 8 {
		s := []*Store{a, b}[w%2]
		owner := fmt.Sprintf("node%d-d%d", w%2, w)
		wg.Go(func() {
			for {
				got, err := s.ClaimOutbox(t.Context(), store.OutboxClaim{Owner: owner, Now: base.Add(time.Second), Lease: time.Hour, Limit: 9})
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				if len(got) > 9 {
					t.Errorf("a claim of at most 9 items returned %d", len(got))
				}
				mu.Lock()
				for _, it := range got {
					if prev, dup := seen[it.Key]; dup {
						t.Errorf("%s claimed by %s and %s", it.Key, prev, owner)
					}
					seen[it.Key] = owner
					if it.LeaseOwner != owner {
						t.Errorf("%s returned to %s leased to %s", it.Key, owner, it.LeaseOwner)
					}
				}
				mu.Unlock()
				for _, it := range got { // settle some, so marks and claims interleave
					if it.Key[len(it.Key)-1]%2 == 0 {
						if err := s.MarkOutbox(t.Context(), store.OutboxResult{Key: it.Key, Owner: owner, State: store.OutboxDelivered,
							Attempted: true, Now: base.Add(time.Second)}); err != nil {
							t.Error(err)
						}
					}
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != len(items) {
		t.Errorf("%d items claimed, want %d", len(seen), len(items))
	}
	owners := map[string]bool{}
	for _, o := range seen {
		owners[o[:5]] = true
	}
	if len(owners) != 2 {
		t.Logf("only %v claimed anything (scheduling); the test still checked exclusivity", owners)
	}
}

// TestIncidentUpsertAcrossStores writes versions of one incident from two
// Stores at once, in shuffled order: the stored incident must end at the
// newest version, whatever the interleaving, with its entities; then
// read-modify-write loops on both Stores must lose no update.
func TestIncidentUpsertAcrossStores(t *testing.T) {
	u, schema := pgtest.Schema(t)
	a, b := openOn(t, u, schema), openOn(t, u, schema)
	ctx := t.Context()
	const versions = 60
	mk := func(v int64) correlate.Incident {
		return correlate.Incident{ID: "shared", Title: fmt.Sprintf("v%d", v), Status: correlate.StatusOpen, Risk: float64(v),
			FirstSeen: t0, LastSeen: t0.Add(time.Duration(v) * time.Second), Version: v,
			Entities: []detect.Entity{{Kind: detect.EntityHost, Value: fmt.Sprintf("h%d", v)}}}
	}
	var wg sync.WaitGroup
	for w := range 6 {
		s := []*Store{a, b}[w%2]
		wg.Go(func() {
			for i := range versions {
				v := int64((i*7+w*11)%versions + 1) // every worker writes every version, in its own order
				err := s.UpsertIncident(ctx, mk(v))
				if err != nil && !errors.Is(err, store.ErrConflict) {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := a.GetIncident(ctx, "shared")
	must(t, err)
	if got.Version != versions || got.Title != fmt.Sprintf("v%d", versions) {
		t.Errorf("stored version %d (%q), want the newest, %d", got.Version, got.Title, versions)
	}
	p, err := b.ListIncidents(ctx, store.IncidentQuery{Entity: detect.Entity{Kind: detect.EntityHost, Value: fmt.Sprintf("h%d", versions)}})
	must(t, err)
	if len(p.Items) != 1 {
		t.Errorf("the newest version's entity finds %d incidents, want 1", len(p.Items))
	}
	p, err = b.ListIncidents(ctx, store.IncidentQuery{Entity: detect.Entity{Kind: detect.EntityHost, Value: "h1"}})
	must(t, err)
	if len(p.Items) != 0 {
		t.Errorf("an old version's entity still finds %d incidents", len(p.Items))
	}

	// Read-modify-write from both stores: each version is won exactly once.
	const perWorker = 8
	closed := correlate.StatusClosed
	_, err = a.UpdateIncidentTriage(ctx, "shared", store.TriageUpdate{Status: &closed, Assignee: ptr("erin")})
	must(t, err)
	for w := range 4 {
		s := []*Store{a, b}[w%2]
		wg.Go(func() {
			for i := 0; i < perWorker; {
				cur, err := s.GetIncident(ctx, "shared")
				if err != nil {
					t.Error(err)
					return
				}
				cur.Version++
				cur.Status = correlate.StatusOpen // the correlator's write: the analyst's triage must survive
				cur.SignalIDs = append(cur.SignalIDs, fmt.Sprintf("w%d-%d", w, i))
				err = s.UpsertIncident(ctx, cur)
				if errors.Is(err, store.ErrConflict) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				i++
			}
		})
	}
	wg.Wait()
	got, err = b.GetIncident(ctx, "shared")
	must(t, err)
	if got.Version != versions+4*perWorker || len(got.SignalIDs) != 4*perWorker {
		t.Errorf("version %d with %d signal ids, want %d and %d", got.Version, len(got.SignalIDs), versions+4*perWorker, 4*perWorker)
	}
	if got.Status != correlate.StatusClosed || got.Assignee != "erin" {
		t.Errorf("triage after concurrent correlator writes: %q, %q; want closed, erin", got.Status, got.Assignee)
	}
}

func ptr[T any](v T) *T { return &v }

// TestSettingsAcrossStores creates and increments a setting from two Stores
// (two pools, as two processes would have) on one schema: of concurrent
// creates exactly one wins, and no read-modify-write is lost.
func TestSettingsAcrossStores(t *testing.T) {
	u, schema := pgtest.Schema(t)
	a, b := openOn(t, u, schema), openOn(t, u, schema)
	ctx := t.Context()
	const workers = 6
	var (
		wg      sync.WaitGroup
		created atomic.Int32
	)
	start := make(chan struct{})
	for w := range workers {
		s := []*Store{a, b}[w%2]
		wg.Go(func() {
			<-start
			_, err := s.PutSetting(ctx, "counter", []byte("0"), 0)
			switch {
			case err == nil:
				created.Add(1)
			case !errors.Is(err, store.ErrConflict):
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	if n := created.Load(); n != 1 {
		t.Fatalf("%d of %d concurrent creates succeeded, want 1", n, workers)
	}
	const increments = 15
	if _, err := storetest.Increment(ctx, []store.Store{a, b}, "counter", workers, increments); err != nil {
		t.Fatal(err)
	}
	storetest.CheckCounter(t, b, "counter", workers*increments)
}

// TestUpsertIncidents: the batch form writes new incidents and newer versions
// in one transaction, skips (and counts) the versions the store already has,
// and keeps an analyst's triage as UpsertIncident does.
func TestUpsertIncidents(t *testing.T) {
	st := openTemp(t)
	ctx := t.Context()
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	inc := func(id string, v int64) correlate.Incident {
		return correlate.Incident{ID: id, Title: id, Status: correlate.StatusOpen, Severity: detect.SeverityHigh, Risk: float64(v),
			FirstSeen: at, LastSeen: at.Add(time.Duration(v) * time.Minute), SignalIDs: []string{fmt.Sprint("s", v)}, SignalCount: int(v), Version: v}
	}
	if skipped, err := st.UpsertIncidents(ctx, []correlate.Incident{inc("a", 1), inc("b", 1)}); err != nil || skipped != 0 {
		t.Fatalf("first batch: skipped %d, %v", skipped, err)
	}
	closed := correlate.StatusClosed
	if _, err := st.UpdateIncidentTriage(ctx, "a", store.TriageUpdate{Status: &closed}); err != nil {
		t.Fatal(err)
	}
	skipped, err := st.UpsertIncidents(ctx, []correlate.Incident{inc("c", 1), inc("b", 1), inc("a", 2)})
	if err != nil || skipped != 0 {
		t.Fatalf("second batch (b rewritten unchanged is a redelivery): skipped %d, %v", skipped, err)
	}
	older := inc("a", 1)
	older.Title = "older"
	if skipped, err := st.UpsertIncidents(ctx, []correlate.Incident{older, inc("d", 1), inc("d", 2), inc("d", 2)}); err != nil || skipped != 1 {
		t.Fatalf("an older version: skipped %d, %v", skipped, err)
	}
	a, err := st.GetIncident(ctx, "a")
	if err != nil || a.Version != 2 || a.Status != correlate.StatusClosed || a.Title != "a" {
		t.Fatalf("a: %+v, %v (want version 2, closed by the analyst)", a, err)
	}
	d, err := st.GetIncident(ctx, "d")
	if err != nil || d.Version != 2 {
		t.Fatalf("d: %+v, %v (want version 2)", d, err)
	}
	bad := inc("e", 1)
	bad.ID = ""
	if _, err := st.UpsertIncidents(ctx, []correlate.Incident{inc("f", 1), bad}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("an invalid incident: %v", err)
	}
	if _, err := st.GetIncident(ctx, "f"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a batch with an invalid incident wrote part of it: %v", err)
	}
	if n, err := st.UpsertIncidents(ctx, nil); err != nil || n != 0 {
		t.Errorf("empty batch: %d, %v", n, err)
	}
}

// TestAuditAppendOnly: the database itself refuses to change or remove an
// entry, whoever asks.
func TestAuditAppendOnly(t *testing.T) {
	u, schema := pgtest.Schema(t)
	s := openOn(t, u, schema)
	ctx := t.Context()
	id, err := s.AppendAudit(ctx, store.AuditEntry{Time: t0, Actor: "a", Action: "b"})
	must(t, err)
	c := conn(t, u, schema)
	for _, stmt := range []string{
		`UPDATE audit_log SET actor = 'mallory' WHERE id = $1`,
		`DELETE FROM audit_log WHERE id = $1`,
		`DELETE FROM audit_log WHERE id = $1 + 1000`, // even one that matches nothing
	} {
		_, err := c.Exec(ctx, stmt, id)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want the append-only trigger to refuse it", stmt, err)
		}
	}
	if _, err := c.Exec(ctx, `TRUNCATE audit_log`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("TRUNCATE: %v, want the append-only trigger to refuse it", err)
	}
	if _, err := c.Exec(ctx, `INSERT INTO audit_log (id, time_ns, actor, action, target) VALUES (1000000, 1, 'm', 'forged', '')`); err == nil {
		t.Error("an insert chose its own id")
	}
	p, err := s.ListAudit(ctx, store.AuditQuery{})
	must(t, err)
	if len(p.Items) != 1 || p.Items[0].Actor != "a" || p.Items[0].ID != id {
		t.Errorf("audit log after refused changes: %+v", p.Items)
	}
}

// TestAuditIDsInCommitOrder appends from many goroutines on two Stores while
// a reader lists the log over and over: ids must be distinct, and no entry
// may appear below an id the reader has already seen (a tail by id would
// miss it), which concurrent appends without the audit lock allow.
func TestAuditIDsInCommitOrder(t *testing.T) {
	u, schema := pgtest.Schema(t)
	a, b := openOn(t, u, schema), openOn(t, u, schema)
	ctx := t.Context()
	const writers, perWriter = 8, 40
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		s := []*Store{a, b}[w%2]
		wg.Go(func() {
			for range perWriter {
				if _, err := s.AppendAudit(ctx, store.AuditEntry{Time: t0, Actor: fmt.Sprint("w", w), Action: "x"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var reads int
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		seen := map[int64]bool{}
		var top int64
		for {
			select {
			case <-done:
				return
			default:
			}
			p, err := b.ListAudit(ctx, store.AuditQuery{Order: store.OrderAsc, Limit: store.MaxLimit})
			if err != nil {
				t.Error(err)
				return
			}
			reads++
			var newTop int64
			for _, e := range p.Items {
				if !seen[e.ID] && e.ID < top {
					t.Errorf("entry %d appeared after entry %d was visible", e.ID, top)
				}
				seen[e.ID] = true
				newTop = max(newTop, e.ID)
			}
			top = newTop
		}
	}()
	wg.Wait()
	close(done)
	<-readerDone
	p, err := a.ListAudit(ctx, store.AuditQuery{Limit: store.MaxLimit})
	must(t, err)
	ids := map[int64]bool{}
	for _, e := range p.Items {
		ids[e.ID] = true
	}
	if len(p.Items) != writers*perWriter || len(ids) != len(p.Items) {
		t.Errorf("%d entries, %d distinct ids; want %d", len(p.Items), len(ids), writers*perWriter)
	}
	t.Logf("%d reads during the appends", reads)
}

// TestTextPostgresCannotHold covers strings PostgreSQL text refuses (NUL, invalid
// UTF-8): ids and keys are refused with ErrInvalid (altering them could merge
// records), lookups by them find nothing, and descriptive strings are stored
// with U+FFFD, as encoding/json stores them in the documents, and stay
// findable by the original value.
func TestTextPostgresCannotHold(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	for name, id := range map[string]string{"NUL": "sig\x00nul", "invalid UTF-8": "sig\xffbad"} {
		err := s.PutSignals(ctx, []detect.Signal{{ID: id, Time: t0, DetectorID: "d"}})
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("signal id with %s: %v, want ErrInvalid", name, err)
		}
		if _, err := s.GetSignal(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSignal with %s: %v, want ErrNotFound", name, err)
		}
		if _, err := s.GetIncident(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetIncident with %s: %v, want ErrNotFound", name, err)
		}
		if err := s.PutModelState(ctx, store.ModelState{ModelID: "m", Key: id, Updated: t0}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("model state key with %s: %v, want ErrInvalid", name, err)
		}
		if err := s.MarkOutbox(ctx, store.OutboxResult{Key: id, State: store.OutboxFailed, Now: t0}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("MarkOutbox with %s: %v, want ErrNotFound", name, err)
		}
		if _, err := s.PutSetting(ctx, id, []byte("x"), 0); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("setting name with %s: %v, want ErrInvalid", name, err)
		}
		if _, err := s.GetSetting(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSetting with %s: %v, want ErrNotFound", name, err)
		}
		p, err := s.ListSignals(ctx, store.SignalQuery{RuleID: id})
		if err != nil || len(p.Items) != 0 {
			t.Errorf("ListSignals by a rule id with %s: %d items, %v", name, len(p.Items), err)
		}
	}
	user := detect.Entity{Kind: detect.EntityUser, Value: "corp\\al\x00ice\xff"}
	sig := detect.Signal{ID: "odd-entity", Time: t0, DetectorID: "d", Title: "title with \x00", Entities: []detect.Entity{user}}
	must(t, s.PutSignals(ctx, []detect.Signal{sig}))
	p, err := s.ListSignals(ctx, store.SignalQuery{Entity: user})
	must(t, err)
	if len(p.Items) != 1 || p.Items[0].Title != "title with \x00" {
		t.Errorf("signal by an entity with NUL and invalid UTF-8: %+v", p.Items)
	}
	inc := correlate.Incident{ID: "odd", Title: "needle\x00", Summary: "bad \xff byte", FirstSeen: t0, LastSeen: t0, Version: 1, Entities: []detect.Entity{user}}
	must(t, s.UpsertIncident(ctx, inc))
	for _, text := range []string{"NEEDLE", "al\x00ice", "bad \xff"} {
		p, err := s.ListIncidents(ctx, store.IncidentQuery{Text: text})
		must(t, err)
		if len(p.Items) != 1 {
			t.Errorf("incident search %q: %d found, want 1", text, len(p.Items))
		}
	}
	must(t, s.PutFeedback(ctx, store.Feedback{ID: "fb", TargetKind: store.TargetSignal, TargetID: "odd-entity",
		Verdict: store.VerdictFalsePositive, Reason: "nul \x00 here", Author: "a", Created: t0}))
	_, err = s.AppendAudit(ctx, store.AuditEntry{Time: t0, Actor: "a\x00", Action: "x"})
	must(t, err)
	ap, err := s.ListAudit(ctx, store.AuditQuery{Actor: "a\x00"})
	must(t, err)
	if len(ap.Items) != 1 || ap.Items[0].Actor != "a\uFFFD" {
		t.Errorf("audit by an actor with NUL: %+v", ap.Items)
	}
	// A forged cursor holding a NUL (JSON's \u0000) is a malformed cursor.
	bad := store.Cursor{Kind: store.CursorIncidents, ID: "x\x00"}.Encode()
	if _, err := s.ListIncidents(ctx, store.IncidentQuery{Cursor: bad}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("cursor with a NUL: %v, want ErrInvalid", err)
	}
}

func TestContextCanceled(t *testing.T) {
	s := openTemp(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.PutSignals(ctx, []detect.Signal{{ID: "x", Time: t0, DetectorID: "d"}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("PutSignals with a canceled context: %v", err)
	}
	if _, err := s.GetSignal(t.Context(), "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("canceled put stored the signal: %v", err)
	}
}

// TestPutSignalsLargeBatch crosses the statement size (maxStatementRows), with
// duplicates inside one batch, across its statements and in a second batch.
func TestPutSignalsLargeBatch(t *testing.T) {
	u, schema := pgtest.Schema(t)
	s := openOn(t, u, schema)
	ctx := t.Context()
	n := maxStatementRows + 1000
	var batch []detect.Signal
	for i := range n + 37 {
		k := i % n // the last 37 repeat the first 37, with another title
		batch = append(batch, detect.Signal{ID: fmt.Sprintf("big-%05d", k), Time: t0.Add(time.Duration(k)), DetectorID: "d",
			Title: fmt.Sprint("copy ", i/n),
			Entities: []detect.Entity{
				{Kind: detect.EntityUser, Value: fmt.Sprintf("u%d", k%7)},
				{Kind: detect.EntityHost, Value: fmt.Sprintf("h%d", k%3)},
				{Kind: detect.EntityHost, Value: fmt.Sprintf("h%d", k%3)}, // repeated entity
			}})
	}
	must(t, s.PutSignals(ctx, batch))
	must(t, s.PutSignals(ctx, batch[500:600]))
	var signals, entities int
	must(t, conn(t, u, schema).QueryRow(ctx, `SELECT (SELECT count(*) FROM signals), (SELECT count(*) FROM signal_entities)`).Scan(&signals, &entities))
	if signals != n || entities != 2*n {
		t.Errorf("%d signals and %d entity rows, want %d and %d", signals, entities, n, 2*n)
	}
	first, err := s.GetSignal(ctx, "big-00010")
	must(t, err)
	if first.Title != "copy 0" {
		t.Errorf("duplicate in a batch: stored %q, want the first, %q", first.Title, "copy 0")
	}
	p, err := s.ListSignals(ctx, store.SignalQuery{Entity: detect.Entity{Kind: detect.EntityUser, Value: "u3"}, Limit: store.MaxLimit})
	must(t, err)
	want := 0
	for k := range n {
		if k%7 == 3 {
			want++
		}
	}
	if len(p.Items) != want {
		t.Errorf("user u3 has %d signals, want %d", len(p.Items), want)
	}
	// A large batch is atomic too: an invalid signal at its end stores nothing.
	more := make([]detect.Signal, maxStatementRows+10)
	for i := range more {
		more[i] = detect.Signal{ID: fmt.Sprintf("more-%05d", i), Time: t0, DetectorID: "d"}
	}
	more[len(more)-1].DetectorID = "bad\x00"
	if err := s.PutSignals(ctx, more); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a batch with an unstorable detector id: %v, want ErrInvalid", err)
	}
	if _, err := s.GetSignal(ctx, "more-00000"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused batch stored some of it: %v", err)
	}
}

// TestPutSignalsAcrossStores puts overlapping batches, in different orders,
// from two Stores at once: no deadlock, no duplicate, one entity row set per
// signal.
func TestPutSignalsAcrossStores(t *testing.T) {
	u, schema := pgtest.Schema(t)
	a, b := openOn(t, u, schema), openOn(t, u, schema)
	ctx := t.Context()
	const n = 2000
	all := make([]detect.Signal, n)
	for i := range all {
		all[i] = detect.Signal{ID: fmt.Sprintf("s%05d", i), Time: t0.Add(time.Duration(i)), DetectorID: "d",
			Entities: []detect.Entity{{Kind: detect.EntityHost, Value: "h"}}}
	}
	var wg sync.WaitGroup
	for w := range 6 {
		s := []*Store{a, b}[w%2]
		wg.Go(func() {
			for k := range 10 {
				lo := (w*137 + k*311) % (n - 500)
				batch := make([]detect.Signal, 500)
				copy(batch, all[lo:lo+500])
				if w%2 == 1 {
					for i, j := 0, len(batch)-1; i < j; i, j = i+1, j-1 {
						batch[i], batch[j] = batch[j], batch[i]
					}
				}
				if err := s.PutSignals(ctx, batch); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	must(t, a.PutSignals(ctx, all))
	var signals, entities int
	must(t, conn(t, u, schema).QueryRow(ctx, `SELECT (SELECT count(*) FROM signals), (SELECT count(*) FROM signal_entities)`).Scan(&signals, &entities))
	if signals != n || entities != n {
		t.Errorf("%d signals and %d entity rows, want %d of each", signals, entities, n)
	}
}

// TestCloseWhileBusy closes a store while calls are in flight: they finish or
// fail with ErrClosed, and Close returns.
func TestCloseWhileBusy(t *testing.T) {
	s := openTemp(t)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				err := s.PutSignals(context.Background(), []detect.Signal{{ID: fmt.Sprintf("w%d-%d", w, i), Time: t0, DetectorID: "d"}})
				if errors.Is(err, store.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("put during Close: %v, want nil or ErrClosed", err)
					return
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	must(t, s.Close())
	wg.Wait()
	must(t, s.Close())
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgres://u@h/db?password=secret":             "postgres://u@h/db?password=xxxxx",
		"postgresql://h/db":                             "postgresql://h/db",
		"host=h user=u password=secret dbname=d":        "host=h user=u dbname=d",
		"postgres://u:se%2Fcret@h/db":                   "postgres://u:xxxxx@h/db",
		"postgres://u:secret@[::1/db":                   "postgres://(unparsable URL)",
		"":                                              "",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
