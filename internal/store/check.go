package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
)

// This file holds what every implementation shares: validation of records and
// queries, time conversion, canonical forms and cursors. Implementations call
// these so they accept and reject exactly the same inputs.

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// UnixNano converts t to Unix nanoseconds, rejecting times outside int64 range
// (which includes the zero time) with ErrInvalid.
func UnixNano(t time.Time) (int64, error) {
	if t.Before(minTime) || t.After(maxTime) {
		return 0, fmt.Errorf("time %s outside the storable range: %w", t.Format(time.RFC3339Nano), ErrInvalid)
	}
	return t.UnixNano(), nil
}

// FromUnixNano is the inverse of UnixNano; the result is in UTC.
func FromUnixNano(n int64) time.Time { return time.Unix(0, n).UTC() }

// CanonicalSignal returns s as stored: every time in UTC without a monotonic
// reading, and empty slices nil. It does not modify s.
func CanonicalSignal(s detect.Signal) detect.Signal {
	s.Time = s.Time.UTC().Round(0)
	s.Tactics = nilIfEmpty(s.Tactics)
	s.Techniques = nilIfEmpty(s.Techniques)
	s.Entities = nilIfEmpty(s.Entities)
	s.Explanation.Matches = nilIfEmpty(s.Explanation.Matches)
	if len(s.Evidence) == 0 {
		s.Evidence = nil
	} else {
		ev := slices.Clone(s.Evidence)
		for i := range ev {
			ev[i].Time = ev[i].Time.UTC().Round(0)
		}
		s.Evidence = ev
	}
	if !s.Baseline.LearnedFrom.IsZero() {
		s.Baseline.LearnedFrom = s.Baseline.LearnedFrom.UTC().Round(0)
	}
	return s
}

// CanonicalIncident returns inc as stored: times in UTC, empty slices nil.
func CanonicalIncident(inc correlate.Incident) correlate.Incident {
	inc.FirstSeen = inc.FirstSeen.UTC().Round(0)
	inc.LastSeen = inc.LastSeen.UTC().Round(0)
	inc.Tactics = nilIfEmpty(inc.Tactics)
	inc.Techniques = nilIfEmpty(inc.Techniques)
	inc.Entities = nilIfEmpty(inc.Entities)
	inc.SignalIDs = nilIfEmpty(inc.SignalIDs)
	return inc
}

func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}

// ValidateSignal checks that s can be stored.
func ValidateSignal(s *detect.Signal) error {
	if s.ID == "" {
		return fmt.Errorf("signal without id: %w", ErrInvalid)
	}
	if s.DetectorID == "" {
		return fmt.Errorf("signal %s without detector id: %w", s.ID, ErrInvalid)
	}
	if _, err := UnixNano(s.Time); err != nil {
		return fmt.Errorf("signal %s: %w", s.ID, err)
	}
	for _, e := range s.Entities {
		if e.Kind == "" || e.Value == "" {
			return fmt.Errorf("signal %s: entity with empty kind or value: %w", s.ID, ErrInvalid)
		}
	}
	if !finite(s.Confidence) || !finite(s.Explanation.Score) {
		return fmt.Errorf("signal %s: non-finite confidence or score: %w", s.ID, ErrInvalid)
	}
	return nil
}

// ValidateIncident checks that inc can be stored.
func ValidateIncident(inc *correlate.Incident) error {
	if inc.ID == "" {
		return fmt.Errorf("incident without id: %w", ErrInvalid)
	}
	if _, err := UnixNano(inc.FirstSeen); err != nil {
		return fmt.Errorf("incident %s first seen: %w", inc.ID, err)
	}
	if _, err := UnixNano(inc.LastSeen); err != nil {
		return fmt.Errorf("incident %s last seen: %w", inc.ID, err)
	}
	if inc.LastSeen.Before(inc.FirstSeen) {
		return fmt.Errorf("incident %s last seen before first seen: %w", inc.ID, ErrInvalid)
	}
	for _, e := range inc.Entities {
		if e.Kind == "" || e.Value == "" {
			return fmt.Errorf("incident %s: entity with empty kind or value: %w", inc.ID, ErrInvalid)
		}
	}
	if !finite(inc.Risk) || !finite(inc.Confidence) {
		return fmt.Errorf("incident %s: non-finite risk or confidence: %w", inc.ID, ErrInvalid)
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// EvidenceFromEvent builds the evidence record of e.
func EvidenceFromEvent(e *event.Event) Evidence {
	return Evidence{
		EventID: e.ID(),
		Time:    e.Timestamp,
		Source:  e.Origin.Source,
		Format:  e.Origin.Format,
		JSON:    e.AppendJSON(nil),
	}
}

// Validate checks that ev can be stored.
func (ev *Evidence) Validate() error {
	if ev.EventID == "" {
		return fmt.Errorf("evidence without event id: %w", ErrInvalid)
	}
	if _, err := UnixNano(ev.Time); err != nil {
		return fmt.Errorf("evidence %s: %w", ev.EventID, err)
	}
	if !json.Valid(ev.JSON) {
		return fmt.Errorf("evidence %s: event JSON is not valid JSON: %w", ev.EventID, ErrInvalid)
	}
	return nil
}

// Validate checks that st can be stored.
func (st *ModelState) Validate() error {
	if st.ModelID == "" {
		return fmt.Errorf("model state without model id: %w", ErrInvalid)
	}
	if _, err := UnixNano(st.Updated); err != nil {
		return fmt.Errorf("model state %s/%s: %w", st.ModelID, st.Key, err)
	}
	if !st.Since.IsZero() {
		if _, err := UnixNano(st.Since); err != nil {
			return fmt.Errorf("model state %s/%s: training start: %w", st.ModelID, st.Key, err)
		}
		if st.Since.After(st.Updated) {
			return fmt.Errorf("model state %s/%s: training start %s after its end %s: %w", st.ModelID, st.Key,
				st.Since.Format(time.RFC3339), st.Updated.Format(time.RFC3339), ErrInvalid)
		}
	}
	return nil
}

// ValidateSetting checks the arguments of PutSetting: a name of 1 to
// MaxSettingName bytes of valid UTF-8, at most MaxSettingSize bytes of data and
// a revision that is not negative.
func ValidateSetting(name string, data []byte, prev int64) error {
	switch {
	case name == "":
		return fmt.Errorf("setting without a name: %w", ErrInvalid)
	case len(name) > MaxSettingName:
		return fmt.Errorf("setting name of %d bytes, at most %d: %w", len(name), MaxSettingName, ErrInvalid)
	case !utf8.ValidString(name):
		return fmt.Errorf("setting name %q is not valid UTF-8: %w", name, ErrInvalid)
	case len(data) > MaxSettingSize:
		return fmt.Errorf("setting %s: %d bytes of data, at most %d: %w", name, len(data), MaxSettingSize, ErrInvalid)
	case prev < 0:
		return fmt.Errorf("setting %s: negative revision %d: %w", name, prev, ErrInvalid)
	}
	return nil
}

// Valid reports whether k is a known target kind.
func (k TargetKind) Valid() bool {
	switch k {
	case TargetSignal, TargetIncident, TargetRule, TargetEntity:
		return true
	}
	return false
}

// Valid reports whether v is a known verdict.
func (v Verdict) Valid() bool {
	switch v {
	case VerdictTruePositive, VerdictBenignTruePositive, VerdictFalsePositive, VerdictDuplicate:
		return true
	}
	return false
}

// Validate checks that f can be stored.
func (f *Feedback) Validate() error {
	switch {
	case f.ID == "":
		return fmt.Errorf("feedback without id: %w", ErrInvalid)
	case !f.TargetKind.Valid():
		return fmt.Errorf("feedback %s: unknown target kind %q: %w", f.ID, f.TargetKind, ErrInvalid)
	case f.TargetID == "":
		return fmt.Errorf("feedback %s without target id: %w", f.ID, ErrInvalid)
	case !f.Verdict.Valid():
		return fmt.Errorf("feedback %s: unknown verdict %q: %w", f.ID, f.Verdict, ErrInvalid)
	}
	if _, err := UnixNano(f.Created); err != nil {
		return fmt.Errorf("feedback %s created: %w", f.ID, err)
	}
	if !f.Expires.IsZero() {
		if _, err := UnixNano(f.Expires); err != nil {
			return fmt.Errorf("feedback %s expires: %w", f.ID, err)
		}
	}
	return nil
}

// Validate checks that e can be appended. The ID is ignored (the store assigns it).
func (e *AuditEntry) Validate() error {
	if e.Actor == "" || e.Action == "" {
		return fmt.Errorf("audit entry without actor or action: %w", ErrInvalid)
	}
	if _, err := UnixNano(e.Time); err != nil {
		return fmt.Errorf("audit entry: %w", err)
	}
	if len(e.Details) > 0 && !json.Valid(e.Details) {
		return fmt.Errorf("audit entry details are not valid JSON: %w", ErrInvalid)
	}
	return nil
}

// Bounds returns the time range as Unix nanoseconds; an open bound is
// math.MinInt64 (since) or math.MaxInt64 (until).
func (r TimeRange) Bounds() (since, until int64, err error) {
	since, until = math.MinInt64, math.MaxInt64
	if !r.Since.IsZero() {
		if since, err = UnixNano(r.Since); err != nil {
			return 0, 0, fmt.Errorf("since: %w", err)
		}
	}
	if !r.Until.IsZero() {
		if until, err = UnixNano(r.Until); err != nil {
			return 0, 0, fmt.Errorf("until: %w", err)
		}
	}
	return since, until, nil
}

// PageLimit turns a query's Limit into the page size: DefaultLimit when zero or
// negative, at most MaxLimit.
func PageLimit(n int) int {
	if n <= 0 {
		return DefaultLimit
	}
	return min(n, MaxLimit)
}

func validEntityFilter(e detect.Entity) error {
	if (e.Kind == "") != (e.Value == "") {
		return fmt.Errorf("entity filter needs both kind and value: %w", ErrInvalid)
	}
	return nil
}

// Validate checks the query.
func (q *SignalQuery) Validate() error {
	if _, _, err := q.Bounds(); err != nil {
		return err
	}
	return validEntityFilter(q.Entity)
}

// Validate checks the query.
func (q *IncidentQuery) Validate() error {
	if _, _, err := q.Bounds(); err != nil {
		return err
	}
	if !finite(q.MinRisk) {
		return fmt.Errorf("minimum risk is not a finite number: %w", ErrInvalid)
	}
	if len(q.Text) > MaxQueryText {
		return fmt.Errorf("search text of %d bytes, at most %d: %w", len(q.Text), MaxQueryText, ErrInvalid)
	}
	return validEntityFilter(q.Entity)
}

// AnalystStatus reports whether an analyst may set s on an incident: open,
// acknowledged, closed or false_positive (merged is the correlator's).
func AnalystStatus(s correlate.Status) bool {
	switch s {
	case correlate.StatusOpen, correlate.StatusAcknowledged, correlate.StatusClosed, correlate.StatusFalsePositive:
		return true
	}
	return false
}

// Validate checks the update: a status an analyst may set, an assignee of at
// most MaxAssignee bytes without control characters.
func (u *TriageUpdate) Validate() error {
	if u.Status != nil && !AnalystStatus(*u.Status) {
		return fmt.Errorf("status %q: want open, acknowledged, closed or false_positive: %w", *u.Status, ErrInvalid)
	}
	if u.Assignee != nil {
		a := *u.Assignee
		if len(a) > MaxAssignee {
			return fmt.Errorf("assignee of %d bytes, at most %d: %w", len(a), MaxAssignee, ErrInvalid)
		}
		for _, r := range a {
			if r < 0x20 || r == 0x7f {
				return fmt.Errorf("assignee with a control character: %w", ErrInvalid)
			}
		}
	}
	return nil
}

// Apply sets the update's fields on inc.
func (u *TriageUpdate) Apply(inc *correlate.Incident) {
	if u.Status != nil {
		inc.Status = *u.Status
	}
	if u.Assignee != nil {
		inc.Assignee = *u.Assignee
	}
}

// KeepTriage applies UpsertIncident's rule to an incoming write over the stored
// incident: when incoming's status is open (or empty) and stored carries an
// analyst's status other than open or an assignee, incoming takes the stored
// status and assignee. Implementations call it before writing.
func KeepTriage(stored correlate.Incident, incoming *correlate.Incident) {
	if incoming.Status != "" && incoming.Status != correlate.StatusOpen {
		return
	}
	analyst := stored.Status != "" && stored.Status != correlate.StatusOpen && stored.Status != correlate.StatusMerged
	if !analyst && stored.Assignee == "" {
		return
	}
	if analyst {
		incoming.Status = stored.Status
	}
	incoming.Assignee = stored.Assignee
}

// LikePattern returns the SQL LIKE pattern matching text anywhere, with %, _
// and the escape character itself escaped by a backslash (use ESCAPE '\').
func LikePattern(text string) string {
	var b strings.Builder
	b.Grow(len(text) + 2)
	b.WriteByte('%')
	for _, r := range text {
		if r == '%' || r == '_' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('%')
	return b.String()
}

// Validate checks the query.
func (q *FeedbackQuery) Validate() error {
	if q.TargetKind != "" && !q.TargetKind.Valid() {
		return fmt.Errorf("unknown target kind %q: %w", q.TargetKind, ErrInvalid)
	}
	if q.Verdict != "" && !q.Verdict.Valid() {
		return fmt.Errorf("unknown verdict %q: %w", q.Verdict, ErrInvalid)
	}
	if !q.ActiveAt.IsZero() {
		if _, err := UnixNano(q.ActiveAt); err != nil {
			return fmt.Errorf("active at: %w", err)
		}
	}
	return nil
}

// Validate checks the query.
func (q *AuditQuery) Validate() error {
	_, _, err := q.Bounds()
	return err
}

// Cursor is the keyset position a page ended at: the sort key of its last item.
// Implementations fill the fields their sort uses and hand out Encode's result as
// Page.Next. Kind stops a cursor from one list being used with another.
type Cursor struct {
	Kind string  `json:"k"`
	Time int64   `json:"t,omitempty"` // Unix nanoseconds
	Risk float64 `json:"r,omitempty"`
	Seq  int64   `json:"n,omitempty"`
	ID   string  `json:"i,omitempty"`
}

// Cursor kinds.
const (
	CursorSignals   = "signals"
	CursorIncidents = "incidents"
	CursorFeedback  = "feedback"
	CursorAudit     = "audit"
)

// Encode returns the opaque form of c.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c) // cannot fail: plain fields; Risk comes from a stored, finite value
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses a cursor of the given kind. It returns ok false for an
// empty cursor (the first page) and ErrInvalid for a malformed one.
func DecodeCursor(kind, s string) (c Cursor, ok bool, err error) {
	if s == "" {
		return Cursor{}, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, false, fmt.Errorf("decoding cursor: %w: %w", ErrInvalid, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return Cursor{}, false, fmt.Errorf("decoding cursor: %w: %w", ErrInvalid, err)
	}
	if c.Kind != kind {
		return Cursor{}, false, fmt.Errorf("cursor for %q used to list %q: %w", c.Kind, kind, ErrInvalid)
	}
	return c, true, nil
}
