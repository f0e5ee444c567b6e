// Package detect defines what a detector is and what it produces (Signal), and the
// engine that fans each event out to every registered detector with per-detector
// observability. Concrete detectors live below: detect/sigma, detect/behavior, detect/ioc.
package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// Severity ranks how bad a signal would be if true.
type Severity uint8

// Severities, in increasing order.
const (
	SeverityInfo Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"informational", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", s)
}

// MarshalText renders the severity by name in JSON and YAML.
func (s Severity) MarshalText() ([]byte, error) {
	if int(s) >= len(severityNames) {
		return nil, fmt.Errorf("marshalling severity %d: out of range", s)
	}
	return []byte(severityNames[s]), nil
}

// UnmarshalText parses a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSeverity accepts the Sigma level names (and "info").
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "informational", "info":
		return SeverityInfo, nil
	case "low":
		return SeverityLow, nil
	case "medium":
		return SeverityMedium, nil
	case "high":
		return SeverityHigh, nil
	case "critical":
		return SeverityCritical, nil
	}
	return 0, fmt.Errorf("unknown severity %q", s)
}

// EntityKind names what an entity is.
type EntityKind string

// Entity kinds signals refer to.
const (
	EntityUser      EntityKind = "user"
	EntityHost      EntityKind = "host"
	EntityIP        EntityKind = "ip"
	EntityProcess   EntityKind = "process"
	EntityFile      EntityKind = "file"
	EntityDomain    EntityKind = "domain"
	EntityURL       EntityKind = "url"
	EntityHash      EntityKind = "hash"
	EntityWorkload  EntityKind = "workload"
	EntityPrincipal EntityKind = "cloud_principal"
)

// Entity is one canonical thing a signal is about.
type Entity struct {
	Kind  EntityKind `json:"kind"`
	Value string     `json:"value"`
}

// FieldMatch is one field that contributed to a match, with the value seen.
type FieldMatch struct {
	Field string `json:"field"`
	Value string `json:"value"`
}

// Explanation says why a signal fired, in a form both people and code can read.
type Explanation struct {
	Summary  string  `json:"summary"`            // one plain sentence
	Expected string  `json:"expected,omitempty"` // the baseline, for behavioral detectors
	Observed string  `json:"observed,omitempty"`
	Score    float64 `json:"score,omitempty"` // detector-specific score or probability
	// Probability is the chance of what was observed under the learned baseline
	// (behavioral detectors; 0 when the detector does not compute one).
	Probability float64      `json:"probability,omitempty"`
	Matches     []FieldMatch `json:"matches,omitempty"`
	// Features are the measurements that contributed most, largest first.
	Features []Feature `json:"features,omitempty"`
	// BenignIf lists what would make the signal benign (a Sigma rule's known
	// false positives; a model's usual benign causes), for the analyst to check.
	BenignIf []string `json:"benign_if,omitempty"`
}

// Feature is one measurement behind a behavioral signal: what was observed, what
// the baseline expected, and how much it contributed to the score.
type Feature struct {
	Name     string  `json:"name"`
	Observed string  `json:"observed"`
	Expected string  `json:"expected,omitempty"`
	Weight   float64 `json:"weight,omitempty"` // share of the score, 0..1
}

// EvidenceRef points at an event that supports a signal.
type EvidenceRef struct {
	EventID string    `json:"event_id"`
	Time    time.Time `json:"time"`
	Source  string    `json:"source"`
	Offset  int64     `json:"offset"`
}

// Signal is one detection: a detector's claim, with its evidence and explanation.
// Signals are weak on their own; the correlator turns them into incidents.
type Signal struct {
	ID              string        `json:"id"`
	Time            time.Time     `json:"time"` // event time of the triggering event
	DetectorID      string        `json:"detector_id"`
	DetectorVersion string        `json:"detector_version"`
	RuleID          string        `json:"rule_id,omitempty"`
	Title           string        `json:"title"`
	Severity        Severity      `json:"severity"`
	Confidence      float64       `json:"confidence"` // 0..1
	Tactics         []string      `json:"tactics,omitempty"`
	Techniques      []string      `json:"techniques,omitempty"`
	Entities        []Entity      `json:"entities,omitempty"`
	Explanation     Explanation   `json:"explanation"`
	Evidence        []EvidenceRef `json:"evidence,omitempty"`
	// Baseline is set by behavioral detectors: the learned baseline the signal
	// departs from and the model's training window.
	Baseline Baseline `json:"baseline,omitzero"`
}

// Baseline names what a behavioral signal was measured against: whose baseline
// (Entity) and of what (Attribute), as the model takes an analyst's "this is
// normal" for it, and the start of the model's training window (event time:
// the window runs from LearnedFrom to the signal's time). Entity and Attribute
// are empty when the model takes no such feedback for the finding.
type Baseline struct {
	Entity      string    `json:"entity,omitempty"`
	Attribute   string    `json:"attribute,omitempty"`
	LearnedFrom time.Time `json:"learned_from,omitzero"`
}

// SignalID derives a stable signal id from the detector, rule and evidence, so that
// replaying the same data, or a redelivered event, yields the same id.
func SignalID(detectorID, ruleID string, evidence []EvidenceRef) string {
	h := sha256.New()
	h.Write([]byte(detectorID))
	h.Write([]byte{0})
	h.Write([]byte(ruleID))
	for _, ev := range evidence {
		h.Write([]byte{0})
		h.Write([]byte(ev.EventID))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// EntitiesOf returns the canonical entities an event names: its user, target user,
// host, source and destination addresses, process executable and the
// Kubernetes workload acted on. Detectors that have
// nothing more specific to say about entities use it. The strings are copied, so the
// signal may outlive the event.
func EntitiesOf(e *event.Event) []Entity {
	var out []Entity
	add := func(kind EntityKind, v string) {
		if v != "" {
			out = append(out, Entity{Kind: kind, Value: strings.Clone(v)})
		}
	}
	if u := e.Str(event.UserName); u != "" {
		add(EntityUser, event.UserRef{Name: u, Domain: e.Str(event.UserDomain)}.Key())
	}
	if u := e.Str(event.UserTargetName); u != "" {
		add(EntityUser, event.UserRef{Name: u, Domain: e.Str(event.UserTargetDomain)}.Key())
	}
	add(EntityHost, e.Str(event.HostName))
	for _, f := range []event.IPField{event.SourceIP, event.DestinationIP} {
		if ip := e.IP(f); ip.IsValid() {
			add(EntityIP, ip.String())
		}
	}
	add(EntityProcess, e.Str(event.ProcessExecutable))
	// a Kubernetes workload acted on (an exec into a pod, a deployment
	// patched): "namespace/name", what vigil scan's posture is keyed by
	if ns, name := e.Str(event.OrchestratorNamespace), e.Str(event.OrchestratorResourceName); ns != "" && name != "" &&
		workloadResources[e.Str(event.OrchestratorResourceType)] {
		add(EntityWorkload, ns+"/"+name)
	}
	return out
}

// workloadResources are the Kubernetes resources that run containers.
var workloadResources = map[string]bool{
	"pods": true, "deployments": true, "replicasets": true, "statefulsets": true, "daemonsets": true,
	"jobs": true, "cronjobs": true, "replicationcontrollers": true,
}

// EvidenceOf returns the reference to e as evidence.
func EvidenceOf(e *event.Event) EvidenceRef {
	return EvidenceRef{EventID: e.ID(), Time: e.Timestamp, Source: strings.Clone(e.Origin.Source), Offset: e.Origin.Offset}
}
