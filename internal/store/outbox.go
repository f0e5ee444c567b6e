package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// This file holds the notification outbox: what escalation has decided to send,
// written durably before any delivery is attempted, so a crash or a receiver that
// is down loses nothing. Unlike the rest of the store, outbox times are wall-clock
// times of the dispatcher (when to try again, how long a lease lasts), as in the
// audit log.

// OutboxState is where a notification is in its life.
type OutboxState string

// Outbox states.
const (
	// OutboxPending items wait for delivery; ClaimOutbox hands them out once
	// NextAttempt has come and no live lease holds them.
	OutboxPending OutboxState = "pending"
	// OutboxReview items wait for a person (the human review queue); ClaimOutbox
	// never hands them out. MarkOutbox with OutboxDelivered resolves one.
	OutboxReview OutboxState = "review"
	// OutboxDelivered items reached their receiver (or, for review items, were
	// resolved). Final.
	OutboxDelivered OutboxState = "delivered"
	// OutboxFailed items failed permanently (a refusal or too many attempts). Final.
	OutboxFailed OutboxState = "failed"
)

// Valid reports whether s is a known state.
func (s OutboxState) Valid() bool {
	switch s {
	case OutboxPending, OutboxReview, OutboxDelivered, OutboxFailed:
		return true
	}
	return false
}

// OutboxItem is one notification: one action of one policy about one version of
// one incident. Key, the idempotency key, is derived by the caller from those
// three; the store only insists that it is unique.
type OutboxItem struct {
	Key             string          `json:"key"`
	Target          string          `json:"target"` // the action that sends it, e.g. "soc-page/pagerduty"; rate limits apply per target
	Kind            string          `json:"kind"`   // webhook, slack, pagerduty, email, syslog_cef, review
	IncidentID      string          `json:"incident_id"`
	IncidentVersion int64           `json:"incident_version"`
	Payload         json.RawMessage `json:"payload"` // JSON document: what to send (the incident as it matched)
	State           OutboxState     `json:"state"`
	Attempts        int             `json:"attempts"`
	NextAttempt     time.Time       `json:"next_attempt"`
	LastError       string          `json:"last_error,omitempty"`
	LeaseOwner      string          `json:"lease_owner,omitempty"`
	LeaseUntil      time.Time       `json:"lease_until,omitzero"`
	Created         time.Time       `json:"created"`
	Updated         time.Time       `json:"updated"`
}

// Validate checks that an item can be enqueued. State must be pending or review
// (empty means pending); Attempts, LastError and the lease are ignored.
func (it *OutboxItem) Validate() error {
	switch {
	case it.Key == "":
		return fmt.Errorf("outbox item without key: %w", ErrInvalid)
	case it.Target == "" || it.Kind == "":
		return fmt.Errorf("outbox item %s without target or kind: %w", it.Key, ErrInvalid)
	case it.IncidentID == "":
		return fmt.Errorf("outbox item %s without incident id: %w", it.Key, ErrInvalid)
	case it.State != "" && it.State != OutboxPending && it.State != OutboxReview:
		return fmt.Errorf("outbox item %s: enqueued in state %q, want pending or review: %w", it.Key, it.State, ErrInvalid)
	case !json.Valid(it.Payload):
		return fmt.Errorf("outbox item %s: payload is not valid JSON: %w", it.Key, ErrInvalid)
	}
	if _, err := UnixNano(it.Created); err != nil {
		return fmt.Errorf("outbox item %s created: %w", it.Key, err)
	}
	if !it.NextAttempt.IsZero() {
		if _, err := UnixNano(it.NextAttempt); err != nil {
			return fmt.Errorf("outbox item %s next attempt: %w", it.Key, err)
		}
	}
	return nil
}

// OutboxClaim asks for due items. Items are due when pending, NextAttempt <= Now
// and their lease (if any) has ended by Now. The store leases each returned item
// to Owner until Now+Lease, so a second dispatcher claiming meanwhile does not
// get it.
type OutboxClaim struct {
	Owner string
	Now   time.Time
	Lease time.Duration
	Limit int // 0 means DefaultLimit; capped at MaxLimit
}

// Validate checks the claim.
func (c *OutboxClaim) Validate() error {
	if c.Owner == "" {
		return fmt.Errorf("outbox claim without owner: %w", ErrInvalid)
	}
	if c.Lease <= 0 {
		return fmt.Errorf("outbox claim with lease %v: %w", c.Lease, ErrInvalid)
	}
	if _, err := UnixNano(c.Now); err != nil {
		return fmt.Errorf("outbox claim: %w", err)
	}
	if _, err := UnixNano(c.Now.Add(c.Lease)); err != nil {
		return fmt.Errorf("outbox claim lease end: %w", err)
	}
	return nil
}

// OutboxResult is the outcome of handling one claimed item.
type OutboxResult struct {
	Key   string
	Owner string // must hold the lease when the item is pending; ignored for review items
	// State is the new state: pending (try again at NextAttempt), delivered or
	// failed.
	State       OutboxState
	NextAttempt time.Time // with OutboxPending
	// Attempted counts the handling as a delivery attempt; false when the item
	// was put back unsent (a rate limit).
	Attempted bool
	Error     string // the attempt's error, kept as LastError; empty on success
	Now       time.Time
}

// Validate checks the result.
func (r *OutboxResult) Validate() error {
	switch {
	case r.Key == "":
		return fmt.Errorf("outbox result without key: %w", ErrInvalid)
	case r.State != OutboxPending && r.State != OutboxDelivered && r.State != OutboxFailed:
		return fmt.Errorf("outbox result %s: state %q: %w", r.Key, r.State, ErrInvalid)
	}
	if _, err := UnixNano(r.Now); err != nil {
		return fmt.Errorf("outbox result %s: %w", r.Key, err)
	}
	if r.State == OutboxPending {
		if _, err := UnixNano(r.NextAttempt); err != nil {
			return fmt.Errorf("outbox result %s next attempt: %w", r.Key, err)
		}
	}
	return nil
}

// OutboxQuery selects outbox items, listed by (Created, Key), newest first
// unless Order is OrderAsc.
type OutboxQuery struct {
	State      OutboxState // empty means any
	IncidentID string      // empty means any
	Target     string      // empty means any
	Order      Order
	Limit      int
	Cursor     string
}

// Validate checks the query.
func (q *OutboxQuery) Validate() error {
	if q.State != "" && !q.State.Valid() {
		return fmt.Errorf("unknown outbox state %q: %w", q.State, ErrInvalid)
	}
	return nil
}

// CursorOutbox is the cursor kind of ListOutbox.
const CursorOutbox = "outbox"
