package eval

import (
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
)

var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

func at(h float64) time.Time { return t0.Add(time.Duration(h * float64(time.Hour))) }

func testTruth() *Truth {
	return &Truth{Version: 1, Start: t0, End: at(24 * 14),
		Campaigns: []Episode{
			{ID: "c1", Name: "spray", Start: at(10), End: at(20), Techniques: []string{"T1110.003", "T1003.001"},
				Entities: []Entity{{Kind: "user", Value: "alice@corp.example"}, {Kind: "host", Value: "ws-042.corp.example"}},
				Events:   []TruthEvent{{File: "windows/security.json", Offset: 100, Technique: "T1110.003"}, {File: "windows/sysmon.json", Offset: 500, Technique: "T1003.001"}}},
			{ID: "c2", Name: "beacon", Start: at(50), End: at(60), Techniques: []string{"T1071.001"},
				Entities: []Entity{{Kind: "ip", Value: "203.0.113.7"}},
				Events:   []TruthEvent{{File: "zeek/http.log", Offset: 42}}},
		},
		Benign: []Episode{{ID: "b1", Kind: "new_laptop", Start: at(100), End: at(110), Entities: []Entity{{Kind: "host", Value: "ws-777"}}}},
	}
}

func sig(id, det, rule string, h float64, ents []detect.Entity, ev ...detect.EvidenceRef) detect.Signal {
	return detect.Signal{ID: id, DetectorID: det, RuleID: rule, Time: at(h), Entities: ents, Evidence: ev}
}

func ent(k, v string) []detect.Entity { return []detect.Entity{{Kind: detect.EntityKind(k), Value: v}} }

func score(tr *Truth, slack time.Duration, sigs []detect.Signal, incs []Incident) *Report {
	s := NewScorer(tr, slack)
	for i := range sigs {
		s.AddSignal(&sigs[i])
	}
	for i := range incs {
		s.AddIncident(&incs[i])
	}
	return s.Report()
}

func val(t *testing.T, r Ratio) float64 {
	t.Helper()
	if r.Value == nil {
		return -1
	}
	return *r.Value
}

func TestPerfect(t *testing.T) {
	r := score(testTruth(), time.Hour, []detect.Signal{
		sig("s1", "sigma", "r1", 11, ent("user", "alice@corp.example"), detect.EvidenceRef{Source: "/data/ds/windows/security.json", Offset: 100}),
		sig("s2", "beacon", "", 52, ent("ip", "203.0.113.7"), detect.EvidenceRef{Source: "ds/zeek/http.log", Offset: 42}),
	}, nil)
	if val(t, r.CampaignRecall) != 1 || val(t, r.EvidenceRecall) != 1 || val(t, r.IncidentPrecision) != 1 {
		t.Fatalf("recall %s evidence %s precision %s", r.CampaignRecall, r.EvidenceRecall, r.IncidentPrecision)
	}
	if !r.IncidentsFromSignals || *r.ReductionRatio != 1 {
		t.Errorf("reduction %v from signals %v", *r.ReductionRatio, r.IncidentsFromSignals)
	}
	if *r.Campaigns[0].TTDSeconds != 3600 || *r.Campaigns[1].TTDSeconds != 7200 || *r.MedianTTDSeconds != 5400 {
		t.Errorf("ttd %v %v median %v", *r.Campaigns[0].TTDSeconds, *r.Campaigns[1].TTDSeconds, *r.MedianTTDSeconds)
	}
	// T1110.003 covered by a labelled event; T1003.001 and T1071.001 not.
	if r.TechniqueCoverage.N != 1 || r.TechniqueCoverage.D != 3 {
		t.Errorf("technique coverage %s", r.TechniqueCoverage)
	}
	if len(r.Detectors) != 3 { // beacon, sigma, sigma/r1
		t.Fatalf("detectors %+v", r.Detectors)
	}
	if d := r.Detectors[2]; d.Rule != "r1" || val(t, d.Precision) != 1 || val(t, d.Recall) != 0.5 {
		t.Errorf("sigma r1: %+v", d)
	}
}

func TestEmpty(t *testing.T) {
	r := score(testTruth(), time.Hour, nil, nil)
	if val(t, r.CampaignRecall) != 0 || r.IncidentPrecision.Value != nil || r.ReductionRatio != nil || r.MedianTTDSeconds != nil {
		t.Errorf("%+v", r)
	}
	r = score(&Truth{Version: 1}, time.Hour, nil, nil)
	if r.CampaignRecall.Value != nil {
		t.Errorf("no campaigns: recall %s", r.CampaignRecall)
	}
}

func TestPartialAndFalsePositives(t *testing.T) {
	r := score(testTruth(), time.Hour, []detect.Signal{
		sig("s1", "sigma", "r1", 12, ent("host", "WS-042")),         // c1 by short host name
		sig("s2", "sigma", "r2", 12, ent("host", "ws-999")),         // nothing
		sig("s3", "novelty", "", 105, ent("host", "ws-777.corp.x")), // benign b1
		sig("s4", "novelty", "", 30, ent("ip", "203.0.113.7")),      // c2's entity, outside its time
	}, nil)
	if r.CampaignRecall.N != 1 || r.EvidenceRecall.N != 0 || r.IncidentPrecision.N != 1 || r.IncidentPrecision.D != 4 {
		t.Errorf("recall %s evidence %s precision %s", r.CampaignRecall, r.EvidenceRecall, r.IncidentPrecision)
	}
	if r.BenignIncidents != 1 || r.UnmatchedIncidents != 2 {
		t.Errorf("benign %d unmatched %d", r.BenignIncidents, r.UnmatchedIncidents)
	}
	for _, d := range r.Detectors {
		if d.Detector == "novelty" && (d.Benign != 1 || val(t, d.Precision) != 0) {
			t.Errorf("novelty %+v", d)
		}
	}
}

func TestMergedIncident(t *testing.T) {
	sigs := []detect.Signal{
		sig("s1", "sigma", "r1", 11, ent("user", "ALICE@corp.example")),
		sig("s2", "beacon", "", 55, nil, detect.EvidenceRef{Source: `C:\ds\zeek\http.log`, Offset: 42}),
		sig("s3", "beacon", "", 56, nil),
	}
	incs := []Incident{{ID: "i1", Start: at(11), End: at(56), SignalIDs: []string{"s1", "s2", "s3"}}}
	r := score(testTruth(), time.Hour, sigs, incs)
	if r.CampaignRecall.N != 2 || r.IncidentPrecision.N != 1 || r.IncidentPrecision.D != 1 || r.IncidentsFromSignals {
		t.Errorf("recall %s precision %s", r.CampaignRecall, r.IncidentPrecision)
	}
	if *r.ReductionRatio != 3 || r.EvidenceRecall.N != 1 || !r.Campaigns[1].EvidenceDetected {
		t.Errorf("reduction %v evidence %s", *r.ReductionRatio, r.EvidenceRecall)
	}
	// The merged incident starts before c2: time to detect is clamped at 0.
	if *r.Campaigns[1].TTDSeconds != 0 {
		t.Errorf("c2 ttd %v", *r.Campaigns[1].TTDSeconds)
	}
}

func TestSlackBoundaries(t *testing.T) {
	for _, tt := range []struct {
		h     float64
		slack time.Duration
		want  int
	}{
		{9, time.Hour, 1}, {8.99, time.Hour, 0}, {21, time.Hour, 1}, {21.01, time.Hour, 0},
		{10, 0, 1}, {9.99, 0, 0}, {20, 0, 1}, {15, 0, 1},
	} {
		r := score(testTruth(), tt.slack, []detect.Signal{sig("s", "d", "", tt.h, ent("user", "alice@corp.example"))}, nil)
		if r.CampaignRecall.N != tt.want {
			t.Errorf("signal at %vh, slack %s: detected %d, want %d", tt.h, tt.slack, r.CampaignRecall.N, tt.want)
		}
	}
}

func TestEntityCanonicalMatching(t *testing.T) {
	for _, tt := range []struct {
		kind, value string
		want        int
	}{
		{"user", "Alice@Corp.Example", 1},
		{"user", "alice", 1},               // no domain: matches by name
		{"user", "alice@other.example", 0}, // another domain
		{"user", "CORP\\alice", 0},         // NetBIOS domain is not the DNS one
		{"host", "WS-042", 1},
		{"host", "ws-042.other.example.", 1}, // short name
		{"host", "ws-04", 0},
		{"HOST", "ws-042", 1},
		{"ip", "203.0.113.8", 0},
		{"process", "alice@corp.example", 0},
	} {
		r := score(testTruth(), time.Hour, []detect.Signal{sig("s", "d", "", 15, ent(tt.kind, tt.value))}, nil)
		if r.CampaignRecall.N != tt.want {
			t.Errorf("%s %q: detected %d, want %d", tt.kind, tt.value, r.CampaignRecall.N, tt.want)
		}
	}
	tr := testTruth()
	tr.Campaigns[1].Entities = []Entity{{Kind: "ip", Value: "::ffff:203.0.113.7"}}
	r := score(tr, time.Hour, []detect.Signal{sig("s", "d", "", 55, ent("ip", "203.0.113.7"))}, nil)
	if r.CampaignRecall.N != 1 {
		t.Errorf("v4-mapped ip: %s", r.CampaignRecall)
	}
}

// TestEntityAliases: a signal naming an entity by one of its aliases (the NetBIOS
// form Windows logs, the identity provider's login) counts as naming the entity.
func TestEntityAliases(t *testing.T) {
	tr := testTruth()
	tr.Campaigns[0].Entities[0].Aliases = []string{`CORP\alice`, "alice.smith@okta.example"}
	for _, tt := range []struct {
		value string
		want  int
	}{
		{`CORP\alice`, 1},
		{`corp\ALICE`, 1},
		{"alice.smith@okta.example", 1},
		{`OTHER\alice`, 0},
		{"alice.smith", 1}, // no domain: matches the alias's name
	} {
		r := score(tr, time.Hour, []detect.Signal{sig("s", "d", "", 15, ent("user", tt.value))}, nil)
		if r.CampaignRecall.N != tt.want {
			t.Errorf("user %q: detected %d, want %d", tt.value, r.CampaignRecall.N, tt.want)
		}
	}
}

func TestEvidenceMatching(t *testing.T) {
	for _, tt := range []struct {
		source string
		offset int64
		want   int
	}{
		{"windows/security.json", 100, 1},
		{"/x/windows/security.json", 100, 1},
		{"/x/windows/security.json", 101, 0},
		{"/x/otherwindows/security.json", 100, 0},
		{"/x/windows/sysmon.json", 100, 0},
	} {
		// Far outside the campaign's time and with no entity: only evidence can match.
		r := score(testTruth(), time.Hour, []detect.Signal{sig("s", "d", "", 300, nil, detect.EvidenceRef{Source: tt.source, Offset: tt.offset})}, nil)
		if r.EvidenceRecall.N != tt.want || r.CampaignRecall.N != tt.want {
			t.Errorf("%s@%d: evidence %s recall %s, want %d", tt.source, tt.offset, r.EvidenceRecall, r.CampaignRecall, tt.want)
		}
	}
}

func TestTechniqueBySignal(t *testing.T) {
	s := sig("s", "sigma", "r", 15, nil, detect.EvidenceRef{Source: "d/windows/security.json", Offset: 100})
	s.Techniques = []string{"t1003"} // parent of T1003.001, evidence cites campaign c1
	r := score(testTruth(), time.Hour, []detect.Signal{s}, nil)
	if r.TechniqueCoverage.N != 2 {
		t.Errorf("coverage %s %+v", r.TechniqueCoverage, r.Techniques)
	}
}
