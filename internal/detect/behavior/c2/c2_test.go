package c2

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

var (
	t0   = time.Date(2024, 4, 19, 0, 0, 0, 0, time.UTC)
	src  = netip.MustParseAddr("10.0.0.5")
	dstA = netip.MustParseAddr("203.0.113.7")
)

// series builds connections src -> dst at the given offsets from t0.
func series(s, d netip.Addr, port uint16, offsets []time.Duration, size func(i int) int64, dur time.Duration) []Conn {
	cs := make([]Conn, len(offsets))
	for i, o := range offsets {
		cs[i] = Conn{Time: t0.Add(o), Src: s, Dst: d, DstPort: port, Proto: "tcp",
			OrigBytes: size(i), RespBytes: 100, Duration: dur, UID: fmt.Sprintf("C%d_%d", port, i)}
	}
	return cs
}

func every(step time.Duration, span time.Duration) []time.Duration {
	var out []time.Duration
	for o := time.Duration(0); o < span; o += step {
		out = append(out, o)
	}
	return out
}

func jittered(r *rand.Rand, lo, hi time.Duration, span time.Duration) []time.Duration {
	var out []time.Duration
	for o := time.Duration(0); o < span; o += lo + time.Duration(r.Int64N(int64(hi-lo))) {
		out = append(out, o)
	}
	return out
}

// human: office hours only, bursts of requests with exponential gaps.
func human(r *rand.Rand, span time.Duration) []time.Duration {
	var out []time.Duration
	for o := time.Duration(0); o < span; {
		h := int(o / time.Hour % 24)
		if h < 9 || h >= 17 {
			o += time.Duration(r.Int64N(int64(time.Hour)))
			continue
		}
		for range 1 + r.IntN(15) {
			out = append(out, o)
			o += time.Duration(r.ExpFloat64()*10) * time.Second
		}
		o += time.Duration(r.ExpFloat64()*900) * time.Second
	}
	return out
}

func newTracker(t testing.TB, cfg Config) *Tracker {
	t.Helper()
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func observeAll(t testing.TB, tr *Tracker, cs []Conn) {
	t.Helper()
	for _, c := range cs {
		if err := tr.Observe(c); err != nil {
			t.Fatal(err)
		}
	}
}

func only(fs []Finding, k Kind) *Finding {
	for i := range fs {
		if fs[i].Kind == k {
			return &fs[i]
		}
	}
	return nil
}

func TestSeries(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const day = 24 * time.Hour
	fixed := func(int) int64 { return 412 }
	noisy := func(int) int64 { return 400 + r.Int64N(20) }
	wild := func(int) int64 { return int64(math.Exp(4 + 3*r.Float64())) }
	cases := []struct {
		name      string
		conns     []Conn
		kind      Kind // "" for none
		minScore  float64
		maxScore  float64
		median    time.Duration
		noBeacon  bool
		wantWords string
	}{
		{name: "perfect beacon", conns: series(src, dstA, 443, every(300*time.Second, day), fixed, time.Second),
			kind: KindBeacon, minScore: 1, maxScore: 1, median: 300 * time.Second, wantWords: "every 300 s ± 0 s, 412 bytes each"},
		{name: "jittered beacon 200-350 s", conns: series(src, dstA, 80, jittered(r, 200*time.Second, 350*time.Second, day), noisy, time.Second),
			kind: KindBeacon, minScore: 0.85, maxScore: 1, median: 275 * time.Second},
		{name: "human traffic", conns: series(src, dstA, 443, human(r, day), wild, time.Second), noBeacon: true},
		{name: "warm-up: five connections", conns: series(src, dstA, 443, every(time.Hour, 5*time.Hour), fixed, time.Second), noBeacon: true},
		{name: "strobe", conns: series(src, dstA, 53, every(time.Second, day), fixed, 0),
			kind: KindStrobe, minScore: 0.8, maxScore: 0.8, noBeacon: true, wantWords: "86,400 times"},
		{name: "one long connection", conns: series(src, dstA, 22, []time.Duration{time.Hour}, fixed, 5*time.Hour),
			kind: KindLongConnection, minScore: 0.45, maxScore: 0.45, noBeacon: true, wantWords: "for 5 h 00 min"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(t, Config{})
			observeAll(t, tr, tc.conns)
			fs := tr.Evaluate(t0.Add(day))
			if tc.noBeacon {
				if b := only(fs, KindBeacon); b != nil {
					t.Errorf("unexpected beacon %.3f: %s", b.Score, b.Summary)
				}
			}
			if tc.kind == "" {
				return
			}
			f := only(fs, tc.kind)
			if f == nil {
				t.Fatalf("no %s among %d findings", tc.kind, len(fs))
			}
			t.Logf("%s %.3f (ts %.3f ds %.3f hist %.3f dur %.3f) conf %.2f: %s", f.Kind, f.Score,
				f.TimestampScore, f.DataSizeScore, f.HistogramScore, f.DurationScore, f.Confidence, f.Summary)
			if f.Score < tc.minScore || f.Score > tc.maxScore {
				t.Errorf("score %.3f, want %.3f..%.3f", f.Score, tc.minScore, tc.maxScore)
			}
			if tc.median != 0 && (f.MedianInterval < tc.median-15*time.Second || f.MedianInterval > tc.median+15*time.Second) {
				t.Errorf("median interval %v, want about %v", f.MedianInterval, tc.median)
			}
			if !strings.Contains(f.Summary, tc.wantWords) {
				t.Errorf("summary %q lacks %q", f.Summary, tc.wantWords)
			}
			if len(f.Evidence) == 0 || f.Src != src || f.Dst != dstA {
				t.Errorf("evidence %v, pair %v -> %v", f.Evidence, f.Src, f.Dst)
			}
		})
	}
}

// TestJitterRanksBelowPerfect: regularity orders beacons, and random traffic
// scores below both.
func TestJitterRanksBelowPerfect(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tr := newTracker(t, Config{MinBeaconScore: 0.01})
	d2, d3 := netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("198.51.100.3")
	size := func(int) int64 { return 300 }
	observeAll(t, tr, mergeByTime(
		series(src, dstA, 443, every(300*time.Second, 24*time.Hour), size, 0),
		series(src, d2, 443, jittered(r, 200*time.Second, 350*time.Second, 24*time.Hour), size, 0),
		series(src, d3, 443, human(r, 24*time.Hour), func(int) int64 { return r.Int64N(100000) }, 0)))
	var got []netip.Addr
	for _, f := range tr.Evaluate(t0.Add(24 * time.Hour)) {
		if f.Kind == KindBeacon {
			got = append(got, f.Dst)
		}
	}
	if want := []netip.Addr{dstA, d2, d3}; !reflect.DeepEqual(got, want) {
		t.Errorf("beacon order %v, want %v", got, want)
	}
}

func mergeByTime(ss ...[]Conn) []Conn {
	var out []Conn
	for _, s := range ss {
		out = append(out, s...)
	}
	slicesSortByTime(out)
	return out
}

func slicesSortByTime(cs []Conn) {
	for i := 1; i < len(cs); i++ { // insertion sort keeps equal times stable
		for j := i; j > 0 && cs[j].Time.Before(cs[j-1].Time); j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

// TestPrevalence: the same beacon to a destination every host uses loses 0.15,
// to one no other host uses gains 0.15 (RITA's modifiers).
func TestPrevalence(t *testing.T) {
	tr := newTracker(t, Config{})
	popular, rare := netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("198.51.100.66")
	var cs []Conn
	for i := range 60 {
		h := netip.AddrFrom4([4]byte{10, 0, 1, byte(i + 1)})
		cs = append(cs, series(h, popular, 443, every(600*time.Second, 24*time.Hour), func(int) int64 { return 500 }, 0)...)
	}
	cs = append(cs, series(src, rare, 443, every(600*time.Second, 24*time.Hour), func(int) int64 { return 500 }, 0)...)
	slicesSortByTime(cs)
	observeAll(t, tr, cs)
	fs := tr.Evaluate(t0.Add(24 * time.Hour))
	if fs[0].Dst != rare || fs[0].PrevalenceModifier != 0.15 || fs[0].PrevalenceHosts != 1 || fs[0].PopulationHosts != 61 {
		t.Fatalf("top finding %+v", fs[0])
	}
	if !strings.Contains(fs[0].Summary, "no other of 61 hosts talks to it") {
		t.Errorf("summary %q", fs[0].Summary)
	}
	if fs[1].Dst != popular || fs[1].PrevalenceModifier != -0.15 || fs[1].PrevalenceHosts != 60 {
		t.Errorf("second finding %+v", fs[1])
	}
}

func TestFQDNPairs(t *testing.T) {
	tr := newTracker(t, Config{})
	cs := series(src, dstA, 443, every(300*time.Second, 12*time.Hour), func(int) int64 { return 700 }, 0)
	for i := range cs {
		cs[i].Host = "Beacon.Example.COM:443"
		if i%2 == 1 { // a CDN: the name moves between addresses
			cs[i].Dst = netip.MustParseAddr("203.0.113.8")
		}
	}
	observeAll(t, tr, cs)
	fs := tr.Evaluate(t0.Add(12 * time.Hour))
	if len(fs) == 0 || fs[0].FQDN != "beacon.example.com" || fs[0].Dst.IsValid() || fs[0].MedianInterval != 300*time.Second {
		t.Fatalf("top finding %+v", fs)
	}
	for _, f := range fs[1:] {
		if f.Kind == KindBeacon && f.MedianInterval == 300*time.Second {
			t.Errorf("an IP pair sees the full 300 s beacon: %s", f.Summary)
		}
	}
}

func TestRareUserAgent(t *testing.T) {
	tr := newTracker(t, Config{})
	for i := range 200 {
		h := netip.AddrFrom4([4]byte{10, 0, 2, byte(i%50 + 1)})
		ts := t0.Add(time.Duration(i) * time.Minute)
		mustHTTP(t, tr, HTTPRequest{Time: ts, Src: h, Dst: dstA, Host: "www.example.com", UserAgent: "Mozilla/5.0", EventID: fmt.Sprint("n", i)})
		if i%10 == 0 {
			mustHTTP(t, tr, HTTPRequest{Time: ts, Src: src, Dst: dstA, Host: "-", UserAgent: "Modzilla/0.0001 (Atari 7800)", EventID: fmt.Sprint("m", i)})
		}
	}
	fs := tr.Evaluate(t0.Add(200 * time.Minute))
	if len(fs) != 1 || fs[0].Kind != KindRareUserAgent || fs[0].UserAgent != "Modzilla/0.0001 (Atari 7800)" ||
		fs[0].Requests != 20 || fs[0].BlankHostRequests != 20 || fs[0].Src != src || len(fs[0].Evidence) != evidenceN {
		t.Fatalf("findings %+v", fs)
	}
	want := `User agent "Modzilla/0.0001 (Atari 7800)" was used by 1 of 51 HTTP clients (10.0.0.5): 20 requests over 3 h 10 min, 20 with a blank Host header.`
	if fs[0].Summary != want {
		t.Errorf("summary\n got %s\nwant %s", fs[0].Summary, want)
	}
}

func mustHTTP(t testing.TB, tr *Tracker, r HTTPRequest) {
	t.Helper()
	if err := tr.ObserveHTTP(r); err != nil {
		t.Fatal(err)
	}
}

func TestOpenConnections(t *testing.T) {
	tr := newTracker(t, Config{})
	c := Conn{Time: t0, Src: src, Dst: dstA, DstPort: 22, Proto: "tcp", UID: "Cssh", Open: true}
	for h := 1; h <= 30; h++ { // open_conn.log writes the session every hour
		c.Duration = time.Duration(h) * time.Hour
		if err := tr.Observe(c); err != nil {
			t.Fatal(err)
		}
	}
	fs := tr.Evaluate(t0.Add(30 * time.Hour))
	if len(fs) != 1 || fs[0].Kind != KindLongConnection || fs[0].OpenDuration != 30*time.Hour || fs[0].Score != 0.8 || fs[0].DstPort != 22 {
		t.Fatalf("findings %+v", fs)
	}
	// The session closes: conn.log carries it with its final duration, once.
	c.Open, c.Duration = false, 31*time.Hour
	if err := tr.Observe(c); err != nil {
		t.Fatal(err)
	}
	fs = tr.Evaluate(t0.Add(31*time.Hour + time.Minute))
	if len(fs) != 1 || fs[0].OpenDuration != 0 || fs[0].TotalDuration != 31*time.Hour {
		t.Fatalf("after close: %+v", fs)
	}
}

func TestBadInput(t *testing.T) {
	tr := newTracker(t, Config{})
	for _, c := range []Conn{
		{Time: t0, Dst: dstA},
		{Time: t0, Src: src},
		{Time: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC), Src: src, Dst: dstA},
		{Time: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), Src: src, Dst: dstA},
	} {
		if err := tr.Observe(c); !errors.Is(err, ErrBadRecord) {
			t.Errorf("Observe(%+v) = %v, want ErrBadRecord", c, err)
		}
	}
	if err := tr.ObserveHTTP(HTTPRequest{Time: t0}); !errors.Is(err, ErrBadRecord) {
		t.Errorf("ObserveHTTP without addresses = %v", err)
	}
	// Extreme but valid values do not panic and stay bounded.
	long := strings.Repeat("x", 10000)
	c := Conn{Time: t0, Src: src, Dst: dstA, Host: long, UID: long, OrigBytes: math.MaxInt64, Duration: math.MaxInt64, Open: true}
	if err := tr.Observe(c); err != nil {
		t.Fatal(err)
	}
	c.Open, c.OrigBytes, c.Duration = false, -5, -time.Hour
	if err := tr.Observe(c); err != nil {
		t.Fatal(err)
	}
	_ = tr.Evaluate(t0.Add(time.Hour))
	for _, bad := range []Config{{MaxPairs: -1}, {MinConns: 2}, {MinBeaconScore: 2}, {RareUAMaxHosts: 100, MaxUAHosts: 10},
		{Internal: []netip.Prefix{{}}}} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v) accepted", bad)
		}
	}
}

// TestEviction: past MaxPairs the coldest pairs go; a busy pair stays.
func TestEviction(t *testing.T) {
	tr := newTracker(t, Config{MaxPairs: 64})
	for i := range 1000 {
		ts := t0.Add(time.Duration(i) * time.Second)
		d := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		observeAll(t, tr, []Conn{{Time: ts, Src: src, Dst: d}, {Time: ts, Src: src, Dst: dstA}})
	}
	if tr.Pairs() > 64 {
		t.Errorf("%d pairs, cap 64", tr.Pairs())
	}
	if p := tr.pairs[pairKey{src: src, dst: dstA}]; p == nil || p.total != 1000 {
		t.Errorf("hot pair evicted or lost counts: %+v", p)
	}
	if n := tr.srcPairs[src]; int(n) != tr.Pairs() {
		t.Errorf("prevalence counts %d out of step with %d pairs", n, tr.Pairs())
	}
}

// mixed returns a few minutes of work for every analytic.
func mixed(r *rand.Rand) ([]Conn, []HTTPRequest) {
	size := func(int) int64 { return 300 + r.Int64N(5) }
	cs := mergeByTime(
		series(src, dstA, 80, jittered(r, 200*time.Second, 350*time.Second, 20*time.Hour), size, time.Second),
		series(src, netip.MustParseAddr("198.51.100.9"), 443, human(r, 20*time.Hour), size, 2*time.Second),
		series(netip.MustParseAddr("10.0.0.6"), dstA, 22, []time.Duration{time.Minute}, size, 3*time.Hour),
	)
	cs = append(cs, Conn{Time: t0, Src: src, Dst: dstA, DstPort: 22, UID: "Copen", Open: true, Duration: 19 * time.Hour})
	for i := range cs {
		if i%3 == 0 {
			cs[i].Host = "c2.example.net"
		}
	}
	var hs []HTTPRequest
	for i, c := range cs {
		if c.DstPort == 80 {
			hs = append(hs, HTTPRequest{Time: c.Time, Src: c.Src, Dst: c.Dst, UserAgent: "odd/1", EventID: fmt.Sprint("h", i)})
		} else {
			hs = append(hs, HTTPRequest{Time: c.Time, Src: netip.AddrFrom4([4]byte{10, 9, 0, byte(i % 9)}), Dst: c.Dst, Host: "x", UserAgent: "common"})
		}
	}
	return cs, hs
}

func feedMixed(t testing.TB, tr *Tracker, cs []Conn, hs []HTTPRequest) {
	t.Helper()
	observeAll(t, tr, cs)
	for _, h := range hs {
		mustHTTP(t, tr, h)
	}
}

// TestSnapshotRestore: a restored tracker gives identical findings and
// snapshots, and keeps behaving identically as data goes on.
func TestSnapshotRestore(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cs, hs := mixed(r)
	half := len(cs) / 2
	orig := newTracker(t, Config{MaxSamples: 64})
	feedMixed(t, orig, cs[:half], hs[:half])
	var snap bytes.Buffer
	if err := orig.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	restored := newTracker(t, Config{MaxSamples: 64})
	if err := restored.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	now := cs[half-1].Time
	if a, b := orig.Evaluate(now), restored.Evaluate(now); !reflect.DeepEqual(a, b) || len(a) == 0 {
		t.Fatalf("findings differ after restore (%d vs %d)", len(a), len(b))
	}
	var again bytes.Buffer
	if err := restored.Snapshot(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snap.Bytes(), again.Bytes()) {
		t.Error("snapshot of the restored tracker differs")
	}
	feedMixed(t, orig, cs[half:], hs[half:])
	feedMixed(t, restored, cs[half:], hs[half:])
	end := t0.Add(20 * time.Hour)
	a, b := orig.Evaluate(end), restored.Evaluate(end)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("findings differ after further data")
	}
	kinds := map[Kind]bool{}
	for _, f := range a {
		kinds[f.Kind] = true
	}
	if !kinds[KindBeacon] || !kinds[KindLongConnection] || !kinds[KindRareUserAgent] {
		t.Errorf("the mixed data should exercise every analytic, got %v", kinds)
	}

	// A tracker with smaller caps refuses the snapshot and keeps its state.
	small := newTracker(t, Config{MaxSamples: 8})
	if err := small.Restore(bytes.NewReader(snap.Bytes())); err == nil || !strings.Contains(err.Error(), "restoring c2 state") {
		t.Errorf("restore into smaller caps: %v", err)
	}
	for _, cut := range []int{0, 3, 5, 100, snap.Len() - 1} {
		if err := newTracker(t, Config{MaxSamples: 64}).Restore(bytes.NewReader(snap.Bytes()[:cut])); err == nil {
			t.Errorf("truncated at %d: accepted", cut)
		}
	}
	if err := newTracker(t, Config{MaxSamples: 64}).Restore(bytes.NewReader(append(snap.Bytes(), 0))); err == nil {
		t.Error("trailing byte accepted")
	}
}

func FuzzRestore(f *testing.F) {
	r := rand.New(rand.NewPCG(7, 8))
	cs, hs := mixed(r)
	tr := newTracker(f, Config{MaxSamples: 16})
	feedMixed(f, tr, cs[:200], hs[:200])
	var snap bytes.Buffer
	if err := tr.Snapshot(&snap); err != nil {
		f.Fatal(err)
	}
	f.Add(snap.Bytes())
	f.Add([]byte(snapMagic + "\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		tr := newTracker(t, Config{MaxSamples: 16, MaxPairs: 1 << 16})
		if err := tr.Restore(bytes.NewReader(b)); err != nil {
			return
		}
		// Whatever was accepted must evaluate, snapshot and keep working.
		_ = tr.Evaluate(time.Unix(tr.last, 0))
		var out bytes.Buffer
		if err := tr.Snapshot(&out); err != nil {
			t.Fatal(err)
		}
		if err := tr.Observe(Conn{Time: t0, Src: src, Dst: dstA, UID: "x"}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestMemoryPerPair measures the heap held per tracked pair, with one
// connection and with a full sample ring, against the figures in the package doc.
func TestMemoryPerPair(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocates tens of megabytes; the race detector's shadow memory would distort the figures")
	}
	for _, tc := range []struct {
		name    string
		conns   int
		maxByte float64
	}{
		{"one connection", 1, 1100},
		{"full ring of 512", 512, 1100 + 8*512 + 200},
	} {
		const n = 4000
		tr := newTracker(t, Config{})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range n {
			d := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
			for j := range tc.conns {
				c := Conn{Time: t0.Add(time.Duration(j) * time.Minute), Src: src, Dst: d, DstPort: 443, Proto: "tcp", OrigBytes: 300, UID: "CbIj3a4JkqZQ8eB7"}
				if err := tr.Observe(c); err != nil {
					t.Fatal(err)
				}
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := float64(after.HeapAlloc-before.HeapAlloc) / n
		t.Logf("%s: %.0f bytes per pair", tc.name, per)
		if per > tc.maxByte {
			t.Errorf("%s: %.0f bytes per pair, documented at most %.0f", tc.name, per, tc.maxByte)
		}
		runtime.KeepAlive(tr)
	}
}
