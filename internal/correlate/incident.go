// Package correlate turns signals into incidents: entity graph, risk scoring,
// ATT&CK progression. This file holds the Incident record the store persists;
// correlator.go groups signals into incidents through the entities they share
// (issue 6, first part: risk scoring, ATT&CK progression and the wiring into hunt
// come next).
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
	Entities   []detect.Entity `json:"entities,omitempty"`
	SignalIDs  []string        `json:"signal_ids,omitempty"`
	Summary    string          `json:"summary,omitempty"`
	// Progress is how far the incident's tactics advance along the kill chain.
	Progress attack.Progress `json:"progress"`
	Version  int64           `json:"version"` // increments on each update
}
