package report

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/netip"
	"net/url"
	"regexp"
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

// ocsfAttack is the 1.3.0 attack object. Its version attribute is the ATT&CK
// matrix version; the bundled ATT&CK data carries none, so it is left out rather
// than filled with a name. A sub-technique goes in sub_technique, its parent
// technique in technique.
type ocsfAttack struct {
	Tactic       *ocsfTactic    `json:"tactic,omitempty"`
	Technique    *ocsfTechnique `json:"technique,omitempty"`
	SubTechnique *ocsfTechnique `json:"sub_technique,omitempty"`
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

// ocsfRelated is the 1.3.0 related_event object: it has no time attribute, so
// the evidence times travel in unmapped (vigil.evidence).
type ocsfRelated struct {
	UID string `json:"uid"`
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
	ConfidenceID    int               `json:"confidence_id"`
	Confidence      string            `json:"confidence"`
	ConfidenceScore int               `json:"confidence_score"`
	Metadata        ocsfMetadata      `json:"metadata"`
	FindingInfo     *ocsfFindingInfo  `json:"finding_info,omitempty"`
	FindingInfoList []ocsfFindingInfo `json:"finding_info_list,omitempty"`
	Attacks         []ocsfAttack      `json:"attacks,omitempty"`
	Desc            string            `json:"desc,omitempty"`
	ImpactID        *int              `json:"impact_id,omitempty"`
	Impact          string            `json:"impact,omitempty"`
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

// ocsfConfidence maps a 0..1 confidence to OCSF confidence_id (1 Low, 2 Medium,
// 3 High; 0 Unknown when none was given).
func ocsfConfidence(c float64) (int, string) {
	switch {
	case c >= 0.75:
		return 3, "High"
	case c >= 0.4:
		return 2, "Medium"
	case c > 0:
		return 1, "Low"
	}
	return 0, "Unknown"
}

func ms(ns int64) int64 { return ns / 1e6 }

func ocsfAttacks(tactics, techniques []string) []ocsfAttack {
	var out []ocsfAttack
	for _, id := range techniques {
		a := ocsfAttack{Technique: &ocsfTechnique{UID: id}}
		if parent, _, ok := strings.Cut(id, "."); ok {
			a.SubTechnique, a.Technique = a.Technique, &ocsfTechnique{UID: parent}
			if t, ok := attack.LookupTechnique(parent); ok {
				a.Technique.Name = t.Name
			}
		}
		if t, ok := attack.LookupTechnique(id); ok {
			if a.SubTechnique != nil {
				a.SubTechnique.Name = t.Name
			} else {
				a.Technique.Name = t.Name
			}
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
		out = append(out, ocsfAttack{Tactic: tac})
	}
	return out
}

// hostnameRE is the OCSF 1.3.0 hostname_t pattern (dictionary types).
var hostnameRE = regexp.MustCompile(`^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])$`)

// emailRE is the OCSF 1.3.0 email_t pattern.
var emailRE = regexp.MustCompile(`^[a-zA-Z0-9!#$%&'*+-/=?^_\x60{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$`)

// ocsfObservableType picks the OCSF observable type for an entity, checking the
// value against the type's constraints: a value the type does not admit (a host
// name with an underscore, a 128-hex-digit hash over file_hash_t's 64
// characters) is typed Other (99) rather than mistyped.
func ocsfObservableType(e detect.Entity) (int, string) {
	v := e.Value
	switch e.Kind {
	case detect.EntityHost, detect.EntityDomain:
		if len(v) <= 253 && hostnameRE.MatchString(v) {
			return 1, "Hostname"
		}
	case detect.EntityIP:
		if _, err := netip.ParseAddr(v); err == nil {
			return 2, "IP Address"
		}
	case detect.EntityUser:
		if emailRE.MatchString(v) {
			return 5, "Email Address"
		}
		if v != "" {
			return 4, "User Name"
		}
	case detect.EntityURL:
		if u, err := url.Parse(v); err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "") {
			return 6, "URL String"
		}
	case detect.EntityFile:
		if v != "" {
			return 7, "File Name"
		}
	case detect.EntityHash:
		if _, err := hex.DecodeString(v); err == nil && len(v) > 0 && len(v) <= 64 {
			return 8, "Hash"
		}
	case detect.EntityProcess:
		if v != "" {
			return 9, "Process Name"
		}
	}
	return 99, "Other"
}

// ocsfObservables lists a finding's entities as OCSF observables, named by the
// entity kind.
func ocsfObservables(es []detect.Entity) []ocsfObservable {
	var out []ocsfObservable
	for _, e := range es {
		id, typ := ocsfObservableType(e)
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
	confID, conf := ocsfConfidence(s.Confidence)
	info := &ocsfFindingInfo{UID: s.ID, Title: s.Title, Desc: s.Explanation.Summary, CreatedTime: at, FirstSeenTime: at, LastSeenTime: at,
		Analytic: analytic, Attacks: ocsfAttacks(s.Tactics, s.Techniques)}
	for _, ev := range s.Evidence {
		info.RelatedEvents = append(info.RelatedEvents, ocsfRelated{UID: ev.EventID})
	}
	unmapped := map[string]any{"vigil.detector_version": s.DetectorVersion, "vigil.explanation": s.Explanation}
	if len(s.Evidence) > 0 {
		unmapped["vigil.evidence"] = s.Evidence
	}
	return ocsfFinding{
		ActivityID: 1, ActivityName: "Create", CategoryUID: 2, CategoryName: "Findings",
		ClassUID: 2004, ClassName: "Detection Finding", TypeUID: 200401, TypeName: "Detection Finding: Create",
		SeverityID: sevID, Severity: sev, StatusID: 1, Status: "New", Time: at,
		Message: s.Explanation.Summary, ConfidenceID: confID, Confidence: conf, ConfidenceScore: int(math.Round(100 * s.Confidence)),
		Metadata: ocsfMeta(), FindingInfo: info, Observables: ocsfObservables(s.Entities),
		Unmapped: unmapped,
	}
}

// incidentFinding renders an incident as an OCSF Incident Finding.
func incidentFinding(in *IncidentOut, byID map[string]*detect.Signal) ocsfFinding {
	sevID, sev := ocsfSeverity(in.Severity)
	impact := int(math.Round(in.Risk))
	// priority_id and impact_id share the 1.3.0 scale 1 Low .. 4 Critical; both
	// follow the incident's risk.
	prio, prioName := 1, "Low"
	switch {
	case in.Risk >= 75:
		prio, prioName = 4, "Critical"
	case in.Risk >= 40:
		prio, prioName = 3, "High"
	case in.Risk >= 20:
		prio, prioName = 2, "Medium"
	}
	impactID := prio
	confID, conf := ocsfConfidence(in.Confidence)
	f := ocsfFinding{
		ActivityID: 1, ActivityName: "Create", CategoryUID: 2, CategoryName: "Findings",
		ClassUID: 2005, ClassName: "Incident Finding", TypeUID: 200501, TypeName: "Incident Finding: Create",
		SeverityID: sevID, Severity: sev, StatusID: 1, Status: "New",
		Time: ms(in.LastSeen.UnixNano()), StartTime: ms(in.FirstSeen.UnixNano()), EndTime: ms(in.LastSeen.UnixNano()),
		Message: in.Why, Desc: in.Title, ConfidenceID: confID, Confidence: conf, ConfidenceScore: int(math.Round(100 * in.Confidence)),
		Metadata: ocsfMeta(), ImpactID: &impactID, Impact: prioName, ImpactScore: &impact, PriorityID: &prio, Priority: prioName,
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
