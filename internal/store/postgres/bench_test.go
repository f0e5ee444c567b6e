package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigilsec/vigil/internal/cputime"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/postgres/pgtest"
	"github.com/vigilsec/vigil/internal/store/storetest"
)

// BenchmarkPutSignals inserts new signals in batches of 1,000, as the pipeline
// does, into a table that starts empty (Empty) or holds 300,000 signals
// (Prefilled300k), as store/sqlite's benchmark of the same name does.
// signals/client-cpu-s counts this process's CPU (encoding, pgx, GC),
// signals/server-cpu-s the server process's (when it runs on this machine),
// and signals/cpu-s both: the figure to set beside store/sqlite's, whose
// signals/cpu-s has SQLite inside the process.
func BenchmarkPutSignals(b *testing.B) {
	b.Run("Empty", func(b *testing.B) { benchPutSignals(b, 0, (*Store).PutSignals) })
	b.Run("Prefilled300k", func(b *testing.B) { benchPutSignals(b, 300, (*Store).PutSignals) })
}

// BenchmarkPutSignalsMethod compares three ways of sending a batch, on an
// empty table: one statement over parameter arrays (Unnest, what PutSignals
// does), a pipelined pgx.Batch of one statement per signal (Pipeline), and
// COPY into temporary tables then INSERT ... SELECT (Copy). doc.go records
// the outcome.
func BenchmarkPutSignalsMethod(b *testing.B) {
	b.Run("Unnest", func(b *testing.B) { benchPutSignals(b, 0, (*Store).PutSignals) })
	b.Run("Pipeline", func(b *testing.B) { benchPutSignals(b, 0, (*Store).putSignalsPipeline) })
	b.Run("Copy", func(b *testing.B) { benchPutSignals(b, 0, (*Store).putSignalsCopy) })
}

func benchPutSignals(b *testing.B, prefillBatches int, put func(*Store, context.Context, []detect.Signal) error) {
	u, schema := pgtest.Schema(b)
	// One connection, so one server process does all the work and its CPU
	// time can be read.
	s, err := Open(b.Context(), Options{URL: u, Schema: schema, MaxConns: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const batch = 1000
	sigs := make([]detect.Signal, batch)
	n := 0
	next := func() {
		for i := range sigs {
			sigs[i] = storetest.BenchSignal(n)
			n++
		}
	}
	for range prefillBatches {
		next()
		if err := s.PutSignals(ctx, sigs); err != nil {
			b.Fatal(err)
		}
	}
	start := n
	var cpu time.Duration
	serverCPU := backendCPU(b, s)
	server0 := serverCPU()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		next()
		b.StartTimer()
		c0 := cputime.Process()
		if err := put(s, ctx, sigs); err != nil {
			b.Fatal(err)
		}
		cpu += cputime.Process() - c0
	}
	server := serverCPU() - server0
	b.ReportMetric(float64(n-start)/b.Elapsed().Seconds(), "signals/s")
	if cpu > 0 {
		b.ReportMetric(float64(n-start)/cpu.Seconds(), "signals/client-cpu-s")
	}
	if server > 0 {
		b.ReportMetric(float64(n-start)/server.Seconds(), "signals/server-cpu-s")
		b.ReportMetric(float64(n-start)/(cpu+server).Seconds(), "signals/cpu-s")
	}
}

// backendCPU returns a function reading the CPU time (user and system) the
// server process behind s's one connection has used, from /proc, when the
// server runs on this machine; elsewhere the function returns 0. On a shared
// machine, CPU time per signal measures the work, where wall time also
// measures the neighbours. It leaves out the server's background writers
// (WAL writer, checkpointer), which do the same work whatever the method.
func backendCPU(b *testing.B, s *Store) func() time.Duration {
	var pid int
	if err := s.pool.QueryRow(b.Context(), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		b.Fatal(err)
	}
	path := fmt.Sprintf("/proc/%d/stat", pid)
	return func() time.Duration {
		raw, err := os.ReadFile(path)
		if err != nil {
			return 0 // not a local server
		}
		// Fields after the command name: state is the first, utime the 12th,
		// stime the 13th, in clock ticks (USER_HZ, 100 on Linux).
		_, rest, ok := strings.Cut(string(raw), ") ")
		f := strings.Fields(rest)
		if !ok || len(f) < 13 {
			return 0
		}
		ut, err1 := strconv.ParseInt(f[11], 10, 64)
		st, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			return 0
		}
		return time.Duration(ut+st) * 10 * time.Millisecond
	}
}

// BenchmarkPutSignalsRedelivered re-puts a batch that is already stored.
func BenchmarkPutSignalsRedelivered(b *testing.B) {
	s := openTemp(b)
	ctx := b.Context()
	sigs := make([]detect.Signal, 1000)
	for i := range sigs {
		sigs[i] = storetest.BenchSignal(i)
	}
	if err := s.PutSignals(ctx, sigs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := s.PutSignals(ctx, sigs); err != nil {
			b.Fatal(err)
		}
		n += len(sigs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "signals/s")
}

// BenchmarkPutEvidence inserts evidence events of about 1 KiB in batches of 1,000.
func BenchmarkPutEvidence(b *testing.B) {
	s := openTemp(b)
	ctx := b.Context()
	doc := json.RawMessage(fmt.Sprintf(`{"@timestamp":"2024-03-01T12:00:00Z","event":{"code":"4688"},"raw":{"CommandLine":%q}}`, strings.Repeat("x", 900)))
	evs := make([]store.Evidence, 1000)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range evs {
			evs[i] = store.Evidence{EventID: fmt.Sprintf("%032x", n), Time: t0, Source: "/var/log/Security.evtx", Format: "evtx", JSON: doc}
			n++
		}
		if err := s.PutEvidence(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkListSignalsByEntity reads one page of 100 signals about a user from a
// table of 100,000.
func BenchmarkListSignalsByEntity(b *testing.B) {
	s := openTemp(b)
	ctx := b.Context()
	sigs := make([]detect.Signal, 1000)
	for k := range 100 {
		for i := range sigs {
			sigs[i] = storetest.BenchSignal(k*1000 + i)
		}
		if err := s.PutSignals(ctx, sigs); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	q := store.SignalQuery{Entity: detect.Entity{Kind: detect.EntityUser, Value: `corp\user7`}, Limit: 100}
	b.ReportAllocs()
	for b.Loop() {
		p, err := s.ListSignals(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Items) != 100 {
			b.Fatalf("got %d signals", len(p.Items))
		}
	}
}

// putSignalsPipeline is PutSignals sent as one pgx.Batch of one statement per
// signal (its entities in the same statement): one round trip, but 1,000
// statements for the server to execute. A batch runs in an implicit
// transaction, so it is atomic too. Kept for BenchmarkPutSignalsMethod.
func (s *Store) putSignalsPipeline(ctx context.Context, signals []detect.Signal) error {
	sb, err := newSignalBatch(signals)
	if err != nil {
		return err
	}
	const one = `WITH new AS (
		INSERT INTO signals (id, time_ns, severity, detector_id, rule_id, doc) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO NOTHING RETURNING time_ns, seq)
	INSERT INTO signal_entities (kind, value, time_ns, seq)
	SELECT e.kind, e.value, new.time_ns, new.seq FROM new, unnest($7::text[], $8::text[]) AS e (kind, value)`
	var batch pgx.Batch
	for i := range sb.ids {
		lo, hi := sb.entStart[i], sb.entStart[i+1]
		batch.Queue(one, sb.ids[i], sb.times[i], sb.severities[i], sb.detectors[i], sb.rules[i], sb.docs[i],
			sb.entKinds[lo:hi], sb.entValues[lo:hi])
	}
	return s.pool.SendBatch(ctx, &batch).Close()
}

// putSignalsCopy is PutSignals through COPY: in one transaction, the signals
// and entity rows are copied into temporary tables (created once per
// connection, emptied at commit), then moved with INSERT ... SELECT ... ON
// CONFLICT DO NOTHING RETURNING. Kept for BenchmarkPutSignalsMethod.
func (s *Store) putSignalsCopy(ctx context.Context, signals []detect.Signal) error {
	sb, err := newSignalBatch(signals)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS signals_in (id text COLLATE "C", time_ns bigint,
			severity smallint, detector_id text, rule_id text, doc bytea) ON COMMIT DELETE ROWS;
			CREATE TEMP TABLE IF NOT EXISTS signal_entities_in (signal_id text COLLATE "C", kind text, value text) ON COMMIT DELETE ROWS`); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"signals_in"}, []string{"id", "time_ns", "severity", "detector_id", "rule_id", "doc"},
			pgx.CopyFromSlice(len(sb.ids), func(i int) ([]any, error) {
				return []any{sb.ids[i], sb.times[i], sb.severities[i], sb.detectors[i], sb.rules[i], sb.docs[i]}, nil
			})); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"signal_entities_in"}, []string{"signal_id", "kind", "value"},
			pgx.CopyFromSlice(len(sb.entSignals), func(i int) ([]any, error) {
				return []any{sb.entSignals[i], sb.entKinds[i], sb.entValues[i]}, nil
			})); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `WITH new AS (
			INSERT INTO signals (id, time_ns, severity, detector_id, rule_id, doc)
			SELECT id, time_ns, severity, detector_id, rule_id, doc FROM signals_in ORDER BY id
			ON CONFLICT (id) DO NOTHING RETURNING id, time_ns, seq)
		INSERT INTO signal_entities (kind, value, time_ns, seq)
		SELECT e.kind, e.value, new.time_ns, new.seq FROM signal_entities_in e JOIN new ON new.id = e.signal_id`)
		return err
	})
}
