// Package correlate turns signals into incidents: entity graph, risk scoring,
// ATT&CK progression. This file holds the Incident record the store persists;
// correlator.go groups signals into incidents through the entities they share,
// scores them and follows them as they grow, merge and close; snapshot.go carries
// the open ones across runs.
package correlate

import (
	"time"

	"github.com/vigilsec/vigil/internal/attack"
	"github.com/vigilsec/vigil/internal/detect"
)

// Status is where an incident stands in the analysts' workflow.
type Status string

// Incident statuses.
const (
	StatusOpen          Status = "open"
	StatusAcknowledged  Status = "acknowledged"
	StatusClosed        Status = "closed"
	StatusFalsePositive Status = "false_positive"
	// StatusMerged: the incident joined another (MergedInto) when a later signal
	// linked them; its signals are there now.
	StatusMerged Status = "merged"
)

// Incident is one attack (or one benign story) as Vigil understands it: the signals
// it groups, the entities they share, and how risky it is.
type Incident struct {
	ID         string          `json:"id"` // stable across updates and replays
	Title      string          `json:"title"`
	Status     Status          `json:"status"`
	Severity   detect.Severity `json:"severity"`
	Confidence float64         `json:"confidence"`
	Risk       float64         `json:"risk"`
	FirstSeen  time.Time       `json:"first_seen"` // event time
	LastSeen   time.Time       `json:"last_seen"`  // event time
	Tactics    []string        `json:"tactics,omitempty"`
	Techniques []string        `json:"techniques,omitempty"`
	// Entities are the incident's users, hosts, addresses, ..., the most
	// frequent first, at most MaxIncidentEntities of EntityCount.
	Entities    []detect.Entity `json:"entities,omitempty"`
	EntityCount int             `json:"entity_count"`
	SignalIDs   []string        `json:"signal_ids,omitempty"`
	// SignalCount counts every signal, also the repeats past the correlator's
	// MaxSignals that SignalIDs leaves out.
	SignalCount int    `json:"signal_count"`
	MergedInto  string `json:"merged_into,omitempty"` // with StatusMerged
	Summary     string `json:"summary,omitempty"`
	// Posture says what pre-production analysis found about the incident's
	// workloads and images (vigil scan), when it raised the risk.
	Posture []string `json:"posture,omitempty"`
	// Progress is how far the incident's tactics advance along the kill chain.
	Progress attack.Progress `json:"progress"`
	// Assignee is the analyst working the incident (set through the API; the
	// store keeps it, and an analyst's status, across the correlator's updates).
	Assignee string `json:"assignee,omitempty"`
	// Version grows with every update (it is the number of signals the incident
	// has taken in, merges included), so a store keeps the newest.
	Version int64 `json:"version"`
}
