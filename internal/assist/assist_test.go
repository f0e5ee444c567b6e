package assist

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
)

var anyToken = regexp.MustCompile(`(?:USER|HOST|IP|PROC|FILE|DOMAIN|URL|HASH|EMAIL)_[0-9a-f]{8,}`)

func TestNarrativePseudonymizesAndRestores(t *testing.T) {
	var userTok, hostTok string
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, body map[string]any) {
		// Answer about the first user and host tokens the prompt shows.
		var view struct {
			Entities []viewEntity `json:"entities"`
		}
		data := strings.TrimPrefix(firstUser(body), "Incident:\n")
		if err := json.Unmarshal([]byte(data), &view); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		for _, e := range view.Entities {
			switch {
			case e.Kind == "user" && userTok == "":
				userTok = e.Value
			case e.Kind == "host" && hostTok == "":
				hostTok = e.Value
			}
		}
		reply(w, map[string]any{"content": userTok + " was brute-forced, then " + hostTok + " beaconed."})
	})
	a := mustNew(t, f.config(), Options{Secret: []byte("k")})
	inc, sigs := testIncident("inc-1")
	got, err := a.Narrative(context.Background(), inc, sigs)
	if err != nil {
		t.Fatal(err)
	}
	if want := "alice@corp was brute-forced, then ws-alice01.corp.example.com beaconed."; got != want {
		t.Errorf("narrative = %q, want %q", got, want)
	}
	bodies := f.requests()
	assertNoSecrets(t, bodies)
	if !strings.Contains(bodies[0], userTok) || !anyToken.MatchString(userTok) {
		t.Errorf("user token %q not in the request", userTok)
	}
	var req map[string]any
	json.Unmarshal([]byte(bodies[0]), &req)
	if req["model"] != "test-model" || req["max_tokens"] != float64(1024) || req["temperature"] != 0.2 {
		t.Errorf("request parameters: model %v max_tokens %v temperature %v", req["model"], req["max_tokens"], req["temperature"])
	}
	if _, ok := req["tools"]; ok {
		t.Error("narrative request offers tools")
	}
	// The system prompt is the embedded template.
	if !strings.Contains(bodies[0], "at most 250 words") {
		t.Error("system prompt from narrative.tmpl not sent")
	}
}

func TestAskToolLoop(t *testing.T) {
	var ran atomic.Int32
	var profileArg, signalArg string
	tools := []Tool{
		{
			Name: "get_signal", Description: "one signal by id",
			Parameters: map[string]any{"type": "object", "properties": map[string]any{"id": map[string]any{"type": "string"}}},
			Call: func(_ context.Context, args json.RawMessage) (any, error) {
				ran.Add(1)
				var a struct{ ID string }
				json.Unmarshal(args, &a)
				signalArg = a.ID
				return map[string]any{"id": a.ID, "title": "Logon by alice@corp from 198.51.100.7"}, nil
			},
		},
		{
			Name: "entity_profile", Description: "what is known about an entity",
			Call: func(_ context.Context, args json.RawMessage) (any, error) {
				ran.Add(1)
				var a struct{ Entity string }
				json.Unmarshal(args, &a)
				profileArg = a.Entity
				return map[string]any{
					"user":       a.Entity,
					"hosts":      []string{"ws-alice01.corp.example.com", `\\fileserver02.corp.example.com\share`},
					"peer":       map[string]any{"kind": "user", "value": "carol"},
					"note":       "carol approved the travel of alice",
					"last_login": "from 198.51.100.7",
				}, nil
			},
		},
	}
	var userTok string
	f := newFake(t,
		func(w http.ResponseWriter, _ *http.Request, body map[string]any) {
			userTok = regexp.MustCompile(`USER_[0-9a-f]{8,}`).FindString(firstUser(body))
			reply(w, map[string]any{"content": "", "tool_calls": []any{
				toolCall("c1", "entity_profile", `{"entity":"`+userTok+`"}`),
				toolCall("c2", "get_signal", `{"id":"sig-1"}`),
				toolCall("c3", "delete_everything", `{}`),
				toolCall("c4", "get_signal", `{"id":`),
				toolCall("c5", "get_signal", `[1,2]`),
			}})
		},
		func(w http.ResponseWriter, _ *http.Request, body map[string]any) {
			// Name the peer the tool result introduced, by its token.
			msgs := body["messages"].([]any)
			var peer string
			for _, m := range msgs {
				mm := m.(map[string]any)
				if mm["role"] == "tool" && mm["tool_call_id"] == "c1" {
					var res map[string]any
					json.Unmarshal([]byte(mm["content"].(string)), &res)
					peer = res["peer"].(map[string]any)["value"].(string)
				}
			}
			reply(w, map[string]any{"content": userTok + " travelled; " + peer + " approved it."})
		},
	)
	a := mustNew(t, f.config(), Options{Secret: []byte("k")})
	inc, sigs := testIncident("inc-1")
	ans, err := a.Ask(context.Background(), inc, sigs, "Did alice really travel?", tools)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Text != "alice@corp travelled; carol approved it." {
		t.Errorf("answer = %q", ans.Text)
	}
	if profileArg != "alice@corp" || signalArg != "sig-1" {
		t.Errorf("tools got entity %q, id %q; want real values", profileArg, signalArg)
	}
	if ran.Load() != 2 {
		t.Errorf("%d tool executions, want 2 (unknown tool and bad arguments must not run)", ran.Load())
	}
	if ans.Rounds != 2 || len(ans.Calls) != 5 {
		t.Fatalf("rounds %d, calls %d: %+v", ans.Rounds, len(ans.Calls), ans.Calls)
	}
	for i, want := range []string{"", "", "unknown tool", "not a JSON object", "not a JSON object"} {
		if got := ans.Calls[i].Err; (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("call %d (%s): err %q, want %q", i, ans.Calls[i].Name, got, want)
		}
	}
	bodies := f.requests()
	if len(bodies) != 2 {
		t.Fatalf("%d requests, want 2", len(bodies))
	}
	assertNoSecrets(t, bodies)
	var second struct {
		Messages []struct {
			Role       string `json:"role"`
			Content    any    `json:"content"`
			ToolCallID string `json:"tool_call_id"`
		} `json:"messages"`
		Tools []any `json:"tools"`
	}
	json.Unmarshal([]byte(bodies[1]), &second)
	replies := map[string]string{}
	for _, m := range second.Messages {
		if m.Role == "tool" {
			replies[m.ToolCallID], _ = m.Content.(string)
		}
	}
	if len(replies) != 5 {
		t.Fatalf("second request carries %d tool replies, want 5", len(replies))
	}
	for _, id := range []string{"c3", "c4", "c5"} {
		if !strings.HasPrefix(replies[id], "error: ") {
			t.Errorf("reply to %s = %q, want an error message", id, replies[id])
		}
	}
	if !strings.Contains(replies["c1"], userTok) {
		t.Errorf("profile result %q does not carry the user's token %s", replies["c1"], userTok)
	}
	if len(second.Tools) != 2 {
		t.Errorf("%d tools offered, want 2", len(second.Tools))
	}
	if !strings.Contains(bodies[0], "get_signal, entity_profile") {
		t.Error("system prompt does not list the tools")
	}
}

func TestAskStopsAfterMaxRounds(t *testing.T) {
	var ran atomic.Int32
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		reply(w, map[string]any{"tool_calls": []any{toolCall("c", "get_signal", `{"id":"sig-1"}`)}})
	})
	c := f.config()
	c.MaxToolRounds = 3
	c.MaxToolCalls = 2
	a := mustNew(t, c, Options{})
	inc, sigs := testIncident("inc-1")
	tool := Tool{Name: "get_signal", Call: func(context.Context, json.RawMessage) (any, error) { ran.Add(1); return "ok", nil }}
	ans, err := a.Ask(context.Background(), inc, sigs, "?", []Tool{tool})
	if !errors.Is(err, ErrToolRounds) {
		t.Fatalf("err = %v, want ErrToolRounds", err)
	}
	bodies := f.requests()
	if len(bodies) != 4 || ans.Rounds != 4 {
		t.Errorf("%d requests, %d rounds; want 4 (3 tool rounds + 1 for the answer)", len(bodies), ans.Rounds)
	}
	if ran.Load() != 2 {
		t.Errorf("%d executions, want the budget of 2", ran.Load())
	}
	if strings.Contains(bodies[3], `"tools"`) {
		t.Error("the last request still offers tools")
	}
}

func TestAskRejectsBadToolDeclarations(t *testing.T) {
	f := newFake(t, content("x"))
	a := mustNew(t, f.config(), Options{})
	inc, sigs := testIncident("inc-1")
	call := func(context.Context, json.RawMessage) (any, error) { return nil, nil }
	for _, tools := range [][]Tool{
		{{Name: "bad name", Call: call}},
		{{Name: "a", Call: call}, {Name: "a", Call: call}},
		{{Name: "a"}},
	} {
		if _, err := a.Ask(context.Background(), inc, sigs, "?", tools); err == nil {
			t.Errorf("tools %+v accepted", tools)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent for refused declarations", n)
	}
}

func TestErrorsFromTheEndpoint(t *testing.T) {
	slow := func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	var hits429 atomic.Int32
	tooMany := func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		hits429.Add(1)
		w.Header().Set("Retry-After-Ms", "10")
		http.Error(w, `{"error":{"message":"slow down","type":"rate_limit"}}`, http.StatusTooManyRequests)
	}
	garbage := func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("<html>502 from a proxy</html>"))
	}
	huge := func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"choices":[{"message":{"content":"` + strings.Repeat("a", 4<<10) + `"}}]}`))
	}
	noChoices := func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"x","choices":[]}`))
	}
	tests := []struct {
		name     string
		script   []func(http.ResponseWriter, *http.Request, map[string]any)
		retries  int
		wantReqs int
		check    func(t *testing.T, err error)
	}{
		{"timeout", fs(slow), 0, 1, func(t *testing.T, err error) {
			if err == nil || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want a deadline error", err)
			}
		}},
		{"429 then success", fs(tooMany, content("fine")), 2, 2, func(t *testing.T, err error) {
			if err != nil {
				t.Errorf("err = %v, want success after a retry", err)
			}
		}},
		{"429 without retries", fs(tooMany), 0, 1, func(t *testing.T, err error) {
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests {
				t.Errorf("err = %v, want a 429 API error", err)
			}
		}},
		{"429 retries bounded", fs(tooMany), 2, 3, func(t *testing.T, err error) {
			if err == nil {
				t.Error("success from a server that only says 429")
			}
		}},
		{"garbage body", fs(garbage), 0, 1, func(t *testing.T, err error) {
			if err == nil {
				t.Error("garbage accepted")
			}
		}},
		{"no choices", fs(noChoices), 0, 1, func(t *testing.T, err error) {
			if !errors.Is(err, ErrBadResponse) {
				t.Errorf("err = %v, want ErrBadResponse", err)
			}
		}},
		{"oversized body", fs(huge), 0, 1, func(t *testing.T, err error) {
			if !errors.Is(err, ErrResponseTooLarge) {
				t.Errorf("err = %v, want ErrResponseTooLarge", err)
			}
		}},
		{"empty answer", fs(content("")), 0, 1, func(t *testing.T, err error) {
			if !errors.Is(err, ErrNoAnswer) {
				t.Errorf("err = %v, want ErrNoAnswer", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.script...)
			c := f.config()
			// Only the timeout case needs a short attempt: a retry on loopback
			// has been seen to wait up to 2 s for its connection.
			c.RequestTimeout, c.TotalTimeout = 5*time.Second, 10*time.Second
			if tc.name == "timeout" {
				c.RequestTimeout, c.TotalTimeout = 300*time.Millisecond, 2*time.Second
			}
			c.MaxRetries = tc.retries
			c.MaxResponseBytes = 2 << 10
			a := mustNew(t, c, Options{})
			inc, sigs := testIncident("inc-1")
			start := time.Now()
			_, err := a.Narrative(context.Background(), inc, sigs)
			if d := time.Since(start); d > c.TotalTimeout+time.Second {
				t.Errorf("took %v", d)
			}
			tc.check(t, err)
			if n := len(f.requests()); n != tc.wantReqs {
				t.Errorf("%d requests, want %d", n, tc.wantReqs)
			}
		})
	}
}

func fs(s ...func(http.ResponseWriter, *http.Request, map[string]any)) []func(http.ResponseWriter, *http.Request, map[string]any) {
	return s
}

func TestAPIKeyFromNamedVariableOnly(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-from-the-environment")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
	f := newFake(t, content("ok"))
	inc, sigs := testIncident("inc-1")

	c := f.config()
	if _, err := mustNew(t, c, Options{}).Narrative(context.Background(), inc, sigs); err != nil {
		t.Fatal(err)
	}
	c.APIKeyEnv = "VIGIL_TEST_KEY"
	env := map[string]string{"VIGIL_TEST_KEY": "sekret"}
	if _, err := mustNew(t, c, Options{Getenv: func(k string) string { return env[k] }}).Narrative(context.Background(), inc, sigs); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	auth := append([]string(nil), f.auth...)
	f.mu.Unlock()
	if len(auth) != 2 || auth[0] != "" || auth[1] != "Bearer sekret" {
		t.Errorf("Authorization headers %q, want none then the named variable's key", auth)
	}
	if _, err := New(c, Options{Getenv: func(string) string { return "" }}); err == nil {
		t.Error("empty key variable accepted")
	}
}

func TestNewRefuses(t *testing.T) {
	f := newFake(t, content("ok"))
	base := f.config()
	tests := []struct {
		name string
		edit func(*Config)
		want error
	}{
		{"disabled", func(c *Config) { c.Enabled = false }, ErrDisabled},
		{"data region not allowed", func(c *Config) { c.DataRegion = "us" }, ErrRegionNotAllowed},
		{"no data region", func(c *Config) { c.DataRegion = "" }, nil},
		{"plain http off loopback", func(c *Config) { c.BaseURL = "http://llm.example.net/v1" }, nil},
		{"credentials in url", func(c *Config) { c.BaseURL = "https://u:p@llm.example.net/v1" }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			_, err := New(c, Options{})
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if tc.name == "credentials in url" && strings.Contains(err.Error(), "u:p") {
				t.Errorf("error repeats the credentials: %v", err)
			}
		})
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
	if err := (Config{DataRegion: "eu", AllowedRegions: []string{"us", "ch"}}).CheckResidency(); !errors.Is(err, ErrRegionNotAllowed) ||
		!strings.Contains(err.Error(), `"eu"`) {
		t.Errorf("CheckResidency = %v", err)
	}
}

func TestRedirectToAnotherHostRefused(t *testing.T) {
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		otherHits.Add(1)
		reply(w, map[string]any{"content": "leaked"})
	}))
	defer other.Close()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		http.Redirect(w, r, other.URL+"/v1/chat/completions", http.StatusTemporaryRedirect)
	})
	a := mustNew(t, f.config(), Options{})
	inc, sigs := testIncident("inc-1")
	_, err := a.Narrative(context.Background(), inc, sigs)
	if !errors.Is(err, ErrEgressDenied) {
		t.Errorf("err = %v, want ErrEgressDenied", err)
	}
	if otherHits.Load() != 0 {
		t.Error("the other host was reached")
	}
}
