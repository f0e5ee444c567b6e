package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/cluster"
	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

// fakeAuth authenticates by the X-Test-User header, "name:role".
type fakeAuth struct{}

func (fakeAuth) Require(min auth.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			name, role, ok := strings.Cut(r.Header.Get("X-Test-User"), ":")
			rl, err := auth.ParseRole(role)
			if !ok || err != nil {
				WriteError(w, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "sign in"})
				return
			}
			if !rl.Allows(min) {
				WriteError(w, &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: "needs " + min.String()})
				return
			}
			next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{Name: name, Role: rl, Method: "token"})))
		})
	}
}

type rules []RuleInfo

func (r rules) Rules() []RuleInfo { return r }

// validateResponse checks a response against the OpenAPI document; the
// kin-openapi test file sets it (nil: not checked).
var validateResponse func(t *testing.T, req *http.Request, status int, header http.Header, body []byte)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

type env struct {
	t   *testing.T
	st  store.Store
	srv *httptest.Server
}

func sig(id string, at time.Duration, sev detect.Severity, ents ...detect.Entity) detect.Signal {
	return detect.Signal{ID: id, Time: t0.Add(at), DetectorID: "sigma", DetectorVersion: "1", RuleID: "rule-" + id, Title: "Signal " + id,
		Severity: sev, Confidence: 0.8, Tactics: []string{"execution"}, Techniques: []string{"T1059.001"}, Entities: ents,
		Explanation: detect.Explanation{Summary: "encoded PowerShell"},
		Evidence:    []detect.EvidenceRef{{EventID: "ev-" + id, Time: t0.Add(at), Source: "sysmon.json", Offset: 1}}}
}

var (
	alice = detect.Entity{Kind: detect.EntityUser, Value: "alice"}
	bob   = detect.Entity{Kind: detect.EntityUser, Value: "bob"}
	ws1   = detect.Entity{Kind: detect.EntityHost, Value: "ws-1"}
	ws2   = detect.Entity{Kind: detect.EntityHost, Value: "ws-2"}
	path  = detect.Entity{Kind: detect.EntityFile, Value: `c:\temp/x.ps1`}
)

// newEnv serves the API over a fresh sqlite store seeded with 4 signals and 3
// incidents.
func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	s1 := sig("s1", 0, detect.SeverityHigh, alice, ws1)
	s2 := sig("s2", time.Minute, detect.SeverityCritical, alice, ws1, path)
	s3 := sig("s3", time.Hour, detect.SeverityLow, bob, ws2)
	s4 := sig("s4", 2*time.Hour, detect.SeverityMedium, alice, ws2)
	s4.DetectorID, s4.RuleID = "behavior.logon_hours", "hour"
	s4.Baseline = detect.Baseline{Entity: "alice", Attribute: "logon_hour", LearnedFrom: t0.Add(-24 * time.Hour)}
	sigs := []detect.Signal{s1, s2, s3, s4}
	must(t, st.PutSignals(ctx, sigs))
	var evs []store.Evidence
	for _, s := range sigs {
		evs = append(evs, store.Evidence{EventID: s.Evidence[0].EventID, Time: s.Time, Source: "sysmon.json", Format: "sysmon", JSON: json.RawMessage(`{"id":"` + s.ID + `"}`)})
	}
	must(t, st.PutEvidence(ctx, evs))
	incs := []correlate.Incident{
		{ID: "inc-a", Title: "PowerShell on ws-1", Status: correlate.StatusOpen, Severity: detect.SeverityCritical, Confidence: 0.9, Risk: 80,
			FirstSeen: s1.Time, LastSeen: s2.Time, Tactics: []string{"execution"}, Techniques: []string{"T1059.001"}, Entities: []detect.Entity{alice, ws1, path},
			EntityCount: 3, SignalIDs: []string{"s1", "s2", "s-missing"}, SignalCount: 3, Summary: "alice ran encoded PowerShell", Version: 2},
		{ID: "inc-b", Title: "Odd logon by bob", Status: correlate.StatusAcknowledged, Severity: detect.SeverityLow, Confidence: 0.5, Risk: 20,
			FirstSeen: s3.Time, LastSeen: s3.Time, Entities: []detect.Entity{bob, ws2}, EntityCount: 2, SignalIDs: []string{"s3"}, SignalCount: 1, Version: 1},
		{ID: "inc-c", Title: "Logon hours", Status: correlate.StatusOpen, Severity: detect.SeverityMedium, Confidence: 0.6, Risk: 45,
			FirstSeen: s4.Time, LastSeen: s4.Time, Entities: []detect.Entity{alice, ws2}, EntityCount: 2, SignalIDs: []string{"s4"}, SignalCount: 1, Version: 1},
	}
	for _, inc := range incs {
		must(t, st.UpsertIncident(ctx, inc))
	}
	a, err := New(Options{Store: st, Auth: fakeAuth{}, Version: "test",
		Rules:  rules{{ID: "r2", Title: "Mimikatz", Detector: "sigma", Tags: []string{"attack.t1003"}}, {ID: "r1", Title: "Encoded PowerShell", Detector: "sigma"}, {ID: "r3", Title: "Whoami", Detector: "sigma"}},
		Status: func() any { return map[string]any{"backlog": 0} },
		Now:    func() time.Time { return time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, st: st, srv: srv}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// do sends a request as user ("name:role", empty: anonymous) and returns the
// status and body, after checking the response against the OpenAPI document.
func (e *env) do(method, target, user string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			e.t.Fatal(err)
		}
	}
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+target, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set("X-Test-User", user)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("%s %s: Content-Type %q", method, target, ct)
	}
	if validateResponse != nil {
		if raw != nil {
			req.Body = io.NopCloser(bytes.NewReader(raw))
		}
		validateResponse(e.t, req, resp.StatusCode, resp.Header, out)
	}
	return resp.StatusCode, out
}

func (e *env) get(target string, v any) {
	e.t.Helper()
	code, body := e.do(http.MethodGet, target, "vera:viewer", nil)
	if code != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", target, code, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		e.t.Fatalf("GET %s: %v", target, err)
	}
}

type errDoc struct {
	Error struct{ Code, Message string } `json:"error"`
}

// wantError checks an error response's status, code and that its message
// names want.
func wantError(t *testing.T, what string, code int, body []byte, wantCode int, errCode, names string) {
	t.Helper()
	var d errDoc
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("%s: not an error document: %s", what, body)
	}
	if code != wantCode || d.Error.Code != errCode || !strings.Contains(d.Error.Message, names) {
		t.Errorf("%s: %d %s %q, want %d %s naming %q", what, code, d.Error.Code, d.Error.Message, wantCode, errCode, names)
	}
}

func ids[T any](items []T, id func(T) string) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, id(it))
	}
	return out
}

func incIDs(p page[correlate.Incident]) []string {
	return ids(p.Items, func(i correlate.Incident) string { return i.ID })
}

func TestListIncidents(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"inc-a", "inc-c", "inc-b"}},
		{"?sort=last_seen", []string{"inc-c", "inc-b", "inc-a"}},
		{"?status=open", []string{"inc-a", "inc-c"}},
		{"?status=acknowledged", []string{"inc-b"}},
		{"?min_severity=medium", []string{"inc-a", "inc-c"}},
		{"?min_risk=45", []string{"inc-a", "inc-c"}},
		{"?entity=user:alice", []string{"inc-a", "inc-c"}},
		{"?entity=" + url.QueryEscape("file:"+path.Value), []string{"inc-a"}},
		{"?q=powershell", []string{"inc-a"}},
		{"?q=BOB", []string{"inc-b"}},
		{"?q=%25", []string{}},
		{"?since=" + t0.Add(30*time.Minute).Format(time.RFC3339) + "&until=" + t0.Add(90*time.Minute).Format(time.RFC3339), []string{"inc-b"}},
	} {
		var p page[correlate.Incident]
		e.get("/api/v1/incidents"+tc.query, &p)
		if got := incIDs(p); !slices.Equal(got, tc.want) || p.Next != "" {
			t.Errorf("%q: %v next %q, want %v", tc.query, got, p.Next, tc.want)
		}
	}
	// Pagination: one by one with cursors gives the full list once.
	var got []string
	cursor := ""
	for range 10 {
		var p page[correlate.Incident]
		e.get("/api/v1/incidents?limit=1&cursor="+url.QueryEscape(cursor), &p)
		got = append(got, incIDs(p)...)
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if !slices.Equal(got, []string{"inc-a", "inc-c", "inc-b"}) {
		t.Errorf("paged: %v", got)
	}
	var full page[correlate.Incident]
	e.get("/api/v1/incidents?entity=host:ws-1", &full)
	if len(full.Items) != 1 || full.Items[0].Risk != 80 || full.Items[0].Summary == "" || full.Items[0].SignalCount != 3 {
		t.Errorf("incident content: %+v", full.Items)
	}
	for _, tc := range []struct{ query, names string }{
		{"?status=merged2", "status"}, {"?status=", ""}, {"?min_severity=severe", "min_severity"}, {"?min_risk=-1", "min_risk"},
		{"?min_risk=NaN", "min_risk"}, {"?entity=alice", "entity"}, {"?since=yesterday", "since"}, {"?until=2026-13-01T00:00:00Z", "until"},
		{"?since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", "since"}, {"?sort=name", "sort"}, {"?limit=0", "limit"},
		{"?limit=1001", "limit"}, {"?limit=x", "limit"}, {"?cursor=garbage", "cursor"}, {"?frobnicate=1", "frobnicate"},
		{"?limit=1&limit=2", "limit"}, {"?q=" + strings.Repeat("x", 300), "q"},
	} {
		if tc.query == "?status=" {
			continue // an empty status is no filter
		}
		code, body := e.do(http.MethodGet, "/api/v1/incidents"+tc.query, "vera:viewer", nil)
		wantError(t, tc.query, code, body, http.StatusBadRequest, CodeBadRequest, tc.names)
	}
	// A cursor of another list is refused.
	var sp page[detect.Signal]
	e.get("/api/v1/signals?limit=1", &sp)
	code, body := e.do(http.MethodGet, "/api/v1/incidents?cursor="+sp.Next, "vera:viewer", nil)
	wantError(t, "signal cursor", code, body, http.StatusBadRequest, CodeBadRequest, "cursor")
}

func TestAuthRequired(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		method, path, user string
		body               any
		want               int
		code               string
	}{
		{"GET", "/api/v1/incidents", "", nil, 401, CodeUnauthorized},
		{"GET", "/api/v1/openapi.json", "", nil, 401, CodeUnauthorized},
		{"GET", "/api/v1/audit", "ana:analyst", nil, 403, CodeForbidden},
		{"PATCH", "/api/v1/incidents/inc-a", "vera:viewer", map[string]any{"status": "closed"}, 403, CodeForbidden},
		{"POST", "/api/v1/feedback", "vera:viewer", map[string]any{"target_kind": "incident", "target_id": "inc-a", "verdict": "tp"}, 403, CodeForbidden},
	} {
		code, body := e.do(tc.method, tc.path, tc.user, tc.body)
		wantError(t, tc.method+" "+tc.path+" as "+tc.user, code, body, tc.want, tc.code, "")
	}
	var a page[store.AuditEntry]
	e.get("/api/v1/incidents", &page[correlate.Incident]{})
	code, body := e.do("GET", "/api/v1/audit", "root:admin", nil)
	if code != 200 || json.Unmarshal(body, &a) != nil || len(a.Items) != 0 {
		t.Errorf("audit as admin: %d %s", code, body)
	}
}

func TestIncidentDetail(t *testing.T) {
	e := newEnv(t)
	var d IncidentDetail
	e.get("/api/v1/incidents/inc-a", &d)
	if d.Incident.ID != "inc-a" || d.MissingSignals != 1 || !slices.Equal(ids(d.Signals, func(s detect.Signal) string { return s.ID }), []string{"s1", "s2"}) {
		t.Errorf("incident/signals: %s, %d missing, %v", d.Incident.ID, d.MissingSignals, d.Signals)
	}
	if d.Explanation.Text == "" || len(d.Explanation.Reasons) == 0 {
		t.Errorf("explanation: %+v", d.Explanation)
	}
	if len(d.NextSteps) == 0 || d.NextSteps[0].For == "" {
		t.Errorf("next steps: %+v", d.NextSteps)
	}
	if d.Suggested.Verdict == "" || d.Suggested.Model == "" || d.Suggested.Confidence < 0.5 {
		t.Errorf("suggested verdict: %+v", d.Suggested)
	}
	if len(d.Verdicts) != 0 {
		t.Errorf("verdicts before any: %+v", d.Verdicts)
	}
	code, body := e.do("POST", "/api/v1/feedback", "ana:analyst", map[string]any{"target_kind": "incident", "target_id": "inc-a", "verdict": "tp", "reason": "confirmed"})
	if code != http.StatusCreated {
		t.Fatalf("post feedback: %d %s", code, body)
	}
	e.get("/api/v1/incidents/inc-a", &d)
	if len(d.Verdicts) != 1 || d.Verdicts[0].Verdict != store.VerdictTruePositive || d.Verdicts[0].Author != "ana" {
		t.Errorf("verdicts: %+v", d.Verdicts)
	}
	for _, p := range []string{"/api/v1/incidents/nope", "/api/v1/incidents/nope/evidence", "/api/v1/incidents/nope/graph", "/api/v1/signals/nope"} {
		code, body := e.do("GET", p, "vera:viewer", nil)
		wantError(t, p, code, body, http.StatusNotFound, CodeNotFound, "nope")
	}
	code, body = e.do("GET", "/api/v1/incidents/inc-a?x=1", "vera:viewer", nil)
	wantError(t, "unknown parameter", code, body, http.StatusBadRequest, CodeBadRequest, `"x"`)
}

func TestPatchIncident(t *testing.T) {
	e := newEnv(t)
	code, body := e.do("PATCH", "/api/v1/incidents/inc-a", "ana:analyst", map[string]any{"status": "acknowledged", "assignee": "ana"})
	var inc correlate.Incident
	if code != 200 || json.Unmarshal(body, &inc) != nil || inc.Status != correlate.StatusAcknowledged || inc.Assignee != "ana" || inc.Version != 2 {
		t.Fatalf("patch: %d %s", code, body)
	}
	var p page[correlate.Incident]
	e.get("/api/v1/incidents?status=acknowledged", &p)
	if !slices.Equal(incIDs(p), []string{"inc-a", "inc-b"}) {
		t.Errorf("acknowledged after patch: %v", incIDs(p))
	}
	var audit page[store.AuditEntry]
	code, body = e.do("GET", "/api/v1/audit?action=incident.update", "root:admin", nil)
	if code != 200 || json.Unmarshal(body, &audit) != nil || len(audit.Items) != 1 {
		t.Fatalf("audit: %d %s", code, body)
	}
	if a := audit.Items[0]; a.Actor != "ana" || a.Target != "incident:inc-a" || !strings.Contains(string(a.Details), `"before":{"assignee":"","status":"open"}`) ||
		!a.Time.Equal(time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("audit entry %+v %s", a, a.Details)
	}
	for _, tc := range []struct {
		path  string
		body  any
		want  int
		code  string
		names string
	}{
		{"/api/v1/incidents/inc-a", map[string]any{"status": "merged"}, 400, CodeBadRequest, "status"},
		{"/api/v1/incidents/inc-a", map[string]any{"status": "done"}, 400, CodeBadRequest, "status"},
		{"/api/v1/incidents/inc-a", map[string]any{"assignee": strings.Repeat("a", 300)}, 400, CodeBadRequest, "assignee"},
		{"/api/v1/incidents/inc-a", map[string]any{"owner": "x"}, 400, CodeBadRequest, `"owner"`},
		{"/api/v1/incidents/inc-a", map[string]any{"status": 3}, 400, CodeBadRequest, "status"},
		{"/api/v1/incidents/inc-a", map[string]any{}, 400, CodeBadRequest, "nothing to change"},
		{"/api/v1/incidents/inc-a", `{"status":"closed"} {}`, 400, CodeBadRequest, "more than one"},
		{"/api/v1/incidents/inc-a", `{"status":`, 400, CodeBadRequest, "JSON"},
		{"/api/v1/incidents/inc-a", `{"assignee":"` + strings.Repeat("a", MaxBody) + `"}`, 400, CodeBadRequest, "larger than"},
		{"/api/v1/incidents/nope", map[string]any{"status": "closed"}, 404, CodeNotFound, "nope"},
	} {
		code, body := e.do("PATCH", tc.path, "ana:analyst", tc.body)
		wantError(t, fmt.Sprint(tc.body)[:min(40, len(fmt.Sprint(tc.body)))], code, body, tc.want, tc.code, tc.names)
	}
	_, body = e.do("GET", "/api/v1/audit?action=incident.update", "root:admin", nil)
	must(t, json.Unmarshal(body, &audit))
	if len(audit.Items) != 1 {
		t.Errorf("rejected updates were audited: %d entries", len(audit.Items))
	}
}

func TestFeedback(t *testing.T) {
	e := newEnv(t)
	posts := []map[string]any{
		{"target_kind": "incident", "target_id": "inc-b", "verdict": "fp", "scope": "entity", "expires": "30d", "reason": "lab"},
		{"target_kind": "signal", "target_id": "s1", "verdict": "true_positive"},
		{"target_kind": "rule", "target_id": "sigma/rule-s3", "verdict": "btp", "scope": "rule"},
		{"target_kind": "entity", "target_id": "host:ws-9", "verdict": "benign_true_positive", "expires": "2020-01-01T00:00:00Z"}, // expired
	}
	for _, p := range posts {
		code, body := e.do("POST", "/api/v1/feedback", "ana:analyst", p)
		var fb store.Feedback
		if code != 201 || json.Unmarshal(body, &fb) != nil || fb.Author != "ana" || fb.TargetID != p["target_id"] {
			t.Fatalf("post %v: %d %s", p, code, body)
		}
	}
	var fp page[store.Feedback]
	e.get("/api/v1/feedback?verdict=fp", &fp)
	if len(fp.Items) != 1 || fp.Items[0].TargetID != "inc-b" || !fp.Items[0].Expires.Equal(t0.Add(time.Hour+30*24*time.Hour)) {
		t.Errorf("fp verdicts: %+v", fp.Items)
	}
	var all page[store.Feedback]
	e.get("/api/v1/feedback?limit=3", &all)
	if len(all.Items) != 3 || all.Next == "" {
		t.Errorf("first page: %d items, next %q", len(all.Items), all.Next)
	}
	e.get("/api/v1/feedback?limit=3&cursor="+all.Next, &all)
	if len(all.Items) != 1 || all.Next != "" {
		t.Errorf("second page: %d items, next %q", len(all.Items), all.Next)
	}
	var sup Suppressions
	e.get("/api/v1/suppressions", &sup)
	got := ids(sup.Items, func(f store.Feedback) string { return f.TargetID })
	slices.Sort(got)
	if !slices.Equal(got, []string{"inc-b", "sigma/rule-s3"}) || !sup.AsOf.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("suppressions %v as of %v", got, sup.AsOf)
	}
	var audit page[store.AuditEntry]
	code, body := e.do("GET", "/api/v1/audit?action=feedback.put&actor=ana", "root:admin", nil)
	if code != 200 || json.Unmarshal(body, &audit) != nil || len(audit.Items) != 4 || audit.Items[0].Target != "entity:host:ws-9" {
		t.Errorf("audit: %d %s", code, body)
	}
	for _, tc := range []struct {
		body  any
		want  int
		code  string
		names string
	}{
		{map[string]any{"target_kind": "incident", "target_id": "nope", "verdict": "fp"}, 404, CodeNotFound, "nope"},
		{map[string]any{"target_kind": "signal", "target_id": "nope", "verdict": "fp"}, 404, CodeNotFound, "nope"},
		{map[string]any{"target_kind": "incident", "target_id": "inc-a", "verdict": "maybe"}, 400, CodeBadRequest, "maybe"},
		{map[string]any{"target_kind": "host", "target_id": "inc-a", "verdict": "fp"}, 400, CodeBadRequest, "target_kind"},
		{map[string]any{"target_kind": "incident", "target_id": "inc-a", "verdict": "fp", "scope": "sideways"}, 400, CodeBadRequest, "sideways"},
		{map[string]any{"target_kind": "incident", "target_id": "inc-a", "verdict": "fp", "expires": "soon"}, 400, CodeBadRequest, "expires"},
		{map[string]any{"target_kind": "incident", "target_id": "inc-a", "verdict": "fp", "author": "mallory"}, 400, CodeBadRequest, `"author"`},
	} {
		code, body := e.do("POST", "/api/v1/feedback", "ana:analyst", tc.body)
		wantError(t, fmt.Sprint(tc.body), code, body, tc.want, tc.code, tc.names)
	}
	for _, q := range []struct{ query, names string }{{"?verdict=meh", "verdict"}, {"?target_kind=x", "target_kind"}, {"?cursor=x", "cursor"}} {
		code, body := e.do("GET", "/api/v1/feedback"+q.query, "vera:viewer", nil)
		wantError(t, q.query, code, body, 400, CodeBadRequest, q.names)
	}
}

func TestEvidenceGraphEvents(t *testing.T) {
	e := newEnv(t)
	var ev items[store.Evidence]
	e.get("/api/v1/incidents/inc-a/evidence", &ev)
	if got := ids(ev.Items, func(v store.Evidence) string { return v.EventID }); !slices.Equal(got, []string{"ev-s1", "ev-s2"}) {
		t.Errorf("evidence: %v", got)
	}
	e.get("/api/v1/events?ids=ev-s3,nope,ev-s1", &ev)
	if got := ids(ev.Items, func(v store.Evidence) string { return v.EventID }); !slices.Equal(got, []string{"ev-s3", "ev-s1"}) ||
		string(ev.Items[0].JSON) != `{"id":"s3"}` {
		t.Errorf("events: %v", ev.Items)
	}
	for _, q := range []string{"", "?ids=", "?ids=a,,b", "?ids=" + strings.Repeat("a,", MaxEventIDs+1)} {
		code, body := e.do("GET", "/api/v1/events"+q, "vera:viewer", nil)
		wantError(t, "events"+q[:min(len(q), 20)], code, body, 400, CodeBadRequest, "ids")
	}
	var g Graph
	e.get("/api/v1/incidents/inc-a/graph", &g)
	nodes := ids(g.Nodes, func(n GraphNode) string { return n.ID })
	if !slices.Equal(nodes, []string{"user:alice", "host:ws-1", `file:c:\temp/x.ps1`}) || g.Nodes[0].Signals != 2 || g.Nodes[2].Signals != 1 {
		t.Errorf("nodes: %+v", g.Nodes)
	}
	// s1 links alice-ws1; s2 links alice, ws1 and the file pairwise.
	if len(g.Edges) != 4 || g.Edges[0] != (GraphEdge{From: "user:alice", To: "host:ws-1", SignalID: "s1", Title: "Signal s1"}) {
		t.Errorf("edges: %+v", g.Edges)
	}
}

func TestSignals(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"s4", "s3", "s2", "s1"}},
		{"?entity=user:alice", []string{"s4", "s2", "s1"}},
		{"?min_severity=high", []string{"s2", "s1"}},
		{"?detector=behavior.logon_hours", []string{"s4"}},
		{"?rule=rule-s3", []string{"s3"}},
		{"?since=" + t0.Add(time.Minute).Format(time.RFC3339) + "&until=" + t0.Add(2*time.Hour).Format(time.RFC3339), []string{"s3", "s2"}},
	} {
		var p page[detect.Signal]
		e.get("/api/v1/signals"+tc.query, &p)
		if got := ids(p.Items, func(s detect.Signal) string { return s.ID }); !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v, want %v", tc.query, got, tc.want)
		}
	}
	var s detect.Signal
	e.get("/api/v1/signals/s4", &s)
	if s.Baseline.Attribute != "logon_hour" || s.Explanation.Summary == "" || len(s.Evidence) != 1 {
		t.Errorf("signal: %+v", s)
	}
	code, body := e.do("GET", "/api/v1/signals?entity=:x", "vera:viewer", nil)
	wantError(t, "bad entity", code, body, 400, CodeBadRequest, "entity")
}

func TestEntity(t *testing.T) {
	e := newEnv(t)
	var p EntityProfile
	e.get("/api/v1/entities/user/alice", &p)
	if p.Entity != alice || p.Risk != 80 || p.SignalCount != 3 || !p.FirstSeen.Equal(t0) || !p.LastSeen.Equal(t0.Add(2*time.Hour)) ||
		!slices.Equal(incIDs(page[correlate.Incident]{Items: p.Incidents}), []string{"inc-c", "inc-a"}) ||
		len(p.Baselines) != 1 || p.Baselines[0].Attribute != "logon_hour" || p.Baselines[0].Detector != "behavior.logon_hours" {
		t.Errorf("profile: %+v", p)
	}
	e.get("/api/v1/entities/file/"+url.PathEscape(path.Value), &p)
	if p.Entity != path || p.SignalCount != 1 {
		t.Errorf("profile of a value with a slash: %+v", p)
	}
	e.get("/api/v1/entities/user/nobody", &p)
	if p.SignalCount != 0 || len(p.Incidents) != 0 || p.Risk != 0 {
		t.Errorf("unknown entity: %+v", p)
	}
	// The timeline, whole and paged by 1 and 2, is the same sequence.
	want := []string{"incident:inc-c", "signal:s4", "signal:s2", "incident:inc-a", "signal:s1"} // an incident before a signal of its time
	for _, limit := range []int{100, 1, 2} {
		var got []string
		cursor := ""
		for range 20 {
			var tl page[TimelineItem]
			e.get(fmt.Sprintf("/api/v1/entities/user/alice/timeline?limit=%d&cursor=%s", limit, url.QueryEscape(cursor)), &tl)
			if len(tl.Items) > limit {
				t.Fatalf("page of %d items, limit %d", len(tl.Items), limit)
			}
			got = append(got, ids(tl.Items, func(i TimelineItem) string { return i.Type + ":" + i.ID })...)
			if cursor = tl.Next; cursor == "" {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("timeline by %d: %v, want %v", limit, got, want)
		}
	}
	var tl page[TimelineItem]
	e.get("/api/v1/entities/user/alice/timeline?since="+t0.Add(30*time.Minute).Format(time.RFC3339), &tl)
	if got := ids(tl.Items, func(i TimelineItem) string { return i.Type + ":" + i.ID }); !slices.Equal(got, []string{"incident:inc-c", "signal:s4"}) {
		t.Errorf("timeline since: %v", got)
	}
	code, body := e.do("GET", "/api/v1/entities/user/alice/timeline?cursor=abc", "vera:viewer", nil)
	wantError(t, "timeline cursor", code, body, 400, CodeBadRequest, "cursor")
}

func TestRulesOutboxStatusOpenAPI(t *testing.T) {
	e := newEnv(t)
	var rp page[RuleInfo]
	e.get("/api/v1/rules?limit=2", &rp)
	if got := ids(rp.Items, func(r RuleInfo) string { return r.ID }); !slices.Equal(got, []string{"r1", "r2"}) || rp.Next == "" {
		t.Errorf("rules: %v %q", got, rp.Next)
	}
	e.get("/api/v1/rules?limit=2&cursor="+rp.Next, &rp)
	if got := ids(rp.Items, func(r RuleInfo) string { return r.ID }); !slices.Equal(got, []string{"r3"}) || rp.Next != "" {
		t.Errorf("rules page 2: %v %q", got, rp.Next)
	}
	e.get("/api/v1/rules?q=T1003", &rp)
	if got := ids(rp.Items, func(r RuleInfo) string { return r.ID }); !slices.Equal(got, []string{"r2"}) {
		t.Errorf("rules q: %v", got)
	}
	now := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	_, err := e.st.EnqueueOutbox(t.Context(), []store.OutboxItem{{Key: "k1", Target: "soc/webhook", Kind: "webhook", IncidentID: "inc-a", IncidentVersion: 2,
		Payload: json.RawMessage(`{"id":"inc-a"}`), NextAttempt: now, Created: now, Updated: now}})
	must(t, err)
	var op page[store.OutboxItem]
	e.get("/api/v1/outbox?state=pending", &op)
	if len(op.Items) != 1 || op.Items[0].Key != "k1" {
		t.Errorf("outbox: %+v", op.Items)
	}
	e.get("/api/v1/outbox?state=delivered", &op)
	if len(op.Items) != 0 {
		t.Errorf("delivered outbox: %+v", op.Items)
	}
	code, body := e.do("GET", "/api/v1/outbox?state=lost", "vera:viewer", nil)
	wantError(t, "outbox state", code, body, 400, CodeBadRequest, "state")
	var st Status
	e.get("/api/v1/status", &st)
	if st.Version != "test" || st.Store != "sqlite" || st.Ingest == nil {
		t.Errorf("status: %+v", st)
	}
	var doc map[string]any
	e.get("/api/v1/openapi.json", &doc)
	if doc["openapi"] != "3.0.3" {
		t.Errorf("openapi: %v", doc["openapi"])
	}
}

// TestRoutesDocumented checks that every route is in the OpenAPI document,
// with its role, and that the document has no other.
func TestRoutesDocumented(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	must(t, json.Unmarshal(openAPIDoc, &doc))
	documented := map[string]string{}
	for p, ops := range doc.Paths {
		for m, raw := range ops {
			if m == "parameters" {
				continue
			}
			var op struct {
				Role string `json:"x-vigil-role"`
			}
			must(t, json.Unmarshal(raw, &op))
			documented[strings.ToUpper(m)+" "+p] = op.Role
		}
	}
	a := &API{}
	for _, rt := range a.routes() {
		key := rt.method + " " + rt.path
		role, ok := documented[key]
		if !ok {
			t.Errorf("route %s is not in the OpenAPI document", key)
		} else if role != rt.role.String() {
			t.Errorf("route %s: documented role %q, needs %q", key, role, rt.role)
		}
		delete(documented, key)
	}
	for key := range documented {
		t.Errorf("the OpenAPI document has %s, which is not a route", key)
	}
}

// TestClusterRoute: GET /api/v1/cluster answers 404 on a node without a bus,
// and otherwise the overview the node reads, as documented.
func TestClusterRoute(t *testing.T) {
	e := newEnv(t)
	code, body := e.do("GET", "/api/v1/cluster", "vera:viewer", nil)
	wantError(t, "cluster without a bus", code, body, 404, CodeNotFound, "--bus")

	ov := cluster.Overview{Members: []string{"w0", "w1"}, Correlator: "w1", Unowned: 1,
		Partitions: []cluster.PartitionOverview{{Partition: 0, Owner: "w0", TopicOverview: cluster.TopicOverview{Last: 12, HeldBytes: 3400}}, {Partition: 1}},
		Signals:    cluster.TopicOverview{Last: 3, HeldBytes: 900}}
	fail := false
	a, err := New(Options{Store: e.st, Auth: fakeAuth{}, Version: "test", Cluster: func(context.Context) (any, error) {
		if fail {
			return nil, errors.New("nats: timeout")
		}
		return ov, nil
	}})
	must(t, err)
	mux := http.NewServeMux()
	a.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	e2 := &env{t: t, st: e.st, srv: srv}
	var got cluster.Overview
	e2.get("/api/v1/cluster", &got)
	if fmt.Sprint(got) != fmt.Sprint(ov) {
		t.Errorf("overview %+v, want %+v", got, ov)
	}
	var st Status
	e2.get("/api/v1/status", &st)
	if !st.Cluster {
		t.Error("status of a cluster member: cluster false")
	}
	var alone Status
	e.get("/api/v1/status", &alone)
	if alone.Cluster {
		t.Error("status of a node alone: cluster true")
	}
	fail = true
	code, body = e2.do("GET", "/api/v1/cluster", "vera:viewer", nil)
	wantError(t, "cluster with the bus failing", code, body, 500, CodeInternal, "")
	if code, _ := e2.do("GET", "/api/v1/cluster", "", nil); code != 401 {
		t.Errorf("anonymous: %d", code)
	}
}
