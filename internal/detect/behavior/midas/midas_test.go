package midas

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	for _, tc := range []struct {
		name string
		edit func(*Config)
		err  string
	}{
		{"default", func(*Config) {}, ""},
		{"midas-r", func(c *Config) { c.Filter = false; c.Threshold = 0 }, ""},
		{"alpha 0 (plain MIDAS)", func(c *Config) { c.Alpha = 0 }, ""},
		{"alpha 1", func(c *Config) { c.Alpha = 1 }, ""},
		{"max size", func(c *Config) { c.Rows, c.Buckets = MaxRows, MaxBuckets }, ""},
		{"zero rows", func(c *Config) { c.Rows = 0 }, "midas config: rows 0 outside 1..16"},
		{"too many rows", func(c *Config) { c.Rows = 17 }, "midas config: rows 17 outside 1..16"},
		{"zero buckets", func(c *Config) { c.Buckets = 0 }, "midas config: buckets 0 outside 1..1048576"},
		{"too many buckets", func(c *Config) { c.Buckets = MaxBuckets + 1 }, "midas config: buckets 1048577 outside 1..1048576"},
		{"negative alpha", func(c *Config) { c.Alpha = -0.1 }, "midas config: alpha -0.1 outside [0, 1]"},
		{"alpha above 1", func(c *Config) { c.Alpha = 1.5 }, "midas config: alpha 1.5 outside [0, 1]"},
		{"NaN alpha", func(c *Config) { c.Alpha = math.NaN() }, "midas config: alpha NaN outside [0, 1]"},
		{"zero threshold", func(c *Config) { c.Threshold = 0 }, "midas config: filter threshold 0 must be positive and finite"},
		{"infinite threshold", func(c *Config) { c.Threshold = math.Inf(1) }, "midas config: filter threshold +Inf must be positive and finite"},
		{"threshold unused without filter", func(c *Config) { c.Filter, c.Threshold = false, -1 }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if got := errString(err); got != tc.err {
				t.Fatalf("Validate() = %q, want %q", got, tc.err)
			}
			if c.MemoryBytes() > 100<<20 {
				return // valid, but too big to allocate in a unit test
			}
			if _, err := New(c); errString(err) != tc.err {
				t.Fatalf("New() = %v, want %q", err, tc.err)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func mustNew(t testing.TB, cfg Config) *Model {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func rConfig() Config {
	c := DefaultConfig()
	c.Filter = false
	return c
}

// TestScoreByHand checks scores worked out on paper from the MIDAS-R and
// MIDAS-F formulas (one key, no collisions possible: one edge, one source,
// one destination).
func TestScoreByHand(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		ticks  []int64
		scores []float64
	}{
		// R, t=1: no history, 0. t=2: a=0.5*1+1=1.5, s=2, ((1.5-2/2)*2)^2/(2*1)=0.5.
		// Second edge at t=2: a=2.5, s=3, ((2.5-1.5)*2)^2/(3*1)=4/3.
		{"midas-r", rConfig(), []int64{100, 101, 101}, []float64{0, 0.5, 4.0 / 3}},
		// A gap of 2 ticks decays by alpha^2: a=0.25+1=1.25, s=2, t=3:
		// ((1.25-2/3)*3)^2/(2*2) = 1.75^2/4.
		{"midas-r gap", rConfig(), []int64{7, 9}, []float64{0, 1.75 * 1.75 / 4}},
		// Older ticks count in the current tick.
		{"midas-r older tick", rConfig(), []int64{100, 101, 50}, []float64{0, 0.5, 4.0 / 3}},
		// F, t=2: total merged from tick 1 = a1 = 1 (score 0 < 1e3); a=1.5:
		// (s - a(t-1))^2/(s(t-1)) = (1-1.5)^2/1 = 0.25. Then a=2.5: 1.5^2/1.
		{"midas-f", DefaultConfig(), []int64{0, 1, 1}, []float64{0, 0.25, 2.25}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mustNew(t, tc.cfg)
			for i, tick := range tc.ticks {
				r := m.Observe(1, 2, tick)
				if math.Abs(r.Score-tc.scores[i]) > 1e-12 {
					t.Errorf("edge %d (tick %d): score %v, want %v", i, tick, r.Score, tc.scores[i])
				}
				if r.Edge.Score != r.Source.Score || r.Edge.Score != r.Destination.Score || r.Driver != KindEdge {
					t.Errorf("edge %d: parts differ for a lone key: %+v", i, r)
				}
			}
		})
	}
}

// exact is MIDAS-R / MIDAS-F with exact per-key counts instead of
// sketches, written from the paper's definitions: the sketch model must
// agree with it when no keys collide.
type exact struct {
	cfg         Config
	first, cur  int64
	started     bool
	a, s, raw   [3]map[uint64]float64
	score, rtot [3]map[uint64]float64
}

func newExact(cfg Config) *exact {
	e := &exact{cfg: cfg}
	for k := range 3 {
		e.a[k], e.s[k], e.raw[k] = map[uint64]float64{}, map[uint64]float64{}, map[uint64]float64{}
		e.score[k], e.rtot[k] = map[uint64]float64{}, map[uint64]float64{}
	}
	return e
}

func (e *exact) observe(src, dst uint64, tick int64) Result {
	if !e.started {
		e.started, e.first, e.cur = true, tick, tick
	} else if tick > e.cur {
		closing := float64(e.cur-e.first) + 1
		decay := math.Pow(e.cfg.Alpha, float64(tick-e.cur))
		for k := range 3 {
			for key, a := range e.a[k] {
				if e.cfg.Filter {
					if e.score[k][key] < e.cfg.Threshold {
						e.s[k][key] += a
					} else if closing > 1 {
						e.s[k][key] += e.s[k][key] / (closing - 1)
					}
				}
				e.a[k][key] = a * decay
				e.raw[k][key] = 0
			}
		}
		e.cur = tick
	}
	t := float64(e.cur-e.first) + 1
	keys := [3]uint64{src<<32 | dst, src, dst} // small ids only
	var parts [3]Part
	for k, key := range keys {
		e.a[k][key]++
		e.raw[k][key]++
		e.rtot[k][key]++
		if !e.cfg.Filter {
			e.s[k][key]++
		}
		a, s := e.a[k][key], e.s[k][key]
		p := Part{Count: e.raw[k][key], Decayed: a, Total: s}
		if t > 1 {
			p.MeanBefore = (e.rtot[k][key] - p.Count) / (t - 1)
			switch {
			case s == 0:
			case e.cfg.Filter:
				d := s - a*(t-1)
				p.Score = d * d / (s * (t - 1))
			default:
				d := (a - s/t) * t
				p.Score = d * d / (s * (t - 1))
			}
		}
		if e.cfg.Filter {
			e.score[k][key] = p.Score
		}
		parts[k] = p
	}
	r := Result{Tick: e.cur, Elapsed: e.cur - e.first + 1, Edge: parts[0], Source: parts[1], Destination: parts[2]}
	r.Score, r.Driver = parts[0].Score, KindEdge
	for k := 1; k < 3; k++ {
		if parts[k].Score > r.Score {
			r.Score, r.Driver = parts[k].Score, Kind(k)
		}
	}
	return r
}

// synthetic is a deterministic stream: n edges over nodes 1..nodes, a new
// tick every perTick edges with an occasional gap, plus a burst from node
// 1 to node 2 in one tick.
func synthetic(n, nodes, perTick int, seed uint64) []edge {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]edge, 0, n)
	tick := int64(0)
	for i := range n {
		if i > 0 && i%perTick == 0 {
			tick += 1 + int64(rng.IntN(8)/7) // mostly +1, sometimes +2
		}
		e := edge{src: uint64(1 + rng.IntN(nodes)), dst: uint64(1 + rng.IntN(nodes)), tick: tick}
		if tick == 20 && i%3 == 0 {
			e.src, e.dst, e.attack = 1, 2, true
		}
		out = append(out, e)
	}
	return out
}

func TestMatchesExactCounts(t *testing.T) {
	edges := synthetic(20000, 30, 500, 1)
	for _, filter := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.Filter, cfg.Threshold, cfg.Rows, cfg.Buckets = filter, 50, 4, 1<<16 // threshold low enough to filter
		m := mustNew(t, cfg)
		e := newExact(cfg)
		var filtered int
		for i, ed := range edges {
			got, want := m.Observe(ed.src, ed.dst, ed.tick), e.observe(ed.src, ed.dst, ed.tick)
			if got.Score >= 50 {
				filtered++
			}
			if !closeResult(got, want) {
				t.Fatalf("filter %v edge %d %+v:\n got %+v\nwant %+v", filter, i, ed, got, want)
			}
		}
		if filter && filtered == 0 {
			t.Errorf("no score reached the threshold: the filter was not exercised")
		}
	}
}

func closeResult(a, b Result) bool {
	if a.Driver != b.Driver || a.Tick != b.Tick || a.Elapsed != b.Elapsed || !close(a.Score, b.Score) {
		return false
	}
	for _, k := range []Kind{KindEdge, KindSource, KindDestination} {
		p, q := a.Part(k), b.Part(k)
		if !close(p.Count, q.Count) || !close(p.MeanBefore, q.MeanBefore) || !close(p.Decayed, q.Decayed) ||
			!close(p.Total, q.Total) || !close(p.Score, q.Score) {
			return false
		}
	}
	return true
}

func close(x, y float64) bool { return math.Abs(x-y) <= 1e-9*max(1, math.Abs(x), math.Abs(y)) }

// TestExplainBurst is the analyst's view: an edge seen 2 times a minute
// for ten minutes, then 57 times in one minute.
func TestExplainBurst(t *testing.T) {
	m := mustNew(t, DefaultConfig())
	src, dst := HashAddr(netip.MustParseAddr("10.0.0.5")), HashAddr(netip.MustParseAddr("10.0.0.9"))
	other := HashAddr(netip.MustParseAddr("10.0.0.7"))
	var steady float64
	for tick := range int64(10) {
		for range 2 {
			steady = max(steady, m.Score(src, dst, tick))
			steady = max(steady, m.Score(other, dst, tick)) // dst is busier than the edge
		}
	}
	var r Result
	for range 57 {
		r = m.Observe(src, dst, 10)
	}
	if r.Edge.Count != 57 || r.Edge.MeanBefore != 2 || r.Source.Count != 57 || r.Destination.Count != 57 || r.Destination.MeanBefore != 4 {
		t.Errorf("counts: %+v", r)
	}
	if r.Tick != 10 || r.Elapsed != 11 || steady > 5 || r.Score < 100*steady {
		t.Errorf("tick %d elapsed %d: burst score %v against steady %v", r.Tick, r.Elapsed, r.Score, steady)
	}
	t.Logf("burst score %.1f (steady max %.2f): %+v", r.Score, steady, r)
	if r.Driver != KindEdge || r.Edge.Score <= r.Destination.Score {
		t.Errorf("driver %v, parts %+v", r.Driver, r)
	}
	if m.Edges() != 97 {
		t.Errorf("Edges() = %d", m.Edges())
	}
}

func TestExtremeTicks(t *testing.T) {
	for _, ticks := range [][]int64{
		{math.MinInt64, math.MaxInt64, math.MaxInt64, 0},
		{math.MaxInt64, math.MinInt64, 0},
		{-5, -4, -4, -100},
	} {
		m := mustNew(t, DefaultConfig())
		for _, tick := range ticks {
			r := m.Observe(3, 4, tick)
			if math.IsNaN(r.Score) || r.Score < 0 || r.Elapsed < 1 {
				t.Errorf("ticks %v: tick %d gave %+v", ticks, tick, r)
			}
		}
	}
}

func TestNoAllocs(t *testing.T) {
	for _, cfg := range []Config{DefaultConfig(), rConfig()} {
		m := mustNew(t, cfg)
		var i uint64
		allocs := testing.AllocsPerRun(1000, func() {
			i++
			m.Score(i%97, i%89, int64(i/100))
			_ = m.Observe(i%7, i%5, int64(i/100))
		})
		if allocs != 0 {
			t.Errorf("filter %v: %v allocations per edge", cfg.Filter, allocs)
		}
	}
}

func TestMemoryBytes(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want int
	}{
		{DefaultConfig(), 245_760}, // 3 x 2 x 1024 x 5 x 8
		{rConfig(), 147_456},       // 3 x 2 x 1024 x 3 x 8
	} {
		m := mustNew(t, tc.cfg)
		var got int
		for _, c := range m.cells {
			got += 8 * len(c)
		}
		if got != tc.want || tc.cfg.MemoryBytes() != tc.want {
			t.Errorf("filter %v: cells %d B, MemoryBytes %d, want %d", tc.cfg.Filter, got, tc.cfg.MemoryBytes(), tc.want)
		}
	}
}

func TestDeterministicAcrossSeeds(t *testing.T) {
	edges := synthetic(5000, 200, 100, 2)
	run := func(seed uint64) []float64 {
		cfg := DefaultConfig()
		cfg.Seed, cfg.Buckets = seed, 64 // small: collisions depend on the seed
		m := mustNew(t, cfg)
		out := make([]float64, len(edges))
		for i, e := range edges {
			out[i] = m.Score(e.src, e.dst, e.tick)
		}
		return out
	}
	a, b, c := run(1), run(1), run(2)
	same, differ := true, false
	for i := range a {
		same = same && a[i] == b[i]
		differ = differ || a[i] != c[i]
	}
	if !same || !differ {
		t.Errorf("same seed equal: %v; other seed differs: %v", same, differ)
	}
}

func TestHash(t *testing.T) {
	v4 := netip.MustParseAddr("10.0.0.5")
	for _, tc := range []struct {
		name string
		a, b uint64
		same bool
	}{
		{"string and bytes", HashString("alice"), HashBytes([]byte("alice")), true},
		{"distinct strings", HashString("alice"), HashString("alicf"), false},
		{"v4-mapped is v4", HashAddr(v4), HashAddr(netip.AddrFrom16(v4.As16())), true},
		{"zone ignored", HashAddr(netip.MustParseAddr("fe80::1%eth0")), HashAddr(netip.MustParseAddr("fe80::1")), true},
		{"v4 and v6 differ", HashAddr(netip.MustParseAddr("0.0.0.0")), HashAddr(netip.IPv6Unspecified()), false},
		{"invalid addr", HashAddr(netip.Addr{}), HashAddr(netip.MustParseAddr("0.0.0.0")), false},
	} {
		if (tc.a == tc.b) != tc.same {
			t.Errorf("%s: %x vs %x", tc.name, tc.a, tc.b)
		}
	}
	// Pinned values: ids must not change between releases or processes,
	// or restored models would score different keys.
	for _, tc := range []struct {
		got, want uint64
	}{
		{HashString(""), pinned[0]},
		{HashString("10.0.0.5"), pinned[1]},
		{HashAddr(v4), pinned[2]},
	} {
		if tc.got != tc.want {
			t.Errorf("hash %#x, want %#x", tc.got, tc.want)
		}
	}
}

// pinned was computed independently (Python) from the FNV-1a and splitmix64
// definitions.
var pinned = [3]uint64{0x793461b493250d2d, 0x146b31f6bea1729, 0x1c8226d07c47bc1d}

// FuzzObserve feeds arbitrary edges and ticks (any order, any range):
// scores stay finite and non-negative, and Observe agrees with Score.
func FuzzObserve(f *testing.F) {
	f.Add([]byte{1, 2, 0, 1, 2, 1, 3, 4, 200}, uint8(3), false)
	f.Add([]byte{0, 0, 255, 0, 0, 0, 0, 0, 128}, uint8(1), true)
	f.Fuzz(func(t *testing.T, data []byte, buckets uint8, filter bool) {
		cfg := DefaultConfig()
		cfg.Buckets, cfg.Filter = int(buckets)+1, filter
		a, b := mustNew(t, cfg), mustNew(t, cfg)
		tick := int64(0)
		for len(data) >= 3 {
			src, dst, dt := uint64(data[0]%8), uint64(data[1]%8), int64(int8(data[2]))
			data = data[3:]
			switch dt {
			case 127:
				tick = math.MaxInt64
			case -128:
				tick = math.MinInt64
			default:
				tick += dt
			}
			r := a.Observe(src, dst, tick)
			if s := b.Score(src, dst, tick); s != r.Score {
				t.Fatalf("Score %v, Observe %v", s, r.Score)
			}
			for _, k := range []Kind{KindEdge, KindSource, KindDestination} {
				p := r.Part(k)
				for _, v := range []float64{p.Score, p.Count, p.MeanBefore, p.Decayed, p.Total} {
					if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
						t.Fatalf("%v part: %+v", k, p)
					}
				}
			}
		}
	})
}
