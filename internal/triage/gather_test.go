package triage

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
)

func aroundIDs(d Dossier) []string {
	var out []string
	for _, a := range d.Around {
		out = append(out, a.ID)
	}
	return out
}

func relatedIDs(d Dossier) []string {
	var out []string
	for _, r := range d.Related {
		out = append(out, r.ID)
	}
	return out
}

func TestGather(t *testing.T) {
	st, inc := openFixture(t)
	ctx := context.Background()
	tests := []struct {
		name      string
		opts      GatherOptions
		around    []string
		related   []string
		firstSeen []string
		evidence  []string
		truncated []string
	}{
		{
			name:      "defaults",
			around:    []string{"h-ws-01", "a-spray-bob", "a-country", "a-during", "a-rdp"},
			related:   []string{"inc-spray-bob", "inc-fs-share"},
			firstSeen: []string{"a-country", "s-fs-host"},
			evidence:  []string{"ev-lsass-1", "ev-lsass-2", "ev-psexec", "ev-exfil", "ev-spray-1"},
		},
		{
			name:      "narrow window",
			opts:      GatherOptions{Before: time.Hour, After: time.Hour},
			around:    []string{"a-during"},
			related:   []string{"inc-fs-share"},
			firstSeen: []string{"s-fs-host"},
			evidence:  []string{"ev-lsass-1", "ev-lsass-2", "ev-psexec", "ev-exfil", "ev-spray-1"},
		},
		{
			name:      "wide window reaches older incidents and signals",
			opts:      GatherOptions{Before: 80 * time.Hour, After: 30 * time.Hour},
			around:    []string{"h-dc-0", "h-ws-03", "h-bkp-0", "h-ws-02", "x-early", "h-ws-01", "a-spray-bob", "a-country", "a-during", "a-rdp", "x-late"},
			related:   []string{"inc-old", "inc-spray-bob", "inc-fs-share"},
			firstSeen: []string{"a-country", "s-fs-host"},
			evidence:  []string{"ev-lsass-1", "ev-lsass-2", "ev-psexec", "ev-exfil", "ev-spray-1"},
		},
		{
			name:      "caps",
			opts:      GatherOptions{MaxAround: 2, MaxRelated: 1, MaxFirstSeen: 1, EvidenceSignals: 1, EvidencePerSignal: 1},
			around:    []string{"h-ws-01", "a-spray-bob"},
			related:   []string{"inc-spray-bob"},
			firstSeen: []string{"a-country"},
			evidence:  []string{"ev-lsass-1"},
			truncated: []string{"around", "evidence_per_signal", "first_seen", "related"},
		},
		{
			name:      "only the first entity",
			opts:      GatherOptions{MaxEntities: 1, MaxEvidence: 2},
			around:    []string{"h-ws-01", "a-country", "a-rdp"},
			related:   []string{"inc-fs-share"},
			firstSeen: []string{"a-country", "s-fs-host"},
			evidence:  []string{"ev-lsass-1", "ev-lsass-2"},
			truncated: []string{"evidence"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Gather(ctx, st, inc, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := aroundIDs(d); !slices.Equal(got, tc.around) {
				t.Errorf("around %v, want %v", got, tc.around)
			}
			if got := relatedIDs(d); !slices.Equal(got, tc.related) {
				t.Errorf("related %v, want %v", got, tc.related)
			}
			var fs, ev []string
			for _, f := range d.FirstSeen {
				fs = append(fs, f.SignalID)
			}
			for _, e := range d.Evidence {
				ev = append(ev, e.EventID)
			}
			if !slices.Equal(fs, tc.firstSeen) {
				t.Errorf("first seen %v, want %v", fs, tc.firstSeen)
			}
			if !slices.Equal(ev, tc.evidence) {
				t.Errorf("evidence %v, want %v", ev, tc.evidence)
			}
			if !slices.Equal(d.Truncated, tc.truncated) {
				t.Errorf("truncated %v, want %v", d.Truncated, tc.truncated)
			}
			if len(d.IncidentSignals) != len(incidentSpecs) || d.MissingSignals != 1 {
				t.Errorf("%d incident signals, %d missing; want %d, 1", len(d.IncidentSignals), d.MissingSignals, len(incidentSpecs))
			}
		})
	}
}

func TestGatherDetails(t *testing.T) {
	st, inc := openFixture(t)
	d, err := Gather(context.Background(), st, inc, GatherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []detect.Entity{alice, fs01, sprayIP, aliceIP, exfilIP}; !slices.Equal(d.Entities, want) {
		t.Errorf("leading entities %v, want %v", d.Entities, want)
	}
	if !d.Since.Equal(t0.Add(-24*time.Hour)) || !d.Until.Equal(t0.Add(55*time.Minute+24*time.Hour)) {
		t.Errorf("window %s..%s", d.Since, d.Until)
	}
	whens := map[string]string{}
	ons := map[string][]detect.Entity{}
	for _, a := range d.Around {
		whens[a.ID] = a.When
		ons[a.ID] = a.On
	}
	if whens["a-spray-bob"] != "before" || whens["a-during"] != "during" || whens["a-rdp"] != "after" {
		t.Errorf("when: %v", whens)
	}
	if !slices.Equal(ons["a-spray-bob"], []detect.Entity{sprayIP}) || !slices.Equal(ons["a-rdp"], []detect.Entity{alice}) {
		t.Errorf("on: %v", ons)
	}
	for _, r := range d.Related {
		if r.ID == "inc-fs-share" && !slices.Equal(r.Shared, []detect.Entity{alice, fs01}) {
			t.Errorf("inc-fs-share shares %v, want alice and fs-01", r.Shared)
		}
	}
	if len(d.FirstSeen) != 2 || d.FirstSeen[0].Entity != alice || d.FirstSeen[0].Value.Value != "NL" || d.FirstSeen[0].InIncident ||
		!d.FirstSeen[1].InIncident || d.FirstSeen[1].Value != fs01 {
		t.Errorf("first seen %+v", d.FirstSeen)
	}
	prev := map[string]RulePrevalence{}
	for _, p := range d.Prevalence {
		prev[p.RuleID] = p
	}
	if p := prev["rule-spray"]; p.Signals != 14 || p.Users != 14 || p.Entities != 27 || !p.Widespread {
		t.Errorf("spray prevalence %+v: want 14 signals (12 noise, bob, alice), 14 users, 27 entities, widespread", p)
	}
	if p := prev["rule-lsass"]; p.Signals != 1 || p.Entities != 2 || p.Hosts != 1 || p.Widespread {
		t.Errorf("lsass prevalence %+v", p)
	}
	if len(d.Prevalence) != 6 {
		t.Errorf("%d rules measured, want 6", len(d.Prevalence))
	}
	if d.Evidence[0].SignalID != "s-lsass" || string(d.Evidence[0].Event) == "" {
		t.Errorf("first evidence %+v", d.Evidence[0])
	}
}

func TestGatherScanCap(t *testing.T) {
	st, inc := openFixture(t)
	d, err := Gather(context.Background(), st, inc, GatherOptions{MaxScan: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(d.Truncated, `scan:user:corp\alice`) {
		t.Errorf("truncated %v, want the alice scan", d.Truncated)
	}
	for _, p := range d.Prevalence {
		if p.RuleID == "rule-spray" && (!p.Truncated || p.Signals != 3) {
			t.Errorf("spray prevalence under a scan cap of 3: %+v", p)
		}
	}
}

func TestGatherErrors(t *testing.T) {
	st, inc := openFixture(t)
	bad := inc
	bad.FirstSeen = time.Time{}
	if _, err := Gather(context.Background(), st, bad, GatherOptions{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("zero first seen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Gather(ctx, st, inc, GatherOptions{}); err == nil {
		t.Error("cancelled context: no error")
	}
	empty := correlate.Incident{ID: "inc-empty", FirstSeen: t0, LastSeen: t0}
	d, err := Gather(context.Background(), st, empty, GatherOptions{})
	if err != nil || len(d.Around)+len(d.Related)+len(d.Evidence)+len(d.Prevalence) != 0 {
		t.Errorf("incident without entities or signals: %+v, %v", d, err)
	}
}
