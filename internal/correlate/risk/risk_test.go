package risk

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func ent(v string) detect.Entity { return detect.Entity{Kind: detect.EntityUser, Value: v} }

func mustNew(t testing.TB, c Config) *Scorer {
	t.Helper()
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func add(t testing.TB, s *Scorer, cs ...Contribution) {
	t.Helper()
	for _, c := range cs {
		if err := s.Add(c); err != nil {
			t.Fatal(err)
		}
	}
}

func contrib(e string, at time.Duration, sev detect.Severity, rule string) Contribution {
	return Contribution{Entity: ent(e), Time: t0.Add(at), Severity: sev, Confidence: 0.8, RuleID: rule, Tactic: "execution"}
}

func TestRanking(t *testing.T) {
	for _, tc := range []struct {
		name          string
		higher, lower []Contribution
	}{
		{
			name: "ten distinct low signals outrank one critical signal repeated ten times",
			higher: func() (cs []Contribution) {
				for i := range 10 {
					cs = append(cs, contrib("weak", time.Duration(i)*time.Minute, detect.SeverityLow, fmt.Sprintf("low-%d", i)))
				}
				return
			}(),
			lower: func() (cs []Contribution) {
				for i := range 10 {
					cs = append(cs, contrib("loud", time.Duration(i)*time.Minute, detect.SeverityCritical, "crit"))
				}
				return
			}(),
		},
		{
			name:   "two distinct rules outrank one rule twice",
			higher: []Contribution{contrib("a", 0, detect.SeverityMedium, "r1"), contrib("a", time.Minute, detect.SeverityMedium, "r2")},
			lower:  []Contribution{contrib("b", 0, detect.SeverityMedium, "r1"), contrib("b", time.Minute, detect.SeverityMedium, "r1")},
		},
		{
			name:   "higher severity outranks lower",
			higher: []Contribution{contrib("a", 0, detect.SeverityHigh, "r1")},
			lower:  []Contribution{contrib("b", 0, detect.SeverityMedium, "r1")},
		},
		{
			name:   "recent outranks old",
			higher: []Contribution{contrib("a", 24*time.Hour, detect.SeverityHigh, "r1")},
			lower:  []Contribution{contrib("b", 0, detect.SeverityHigh, "r1")},
		},
		{
			name: "precise detector outranks the prior",
			higher: []Contribution{{Entity: ent("a"), Time: t0, Severity: detect.SeverityHigh, Confidence: 0.8,
				Precision: 0.9, RuleID: "r1"}},
			lower: []Contribution{contrib("b", 0, detect.SeverityHigh, "r1")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustNew(t, Config{})
			add(t, s, tc.higher...)
			add(t, s, tc.lower...)
			now := t0.Add(24 * time.Hour)
			top := s.Top(-1, now)
			if len(top) != 2 || top[0].Entity != tc.higher[0].Entity || !(top[0].Score > top[1].Score) {
				for _, b := range top {
					t.Logf("%s %.3f", b.Entity.Value, b.Score)
				}
				t.Fatal("wrong ranking")
			}
		})
	}
}

// TestElasticExponentRanksLoudFirst documents why the default exponent is 1:
// with Elastic's 1.5 the loud duplicate wins.
func TestElasticExponentRanksLoudFirst(t *testing.T) {
	s := mustNew(t, Config{ZetaExponent: 1.5})
	for i := range 10 {
		add(t, s, contrib("weak", 0, detect.SeverityLow, fmt.Sprintf("low-%d", i)), contrib("loud", 0, detect.SeverityCritical, "crit"))
	}
	if top := s.Top(1, t0); top[0].Entity.Value != "loud" {
		t.Errorf("top = %s", top[0].Entity.Value)
	}
}

func TestKnownAnswer(t *testing.T) {
	s := mustNew(t, Config{MaxRules: 4})
	add(t, s,
		Contribution{Entity: ent("a"), Time: t0, Severity: detect.SeverityCritical, Confidence: 1, Precision: 1, RuleID: "c"},
		Contribution{Entity: ent("a"), Time: t0, Severity: detect.SeverityMedium, Confidence: 0.5, Precision: 0, RuleID: "m"},
	)
	bd := s.Score(ent("a"), t0)
	// values 1.0 and 0.6 x 0.5 x 0.5 (prior) = 0.15; S = 1 + 0.15/2; Z = 1 + 1/2 + 1/3 + 1/4.
	wantBase := 100 * (1 + 0.15/2) / (1 + 1.0/2 + 1.0/3 + 1.0/4)
	if math.Abs(bd.Base-wantBase) > 1e-9 || bd.Score != bd.Base || len(bd.Items) != 2 || bd.Items[0].RuleID != "c" ||
		math.Abs(bd.Items[1].Value-0.15) > 1e-12 || bd.Items[1].Weight != 0.5 {
		t.Errorf("breakdown %+v, want base %v", bd, wantBase)
	}
}

func TestCriticalityMonotonic(t *testing.T) {
	var prev float64
	for _, tc := range []struct {
		crit Criticality
		priv bool
	}{
		{CriticalityLow, false}, {CriticalityMedium, false}, {CriticalityHigh, false}, {CriticalityExtreme, false}, {CriticalityExtreme, true},
	} {
		s := mustNew(t, Config{})
		c := contrib("a", 0, detect.SeverityHigh, "r1")
		c.Criticality, c.Privileged = tc.crit, tc.priv
		add(t, s, c, contrib("a", time.Minute, detect.SeverityLow, "r2"))
		// the latest contribution's context wins: restate it
		c2 := contrib("a", 2*time.Minute, detect.SeverityLow, "r2")
		c2.Criticality, c2.Privileged = tc.crit, tc.priv
		add(t, s, c2)
		bd := s.Score(ent("a"), t0.Add(time.Hour))
		if !(bd.Score > prev) || bd.Score >= 100 {
			t.Errorf("%v privileged=%v: score %v not above %v", tc.crit, tc.priv, bd.Score, prev)
		}
		if tc.crit == CriticalityMedium && !tc.priv && math.Abs(bd.Score-bd.Base) > 1e-9 {
			t.Errorf("medium criticality changed the score: %v -> %v", bd.Base, bd.Score)
		}
		// odds: score/(100-score) = base/(100-base) x product of factors
		f := 1.0
		for _, m := range bd.Modifiers {
			f *= m.Factor
		}
		if got, want := bd.Score/(100-bd.Score), bd.Base/(100-bd.Base)*f; math.Abs(got-want) > 1e-9 {
			t.Errorf("%v: odds %v, want %v", tc.crit, got, want)
		}
		prev = bd.Score
	}
}

func TestDecayHalvesAtHalfLife(t *testing.T) {
	for _, hl := range []time.Duration{24 * time.Hour, 48 * time.Hour, 72 * time.Hour} {
		s := mustNew(t, Config{HalfLife: hl, Horizon: 10 * hl})
		add(t, s, contrib("a", 0, detect.SeverityHigh, "r1"))
		b0 := s.Score(ent("a"), t0)
		b1 := s.Score(ent("a"), t0.Add(hl))
		b2 := s.Score(ent("a"), t0.Add(2*hl))
		if math.Abs(b1.Items[0].Value-b0.Items[0].Value/2) > 1e-12 || math.Abs(b1.Items[0].Decay-0.5) > 1e-12 ||
			math.Abs(b1.Base-b0.Base/2) > 1e-9 || math.Abs(b2.Base-b0.Base/4) > 1e-9 {
			t.Errorf("half-life %v: base %v -> %v -> %v", hl, b0.Base, b1.Base, b2.Base)
		}
	}
	// Past the horizon the rule is gone.
	s := mustNew(t, Config{})
	add(t, s, contrib("a", 0, detect.SeverityHigh, "r1"))
	if bd := s.Score(ent("a"), t0.Add(7*24*time.Hour+time.Second)); bd.Score != 0 || len(bd.Items) != 0 {
		t.Errorf("past horizon: %+v", bd)
	}
}

func TestRepeatsDeduplicated(t *testing.T) {
	s := mustNew(t, Config{})
	add(t, s, contrib("a", 0, detect.SeverityHigh, "r1"))
	once := s.Score(ent("a"), t0.Add(time.Hour))
	for i := 1; i < 10; i++ {
		add(t, s, contrib("a", time.Duration(i)*time.Second, detect.SeverityLow, "r1"))
	}
	// A repeat at the scoring time, weaker than the decayed peak, keeps the peak.
	bd := s.Score(ent("a"), t0.Add(time.Hour))
	if len(bd.Items) != 1 || bd.Items[0].Count != 10 || math.Abs(bd.Score-once.Score) > 1e-9 || bd.Items[0].Severity != detect.SeverityHigh {
		t.Errorf("repeats changed the score: %+v vs %+v", bd, once)
	}
	// A later, stronger repeat replaces the peak (refreshes it).
	add(t, s, contrib("a", 30*time.Minute, detect.SeverityCritical, "r1"))
	if bd := s.Score(ent("a"), t0.Add(time.Hour)); bd.Items[0].Severity != detect.SeverityCritical || !(bd.Score > once.Score) {
		t.Errorf("stronger repeat ignored: %+v", bd)
	}
	// An out-of-order older signal that decays below the peak changes nothing but the count.
	before := s.Score(ent("a"), t0.Add(time.Hour))
	add(t, s, contrib("a", -time.Hour, detect.SeverityCritical, "r1"))
	after := s.Score(ent("a"), t0.Add(time.Hour))
	if after.Score != before.Score || after.Items[0].Count != before.Items[0].Count+1 || !after.Items[0].First.Equal(t0.Add(-time.Hour)) {
		t.Errorf("out-of-order repeat: %+v vs %+v", after, before)
	}
}

func TestBreakdownSumsToScore(t *testing.T) {
	s := mustNew(t, Config{})
	for i := range 40 {
		c := contrib(fmt.Sprintf("u%d", i%3), time.Duration(i)*37*time.Minute, detect.Severity(i%5), fmt.Sprintf("r%d", i%17))
		c.Confidence = float64(i%10+1) / 10
		c.Criticality = Criticality(i % 5)
		c.Privileged = i%2 == 0
		add(t, s, c)
	}
	top := s.Top(-1, t0.Add(30*time.Hour))
	if len(top) != 3 {
		t.Fatalf("%d entities", len(top))
	}
	for _, bd := range top {
		var sum float64
		for i, it := range bd.Items {
			sum += it.Points
			if it.Rank != i+1 || (i > 0 && it.Value > bd.Items[i-1].Value) || math.Abs(it.Value-it.Base*it.Decay) > 1e-12 {
				t.Errorf("%s item %d: %+v", bd.Entity.Value, i, it)
			}
		}
		if math.Abs(sum-bd.Score) > 1e-9 || bd.Score <= 0 || bd.Score >= 100 {
			t.Errorf("%s: points sum %v, score %v", bd.Entity.Value, sum, bd.Score)
		}
	}
}

func TestAddRejects(t *testing.T) {
	good := contrib("a", 0, detect.SeverityHigh, "r1")
	for _, tc := range []struct {
		reason string
		mod    func(c *Contribution)
	}{
		{RejectEntity, func(c *Contribution) { c.Entity.Value = "" }},
		{RejectEntity, func(c *Contribution) { c.Entity.Kind = "" }},
		{RejectEntity, func(c *Contribution) { c.Entity.Value = string(make([]byte, maxStringLen+1)) }},
		{RejectTime, func(c *Contribution) { c.Time = time.Time{} }},
		{RejectSeverity, func(c *Contribution) { c.Severity = 5 }},
		{RejectConfidence, func(c *Contribution) { c.Confidence = math.NaN() }},
		{RejectConfidence, func(c *Contribution) { c.Confidence = 1.5 }},
		{RejectConfidence, func(c *Contribution) { c.Confidence = -0.1 }},
		{RejectPrecision, func(c *Contribution) { c.Precision = math.Inf(1) }},
		{RejectRule, func(c *Contribution) { c.RuleID = "" }},
		{RejectRule, func(c *Contribution) { c.Tactic = string(make([]byte, maxStringLen+1)) }},
		{RejectContext, func(c *Contribution) { c.Criticality = 9 }},
	} {
		s := mustNew(t, Config{})
		c := good
		tc.mod(&c)
		err := s.Add(c)
		if !errors.Is(err, ErrInvalid) || s.Stats().Rejected[tc.reason] != 1 || s.Stats().Entities != 0 || s.Stats().Added != 0 {
			t.Errorf("%s: err %v, stats %+v", tc.reason, err, s.Stats())
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{}, true},
		{"elastic exponent", Config{ZetaExponent: 1.5}, true},
		{"negative half-life", Config{HalfLife: -time.Hour}, false},
		{"horizon below half-life", Config{HalfLife: 48 * time.Hour, Horizon: time.Hour}, false},
		{"too many rules", Config{MaxRules: maxRulesCap + 1}, false},
		{"negative entities", Config{MaxEntities: -1}, false},
		{"exponent NaN", Config{ZetaExponent: math.NaN()}, false},
		{"prior above one", Config{PriorPrecision: 2}, false},
		{"bad weight", Config{SeverityWeights: [5]float64{0, 0, 0, 0, 2}}, false},
		{"zero criticality modifier", Config{CriticalityModifiers: [5]float64{1, 0, 1, 1, 1}}, false},
		{"negative privileged", Config{PrivilegedModifier: -1}, false},
	} {
		if _, err := New(tc.cfg); (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.name, err)
		}
	}
	if _, err := ParseCriticality("extreme"); err != nil {
		t.Error(err)
	}
	if _, err := ParseCriticality("critical"); err == nil {
		t.Error("ParseCriticality(critical) accepted")
	}
}

func TestBoundedMemory(t *testing.T) {
	s := mustNew(t, Config{MaxEntities: 3, MaxRules: 2})
	for i := range 5 {
		add(t, s, contrib(fmt.Sprintf("u%d", i), time.Duration(i)*time.Minute, detect.SeverityMedium, "r"))
	}
	st := s.Stats()
	if st.Entities != 3 || st.Evicted != 2 || s.Score(ent("u0"), t0).Score != 0 || s.Score(ent("u4"), t0.Add(time.Hour)).Score == 0 {
		t.Errorf("entity cap: %+v", st)
	}
	// Touching u2 makes u3 the coldest.
	add(t, s, contrib("u2", 10*time.Minute, detect.SeverityMedium, "r"), contrib("u5", 11*time.Minute, detect.SeverityMedium, "r"))
	if s.Score(ent("u3"), t0.Add(time.Hour)).Score != 0 || s.Score(ent("u2"), t0.Add(time.Hour)).Score == 0 {
		t.Error("LRU order not kept")
	}
	// Context: unknown criticality keeps the known one; privilege is sticky.
	c := contrib("u5", 11*time.Minute, detect.SeverityMedium, "r")
	c.Criticality, c.Privileged = CriticalityHigh, true
	add(t, s, c, contrib("u5", 11*time.Minute, detect.SeverityMedium, "r"))
	if m := s.Score(ent("u5"), t0.Add(time.Hour)).Modifiers; len(m) != 2 || m[0].Name != "criticality:high" || m[1].Name != "privileged" {
		t.Errorf("context lost: %+v", m)
	}
	// Rule cap: a stronger rule replaces the weakest, a weaker one is dropped.
	add(t, s,
		contrib("u5", 12*time.Minute, detect.SeverityHigh, "h"),
		contrib("u5", 13*time.Minute, detect.SeverityCritical, "c"),
		contrib("u5", 14*time.Minute, detect.SeverityInfo, "i"))
	bd := s.Score(ent("u5"), t0.Add(time.Hour))
	if len(bd.Items) != 2 || bd.Items[0].RuleID != "c" || bd.Items[1].RuleID != "h" || s.Stats().Replaced != 1 || s.Stats().Dropped != 1 {
		t.Errorf("rule cap: %+v %+v", bd.Items, s.Stats())
	}
	// Advance expires entities past the horizon.
	s.Advance(t0.Add(7*24*time.Hour + 12*time.Minute))
	if st := s.Stats(); st.Entities != 1 || st.Expired != 2 {
		t.Errorf("advance: %+v", st)
	}
}

// TestMemoryPerEntity measures heap bytes per tracked entity with 4 rules each
// (figure quoted in the package doc).
func TestMemoryPerEntity(t *testing.T) {
	const n = 20000
	s := mustNew(t, Config{})
	cs := make([]Contribution, 0, n*4)
	for i := range n {
		for r := range 4 {
			cs = append(cs, Contribution{Entity: ent(fmt.Sprintf("user%06d", i)), Time: t0, Severity: detect.SeverityLow,
				Confidence: 1, RuleID: ruleNames[r], Tactic: "execution"})
		}
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	add(t, s, cs...)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	t.Logf("heap %d -> %d", m0.HeapAlloc, m1.HeapAlloc)
	per := (float64(m1.HeapAlloc) - float64(m0.HeapAlloc)) / n
	t.Logf("%.0f bytes per entity with 4 rules (rule ids shared)", per)
	if per < 100 || per > 1500 {
		t.Errorf("%.0f bytes per entity", per)
	}
	runtime.KeepAlive(cs)
	runtime.KeepAlive(s)
}

var ruleNames = []string{"sigma.a", "sigma.b", "behavior.c", "ioc.d"}

func stream(n int) []Contribution {
	cs := make([]Contribution, 0, n)
	for i := range n {
		cs = append(cs, Contribution{Entity: ent(fmt.Sprintf("u%d", i*7%50)), Time: t0.Add(time.Duration(i*i%9000) * time.Minute),
			Severity: detect.Severity(i % 5), Confidence: float64(i%7+1) / 7, Precision: float64(i%3) / 2,
			RuleID: fmt.Sprintf("r%d", i*13%40), Tactic: "execution", Criticality: Criticality(i % 5), Privileged: i%4 == 0})
	}
	return cs
}

func TestSnapshotRestore(t *testing.T) {
	cfg := Config{MaxEntities: 40, MaxRules: 8}
	cs := stream(3000)
	a := mustNew(t, cfg)
	add(t, a, cs[:2000]...)
	_ = a.Add(Contribution{}) // one counted reject travels too
	var buf bytes.Buffer
	if err := a.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	b := mustNew(t, cfg)
	if err := b.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	add(t, a, cs[2000:]...)
	add(t, b, cs[2000:]...)
	now := t0.Add(9000 * time.Minute)
	if ta, tb := a.Top(-1, now), b.Top(-1, now); !reflect.DeepEqual(ta, tb) || len(ta) == 0 {
		t.Errorf("restored scorer diverges: %d vs %d entities", len(ta), len(tb))
	}
	if !reflect.DeepEqual(a.Stats(), b.Stats()) {
		t.Errorf("stats %+v vs %+v", a.Stats(), b.Stats())
	}
	var sa, sb bytes.Buffer
	if err := a.Snapshot(&sa); err != nil {
		t.Fatal(err)
	}
	if err := b.Snapshot(&sb); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sa.Bytes(), sb.Bytes()) {
		t.Error("snapshots of original and restored differ")
	}
	// Hostile snapshots are rejected and leave state unchanged.
	small := mustNew(t, Config{MaxEntities: 2})
	for name, in := range map[string][]byte{
		"empty":     nil,
		"magic":     []byte("XXXX"),
		"version":   []byte("VRSK\x02"),
		"truncated": buf.Bytes()[:len(buf.Bytes())/2],
		"trailing":  append(bytes.Clone(buf.Bytes()), 0),
		"over cap":  buf.Bytes(),
	} {
		if err := small.Restore(bytes.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestTopDeterministic(t *testing.T) {
	s := mustNew(t, Config{})
	for _, v := range []string{"c", "a", "b"} {
		add(t, s, contrib(v, 0, detect.SeverityHigh, "r"))
	}
	top := s.Top(2, t0)
	if len(top) != 2 || top[0].Entity.Value != "a" || top[1].Entity.Value != "b" {
		t.Errorf("%v", top)
	}
}

func FuzzRestore(f *testing.F) {
	s := mustNew(f, Config{MaxEntities: 8, MaxRules: 4})
	add(f, s, stream(200)...)
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("VRSK\x01\x00\x00\x00\x00\x00\x00\x01"))
	f.Add([]byte("VRSK\x01\x00\x00\x00\x00\x00\x00\x01\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := mustNew(t, Config{MaxEntities: 8, MaxRules: 4})
		if err := r.Restore(bytes.NewReader(in)); err != nil {
			return
		}
		// A restored scorer works and snapshots to the same bytes.
		var out bytes.Buffer
		if err := r.Snapshot(&out); err != nil {
			t.Fatal(err)
		}
		r2 := mustNew(t, Config{MaxEntities: 8, MaxRules: 4})
		if err := r2.Restore(&out); err != nil {
			t.Fatalf("re-restoring: %v", err)
		}
		_ = r.Top(-1, t0)
		_ = r.Add(contrib("x", 0, detect.SeverityHigh, "r"))
	})
}

func BenchmarkAdd(b *testing.B) {
	s := mustNew(b, Config{})
	const entities, rules = 10000, 64
	cs := make([]Contribution, 1<<16)
	for i := range cs {
		cs[i] = Contribution{Entity: ent(fmt.Sprintf("user%05d", i*7919%entities)), Time: t0.Add(time.Duration(i) * time.Second),
			Severity: detect.Severity(i % 5), Confidence: 0.7, RuleID: fmt.Sprintf("rule-%02d", i*31%rules), Tactic: "execution"}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := cs[i&(len(cs)-1)]
		c.Time = t0.Add(time.Duration(i) * time.Second)
		if err := s.Add(c); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "contributions/s")
}

func BenchmarkScore(b *testing.B) {
	s := mustNew(b, Config{})
	for i := range 32 {
		add(b, s, contrib("a", time.Duration(i)*time.Minute, detect.Severity(i%5), fmt.Sprintf("r%d", i)))
	}
	for b.Loop() {
		_ = s.Score(ent("a"), t0.Add(time.Hour))
	}
}

// TestElasticWorkedExample reproduces the example in Elastic's "Entity risk
// scoring" page: alerts with risk scores 70, 45, 21, 21, 21 aggregate to 36.16,
// and Extreme impact criticality (weight 2) lifts it to 53.11.
func TestElasticWorkedExample(t *testing.T) {
	s := mustNew(t, Config{ZetaExponent: 1.5, Normalizer: 2.612, MaxRules: 1024,
		SeverityWeights: [5]float64{0, 0.21, 0.45, 0.70, 0.99}})
	for i, sev := range []detect.Severity{detect.SeverityLow, detect.SeverityMedium, detect.SeverityLow, detect.SeverityHigh, detect.SeverityLow} {
		c := Contribution{Entity: ent("User_A"), Time: t0, Severity: sev, Confidence: 1, Precision: 1, RuleID: fmt.Sprintf("alert-%d", i+1)}
		add(t, s, c)
	}
	bd := s.Score(ent("User_A"), t0)
	if math.Round(bd.Base*100)/100 != 36.16 || bd.Score != bd.Base {
		t.Errorf("aggregated %v, want 36.16", bd.Base)
	}
	add(t, s, Contribution{Entity: ent("User_A"), Time: t0, Severity: detect.SeverityLow, Confidence: 1, Precision: 1,
		RuleID: "alert-1", Criticality: CriticalityExtreme})
	// Elastic prints the parts rounded: 36.16 + 16.95 = 53.11.
	if bd := s.Score(ent("User_A"), t0); math.Abs(math.Round(bd.Base*100)/100+math.Round((bd.Score-bd.Base)*100)/100-53.11) > 1e-9 {
		t.Errorf("with extreme criticality %v (base %v), want 36.16 + 16.95", bd.Score, bd.Base)
	}
}

func FuzzAdd(f *testing.F) {
	f.Add(uint8(3), 0.8, 0.5, "r1", int64(0), uint8(2), true)
	f.Add(uint8(9), math.NaN(), -1.0, "", int64(-1), uint8(7), false)
	f.Fuzz(func(t *testing.T, sev uint8, conf, prec float64, rule string, dt int64, crit uint8, priv bool) {
		s := mustNew(t, Config{MaxEntities: 4, MaxRules: 3})
		for i := range 6 {
			c := Contribution{Entity: ent(fmt.Sprint(i % 5)), Time: t0.Add(time.Duration(dt) * time.Duration(i)), Severity: detect.Severity(sev),
				Confidence: conf, Precision: prec, RuleID: rule + fmt.Sprint(i%4), Criticality: Criticality(crit), Privileged: priv}
			_ = s.Add(c)
		}
		top := s.Top(-1, t0.Add(time.Duration(dt)*6))
		for i, bd := range top {
			if i > 0 && bd.Score > top[i-1].Score {
				t.Fatalf("Top not sorted: %v after %v", bd.Score, top[i-1].Score)
			}
			var sum float64
			for _, it := range bd.Items {
				sum += it.Points
			}
			if !(bd.Score > 0 && bd.Score <= 100) || math.Abs(sum-bd.Score) > 1e-6 {
				t.Fatalf("%+v", bd)
			}
			if q := s.Score(bd.Entity, bd.At); q.Score != bd.Score {
				t.Fatalf("Score %v != Top %v", q.Score, bd.Score)
			}
		}
	})
}

func BenchmarkTop(b *testing.B) {
	s := mustNew(b, Config{})
	for i := range 100_000 {
		add(b, s, Contribution{Entity: ent(fmt.Sprintf("user%06d", i%20000)), Time: t0.Add(time.Duration(i) * time.Second),
			Severity: detect.Severity(i % 5), Confidence: 0.7, RuleID: fmt.Sprintf("rule-%02d", i%13)})
	}
	now := t0.Add(100_000 * time.Second)
	for b.Loop() {
		if len(s.Top(20, now)) != 20 {
			b.Fatal("short")
		}
	}
}

// TestMergeEqualsOneEntity: two entities' contributions merged score exactly as
// the same contributions made to one entity.
func TestMergeEqualsOneEntity(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	a, b, one := detect.Entity{Kind: "incident", Value: "a"}, detect.Entity{Kind: "incident", Value: "b"}, detect.Entity{Kind: "incident", Value: "one"}
	split, _ := New(Config{})
	whole, _ := New(Config{})
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		c := Contribution{Time: t0.Add(time.Duration(r.IntN(96)) * time.Hour), Severity: detect.Severity(r.IntN(5)),
			Confidence: r.Float64(), RuleID: fmt.Sprintf("r%d", r.IntN(40)), Tactic: "execution"}
		c.Entity = a
		if i%3 == 0 {
			c.Entity = b
		}
		if err := split.Add(c); err != nil {
			t.Fatal(err)
		}
		c.Entity = one
		if err := whole.Add(c); err != nil {
			t.Fatal(err)
		}
	}
	split.Merge(b, a)
	at := t0.Add(100 * time.Hour)
	got, want := split.Score(a, at), whole.Score(one, at)
	if math.Abs(got.Score-want.Score) > 1e-9 || len(got.Items) != len(want.Items) {
		t.Fatalf("merged %.6f (%d rules), one entity %.6f (%d rules)", got.Score, len(got.Items), want.Score, len(want.Items))
	}
	if split.Score(b, at).Score != 0 || split.Stats().Entities != 1 {
		t.Errorf("merged-away entity still scored: %+v", split.Stats())
	}
	split.Forget(a)
	if split.Stats().Entities != 0 {
		t.Error("Forget kept the entity")
	}
}
