package correlate

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate/risk"
	"github.com/vigilsec/vigil/internal/detect"
)

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func sig(id string, at time.Duration, tactic string, sev detect.Severity, ents ...string) detect.Signal {
	s := detect.Signal{ID: id, Time: t0.Add(at), DetectorID: "test", RuleID: "r-" + tactic, Title: id, Severity: sev, Confidence: 0.5}
	if tactic != "" {
		s.Tactics = []string{tactic}
	}
	for _, e := range ents {
		kind, value, _ := strings.Cut(e, ":")
		s.Entities = append(s.Entities, detect.Entity{Kind: detect.EntityKind(kind), Value: value})
	}
	return s
}

func TestCorrelator(t *testing.T) {
	tests := []struct {
		name    string
		signals []detect.Signal
		want    [][]string // signal ids per incident, in incident order
	}{
		{"shared user joins", []detect.Signal{
			sig("a", 0, "credential-access", detect.SeverityLow, "user:alice", "ip:203.0.113.5"),
			sig("b", time.Hour, "lateral-movement", detect.SeverityMedium, "user:alice", "host:ws-1"),
			sig("c", 2*time.Hour, "execution", detect.SeverityHigh, "host:ws-1", "process:c:\\x.exe"),
		}, [][]string{{"a", "b", "c"}}},
		{"outside the window stays apart", []detect.Signal{
			sig("a", 0, "execution", detect.SeverityLow, "user:alice"),
			sig("b", 25*time.Hour, "execution", detect.SeverityLow, "user:alice"),
		}, [][]string{{"a"}, {"b"}}},
		{"a chain over days links step by step", []detect.Signal{
			sig("a", 0, "", detect.SeverityLow, "user:alice"),
			sig("b", 20*time.Hour, "", detect.SeverityLow, "user:alice", "host:h1"),
			sig("c", 40*time.Hour, "", detect.SeverityLow, "host:h1"),
		}, [][]string{{"a", "b", "c"}}},
		{"process paths do not link", []detect.Signal{
			sig("a", 0, "", detect.SeverityLow, "user:alice", "process:c:\\chrome.exe"),
			sig("b", time.Minute, "", detect.SeverityLow, "user:bob", "process:c:\\chrome.exe"),
		}, [][]string{{"a"}, {"b"}}},
		{"a bridge merges two incidents into the older", []detect.Signal{
			sig("a", 0, "", detect.SeverityLow, "user:alice"),
			sig("b", time.Minute, "", detect.SeverityLow, "host:h9"),
			sig("c", 2*time.Minute, "", detect.SeverityLow, "user:alice", "host:h9"),
		}, [][]string{{"a", "b", "c"}}},
		{"case of entity values is ignored", []detect.Signal{
			sig("a", 0, "", detect.SeverityLow, "host:WS-1"),
			sig("b", time.Minute, "", detect.SeverityLow, "host:ws-1"),
		}, [][]string{{"a", "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Options{})
			for _, s := range tt.signals {
				c.Add(s)
			}
			got := c.Incidents()
			if len(got) != len(tt.want) {
				t.Fatalf("%d incidents, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				if fmt.Sprint(got[i].SignalIDs) != fmt.Sprint(w) {
					t.Errorf("incident %d: signals %v, want %v", i, got[i].SignalIDs, w)
				}
			}
		})
	}
}

func TestHubsDoNotLink(t *testing.T) {
	c := New(Options{HubDegree: 3})
	// dc01 is seen with 5 users within the window: a hub.
	for i := range 5 {
		c.Add(sig(fmt.Sprintf("s%d", i), time.Duration(i)*time.Minute, "", detect.SeverityLow, fmt.Sprintf("user:u%d", i), "host:dc01"))
	}
	c.Add(sig("x", time.Hour, "", detect.SeverityLow, "user:mallory", "host:dc01"))
	for _, inc := range c.Incidents() {
		for _, id := range inc.SignalIDs {
			if id == "x" && len(inc.SignalIDs) != 1 {
				t.Fatalf("a signal joined others through a hub: %v", inc.SignalIDs)
			}
		}
	}
}

func TestIncidentContent(t *testing.T) {
	c := New(Options{})
	c.Add(sig("a", 0, "credential-access", detect.SeverityLow, "user:alice", "host:ws-1"))
	c.Add(sig("a2", time.Minute, "credential-access", detect.SeverityLow, "user:alice", "host:ws-1"))
	c.Add(sig("b", time.Hour, "lateral-movement", detect.SeverityHigh, "user:alice", "host:ws-2"))
	incs := c.Incidents()
	if len(incs) != 1 {
		t.Fatalf("%d incidents", len(incs))
	}
	inc := incs[0]
	if inc.Title != "Credential access then Lateral movement from alice on ws-1 (3 signals, 2 distinct)" {
		t.Errorf("title %q", inc.Title)
	}
	if inc.Severity != detect.SeverityHigh || inc.FirstSeen != t0 || inc.LastSeen != t0.Add(time.Hour) {
		t.Errorf("severity %v, first %v, last %v", inc.Severity, inc.FirstSeen, inc.LastSeen)
	}
	// Two distinct pieces of evidence of confidence 0.5: 1 - 0.5 x 0.5.
	if inc.Confidence != 0.75 {
		t.Errorf("confidence %v, want 0.75 (a repeat counts once)", inc.Confidence)
	}
	if !strings.HasPrefix(inc.ID, "inc-") || inc.Entities[0] != (detect.Entity{Kind: detect.EntityUser, Value: "alice"}) {
		t.Errorf("id %q, entities %v", inc.ID, inc.Entities)
	}
	// The id is stable: the same signals give the same id.
	c2 := New(Options{})
	c2.Add(sig("a", 0, "credential-access", detect.SeverityLow, "user:alice", "host:ws-1"))
	if c2.Incidents()[0].ID != inc.ID {
		t.Error("incident id depends on more than its first signal")
	}
}

func BenchmarkCorrelator(b *testing.B) {
	sigs := make([]detect.Signal, 10000)
	for i := range sigs {
		sigs[i] = sig(fmt.Sprintf("s%d", i), time.Duration(i)*time.Second, "execution", detect.SeverityLow,
			fmt.Sprintf("user:u%d", i%500), fmt.Sprintf("host:h%d", (i*7)%800), fmt.Sprintf("ip:10.0.%d.%d", i%7, i%250))
		sigs[i].Evidence = []detect.EvidenceRef{{EventID: fmt.Sprintf("e%d", i)}, {EventID: fmt.Sprintf("e%d", i+1)}}
	}
	b.ReportAllocs()
	for b.Loop() {
		c := New(Options{})
		for _, s := range sigs {
			c.Add(s)
		}
	}
	b.ReportMetric(float64(len(sigs))*float64(b.N)/b.Elapsed().Seconds(), "signals/s")
}

// BenchmarkCorrelatorStream is the service's loop: 200,000 signals over 20
// days from 5,000 users and 8,000 hosts, each citing two events, with the
// changed incidents rendered every 1,000 signals and the idle ones closed every
// hour of event time.
func BenchmarkCorrelatorStream(b *testing.B) {
	const n = 200_000
	step := 20 * 24 * time.Hour / n
	sigs := make([]detect.Signal, n)
	for i := range sigs {
		sigs[i] = sig(fmt.Sprintf("s%d", i), time.Duration(i)*step, "execution", detect.SeverityLow,
			fmt.Sprintf("user:u%d", (i*31)%5000), fmt.Sprintf("host:h%d", (i*7)%8000))
		sigs[i].Evidence = []detect.EvidenceRef{{EventID: fmt.Sprintf("e%d", i)}, {EventID: fmt.Sprintf("e%d", i+1)}}
	}
	b.ReportAllocs()
	peak := 0
	for b.Loop() {
		c := New(Options{})
		next := sigs[0].Time.Add(time.Hour)
		for i, s := range sigs {
			c.Add(s)
			if i%1000 == 999 {
				c.Updated()
			}
			if s.Time.After(next) {
				c.Expire(s.Time)
				next = s.Time.Add(time.Hour)
				peak = max(peak, c.Stats().Open)
			}
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "signals/s")
	b.ReportMetric(float64(peak), "peak-open")
}

func TestContextRaisesRisk(t *testing.T) {
	signals := []detect.Signal{
		sig("a", 0, "credential-access", detect.SeverityMedium, "user:alice", "host:db-1"),
		sig("b", time.Hour, "lateral-movement", detect.SeverityMedium, "user:alice", "host:db-1"),
	}
	riskWith := func(ctx func(detect.Entity) (risk.Criticality, bool)) float64 {
		c := New(Options{Context: ctx})
		for _, s := range signals {
			c.Add(s)
		}
		return c.Incidents()[0].Risk
	}
	host := func(crit risk.Criticality) func(detect.Entity) (risk.Criticality, bool) {
		return func(e detect.Entity) (risk.Criticality, bool) {
			if e.Kind == detect.EntityHost {
				return crit, false
			}
			return risk.CriticalityUnknown, false
		}
	}
	none, low, high, extreme := riskWith(nil), riskWith(host(risk.CriticalityLow)), riskWith(host(risk.CriticalityHigh)), riskWith(host(risk.CriticalityExtreme))
	if !(low < none && none < high && high < extreme) {
		t.Errorf("risk by criticality: low %.2f, none %.2f, high %.2f, extreme %.2f: want increasing", low, none, high, extreme)
	}
	privileged := riskWith(func(e detect.Entity) (risk.Criticality, bool) {
		return risk.CriticalityUnknown, e.Kind == detect.EntityUser
	})
	if privileged <= none {
		t.Errorf("privileged user: risk %.2f, without %.2f", privileged, none)
	}
}

// TestPostureRaisesRisk: an incident on a workload whose pod spec vigil scan
// found privileged scores higher, and says why; a snapshot keeps it.
func TestPostureRaisesRisk(t *testing.T) {
	signals := []detect.Signal{
		sig("a", 0, "execution", detect.SeverityMedium, "workload:payments/api-7d9f8-x2k4q", "user:system:serviceaccount:payments:api"),
		sig("b", time.Hour, "privilege-escalation", detect.SeverityMedium, "workload:payments/api-7d9f8-x2k4q", "host:node-3"),
	}
	run := func(p func(detect.Entity) (Exposure, string)) (*Correlator, Incident) {
		c := New(Options{Posture: p})
		for _, s := range signals {
			c.Add(s)
		}
		return c, c.Incidents()[0]
	}
	exposed := func(lv Exposure) func(detect.Entity) (Exposure, string) {
		return func(e detect.Entity) (Exposure, string) {
			if e.Kind == detect.EntityWorkload {
				return lv, "workload payments/Deployment/api: Privileged container (VGL-K8S-001, high)"
			}
			return 0, ""
		}
	}
	_, none := run(nil)
	_, medium := run(exposed(2))
	c, critical := run(exposed(4))
	if !(none.Risk < medium.Risk && medium.Risk < critical.Risk) {
		t.Errorf("risk by exposure: none %.2f, medium %.2f, critical %.2f: want increasing", none.Risk, medium.Risk, critical.Risk)
	}
	if len(none.Posture) != 0 || len(critical.Posture) != 1 || !strings.Contains(critical.Posture[0], "VGL-K8S-001") {
		t.Errorf("posture reasons: without %q, with %q", none.Posture, critical.Posture)
	}
	var snap bytes.Buffer
	if err := c.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	back := New(Options{Posture: exposed(4)})
	if err := back.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	if got := back.Incidents()[0]; got.Risk != critical.Risk || len(got.Posture) != 1 {
		t.Errorf("restored: risk %.2f posture %q; before %.2f %q", got.Risk, got.Posture, critical.Risk, critical.Posture)
	}
}

func TestResolveLinksAliases(t *testing.T) {
	signals := []detect.Signal{
		sig("a", 0, "", detect.SeverityLow, `user:CORP\alice`),
		sig("b", time.Minute, "", detect.SeverityLow, "user:alice@corp.example"),
		sig("c", 2*time.Minute, "", detect.SeverityLow, "host:ws-042"),
		sig("d", 3*time.Minute, "", detect.SeverityLow, "ip:10.0.0.42"),
	}
	t0 := signals[0].Time
	leaseUntil := t0.Add(time.Hour) // 10.0.0.42 is ws-042 while the lease lasts
	resolve := func(e detect.Entity, at time.Time) detect.Entity {
		switch e.Value {
		case `CORP\alice`:
			return detect.Entity{Kind: detect.EntityUser, Value: "alice@corp.example"}
		case "10.0.0.42":
			if at.Before(leaseUntil) {
				return detect.Entity{Kind: detect.EntityHost, Value: "ws-042"}
			}
		}
		return e
	}
	expired := func(e detect.Entity, at time.Time) detect.Entity {
		leaseUntil = t0.Add(time.Minute) // the address changed hands before d
		return resolve(e, at)
	}
	for _, tt := range []struct {
		resolve func(detect.Entity, time.Time) detect.Entity
		want    int
	}{{nil, 4}, {resolve, 2}, {expired, 3}} {
		c := New(Options{Resolve: tt.resolve})
		for _, s := range signals {
			c.Add(s)
		}
		if got := len(c.Incidents()); got != tt.want {
			t.Errorf("resolve %v: %d incidents, want %d", tt.resolve != nil, got, tt.want)
		}
	}
}

// TestEvidenceLinks: a Sigma correlation (or any signal) citing an event another
// signal cites joins its incident even when they name no entity in common, and
// cited events make no one a hub.
func TestEvidenceLinks(t *testing.T) {
	withEv := func(s detect.Signal, ids ...string) detect.Signal {
		for _, id := range ids {
			s.Evidence = append(s.Evidence, detect.EvidenceRef{EventID: id, Time: s.Time})
		}
		return s
	}
	c := New(Options{})
	c.Add(withEv(sig("rule", 0, "credential-access", detect.SeverityLow, "user:alice", "host:ws-1"), "ev1"))
	c.Add(withEv(sig("corr", time.Minute, "credential-access", detect.SeverityMedium, "ip:203.0.113.9"), "ev1", "ev2"))
	c.Add(withEv(sig("other", 2*time.Minute, "", detect.SeverityLow, "user:bob"), "ev9"))
	if incs := c.Incidents(); len(incs) != 2 || len(incs[0].SignalIDs) != 2 {
		t.Fatalf("want rule and corr together and other apart: %+v", incs)
	}
	for _, e := range c.Incidents()[0].Entities {
		if e.Kind == evidenceKind {
			t.Errorf("evidence listed as an entity: %+v", e)
		}
	}
	// Many signals of one user, each citing its own event: the user stays
	// linkable (events are not neighbours).
	c = New(Options{})
	for i := range 30 {
		c.Add(withEv(sig(fmt.Sprintf("s%d", i), time.Duration(i)*time.Minute, "", detect.SeverityLow, "user:carol"), fmt.Sprintf("e%d", i)))
	}
	if incs := c.Incidents(); len(incs) != 1 {
		t.Errorf("carol's 30 signals in %d incidents", len(incs))
	}
}

// TestEntityRisk: entities are scored on their own, across incidents: many
// distinct weak signals on one user outrank one loud signal repeated on
// another, a privileged identity ranks higher, and the breakdown explains it.
func TestEntityRisk(t *testing.T) {
	ctx := func(e detect.Entity) (risk.Criticality, bool) {
		return risk.CriticalityUnknown, e.Value == "root-admin"
	}
	c := New(Options{Context: ctx})
	for i := range 9 {
		at := 100*time.Hour + time.Duration(i)*time.Hour
		if i == 0 {
			at = 70 * time.Hour // more than a day before the others: another incident
		}
		s := sig(fmt.Sprintf("a%d", i), at, "discovery", detect.SeverityLow, "user:alice")
		s.RuleID = fmt.Sprintf("weak-%d", i)
		c.Add(s)
	}
	for i := range 9 {
		c.Add(sig(fmt.Sprintf("b%d", i), 100*time.Hour+time.Duration(i)*time.Hour+time.Minute, "impact", detect.SeverityHigh, "user:bob"))
	}
	c.Add(sig("r", 108*time.Hour+2*time.Minute, "discovery", detect.SeverityLow, "user:root-admin"))
	c.Add(sig("n", 108*time.Hour+3*time.Minute, "discovery", detect.SeverityLow, "user:nobody"))
	top := c.EntityRisk(-1, t0.Add(109*time.Hour))
	rank := map[string]int{}
	for i, b := range top {
		rank[b.Entity.Value] = i
	}
	if len(c.Incidents()) != 5 || rank["alice"] > rank["bob"] || rank["root-admin"] > rank["nobody"] {
		t.Fatalf("%d incidents; ranking %v", len(c.Incidents()), rank)
	}
	a := top[rank["alice"]]
	if len(a.Items) != 9 || a.Score <= 0 {
		t.Errorf("alice's breakdown: %+v", a)
	}
	if r := top[rank["root-admin"]]; len(r.Modifiers) != 1 || r.Modifiers[0].Name != "privileged" {
		t.Errorf("root-admin's modifiers: %+v", r.Modifiers)
	}
	// A week later the scores have decayed; the peaks say who was at risk, and when.
	later := t0.Add(200 * time.Hour)
	peaks := c.PeakEntityRisk(2)
	if now := c.EntityRisk(1, later); len(now) != 1 || now[0].Score >= a.Score {
		t.Errorf("risk a week later: %+v, at the end of the signals %.2f", now, a.Score)
	}
	if len(peaks) != 2 || peaks[0].Entity.Value != "alice" || peaks[0].Score < a.Score || !peaks[0].At.Equal(t0.Add(108*time.Hour)) {
		t.Errorf("peaks %+v, want alice first, at her last signal", peaks)
	}
}

// TestPrecisionWeighsRisk: a rule analysts found mostly wrong contributes less.
func TestPrecisionWeighsRisk(t *testing.T) {
	signals := []detect.Signal{
		sig("a", 0, "credential-access", detect.SeverityMedium, "user:alice", "host:ws-1"),
		sig("b", time.Hour, "lateral-movement", detect.SeverityMedium, "user:alice", "host:ws-2"),
	}
	riskWith := func(p func(string, string) float64) float64 {
		c := New(Options{Precision: p})
		for _, s := range signals {
			c.Add(s)
		}
		return c.Incidents()[0].Risk
	}
	prior := riskWith(nil)
	low := riskWith(func(_, rule string) float64 {
		if rule == "r-credential-access" {
			return 0.1
		}
		return 0
	})
	high := riskWith(func(string, string) float64 { return 0.95 })
	if !(low < prior && prior < high) {
		t.Errorf("risk with precision 0.1: %.2f, prior: %.2f, 0.95: %.2f; want increasing", low, prior, high)
	}
}
