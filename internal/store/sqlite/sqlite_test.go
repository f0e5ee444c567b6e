package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTemp(t, t.TempDir())
	})
}

func openTemp(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 999999999, time.UTC)

func TestOpenCreatesPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	s := openTemp(t, dir)
	defer s.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %v, want 0700", fi.Mode().Perm())
	}
	if s.Path() != filepath.Join(dir, FileName) {
		t.Errorf("Path() = %s", s.Path())
	}
	if _, err := os.Stat(s.Path()); err != nil {
		t.Errorf("database file: %v", err)
	}
	if _, err := Open(t.Context(), Options{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Open without a directory: %v, want ErrInvalid", err)
	}
}

func TestPragmas(t *testing.T) {
	s := openTemp(t, t.TempDir())
	defer s.Close()
	ctx := t.Context()
	for _, tc := range []struct {
		db     *sql.DB
		pragma string
		want   string
	}{
		{s.w, "journal_mode", "wal"},
		{s.w, "foreign_keys", "1"},
		{s.w, "synchronous", "1"}, // NORMAL
		{s.w, "busy_timeout", "5000"},
		{s.w, "page_size", "16384"},
		{s.w, "temp_store", "2"}, // MEMORY
		{s.r, "journal_mode", "wal"},
		{s.r, "foreign_keys", "1"},
		{s.r, "query_only", "1"},
		{s.r, "busy_timeout", "5000"},
	} {
		var got string
		if err := tc.db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
	if _, err := s.r.ExecContext(ctx, `INSERT INTO audit_log (time_ns, actor, action, target) VALUES (1, 'a', 'b', '')`); err == nil {
		t.Error("a reader connection could write")
	}
}

// TestReopen writes one of everything, closes, reopens the directory and reads it
// all back.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s := openTemp(t, dir)
	sig := detect.Signal{ID: "sig", Time: t0, DetectorID: "sigma", Title: "durable", Entities: []detect.Entity{{Kind: detect.EntityHost, Value: "h"}}}
	inc := correlate.Incident{ID: "inc", FirstSeen: t0, LastSeen: t0, Version: 3, Risk: 12.5}
	ms := store.ModelState{ModelID: "m", Key: "k", Version: 1, Updated: t0, Blob: []byte("state")}
	fb := store.Feedback{ID: "fb", TargetKind: store.TargetSignal, TargetID: "sig", Verdict: store.VerdictFalsePositive, Author: "a", Created: t0}
	must(t, s.PutSignals(ctx, []detect.Signal{sig}))
	must(t, s.PutEvidence(ctx, []store.Evidence{{EventID: "ev", Time: t0, JSON: json.RawMessage(`{"a":1}`)}}))
	must(t, s.UpsertIncident(ctx, inc))
	must(t, s.PutModelState(ctx, ms))
	must(t, s.PutFeedback(ctx, fb))
	auditID, err := s.AppendAudit(ctx, store.AuditEntry{Time: t0, Actor: "a", Action: "b"})
	must(t, err)
	setting, err := s.PutSetting(ctx, "users", []byte("alice"), 0)
	must(t, err)
	must(t, s.Close())

	s = openTemp(t, dir)
	defer s.Close()
	gotSig, err := s.GetSignal(ctx, "sig")
	must(t, err)
	if gotSig.Title != "durable" || !gotSig.Time.Equal(t0) {
		t.Errorf("signal after reopen: %+v", gotSig)
	}
	p, err := s.ListSignals(ctx, store.SignalQuery{Entity: sig.Entities[0]})
	must(t, err)
	if len(p.Items) != 1 {
		t.Errorf("entity lookup after reopen: %d signals", len(p.Items))
	}
	ev, err := s.GetEvidence(ctx, []string{"ev"})
	must(t, err)
	if len(ev) != 1 || string(ev[0].JSON) != `{"a":1}` {
		t.Errorf("evidence after reopen: %+v", ev)
	}
	gotInc, err := s.GetIncident(ctx, "inc")
	must(t, err)
	if gotInc.Version != 3 || gotInc.Risk != 12.5 {
		t.Errorf("incident after reopen: %+v", gotInc)
	}
	gotMS, err := s.GetModelState(ctx, "m", "k")
	must(t, err)
	if string(gotMS.Blob) != "state" {
		t.Errorf("model state after reopen: %+v", gotMS)
	}
	fbs, err := s.ListFeedback(ctx, store.FeedbackQuery{})
	must(t, err)
	if len(fbs.Items) != 1 || fbs.Items[0].ID != "fb" {
		t.Errorf("feedback after reopen: %+v", fbs.Items)
	}
	audit, err := s.ListAudit(ctx, store.AuditQuery{})
	must(t, err)
	if len(audit.Items) != 1 || audit.Items[0].ID != auditID {
		t.Errorf("audit after reopen: %+v", audit.Items)
	}
	gotSetting, err := s.GetSetting(ctx, "users")
	must(t, err)
	if gotSetting.Revision != 1 || string(gotSetting.Data) != "alice" || !gotSetting.Updated.Equal(setting.Updated) {
		t.Errorf("setting after reopen: %+v, want %+v", gotSetting, setting)
	}
	next, err := s.AppendAudit(ctx, store.AuditEntry{Time: t0, Actor: "a", Action: "c"})
	must(t, err)
	if next <= auditID {
		t.Errorf("audit id %d after reopen, want > %d", next, auditID)
	}
}

func TestMigrations(t *testing.T) {
	ms, err := loadMigrations()
	must(t, err)
	if len(ms) == 0 || ms[0].Version != 1 || ms[0].Name != "0001_init" {
		t.Fatalf("migrations: %+v", ms)
	}
	s := openTemp(t, t.TempDir())
	defer s.Close()
	ctx := t.Context()
	var n, maxV int
	must(t, s.w.QueryRowContext(ctx, `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &maxV))
	if n != len(ms) || maxV != SchemaVersion() {
		t.Errorf("schema_migrations has %d rows up to version %d, want %d up to %d", n, maxV, len(ms), SchemaVersion())
	}
	for _, table := range []string{"signals", "signal_entities", "evidence", "incidents", "incident_entities", "model_states", "feedback", "audit_log",
		"outbox", "settings"} {
		var name string
		if err := s.w.QueryRowContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name = ?`, table).Scan(&name); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}
}

func TestMigrationsIdempotentOnReopen(t *testing.T) {
	dir := t.TempDir()
	for range 3 {
		s := openTemp(t, dir)
		must(t, s.Close())
	}
	s := openTemp(t, dir)
	defer s.Close()
	var n int
	must(t, s.w.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&n))
	if n != SchemaVersion() {
		t.Errorf("%d migration rows after reopening, want %d", n, SchemaVersion())
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	s := openTemp(t, dir)
	future := SchemaVersion() + 1
	if _, err := s.w.ExecContext(t.Context(), `INSERT INTO schema_migrations (version, name) VALUES (?, 'from_the_future')`, future); err != nil {
		t.Fatal(err)
	}
	must(t, s.Close())

	_, err := Open(t.Context(), Options{Dir: dir})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema: %v, want ErrSchemaTooNew", err)
	}
	msg := err.Error()
	for _, want := range []string{filepath.Join(dir, FileName), fmt.Sprintf("version %d", future), fmt.Sprintf("up to %d", future-1)} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
}

func TestCorruptFile(t *testing.T) {
	for name, content := range map[string][]byte{
		"garbage":         []byte(strings.Repeat("this is not a database\x00\xff", 400)),
		"truncated magic": []byte("SQLite format"),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(t.Context(), Options{Dir: dir})
			if err == nil {
				s.Close()
				t.Fatal("Open of a corrupt file succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || !strings.Contains(msg, "not a database") {
				t.Errorf("error %q should name %s and say it is not a database", msg, path)
			}
		})
	}
}

func TestAuditTriggersRejectChanges(t *testing.T) {
	s := openTemp(t, t.TempDir())
	defer s.Close()
	ctx := t.Context()
	id, err := s.AppendAudit(ctx, store.AuditEntry{Time: t0, Actor: "a", Action: "b"})
	must(t, err)
	for _, stmt := range []string{
		`UPDATE audit_log SET actor = 'mallory' WHERE id = ?`,
		`DELETE FROM audit_log WHERE id = ?`,
	} {
		_, err := s.w.ExecContext(ctx, stmt, id)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want the append-only trigger to abort it", stmt, err)
		}
	}
	p, err := s.ListAudit(ctx, store.AuditQuery{})
	must(t, err)
	if len(p.Items) != 1 || p.Items[0].Actor != "a" {
		t.Errorf("audit log after rejected changes: %+v", p.Items)
	}
}

func TestContextCanceled(t *testing.T) {
	s := openTemp(t, t.TempDir())
	defer s.Close()
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

// TestPutSignalsLargeBatch crosses every multi-row statement size, with
// duplicates in different statements of one batch and in a second batch.
func TestPutSignalsLargeBatch(t *testing.T) {
	s := openTemp(t, t.TempDir())
	defer s.Close()
	ctx := t.Context()
	const n = 1000
	var batch []detect.Signal
	for i := range n + 37 {
		k := i % n // the last 37 repeat the first 37
		batch = append(batch, detect.Signal{ID: fmt.Sprintf("big-%04d", k), Time: t0.Add(time.Duration(k)), DetectorID: "d",
			Entities: []detect.Entity{
				{Kind: detect.EntityUser, Value: fmt.Sprintf("u%d", k%7)},
				{Kind: detect.EntityHost, Value: fmt.Sprintf("h%d", k%3)},
				{Kind: detect.EntityHost, Value: fmt.Sprintf("h%d", k%3)}, // repeated entity
			}})
	}
	must(t, s.PutSignals(ctx, batch))
	must(t, s.PutSignals(ctx, batch[500:600]))
	var signals, entities int
	must(t, s.w.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM signals), (SELECT COUNT(*) FROM signal_entities)`).Scan(&signals, &entities))
	if signals != n || entities != 2*n {
		t.Errorf("%d signals and %d entity rows, want %d and %d", signals, entities, n, 2*n)
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
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestUpsertIncidents: the batch form writes new incidents and newer versions
// in one transaction, skips (and counts) the versions the store already has,
// and keeps an analyst's triage as UpsertIncident does.
func TestUpsertIncidents(t *testing.T) {
	st := openTemp(t, t.TempDir())
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
	skipped, err := st.UpsertIncidents(ctx, []correlate.Incident{inc("a", 2), inc("b", 1), inc("c", 1)})
	if err != nil || skipped != 0 {
		t.Fatalf("second batch (b rewritten unchanged is a redelivery): skipped %d, %v", skipped, err)
	}
	older := inc("a", 1)
	older.Title = "older"
	if skipped, err := st.UpsertIncidents(ctx, []correlate.Incident{older, inc("d", 1)}); err != nil || skipped != 1 {
		t.Fatalf("an older version: skipped %d, %v", skipped, err)
	}
	a, err := st.GetIncident(ctx, "a")
	if err != nil || a.Version != 2 || a.Status != correlate.StatusClosed || a.Title != "a" {
		t.Fatalf("a: %+v, %v (want version 2, closed by the analyst)", a, err)
	}
	for _, id := range []string{"b", "c", "d"} {
		if _, err := st.GetIncident(ctx, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	bad := inc("e", 1)
	bad.ID = ""
	if _, err := st.UpsertIncidents(ctx, []correlate.Incident{inc("f", 1), bad}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("an invalid incident: %v", err)
	}
	if _, err := st.GetIncident(ctx, "f"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a batch with an invalid incident wrote part of it: %v", err)
	}
}

// TestSettingsAcrossStores increments a counter kept in a setting from two
// Stores on one directory (two writer connections, as two processes would
// have): SQLite's locking must keep the compare-and-swap atomic between them.
func TestSettingsAcrossStores(t *testing.T) {
	dir := t.TempDir()
	a, b := openTemp(t, dir), openTemp(t, dir)
	defer a.Close()
	defer b.Close()
	ctx := t.Context()
	_, err := a.PutSetting(ctx, "counter", []byte("0"), 0)
	must(t, err)
	if _, err := b.PutSetting(ctx, "counter", []byte("0"), 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("creating the setting from the second store: %v, want ErrConflict", err)
	}
	const workers, increments = 4, 15
	if _, err := storetest.Increment(ctx, []store.Store{a, b}, "counter", workers, increments); err != nil {
		t.Fatal(err)
	}
	storetest.CheckCounter(t, b, "counter", workers*increments)
}
