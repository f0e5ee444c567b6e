package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/ingest/replay"
)

// startServe runs serve in-process on loopback ports and returns it once
// listening; the service stops (and must end cleanly) when the test ends.
func startServe(t *testing.T, o serveOptions) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan *service, 1)
	o.ready = func(s *service) { got <- s }
	o.quiet = true
	if o.listen == "" {
		o.listen = "127.0.0.1:0"
	}
	if o.logLevel == "" {
		o.logLevel = "warn"
	}
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- serve(ctx, Env{Stdout: io.Discard, Stderr: &stderr}, o) }()
	var svc *service
	select {
	case svc = <-got:
	case err := <-done:
		cancel()
		t.Fatalf("serve ended before listening: %v\n%s", err, stderr.String())
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve ended with %v\n%s", err, stderr.String())
			}
		case <-time.After(60 * time.Second):
			t.Error("serve did not stop")
		}
	})
	return svc
}

func defaultServeOptions(dataDir string) serveOptions {
	o := serveOptions{dataDir: dataDir, ingestListen: "127.0.0.1:0", lateness: 10 * time.Second, maxBacklog: 1 << 30}
	o.sigma.builtin = true
	o.behavior.enabled = true
	return o
}

// simRecords is a small simulated organisation as records in event-time order.
func simRecords(t testing.TB, users, days int) ([]replay.Timed, string) {
	t.Helper()
	dir := simulated(t, users, days)
	recs, st, err := replay.Load(t.Context(), dir, formats.Default())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Unreadable) > 0 || len(recs) == 0 {
		t.Fatalf("replay: %d records, unreadable %v", len(recs), st.Unreadable)
	}
	return recs, dir
}

// postNDJSON sends records through the HTTP ingest endpoint, one request per
// run of one source and format; records with a context (Zeek TSV headers) are
// left out and returned.
func postNDJSON(t *testing.T, addr, token string, recs []replay.Timed) (rest []ingest.Record, sent int) {
	t.Helper()
	for _, r := range recs {
		if len(r.Record.Context) > 0 {
			rest = append(rest, r.Record)
		}
	}
	for i, b := range batches(recs, 1000) {
		if code, err := send(t.Context(), addr, token, b); err != nil || code != http.StatusOK {
			t.Fatalf("ingest request %d: %d %v", i, code, err)
		}
		sent += b.n
	}
	return rest, sent
}

// apiClient logs in to the console's API and keeps the session.
type apiClient struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func login(t *testing.T, addr, user, password string) *apiClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	a := &apiClient{t: t, base: "http://" + addr, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	if code := a.do(http.MethodPost, "/api/v1/login", map[string]string{"username": user, "password": password}, &out); code != http.StatusOK {
		t.Fatalf("login: %d", code)
	}
	a.csrf = out.CSRF
	return a
}

func (a *apiClient) do(method, path string, body, out any) int {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(a.t.Context(), method, a.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.csrf != "" && method != http.MethodGet {
		req.Header.Set("X-CSRF-Token", a.csrf)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			a.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

// TestServeEndToEnd: a simulated organisation's logs sent to serve (HTTP
// NDJSON with an ingest token, Zeek TSV straight into the log) become stored
// incidents that an analyst reads and judges through the API; health needs no
// login, metrics and the API do.
func TestServeEndToEnd(t *testing.T) {
	recs, _ := simRecords(t, 30, 4)
	svc := startServe(t, defaultServeOptions(t.TempDir()))
	ctx := t.Context()
	if _, err := svc.auth.AddUser(ctx, "ana", "correct horse battery", auth.RoleAnalyst); err != nil {
		t.Fatal(err)
	}
	token, _, err := svc.auth.CreateToken(ctx, auth.TokenSpec{Name: "shipper", Scope: "ingest"})
	if err != nil {
		t.Fatal(err)
	}
	rest, sent := postNDJSON(t, svc.ingestAddr, token, recs)
	for i := 0; i < len(rest); i += 1000 {
		now := time.Now()
		batch := rest[i:min(i+1000, len(rest))]
		for j := range batch {
			batch[j].Received = now
		}
		if err := svc.wal.Append(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	if sent+len(rest) != len(recs) || sent == 0 {
		t.Fatalf("sent %d over HTTP and %d to the log, of %d", sent, len(rest), len(recs))
	}
	deadline := time.Now().Add(3 * time.Minute)
	for st := svc.proc.Stats(); st.Position < svc.wal.Last() || st.Held > 0 || st.ModelsRunning; st = svc.proc.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("the processor is at %+v, the log at %d", svc.proc.Stats(), svc.wal.Last())
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := svc.proc.Stats()
	if st.Records != int64(len(recs)) || st.Signals < 20 || st.Rejected > st.Records/100 {
		t.Errorf("processor stats %+v for %d records", st, len(recs))
	}

	// Health is public; metrics and the API are not.
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 401, "/api/v1/incidents": 401} {
		resp, err := http.Get("http://" + svc.httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without login: %d, want %d", path, resp.StatusCode, want)
		}
	}
	a := login(t, svc.httpAddr, "ana", "correct horse battery")
	var list struct {
		Items []struct {
			ID     string  `json:"id"`
			Risk   float64 `json:"risk"`
			Status string  `json:"status"`
		} `json:"items"`
	}
	if code := a.do(http.MethodGet, "/api/v1/incidents?sort=risk&limit=50", nil, &list); code != 200 || len(list.Items) < 3 {
		t.Fatalf("incidents: %d, %d items", code, len(list.Items))
	}
	top := list.Items[0]
	var detail struct {
		Signals     []json.RawMessage `json:"signals"`
		Explanation struct {
			Text string `json:"text"`
		} `json:"explanation"`
		NextSteps []json.RawMessage `json:"next_steps"`
	}
	if code := a.do(http.MethodGet, "/api/v1/incidents/"+top.ID, nil, &detail); code != 200 || len(detail.Signals) == 0 || detail.Explanation.Text == "" {
		t.Fatalf("incident %s: %d, %d signals, explanation %q", top.ID, code, len(detail.Signals), detail.Explanation.Text)
	}
	if code := a.do(http.MethodPost, "/api/v1/feedback", map[string]string{"target_kind": "incident", "target_id": top.ID, "verdict": "tp", "reason": "confirmed"}, nil); code != http.StatusCreated {
		t.Errorf("feedback: %d", code)
	}
	if code := a.do(http.MethodPatch, "/api/v1/incidents/"+top.ID, map[string]string{"status": "acknowledged"}, nil); code != 200 {
		t.Errorf("patch: %d", code)
	}
	var audit struct{ Items []json.RawMessage }
	if code := a.do(http.MethodGet, "/api/v1/audit", nil, &audit); code != http.StatusForbidden {
		t.Errorf("an analyst reads the audit log: %d", code)
	}
	mt, _, err := svc.auth.CreateToken(ctx, auth.TokenSpec{Name: "prometheus", Scope: "api", Role: auth.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+svc.httpAddr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+mt)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	for _, m := range []string{"vigil_stream_records_total", "vigil_wal_appended_records_total", "vigil_ingest_http_records_total"} {
		if !bytes.Contains(body, []byte(m)) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// TestServeStreamFlagsUsage: serve refuses checkpoint shares and correlator
// bounds that make no sense before it opens anything.
func TestServeStreamFlagsUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--data-dir", dir, "--checkpoint-share", "0"}, "--checkpoint-share"},
		{[]string{"serve", "--data-dir", dir, "--checkpoint-share", "1.5"}, "--checkpoint-share"},
		{[]string{"serve", "--data-dir", dir, "--checkpoint-share", "NaN"}, "--checkpoint-share"},
		{[]string{"serve", "--data-dir", dir, "--max-open-signals", "10"}, "--max-open-signals"},
		{[]string{"serve", "--data-dir", dir, "--max-open-signals", "-1"}, "--max-open-signals"},
	} {
		code, out, errs := runCLI(t, tc.args...)
		if code != ExitUsage || !strings.Contains(out+errs, tc.want) {
			t.Errorf("vigil %v: exit %d, output lacks %q:\n%s%s", tc.args, code, tc.want, out, errs)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused serve wrote %d entries in its data directory", len(entries))
	}
}
