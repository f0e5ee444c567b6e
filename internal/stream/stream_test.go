package stream

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/detect/behavior"
	"github.com/vigilsec/vigil/internal/detect/sigma"
	"github.com/vigilsec/vigil/internal/ingest/replay"
	"github.com/vigilsec/vigil/internal/rulepack"
	"github.com/vigilsec/vigil/internal/sim"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

// memLog is an in-memory Log.
type memLog struct {
	mu        sync.Mutex
	entries   []Entry
	committed uint64
}

func (l *memLog) Read(_ context.Context, from uint64, maxN int, _ time.Duration) ([]Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if from == 0 || from > uint64(len(l.entries)) {
		return nil, nil
	}
	end := min(int(from-1)+maxN, len(l.entries))
	return slices.Clone(l.entries[from-1 : end]), nil
}

func (l *memLog) Commit(seq uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq > l.committed {
		l.committed = seq
	}
	return nil
}

// fakeClock is a wall clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

var (
	simOnce    sync.Once
	simRecords []replay.Timed
	simErr     error
)

// simulated is a small simulated organisation's logs as records in event-time
// order (generated once per test binary).
func simulated(t *testing.T) []replay.Timed {
	t.Helper()
	simOnce.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			simErr = err
			return
		}
		if _, err := sim.Run(sim.Config{Seed: 3, Users: 30, Days: 4, Out: dir}); err != nil {
			simErr = err
			return
		}
		var st replay.Stats
		simRecords, st, simErr = replay.Load(context.Background(), dir, formats.Default())
		if simErr == nil && len(st.Unreadable) > 0 {
			simErr = fmt.Errorf("unreadable: %v", st.Unreadable)
		}
	})
	if simErr != nil {
		t.Fatal(simErr)
	}
	return simRecords
}

// stages builds fresh detectors, models and correlator, as serve does.
func stages(t *testing.T) (*detect.Engine, *behavior.Engine, *sigma.Detector, *correlate.Correlator) {
	t.Helper()
	c, err := sigma.LoadFS(rulepack.FS())
	if err != nil {
		t.Fatal(err)
	}
	rs, err := sigma.Compile(c, sigma.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ce, err := sigma.NewCorrelationEngine(c, rs, sigma.CorrelationOptions{Lateness: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c2 := behavior.DefaultC2()
	edge, err := behavior.NewEdgeStream(behavior.EdgeStreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	dns, err := behavior.NewDNS()
	if err != nil {
		t.Fatal(err)
	}
	seasonal, err := behavior.NewSeasonal()
	if err != nil {
		t.Fatal(err)
	}
	beh, err := behavior.NewEngine([]behavior.Model{
		behavior.NewFirstSeen(behavior.FirstSeenConfig{}, nil, nil), c2, edge, dns, seasonal, behavior.DefaultMultivariate(),
	}, behavior.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sd := sigma.NewDetector(rs).WithCorrelations(ce).Ordered()
	eng, err := detect.NewEngine([]detect.Detector{sd, beh.Collector()}, detect.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return eng, beh, sd, correlate.New(correlate.Options{})
}

type runConfig struct {
	lateness    time.Duration
	batch       int
	checkpoints Checkpoints // nil: in the store
}

// newProcessor builds a processor over log and st with fresh stages.
func newProcessor(t *testing.T, log Log, st store.Store, clock *fakeClock, cfg runConfig) *Processor {
	t.Helper()
	eng, beh, sd, corr := stages(t)
	p, err := New(t.Context(), Options{
		Log: log, Registry: formats.Default(), Detect: eng, Behavior: beh, Sigma: sd, Correlator: corr, Store: st,
		Lateness: cfg.lateness, MaxBatch: cfg.batch, IdleRelease: time.Second, Workers: 2, Now: clock.now,
		CheckpointEvery: time.Hour, Checkpoints: cfg.checkpoints,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func logOf(recs []replay.Timed) *memLog {
	l := &memLog{}
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i, r := range recs {
		rec := r.Record
		rec.Received = base
		l.entries = append(l.entries, Entry{Seq: uint64(i + 1), Record: rec})
	}
	return l
}

// drain steps p until it has read through the log, then lets the idle release
// empty what it holds.
func drain(t *testing.T, p *Processor, clock *fakeClock, upTo uint64) {
	t.Helper()
	for p.next <= upTo {
		before := p.next
		if err := p.Step(t.Context()); err != nil {
			t.Fatal(err)
		}
		if p.next == before {
			t.Fatalf("no progress at %d", before)
		}
	}
}

func finish(t *testing.T, p *Processor, clock *fakeClock) {
	t.Helper()
	clock.t = clock.t.Add(time.Minute)
	for range 2 {
		if err := p.Step(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// outcome is what a run stored: every signal id, and each incident's signals.
type outcome struct {
	signals   []string
	incidents map[string]string // id -> sorted signal ids (open and closed ones; merged ones left out)
}

func stored(t *testing.T, st store.Store) outcome {
	t.Helper()
	var o outcome
	q := store.SignalQuery{Limit: store.MaxLimit}
	for {
		page, err := st.ListSignals(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Items {
			o.signals = append(o.signals, s.ID)
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	sort.Strings(o.signals)
	o.incidents = map[string]string{}
	iq := store.IncidentQuery{Limit: store.MaxLimit}
	for {
		page, err := st.ListIncidents(t.Context(), iq)
		if err != nil {
			t.Fatal(err)
		}
		for _, inc := range page.Items {
			if inc.Status == correlate.StatusMerged {
				continue
			}
			ids := slices.Clone(inc.SignalIDs)
			sort.Strings(ids)
			if len(slices.Compact(slices.Clone(ids))) != len(ids) {
				t.Errorf("incident %s holds a signal twice", inc.ID)
			}
			o.incidents[inc.ID] = strings.Join(ids, ",")
		}
		if page.Next == "" {
			break
		}
		iq.Cursor = page.Next
	}
	return o
}

func diff(t *testing.T, what string, got, want outcome) {
	t.Helper()
	if !slices.Equal(got.signals, want.signals) {
		t.Errorf("%s: %d signals, want %d", what, len(got.signals), len(want.signals))
	}
	missing, extra := 0, 0
	for id, sigs := range want.incidents {
		if got.incidents[id] != sigs {
			missing++
			if missing <= 3 {
				t.Errorf("%s: incident %s: signals %q, want %q", what, id, got.incidents[id], sigs)
			}
		}
	}
	for id := range got.incidents {
		if _, ok := want.incidents[id]; !ok {
			extra++
			if extra <= 3 {
				t.Errorf("%s: unexpected incident %s", what, id)
			}
		}
	}
	if missing+extra > 0 {
		t.Errorf("%s: %d incidents differ, %d extra (of %d)", what, missing, extra, len(want.incidents))
	}
}

// TestStreamingMatchesBatch: the same records streamed in small batches with a
// short out-of-order tolerance give the signals and incidents of one batch with
// everything held to the end (what hunt does).
func TestStreamingMatchesBatch(t *testing.T) {
	recs := simulated(t)
	if len(recs) < 10000 {
		t.Fatalf("only %d records", len(recs))
	}
	run := func(cfg runConfig) outcome {
		st := openStore(t)
		clock := &fakeClock{t: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
		log := logOf(recs)
		p := newProcessor(t, log, st, clock, cfg)
		drain(t, p, clock, uint64(len(recs)))
		finish(t, p, clock)
		ps := p.Stats()
		if ps.Records != int64(len(recs)) || ps.Events < int64(len(recs))*9/10 || ps.Held != 0 {
			t.Errorf("stats %+v for %d records", ps, len(recs))
		}
		return stored(t, st)
	}
	batch := run(runConfig{lateness: 365 * 24 * time.Hour, batch: 1 << 20})
	if len(batch.signals) < 20 || len(batch.incidents) < 3 {
		t.Fatalf("the batch run stored %d signals, %d incidents: the test proves nothing", len(batch.signals), len(batch.incidents))
	}
	streamed := run(runConfig{lateness: 2 * time.Minute, batch: 500})
	diff(t, "streamed", streamed, batch)
}

// TestRestartFromCheckpoint: a processor that dies after its last checkpoint
// (work done since is lost with it) and a new one restored from the store
// replaying the log end with the signals and incidents of a run that never
// stopped: nothing lost, nothing twice.
func TestRestartFromCheckpoint(t *testing.T) {
	recs := simulated(t)
	cfg := runConfig{lateness: 2 * time.Minute, batch: 500}
	whole := func() outcome {
		st := openStore(t)
		clock := &fakeClock{t: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
		p := newProcessor(t, logOf(recs), st, clock, cfg)
		drain(t, p, clock, uint64(len(recs)))
		finish(t, p, clock)
		return stored(t, st)
	}()
	for _, tc := range []struct {
		at   float64
		file bool
	}{{0.3, false}, {0.7, true}} {
		at := tc.at
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			st := openStore(t)
			cfg := cfg
			if tc.file { // the checkpoint in a file (vigil serve's), else in the store
				cfg.checkpoints = FileCheckpoints{Path: filepath.Join(t.TempDir(), "checkpoint")}
			}
			log := logOf(recs)
			clock := &fakeClock{t: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
			p := newProcessor(t, log, st, clock, cfg)
			drain(t, p, clock, uint64(float64(len(recs))*at))
			if err := p.checkpoint(t.Context(), true); err != nil {
				t.Fatal(err)
			}
			drain(t, p, clock, uint64(float64(len(recs))*(at+0.1))) // work the crash loses
			if log.committed == 0 {
				t.Error("the checkpoint committed nothing in the log")
			}
			q := newProcessor(t, log, st, clock, cfg)
			if q.next > p.readTo+1 || q.next < 1 || q.replayTo == 0 {
				t.Errorf("restored processor reads from %d (the checkpoint read to %d)", q.next, q.replayTo)
			}
			drain(t, q, clock, uint64(len(recs)))
			finish(t, q, clock)
			diff(t, "restarted", stored(t, st), whole)
		})
	}
}

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "vigil-stream-sim-") }
