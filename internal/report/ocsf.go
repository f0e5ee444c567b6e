package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/vigilsec/vigil/internal/attack"
	"github.com/vigilsec/vigil/internal/detect"
)

// OCSF output: each signal as a Detection Finding (class 2004) and each incident as
// an Incident Finding (class 2005), OCSF schema 1.3.0, one JSON object per line
// (the form Amazon Security Lake, Splunk's OCSF add-on and most SIEMs ingest).

// OCSFVersion is the OCSF schema version the output follows.
const OCSFVersion = "1.3.0"

// ProductVersion is stamped in every OCSF record's metadata.product.version; the
// app sets it to the binary's version.
var ProductVersion = "dev"

type ocsfProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version"`
}

type ocsfMetadata struct {
	Version  string      `json:"version"`
	Product  ocsfProduct `json:"product"`
	Profiles []string    `json:"profiles,omitempty"`
	UID      string      `json:"uid,omitempty"`
}

type ocsfTactic struct {
	UID  string `json:"uid,omitempty"`
	Name string `json:"name"`
}

type ocsfTechnique struct {
	UID  string `json:"uid"`
	Name string `json:"name,omitempty"`
}

type ocsfAttack struct {
	Tactic    *ocsfTactic    `json:"tactic,omitempty"`
	Technique *ocsfTechnique `json:"technique,omitempty"`
	Version   string         `json:"version,omitempty"`
}

type ocsfAnalytic struct {
	UID    string `json:"uid,omitempty"`
	Name   string `json:"name"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type"`
}

type ocsfFindingInfo struct {
	UID           string        `json:"uid"`
	Title         string        `json:"title"`
	Desc          string        `json:"desc,omitempty"`
	CreatedTime   int64         `json:"created_time,omitempty"`
	FirstSeenTime int64         `json:"first_seen_time,omitempty"`
	LastSeenTime  int64         `json:"last_seen_time,omitempty"`
	Analytic      *ocsfAnalytic `json:"analytic,omitempty"`
	Attacks       []ocsfAttack  `json:"attacks,omitempty"`
	RelatedEvents []ocsfRelated `json:"related_events,omitempty"`
}

type ocsfRelated struct {
	UID  string `json:"uid"`
	Time int64  `json:"time,omitempty"`
}

type ocsfObservable struct {
	Name   string `json:"name"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type"`
	Value  string `json:"value"`
}

type ocsfFinding struct {
	ActivityID      int               `json:"activity_id"`
	ActivityName    string            `json:"activity_name"`
	CategoryUID     int               `json:"category_uid"`
	CategoryName    string            `json:"category_name"`
	ClassUID        int               `json:"class_uid"`
	ClassName       string            `json:"class_name"`
	TypeUID         int               `json:"type_uid"`
	TypeName        string            `json:"type_name"`
	SeverityID      int               `json:"severity_id"`
	Severity        string            `json:"severity"`
	StatusID        int               `json:"status_id"`
	Status          string            `json:"status"`
	Time            int64             `json:"time"`
	StartTime       int64             `json:"start_time,omitempty"`
	EndTime         int64             `json:"end_time,omitempty"`
	Message         string            `json:"message,omitempty"`
	ConfidenceScore int               `json:"confidence_score"`
	Metadata        ocsfMetadata      `json:"metadata"`
	FindingInfo     *ocsfFindingInfo  `json:"finding_info,omitempty"`
	FindingInfoList []ocsfFindingInfo `json:"finding_info_list,omitempty"`
	Attacks         []ocsfAttack      `json:"attacks,omitempty"`
	Desc            string            `json:"desc,omitempty"`
	ImpactScore     *int              `json:"impact_score,omitempty"`
	PriorityID      *int              `json:"priority_id,omitempty"`
	Priority        string            `json:"priority,omitempty"`
	Observables     []ocsfObservable  `json:"observables,omitempty"`
	Unmapped        map[string]any    `json:"unmapped,omitempty"`
}

// ocsfSeverity maps Vigil's severity to OCSF severity_id (1 informational ... 5 critical).
func ocsfSeverity(s detect.Severity) (int, string) {
	names := [...]string{"Informational", "Low", "Medium", "High", "Critical"}
	if int(s) < len(names) {
		return int(s) + 1, names[s]
	}
	return 0, "Unknown"
}

func ms(ns int64) int64 { return ns / 1e6 }

func ocsfAttacks(tactics, techniques []string) []ocsfAttack {
	var out []ocsfAttack
	for _, id := range techniques {
		a := ocsfAttack{Technique: &ocsfTechnique{UID: id}, Version: "ATT&CK Enterprise"}
		if t, ok := attack.LookupTechnique(id); ok {
			a.Technique.Name = t.Name
		}
		if ts := attack.TacticsOf(id); len(ts) > 0 {
			a.Tactic = &ocsfTactic{UID: ts[0].ID, Name: ts[0].Name}
		}
		out = append(out, a)
	}
	for _, name := range tactics {
		t, ok := attack.LookupTactic(name)
		tac := &ocsfTactic{Name: name}
		if ok {
			tac = &ocsfTactic{UID: t.ID, Name: t.Name}
		}
		if slices.ContainsFunc(out, func(a ocsfAttack) bool { return a.Tactic != nil && a.Tactic.Name == tac.Name }) {
			continue
		}
		out = append(out, ocsfAttack{Tactic: tac, Version: "ATT&CK Enterprise"})
	}
	return out
}

// ocsfObservables lists a finding's entities as OCSF observables.
func ocsfObservables(es []detect.Entity) []ocsfObservable {
	var out []ocsfObservable
	for _, e := range es {
		id, typ := 99, "Other"
		switch e.Kind {
		case detect.EntityHost:
			id, typ = 1, "Hostname"
		case detect.EntityIP:
			if _, err := netip.ParseAddr(e.Value); err == nil {
				id, typ = 2, "IP Address"
			}
		case detect.EntityUser:
			id, typ = 4, "User Name"
			if strings.Contains(e.Value, "@") && strings.Contains(e.Value[strings.IndexByte(e.Value, '@'):], ".") {
				id, typ = 5, "Email Address"
			}
		case detect.EntityURL:
			id, typ = 6, "URL String"
		case detect.EntityFile:
			id, typ = 7, "File Name"
		case detect.EntityHash:
			id, typ = 8, "Hash"
		case detect.EntityProcess:
			id, typ = 9, "Process Name"
		case detect.EntityDomain:
			id, typ = 1, "Hostname"
		}
		out = append(out, ocsfObservable{Name: string(e.Kind), TypeID: id, Type: typ, Value: e.Value})
	}
	return out
}

func ocsfMeta(profiles ...string) ocsfMetadata {
	return ocsfMetadata{Version: OCSFVersion, Product: ocsfProduct{Name: "Vigil", VendorName: "Vigil", Version: ProductVersion}, Profiles: profiles}
}

// detectionFinding renders a signal as an OCSF Detection Finding.
func detectionFinding(s *detect.Signal) ocsfFinding {
	sevID, sev := ocsfSeverity(s.Severity)
	at := ms(s.Time.UnixNano())
	analytic := &ocsfAnalytic{UID: s.RuleID, Name: s.DetectorID, TypeID: 1, Type: "Rule"}
	if strings.HasPrefix(s.DetectorID, "behavior.") {
		analytic.TypeID, analytic.Type = 2, "Behavioral"
	}
	info := &ocsfFindingInfo{UID: s.ID, Title: s.Title, Desc: s.Explanation.Summary, CreatedTime: at, FirstSeenTime: at, LastSeenTime: at,
		Analytic: analytic, Attacks: ocsfAttacks(s.Tactics, s.Techniques)}
	for _, ev := range s.Evidence {
		info.RelatedEvents = append(info.RelatedEvents, ocsfRelated{UID: ev.EventID, Time: ms(ev.Time.UnixNano())})
	}
	return ocsfFinding{
		ActivityID: 1, ActivityName: "Create", CategoryUID: 2, CategoryName: "Findings",
		ClassUID: 2004, ClassName: "Detection Finding", TypeUID: 200401, TypeName: "Detection Finding: Create",
		SeverityID: sevID, Severity: sev, StatusID: 1, Status: "New", Time: at,
		Message: s.Explanation.Summary, ConfidenceScore: int(math.Round(100 * s.Confidence)),
		Metadata: ocsfMeta(), FindingInfo: info, Observables: ocsfObservables(s.Entities),
		Unmapped: map[string]any{"vigil.detector_version": s.DetectorVersion, "vigil.explanation": s.Explanation},
	}
}

// incidentFinding renders an incident as an OCSF Incident Finding.
func incidentFinding(in *IncidentOut, byID map[string]*detect.Signal) ocsfFinding {
	sevID, sev := ocsfSeverity(in.Severity)
	impact := int(math.Round(in.Risk))
	prio, prioName := 1, "Low"
	switch {
	case in.Risk >= 75:
		prio, prioName = 4, "Critical"
	case in.Risk >= 40:
		prio, prioName = 3, "High"
	case in.Risk >= 20:
		prio, prioName = 2, "Medium"
	}
	f := ocsfFinding{
		ActivityID: 1, ActivityName: "Create", CategoryUID: 2, CategoryName: "Findings",
		ClassUID: 2005, ClassName: "Incident Finding", TypeUID: 200501, TypeName: "Incident Finding: Create",
		SeverityID: sevID, Severity: sev, StatusID: 1, Status: "New",
		Time: ms(in.LastSeen.UnixNano()), StartTime: ms(in.FirstSeen.UnixNano()), EndTime: ms(in.LastSeen.UnixNano()),
		Message: in.Why, Desc: in.Title, ConfidenceScore: int(math.Round(100 * in.Confidence)),
		Metadata: ocsfMeta("incident"), ImpactScore: &impact, PriorityID: &prio, Priority: prioName,
		Attacks: ocsfAttacks(in.Tactics, in.Techniques), Observables: ocsfObservables(in.Entities),
		Unmapped: map[string]any{"vigil.incident_id": in.ID, "vigil.risk": in.Risk, "vigil.progress": in.Progress},
	}
	f.Metadata.UID = in.ID
	for _, id := range in.SignalIDs {
		s := byID[id]
		if s == nil {
			continue
		}
		at := ms(s.Time.UnixNano())
		f.FindingInfoList = append(f.FindingInfoList, ocsfFindingInfo{UID: s.ID, Title: s.Title, FirstSeenTime: at, LastSeenTime: at})
	}
	return f
}

// writeOCSF writes every incident as an Incident Finding, ranked as given, then
// every signal as a Detection Finding, one JSON object per line.
func writeOCSF(w io.Writer, signals []detect.Signal, incidents []IncidentOut, byID map[string]*detect.Signal) error {
	enc := json.NewEncoder(w)
	for i := range incidents {
		if err := enc.Encode(incidentFinding(&incidents[i], byID)); err != nil {
			return fmt.Errorf("writing OCSF incident finding: %w", err)
		}
	}
	for i := range signals {
		if err := enc.Encode(detectionFinding(&signals[i])); err != nil {
			return fmt.Errorf("writing OCSF detection finding: %w", err)
		}
	}
	return nil
}
