package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

// simulated writes a simulated organisation (seed 3) of users for days into a
// fresh directory.
func simulated(t testing.TB, users, days int) string {
	t.Helper()
	dir := t.TempDir()
	if code, _, errs := runCLI(t, "simulate", "--seed", "3", "--users", fmt.Sprint(users), "--days", fmt.Sprint(days), "--out", dir); code != ExitOK {
		t.Fatalf("simulate: exit %d: %s", code, errs)
	}
	return dir
}

// simSignals hunts a small simulated organisation and returns its signals.
func simSignals(t *testing.T) (dir string, signals []detect.Signal) {
	t.Helper()
	dir = simulated(t, 40, 6)
	code, doc, errs := runCLI(t, "hunt", "--identities", filepath.Join(dir, "identities.csv"), "--output", "json", dir)
	if code != ExitOK {
		t.Fatalf("hunt: exit %d: %s", code, errs)
	}
	var res struct {
		Signals []detect.Signal `json:"signals"`
	}
	if err := json.Unmarshal([]byte(doc), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Signals) < 50 {
		t.Fatalf("only %d signals", len(res.Signals))
	}
	return dir, res.Signals
}

func storedIncidents(t *testing.T, st store.Store) map[string]correlate.Incident {
	t.Helper()
	out := map[string]correlate.Incident{}
	q := store.IncidentQuery{Limit: store.MaxLimit}
	for {
		page, err := st.ListIncidents(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, inc := range page.Items {
			out[inc.ID] = inc
		}
		if page.Next == "" {
			return out
		}
		q.Cursor = page.Next
	}
}

// TestIncrementalIncidents: correlating a stream of signals in two runs that
// share a store gives the incidents of one run, under the same ids; a rerun
// over signals already stored changes nothing.
func TestIncrementalIncidents(t *testing.T) {
	ctx := context.Background()
	_, signals := simSignals(t)
	one, err := correlateRun(ctx, nil, nil, signals, 0, 0, correlate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, inc := range one.incidents {
		want[inc.ID] = inc.SignalIDs
	}

	st, err := sqlite.Open(ctx, sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Cut in the middle of a campaign day, so incidents span the two runs.
	cut := len(signals) / 2
	first, err := correlateRun(ctx, st, nil, signals[:cut], 0, 0, correlate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := correlateRun(ctx, st, nil, signals[cut:], 0, 0, correlate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	merged := 0
	for id, inc := range storedIncidents(t, st) {
		if inc.Status == correlate.StatusMerged {
			merged++
			if _, ok := want[inc.MergedInto]; !ok {
				t.Errorf("%s merged into %s, which one run does not have", id, inc.MergedInto)
			}
			continue
		}
		got[id] = inc.SignalIDs
	}
	spanning := 0
	for _, inc := range second.incidents {
		if inc.FirstSeen.Before(signals[cut].Time) {
			spanning++
		}
	}
	t.Logf("%d signals: one run %d incidents; two runs %d + %d changed, %d spanning the cut, %d merged across it",
		len(signals), len(want), first.changed, second.changed, spanning, merged)
	if spanning == 0 {
		t.Fatal("no incident spans the cut: the test shows nothing")
	}
	if len(got) != len(want) {
		t.Errorf("two runs stored %d live incidents, one run has %d", len(got), len(want))
	}
	for id, ids := range want {
		if !slices.Equal(got[id], ids) {
			t.Errorf("incident %s: two runs %v, one run %v", id, got[id], ids)
		}
	}

	// The same signals again: already correlated, nothing changes.
	known := map[string]bool{}
	for _, s := range signals {
		known[s.ID] = true
	}
	again, err := correlateRun(ctx, st, known, signals, 0, 0, correlate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if again.changed != 0 || again.skipped != len(signals) {
		t.Errorf("rerun: %d changed, %d skipped of %d", again.changed, again.skipped, len(signals))
	}
}

// TestHuntDataDirKeepsIncidents: hunt --data-dir stores its incidents and a
// second hunt over the same files reports none as new; an analyst's status
// survives.
func TestHuntDataDirKeepsIncidents(t *testing.T) {
	ctx := context.Background()
	dir := simulated(t, 30, 4)
	data := t.TempDir()
	hunt := func() (incidents int, stderr string) {
		code, doc, errs := runCLI(t, "hunt", "--data-dir", data, "--min-risk", "0", "--output", "json", dir)
		if code != ExitOK {
			t.Fatalf("hunt: exit %d: %s", code, errs)
		}
		var res struct {
			Incidents []json.RawMessage `json:"incidents"`
		}
		if err := json.Unmarshal([]byte(doc), &res); err != nil {
			t.Fatal(err)
		}
		return len(res.Incidents), errs
	}
	n, _ := hunt()
	if n == 0 {
		t.Fatal("first hunt: no incident")
	}
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: data})
	if err != nil {
		t.Fatal(err)
	}
	stored := storedIncidents(t, st)
	live := 0
	var acked correlate.Incident
	for _, inc := range stored {
		if inc.Status != correlate.StatusMerged {
			live++
			acked = inc
		}
	}
	if live != n {
		t.Errorf("first hunt printed %d incidents, stored %d", n, live)
	}
	acked.Status = correlate.StatusAcknowledged
	acked.Version++
	if err := st.UpsertIncident(ctx, acked); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()

	n2, errs := hunt()
	if n2 != 0 || !strings.Contains(errs, "already correlated") {
		t.Errorf("second hunt over the same files: %d incidents, stderr %q", n2, errs)
	}
	st, err = sqlite.Open(ctx, sqlite.Options{Dir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, err := st.GetIncident(ctx, acked.ID); err != nil || got.Status != correlate.StatusAcknowledged {
		t.Errorf("analyst status lost: %v, %v", got.Status, err)
	}
}

// TestHuntResolverLearnsBindings: an address a host reported as its own
// resolves to that host while the binding lasts, so signals naming the address
// and signals naming the host join one incident.
func TestHuntResolverLearnsBindings(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	res := huntResolver(nil)
	var e event.Event
	e.Timestamp = t0
	e.SetStr(event.HostName, "ws-9.corp.example")
	e.SetIP(event.HostIP, netip.MustParseAddr("10.9.9.9"))
	if err := (bindingLearner{res}).Detect(context.Background(), []*event.Event{&e}, nil); err != nil {
		t.Fatal(err)
	}
	resolve := entityResolver(res, nil)
	ip := detect.Entity{Kind: detect.EntityIP, Value: "10.9.9.9"}
	if got := resolve(ip, t0.Add(time.Hour)); got != (detect.Entity{Kind: detect.EntityHost, Value: "ws-9"}) {
		t.Errorf("an hour later: %v", got)
	}
	if got := resolve(ip, t0.Add(30*24*time.Hour)); got != ip {
		t.Errorf("a month later, the binding lapsed, yet %v", got)
	}
	c := correlate.New(correlate.Options{Resolve: resolve})
	c.Add(detect.Signal{ID: "a", Time: t0.Add(time.Minute), DetectorID: "t", RuleID: "a", Entities: []detect.Entity{ip}})
	c.Add(detect.Signal{ID: "b", Time: t0.Add(2 * time.Minute), DetectorID: "t", RuleID: "b", Entities: []detect.Entity{{Kind: detect.EntityHost, Value: "WS-9"}}})
	if n := len(c.Incidents()); n != 1 {
		t.Errorf("%d incidents, want the address and the host in one", n)
	}
}

// TestHuntFeedback: a false-positive verdict on a rule suppresses its signals in
// the next hunt, and a verdict file's bad lines are reported, not fatal.
func TestHuntFeedback(t *testing.T) {
	dir, signals := simSignals(t)
	counts := map[string]int{}
	for _, s := range signals {
		counts[s.DetectorID+"/"+s.RuleID]++
	}
	var noisy string
	for r, n := range counts {
		if n > counts[noisy] || (n == counts[noisy] && r < noisy) {
			noisy = r
		}
	}
	verdicts := filepath.Join(t.TempDir(), "verdicts.jsonl")
	body := `{"id":"v1","target_kind":"rule","target_id":"` + noisy + `","verdict":"false_positive","scope":"rule","author":"ana","created":"2026-03-02T09:00:00Z"}` + "\n" +
		"not a verdict\n"
	if err := os.WriteFile(verdicts, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, doc, errs := runCLI(t, "hunt", "--identities", filepath.Join(dir, "identities.csv"), "--feedback", verdicts, "--output", "json", dir)
	if code != ExitOK {
		t.Fatalf("hunt: exit %d: %s", code, errs)
	}
	var res struct {
		Signals []detect.Signal `json:"signals"`
	}
	if err := json.Unmarshal([]byte(doc), &res); err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Signals {
		if s.DetectorID+"/"+s.RuleID == noisy {
			t.Fatalf("signal %s of the suppressed rule %s still reported", s.ID, noisy)
		}
	}
	if len(res.Signals) != len(signals)-counts[noisy] {
		t.Errorf("%d signals, want %d - %d", len(res.Signals), len(signals), counts[noisy])
	}
	if !strings.Contains(errs, "verdicts.jsonl:2") || !strings.Contains(errs, fmt.Sprintf("%d signals suppressed", counts[noisy])) {
		t.Errorf("stderr: %s", errs)
	}
}

// TestFeedbackCommand: a verdict recorded with vigil feedback is stored, audited,
// listed and counted in the rules' precision; bad verdicts are usage errors.
func TestFeedbackCommand(t *testing.T) {
	ctx := context.Background()
	dir := simulated(t, 30, 4)
	data := t.TempDir()
	if code, _, errs := runCLI(t, "hunt", "--data-dir", data, "--min-risk", "0", "--output", "json", dir); code != ExitOK {
		t.Fatalf("hunt: exit %d: %s", code, errs)
	}
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: data})
	if err != nil {
		t.Fatal(err)
	}
	var target correlate.Incident
	for _, inc := range storedIncidents(t, st) {
		if inc.Status != correlate.StatusMerged && len(inc.SignalIDs) == 1 && (target.ID == "" || inc.ID < target.ID) {
			target = inc
		}
	}
	_ = st.Close()
	if target.ID == "" {
		t.Fatal("no single-signal incident to label")
	}
	for _, bad := range [][]string{
		{"feedback", "add", "--data-dir", data, "--incident", "inc-nope", "--verdict", "fp"},
		{"feedback", "add", "--data-dir", data, "--incident", target.ID, "--verdict", "maybe"},
		{"feedback", "add", "--data-dir", data, "--incident", target.ID, "--rule", "x/y", "--verdict", "fp"},
		{"feedback", "add", "--data-dir", data, "--incident", target.ID, "--verdict", "fp", "--scope", "sideways"},
		{"feedback", "add", "--data-dir", data, "--incident", target.ID, "--verdict", "fp", "--expires", "-3d"},
	} {
		if code, _, _ := runCLI(t, bad...); code != ExitUsage {
			t.Errorf("%v: exit %d, want usage error", bad, code)
		}
	}
	code, out, errs := runCLI(t, "feedback", "add", "--data-dir", data, "--incident", target.ID, "--verdict", "fp",
		"--scope", "entity", "--expires", "30d", "--reason", "lab noise", "--author", "ana")
	if code != ExitOK || !strings.Contains(out, "false_positive on incident "+target.ID) {
		t.Fatalf("add: exit %d: %s %s", code, out, errs)
	}
	code, out, _ = runCLI(t, "feedback", "list", "--data-dir", data)
	if code != ExitOK || !strings.Contains(out, "lab noise") || !strings.Contains(out, target.LastSeen.Add(30*24*time.Hour).Format(time.RFC3339)) {
		t.Errorf("list: exit %d:\n%s", code, out)
	}
	code, out, _ = runCLI(t, "feedback", "precision", "--data-dir", data)
	if code != ExitOK || !strings.Contains(out, "0.33") {
		t.Errorf("precision (one false positive on Beta(1,1): 0.33): exit %d:\n%s", code, out)
	}
	st, err = sqlite.Open(ctx, sqlite.Options{Dir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.ListAudit(ctx, store.AuditQuery{})
	if err != nil || len(page.Items) == 0 || page.Items[0].Action != "feedback.put" || page.Items[0].Actor != "ana" {
		t.Errorf("audit: %v %+v", err, page.Items)
	}
}

// TestLabelExperiment: vigil eval --label labels a seeded tenth of the incidents
// from the truth, applies the verdicts and correlates again; the verdicts never
// add false positives on the rest, keep every campaign, and the same seed gives
// the same figures.
func TestLabelExperiment(t *testing.T) {
	dir, _ := simSignals(t)
	results := filepath.Join(t.TempDir(), "results.json")
	code, doc, errs := runCLI(t, "hunt", "--identities", filepath.Join(dir, "identities.csv"), "--output", "json", dir)
	if code != ExitOK {
		t.Fatalf("hunt: exit %d: %s", code, errs)
	}
	if err := os.WriteFile(results, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(seed string) labelRun {
		strategy := "random"
		if seed == "3" {
			strategy = "clusters"
		}
		code, out, errs := runCLI(t, "eval", "--truth", filepath.Join(dir, "truth.json"), "--identities", filepath.Join(dir, "identities.csv"),
			"--label", "0.1", "--label-seed", seed, "--label-strategy", strategy, "--min-risk", "0", "--output", "json", results)
		if code != ExitOK {
			t.Fatalf("eval --label: exit %d: %s", code, errs)
		}
		var r labelRun
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, seed := range []string{"1", "2", "3"} {
		r := run(seed)
		t.Logf("seed %s: %d reported, %d labelled (%d tp, %d benign, %d fp), %d suppressed, rest FP %d -> %d, recall %v -> %v",
			seed, r.Reported, r.Labelled, r.LabelledTP, r.LabelledB, r.LabelledFP, r.Suppressed, r.RestFPBefore, r.RestFPAfter, r.RecallBefore, r.RecallAfter)
		if r.Labelled != int(math.Round(0.1*float64(r.Reported))) || r.Labelled != r.LabelledTP+r.LabelledB+r.LabelledFP {
			t.Errorf("seed %s: labelled %d of %d", seed, r.Labelled, r.Reported)
		}
		if r.RestFPAfter > r.RestFPBefore || r.RecallAfter.N < r.RecallBefore.N {
			t.Errorf("seed %s: verdicts made it worse: rest FP %d -> %d, recall %v -> %v", seed, r.RestFPBefore, r.RestFPAfter, r.RecallBefore, r.RecallAfter)
		}
		a, _ := json.Marshal(r)
		b, _ := json.Marshal(run(seed))
		if string(a) != string(b) {
			t.Errorf("seed %s: not deterministic: %s then %s", seed, a, b)
		}
	}
}

// TestHuntEscalates: with --escalate, incidents matching a policy reach a signed
// webhook on loopback once each; a second hunt over the same files sends nothing
// more; without --data-dir the flag is refused.
func TestHuntEscalates(t *testing.T) {
	dir := simulated(t, 30, 4)
	var mu sync.Mutex
	got := map[string]int{} // webhook-id -> deliveries
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("webhook-signature") == "" {
			http.Error(w, "unsigned", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	t.Setenv("VIGIL_TEST_WEBHOOK_SECRET", "whsec_"+base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	policies := filepath.Join(t.TempDir(), "policies.yaml")
	if err := os.WriteFile(policies, []byte("policies:\n  - name: all-risky\n    when:\n      min_risk: 10\n    actions:\n      - type: webhook\n        url: "+srv.URL+"\n        secret_env: VIGIL_TEST_WEBHOOK_SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runCLI(t, "hunt", "--escalate", policies, dir); code != ExitUsage {
		t.Errorf("--escalate without --data-dir: exit %d", code)
	}
	data := t.TempDir()
	code, doc, errs := runCLI(t, "hunt", "--data-dir", data, "--escalate", policies, "--output", "json", dir)
	if code != ExitOK {
		t.Fatalf("hunt: exit %d: %s", code, errs)
	}
	var res struct {
		Incidents []json.RawMessage `json:"incidents"`
	}
	if err := json.Unmarshal([]byte(doc), &res); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	first := len(got)
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	mu.Unlock()
	if first == 0 || first != len(res.Incidents) {
		t.Errorf("%d notifications for %d incidents of risk >= 10: %s", first, len(res.Incidents), errs)
	}
	if code, _, errs := runCLI(t, "hunt", "--data-dir", data, "--escalate", policies, "--output", "json", dir); code != ExitOK {
		t.Fatalf("second hunt: exit %d: %s", code, errs)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != first {
		t.Errorf("second hunt over the same files sent %d more", len(got)-first)
	}
	st, err := sqlite.Open(context.Background(), sqlite.Options{Dir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.ListAudit(context.Background(), store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	audited := 0
	for _, e := range page.Items {
		if e.Action == "escalation.dispatch" && e.Actor == "vigil:escalation" {
			audited++
		}
	}
	if audited != 2 {
		t.Errorf("%d escalation runs audited, want 2", audited)
	}
}

// TestHuntActivity: --activity writes each user's event count.
func TestHuntActivity(t *testing.T) {
	out := filepath.Join(t.TempDir(), "activity.json")
	if code, _, errs := runCLI(t, "hunt", "--activity", out, "--output", "json", "../../examples/logs/linux/auth.log"); code != ExitOK {
		t.Fatalf("hunt: exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var counts map[string]int64
	if err := json.Unmarshal(b, &counts); err != nil {
		t.Fatal(err)
	}
	var total int64
	for u, n := range counts {
		if u == "" || n <= 0 {
			t.Errorf("bad entry %q: %d", u, n)
		}
		total += n
	}
	if len(counts) == 0 || total == 0 {
		t.Errorf("no activity counted: %s", b)
	}
}

// TestHuntNextSteps: every reported incident carries an explanation (text,
// reasons, timeline) and next steps from the playbooks of its techniques, with
// its own entities filled in.
func TestHuntNextSteps(t *testing.T) {
	dir, _ := simSignals(t)
	code, doc, errs := runCLI(t, "hunt", "--identities", filepath.Join(dir, "identities.csv"), "--output", "json", dir)
	if code != ExitOK {
		t.Fatalf("hunt: exit %d: %s", code, errs)
	}
	var res struct {
		Incidents []struct {
			ID          string          `json:"id"`
			Entities    []detect.Entity `json:"entities"`
			Explanation struct {
				Text     string            `json:"text"`
				Reasons  []json.RawMessage `json:"reasons"`
				Timeline []json.RawMessage `json:"timeline"`
			} `json:"explanation"`
			NextSteps []struct {
				Title  string `json:"title"`
				LookAt string `json:"look_at"`
				For    string `json:"for"`
			} `json:"next_steps"`
		} `json:"incidents"`
	}
	if err := json.Unmarshal([]byte(doc), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Incidents) == 0 {
		t.Fatal("no incident")
	}
	for _, in := range res.Incidents {
		if in.Explanation.Text == "" || len(in.Explanation.Reasons) == 0 || len(in.Explanation.Timeline) == 0 {
			t.Errorf("incident %s: explanation %+v", in.ID, in.Explanation)
		}
		if len(in.NextSteps) == 0 {
			t.Errorf("incident %s: no next steps", in.ID)
			continue
		}
		named := false
		for _, st := range in.NextSteps {
			if st.Title == "" || st.LookAt == "" || st.For == "" {
				t.Errorf("incident %s: incomplete step %+v", in.ID, st)
			}
			for _, e := range in.Entities {
				named = named || strings.Contains(st.LookAt, e.Value)
			}
		}
		if !named {
			t.Errorf("incident %s: no step names any of its entities", in.ID)
		}
	}
}

// TestReportBias: hunt --activity then vigil report bias gives rates for the
// four dimensions from the identity directory, every directory person counted.
func TestReportBias(t *testing.T) {
	dir, _ := simSignals(t)
	tmp := t.TempDir()
	activity, results := filepath.Join(tmp, "activity.json"), filepath.Join(tmp, "results.json")
	ids := filepath.Join(dir, "identities.csv")
	code, doc, errs := runCLI(t, "hunt", "--identities", ids, "--activity", activity, "--min-risk", "0", "--output", "json", dir)
	if code != ExitOK {
		t.Fatalf("hunt: exit %d: %s", code, errs)
	}
	if err := os.WriteFile(results, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runCLI(t, "report", "bias", "--identities", ids, results); code != ExitUsage {
		t.Errorf("without --activity: exit %d", code)
	}
	code, out, errs := runCLI(t, "report", "bias", "--identities", ids, "--activity", activity, "--output", "json", results)
	if code != ExitOK {
		t.Fatalf("report bias: exit %d: %s", code, errs)
	}
	var rep struct {
		Users      int   `json:"users"`
		Events     int64 `json:"events"`
		Signals    int64 `json:"signals"`
		Tests      int   `json:"tests"`
		Dimensions []struct {
			Name   string            `json:"name"`
			Groups []json.RawMessage `json:"groups"`
		} `json:"dimensions"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Users < 40 || rep.Events == 0 || rep.Signals == 0 || rep.Tests == 0 || len(rep.Dimensions) != 4 {
		t.Errorf("report: users %d, events %d, signals %d, tests %d, %d dimensions", rep.Users, rep.Events, rep.Signals, rep.Tests, len(rep.Dimensions))
	}
	for _, d := range rep.Dimensions {
		if len(d.Groups) < 2 {
			t.Errorf("dimension %s: %d groups", d.Name, len(d.Groups))
		}
	}
}

// TestAssistNarrative: vigil assist narrative sends the incident to an
// OpenAI-compatible endpoint (a fake on loopback) with its users and hosts
// pseudonymised, restores them in the answer, audits the use, and refuses a
// data region the endpoint is not allowed.
func TestAssistNarrative(t *testing.T) {
	ctx := context.Background()
	dir := simulated(t, 30, 4)
	data := t.TempDir()
	if code, _, errs := runCLI(t, "hunt", "--data-dir", data, "--output", "json", dir); code != ExitOK {
		t.Fatalf("hunt: exit %d: %s", code, errs)
	}
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: data})
	if err != nil {
		t.Fatal(err)
	}
	var target correlate.Incident
	for _, inc := range storedIncidents(t, st) {
		if inc.Status != correlate.StatusMerged && inc.Risk > target.Risk && slices.ContainsFunc(inc.Entities, func(e detect.Entity) bool { return e.Kind == detect.EntityUser }) {
			target = inc
		}
	}
	_ = st.Close()
	var user string
	for _, e := range target.Entities {
		if e.Kind == detect.EntityUser {
			user = e.Value
			break
		}
	}
	if user == "" {
		t.Fatal("no incident with a user")
	}
	token := regexp.MustCompile(`USER_[0-9a-f]+`)
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		tok := token.FindString(string(b))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "c1", "object": "chat.completion", "created": 1700000000, "model": "m",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": "The story of " + tok + "."}}},
		})
	}))
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "assist.yaml")
	write := func(region string) {
		body := "enabled: true\nbase_url: " + srv.URL + "/v1\nmodel: m\nallowed_regions: [eu]\ndata_region: " + region + "\n"
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("eu")
	code, out, errs := runCLI(t, "assist", "narrative", "--config", cfg, "--data-dir", data, "--incident", target.ID)
	if code != ExitOK {
		t.Fatalf("assist: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, user) {
		t.Errorf("answer %q does not restore %s", out, user)
	}
	mu.Lock()
	for _, b := range bodies {
		if strings.Contains(strings.ToLower(b), strings.ToLower(user)) {
			t.Errorf("the request named %s: pseudonymisation failed", user)
		}
	}
	sent := len(bodies)
	mu.Unlock()
	write("us")
	if code, _, _ := runCLI(t, "assist", "narrative", "--config", cfg, "--data-dir", data, "--incident", target.ID); code == ExitOK {
		t.Error("a data region the endpoint is not allowed was sent")
	}
	mu.Lock()
	if len(bodies) != sent {
		t.Errorf("%d requests after the region was refused", len(bodies)-sent)
	}
	mu.Unlock()
	st, err = sqlite.Open(ctx, sqlite.Options{Dir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.ListAudit(ctx, store.AuditQuery{})
	if err != nil || len(page.Items) == 0 || page.Items[0].Action != "assist.narrative" {
		t.Errorf("audit: %v %+v", err, page.Items)
	}
}

// TestModelsRegistry: vigil models lists every detector and model with its
// version, and with --data-dir what each behavioral model and the correlator
// learned up to.
func TestModelsRegistry(t *testing.T) {
	dir := simulated(t, 20, 3)
	data := t.TempDir()
	if code, _, errs := runCLI(t, "hunt", "--data-dir", data, "--output", "json", dir); code != ExitOK {
		t.Fatalf("hunt: exit %d: %s", code, errs)
	}
	code, out, errs := runCLI(t, "models", "--data-dir", data, "--output", "json")
	if code != ExitOK {
		t.Fatalf("models: exit %d: %s", code, errs)
	}
	var entries []ModelEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatal(err)
	}
	got := map[string]ModelEntry{}
	for _, e := range entries {
		if e.Version == "" {
			t.Errorf("%s without a version", e.ID)
		}
		got[e.ID] = e
	}
	for _, id := range []string{"sigma", "ioc", "behavior.first_seen", "behavior.seasonal", "correlate", "triage.verdict"} {
		if _, ok := got[id]; !ok {
			t.Errorf("%s not in the registry", id)
		}
	}
	for _, id := range []string{"behavior.first_seen", "correlate"} {
		if e := got[id]; !e.Stored || e.Learned.IsZero() || e.Bytes == 0 {
			t.Errorf("%s: stored state not shown: %+v", id, e)
		}
	}
	if got["triage.verdict"].Trained == "" {
		t.Error("the verdict model does not say what it was trained on")
	}
}
