package escalate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/correlate/risk"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
)

// CriticalityFunc returns the business criticality of an entity (ok false when
// unknown). It has the shape of the correlator's business context, so the caller
// can pass the same function.
type CriticalityFunc func(detect.Entity) (risk.Criticality, bool)

// Matches reports whether inc meets every condition. crit may be nil, in which
// case a min_criticality condition never holds.
func (c *Conditions) Matches(inc *correlate.Incident, crit CriticalityFunc) bool {
	switch {
	case c.MinSeverity != nil && inc.Severity < *c.MinSeverity,
		c.MinConfidence != nil && !(inc.Confidence >= *c.MinConfidence),
		c.MaxConfidence != nil && !(inc.Confidence <= *c.MaxConfidence),
		c.MinRisk != nil && !(inc.Risk >= *c.MinRisk),
		c.MaxRisk != nil && !(inc.Risk <= *c.MaxRisk),
		len(c.Status) > 0 && !slices.Contains(c.Status, inc.Status):
		return false
	}
	if len(c.Tactics) > 0 && !slices.ContainsFunc(inc.Tactics, func(t string) bool { return slices.Contains(c.Tactics, normTactic(t)) }) {
		return false
	}
	if c.MinCriticality != nil {
		if crit == nil {
			return false
		}
		if !slices.ContainsFunc(inc.Entities, func(e detect.Entity) bool {
			cr, ok := crit(e)
			return ok && cr >= *c.MinCriticality
		}) {
			return false
		}
	}
	return true
}

// Key is the idempotency key of one notification: a hash of the action, the
// incident id and the incident version. It goes to receivers as the webhook-id,
// the email Message-ID, the CEF externalId and PagerDuty's custom details.
func Key(actionID, incidentID string, version int64) string {
	h := sha256.New()
	// Length-prefixed parts: no two different triples hash the same input.
	for _, p := range []string{actionID, incidentID, strconv.FormatInt(version, 10)} {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return "vigil_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// EngineOptions configures NewEngine.
type EngineOptions struct {
	Store    store.Store
	Policies *Policies
	// Criticality gives entities' business criticality for min_criticality; nil
	// leaves that condition unmet.
	Criticality CriticalityFunc
	// Now is the clock stamped on outbox items (wall clock); nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Engine matches incidents against policies and writes the resulting
// notifications to the outbox.
type Engine struct {
	opts EngineOptions
	log  *slog.Logger
}

// NewEngine returns an engine; Store and Policies are required.
func NewEngine(opts EngineOptions) (*Engine, error) {
	if opts.Store == nil || opts.Policies == nil {
		return nil, fmt.Errorf("creating escalation engine: store and policies are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{opts: opts, log: log}, nil
}

// Match returns the policies inc matches, in file order.
func (e *Engine) Match(inc *correlate.Incident) []*Policy {
	var out []*Policy
	for i := range e.opts.Policies.Policies {
		p := &e.opts.Policies.Policies[i]
		if p.When.Matches(inc, e.opts.Criticality) {
			out = append(out, p)
		}
	}
	return out
}

// Evaluate is called with an incident that is new or grew (a new Version). For
// every action of every matching policy it enqueues one outbox item keyed by
// Key(action, id, version); evaluating the same version again adds nothing. It
// returns how many items were new.
func (e *Engine) Evaluate(ctx context.Context, inc correlate.Incident) (int, error) {
	matched := e.Match(&inc)
	if len(matched) == 0 {
		return 0, nil
	}
	payload, err := json.Marshal(store.CanonicalIncident(inc))
	if err != nil {
		return 0, fmt.Errorf("escalating incident %s: encoding: %w", inc.ID, err)
	}
	now := e.opts.Now()
	var items []store.OutboxItem
	for _, p := range matched {
		for _, a := range p.Actions {
			it := store.OutboxItem{
				Key: Key(a.ID, inc.ID, inc.Version), Target: a.ID, Kind: a.Kind,
				IncidentID: inc.ID, IncidentVersion: inc.Version, Payload: payload,
				Created: now, NextAttempt: now,
			}
			if a.Kind == KindReview {
				it.State = store.OutboxReview
			}
			items = append(items, it)
		}
	}
	n, err := e.opts.Store.EnqueueOutbox(ctx, items)
	if err != nil {
		return 0, fmt.Errorf("escalating incident %s version %d: %w", inc.ID, inc.Version, err)
	}
	if n > 0 {
		e.log.InfoContext(ctx, "incident escalated", "incident_id", inc.ID, "version", inc.Version, "notifications", n)
	}
	return n, nil
}

// Action returns the action with the given id, or false.
func (ps *Policies) Action(id string) (*Action, bool) {
	for i := range ps.Policies {
		for j := range ps.Policies[i].Actions {
			if a := &ps.Policies[i].Actions[j]; a.ID == id {
				return a, true
			}
		}
	}
	return nil, false
}
