package triage

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/correlate/risk"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

// The fixture is one intrusion told through hand-built signals: a password spray
// from 203.0.113.7 lands on alice, who moves to the file server fs-01 with a
// PsExec-style service, dumps LSASS, archives and uploads data. Around it: the
// spray's earlier hits on other users, first-seen facts, an RDP logon later,
// noise outside the window, other incidents sharing entities, and fourteen days
// of alice's and fs-01's history for the blast radius.

var t0 = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

var (
	alice    = detect.Entity{Kind: detect.EntityUser, Value: `corp\alice`}
	bob      = detect.Entity{Kind: detect.EntityUser, Value: `corp\bob`}
	carol    = detect.Entity{Kind: detect.EntityUser, Value: `corp\carol`}
	svcBkp   = detect.Entity{Kind: detect.EntityUser, Value: `corp\svc-backup`}
	fs01     = detect.Entity{Kind: detect.EntityHost, Value: "fs-01.corp.example"}
	wsAlice  = detect.Entity{Kind: detect.EntityHost, Value: "ws-alice.corp.example"}
	dc01     = detect.Entity{Kind: detect.EntityHost, Value: "dc-01.corp.example"}
	sql01    = detect.Entity{Kind: detect.EntityHost, Value: "sql-01.corp.example"}
	sprayIP  = detect.Entity{Kind: detect.EntityIP, Value: "203.0.113.7"}
	aliceIP  = detect.Entity{Kind: detect.EntityIP, Value: "10.0.5.21"}
	exfilIP  = detect.Entity{Kind: detect.EntityIP, Value: "198.51.100.9"}
	sevenZip = detect.Entity{Kind: detect.EntityProcess, Value: `C:\ProgramData\7z.exe`}
)

type sigSpec struct {
	id, det, rule, title string
	at                   time.Duration // from t0
	sev                  detect.Severity
	conf                 float64
	tactic, tech         string
	ents                 []detect.Entity
	evidence             []string
	summary              string
}

func (s sigSpec) signal() detect.Signal {
	sig := detect.Signal{
		ID: s.id, Time: t0.Add(s.at), DetectorID: s.det, DetectorVersion: "1", RuleID: s.rule, Title: s.title,
		Severity: s.sev, Confidence: s.conf, Entities: s.ents,
		Explanation: detect.Explanation{Summary: s.summary},
	}
	if sig.Confidence == 0 {
		sig.Confidence = 0.5
	}
	if s.tactic != "" {
		sig.Tactics = []string{s.tactic}
	}
	if s.tech != "" {
		sig.Techniques = []string{s.tech}
	}
	for i, ev := range s.evidence {
		sig.Evidence = append(sig.Evidence, detect.EvidenceRef{EventID: ev, Time: sig.Time.Add(time.Duration(i) * time.Second), Source: "Security.evtx", Offset: int64(1000 * (i + 1))})
	}
	if sig.Explanation.Summary == "" {
		sig.Explanation.Summary = s.title
	}
	return sig
}

const (
	sigma    = "sigma"
	firstDet = FirstSeenDetector
)

// incidentSpecs are the incident's own signals.
var incidentSpecs = []sigSpec{
	{id: "s-spray", det: sigma, rule: "rule-spray", title: "Password spray from one source", at: 0, sev: detect.SeverityMedium, conf: 0.6,
		tactic: "credential-access", tech: "T1110.003", ents: []detect.Entity{alice, sprayIP}, evidence: []string{"ev-spray-1"}},
	{id: "s-fs-host", det: firstDet, rule: "first_seen.user_host", title: "First host fs-01 for alice", at: 20 * time.Minute, sev: detect.SeverityLow, conf: 0.7,
		tactic: "lateral-movement", tech: "T1021", ents: []detect.Entity{alice, fs01}, summary: `corp\alice logged on to fs-01.corp.example for the first time; 0 of 12 peers ever did`},
	{id: "s-psexec", det: sigma, rule: "rule-psexec", title: "Service installed from ADMIN$", at: 25 * time.Minute, sev: detect.SeverityHigh, conf: 0.8,
		tactic: "execution", tech: "T1569.002", ents: []detect.Entity{alice, fs01, aliceIP}, evidence: []string{"ev-psexec"}},
	{id: "s-lsass", det: sigma, rule: "rule-lsass", title: "LSASS memory read by unsigned process", at: 30 * time.Minute, sev: detect.SeverityCritical, conf: 0.9,
		tactic: "credential-access", tech: "T1003.001", ents: []detect.Entity{alice, fs01}, evidence: []string{"ev-lsass-1", "ev-lsass-2", "ev-missing"}},
	{id: "s-7z", det: sigma, rule: "rule-7z", title: "Password-protected archive created", at: 50 * time.Minute, sev: detect.SeverityMedium, conf: 0.6,
		tactic: "collection", tech: "T1560.001", ents: []detect.Entity{alice, fs01, sevenZip}},
	{id: "s-exfil", det: "behavior.edge", rule: "edge.volume", title: "Unusual upload volume", at: 55 * time.Minute, sev: detect.SeverityHigh, conf: 0.7,
		tactic: "exfiltration", tech: "T1048.002", ents: []detect.Entity{fs01, exfilIP}, evidence: []string{"ev-exfil"}},
}

// aroundSpecs are signals that are not the incident's.
var aroundSpecs = []sigSpec{
	// In the window, on leading entities.
	{id: "a-spray-bob", det: sigma, rule: "rule-spray", title: "Password spray from one source", at: -3 * time.Hour, sev: detect.SeverityMedium,
		tactic: "credential-access", tech: "T1110.003", ents: []detect.Entity{bob, sprayIP}},
	{id: "a-country", det: firstDet, rule: "first_seen.user_country", title: "First country NL for alice", at: -2 * time.Hour, sev: detect.SeverityMedium,
		tactic: "initial-access", tech: "T1078", ents: []detect.Entity{alice, {Kind: "country", Value: "NL"}}, summary: `corp\alice signed in from NL for the first time; no user in the organisation ever did`},
	{id: "a-rdp", det: sigma, rule: "rule-rdp", title: "RDP logon from a workstation", at: 2 * time.Hour, sev: detect.SeverityLow,
		tactic: "lateral-movement", tech: "T1021.001", ents: []detect.Entity{alice, wsAlice}},
	{id: "a-during", det: sigma, rule: "rule-share", title: "Bulk share reads", at: 40 * time.Minute, sev: detect.SeverityLow,
		tactic: "collection", tech: "T1039", ents: []detect.Entity{fs01}},
	// Outside the window or on other entities.
	{id: "x-early", det: sigma, rule: "rule-rdp", title: "RDP logon from a workstation", at: -30 * time.Hour, sev: detect.SeverityLow, ents: []detect.Entity{alice, wsAlice}},
	{id: "x-late", det: sigma, rule: "rule-rdp", title: "RDP logon from a workstation", at: 26 * time.Hour, sev: detect.SeverityLow, ents: []detect.Entity{alice, wsAlice}},
	{id: "x-carol", det: sigma, rule: "rule-rdp", title: "RDP logon from a workstation", at: time.Hour, sev: detect.SeverityLow, ents: []detect.Entity{carol, sql01}},
}

// sprayNoise is the spray rule firing on twelve other users from other sources,
// which makes it widespread.
func sprayNoise() []detect.Signal {
	var out []detect.Signal
	for i := range 12 {
		s := sigSpec{id: fmt.Sprintf("n-spray-%02d", i), det: sigma, rule: "rule-spray", title: "Password spray from one source",
			at: time.Duration(-20+i) * time.Hour, sev: detect.SeverityMedium, tactic: "credential-access", tech: "T1110.003",
			ents: []detect.Entity{{Kind: detect.EntityUser, Value: fmt.Sprintf(`corp\user%02d`, i)}, {Kind: detect.EntityIP, Value: fmt.Sprintf("192.0.2.%d", i+1)}}}
		out = append(out, s.signal())
	}
	return out
}

// historySignals are the fourteen days before the incident that the blast
// radius reads: alice on her workstation daily, on dc-01 twice, on sql-01 once
// 15 days ago (outside the lookback); svc-backup and bob on fs-01.
func historySignals() []detect.Signal {
	var out []detect.Signal
	for d := 1; d <= 13; d++ {
		s := sigSpec{id: fmt.Sprintf("h-ws-%02d", d), det: sigma, rule: "rule-logon", title: "Interactive logon", at: -time.Duration(d) * 24 * time.Hour,
			sev: detect.SeverityInfo, ents: []detect.Entity{alice, wsAlice}}
		out = append(out, s.signal())
	}
	for i, d := range []int{3, 9} {
		s := sigSpec{id: fmt.Sprintf("h-dc-%d", i), det: sigma, rule: "rule-admin-logon", title: "Admin logon", at: -time.Duration(d) * 24 * time.Hour,
			sev: detect.SeverityLow, ents: []detect.Entity{alice, dc01}}
		out = append(out, s.signal())
	}
	out = append(out, sigSpec{id: "h-sql", det: sigma, rule: "rule-admin-logon", title: "Admin logon", at: -15 * 24 * time.Hour,
		sev: detect.SeverityLow, ents: []detect.Entity{alice, sql01}}.signal())
	for i, d := range []int{2, 5, 8} {
		out = append(out, sigSpec{id: fmt.Sprintf("h-bkp-%d", i), det: sigma, rule: "rule-backup", title: "Backup job logon", at: -time.Duration(d) * 24 * time.Hour,
			sev: detect.SeverityInfo, ents: []detect.Entity{svcBkp, fs01}}.signal())
	}
	out = append(out, sigSpec{id: "h-bob-fs", det: sigma, rule: "rule-share", title: "Bulk share reads", at: -4 * 24 * time.Hour,
		sev: detect.SeverityLow, ents: []detect.Entity{bob, fs01}}.signal())
	return out
}

// mainIncident is the incident under triage. Its technique and tactic lists are
// in an order unrelated to time; it names a technique without a playbook
// (T1195.002, supply chain) and a tactic without a technique (defense-evasion),
// and lists one signal id the store does not have.
func mainIncident() correlate.Incident {
	inc := correlate.Incident{
		ID: "inc-main", Title: "Spray to exfiltration on fs-01", Status: correlate.StatusOpen, Severity: detect.SeverityCritical,
		Confidence: 0.9, Risk: 87.5, FirstSeen: t0, LastSeen: t0.Add(55 * time.Minute),
		Tactics:    []string{"exfiltration", "collection", "credential-access", "execution", "lateral-movement", "initial-access", "defense-evasion"},
		Techniques: []string{"T1003.001", "T1021", "T1048.002", "T1110.003", "T1195.002", "T1560.001", "T1569.002"},
		Entities:   []detect.Entity{alice, fs01, sprayIP, aliceIP, exfilIP, sevenZip},
		Version:    7,
	}
	inc.EntityCount = len(inc.Entities)
	for _, s := range incidentSpecs {
		inc.SignalIDs = append(inc.SignalIDs, s.id)
	}
	inc.SignalIDs = append(inc.SignalIDs, "s-gone")
	inc.SignalCount = len(inc.SignalIDs)
	return inc
}

func otherIncidents() []correlate.Incident {
	mk := func(id, title string, status correlate.Status, first, last time.Duration, ents ...detect.Entity) correlate.Incident {
		return correlate.Incident{ID: id, Title: title, Status: status, Severity: detect.SeverityMedium, Confidence: 0.5, Risk: 20,
			FirstSeen: t0.Add(first), LastSeen: t0.Add(last), Entities: ents, EntityCount: len(ents), Version: 1}
	}
	merged := mk("inc-merged", "Spray (merged)", correlate.StatusMerged, 0, time.Minute, alice, sprayIP)
	merged.MergedInto = "inc-main"
	return []correlate.Incident{
		mk("inc-spray-bob", "Spray on bob", correlate.StatusClosed, -3*time.Hour, -3*time.Hour+time.Minute, bob, sprayIP),
		mk("inc-fs-share", "Share reads on fs-01", correlate.StatusOpen, 30*time.Minute, 3*time.Hour, fs01, alice),
		mk("inc-old", "Old alice incident", correlate.StatusClosed, -72*time.Hour, -70*time.Hour, alice),
		mk("inc-carol", "Carol", correlate.StatusOpen, time.Hour, 2*time.Hour, carol),
		merged,
	}
}

func evidenceEvents() []store.Evidence {
	ev := func(id string, at time.Duration, body string) store.Evidence {
		return store.Evidence{EventID: id, Time: t0.Add(at), Source: "Security.evtx", Format: "evtx", JSON: json.RawMessage(body)}
	}
	return []store.Evidence{
		ev("ev-spray-1", 0, `{"@timestamp":"2026-03-10T09:00:00Z","event":{"code":"4625"},"user":{"name":"alice"},"source":{"ip":"203.0.113.7"}}`),
		ev("ev-psexec", 25*time.Minute, `{"@timestamp":"2026-03-10T09:25:00Z","event":{"code":"7045"},"host":{"name":"fs-01.corp.example"},"service":{"name":"PSEXESVC"}}`),
		ev("ev-lsass-1", 30*time.Minute, `{"@timestamp":"2026-03-10T09:30:00Z","event":{"code":"10"},"host":{"name":"fs-01.corp.example"},"process":{"executable":"C:\\ProgramData\\p.exe"}}`),
		ev("ev-lsass-2", 30*time.Minute+time.Second, `{"@timestamp":"2026-03-10T09:30:01Z","event":{"code":"11"},"file":{"path":"C:\\ProgramData\\l.dmp"}}`),
		ev("ev-exfil", 55*time.Minute, `{"@timestamp":"2026-03-10T09:55:00Z","destination":{"ip":"198.51.100.9","bytes":734003200}}`),
	}
}

// openFixture opens a SQLite store in a temp dir and fills it.
func openFixture(t *testing.T) (store.Store, correlate.Incident) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	var sigs []detect.Signal
	for _, s := range incidentSpecs {
		sigs = append(sigs, s.signal())
	}
	for _, s := range aroundSpecs {
		sigs = append(sigs, s.signal())
	}
	sigs = append(sigs, sprayNoise()...)
	sigs = append(sigs, historySignals()...)
	if err := st.PutEvidence(ctx, evidenceEvents()); err != nil {
		t.Fatal(err)
	}
	if err := st.PutSignals(ctx, sigs); err != nil {
		t.Fatal(err)
	}
	inc := mainIncident()
	for _, i := range append(otherIncidents(), inc) {
		if err := st.UpsertIncident(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	return st, inc
}

// assetContext is the caller's knowledge: dc-01 is extremely critical, fs-01
// high, svc-backup privileged.
func assetContext(e detect.Entity) (risk.Criticality, bool) {
	switch e {
	case dc01:
		return risk.CriticalityExtreme, false
	case fs01:
		return risk.CriticalityHigh, false
	case wsAlice:
		return risk.CriticalityLow, false
	case svcBkp:
		return risk.CriticalityUnknown, true
	}
	return risk.CriticalityUnknown, false
}
