package multivariate

import (
	"bytes"
	"errors"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
)

// testConfig is small enough for the whole package to test in seconds.
func testConfig(seed uint64) Config {
	return Config{Dims: nFeatures, Window: 1024, Refit: 256, Calibration: 1024, Seed: seed}
}

func mustNew(t testing.TB, c Config) *Model {
	t.Helper()
	m, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// step scores x, then learns it, as the engine does per closed entity-hour.
func step(t testing.TB, m *Model, x []float64) float64 {
	t.Helper()
	s, err := m.Score(x)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Update(x); err != nil {
		t.Fatal(err)
	}
	return s
}

func train(t testing.TB, m *Model, g *gen, n int) {
	t.Helper()
	x := make([]float64, nFeatures)
	for range n {
		g.normal(x)
		step(t, m, x)
	}
}

// auc is the Mann-Whitney ROC-AUC of positives over negatives (ties count half).
func auc(pos, neg []float64) float64 {
	type sv struct {
		s   float64
		pos bool
	}
	all := make([]sv, 0, len(pos)+len(neg))
	for _, s := range pos {
		all = append(all, sv{s, true})
	}
	for _, s := range neg {
		all = append(all, sv{s, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].s < all[j].s })
	var rankSum float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].s == all[i].s {
			j++
		}
		r := float64(i+j+1) / 2 // mean 1-based rank of the tie group
		for k := i; k < j; k++ {
			if all[k].pos {
				rankSum += r
			}
		}
		i = j
	}
	np, nn := float64(len(pos)), float64(len(neg))
	return (rankSum - np*(np+1)/2) / (np * nn)
}

func TestAUCHelper(t *testing.T) {
	for _, tc := range []struct {
		pos, neg []float64
		want     float64
	}{
		{[]float64{3, 4}, []float64{1, 2}, 1},
		{[]float64{1, 2}, []float64{3, 4}, 0},
		{[]float64{1, 1}, []float64{1, 1}, 0.5},
		{[]float64{2, 4}, []float64{1, 3}, 0.75},
	} {
		if got := auc(tc.pos, tc.neg); got != tc.want {
			t.Errorf("auc(%v, %v) = %v, want %v", tc.pos, tc.neg, got, tc.want)
		}
	}
}

// Injected attack-shaped entity-hours (2%) in a stream of correlated,
// heavy-tailed ordinary ones, raw features: scored before learning, as the
// engine would, every outlier is also learnt.
func TestOutliersAUC(t *testing.T) {
	kinds := [...]string{"spraying", "lateral", "exfiltration", "dns_tunnel", "ransomware"}
	for _, seed := range []uint64{1, 2, 3} {
		m := mustNew(t, testConfig(seed))
		g := newGen(seed + 100)
		train(t, m, g, 2500)
		if !m.Trained() {
			t.Fatalf("seed %d: not trained after 2500 vectors", seed)
		}
		var pos, neg, pPos, pNeg []float64
		var kindOf []int
		x := make([]float64, nFeatures)
		for range 5000 {
			out := g.r.Float64() < 0.02
			g.normal(x)
			if out {
				k := g.r.IntN(len(kinds))
				g.inject(x, k)
				kindOf = append(kindOf, k)
			}
			s, err := m.Score(x)
			if err != nil {
				t.Fatal(err)
			}
			p := m.PValue(s)
			if out {
				pos, pPos = append(pos, s), append(pPos, -p)
			} else {
				neg, pNeg = append(neg, s), append(pNeg, -p)
			}
			if err := m.Update(x); err != nil {
				t.Fatal(err)
			}
		}
		a, ap := auc(pos, neg), auc(pPos, pNeg)
		// Recall at the score threshold that flags 1% of ordinary vectors,
		// and at p < 0.01 (the calibration ring holds the 2% outliers too).
		sorted := slices.Sorted(slices.Values(neg))
		thr := sorted[len(sorted)*99/100]
		var tp, tpP int
		var perKind [len(kinds)][]float64
		for i, s := range pos {
			perKind[kindOf[i]] = append(perKind[kindOf[i]], s)
			if s > thr {
				tp++
			}
			if -pPos[i] < 0.01 {
				tpP++
			}
		}
		var fpP int
		for _, p := range pNeg {
			if -p < 0.01 {
				fpP++
			}
		}
		t.Logf("seed %d: %d outliers, %d normal: AUC %.4f (p-value AUC %.4f); recall %.3f at 1%% FPR; at p<0.01 recall %.3f, FPR %.4f",
			seed, len(pos), len(neg), a, ap, float64(tp)/float64(len(pos)),
			float64(tpP)/float64(len(pos)), float64(fpP)/float64(len(neg)))
		if a < 0.9 || ap < 0.9 {
			t.Errorf("seed %d: AUC %.4f, p-value AUC %.4f, want >= 0.9", seed, a, ap)
		}
		if r := float64(tp) / float64(len(pos)); r < 0.75 {
			t.Errorf("seed %d: recall %.3f at 1%% FPR, want >= 0.75", seed, r)
		}
		for k, ks := range perKind {
			ka := auc(ks, neg)
			t.Logf("  %-12s %3d: AUC %.4f", kinds[k], len(ks), ka)
			if ka < 0.85 {
				t.Errorf("seed %d: %s AUC %.4f, want >= 0.85", seed, kinds[k], ka)
			}
		}
	}
}

// A vector that deviates in one feature only must put that feature first.
func TestAttributeSingleFeature(t *testing.T) {
	m := mustNew(t, testConfig(11))
	g := newGen(12)
	train(t, m, g, 3000)
	// The typical vector: per-feature medians of fresh ordinary data.
	cols := make([][]float64, nFeatures)
	x := make([]float64, nFeatures)
	for range 2000 {
		g.normal(x)
		for f := range x {
			cols[f] = append(cols[f], x[f])
		}
	}
	typical := make([]float64, nFeatures)
	for f := range cols {
		slices.Sort(cols[f])
		typical[f] = cols[f][len(cols[f])/2]
	}
	flagged := 0
	defer func() {
		// A single-feature deviation must also score, not only be explained.
		if flagged < 10 {
			t.Errorf("%d of 12 typical vectors with one injected feature at p <= 0.02, want >= 10", flagged)
		}
	}()
	for _, tc := range []struct {
		feature int
		value   float64
	}{
		{fLogons, 40},
		{fFailed, 30},
		{fHosts, 25},
		{fProcs, 300},
		{fBytesOut, 16},
		{fDNS, 3000},
		{fDests, 120},
		{fOffHours, 0.95},
		{fAPIErrors, 40},
		{fFiles, 1500},
		{fAdmin, 8},
		{fSrcIPs, 9},
	} {
		t.Run(featureNames[tc.feature], func(t *testing.T) {
			first := 0
			const draws = 50
			attr := make([]float64, nFeatures)
			for i := range draws + 1 {
				if i == 0 {
					copy(x, typical)
				} else {
					g.normal(x)
				}
				x[tc.feature] = tc.value
				if _, err := m.Attribute(x, attr); err != nil {
					t.Fatal(err)
				}
				top := rank(attr)
				if i == 0 && top[0] != tc.feature {
					t.Errorf("typical vector: ranked %s first (%v), want %s",
						featureNames[top[0]], attr, featureNames[tc.feature])
				}
				if top[0] == tc.feature {
					first++
				}
				if i == 0 {
					s, _ := m.Score(x)
					var sum float64
					for _, a := range attr {
						sum += a
					}
					t.Logf("typical: score %.2f p %.4f, excess %.2f, share %.2f", s, m.PValue(s), sum, attr[tc.feature]/sum)
					if m.PValue(s) <= 0.02 {
						flagged++
					}
				}
			}
			// Random ordinary vectors carry their own heavy-tailed deviations.
			if first < draws*9/10 {
				t.Errorf("ranked first in %d of %d random vectors, want >= 90%%", first-1, draws)
			}
		})
	}
}

// rank returns feature indices by decreasing attribution.
func rank(a []float64) []int {
	idx := make([]int, len(a))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return a[idx[i]] > a[idx[j]] })
	return idx
}

func TestAttributeSumsToExcess(t *testing.T) {
	m := mustNew(t, testConfig(5))
	g := newGen(6)
	x := make([]float64, nFeatures)
	if a, err := m.Attribute(x, nil); err != nil || slices.ContainsFunc(a, func(v float64) bool { return v != 0 }) {
		t.Errorf("before fit: %v, %v; want zeros", a, err)
	}
	train(t, m, g, 1500)
	for range 200 {
		g.outlier(x)
		a, err := m.Attribute(x, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Recompute the mean excess surprise independently.
		var want, got float64
		m.loadZ(x)
		for i := range m.cfg.Projections {
			want += max(0, m.surprise(i)-m.base[i])
		}
		want /= float64(m.cfg.Projections)
		for _, v := range a {
			if v < 0 {
				t.Fatalf("negative part %v", a)
			}
			got += v
		}
		if math.Abs(got-want) > 1e-9*max(1, want) {
			t.Fatalf("parts sum to %v, mean excess %v", got, want)
		}
	}
}

// After a shift to a busier normal (activity x10), the new normal is flagged at
// first and stops being anomalous once a window of it has been learnt.
func TestConceptDrift(t *testing.T) {
	cfg := testConfig(21)
	m := mustNew(t, cfg)
	g := newGen(22)
	train(t, m, g, 3000)
	x := make([]float64, nFeatures)
	var before []float64
	for range 500 {
		g.normal(x)
		before = append(before, step(t, m, x))
	}
	g.activity = 10
	var early []float64
	for range 50 {
		g.normal(x)
		early = append(early, m.PValue(step(t, m, x)))
	}
	train(t, m, g, cfg.Window+cfg.Refit-50)
	var late, lateP []float64
	flagged := 0
	for range 500 {
		g.normal(x)
		s := step(t, m, x)
		p := m.PValue(s)
		late, lateP = append(late, s), append(lateP, p)
		if p < 0.01 {
			flagged++
		}
	}
	slices.Sort(early)
	slices.Sort(lateP)
	slices.Sort(before)
	slices.Sort(late)
	q := func(s []float64, f float64) float64 { return s[int(f*float64(len(s)-1))] }
	t.Logf("early median p %.4f; late median p %.3f, %d/500 at p<0.01; score p50/p90 before %.3f/%.3f after %.3f/%.3f",
		q(early, 0.5), q(lateP, 0.5), flagged, q(before, 0.5), q(before, 0.9), q(late, 0.5), q(late, 0.9))
	// Activity is log-normal (sd 0.6): a x10 shift leaves some new hours
	// inside the old tail, so not all 50 can be flagged; 1% would be chance.
	if q(early, 0.4) > 0.01 {
		t.Errorf("the shift went unnoticed: p40 %.4f in the first 50 vectors", q(early, 0.4))
	}
	if flagged > 15 || q(lateP, 0.5) < 0.2 {
		t.Errorf("still anomalous after the window: %d/500 at p<0.01, median p %.3f", flagged, q(lateP, 0.5))
	}
	if q(late, 0.9) > q(before, 0.9)+0.5 {
		t.Errorf("raw score p90 %.3f after the window, %.3f before", q(late, 0.9), q(before, 0.9))
	}
}

// run feeds a stream and returns every score, p-value and attribution.
func run(t *testing.T, m *Model, g *gen, n int) []float64 {
	t.Helper()
	x := make([]float64, nFeatures)
	a := make([]float64, nFeatures)
	var out []float64
	for i := range n {
		if i%50 == 7 {
			g.outlier(x)
		} else {
			g.normal(x)
		}
		if _, err := m.Attribute(x, a); err != nil {
			t.Fatal(err)
		}
		s := step(t, m, x)
		out = append(out, s, m.PValue(s))
		out = append(out, a...)
	}
	return out
}

func bitsEqual(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

func TestDeterminism(t *testing.T) {
	snap := func(m *Model) []byte {
		var b bytes.Buffer
		if err := m.Snapshot(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	a, b, c := mustNew(t, testConfig(7)), mustNew(t, testConfig(7)), mustNew(t, testConfig(8))
	ra, rb, rc := run(t, a, newGen(1), 3000), run(t, b, newGen(1), 3000), run(t, c, newGen(1), 3000)
	if !bitsEqual(ra, rb) {
		t.Error("same seed, same stream: different outputs")
	}
	if !bytes.Equal(snap(a), snap(b)) {
		t.Error("same seed, same stream: different snapshots")
	}
	if bitsEqual(ra, rc) {
		t.Error("different seeds gave identical outputs: the seed is not used")
	}
}

func TestRestoreEquivalence(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first int
	}{
		{"unfitted", 500},
		{"fitted mid-refit", 2600},
		{"exactly at a refit", 1024 + 256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := mustNew(t, testConfig(9))
			run(t, a, newGen(10), tc.first)
			var s1 bytes.Buffer
			if err := a.Snapshot(&s1); err != nil {
				t.Fatal(err)
			}
			b := mustNew(t, Config{Dims: 2, Seed: 99}) // replaced wholesale by Restore
			if err := b.Restore(bytes.NewReader(s1.Bytes())); err != nil {
				t.Fatal(err)
			}
			if b.Seen() != a.Seen() || b.Trained() != a.Trained() || b.Config() != a.Config() {
				t.Fatalf("restored seen %d trained %v %+v, want %d %v %+v",
					b.Seen(), b.Trained(), b.Config(), a.Seen(), a.Trained(), a.Config())
			}
			ra, rb := run(t, a, newGen(11), 1500), run(t, b, newGen(11), 1500)
			if !bitsEqual(ra, rb) {
				t.Error("restored model scores differently")
			}
			var sa, sb bytes.Buffer
			_ = a.Snapshot(&sa)
			_ = b.Snapshot(&sb)
			if !bytes.Equal(sa.Bytes(), sb.Bytes()) {
				t.Error("snapshots differ after the same stream")
			}
		})
	}
}

func smallSnapshot(t testing.TB, n int) []byte {
	m := mustNew(t, Config{Dims: 3, Projections: 8, Bins: 8, Window: 16, Refit: 4, Calibration: 16, Seed: 1})
	g := newGen(2)
	x := make([]float64, nFeatures)
	for range n {
		g.normal(x)
		if err := m.Update(x[:3]); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if err := m.Snapshot(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRestoreRejects(t *testing.T) {
	good := smallSnapshot(t, 30)
	put32 := func(b []byte, off int, v uint32) []byte {
		b = slices.Clone(b)
		b[off], b[off+1], b[off+2], b[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		return b
	}
	put64 := func(b []byte, off int, v uint64) []byte {
		b = put32(b, off, uint32(v))
		return put32(b, off+4, uint32(v>>32))
	}
	const (
		offVersion = 8
		offDims    = 12
		offWindow  = 32
		offHead    = 60
		offFitted  = 72
		payload    = headerLen
		offCounts  = payload + 3*16
		offWin     = offCounts + 8*8*4 + 8*24
	)
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "reading header"},
		{"bad magic", append([]byte("VGMVLODB"), good[8:]...), "bad magic"},
		{"future version", put32(good, offVersion, 2), "version 2"},
		{"dims zero", put32(good, offDims, 0), "dims 0"},
		{"huge window", put32(good, offWindow, 1<<30), "window"},
		{"truncated", good[:len(good)-1], "bytes, want"},
		{"trailing byte", append(slices.Clone(good), 0), "bytes, want"},
		{"head beyond window", put32(good, offHead, 16), "window head"},
		{"fitted flag 2", func() []byte { b := slices.Clone(good); b[offFitted] = 2; return b }(), "fitted flag"},
		{"histogram off by one", put32(good, offCounts, 1+uint32(good[offCounts])), "histogram counts"},
		{"NaN in window", put64(good, offWin, math.Float64bits(math.NaN())), "window value 0"},
		{"zero scale", put64(good, payload+3*8, 0), "scaling"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mustNew(t, testConfig(1))
			err := m.Restore(bytes.NewReader(tc.b))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if m.Config() != testConfig(1).withDefaults() || m.Seen() != 0 {
				t.Error("a failed Restore changed the model")
			}
		})
	}
	m := mustNew(t, testConfig(1))
	if err := m.Restore(bytes.NewReader(good)); err != nil {
		t.Fatalf("the unmodified snapshot: %v", err)
	}
}

func FuzzRestore(f *testing.F) {
	f.Add(smallSnapshot(f, 5))
	f.Add(smallSnapshot(f, 30))
	f.Add(smallSnapshot(f, 30)[:90])
	f.Add([]byte("VGMVLODA"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := mustNew(t, Config{Dims: 1, Window: 2})
		if err := m.Restore(bytes.NewReader(b)); err != nil {
			return
		}
		x := make([]float64, m.Config().Dims)
		s, err := m.Score(x)
		if err != nil || math.IsNaN(s) {
			t.Fatalf("restored model scores %v, %v", s, err)
		}
		if _, err := m.Attribute(x, nil); err != nil {
			t.Fatal(err)
		}
		if err := m.Update(x); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := m.Snapshot(&out); err != nil {
			t.Fatal(err)
		}
		if err := m.Restore(&out); err != nil {
			t.Fatalf("own snapshot after an update: %v", err)
		}
	})
}

func TestHostileVectors(t *testing.T) {
	m := mustNew(t, testConfig(1))
	train(t, m, newGen(1), 1100)
	ok := make([]float64, nFeatures)
	for _, tc := range []struct {
		name string
		x    []float64
		want error
	}{
		{"short", ok[:3], ErrDims},
		{"long", make([]float64, nFeatures+1), ErrDims},
		{"nil", nil, ErrDims},
		{"NaN", func() []float64 { x := slices.Clone(ok); x[4] = math.NaN(); return x }(), ErrNonFinite},
		{"+Inf", func() []float64 { x := slices.Clone(ok); x[0] = math.Inf(1); return x }(), ErrNonFinite},
		{"-Inf", func() []float64 { x := slices.Clone(ok); x[11] = math.Inf(-1); return x }(), ErrNonFinite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := m.Seen()
			if _, err := m.Score(tc.x); !errors.Is(err, tc.want) {
				t.Errorf("Score: %v, want %v", err, tc.want)
			}
			if err := m.Update(tc.x); !errors.Is(err, tc.want) {
				t.Errorf("Update: %v, want %v", err, tc.want)
			}
			if _, err := m.Attribute(tc.x, nil); !errors.Is(err, tc.want) {
				t.Errorf("Attribute: %v, want %v", err, tc.want)
			}
			if m.Seen() != seen {
				t.Error("a rejected vector was learnt")
			}
		})
	}
	if _, err := m.Attribute(ok, make([]float64, 2)); !errors.Is(err, ErrDims) {
		t.Errorf("Attribute into a short dst: %v", err)
	}
	// Extreme but finite values must not produce NaN.
	huge := slices.Clone(ok)
	huge[0], huge[1] = math.MaxFloat64, -math.MaxFloat64
	s, err := m.Score(huge)
	if err != nil || math.IsNaN(s) || math.IsInf(s, 0) {
		t.Errorf("extreme vector scores %v, %v", s, err)
	}
	if err := m.Update(huge); err != nil {
		t.Error(err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"no dims", Config{}, "dims 0"},
		{"too many dims", Config{Dims: MaxDims + 1}, "dims 257"},
		{"one bin", Config{Dims: 3, Bins: 1}, "bins 1"},
		{"negative range", Config{Dims: 3, Range: -1}, "range -1"},
		{"NaN range", Config{Dims: 3, Range: math.NaN()}, "range NaN"},
		{"refit beyond window", Config{Dims: 3, Window: 10, Refit: 11}, "refit 11"},
		{"too much memory", Config{Dims: 256, Window: MaxWindow}, "exceeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := New(Config{Dims: 1}); err != nil {
		t.Errorf("minimal config: %v", err)
	}
}

func TestTrainedWarmUp(t *testing.T) {
	cfg := Config{Dims: nFeatures, Window: 200, Refit: 50, Calibration: 300}
	m := mustNew(t, cfg)
	g := newGen(3)
	x := make([]float64, nFeatures)
	for i := 1; i <= 600; i++ {
		g.normal(x)
		s := step(t, m, x)
		if i <= 200 && (s != 0 || m.PValue(s) != 1) {
			t.Fatalf("vector %d: score %v p %v before the first fit", i, s, m.PValue(s))
		}
		// Fitted at 200, then 300 calibration scores.
		if want := i >= 500; m.Trained() != want {
			t.Fatalf("after %d vectors Trained() = %v", i, m.Trained())
		}
	}
}

func TestNoAllocations(t *testing.T) {
	m := mustNew(t, Config{Dims: nFeatures, Window: 256, Refit: 8})
	g := newGen(4)
	train(t, m, g, 600)
	xs := make([][]float64, 64)
	for i := range xs {
		xs[i] = make([]float64, nFeatures)
		g.normal(xs[i])
	}
	attr := make([]float64, nFeatures)
	i := 0
	allocs := testing.AllocsPerRun(500, func() { // crosses many re-fits
		x := xs[i%len(xs)]
		i++
		s, _ := m.Score(x)
		_ = m.PValue(s)
		_, _ = m.Attribute(x, attr)
		_ = m.Update(x)
		_, _, _ = m.Observe(x)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Score+PValue+Attribute+Update+Observe", allocs)
	}
}

func TestMemoryBytes(t *testing.T) {
	for _, c := range []Config{DefaultConfig(12), DefaultConfig(16), {Dims: 12, Window: 256}} {
		c = c.withDefaults()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := mustNew(t, c)
		runtime.ReadMemStats(&after)
		got := after.TotalAlloc - before.TotalAlloc
		want := c.MemoryBytes()
		t.Logf("%+v: MemoryBytes %d, measured %d", c, want, got)
		if float64(got) < float64(want) || float64(got) > 1.1*float64(want)+4096 {
			t.Errorf("measured %d bytes, MemoryBytes says %d", got, want)
		}
		runtime.KeepAlive(m)
	}
}

// PValue (binary search in the sorted copy) must equal the count over the ring,
// across ring wrap-arounds and at exact ties.
func TestPValueMatchesRing(t *testing.T) {
	m := mustNew(t, Config{Dims: nFeatures, Window: 128, Calibration: 100})
	g := newGen(9)
	x := make([]float64, nFeatures)
	for n := range 700 {
		g.normal(x)
		step(t, m, x)
		if n%37 != 0 || m.calFill == 0 {
			continue
		}
		probes := []float64{-1, 0, 1, 1.5, 3, 100, m.calib[0], m.calib[m.calFill-1]}
		for _, s := range probes {
			ge := 0
			for _, c := range m.calib[:m.calFill] {
				if c >= s {
					ge++
				}
			}
			if got, want := m.PValue(s), float64(1+ge)/float64(1+m.calFill); got != want {
				t.Fatalf("after %d: PValue(%v) = %v, ring says %v", n, s, got, want)
			}
		}
	}
	if m.calFill != 100 {
		t.Fatalf("calibration holds %d", m.calFill)
	}
}

func TestObserveEqualsScoreUpdate(t *testing.T) {
	a, b := mustNew(t, testConfig(3)), mustNew(t, testConfig(3))
	g := newGen(4)
	x := make([]float64, nFeatures)
	for i := range 2500 {
		if i%40 == 0 {
			g.outlier(x)
		} else {
			g.normal(x)
		}
		s1, err := a.Score(x)
		if err != nil {
			t.Fatal(err)
		}
		p1 := a.PValue(s1)
		if err := a.Update(x); err != nil {
			t.Fatal(err)
		}
		s2, p2, err := b.Observe(x)
		if err != nil {
			t.Fatal(err)
		}
		if math.Float64bits(s1) != math.Float64bits(s2) || p1 != p2 {
			t.Fatalf("vector %d: Score/PValue %v/%v, Observe %v/%v", i, s1, p1, s2, p2)
		}
	}
	if _, _, err := b.Observe(x[:2]); !errors.Is(err, ErrDims) {
		t.Errorf("Observe of a short vector: %v", err)
	}
	var sa, sb bytes.Buffer
	_ = a.Snapshot(&sa)
	_ = b.Snapshot(&sb)
	if !bytes.Equal(sa.Bytes(), sb.Bytes()) {
		t.Error("Observe and Score+Update leave different states")
	}
}
