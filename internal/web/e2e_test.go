package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

// need skips the test with why, or fails it when VIGIL_REQUIRE_SERVICES=1.
func need(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("VIGIL_REQUIRE_SERVICES") == "1" {
		t.Fatalf("VIGIL_REQUIRE_SERVICES=1 but %s", why)
	}
	t.Skip(why)
}

// chromiumPath is the system's Chromium: VIGIL_CHROMIUM, else chromium on PATH.
func chromiumPath() (string, error) {
	if p := os.Getenv("VIGIL_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on PATH (apt-get install chromium, or set VIGIL_CHROMIUM)")
}

// consoleEnv is a running console server and what the browser test needs.
type consoleEnv struct {
	node, browser string
	url           string
	st            *sqlite.Store
	seed          seed
}

const e2eUser, e2ePassword = "ana.lyst", "correct horse battery staple 42"

// startConsole checks the browser test's prerequisites (skipping or failing
// through need) and starts a real server on loopback: internal/auth's login and
// middleware, internal/api's routes and Handler over a sqlite store seeded with
// testdata/seed.json, then with more when it is set.
func startConsole(t *testing.T, ctx context.Context, more func(context.Context, *sqlite.Store) error) *consoleEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: not with -short")
	}
	e := &consoleEnv{}
	var err error
	if e.node, err = exec.LookPath("node"); err != nil {
		need(t, "browser test needs node on PATH")
	}
	if e.browser, err = chromiumPath(); err != nil {
		need(t, "browser test: "+err.Error())
	}
	if _, err := os.Stat(filepath.Join("e2e", "node_modules", "playwright-core", "package.json")); err != nil {
		need(t, "browser test needs playwright-core: npm ci --prefix internal/web/e2e")
	}
	if e.st, err = sqlite.Open(ctx, sqlite.Options{Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.st.Close() })
	if e.seed, err = loadSeed(ctx, e.st); err != nil {
		t.Fatal(err)
	}
	if len(e.seed.Incidents) == 0 || len(e.seed.Signals) == 0 {
		t.Fatalf("seed has %d incidents and %d signals", len(e.seed.Incidents), len(e.seed.Signals))
	}
	if more != nil {
		if err := more(ctx, e.st); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := auth.Open(auth.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddUser(ctx, e2eUser, e2ePassword, auth.RoleAnalyst); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Routes(mux)
	a, err := api.New(api.Options{Store: e.st, Auth: svc, Version: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	a.Routes(mux)
	mux.Handle("GET /", Handler())
	srv := httptest.NewServer(mux) // loopback
	t.Cleanup(srv.Close)
	e.url = srv.URL + "/"
	return e
}

// run runs node console.mjs against the server with the extra environment.
func (e *consoleEnv) run(ctx context.Context, t *testing.T, artifacts string, env ...string) (string, error) {
	cmd := exec.CommandContext(ctx, e.node, "console.mjs")
	cmd.Dir = "e2e"
	cmd.Env = append(os.Environ(),
		"VIGIL_URL="+e.url,
		"VIGIL_USER="+e2eUser,
		"VIGIL_PASSWORD="+e2ePassword,
		"VIGIL_CHROMIUM="+e.browser,
		"VIGIL_E2E_ARTIFACTS="+artifacts,
	)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	t.Logf("node console.mjs:\n%s", out)
	return string(out), err
}

func artifactsDir(t *testing.T) string {
	if d := os.Getenv("VIGIL_E2E_ARTIFACTS"); d != "" {
		return d
	}
	t.Log("screenshots go to a temporary directory removed after the test; set VIGIL_E2E_ARTIFACTS=DIR to keep them")
	return t.TempDir()
}

// TestConsoleE2E runs e2e/console.mjs in headless Chromium against a real
// server (startConsole): log in, open the riskiest incident, give a verdict,
// see it take effect, use the shortcuts; then checks the store.
func TestConsoleE2E(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	e := startConsole(t, ctx, nil)
	st, sd := e.st, e.seed
	top := sd.Incidents[0] // the queue's first row: the riskiest
	for _, inc := range sd.Incidents[1:] {
		if inc.Risk > top.Risk {
			top = inc
		}
	}
	const user = e2eUser
	artifacts := artifactsDir(t)
	out, err := e.run(ctx, t, artifacts, "VIGIL_E2E_BEHAVIORAL="+behavioralIncident(t, sd))
	if err != nil {
		t.Fatalf("console.mjs: %v", err)
	}
	if !strings.Contains(out, `"ok":true`) || !strings.Contains(out, "opened the top incident "+top.ID) {
		t.Fatal("console.mjs did not report success")
	}

	// What the browser did is in the store: the verdict and the status.
	fb, err := st.ListFeedback(ctx, store.FeedbackQuery{TargetKind: store.TargetIncident, TargetID: top.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(fb.Items) != 1 || fb.Items[0].Verdict != "false_positive" || fb.Items[0].Author != user {
		t.Errorf("stored feedback on the top incident %s: %+v; want one false_positive by %s", top.ID, fb.Items, user)
	}
	inc, err := st.GetIncident(ctx, top.ID)
	if err != nil {
		t.Fatal(err)
	}
	if inc.Status != "false_positive" {
		t.Errorf("top incident's status %q after the verdict, want false_positive", inc.Status)
	}
	for _, name := range []string{"02-queue.png", "03-incident.png", "05-verdict-recorded.png"} {
		if fi, err := os.Stat(filepath.Join(artifacts, name)); err != nil || fi.Size() == 0 {
			t.Errorf("screenshot %s missing or empty (%v)", name, err)
		}
	}
}

// TestConsoleQueueScale (VIGIL_E2E_SCALE=1) measures the queue over 10,000 more
// incidents: the first page, twenty "load more", j through 500 rows, the
// in-page cost of a page (performance.measure "vigil:queue-page") and of j.
func TestConsoleQueueScale(t *testing.T) {
	if os.Getenv("VIGIL_E2E_SCALE") != "1" {
		t.Skip("queue scale measurement: set VIGIL_E2E_SCALE=1")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()
	const n = 10_000
	e := startConsole(t, ctx, func(ctx context.Context, st *sqlite.Store) error {
		var sd seed
		b, err := os.ReadFile(seedFile)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &sd); err != nil {
			return err
		}
		for i := range n {
			inc := sd.Incidents[i%len(sd.Incidents)]
			inc.ID = fmt.Sprintf("inc-scale-%05d", i)
			inc.Risk = float64((i*7919)%10000) / 100
			inc.Title = fmt.Sprintf("%s #%d", inc.Title, i)
			if err := st.UpsertIncident(ctx, inc); err != nil {
				return err
			}
		}
		return nil
	})
	out, err := e.run(ctx, t, artifactsDir(t), "VIGIL_E2E_SCALE=1")
	if err != nil {
		t.Fatalf("console.mjs: %v", err)
	}
	if !strings.Contains(out, `"rows_loaded":1050`) {
		t.Errorf("scale run did not load 21 pages of 50 rows")
	}
}

// behavioralIncident is an incident of the seed with a behavioral signal that
// has features (the page draws its baseline against observed).
func behavioralIncident(t *testing.T, sd seed) string {
	t.Helper()
	withFeatures := map[string]bool{}
	for _, s := range sd.Signals {
		if strings.HasPrefix(s.DetectorID, "behavior") && len(s.Explanation.Features) > 0 {
			withFeatures[s.ID] = true
		}
	}
	for _, inc := range sd.Incidents {
		for _, id := range inc.SignalIDs {
			if withFeatures[id] {
				return inc.ID
			}
		}
	}
	t.Fatal("the seed has no incident with a behavioral signal with features")
	return ""
}
