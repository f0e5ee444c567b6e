package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/explain"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/triage"
)

// Bounds of an incident's detail.
const (
	MaxIncidentSignals = 500  // signals of an incident loaded for its detail, evidence and graph
	MaxIncidentEvents  = 1000 // evidence events of an incident
	maxVerdicts        = 100  // verdicts on an incident in its detail
	maxGraphNodes      = 500
	maxGraphEdges      = 5000
	maxSignalEntities  = 8 // entities of one signal linked in the graph
)

func (a *API) listIncidents(w http.ResponseWriter, r *http.Request) error {
	p, err := queryParams(r, "status", "min_severity", "min_risk", "entity", "since", "until", "sort", "q", "limit", "cursor")
	if err != nil {
		return err
	}
	var q store.IncidentQuery
	if q.TimeRange, err = p.timeRange(); err != nil {
		return err
	}
	if q.MinSeverity, err = p.severity("min_severity"); err != nil {
		return err
	}
	if q.MinRisk, err = p.float("min_risk"); err != nil {
		return err
	}
	if q.Entity, err = p.entity("entity"); err != nil {
		return err
	}
	if s := p.str("status"); s != "" {
		q.Status = correlate.Status(s)
		if !store.AnalystStatus(q.Status) && q.Status != correlate.StatusMerged {
			return badRequest("status %q: want open, acknowledged, closed, false_positive or merged", s)
		}
	}
	switch s := p.str("sort"); s {
	case "", "risk":
		q.Sort = store.SortRisk
	case "last_seen":
		q.Sort = store.SortLastSeen
	default:
		return badRequest("sort %q: want risk or last_seen", s)
	}
	if q.Text = p.str("q"); len(q.Text) > store.MaxQueryText {
		return badRequest("q: longer than %d bytes", store.MaxQueryText)
	}
	if q.Limit, err = p.limit(); err != nil {
		return err
	}
	if q.Cursor, err = p.cursor(store.CursorIncidents); err != nil {
		return err
	}
	pg, err := a.st.ListIncidents(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPage(pg.Items, pg.Next))
	return nil
}

// IncidentDetail is GET /api/v1/incidents/{id}: the incident with what hunt's
// JSON output says of it.
type IncidentDetail struct {
	Incident correlate.Incident `json:"incident"`
	// Signals are its signals found in the store (the first
	// MaxIncidentSignals of SignalIDs), by time.
	Signals []detect.Signal `json:"signals"`
	// MissingSignals counts signal ids looked up that the store did not have.
	MissingSignals int               `json:"missing_signals"`
	Explanation    explain.Incident  `json:"explanation"`
	NextSteps      []triage.Step     `json:"next_steps"`
	Suggested      triage.Suggestion `json:"suggested_verdict"`
	Verdicts       []store.Feedback  `json:"verdicts"`
}

// incidentSignals loads the incident's first MaxIncidentSignals signals, by
// time, and counts those the store does not have.
func (a *API) incidentSignals(r *http.Request, inc correlate.Incident) ([]detect.Signal, int, error) {
	ids := inc.SignalIDs
	if len(ids) > MaxIncidentSignals {
		ids = ids[:MaxIncidentSignals]
	}
	sigs := make([]detect.Signal, 0, len(ids))
	missing := 0
	for _, id := range ids {
		s, err := a.st.GetSignal(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) {
			missing++
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("loading signal %s of incident %s: %w", id, inc.ID, err)
		}
		sigs = append(sigs, s)
	}
	slices.SortStableFunc(sigs, func(x, y detect.Signal) int { return x.Time.Compare(y.Time) })
	return sigs, missing, nil
}

func (a *API) incident(r *http.Request) (correlate.Incident, error) {
	id := r.PathValue("id")
	inc, err := a.st.GetIncident(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return inc, notFound("incident %q not found", id)
	}
	return inc, err
}

func (a *API) getIncident(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	inc, err := a.incident(r)
	if err != nil {
		return err
	}
	// The same functions as hunt's JSON output, so API and CLI say the same.
	// The dossier loads the incident's signals (the first MaxIncidentSignals).
	d, err := triage.Gather(r.Context(), a.st, inc, triage.GatherOptions{MaxIncidentSignals: MaxIncidentSignals})
	if err != nil {
		return fmt.Errorf("gathering the triage dossier of incident %s: %w", inc.ID, err)
	}
	sigs, missing := d.IncidentSignals, d.MissingSignals
	out := IncidentDetail{
		Incident:       inc,
		Signals:        sigs,
		MissingSignals: missing,
		Explanation:    explain.Explain(inc, sigs, a.context),
		NextSteps:      triage.Steps(inc, d, a.playbooks),
		Suggested:      a.verdicts.Suggest(inc, sigs),
	}
	fb, err := a.st.ListFeedback(r.Context(), store.FeedbackQuery{TargetKind: store.TargetIncident, TargetID: inc.ID, Limit: maxVerdicts})
	if err != nil {
		return err
	}
	out.Verdicts = fb.Items
	if out.Signals == nil {
		out.Signals = []detect.Signal{}
	}
	if out.NextSteps == nil {
		out.NextSteps = []triage.Step{}
	}
	if out.Verdicts == nil {
		out.Verdicts = []store.Feedback{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// IncidentPatch is PATCH /api/v1/incidents/{id}'s body: the fields given change.
type IncidentPatch struct {
	Status   *correlate.Status `json:"status,omitempty"`
	Assignee *string           `json:"assignee,omitempty"`
}

func (a *API) patchIncident(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	who, err := principal(r)
	if err != nil {
		return err
	}
	var body IncidentPatch
	if err := decodeBody(w, r, &body); err != nil {
		return err
	}
	if body.Status == nil && body.Assignee == nil {
		return badRequest("nothing to change: give status and/or assignee")
	}
	u := store.TriageUpdate{Status: body.Status, Assignee: body.Assignee}
	if err := u.Validate(); err != nil {
		field := "assignee"
		if body.Status != nil && !store.AnalystStatus(*body.Status) {
			field = "status"
		}
		return badRequest("%s: %v", field, err)
	}
	before, err := a.incident(r)
	if err != nil {
		return err
	}
	inc, err := a.st.UpdateIncidentTriage(r.Context(), before.ID, u)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("incident %q not found", before.ID)
	}
	if err != nil {
		return err
	}
	details, err := json.Marshal(map[string]any{
		"before": map[string]any{"status": before.Status, "assignee": before.Assignee},
		"after":  map[string]any{"status": inc.Status, "assignee": inc.Assignee},
	})
	if err != nil {
		return fmt.Errorf("encoding audit details: %w", err)
	}
	if _, err := a.st.AppendAudit(r.Context(), store.AuditEntry{Time: a.now().UTC(), Actor: who.Name, Action: "incident.update",
		Target: "incident:" + inc.ID, Details: details}); err != nil {
		return fmt.Errorf("recording the incident update in the audit log: %w", err)
	}
	writeJSON(w, http.StatusOK, inc)
	return nil
}

// principal is who made the request, as the Authorizer put it in the context.
func principal(r *http.Request) (auth.Principal, error) {
	p, ok := auth.PrincipalFrom(r.Context())
	if !ok || p.Name == "" {
		return auth.Principal{}, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "no authenticated principal"}
	}
	return p, nil
}

func (a *API) incidentEvidence(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	inc, err := a.incident(r)
	if err != nil {
		return err
	}
	sigs, _, err := a.incidentSignals(r, inc)
	if err != nil {
		return err
	}
	var ids []string
	seen := map[string]bool{}
	for _, s := range sigs {
		for _, ev := range s.Evidence {
			if !seen[ev.EventID] && len(ids) < MaxIncidentEvents {
				seen[ev.EventID] = true
				ids = append(ids, ev.EventID)
			}
		}
	}
	var evs []store.Evidence
	if len(ids) > 0 {
		if evs, err = a.st.GetEvidence(r.Context(), ids); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, newItems(evs))
	return nil
}

// GraphNode is an entity of an incident's graph. ID is "kind:value".
type GraphNode struct {
	ID    string            `json:"id"`
	Kind  detect.EntityKind `json:"kind"`
	Value string            `json:"value"`
	// Signals counts the incident's loaded signals naming the entity.
	Signals int `json:"signals"`
}

// GraphEdge links two entities named by one signal.
type GraphEdge struct {
	From     string `json:"from"`
	To       string `json:"to"`
	SignalID string `json:"signal_id,omitempty"`
	Title    string `json:"title,omitempty"`
}

// Graph is GET /api/v1/incidents/{id}/graph.
type Graph struct {
	Nodes []GraphNode `json:"nodes"`
	Edges []GraphEdge `json:"edges"`
	// Truncated is set when the node or edge bound cut the graph.
	Truncated bool `json:"truncated,omitempty"`
}

func entityID(e detect.Entity) string { return string(e.Kind) + ":" + e.Value }

func (a *API) incidentGraph(w http.ResponseWriter, r *http.Request) error {
	if _, err := queryParams(r); err != nil {
		return err
	}
	inc, err := a.incident(r)
	if err != nil {
		return err
	}
	sigs, _, err := a.incidentSignals(r, inc)
	if err != nil {
		return err
	}
	g := Graph{Nodes: []GraphNode{}, Edges: []GraphEdge{}}
	index := map[string]int{}
	node := func(e detect.Entity) (string, bool) {
		id := entityID(e)
		if _, ok := index[id]; !ok {
			if len(g.Nodes) >= maxGraphNodes {
				g.Truncated = true
				return "", false
			}
			index[id] = len(g.Nodes)
			g.Nodes = append(g.Nodes, GraphNode{ID: id, Kind: e.Kind, Value: e.Value})
		}
		return id, true
	}
	for _, e := range inc.Entities {
		node(e)
	}
	for _, s := range sigs {
		var ids []string
		for _, e := range s.Entities {
			id, ok := node(e)
			if !ok || slices.Contains(ids, id) {
				continue
			}
			g.Nodes[index[id]].Signals++
			if len(ids) < maxSignalEntities {
				ids = append(ids, id)
			}
		}
		for i := range ids {
			for j := i + 1; j < len(ids); j++ {
				if len(g.Edges) >= maxGraphEdges {
					g.Truncated = true
					break
				}
				g.Edges = append(g.Edges, GraphEdge{From: ids[i], To: ids[j], SignalID: s.ID, Title: s.Title})
			}
		}
	}
	writeJSON(w, http.StatusOK, g)
	return nil
}
