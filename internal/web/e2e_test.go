package web

import (
	"context"
	"errors"
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

// TestConsoleE2E runs e2e/console.mjs in headless Chromium against a real server:
// internal/auth's login and middleware, internal/api's routes and this
// package's Handler over a sqlite store seeded with testdata/seed.json.
func TestConsoleE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not with -short")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		need(t, "browser test needs node on PATH")
	}
	browser, err := chromiumPath()
	if err != nil {
		need(t, "browser test: "+err.Error())
	}
	if _, err := os.Stat(filepath.Join("e2e", "node_modules", "playwright-core", "package.json")); err != nil {
		need(t, "browser test needs playwright-core: npm ci --prefix internal/web/e2e")
	}

	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sd, err := loadSeed(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.Incidents) == 0 || len(sd.Signals) == 0 {
		t.Fatalf("seed has %d incidents and %d signals", len(sd.Incidents), len(sd.Signals))
	}
	top := sd.Incidents[0] // the queue's first row: the riskiest
	for _, inc := range sd.Incidents[1:] {
		if inc.Risk > top.Risk {
			top = inc
		}
	}

	svc, err := auth.Open(auth.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	const user, password = "ana.lyst", "correct horse battery staple 42"
	if _, err := svc.AddUser(ctx, user, password, auth.RoleAnalyst); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Routes(mux)
	a, err := api.New(api.Options{Store: st, Auth: svc, Version: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	a.Routes(mux)
	mux.Handle("GET /", Handler())
	srv := httptest.NewServer(mux) // loopback
	defer srv.Close()

	artifacts := os.Getenv("VIGIL_E2E_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
		t.Log("screenshots go to a temporary directory removed after the test; set VIGIL_E2E_ARTIFACTS=DIR to keep them")
	}
	cmd := exec.CommandContext(ctx, node, "console.mjs")
	cmd.Dir = "e2e"
	cmd.Env = append(os.Environ(),
		"VIGIL_URL="+srv.URL+"/",
		"VIGIL_USER="+user,
		"VIGIL_PASSWORD="+password,
		"VIGIL_CHROMIUM="+browser,
		"VIGIL_E2E_ARTIFACTS="+artifacts,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node console.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("console.mjs: %v", err)
	}
	if !strings.Contains(string(out), `"ok":true`) || !strings.Contains(string(out), "opened the top incident "+top.ID) {
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
