package correlate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
)

// randomSignals makes n signals in time order over users, hosts and addresses
// drawn from small pools, so that they link, merge, and go idle.
func randomSignals(seed uint64, n int, step time.Duration) []detect.Signal {
	r := rand.New(rand.NewPCG(seed, 1))
	tactics := []string{"", "initial-access", "execution", "credential-access", "lateral-movement", "exfiltration"}
	out := make([]detect.Signal, 0, n)
	at := time.Duration(0)
	for i := range n {
		at += time.Duration(r.Int64N(int64(step)))
		ents := []string{fmt.Sprintf("user:u%d", r.IntN(40))}
		if r.IntN(2) == 0 {
			ents = append(ents, fmt.Sprintf("host:h%d", r.IntN(30)))
		}
		if r.IntN(4) == 0 {
			ents = append(ents, fmt.Sprintf("ip:10.0.0.%d", r.IntN(20)))
		}
		s := sig(fmt.Sprintf("s%05d", i), at, tactics[r.IntN(len(tactics))], detect.Severity(1+r.IntN(4)), ents...)
		s.RuleID = fmt.Sprintf("r%d", r.IntN(8))
		out = append(out, s)
	}
	return out
}

// final keeps the newest version of each incident and drops those merged away.
type final map[string]Incident

func (f final) take(incs []Incident, merges []Merge) {
	for _, inc := range incs {
		if old, ok := f[inc.ID]; !ok || old.Version < inc.Version {
			f[inc.ID] = inc
		}
	}
	for _, m := range merges {
		delete(f, m.From)
	}
}

func (f final) sorted() []Incident {
	out := make([]Incident, 0, len(f))
	for _, inc := range f {
		out = append(out, inc)
	}
	sortIncidents(out)
	return out
}

func groups(incs []Incident) map[string][]string {
	out := map[string][]string{}
	for _, inc := range incs {
		out[inc.ID] = inc.SignalIDs
	}
	return out
}

func TestStreamingMatchesBatch(t *testing.T) {
	signals := randomSignals(7, 3000, 3*time.Hour)
	batch := New(Options{})
	for _, s := range signals {
		batch.Add(s)
	}
	want := batch.Incidents()
	if len(want) < 20 || batch.Stats().Merges == 0 {
		t.Fatalf("fixture too easy: %d incidents, %d merges", len(want), batch.Stats().Merges)
	}

	stream := New(Options{})
	got := final{}
	maxOpen := 0
	for i, s := range signals {
		stream.Add(s)
		if i%50 == 49 {
			got.take(stream.Updated())
			got.take(stream.Expire(s.Time), nil)
			maxOpen = max(maxOpen, stream.Stats().Open)
		}
	}
	got.take(stream.Updated())
	if !equalGroups(groups(got.sorted()), groups(want)) {
		t.Fatalf("streaming gave %d incidents, batch %d; they differ", len(got), len(want))
	}
	for _, w := range want {
		g := got[w.ID]
		if g.Risk != w.Risk || g.Title != w.Title || g.Version != w.Version {
			t.Errorf("incident %s: streaming risk %.2f %q v%d, batch %.2f %q v%d", w.ID, g.Risk, g.Title, g.Version, w.Risk, w.Title, w.Version)
		}
	}
	t.Logf("%d signals, %d incidents, %d merges; streaming held at most %d open, closed %d",
		len(signals), len(want), batch.Stats().Merges, maxOpen, stream.Stats().Closed)
	if st := stream.Stats(); st.Closed == 0 || maxOpen >= len(want) {
		t.Errorf("expire closed %d, at most %d open of %d: memory not bounded by the window", st.Closed, maxOpen, len(want))
	}
}

func equalGroups(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for id, sa := range a {
		if sb, ok := b[id]; !ok || !slices.Equal(sa, sb) {
			return false
		}
	}
	return true
}

func TestSnapshotContinuesIncidents(t *testing.T) {
	for _, opts := range []Options{{}, {MaxSignals: 3}} {
		t.Run(fmt.Sprintf("max_signals_%d", opts.MaxSignals), func(t *testing.T) { snapshotContinues(t, opts) })
	}
}

func snapshotContinues(t *testing.T, opts Options) {
	signals := randomSignals(11, 2000, 2*time.Hour)
	whole := New(opts)
	for _, s := range signals {
		whole.Add(s)
	}
	wantIncs := whole.Incidents()
	want := groups(wantIncs)

	for _, cut := range []int{1, 500, 999, 1999} {
		first := New(opts)
		got := final{}
		for _, s := range signals[:cut] {
			first.Add(s)
		}
		got.take(first.Updated())
		got.take(first.Expire(signals[cut-1].Time), nil)
		var buf bytes.Buffer
		if err := first.Snapshot(&buf); err != nil {
			t.Fatal(err)
		}
		var again bytes.Buffer
		if err := first.Snapshot(&again); err != nil || !bytes.Equal(buf.Bytes(), again.Bytes()) {
			t.Fatalf("cut %d: snapshot not deterministic (%v)", cut, err)
		}
		second := New(opts)
		if err := second.Restore(bytes.NewReader(buf.Bytes())); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		// A redelivery of the last signal before the cut changes nothing.
		if up := second.Add(signals[cut-1]); !up.Duplicate {
			t.Errorf("cut %d: redelivered signal not recognised: %+v", cut, up)
		}
		for _, s := range signals[cut:] {
			second.Add(s)
		}
		got.take(second.Updated())
		if g := groups(got.sorted()); !equalGroups(g, want) {
			t.Errorf("cut %d: two runs gave %d incidents, one run %d; they differ", cut, len(g), len(want))
		}
		for _, w := range wantIncs {
			if g := got[w.ID]; math.Abs(g.Risk-w.Risk) > 1e-9 || g.Title != w.Title || g.Confidence != w.Confidence || g.Version != w.Version {
				t.Errorf("cut %d: incident %s: two runs risk %.4f %q conf %.3f v%d, one run %.4f %q conf %.3f v%d",
					cut, w.ID, g.Risk, g.Title, g.Confidence, g.Version, w.Risk, w.Title, w.Confidence, w.Version)
			}
		}
		if st, ws := second.Stats(), whole.Stats(); st.Signals != ws.Signals || st.Incidents != ws.Incidents || st.Merges != ws.Merges {
			t.Errorf("cut %d: stats %+v, one run %+v", cut, st, ws)
		}
	}
}

func TestRestoreRejects(t *testing.T) {
	c := New(Options{})
	c.Add(sig("a", 0, "", detect.SeverityLow, "user:alice"))
	c.Add(sig("b", time.Minute, "", detect.SeverityLow, "host:h1"))
	c.Add(sig("c", 2*time.Minute, "", detect.SeverityLow, "user:alice", "host:h1"))
	var buf bytes.Buffer
	if err := c.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	for _, tt := range []struct{ name, data string }{
		{"empty", ""},
		{"no header", `{"version":1}`},
		{"other version", snapshotMagic + `{"version":9}`},
		{"truncated", good[:len(good)/2]},
		{"unknown field", snapshotMagic + `{"version":1,"surprise":1}`},
		{"merge loop", snapshotMagic + `{"version":1,"incidents":[],"entities":[],"merged":{"x":"y","y":"x"}}`},
		{"merge to nowhere", snapshotMagic + `{"version":1,"incidents":[],"entities":[],"merged":{"x":"y"}}`},
		{"incident without signals", snapshotMagic + `{"version":1,"incidents":[{"id":"i","first":0,"last":0,"signals":[]}],"entities":[]}`},
	} {
		c := New(Options{})
		err := c.Restore(bytes.NewReader([]byte(tt.data)))
		if !errors.Is(err, ErrSnapshot) {
			t.Errorf("%s: err %v, want ErrSnapshot", tt.name, err)
		}
		if c.Stats().Open != 0 {
			t.Errorf("%s: a failed restore changed the correlator", tt.name)
		}
	}
	busy := New(Options{})
	busy.Add(sig("z", 0, "", detect.SeverityLow, "user:zed"))
	if err := busy.Restore(bytes.NewReader([]byte(good))); !errors.Is(err, ErrSnapshot) {
		t.Errorf("restore into a busy correlator: %v", err)
	}
}

func TestMaxSignalsCountsRepeats(t *testing.T) {
	c := New(Options{MaxSignals: 5})
	for i := range 20 {
		c.Add(sig(fmt.Sprintf("rep%d", i), time.Duration(i)*time.Minute, "execution", detect.SeverityLow, "user:alice"))
	}
	c.Add(sig("new", 30*time.Minute, "exfiltration", detect.SeverityHigh, "user:alice"))
	incs := c.Incidents()
	if len(incs) != 1 {
		t.Fatalf("%d incidents", len(incs))
	}
	inc := incs[0]
	if inc.SignalCount != 21 || len(inc.SignalIDs) != 6 || inc.Version != 21 {
		t.Errorf("count %d, kept %d, version %d; want 21, 6 (5 + the distinct one), 21", inc.SignalCount, len(inc.SignalIDs), inc.Version)
	}
	if !inc.LastSeen.Equal(t0.Add(30 * time.Minute)) {
		t.Errorf("last seen %v", inc.LastSeen)
	}
	if up := c.Add(sig("rep17", 17*time.Minute, "execution", detect.SeverityLow, "user:alice")); !up.Duplicate {
		t.Errorf("a repeat past the cap was not remembered: %+v", up)
	}
}

func TestUpdatedReportsChanges(t *testing.T) {
	c := New(Options{})
	c.Add(sig("a", 0, "", detect.SeverityLow, "user:alice"))
	c.Add(sig("b", time.Minute, "", detect.SeverityLow, "host:h9"))
	incs, merges := c.Updated()
	if len(incs) != 2 || len(merges) != 0 {
		t.Fatalf("first update: %d incidents, %d merges", len(incs), len(merges))
	}
	if incs, _ := c.Updated(); len(incs) != 0 {
		t.Fatalf("nothing changed, yet %d updated", len(incs))
	}
	up := c.Add(sig("c", 2*time.Minute, "", detect.SeverityLow, "user:alice", "host:h9"))
	incs, merges = c.Updated()
	if len(incs) != 1 || len(merges) != 1 || merges[0].Into != incs[0].ID || !slices.Equal(up.Merged, []string{merges[0].From}) {
		t.Fatalf("after the bridge: %+v, merges %+v, update %+v", incs, merges, up)
	}
	if closed := c.Expire(t0.Add(2*time.Minute + 24*time.Hour)); len(closed) != 0 {
		t.Errorf("closed at exactly the window: %d", len(closed))
	}
	closed := c.Expire(t0.Add(2*time.Minute + 24*time.Hour + 1))
	if len(closed) != 1 || c.Stats().Open != 0 || len(c.ents) != 0 || len(c.sigInc) != 0 || len(c.mergedTo) != 0 {
		t.Errorf("expire: %d closed, %+v, %d entities, %d signal ids, %d merges left",
			len(closed), c.Stats(), len(c.ents), len(c.sigInc), len(c.mergedTo))
	}
}

// TestMemoryBoundedByWindow streams 100 days of signals and checks that what the
// correlator holds stays within what a day's window holds.
func TestMemoryBoundedByWindow(t *testing.T) {
	c := New(Options{})
	r := rand.New(rand.NewPCG(3, 3))
	day := 24 * time.Hour
	maxOpen, maxEnts := 0, 0
	for d := range 100 {
		for i := range 500 {
			// each day its own users: nothing links across days but the window
			at := time.Duration(d)*day + time.Duration(i)*day/500
			s := sig(fmt.Sprintf("d%d-%d", d, i), at, "", detect.SeverityLow,
				fmt.Sprintf("user:d%d-u%d", d, r.IntN(50)), fmt.Sprintf("host:d%d-h%d", d, r.IntN(50)))
			c.Add(s)
		}
		c.Updated()
		c.Expire(t0.Add(time.Duration(d+1) * day))
		maxOpen, maxEnts = max(maxOpen, c.Stats().Open), max(maxEnts, len(c.ents))
	}
	if maxOpen > 100 || maxEnts > 300 || len(c.sigInc) > 2*500 {
		t.Errorf("held up to %d incidents, %d entities, %d signal ids: not bounded by the window", maxOpen, maxEnts, len(c.sigInc))
	}
}

func FuzzRestore(f *testing.F) {
	c := New(Options{})
	for _, s := range randomSignals(5, 6, time.Hour) {
		c.Add(s)
	}
	var buf bytes.Buffer
	if err := c.Snapshot(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(snapshotMagic + `{"version":1,"incidents":[],"entities":[],"merged":{"x":"y"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := New(Options{})
		if err := c.Restore(bytes.NewReader(data)); err != nil {
			if !errors.Is(err, ErrSnapshot) {
				t.Fatalf("error not wrapping ErrSnapshot: %v", err)
			}
			return
		}
		// A restored correlator works: it takes signals, renders, expires and
		// snapshots again, and the second snapshot restores.
		up := c.Add(sig("fuzz", 0, "execution", detect.SeverityHigh, "user:alice", "host:h1"))
		if up.Incident == "" {
			t.Fatal("no incident for a new signal")
		}
		c.Updated()
		c.Incidents()
		c.Expire(t0.Add(1000 * time.Hour))
		var out bytes.Buffer
		if err := c.Snapshot(&out); err != nil {
			t.Fatal(err)
		}
		if err := New(Options{}).Restore(&out); err != nil {
			t.Fatalf("own snapshot does not restore: %v", err)
		}
	})
}

func TestTopK(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{0, 1, 5, 200, 1000} {
		for _, k := range []int{1, 3, 200} {
			s := make([]int, n)
			for i := range s {
				s[i] = r.IntN(50) // ties included
			}
			want := slices.Clone(s)
			slices.Sort(want)
			want = want[:min(k, n)]
			got := topK(s, k, func(a, b int) int { return a - b })
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("n %d k %d: got %v, want %v", n, k, got, want)
			}
		}
	}
}

func TestManyEntitiesListed(t *testing.T) {
	c := New(Options{HubDegree: 1000})
	for i := range 600 {
		ents := []string{"user:alice", fmt.Sprintf("ip:10.1.%d.%d", i/250, i%250)}
		if i%2 == 0 {
			ents = append(ents, "host:ws-1")
		}
		c.Add(sig(fmt.Sprintf("s%d", i), time.Duration(i)*time.Second, "", detect.SeverityLow, ents...))
	}
	inc := c.Incidents()[0]
	if inc.EntityCount != 602 || len(inc.Entities) != MaxIncidentEntities ||
		inc.Entities[0] != (detect.Entity{Kind: detect.EntityUser, Value: "alice"}) || inc.Entities[1] != (detect.Entity{Kind: detect.EntityHost, Value: "ws-1"}) {
		t.Errorf("count %d, listed %d, first %v", inc.EntityCount, len(inc.Entities), inc.Entities[:2])
	}
}

// TestCaptureIsACopy: what Capture took is written unchanged by Encode after
// the correlator went on (more signals into the same incidents, merges,
// expiry), as a snapshot taken at capture time.
func TestCaptureIsACopy(t *testing.T) {
	signals := randomSignals(5, 1200, 2*time.Hour)
	c := New(Options{})
	for _, s := range signals[:600] {
		c.Add(s)
	}
	var want bytes.Buffer
	if err := c.Snapshot(&want); err != nil {
		t.Fatal(err)
	}
	captured, err := c.Capture()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range signals[600:] {
		c.Add(s)
	}
	c.Updated()
	c.Expire(signals[len(signals)-1].Time)
	var got bytes.Buffer
	if err := captured.Encode(&got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("the capture changed with the correlator: %d bytes, the snapshot at capture time %d", got.Len(), want.Len())
	}
}

// TestMaxOpenSignalsSheds: past the bound, Expire closes the least recently
// active incidents (oldest last signal first) until nine tenths of it are
// held, counts them as shed, and a later signal on a shed incident's entity
// opens a new incident; below the bound nothing is closed before its window.
func TestMaxOpenSignalsSheds(t *testing.T) {
	c := New(Options{MaxOpenSignals: 100})
	// 12 users, 10 signals each; user i's last signal at i minutes
	for u := range 12 {
		for k := range 10 {
			s := sig(fmt.Sprintf("u%d-%d", u, k), time.Duration(u)*time.Minute-time.Duration(10-k)*time.Second, "", detect.SeverityLow, fmt.Sprintf("user:u%d", u))
			s.Evidence = []detect.EvidenceRef{{EventID: "ev-" + s.ID}}
			c.Add(s)
		}
	}
	closed := c.Expire(t0.Add(12 * time.Minute))
	// 120 held > 100: close the oldest until at most 90 are held: 3 incidents
	if len(closed) != 3 {
		t.Fatalf("closed %d incidents, want 3", len(closed))
	}
	for i, inc := range closed {
		if want := fmt.Sprintf("u%d-0", i); inc.SignalIDs[0] != want {
			t.Errorf("closed incident %d starts with %s, want %s (the least recently active first)", i, inc.SignalIDs[0], want)
		}
	}
	if st := c.Stats(); st.Shed != 3 || st.Closed != 3 || st.Open != 9 {
		t.Fatalf("stats %+v, want 3 shed, 3 closed, 9 open", st)
	}
	for _, id := range []string{"ev-u0-3", "ev-u2-9"} {
		if c.ents[entKey{evidenceKind, id}] != nil {
			t.Fatalf("event link %s outlived its shed incident", id)
		}
	}
	if c.ents[entKey{evidenceKind, "ev-u3-0"}] == nil {
		t.Fatal("event link ev-u3-0 of an open incident is gone")
	}
	if closed := c.Expire(t0.Add(13 * time.Minute)); len(closed) != 0 {
		t.Fatalf("90 signals held, under the bound: %d more closed", len(closed))
	}
	// a shed incident's user opens a new incident
	up := c.Add(sig("u0-late", 14*time.Minute, "", detect.SeverityLow, "user:u0"))
	if !up.Created {
		t.Fatalf("a signal on a shed incident's entity: %+v, want a new incident", up)
	}
}

// TestRepeatsCountAgainstTheBound: repeats past MaxSignals keep no evidence
// link (their entities link them) but count against MaxOpenSignals, and an
// incident holding over a tenth of the bound is shed before smaller, older
// ones (issue 8's load test: one hub incident held 280,000 repeats, each with
// a link, while the bound saw 32,000 signals).
func TestRepeatsCountAgainstTheBound(t *testing.T) {
	c := New(Options{MaxSignals: 5, MaxOpenSignals: 100})
	// four small incidents, 5 signals each, the oldest activity
	for u := range 4 {
		for k := range 5 {
			s := sig(fmt.Sprintf("u%d-%d", u, k), time.Duration(u)*time.Second, "", detect.SeverityLow, fmt.Sprintf("user:u%d", u))
			s.Evidence = []detect.EvidenceRef{{EventID: "ev-" + s.ID}}
			c.Add(s)
		}
	}
	// a hub: 95 repeats of one signal on one host, the most recent activity
	for k := range 95 {
		s := sig(fmt.Sprintf("h-%d", k), time.Minute+time.Duration(k)*time.Millisecond, "", detect.SeverityLow, "host:hub")
		s.Evidence = []detect.EvidenceRef{{EventID: fmt.Sprintf("ev-h-%d", k)}}
		if up := c.Add(s); k > 0 && up.Created {
			t.Fatalf("repeat %d opened a new incident", k)
		}
	}
	for k, want := range map[int]bool{0: true, 4: true, 5: false, 94: false} {
		if got := c.ents[entKey{evidenceKind, fmt.Sprintf("ev-h-%d", k)}] != nil; got != want {
			t.Errorf("event link of repeat %d: %v, want %v (kept up to MaxSignals, then counted)", k, got, want)
		}
	}
	// a repeat past the cap is still recognised when delivered again
	again := sig("h-90", time.Minute+90*time.Millisecond, "", detect.SeverityLow, "host:hub")
	if up := c.Add(again); !up.Duplicate {
		t.Errorf("a redelivered repeat past the cap: %+v, want a duplicate", up)
	}
	// 20 + 95 held > 100: the hub (95, over a tenth of the bound) goes first,
	// though the most recently active; the small ones stay
	closed := c.Expire(t0.Add(2 * time.Minute))
	if len(closed) != 1 || closed[0].SignalIDs[0] != "h-0" {
		var ids []string
		for _, inc := range closed {
			ids = append(ids, inc.SignalIDs[0])
		}
		t.Fatalf("closed %v, want only the hub (h-0...)", ids)
	}
	if st := c.Stats(); st.Shed != 1 || st.Open != 4 {
		t.Errorf("stats %+v, want 1 shed, 4 open", st)
	}
	if c.sigInc["h-90"] != "" || len(c.ents) != 4+1+20 { // the hub host idles out with the window
		t.Errorf("after shedding the hub: %d entities (want 4 users, the host and 20 events), h-90 still indexed: %v", len(c.ents), c.sigInc["h-90"] != "")
	}
}

// loadTestCorrelator holds what the correlator held ten minutes into issue
// 8's load test: n signals (a rule hit per user and host, each citing its
// event) over 4,100 users on 2,000 workstations and 200 shared servers.
func loadTestCorrelator(n int) *Correlator {
	c := New(Options{})
	for i := range n {
		u := (i * 7919) % 4100
		host := fmt.Sprintf("host:ws-%d", u%1800)
		if i%5 == 0 {
			host = fmt.Sprintf("host:srv-%d", (i/5)%200)
		}
		s := sig(fmt.Sprintf("s%d", i), time.Duration(i)*5*time.Millisecond, "impact", detect.SeverityHigh,
			fmt.Sprintf("user:user%d", u), host, `process:C:\Windows\System32\vssadmin.exe`)
		s.Evidence = []detect.EvidenceRef{{EventID: fmt.Sprintf("ev%d", i)}}
		c.Add(s)
		if i%1000 == 999 {
			c.Updated()
		}
	}
	c.Updated()
	return c
}

// BenchmarkCapture is the part of a stream checkpoint taken in the
// processor's loop (every step waits for it) at the load test's state.
func BenchmarkCapture(b *testing.B) {
	c := loadTestCorrelator(100_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Capture(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCapturedEncode is the rest of the checkpoint's correlator part,
// taken beside the loop.
func BenchmarkCapturedEncode(b *testing.B) {
	c := loadTestCorrelator(100_000)
	b.ReportAllocs()
	size := 0
	for b.Loop() {
		cs, err := c.Capture()
		if err != nil {
			b.Fatal(err)
		}
		w := &countingDiscard{}
		if err := cs.Encode(w); err != nil {
			b.Fatal(err)
		}
		size = w.n
	}
	b.ReportMetric(float64(size), "bytes")
}

type countingDiscard struct{ n int }

func (w *countingDiscard) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// TestSnapshotWrittenInParts: the snapshot written a part at a time is the
// document json.Marshal makes of the whole state (Restore reads it so), for a
// correlator with merges, repeats, neighbours and peaks, and for an empty one.
func TestSnapshotWrittenInParts(t *testing.T) {
	full := New(Options{MaxSignals: 3})
	for _, s := range randomSignals(7, 800, 3*time.Hour) {
		full.Add(s)
		full.Add(s) // a redelivery
	}
	for i := range 10 { // repeats past MaxSignals
		s := sig(fmt.Sprintf("rep%d", i), time.Duration(i)*time.Second, "execution", detect.SeverityLow, "user:carol", "host:ws-9")
		full.Add(s)
	}
	full.Updated()
	for name, c := range map[string]*Correlator{"full": full, "empty": New(Options{})} {
		t.Run(name, func(t *testing.T) {
			cs, err := c.Capture()
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := cs.Encode(&got); err != nil {
				t.Fatal(err)
			}
			cs.st.order()
			want, err := json.Marshal(cs.st)
			if err != nil {
				t.Fatal(err)
			}
			want = append([]byte(snapshotMagic), append(want, '\n')...)
			if !bytes.Equal(got.Bytes(), want) {
				i := 0
				for i < min(got.Len(), len(want)) && got.Bytes()[i] == want[i] {
					i++
				}
				t.Fatalf("differs from json.Marshal at byte %d: got %.80q, want %.80q", i, got.Bytes()[i:], want[i:])
			}
			if name == "full" && (len(cs.st.Merged) == 0 || len(cs.st.Peaks) == 0 || !slices.ContainsFunc(cs.st.Incidents, func(si snapIncident) bool { return si.Extra > 0 })) {
				t.Errorf("the sample lacks merges (%d), peaks (%d) or repeats past the cap", len(cs.st.Merged), len(cs.st.Peaks))
			}
			if err := New(Options{}).Restore(bytes.NewReader(got.Bytes())); err != nil {
				t.Errorf("restore: %v", err)
			}
		})
	}
}
