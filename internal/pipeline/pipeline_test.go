package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest/files"
)

// csvish decodes "unix-seconds,user" lines; "bad" lines are rejected, "panic" panics.
type csvish struct{}

func (csvish) Decode(ctx context.Context, in decode.Input, sink decode.Sink) error {
	lr := decode.NewLineReader(in.R, in.Limits.MaxLine)
	for {
		l, err := lr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		s := string(l.Bytes)
		if s == "panic" {
			panic("boom")
		}
		ts, user, ok := strings.Cut(s, ",")
		t, terr := decode.ParseEpoch(ts)
		if !ok || terr != nil {
			decode.Reject(sink, in, "csvish", l.Offset, l.Number, decode.ReasonMalformed, fmt.Errorf("line %q", s))
			continue
		}
		e := sink.Alloc()
		e.Timestamp = t
		e.SetUser(event.ParseUser(user))
		e.Origin = event.Origin{Source: in.Source, Format: "csvish", Offset: l.Offset, Line: l.Number}
		sink.Emit(e)
	}
}

func registry(t *testing.T) *formats.Registry {
	t.Helper()
	r, err := formats.New([]decode.Format{{
		ID: "csvish", Description: "test",
		Sniff: func(head []byte) int {
			if bytes.HasPrefix(head, []byte("1")) || bytes.HasPrefix(head, []byte("bad")) {
				return 50
			}
			return 0
		},
		New: func() decode.Decoder { return csvish{} },
	}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// userDetector emits one signal per event whose user is the target.
type userDetector struct {
	id, user string
	panics   bool
	mu       sync.Mutex
	seen     int
}

func (d *userDetector) ID() string      { return d.id }
func (d *userDetector) Version() string { return "1.0.0" }
func (d *userDetector) Detect(_ context.Context, batch []*event.Event, emit func(detect.Signal)) error {
	d.mu.Lock()
	d.seen += len(batch)
	d.mu.Unlock()
	if d.panics {
		panic("detector bug")
	}
	for _, e := range batch {
		if e.Str(event.UserName) == d.user {
			emit(detect.Signal{Time: e.Timestamp, RuleID: "r1", Title: "user " + d.user,
				Evidence: []detect.EvidenceRef{detect.Evidence(e)}})
		}
	}
	return nil
}

func memSource(name, data string) Source {
	return Source{Name: name, Open: func(fn func(files.Stream) error) error {
		return fn(files.Stream{Name: name, R: strings.NewReader(data)})
	}}
}

func run(t *testing.T, opts Options, srcs ...Source) (*Stats, []Detection, error) {
	t.Helper()
	if opts.Registry == nil {
		opts.Registry = registry(t)
	}
	var (
		mu  sync.Mutex
		out []Detection
	)
	opts.OnSignal = func(d Detection) error {
		mu.Lock()
		out = append(out, d)
		mu.Unlock()
		return nil
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan Source, len(srcs))
	for _, s := range srcs {
		ch <- s
	}
	close(ch)
	st, err := p.Run(context.Background(), ch)
	return st, out, err
}

func lines(n int, user func(i int) string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%d,%s\n", 1700000000+i, user(i))
	}
	return b.String()
}

func TestFanOutToEveryDetector(t *testing.T) {
	a := &userDetector{id: "test.a", user: "alice"}
	b := &userDetector{id: "test.b", user: "bob"}
	eng, err := detect.NewEngine([]detect.Detector{a, b}, detect.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := lines(1000, func(i int) string {
		switch i % 10 {
		case 0:
			return "alice"
		case 1:
			return `CORP\Bob`
		}
		return "carol"
	})
	st, dets, err := run(t, Options{Engine: eng, BatchSize: 64, DecodeWorkers: 2, DetectWorkers: 3},
		memSource("one", data), memSource("two", data))
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != 2000 || a.seen != 2000 || b.seen != 2000 {
		t.Fatalf("events %d, detector a saw %d, b saw %d; want 2000 each", st.Events, a.seen, b.seen)
	}
	if st.Signals != 400 || len(dets) != 400 {
		t.Fatalf("signals %d/%d, want 400", st.Signals, len(dets))
	}
	ids := map[string]bool{}
	for _, d := range dets {
		s := d.Signal
		if s.DetectorVersion != "1.0.0" || (s.DetectorID != "test.a" && s.DetectorID != "test.b") || s.ID == "" {
			t.Fatalf("signal not stamped: %+v", s)
		}
		if ids[s.ID] {
			t.Fatalf("duplicate signal id %s", s.ID)
		}
		ids[s.ID] = true
		if len(d.Evidence) != 1 || !bytes.Contains(d.Evidence[0].JSON, []byte(`"user":{`)) {
			t.Fatalf("evidence not captured: %+v", d.Evidence)
		}
	}
	if st.EventsByFormat["csvish"] != 2000 || st.StreamsByFormat["csvish"] != 2 {
		t.Fatalf("per-format counts: %+v %+v", st.EventsByFormat, st.StreamsByFormat)
	}
}

func TestRejectsAreCountedAndRunGoesOn(t *testing.T) {
	eng, _ := detect.NewEngine(nil, detect.EngineOptions{})
	data := "1700000000,a\nbad\n1700000001,b\n" + strings.Repeat("x", 300) + "\n1700000002,c\nbad again\n"
	var seen []string
	st, _, err := run(t, Options{Engine: eng, Limits: decode.Limits{MaxLine: 100}, MaxExamples: 1,
		OnReject: func(r *decode.RecordError) { seen = append(seen, r.Reason) }},
		memSource("f", data), memSource("garbage.bin", "\x00\x01binary"), memSource("empty", ""))
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != 3 || st.Rejected != 3 || st.RejectedByReason["csvish/malformed"] != 3 {
		t.Fatalf("events %d rejected %d by reason %v", st.Events, st.Rejected, st.RejectedByReason)
	}
	if len(st.Examples["csvish/malformed"]) != 1 || !strings.Contains(st.Examples["csvish/malformed"][0], "f:2 (offset 13)") {
		t.Fatalf("examples: %v", st.Examples)
	}
	if len(seen) != 3 {
		t.Fatalf("OnReject saw %v", seen)
	}
	if st.SkippedByReason["unknown-format"] != 1 || st.SkippedByReason["empty"] != 1 || len(st.Skipped) != 2 {
		t.Fatalf("skipped: %+v", st.Skipped)
	}
}

func TestStrictStopsAtFirstReject(t *testing.T) {
	eng, _ := detect.NewEngine(nil, detect.EngineOptions{})
	_, _, err := run(t, Options{Engine: eng, Strict: true}, memSource("f", "1700000000,a\nbad\n1700000001,b\n"))
	if !errors.Is(err, ErrStrict) || !strings.Contains(err.Error(), "f:2") {
		t.Fatalf("err = %v", err)
	}
	_, _, err = run(t, Options{Engine: eng, Strict: true}, memSource("g", "\x00garbage"))
	if !errors.Is(err, ErrStrict) || !strings.Contains(err.Error(), "unrecognized format") {
		t.Fatalf("err = %v", err)
	}
}

func TestFailuresAreIsolated(t *testing.T) {
	bad := &userDetector{id: "test.panics", panics: true}
	good := &userDetector{id: "test.good", user: "a"}
	eng, _ := detect.NewEngine([]detect.Detector{bad, good}, detect.EngineOptions{})
	st, dets, err := run(t, Options{Engine: eng},
		memSource("crash", "1700000000,a\npanic\n"), memSource("fine", "1700000000,a\n1700000001,a\n"))
	if err != nil {
		t.Fatal(err)
	}
	// The crashing decoder's stream is reported; the event it emitted before the panic
	// was not flushed downstream... unless the batch was flushed: the stream's events
	// are counted either way.
	if st.SkippedByReason["read-error"] != 1 || !strings.Contains(st.Skipped[0].Error, "decoder panicked") {
		t.Fatalf("skipped: %+v", st.Skipped)
	}
	if len(dets) != 3 || good.seen != 3 {
		t.Fatalf("good detector saw %d events and emitted %d signals; want 3 and 3", good.seen, len(dets))
	}
}

func TestOrderWithinStream(t *testing.T) {
	eng, _ := detect.NewEngine(nil, detect.EngineOptions{})
	var got []int64
	seq := -1
	p, err := New(Options{Registry: registry(t), Engine: eng, BatchSize: 7, DecodeWorkers: 1, DetectWorkers: 1,
		OnBatch: func(b *Batch) error {
			if b.Seq != seq+1 {
				return fmt.Errorf("batch %d after %d", b.Seq, seq)
			}
			seq = b.Seq
			for _, e := range b.Events {
				got = append(got, e.Timestamp.Unix())
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan Source, 1)
	ch <- memSource("f", lines(100, func(int) string { return "u" }))
	close(ch)
	if _, err := p.Run(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	for i, ts := range got {
		if ts != 1700000000+int64(i) {
			t.Fatalf("event %d has time %d: order lost", i, ts)
		}
	}
	if len(got) != 100 {
		t.Fatalf("got %d events", len(got))
	}
}

// endless is a reader producing valid lines forever.
type endless struct {
	i       int
	pending []byte
}

func (r *endless) Read(b []byte) (int, error) {
	if len(r.pending) == 0 {
		r.pending = fmt.Appendf(r.pending[:0], "%d,u\n", 1700000000+r.i%1000)
		r.i++
	}
	n := copy(b, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

func TestCancelStopsPromptly(t *testing.T) {
	eng, _ := detect.NewEngine(nil, detect.EngineOptions{})
	p, err := New(Options{Registry: registry(t), Engine: eng,
		OnBatch: func(*Batch) error { time.Sleep(time.Millisecond); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan Source, 1)
	ch <- Source{Name: "inf", Open: func(fn func(files.Stream) error) error {
		return fn(files.Stream{Name: "inf", R: &endless{}})
	}}
	close(ch)
	done := make(chan error, 1)
	go func() { _, err := p.Run(ctx, ch); done <- err }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop after cancel")
	}
	if p.Progress().Events.Load() == 0 {
		t.Fatal("nothing was decoded before cancel")
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("missing registry/engine accepted")
	}
	eng, _ := detect.NewEngine(nil, detect.EngineOptions{})
	if _, err := New(Options{Registry: registry(t), Engine: eng, Format: "nope"}); err == nil || !strings.Contains(err.Error(), "csvish") {
		t.Fatalf("unknown format: %v", err)
	}
}

func TestSinkErrorEndsRun(t *testing.T) {
	det := &userDetector{id: "test.all", user: "u"}
	eng, _ := detect.NewEngine([]detect.Detector{det}, detect.EngineOptions{})
	p, err := New(Options{Registry: registry(t), Engine: eng, BatchSize: 8,
		OnSignal: func(Detection) error { return errors.New("disk full") }})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan Source, 3)
	for i := range 3 {
		ch <- memSource(fmt.Sprint("f", i), lines(5000, func(int) string { return "u" }))
	}
	close(ch)
	done := make(chan error, 1)
	go func() { _, err := p.Run(context.Background(), ch); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("err = %v, want the sink's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run hung after the sink failed")
	}
}

func TestDecodersReusedPerWorker(t *testing.T) {
	made := 0
	r, err := formats.New([]decode.Format{{
		ID: "csvish", Description: "test",
		Sniff: func([]byte) int { return 50 },
		New:   func() decode.Decoder { made++; return csvish{} },
	}})
	if err != nil {
		t.Fatal(err)
	}
	eng, _ := detect.NewEngine(nil, detect.EngineOptions{})
	p, err := New(Options{Registry: r, Engine: eng, DecodeWorkers: 1})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan Source, 12)
	for i := range 10 {
		ch <- memSource(fmt.Sprint("ok", i), "1700000000,a\n")
	}
	ch <- memSource("crash", "panic\n")
	ch <- memSource("after", "1700000000,b\n")
	close(ch)
	st, err := p.Run(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	if made != 2 || st.Events != 11 {
		t.Fatalf("decoders made %d (want 1, and 1 more after the panic); events %d", made, st.Events)
	}
}

// TestEventTimeWindow: events outside [Since, Until) are counted and never reach
// detection, whatever batch they fall in; the rest keep their order.
func TestEventTimeWindow(t *testing.T) {
	at := func(s int64) time.Time { return time.Unix(1700000000+s, 0).UTC() }
	cases := []struct {
		name         string
		since, until time.Time
		want         []int64 // seconds after 1700000000 that reach detection
	}{
		{"unbounded", time.Time{}, time.Time{}, seq(0, 50)},
		{"since is inclusive", at(10), time.Time{}, seq(10, 50)},
		{"until is exclusive", time.Time{}, at(10), seq(0, 10)},
		{"both", at(7), at(19), seq(7, 19)},
		{"nothing inside", at(100), at(200), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eng, _ := detect.NewEngine(nil, detect.EngineOptions{})
			var got []int64
			p, err := New(Options{Registry: registry(t), Engine: eng, BatchSize: 7, DecodeWorkers: 1, DetectWorkers: 1,
				Since: c.since, Until: c.until,
				OnBatch: func(b *Batch) error {
					for _, e := range b.Events {
						got = append(got, e.Timestamp.Unix()-1700000000)
					}
					return nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			ch := make(chan Source, 1)
			ch <- memSource("f", lines(50, func(int) string { return "u" }))
			close(ch)
			st, err := p.Run(context.Background(), ch)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("analysed %v, want %v", got, c.want)
			}
			if st.Events != int64(len(c.want)) || st.OutOfRange != int64(50-len(c.want)) {
				t.Errorf("stats: %d events, %d out of range; want %d and %d", st.Events, st.OutOfRange, len(c.want), 50-len(c.want))
			}
		})
	}
}

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}
