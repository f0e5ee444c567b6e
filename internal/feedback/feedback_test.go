package feedback

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func sig(id, det, rule string, at time.Duration, ents ...string) detect.Signal {
	s := detect.Signal{ID: id, DetectorID: det, RuleID: rule, Time: t0.Add(at)}
	for _, e := range ents {
		k, v, _ := strings.Cut(e, ":")
		s.Entities = append(s.Entities, detect.Entity{Kind: detect.EntityKind(k), Value: v})
	}
	return s
}

func fb(id string, kind store.TargetKind, target string, v store.Verdict, scope string) store.Feedback {
	return store.Feedback{ID: id, TargetKind: kind, TargetID: target, Verdict: v, Scope: scope, Author: "ana", Created: t0}
}

func TestSuppressionScopes(t *testing.T) {
	rollout := sig("s1", "behavior.first_seen", "host_process", 0, "host:WS-1", `process:c:\agent.exe`)
	incSigs := []detect.Signal{rollout, sig("s2", "sigma", "r9", time.Minute, "host:ws-1", "user:alice")}
	look := Lookup{
		Signal:   func(id string) (detect.Signal, bool) { return rollout, id == "s1" },
		Incident: func(id string) ([]detect.Signal, bool) { return incSigs, id == "inc-1" },
	}
	later := 48 * time.Hour
	cases := []struct {
		name string
		fb   store.Feedback
		sig  detect.Signal
		want bool
	}{
		{"no scope teaches only", fb("f", store.TargetSignal, "s1", store.VerdictFalsePositive, ""),
			sig("x", "behavior.first_seen", "host_process", later, "host:ws-1"), false},
		{"rule scope, other host", fb("f", store.TargetSignal, "s1", store.VerdictFalsePositive, "rule"),
			sig("x", "behavior.first_seen", "host_process", later, "host:ws-9"), true},
		{"rule scope, other rule", fb("f", store.TargetSignal, "s1", store.VerdictFalsePositive, "rule"),
			sig("x", "behavior.first_seen", "user_host", later, "host:ws-1"), false},
		{"entity scope, same host any case", fb("f", store.TargetSignal, "s1", store.VerdictBenignTruePositive, "entity"),
			sig("x", "behavior.first_seen", "host_process", later, "host:ws-1"), true},
		{"entity scope, other host", fb("f", store.TargetSignal, "s1", store.VerdictBenignTruePositive, "entity"),
			sig("x", "behavior.first_seen", "host_process", later, "host:ws-2"), false},
		{"value scope", fb("f", store.TargetSignal, "s1", store.VerdictFalsePositive, `value:process:C:\agent.exe`),
			sig("x", "behavior.first_seen", "host_process", later, "host:ws-7", `process:c:\agent.exe`), true},
		{"value scope, other value", fb("f", store.TargetSignal, "s1", store.VerdictFalsePositive, `value:process:C:\agent.exe`),
			sig("x", "behavior.first_seen", "host_process", later, "host:ws-7", `process:c:\evil.exe`), false},
		{"true positive never suppresses", fb("f", store.TargetSignal, "s1", store.VerdictTruePositive, "rule"),
			sig("x", "behavior.first_seen", "host_process", later, "host:ws-1"), false},
		{"incident, entity scope covers its rules", fb("f", store.TargetIncident, "inc-1", store.VerdictFalsePositive, "entity"),
			sig("x", "sigma", "r9", later, "user:Alice"), true},
		{"rule target", fb("f", store.TargetRule, "sigma/r9", store.VerdictFalsePositive, ""),
			sig("x", "sigma", "r9", later, "user:bob"), true},
		{"rule target with value", fb("f", store.TargetRule, "sigma/r9", store.VerdictFalsePositive, "value:user:bob"),
			sig("x", "sigma", "r9", later, "user:carol"), false},
		{"entity target, any rule", fb("f", store.TargetEntity, "host:scanner-1", store.VerdictBenignTruePositive, ""),
			sig("x", "sigma", "r1", later, "host:SCANNER-1"), true},
	}
	for _, c := range cases {
		b := New(Prior{})
		if err := b.Add(c.fb, look); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if _, got := b.Suppressed(&c.sig); got != c.want {
			t.Errorf("%s: suppressed %v, want %v", c.name, got, c.want)
		}
	}
}

func TestExpiryIsEventTime(t *testing.T) {
	b := New(Prior{})
	f := fb("f", store.TargetRule, "sigma/r1", store.VerdictFalsePositive, "rule")
	f.Expires = t0.Add(24 * time.Hour)
	if err := b.Add(f, Lookup{}); err != nil {
		t.Fatal(err)
	}
	before, after := sig("a", "sigma", "r1", time.Hour), sig("b", "sigma", "r1", 25*time.Hour)
	if _, ok := b.Suppressed(&before); !ok {
		t.Error("a signal before the expiry is not suppressed")
	}
	if _, ok := b.Suppressed(&after); ok {
		t.Error("a signal after the expiry is suppressed")
	}
}

func TestPrecisionPosterior(t *testing.T) {
	b := New(Prior{})
	if p := b.Precision("sigma", "r1"); p != 0 {
		t.Fatalf("no verdict, precision %v (want 0: the scorer's prior)", p)
	}
	for i, v := range []store.Verdict{store.VerdictFalsePositive, store.VerdictFalsePositive, store.VerdictBenignTruePositive, store.VerdictTruePositive, store.VerdictDuplicate} {
		if err := b.Add(fb(string(rune('a'+i)), store.TargetRule, "sigma/r1", v, ""), Lookup{}); err != nil {
			t.Fatal(err)
		}
	}
	// Beta(1,1) + 1 TP + 3 FP (benign counts as not worth it) = Beta(2, 4)
	if p := b.Precision("sigma", "r1"); p != 2.0/6 {
		t.Errorf("precision %v, want %v", p, 2.0/6)
	}
	ps := b.Posteriors()
	if len(ps) != 1 || ps[0].TP != 1 || ps[0].FP != 3 {
		t.Errorf("posteriors %+v", ps)
	}
	// An incident verdict counts once per distinct rule of the incident.
	look := Lookup{Incident: func(string) ([]detect.Signal, bool) {
		return []detect.Signal{sig("1", "sigma", "r2", 0), sig("2", "sigma", "r2", time.Minute), sig("3", "sigma", "r3", 0)}, true
	}}
	if err := b.Add(fb("i", store.TargetIncident, "inc", store.VerdictTruePositive, ""), look); err != nil {
		t.Fatal(err)
	}
	// a true incident's credit is shared: half a count to each of its two rules
	if b.Precision("sigma", "r2") != 1.5/2.5 || b.Precision("sigma", "r3") != 1.5/2.5 {
		t.Errorf("incident verdict: r2 %v, r3 %v", b.Precision("sigma", "r2"), b.Precision("sigma", "r3"))
	}
}

func TestAddRejects(t *testing.T) {
	look := Lookup{Signal: func(string) (detect.Signal, bool) { return detect.Signal{}, false }}
	for _, f := range []store.Feedback{
		fb("", store.TargetRule, "sigma/r1", store.VerdictFalsePositive, ""),
		fb("a", store.TargetRule, "no-slash", store.VerdictFalsePositive, ""),
		fb("a", store.TargetRule, "sigma/r1", "maybe", ""),
		fb("a", store.TargetRule, "sigma/r1", store.VerdictFalsePositive, "entity"),
		fb("a", store.TargetSignal, "missing", store.VerdictFalsePositive, ""),
		fb("a", store.TargetIncident, "inc", store.VerdictFalsePositive, ""),
		fb("a", store.TargetEntity, "nokind", store.VerdictFalsePositive, ""),
		fb("a", store.TargetEntity, "host:x", store.VerdictFalsePositive, "rule"),
	} {
		b := New(Prior{})
		if err := b.Add(f, look); err == nil {
			t.Errorf("%+v accepted", f)
		}
		if b.Len() != 0 || len(b.Posteriors()) != 0 {
			t.Errorf("%+v: a rejected verdict changed the book", f)
		}
	}
	b := New(Prior{})
	err := b.Add(fb("a", store.TargetSignal, "s1", store.VerdictFalsePositive, "sideways"),
		Lookup{Signal: func(string) (detect.Signal, bool) { return sig("s1", "d", "r", 0), true }})
	if err == nil || b.Len() != 0 || len(b.Posteriors()) != 0 {
		t.Errorf("bad scope: %v, book %d", err, b.Len())
	}
}

func TestRead(t *testing.T) {
	in := `# verdicts
{"id":"f1","target_kind":"rule","target_id":"sigma/r1","verdict":"false_positive","scope":"rule","author":"ana","created":"2026-03-02T09:00:00Z"}

{"id":"f2","target_kind":"incident","target_id":"inc-1","verdict":"maybe","author":"ana","created":"2026-03-02T09:00:00Z"}
not json
{"id":"f3","target_kind":"rule","target_id":"sigma/r1","verdict":"true_positive","author":"ana","created":"2026-03-02T09:00:00Z","extra":1}
{"id":"f4","target_kind":"entity","target_id":"host:x","verdict":"benign_true_positive","author":"ana","created":"2026-03-02T09:00:00Z"} {}
`
	got, rejected, err := Read(strings.NewReader(in), "v.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "f1" {
		t.Errorf("loaded %+v", got)
	}
	var lines []int
	for _, r := range rejected {
		lines = append(lines, r.Line)
		if r.File != "v.jsonl" || r.Reason == "" {
			t.Errorf("reject without place or reason: %+v", r)
		}
	}
	if want := []int{4, 5, 6, 7}; len(lines) != len(want) || lines[0] != 4 || lines[3] != 7 {
		t.Errorf("rejected lines %v, want %v", lines, want)
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"id":"f1","target_kind":"rule","target_id":"sigma/r1","verdict":"false_positive","scope":"value:user:bob","author":"ana","created":"2026-03-02T09:00:00Z","expires":"2026-04-01T00:00:00Z"}` + "\n"))
	f.Add([]byte(`{"id":"f2","target_kind":"entity","target_id":"host:x","verdict":"benign_true_positive","scope":"entity","author":"a","created":"2026-03-02T09:00:00Z"}`))
	f.Add([]byte("# only a comment\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, rejected, err := Read(strings.NewReader(string(data)), "f")
		if err != nil {
			return // a line past MaxLine
		}
		for _, r := range rejected {
			if r.Line <= 0 || r.Reason == "" {
				t.Fatalf("reject without a place or reason: %+v", r)
			}
		}
		// Whatever loads is a valid verdict the book either takes or refuses
		// with an error, and a signal then checks without panicking.
		b := New(Prior{})
		for _, fb := range got {
			if err := fb.Validate(); err != nil {
				t.Fatalf("loaded an invalid verdict: %v", err)
			}
			_ = b.Add(fb, Lookup{})
		}
		s := sig("x", "sigma", "r1", 0, "user:bob", "host:x")
		b.Suppressed(&s)
		for _, p := range b.Posteriors() {
			if m := p.Mean(); !(m > 0 && m < 1) {
				t.Fatalf("posterior mean %v out of (0, 1)", m)
			}
		}
	})
}

// TestPooledPrecision: a behavioral model's rules share their evidence (a rule
// without verdicts takes its model's estimate; one with few is shrunk toward
// it); Sigma rules do not.
func TestPooledPrecision(t *testing.T) {
	b := New(Prior{})
	for i, target := range []string{"behavior.first_seen/user_host", "behavior.first_seen/user_country", "sigma/r1"} {
		if err := b.Add(fb(string(rune('a'+i)), store.TargetRule, target, store.VerdictFalsePositive, ""), Lookup{}); err != nil {
			t.Fatal(err)
		}
	}
	// pooled: 2 false positives over Beta(1,1): mean 1/4; a sibling without
	// verdicts takes it, a rule with one FP is (0 + 2/4) / (1 + 2) = 1/6
	if p := b.Precision("behavior.first_seen", "host_process"); p != 0.25 {
		t.Errorf("sibling without verdicts: %v, want 0.25", p)
	}
	if p := b.Precision("behavior.first_seen", "user_host"); math.Abs(p-1.0/6) > 1e-12 {
		t.Errorf("rule with one false positive: %v, want 1/6", p)
	}
	if p := b.Precision("sigma", "r2"); p != 0 {
		t.Errorf("an unrelated Sigma rule took %v from r1", p)
	}
	if p := b.Precision("sigma", "r1"); math.Abs(p-1.0/3) > 1e-12 {
		t.Errorf("sigma r1: %v, want 1/3", p)
	}
	if p := b.Precision("behavior.c2", "beacon"); p != 0 {
		t.Errorf("another model took %v", p)
	}
}

// TestTruePositivesDoNotPool: a true detection vouches for its own rule only;
// its siblings keep the prior (pooled, it let benign incidents of the model
// cross the reporting threshold in the labelling experiment).
func TestTruePositivesDoNotPool(t *testing.T) {
	b := New(Prior{})
	if err := b.Add(fb("a", store.TargetRule, "behavior.first_seen/user_host", store.VerdictTruePositive, ""), Lookup{}); err != nil {
		t.Fatal(err)
	}
	if p := b.Precision("behavior.first_seen", "user_country"); p != 0 {
		t.Errorf("sibling took %v from a true positive", p)
	}
	if p := b.Precision("behavior.first_seen", "user_host"); p <= 0.5 {
		t.Errorf("the rule itself: %v, want above the prior", p)
	}
}

// TestNormalMarks: false and benign verdicts on behavioral signals become "this
// is normal" for the baselines the signals name (a value scope keeps those
// naming the value); true positives, duplicates and signals without a baseline
// give none.
func TestNormalMarks(t *testing.T) {
	newProc := sig("s1", "behavior.first_seen", "first_seen.host_process", 0, "host:ws-1", `process:c:\agent.exe`)
	newProc.Baseline = detect.Baseline{Entity: "ws-1", Attribute: `c:\agent.exe`}
	hours := sig("s2", "behavior.multivariate", "multivariate.user_hour", time.Hour, "user:alice")
	hours.Baseline = detect.Baseline{Entity: "alice", Attribute: "file_accesses"}
	rule := sig("s3", "sigma", "r9", 2*time.Hour, "host:ws-1")
	inc := []detect.Signal{newProc, hours, rule}
	look := Lookup{
		Signal: func(id string) (detect.Signal, bool) {
			for _, s := range inc {
				if s.ID == id {
					return s, true
				}
			}
			return detect.Signal{}, false
		},
		Incident: func(id string) ([]detect.Signal, bool) { return inc, id == "inc-1" },
	}
	until := t0.Add(30 * 24 * time.Hour)
	cases := []struct {
		name string
		fb   store.Feedback
		want []Normal
	}{
		{"benign incident: every baseline in it", func() store.Feedback {
			f := fb("f1", store.TargetIncident, "inc-1", store.VerdictBenignTruePositive, "entity")
			f.Expires = until
			return f
		}(), []Normal{
			{Detector: "behavior.first_seen", Entity: "ws-1", Attribute: `c:\agent.exe`, Until: until, Feedback: "f1"},
			{Detector: "behavior.multivariate", Entity: "alice", Attribute: "file_accesses", Until: until, Feedback: "f1"},
		}},
		{"false positive signal, no scope", fb("f2", store.TargetSignal, "s2", store.VerdictFalsePositive, ""),
			[]Normal{{Detector: "behavior.multivariate", Entity: "alice", Attribute: "file_accesses", Feedback: "f2"}}},
		{"value scope keeps the baselines naming it", fb("f3", store.TargetIncident, "inc-1", store.VerdictFalsePositive, `value:process:C:\Agent.exe`),
			[]Normal{{Detector: "behavior.first_seen", Entity: "ws-1", Attribute: `c:\agent.exe`, Feedback: "f3"}}},
		{"true positive", fb("f4", store.TargetIncident, "inc-1", store.VerdictTruePositive, ""), nil},
		{"duplicate", fb("f5", store.TargetIncident, "inc-1", store.VerdictDuplicate, ""), nil},
		{"a Sigma signal names no baseline", fb("f6", store.TargetSignal, "s3", store.VerdictFalsePositive, "entity"), nil},
		{"rule target", fb("f7", store.TargetRule, "behavior.multivariate/multivariate.user_hour", store.VerdictFalsePositive, ""), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := New(Prior{})
			if err := b.Add(c.fb, look); err != nil {
				t.Fatal(err)
			}
			if err := b.Add(c.fb, look); err != nil { // the same verdict twice marks once
				t.Fatal(err)
			}
			if got := b.Normal(); !slices.Equal(got, c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}
