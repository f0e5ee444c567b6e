package feedback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
)

// Bounds on a recorded verdict's fields.
const (
	MaxTargetID = 1024
	MaxReason   = 4096
	MaxScope    = 1024
	MaxAuthor   = 256
)

// AuditAction is the audit log's action for a recorded verdict.
const AuditAction = "feedback.put"

// Request is a verdict to record, as `vigil feedback add` and POST
// /api/v1/feedback take it.
type Request struct {
	TargetKind store.TargetKind `json:"target_kind"`
	TargetID   string           `json:"target_id"`
	// Verdict is a verdict's name, long or short: true_positive (tp),
	// benign_true_positive (btp), false_positive (fp), duplicate (dup).
	Verdict string `json:"verdict"`
	Reason  string `json:"reason,omitempty"`
	// Scope is what a false-positive or benign verdict suppresses: rule,
	// entity or value:KIND:VALUE; empty: nothing (the verdict teaches precision).
	Scope string `json:"scope,omitempty"`
	// Expires ends the suppression: a duration ("30d", "12h") from the
	// target's event time, or an RFC 3339 time; empty: never.
	Expires string `json:"expires,omitempty"`
}

var verdictNames = map[string]store.Verdict{
	"tp": store.VerdictTruePositive, "true_positive": store.VerdictTruePositive,
	"btp": store.VerdictBenignTruePositive, "benign_true_positive": store.VerdictBenignTruePositive,
	"fp": store.VerdictFalsePositive, "false_positive": store.VerdictFalsePositive,
	"dup": store.VerdictDuplicate, "duplicate": store.VerdictDuplicate,
}

// ParseVerdict reads a verdict's long or short name, in any case. The error
// wraps store.ErrInvalid.
func ParseVerdict(s string) (store.Verdict, error) {
	v, ok := verdictNames[strings.ToLower(s)]
	if !ok {
		return "", fmt.Errorf("verdict %q: want true_positive (tp), benign_true_positive (btp), false_positive (fp) or duplicate (dup): %w",
			s, store.ErrInvalid)
	}
	return v, nil
}

// Record validates a verdict and stores it with an audit entry (action
// feedback.put, actor author, at now). The target must exist (signals and
// incidents in st; a rule's or entity's relative expiry needs a stored
// signal) and the scope must parse, so that every stored verdict can be
// applied. Errors wrap store.ErrInvalid for a bad request and
// store.ErrNotFound for a missing target; others are the store's.
func Record(ctx context.Context, st store.Store, req Request, author string, now time.Time) (store.Feedback, error) {
	if err := req.check(author); err != nil {
		return store.Feedback{}, err
	}
	v, err := ParseVerdict(req.Verdict)
	if err != nil {
		return store.Feedback{}, err
	}
	kind, id := req.TargetKind, req.TargetID
	// The target exists (its event time is where a relative expiry counts from).
	base, err := targetTime(ctx, st, kind, id)
	if err != nil {
		return store.Feedback{}, err
	}
	fb := store.Feedback{TargetKind: kind, TargetID: id, Verdict: v, Scope: req.Scope, Reason: req.Reason, Author: author, Created: now.UTC().Round(0)}
	if req.Expires != "" {
		if base.IsZero() {
			return store.Feedback{}, fmt.Errorf("expires: a relative expiry needs stored signals to count from; give an RFC 3339 time: %w", store.ErrInvalid)
		}
		if fb.Expires, err = ParseExpiry(req.Expires, base); err != nil {
			return store.Feedback{}, fmt.Errorf("expires: %w", err)
		}
	}
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s\x00%s", kind, id, v, fb.Scope, fb.Created.Format(time.RFC3339Nano)))
	fb.ID = "fb-" + hex.EncodeToString(h[:8])
	// Check that the verdict can be applied (its scope parses, its incident's
	// signals are stored) before storing it.
	if err := New(Prior{}).Add(fb, StoreLookup(ctx, st, nil)); err != nil {
		return store.Feedback{}, fmt.Errorf("%w: %w", err, store.ErrInvalid)
	}
	if err := st.PutFeedback(ctx, fb); err != nil {
		return store.Feedback{}, fmt.Errorf("storing the verdict: %w", err)
	}
	details, err := json.Marshal(fb)
	if err != nil {
		return store.Feedback{}, fmt.Errorf("encoding audit details: %w", err)
	}
	entry := store.AuditEntry{Time: fb.Created, Actor: author, Action: AuditAction, Target: string(kind) + ":" + id, Details: details}
	if _, err := st.AppendAudit(ctx, entry); err != nil {
		return store.Feedback{}, fmt.Errorf("recording the verdict in the audit log: %w", err)
	}
	return fb, nil
}

// check bounds the request's strings.
func (req *Request) check(author string) error {
	if !req.TargetKind.Valid() {
		return fmt.Errorf("target_kind %q: want incident, signal, rule or entity: %w", req.TargetKind, store.ErrInvalid)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"target_id", req.TargetID, MaxTargetID}, {"reason", req.Reason, MaxReason}, {"scope", req.Scope, MaxScope}, {"author", author, MaxAuthor}} {
		if len(f.v) > f.max {
			return fmt.Errorf("%s of %d bytes, at most %d: %w", f.name, len(f.v), f.max, store.ErrInvalid)
		}
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("%s is not valid UTF-8: %w", f.name, store.ErrInvalid)
		}
	}
	if req.TargetID == "" {
		return fmt.Errorf("target_id is empty: %w", store.ErrInvalid)
	}
	if author == "" {
		return fmt.Errorf("no author: %w", store.ErrInvalid)
	}
	return nil
}

// targetTime checks that a signal or incident target exists and returns the
// event time a relative expiry counts from: the signal's time, the incident's
// last signal, and for rules and entities the newest stored signal (zero when
// there is none).
func targetTime(ctx context.Context, st store.Store, kind store.TargetKind, id string) (time.Time, error) {
	switch kind {
	case store.TargetIncident:
		inc, err := st.GetIncident(ctx, id)
		if err != nil {
			return time.Time{}, fmt.Errorf("incident %s: %w", id, err)
		}
		return inc.LastSeen, nil
	case store.TargetSignal:
		s, err := st.GetSignal(ctx, id)
		if err != nil {
			return time.Time{}, fmt.Errorf("signal %s: %w", id, err)
		}
		return s.Time, nil
	}
	page, err := st.ListSignals(ctx, store.SignalQuery{Limit: 1})
	if err != nil {
		return time.Time{}, fmt.Errorf("finding the newest signal: %w", err)
	}
	if len(page.Items) == 0 {
		return time.Time{}, nil
	}
	return page.Items[0].Time, nil
}

// ParseExpiry reads "30d", "12h", "90m" (from base) or an RFC 3339 time. The
// error wraps store.ErrInvalid.
func ParseExpiry(s string, base time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 || days > 3650 || strconv.Itoa(days) != n {
			return time.Time{}, fmt.Errorf("%q: want a number of days, a duration or an RFC 3339 time: %w", s, store.ErrInvalid)
		}
		return base.Add(time.Duration(days) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("%q: want a positive duration (30d, 12h) or an RFC 3339 time: %w", s, store.ErrInvalid)
	}
	return base.Add(d), nil
}

// StoreLookup finds verdicts' targets: signals among signals (a run's, may be
// nil), then in st; incidents in st, with their signals (st may be nil: no
// incidents).
func StoreLookup(ctx context.Context, st store.Store, signals []detect.Signal) Lookup {
	byID := make(map[string]*detect.Signal, len(signals))
	for i := range signals {
		byID[signals[i].ID] = &signals[i]
	}
	signal := func(id string) (detect.Signal, bool) {
		if s := byID[id]; s != nil {
			return *s, true
		}
		if st == nil {
			return detect.Signal{}, false
		}
		s, err := st.GetSignal(ctx, id)
		return s, err == nil
	}
	look := Lookup{Signal: signal}
	if st != nil {
		look.Incident = func(id string) ([]detect.Signal, bool) {
			inc, err := st.GetIncident(ctx, id)
			if err != nil {
				return nil, false
			}
			out := IncidentSignals(inc, signal)
			return out, len(out) > 0
		}
	}
	return look
}

// IncidentSignals are the incident's signals that signal finds, in its order.
func IncidentSignals(inc correlate.Incident, signal func(id string) (detect.Signal, bool)) []detect.Signal {
	var out []detect.Signal
	for _, sid := range inc.SignalIDs {
		if s, ok := signal(sid); ok {
			out = append(out, s)
		}
	}
	return out
}

// IsRequestError reports whether err is the caller's (a bad request or a
// missing target) rather than the store failing.
func IsRequestError(err error) bool {
	return errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrNotFound)
}
