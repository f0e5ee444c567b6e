package api

import (
	"cmp"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/feedback"
	"github.com/vigilsec/vigil/internal/store"
)

// Bounds of the entity routes and events.
const (
	maxEntityIncidents = 20    // incidents in an entity's profile
	maxEntityScan      = 5000  // signals of an entity read for its profile
	maxTimelineInc     = 1000  // incidents of an entity merged into its timeline
	MaxEventIDs        = 1000  // ids of GET /api/v1/events
	maxSuppressions    = 1000  // items of GET /api/v1/suppressions
	maxFeedbackScan    = 20000 // verdicts read for the suppressions
	maxID              = 512   // bytes of an id in a path or list
)

func (a *API) listSignals(w http.ResponseWriter, r *http.Request) error {
	p, err := queryParams(r, "detector", "rule", "entity", "min_severity", "since", "until", "limit", "cursor")
	if err != nil {
		return err
	}
	q := store.SignalQuery{DetectorID: p.str("detector"), RuleID: p.str("rule")}
	if q.TimeRange, err = p.timeRange(); err != nil {
		return err
	}
	if q.MinSeverity, err = p.severity("min_severity"); err != nil {
		return err
	}
	if q.Entity, err = p.entity("entity"); err != nil {
		return err
	}
	if q.Limit, err = p.limit(); err != nil {
		return err
	}
	if q.Cursor, err = p.cursor(store.CursorSignals); err != nil {
		return err
	}
	pg, err := a.st.ListSignals(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPage(pg.Items, pg.Next))
	return nil
}

func (a *API) getSignal(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	id := r.PathValue("id")
	s, err := a.st.GetSignal(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("signal %q not found", id)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

// EntityContext is what the business knows of an entity.
type EntityContext struct {
	Criticality string `json:"criticality,omitempty"`
	Privileged  bool   `json:"privileged,omitempty"`
}

// BaselineRef is a behavioral baseline an entity's signals were measured against.
type BaselineRef struct {
	Detector    string    `json:"detector"`
	Attribute   string    `json:"attribute"`
	Entity      string    `json:"entity,omitempty"`
	LearnedFrom time.Time `json:"learned_from,omitzero"`
}

// EntityProfile is GET /api/v1/entities/{kind}/{value}.
type EntityProfile struct {
	Entity  detect.Entity `json:"entity"`
	Context EntityContext `json:"context"`
	// Risk is the highest risk of the incidents naming the entity (0: none).
	Risk      float64   `json:"risk"`
	FirstSeen time.Time `json:"first_seen,omitzero"` // its first signal (event time)
	LastSeen  time.Time `json:"last_seen,omitzero"`  // its last signal
	// SignalCount counts its signals, up to maxEntityScan; SignalCountCapped
	// says there are more.
	SignalCount       int                  `json:"signal_count"`
	SignalCountCapped bool                 `json:"signal_count_capped,omitempty"`
	Incidents         []correlate.Incident `json:"incidents"` // the latest 20 (by last seen)
	Baselines         []BaselineRef        `json:"baselines"`
}

func pathEntity(r *http.Request) (detect.Entity, error) {
	e := detect.Entity{Kind: detect.EntityKind(r.PathValue("kind")), Value: r.PathValue("value")}
	if e.Kind == "" || e.Value == "" || len(e.Value) > maxParam || len(e.Kind) > 64 {
		return e, badRequest("entity: want /entities/{kind}/{value} with a non-empty kind and value (value percent-encoded)")
	}
	return e, nil
}

func (a *API) getEntity(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	e, err := pathEntity(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	out := EntityProfile{Entity: e, Incidents: []correlate.Incident{}, Baselines: []BaselineRef{}}
	if a.context != nil {
		if c, priv := a.context(e); c != 0 || priv {
			out.Context = EntityContext{Criticality: c.String(), Privileged: priv}
		}
	}
	incs, err := a.st.ListIncidents(ctx, store.IncidentQuery{Entity: e, Sort: store.SortLastSeen, Limit: maxEntityIncidents})
	if err != nil {
		return err
	}
	if incs.Items != nil {
		out.Incidents = incs.Items
	}
	riskiest, err := a.st.ListIncidents(ctx, store.IncidentQuery{Entity: e, Sort: store.SortRisk, Limit: 1})
	if err != nil {
		return err
	}
	if len(riskiest.Items) > 0 {
		out.Risk = riskiest.Items[0].Risk
	}
	first, err := a.st.ListSignals(ctx, store.SignalQuery{Entity: e, Order: store.OrderAsc, Limit: 1})
	if err != nil {
		return err
	}
	if len(first.Items) > 0 {
		out.FirstSeen = first.Items[0].Time
	}
	seen := map[BaselineRef]bool{}
	q := store.SignalQuery{Entity: e, Limit: 1000}
	for {
		pg, err := a.st.ListSignals(ctx, q)
		if err != nil {
			return err
		}
		for i := range pg.Items {
			s := &pg.Items[i]
			if out.SignalCount == 0 {
				out.LastSeen = s.Time
			}
			out.SignalCount++
			if b := s.Baseline; b.Attribute != "" {
				ref := BaselineRef{Detector: s.DetectorID, Attribute: b.Attribute, Entity: b.Entity, LearnedFrom: b.LearnedFrom}
				if !seen[ref] {
					seen[ref] = true
					out.Baselines = append(out.Baselines, ref)
				}
			}
		}
		if pg.Next == "" {
			break
		}
		if out.SignalCount >= maxEntityScan {
			out.SignalCountCapped = true
			break
		}
		q.Cursor = pg.Next
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// TimelineItem is one entry of an entity's timeline: a signal (at its time) or
// an incident (at its first signal).
type TimelineItem struct {
	Time       time.Time       `json:"time"`
	Type       string          `json:"type"` // "signal" or "incident"
	ID         string          `json:"id"`
	Title      string          `json:"title"`
	Severity   detect.Severity `json:"severity"`
	DetectorID string          `json:"detector_id,omitempty"`
	Risk       float64         `json:"risk,omitempty"`
}

// timelineCursor is where a timeline page ended: the store's signal cursor
// after the last signal given (or the one the page started from) and the
// keyset position (first seen, id) of the last incident given.
type timelineCursor struct {
	Signals string `json:"s,omitempty"`
	SigDone bool   `json:"sd,omitempty"`
	IncTime int64  `json:"it,omitempty"`
	IncID   string `json:"ii,omitempty"`
}

func (c timelineCursor) encode() string {
	b, _ := json.Marshal(c) // plain fields
	return "tl." + base64.RawURLEncoding.EncodeToString(b)
}

func decodeTimelineCursor(s string) (timelineCursor, error) {
	var c timelineCursor
	if s == "" {
		return c, nil
	}
	raw, ok := strings.CutPrefix(s, "tl.")
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if !ok || err != nil || json.Unmarshal(b, &c) != nil {
		return c, badRequest("cursor: not a cursor of this list")
	}
	if c.Signals != "" {
		if _, _, err := store.DecodeCursor(store.CursorSignals, c.Signals); err != nil {
			return c, badRequest("cursor: not a cursor of this list")
		}
	}
	return c, nil
}

// entityTimeline merges the entity's signals (paged by the store) with its
// incidents (at most maxTimelineInc, by first seen), newest first.
func (a *API) entityTimeline(w http.ResponseWriter, r *http.Request) error {
	p, err := queryParams(r, "since", "until", "limit", "cursor")
	if err != nil {
		return err
	}
	e, err := pathEntity(r)
	if err != nil {
		return err
	}
	tr, err := p.timeRange()
	if err != nil {
		return err
	}
	limit, err := p.limit()
	if err != nil {
		return err
	}
	cur, err := decodeTimelineCursor(p.str("cursor"))
	if err != nil {
		return err
	}
	ctx := r.Context()
	var sigs []detect.Signal
	sigNext := ""
	if !cur.SigDone {
		pg, err := a.st.ListSignals(ctx, store.SignalQuery{TimeRange: tr, Entity: e, Limit: limit, Cursor: cur.Signals})
		if err != nil {
			return err
		}
		sigs, sigNext = pg.Items, pg.Next
	}
	// Incidents that began in the window, before the cursor's, newest first.
	var incs []correlate.Incident
	iq := store.IncidentQuery{Entity: e, TimeRange: store.TimeRange{Until: tr.Until}, Sort: store.SortLastSeen, Limit: maxTimelineInc}
	ipg, err := a.st.ListIncidents(ctx, iq)
	if err != nil {
		return err
	}
	for _, inc := range ipg.Items {
		if !tr.Since.IsZero() && inc.FirstSeen.Before(tr.Since) {
			continue
		}
		if cur.IncID != "" {
			t := inc.FirstSeen.UnixNano()
			if t > cur.IncTime || (t == cur.IncTime && inc.ID >= cur.IncID) {
				continue
			}
		}
		incs = append(incs, inc)
	}
	slices.SortFunc(incs, func(x, y correlate.Incident) int {
		if c := y.FirstSeen.Compare(x.FirstSeen); c != 0 {
			return c
		}
		return cmp.Compare(y.ID, x.ID)
	})
	out := make([]TimelineItem, 0, limit)
	si, ii := 0, 0
	for len(out) < limit && (si < len(sigs) || ii < len(incs)) {
		// Newest first; an incident before a signal of the same time.
		if ii < len(incs) && (si >= len(sigs) || !incs[ii].FirstSeen.Before(sigs[si].Time)) {
			inc := incs[ii]
			out = append(out, TimelineItem{Time: inc.FirstSeen, Type: "incident", ID: inc.ID, Title: inc.Title, Severity: inc.Severity, Risk: inc.Risk})
			cur.IncTime, cur.IncID = inc.FirstSeen.UnixNano(), inc.ID
			ii++
			continue
		}
		s := sigs[si]
		out = append(out, TimelineItem{Time: s.Time, Type: "signal", ID: s.ID, Title: s.Title, Severity: s.Severity, DetectorID: s.DetectorID})
		si++
	}
	// Where the signals resume: after the page when it was used up, else
	// after the si signals given (one more query for the store's cursor).
	switch {
	case cur.SigDone:
	case si == len(sigs):
		cur.Signals, cur.SigDone = sigNext, sigNext == ""
	case si > 0:
		pg, err := a.st.ListSignals(ctx, store.SignalQuery{TimeRange: tr, Entity: e, Limit: si, Cursor: cur.Signals})
		if err != nil {
			return err
		}
		cur.Signals = pg.Next
	}
	next := ""
	if !cur.SigDone || ii < len(incs) {
		next = cur.encode()
	}
	writeJSON(w, http.StatusOK, newPage(out, next))
	return nil
}

func (a *API) getEvents(w http.ResponseWriter, r *http.Request) error {
	p, err := queryParams(r, "ids")
	if err != nil {
		return err
	}
	raw := p.str("ids")
	if raw == "" {
		return badRequest("ids: give event ids, comma-separated")
	}
	ids := strings.Split(raw, ",")
	if len(ids) > MaxEventIDs {
		return badRequest("ids: %d ids, at most %d", len(ids), MaxEventIDs)
	}
	for _, id := range ids {
		if id == "" || len(id) > maxID {
			return badRequest("ids: an empty id or one longer than %d bytes", maxID)
		}
	}
	evs, err := a.st.GetEvidence(r.Context(), ids)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newItems(evs))
	return nil
}

func (a *API) listFeedback(w http.ResponseWriter, r *http.Request) error {
	p, err := queryParams(r, "target_kind", "target_id", "verdict", "limit", "cursor")
	if err != nil {
		return err
	}
	q := store.FeedbackQuery{TargetKind: store.TargetKind(p.str("target_kind")), TargetID: p.str("target_id")}
	if q.TargetKind != "" && !q.TargetKind.Valid() {
		return badRequest("target_kind %q: want incident, signal, rule or entity", q.TargetKind)
	}
	if v := p.str("verdict"); v != "" {
		if q.Verdict, err = feedback.ParseVerdict(v); err != nil {
			return badRequest("verdict %q: want true_positive (tp), benign_true_positive (btp), false_positive (fp) or duplicate (dup)", v)
		}
	}
	if q.Limit, err = p.limit(); err != nil {
		return err
	}
	if q.Cursor, err = p.cursor(store.CursorFeedback); err != nil {
		return err
	}
	pg, err := a.st.ListFeedback(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPage(pg.Items, pg.Next))
	return nil
}

func (a *API) postFeedback(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	who, err := principal(r)
	if err != nil {
		return err
	}
	var req feedback.Request
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	fb, err := feedback.Record(r.Context(), a.st, req, who.Name, a.now())
	if errors.Is(err, store.ErrNotFound) {
		return notFound("%v", err)
	}
	if errors.Is(err, store.ErrInvalid) {
		return badRequest("%v", err)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/feedback?target_kind="+string(fb.TargetKind)+"&target_id="+url.QueryEscape(fb.TargetID))
	writeJSON(w, http.StatusCreated, fb)
	return nil
}

// Suppressions is GET /api/v1/suppressions.
type Suppressions struct {
	Items []store.Feedback `json:"items"`
	// AsOf is the event time activeness is judged at: the newest stored
	// signal (expiries count in event time); zero when there is none.
	AsOf time.Time `json:"as_of,omitzero"`
	// Truncated says there were more than the bound.
	Truncated bool `json:"truncated,omitempty"`
}

// listSuppressions lists the verdicts that suppress signals: false-positive
// or benign verdicts with a scope (or on an entity), not expired at the
// newest stored signal's time.
func (a *API) listSuppressions(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	ctx := r.Context()
	out := Suppressions{Items: []store.Feedback{}}
	newest, err := a.st.ListSignals(ctx, store.SignalQuery{Limit: 1})
	if err != nil {
		return err
	}
	if len(newest.Items) > 0 {
		out.AsOf = newest.Items[0].Time
	}
	q := store.FeedbackQuery{Limit: store.MaxLimit}
	for scanned := 0; ; {
		pg, err := a.st.ListFeedback(ctx, q)
		if err != nil {
			return err
		}
		for _, fb := range pg.Items {
			suppressing := fb.Verdict == store.VerdictFalsePositive || fb.Verdict == store.VerdictBenignTruePositive
			scoped := fb.Scope != "" || fb.TargetKind == store.TargetEntity
			live := fb.Expires.IsZero() || out.AsOf.IsZero() || fb.Expires.After(out.AsOf)
			if suppressing && scoped && live {
				if len(out.Items) == maxSuppressions {
					out.Truncated = true
					break
				}
				out.Items = append(out.Items, fb)
			}
		}
		scanned += len(pg.Items)
		if pg.Next == "" || out.Truncated {
			break
		}
		if scanned >= maxFeedbackScan {
			out.Truncated = true
			break
		}
		q.Cursor = pg.Next
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) listRules(w http.ResponseWriter, r *http.Request) error {
	p, err := queryParams(r, "q", "limit", "cursor")
	if err != nil {
		return err
	}
	limit, err := p.limit()
	if err != nil {
		return err
	}
	after := ""
	if c := p.str("cursor"); c != "" {
		raw, ok := strings.CutPrefix(c, "rl.")
		b, err := base64.RawURLEncoding.DecodeString(raw)
		if !ok || err != nil || len(b) == 0 {
			return badRequest("cursor: not a cursor of this list")
		}
		after = string(b)
	}
	text := strings.ToLower(p.str("q"))
	var all []RuleInfo
	if a.rules != nil {
		for _, ri := range a.rules.Rules() {
			if text == "" || ruleMatches(ri, text) {
				all = append(all, ri)
			}
		}
	}
	slices.SortFunc(all, func(x, y RuleInfo) int { return cmp.Compare(x.ID, y.ID) })
	start, _ := slices.BinarySearchFunc(all, after, func(ri RuleInfo, id string) int { return cmp.Compare(ri.ID, id) })
	if after != "" && start < len(all) && all[start].ID == after {
		start++
	}
	all = all[start:]
	next := ""
	if len(all) > limit {
		all = all[:limit]
		next = "rl." + base64.RawURLEncoding.EncodeToString([]byte(all[limit-1].ID))
	}
	writeJSON(w, http.StatusOK, newPage(all, next))
	return nil
}

func ruleMatches(ri RuleInfo, text string) bool {
	if strings.Contains(strings.ToLower(ri.ID), text) || strings.Contains(strings.ToLower(ri.Title), text) ||
		strings.Contains(strings.ToLower(ri.Detector), text) || strings.Contains(strings.ToLower(ri.Logsource), text) {
		return true
	}
	return slices.ContainsFunc(ri.Tags, func(t string) bool { return strings.Contains(strings.ToLower(t), text) })
}

func (a *API) listOutbox(w http.ResponseWriter, r *http.Request) error {
	p, err := queryParams(r, "state", "incident_id", "limit", "cursor")
	if err != nil {
		return err
	}
	q := store.OutboxQuery{State: store.OutboxState(p.str("state")), IncidentID: p.str("incident_id")}
	if q.State != "" && !q.State.Valid() {
		return badRequest("state %q: want pending, review, delivered or failed", q.State)
	}
	if q.Limit, err = p.limit(); err != nil {
		return err
	}
	q.Cursor = p.str("cursor")
	pg, err := a.st.ListOutbox(r.Context(), q)
	if errors.Is(err, store.ErrInvalid) && q.Cursor != "" {
		return badRequest("cursor: not a cursor of this list")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPage(pg.Items, pg.Next))
	return nil
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) error {
	p, err := queryParams(r, "actor", "action", "target", "since", "until", "limit", "cursor")
	if err != nil {
		return err
	}
	q := store.AuditQuery{Actor: p.str("actor"), Action: p.str("action"), Target: p.str("target")}
	if q.TimeRange, err = p.timeRange(); err != nil {
		return err
	}
	if q.Limit, err = p.limit(); err != nil {
		return err
	}
	if q.Cursor, err = p.cursor(store.CursorAudit); err != nil {
		return err
	}
	pg, err := a.st.ListAudit(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPage(pg.Items, pg.Next))
	return nil
}

// Status is GET /api/v1/status.
type Status struct {
	Version string `json:"version"`
	Store   string `json:"store"`
	Cluster bool   `json:"cluster,omitempty"` // a member of a cluster: GET /api/v1/cluster answers
	Ingest  any    `json:"ingest,omitempty"`
}

func (a *API) getStatus(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	st := Status{Version: a.version, Store: a.storeName, Cluster: a.cluster != nil}
	if a.status != nil {
		st.Ingest = a.status()
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// getCluster is GET /api/v1/cluster.
func (a *API) getCluster(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	if a.cluster == nil {
		return notFound("this node is not a member of a cluster (serve runs without --bus)")
	}
	o, err := a.cluster(r.Context())
	if err != nil {
		return fmt.Errorf("reading the cluster from its bus: %w", err)
	}
	writeJSON(w, http.StatusOK, o)
	return nil
}

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the API's OpenAPI 3 document (JSON).
func OpenAPI() []byte { return slices.Clone(openAPIDoc) }

func (a *API) getOpenAPI(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDoc)
	return nil
}
