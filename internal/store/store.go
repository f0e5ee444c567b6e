// Package store persists what Vigil produces and remembers: signals, the evidence
// events behind them, incidents, detectors' model state, analysts' feedback and the
// audit log, and the outbox of escalation notifications (outbox.go).
//
// Store is declared here, rather than next to one consumer, because it has two
// implementations: store/sqlite (the embedded default, one process under a data
// directory) and store/postgres (scale-out). Both must pass the conformance suite
// in store/storetest, which is the executable form of the contract below.
//
// Contract shared by every implementation:
//   - Every method takes a context and returns errors wrapped with %w; callers test
//     them with errors.Is against ErrNotFound, ErrConflict, ErrInvalid and ErrClosed.
//   - Times are event times (never the wall clock, except in the audit log, which
//     records when a person or component acted, the outbox's dispatch times and
//     a setting's Updated). They round-trip to the nanosecond
//     and come back in UTC. Times must lie within the range of int64 Unix
//     nanoseconds (years 1678 to 2262).
//   - Puts are idempotent, so a redelivered batch or a replay creates no duplicates.
//   - Lists return one Page at a time; Page.Next is an opaque cursor to pass back
//     in the next query, empty on the last page. Cursors are keyset positions, so
//     rows inserted while paging do not shift pages.
//   - Empty slices come back nil.
//   - Close is idempotent; any call after Close returns an error wrapping ErrClosed.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
)

// Sentinel errors. Implementations wrap them; test with errors.Is.
var (
	// ErrNotFound means the requested record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a write lost an optimistic-versioning race: an incident
	// whose stored version is the same as or newer than the one being written,
	// a setting whose stored revision is not the one the writer read, an
	// outbox item leased to another.
	ErrConflict = errors.New("version conflict")
	// ErrInvalid means the caller passed a record or query the store rejects
	// (missing id, unknown verdict, time out of range, malformed cursor, ...).
	ErrInvalid = errors.New("invalid argument")
	// ErrClosed means the store was used after Close.
	ErrClosed = errors.New("store closed")
)

// Store is the persistence contract. Implementations are safe for concurrent use.
type Store interface {
	// PutSignals stores signals, idempotently by Signal.ID: a signal whose id is
	// already stored is skipped (the first write wins; a signal is an immutable
	// fact). The batch is written atomically.
	PutSignals(ctx context.Context, signals []detect.Signal) error
	// GetSignal returns one signal, or ErrNotFound.
	GetSignal(ctx context.Context, id string) (detect.Signal, error)
	// ListSignals returns the signals matching q, ordered by event time (newest
	// first unless q.Order is OrderAsc). Signals of the same nanosecond come in an
	// implementation-defined order that is stable across pages.
	ListSignals(ctx context.Context, q SignalQuery) (Page[detect.Signal], error)

	// PutEvidence stores evidence events, idempotently by EventID (first write wins).
	PutEvidence(ctx context.Context, evidence []Evidence) error
	// GetEvidence returns the stored evidence among eventIDs, in the order asked;
	// ids that are not stored are left out (no error).
	GetEvidence(ctx context.Context, eventIDs []string) ([]Evidence, error)

	// UpsertIncident inserts an incident, or replaces the stored one when the stored
	// Version is older than inc.Version. When the stored version is the same or
	// newer it returns ErrConflict, except that writing back exactly the stored
	// incident (a redelivery) succeeds and changes nothing.
	//
	// An analyst's triage survives the correlator's writes: when inc.Status is
	// open (or empty) and the stored incident carries an analyst's status
	// (acknowledged, closed, false_positive) or an assignee, the stored status and
	// assignee are kept (KeepTriage). Any other status (merged, say) is written
	// as given.
	UpsertIncident(ctx context.Context, inc correlate.Incident) error
	// UpdateIncidentTriage changes an analyst's fields of a stored incident (the
	// non-nil ones of u) and returns the incident as stored. It does not change
	// Version: the correlator owns it (it counts signals), and its next write
	// must not look stale. It returns ErrNotFound for an unknown id and
	// ErrInvalid for a status an analyst cannot set (TriageUpdate.Validate).
	UpdateIncidentTriage(ctx context.Context, id string, u TriageUpdate) (correlate.Incident, error)
	// GetIncident returns one incident, or ErrNotFound.
	GetIncident(ctx context.Context, id string) (correlate.Incident, error)
	// ListIncidents returns the incidents matching q, in q.Sort order.
	ListIncidents(ctx context.Context, q IncidentQuery) (Page[correlate.Incident], error)

	// PutModelState stores a snapshot of one model partition, replacing the
	// previous snapshot of the same (ModelID, Key).
	PutModelState(ctx context.Context, st ModelState) error
	// GetModelState returns one partition's snapshot, or ErrNotFound.
	GetModelState(ctx context.Context, modelID, key string) (ModelState, error)
	// ListModelStates returns every partition of a model, ordered by Key.
	ListModelStates(ctx context.Context, modelID string) ([]ModelState, error)

	// PutFeedback stores a verdict, replacing any feedback with the same ID (so an
	// analyst can edit a verdict or its expiry).
	PutFeedback(ctx context.Context, fb Feedback) error
	// ListFeedback returns the feedback matching q, ordered by (Created, ID),
	// newest first unless q.Order is OrderAsc.
	ListFeedback(ctx context.Context, q FeedbackQuery) (Page[Feedback], error)

	// AppendAudit appends one entry and returns the id the store assigned.
	// Ids increase in append order. There is no way to change or remove an entry.
	AppendAudit(ctx context.Context, e AuditEntry) (int64, error)
	// ListAudit returns the entries matching q, in append (id) order, newest first
	// unless q.Order is OrderAsc.
	ListAudit(ctx context.Context, q AuditQuery) (Page[AuditEntry], error)

	// EnqueueOutbox adds notifications, idempotently by OutboxItem.Key: an item
	// whose key is already stored is skipped, whatever state it is in (the first
	// write wins). It returns how many items were new. The batch is atomic.
	EnqueueOutbox(ctx context.Context, items []OutboxItem) (added int, err error)
	// ClaimOutbox leases up to c.Limit due items to c.Owner and returns them,
	// oldest NextAttempt first. A leased item is not returned to any claim
	// until its lease ends or MarkOutbox settles it.
	ClaimOutbox(ctx context.Context, c OutboxClaim) ([]OutboxItem, error)
	// MarkOutbox records the outcome of handling an item and clears its lease.
	// It returns ErrNotFound for an unknown key, ErrConflict when a pending item
	// is not leased to r.Owner (the lease ended and another dispatcher may hold
	// it) or when the item is already delivered or failed.
	MarkOutbox(ctx context.Context, r OutboxResult) error
	// ListOutbox returns the items matching q.
	ListOutbox(ctx context.Context, q OutboxQuery) (Page[OutboxItem], error)

	// GetSetting returns a setting, or ErrNotFound.
	GetSetting(ctx context.Context, name string) (Setting, error)
	// PutSetting writes setting name when its stored revision is prev (0: not
	// stored yet) and returns it as stored, with revision prev+1 and Updated
	// the wall-clock time of the write. It returns ErrConflict when the stored
	// revision is not prev (another writer came first: read it again and
	// redo the change), and ErrInvalid for a name that is empty, longer than
	// MaxSettingName or not valid UTF-8, or for data over MaxSettingSize.
	PutSetting(ctx context.Context, name string, data []byte, prev int64) (Setting, error)

	// Close releases the store. It is idempotent.
	Close() error
}

// Setting is a small named document every node of a deployment shares (the
// users and tokens, the console's session key), changed by compare-and-swap
// on its revision so that writers on several nodes never lose each other's
// changes.
type Setting struct {
	Name     string    `json:"name"`
	Revision int64     `json:"revision"` // 1 for the first write, one more for each write
	Data     []byte    `json:"data"`
	Updated  time.Time `json:"updated"` // wall clock of the last write
}

// Limits of a setting.
const (
	MaxSettingName = 128
	MaxSettingSize = 16 << 20
)

// Page is one page of a list. Next is the cursor of the following page, empty
// when this is the last one.
type Page[T any] struct {
	Items []T
	Next  string
}

// Evidence is one stored event backing a signal: the event's normalized JSON
// (event.Event.AppendJSON), kept byte for byte.
type Evidence struct {
	EventID string          `json:"event_id"`
	Time    time.Time       `json:"time"` // event time
	Source  string          `json:"source"`
	Format  string          `json:"format"`
	JSON    json.RawMessage `json:"json"`
}

// ModelState is a snapshot of one partition of a detector's learned state (a
// behavioral baseline for one entity, say), so a worker can restore it and replay
// the stream from Updated onwards.
type ModelState struct {
	ModelID string    `json:"model_id"` // detector/model id, e.g. "behavior/logon-hours"
	Key     string    `json:"key"`      // entity or partition key; may be empty for a global model
	Version int64     `json:"version"`  // the model's state format or generation
	Updated time.Time `json:"updated"`  // event time the snapshot covers up to
	// Since is the event time the model started learning (its training window
	// is Since..Updated); zero when unknown.
	Since time.Time `json:"since,omitzero"`
	Blob  []byte    `json:"blob"`
}

// TargetKind names what a feedback verdict is about.
type TargetKind string

// Feedback targets.
const (
	TargetSignal   TargetKind = "signal"
	TargetIncident TargetKind = "incident"
	TargetRule     TargetKind = "rule"
	TargetEntity   TargetKind = "entity"
)

// Verdict is an analyst's judgement.
type Verdict string

// Verdicts.
const (
	VerdictTruePositive       Verdict = "true_positive"
	VerdictBenignTruePositive Verdict = "benign_true_positive"
	VerdictFalsePositive      Verdict = "false_positive"
	VerdictDuplicate          Verdict = "duplicate"
)

// Feedback is an analyst's verdict on a signal, incident, rule or entity. It is
// active from Created until Expires (forever when Expires is zero).
type Feedback struct {
	ID         string     `json:"id"`
	TargetKind TargetKind `json:"target_kind"`
	TargetID   string     `json:"target_id"`
	Verdict    Verdict    `json:"verdict"`
	Reason     string     `json:"reason,omitempty"`
	Scope      string     `json:"scope,omitempty"` // what the verdict extends to, e.g. "host:web-1"
	Expires    time.Time  `json:"expires,omitzero"`
	Author     string     `json:"author"`
	Created    time.Time  `json:"created"`
}

// ActiveAt reports whether the feedback is in force at t.
func (f *Feedback) ActiveAt(t time.Time) bool {
	return !f.Created.After(t) && (f.Expires.IsZero() || f.Expires.After(t))
}

// AuditEntry records one action taken on Vigil's data or configuration. The log is
// append-only.
type AuditEntry struct {
	ID      int64           `json:"id"` // assigned by AppendAudit
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"` // e.g. "incident.close", "feedback.put"
	Target  string          `json:"target,omitempty"`
	Details json.RawMessage `json:"details,omitempty"` // a JSON document, or empty
}

// Order is the direction of a list.
type Order uint8

// Orders. The zero value lists newest first.
const (
	OrderDesc Order = iota
	OrderAsc
)

// IncidentSort is the order of ListIncidents. Both sorts are descending on every
// key, ID included.
type IncidentSort uint8

// Incident sorts. The zero value puts the riskiest first.
const (
	SortRisk     IncidentSort = iota // risk, then last_seen, then id
	SortLastSeen                     // last_seen, then id
)

// TimeRange bounds event time: Since <= t < Until. A zero bound is open.
type TimeRange struct {
	Since time.Time
	Until time.Time
}

// Page sizes.
const (
	DefaultLimit = 100
	MaxLimit     = 10_000
)

// SignalQuery selects signals.
type SignalQuery struct {
	TimeRange
	MinSeverity detect.Severity
	DetectorID  string
	RuleID      string
	Entity      detect.Entity // Kind and Value both set, or neither
	Order       Order
	Limit       int // 0 means DefaultLimit; capped at MaxLimit
	Cursor      string
}

// IncidentQuery selects incidents. The time range selects incidents whose
// [FirstSeen, LastSeen] span overlaps it.
type IncidentQuery struct {
	TimeRange
	MinSeverity detect.Severity
	MinRisk     float64          // Risk >= MinRisk; 0 means any
	Status      correlate.Status // empty means any
	Entity      detect.Entity    // Kind and Value both set, or neither
	// Text selects incidents whose title, summary or one of whose entity values
	// contains it, ignoring ASCII case (taken literally: no wildcards). At most
	// MaxQueryText bytes; empty means any.
	Text   string
	Sort   IncidentSort
	Limit  int
	Cursor string
}

// MaxQueryText bounds IncidentQuery.Text; MaxAssignee bounds an assignee's name.
const (
	MaxQueryText = 256
	MaxAssignee  = 256
)

// TriageUpdate is an analyst's change to an incident: the fields that are
// non-nil are set. An empty Assignee unassigns.
type TriageUpdate struct {
	Status   *correlate.Status
	Assignee *string
}

// FeedbackQuery selects feedback. Created orders the list.
type FeedbackQuery struct {
	TargetKind TargetKind // empty means any
	TargetID   string     // empty means any
	Verdict    Verdict    // empty means any
	ActiveAt   time.Time  // when set, only feedback in force at that time
	Order      Order
	Limit      int
	Cursor     string
}

// AuditQuery selects audit entries. The time range applies to AuditEntry.Time.
type AuditQuery struct {
	TimeRange
	Actor  string
	Action string
	Target string
	Order  Order
	Limit  int
	Cursor string
}

// EvidenceInOrder returns the evidence of found in the order of ids, each id
// once, leaving out ids not found: what GetEvidence returns from the rows an
// implementation fetched. It empties found.
func EvidenceInOrder(ids []string, found map[string]Evidence) []Evidence {
	var out []Evidence
	for _, id := range ids {
		if ev, ok := found[id]; ok {
			out = append(out, ev)
			delete(found, id) // a repeated id is returned once
		}
	}
	return out
}
