package assist

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
)

// fake is a scripted OpenAI-compatible server on loopback. Each request to
// /chat/completions is answered by the next step of the script (the last step
// repeats); every request body is kept.
type fake struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	bodies []string
	auth   []string
	script []func(w http.ResponseWriter, r *http.Request, body map[string]any)
}

func newFake(t *testing.T, script ...func(w http.ResponseWriter, r *http.Request, body map[string]any)) *fake {
	t.Helper()
	f := &fake{t: t, script: script}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	n := len(f.bodies)
	f.bodies = append(f.bodies, string(raw))
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	step := f.script[min(n, len(f.script)-1)]
	step(w, r, body)
}

func (f *fake) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bodies...)
}

func (f *fake) config() Config {
	c := DefaultConfig()
	c.Enabled = true
	c.BaseURL = f.srv.URL + "/v1"
	c.Model = "test-model"
	c.AllowedRegions = []string{"eu"}
	c.DataRegion = "eu"
	c.RequestTimeout = 2 * time.Second
	c.TotalTimeout = 10 * time.Second
	c.MaxRetryDelay = 50 * time.Millisecond
	return c
}

// reply answers with a completion whose message is msg.
func reply(w http.ResponseWriter, msg map[string]any) {
	finish := "stop"
	if msg["tool_calls"] != nil {
		finish = "tool_calls"
	}
	msg["role"] = "assistant"
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "test-model",
		"choices": []any{map[string]any{"index": 0, "finish_reason": finish, "message": msg}},
		"usage":   map[string]any{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
	})
}

func content(text string) func(w http.ResponseWriter, r *http.Request, body map[string]any) {
	return func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		reply(w, map[string]any{"content": text})
	}
}

func toolCall(id, name, args string) map[string]any {
	return map[string]any{"id": id, "type": "function", "function": map[string]any{"name": name, "arguments": args}}
}

// lastUser returns the text of the first user message of a request.
func firstUser(body map[string]any) string {
	msgs, _ := body["messages"].([]any)
	for _, m := range msgs {
		mm, _ := m.(map[string]any)
		if mm["role"] == "user" {
			s, _ := mm["content"].(string)
			return s
		}
	}
	return ""
}

// The real values of the test incident: none may reach the fake server.
var secrets = []string{
	"alice", "ws-alice01", "corp.example.com", "10.1.2.3", "203.0.113.9", "bob@other.org",
	"unknown-domain.io", "evil-c2", "d41d8cd98f00b204e9800998ecf8427e", "2001:db8::7",
	"carol", "198.51.100.7", "fileserver02",
}

func testIncident(id string) (*correlate.Incident, []detect.Signal) {
	t0 := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	ents := []detect.Entity{
		{Kind: detect.EntityUser, Value: "alice@corp"},
		{Kind: detect.EntityHost, Value: "ws-alice01.corp.example.com"},
		{Kind: detect.EntityIP, Value: "10.1.2.3"},
		{Kind: detect.EntityDomain, Value: "evil-c2.net"},
		{Kind: detect.EntityURL, Value: "https://evil-c2.net/stage2?id=alice"},
		{Kind: detect.EntityHash, Value: "d41d8cd98f00b204e9800998ecf8427e"},
		{Kind: detect.EntityProcess, Value: `C:\Users\alice\AppData\Local\Temp\drop.exe`},
	}
	sigs := []detect.Signal{
		{
			ID: "sig-1", Time: t0, DetectorID: "sigma", RuleID: "r-1", Severity: detect.SeverityHigh, Confidence: 0.8,
			Title:      "Brute force against ALICE from 10.1.2.3",
			Tactics:    []string{"credential-access"},
			Techniques: []string{"T1110"},
			Entities:   ents[:3],
			Explanation: detect.Explanation{
				Summary: "alice logged on to ws-alice01 from 203.0.113.9 after 40 failures, then mailed bob@other.org",
				Matches: []detect.FieldMatch{{Field: "user.name", Value: `CORP\alice`}, {Field: "source.ip", Value: "2001:db8::7"}},
			},
		},
		{
			ID: "sig-2", Time: t0.Add(5 * time.Minute), DetectorID: "ioc", Severity: detect.SeverityCritical, Confidence: 0.9,
			Title:    "Download from evil-c2.net to ws-alice01",
			Entities: ents[2:],
			Explanation: detect.Explanation{
				Summary:  `C:\Users\alice\AppData\Local\Temp\drop.exe (md5 d41d8cd98f00b204e9800998ecf8427e) fetched https://evil-c2.net/stage2?id=alice and resolved www.unknown-domain.io`,
				Observed: "beacon every 60s to evil-c2.net",
				Features: []detect.Feature{{Name: "peer", Observed: "evil-c2.net", Expected: "none"}},
			},
		},
	}
	inc := &correlate.Incident{
		ID: id, Title: "Credential attack on alice@corp followed by C2", Status: correlate.StatusOpen,
		Severity: detect.SeverityCritical, Confidence: 0.85, Risk: 87, FirstSeen: t0, LastSeen: t0.Add(5 * time.Minute),
		Tactics: []string{"credential-access", "command-and-control"}, Entities: ents, EntityCount: len(ents),
		SignalIDs: []string{"sig-1", "sig-2"}, SignalCount: 2,
		Summary: "alice on ws-alice01.corp.example.com",
	}
	return inc, sigs
}

func mustNew(t *testing.T, c Config, o Options) *Assistant {
	t.Helper()
	a, err := New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func assertNoSecrets(t *testing.T, bodies []string) {
	t.Helper()
	if len(bodies) == 0 {
		t.Fatal("no request reached the fake server")
	}
	for i, b := range bodies {
		lb := fold(b)
		for _, s := range secrets {
			if idx := indexFold(lb, s); idx >= 0 {
				t.Errorf("request %d carries %q: ...%s...", i, s, b[max(0, idx-60):min(len(b), idx+60)])
			}
		}
	}
}

func indexFold(folded, s string) int {
	for i := 0; i+len(s) <= len(folded); i++ {
		if folded[i:i+len(s)] == fold(s) {
			return i
		}
	}
	return -1
}
