package escalate

import (
	"encoding/json"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"
)

func notification(a *Action, version int64, now time.Time) *Notification {
	inc := testIncident("inc-1", version)
	return &Notification{Key: Key(a.ID, inc.ID, inc.Version), Action: a, Incident: inc, Attempt: 1, Now: now}
}

func TestWebhookSignature(t *testing.T) {
	now := time.Unix(1_767_000_000, 0)
	var (
		mu   sync.Mutex
		got  []WebhookBody
		hdrs []http.Header
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := VerifyWebhook(testKey, r.Header, body, now, 5*time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var b WebhookBody
		if err := json.Unmarshal(body, &b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got, hdrs = append(got, b), append(hdrs, r.Header.Clone())
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	a := &Action{ID: "p/hook", Kind: KindWebhook, URL: srv.URL, SecretEnv: "HOOK"}
	n := notification(a, 4, now)
	s := &WebhookSender{Client: srv.Client(), Secret: secrets(map[string]string{"HOOK": testSecret()})}
	if err := s.Send(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Type != "incident.escalated" || got[0].Data.ID != "inc-1" || got[0].Data.Version != 4 {
		t.Fatalf("received %+v", got)
	}
	if hdrs[0].Get("webhook-id") != n.Key || hdrs[0].Get("webhook-timestamp") != "1767000000" ||
		!strings.HasPrefix(hdrs[0].Get("webhook-signature"), "v1,") {
		t.Errorf("headers %v", hdrs[0])
	}

	// A wrong secret is refused by the receiver (401): permanent.
	other := "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZXg="
	err := (&WebhookSender{Client: srv.Client(), Secret: secrets(map[string]string{"HOOK": other})}).Send(t.Context(), n)
	if !IsPermanent(err) || !strings.Contains(err.Error(), "status 401") {
		t.Errorf("wrong secret: %v, want a permanent 401", err)
	}
	// A secret that is not whsec_ base64 is permanent; a missing one is retried
	// and names the variable, never a value.
	err = (&WebhookSender{Client: srv.Client(), Secret: secrets(map[string]string{"HOOK": "plain"})}).Send(t.Context(), n)
	if !IsPermanent(err) {
		t.Errorf("malformed secret: %v", err)
	}
	err = (&WebhookSender{Client: srv.Client(), Secret: secrets(nil)}).Send(t.Context(), n)
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "HOOK is not set") {
		t.Errorf("missing secret: %v", err)
	}
}

func TestVerifyWebhookRejects(t *testing.T) {
	now := time.Unix(1_767_000_000, 0)
	body := []byte(`{"a":1}`)
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", "1767000000")
	h.Set("webhook-signature", "v1,bogus "+SignWebhook(testKey, "msg_1", "1767000000", body))
	if err := VerifyWebhook(testKey, h, body, now, time.Minute); err != nil {
		t.Errorf("valid second signature refused: %v", err)
	}
	if VerifyWebhook(testKey, h, []byte(`{"a":2}`), now, time.Minute) == nil {
		t.Error("tampered body accepted")
	}
	if VerifyWebhook(testKey, h, body, now.Add(2*time.Minute), time.Minute) == nil {
		t.Error("stale timestamp accepted")
	}
	// The spec's published example: secret, id, timestamp and body give this signature.
	key, err := DecodeWebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	sig := SignWebhook(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`))
	if sig != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Errorf("spec example signature %s", sig)
	}
}

func TestHTTPStatusClassification(t *testing.T) {
	status := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	cases := []struct {
		status          int
		ok, retry, perm bool
	}{
		{200, true, false, false}, {202, true, false, false},
		{400, false, false, true}, {401, false, false, true}, {404, false, false, true}, {410, false, false, true},
		{408, false, true, false}, {429, false, true, false}, {500, false, true, false}, {503, false, true, false},
	}
	for _, tc := range cases {
		status = tc.status
		err := httpPost(t.Context(), srv.Client(), srv.URL, nil, []byte(`{}`))
		if (err == nil) != tc.ok || (err != nil && IsPermanent(err) != tc.perm) {
			t.Errorf("status %d: err %v, want ok %v permanent %v", tc.status, err, tc.ok, tc.perm)
		}
	}
	// Connection refused is retried.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = httpPost(t.Context(), http.DefaultClient, "http://"+addr+"/secret-path", nil, []byte(`{}`))
	if err == nil || IsPermanent(err) || strings.Contains(err.Error(), "secret-path") {
		t.Errorf("connection refused: %v, want a retryable error without the URL path", err)
	}
}

func TestSlackShape(t *testing.T) {
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/services/T000/B000/XXXX" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	a := &Action{ID: "p/slack", Kind: KindSlack, SecretEnv: "SLACK_URL"}
	n := notification(a, 2, time.Unix(0, 0))
	n.Incident.Title = "<script> & co"
	s := &SlackSender{Client: srv.Client(), Secret: secrets(map[string]string{"SLACK_URL": srv.URL + "/services/T000/B000/XXXX"})}
	if err := s.Send(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	text, _ := got["text"].(string)
	if len(got) != 1 || !strings.Contains(text, "[critical] &lt;script&gt; &amp; co") || !strings.Contains(text, "`inc-1` (version 2)") ||
		!strings.Contains(text, n.Key) || !strings.Contains(text, "user:alice") {
		t.Errorf("slack message %q", got)
	}
	// An error never shows the webhook URL (it is the secret).
	s.Secret = secrets(map[string]string{"SLACK_URL": srv.URL + "/services/T000/B000/WRONG"})
	err := s.Send(t.Context(), n)
	if !IsPermanent(err) || strings.Contains(err.Error(), "WRONG") {
		t.Errorf("bad hook: %v", err)
	}
}

func TestPagerDutyShape(t *testing.T) {
	var raw map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/enqueue" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"success","message":"Event processed","dedup_key":"inc-1"}`)
	}))
	defer srv.Close()
	a := &Action{ID: "p/pagerduty", Kind: KindPagerDuty, URL: srv.URL + "/v2/enqueue", SecretEnv: "PD"}
	n := notification(a, 7, time.Unix(0, 0))
	s := &PagerDutySender{Client: srv.Client(), Secret: secrets(map[string]string{"PD": "R0UTINGKEY"})}
	if err := s.Send(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	p, _ := raw["payload"].(map[string]any)
	cd, _ := p["custom_details"].(map[string]any)
	switch {
	case raw["routing_key"] != "R0UTINGKEY", raw["event_action"] != "trigger", raw["dedup_key"] != "inc-1":
		t.Errorf("envelope %v", raw)
	case p["severity"] != "critical", p["source"] != "vigil", p["timestamp"] != "2026-01-01T11:00:00Z",
		!strings.HasPrefix(p["summary"].(string), "[critical] Password spray"):
		t.Errorf("payload %v", p)
	case cd["idempotency_key"] != n.Key, cd["incident_version"] != float64(7):
		t.Errorf("custom details %v", cd)
	}
	for sev, want := range map[string]string{"informational": "info", "low": "info", "medium": "warning", "high": "error", "critical": "critical"} {
		var s2 = n.Incident.Severity
		if err := s2.UnmarshalText([]byte(sev)); err != nil {
			t.Fatal(err)
		}
		if got := PagerDutySeverity(s2); got != want {
			t.Errorf("PagerDutySeverity(%s) = %s, want %s", sev, got, want)
		}
	}
}

func TestEmail(t *testing.T) {
	fake := startSMTP(t)
	a := &Action{ID: "p/email", Kind: KindEmail, SMTP: fake.addr(), From: "Vigil <vigil@example.com>",
		To: []string{"soc@example.com", "On Call <oncall@example.com>"}}
	parsed, le := parseAction(&actionYAML{Type: KindEmail, SMTP: a.SMTP, From: a.From, To: a.To}, func(string) int { return 0 })
	if le != nil {
		t.Fatal(le)
	}
	parsed.ID = a.ID
	n := notification(&parsed, 3, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	n.Incident.Title = "Spray\r\nBcc: evil@example.com"
	if err := (&EmailSender{}).Send(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	msgs := fake.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.from != "vigil@example.com" || strings.Join(m.to, ",") != "soc@example.com,oncall@example.com" {
		t.Errorf("envelope from %q to %q", m.from, m.to)
	}
	msg, err := mail.ReadMessage(strings.NewReader(m.data))
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Header.Get("Message-Id"); got != "<"+n.Key+"@vigil>" {
		t.Errorf("Message-ID %q", got)
	}
	if msg.Header.Get("Bcc") != "" || !strings.Contains(msg.Header.Get("Subject"), "Spray  Bcc: evil@example.com") {
		t.Errorf("header injection through the title: subject %q, bcc %q", msg.Header.Get("Subject"), msg.Header.Get("Bcc"))
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "Incident:   inc-1 (version 3)") || !strings.Contains(string(body), "Entity:     host dc-1") {
		t.Errorf("body %q", body)
	}

	// A 5xx reply is permanent.
	bad := parsed
	bad.rcpt = []string{"reject@example.com"}
	if err := (&EmailSender{}).Send(t.Context(), notification(&bad, 1, n.Now)); !IsPermanent(err) {
		t.Errorf("550 to RCPT: %v, want permanent", err)
	}
	// A relay that is down is retried.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := parsed
	down.SMTP = ln.Addr().String()
	ln.Close()
	if err := (&EmailSender{}).Send(t.Context(), notification(&down, 1, n.Now)); err == nil || IsPermanent(err) {
		t.Errorf("relay down: %v, want a retryable error", err)
	}
}

func TestCEFEscaping(t *testing.T) {
	for in, want := range map[string]string{`a|b`: `a\|b`, `a\b`: `a\\b`, `a=b`: `a=b`, "a\nb": "a b", `\|`: `\\\|`} {
		if got := CEFHeaderEscape(in); got != want {
			t.Errorf("CEFHeaderEscape(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{`a=b`: `a\=b`, `a\b`: `a\\b`, `a|b`: `a|b`, "a\nb": `a\nb`, "a\r\nb": `a\nb`, `\=`: `\\\=`} {
		if got := CEFExtEscape(in); got != want {
			t.Errorf("CEFExtEscape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSyslogCEFUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	a := &Action{ID: "page-critical/cef", Kind: KindSyslogCEF, Network: "udp", Address: pc.LocalAddr().String(), Facility: 16}
	now := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	n := notification(a, 5, now)
	s := &SyslogCEFSender{Version: "1.2|3", Hostname: "sensor 1"}
	if err := s.Send(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	k, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	got := string(buf[:k])
	wantHead := `<130>1 2026-01-02T03:04:05.600000Z sensor1 vigil - incident - CEF:0|Vigil|Vigil|1.2\|3|page-critical|Password spray \| then = logon \\ on dc-1|10|`
	if !strings.HasPrefix(got, wantHead) {
		t.Fatalf("message\n%s\nwant prefix\n%s", got, wantHead)
	}
	ext := got[len(wantHead):]
	for _, want := range []string{"externalId=" + n.Key, "cs1Label=incidentId cs1=inc-1", "cn1=5", "cfp1=88.50",
		"cat=credential-access,lateral-movement", "suser=alice", "dhost=dc-1", "src=10.0.0.5", `msg=line one\nline\=two`} {
		if !strings.Contains(ext, want) {
			t.Errorf("extension %q lacks %q", ext, want)
		}
	}
	fields := parseCEFExt(ext)
	if fields["msg"] != "line one\nline=two" || fields["externalId"] != n.Key {
		t.Errorf("extension does not parse back: %q", fields)
	}
}

// parseCEFExt splits an extension as a CEF consumer does: an unescaped '='
// ends a key, which is the last word before it.
func parseCEFExt(s string) map[string]string {
	type tok struct {
		text string
		eq   bool
	}
	var toks []tok
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				cur.WriteByte('\n')
			case 'r':
				cur.WriteByte('\r')
			default:
				cur.WriteByte(s[i])
			}
		case s[i] == '=':
			toks = append(toks, tok{cur.String(), true})
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	toks = append(toks, tok{cur.String(), false})
	out := map[string]string{}
	key := ""
	for i, tk := range toks {
		text := tk.text
		if i > 0 {
			val := text
			next := ""
			if tk.eq {
				if j := strings.LastIndexByte(text, ' '); j >= 0 {
					val, next = text[:j], text[j+1:]
				}
			}
			out[key] = val
			text = next
		}
		key = text
	}
	return out
}

func TestSyslogCEFTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	a := &Action{ID: "p/cef", Kind: KindSyslogCEF, Network: "tcp", Address: ln.Addr().String(), Facility: 4}
	if err := (&SyslogCEFSender{Hostname: "h"}).Send(t.Context(), notification(a, 1, time.Unix(0, 0))); err != nil {
		t.Fatal(err)
	}
	frame := <-got
	size, msg, ok := strings.Cut(frame, " ")
	if !ok || size != itoa(len(msg)) || !strings.HasPrefix(msg, "<34>1 ") {
		t.Errorf("octet-counted frame %q", frame)
	}
	ln.Close()
	if err := (&SyslogCEFSender{}).Send(t.Context(), notification(a, 1, time.Unix(0, 0))); err == nil || IsPermanent(err) {
		t.Errorf("collector down: %v, want a retryable error", err)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// FuzzCEFExtEscape checks that an escaped extension value parses back to itself
// and cannot start a new key=value pair.
func FuzzCEFExtEscape(f *testing.F) {
	for _, s := range []string{"a=b", `a\b`, "x\ny", `\=`, "k=v other=w", "|", "\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		want := strings.ReplaceAll(v, "\r\n", "\n") // CEF writes both line breaks as \n
		got := parseCEFExt("msg=" + CEFExtEscape(v) + " externalId=k")
		if len(got) != 2 || got["msg"] != want || got["externalId"] != "k" {
			t.Fatalf("value %q escaped as %q parsed back as %q", v, CEFExtEscape(v), got)
		}
		h := CEFHeaderEscape(v)
		for i := 0; i < len(h); i++ {
			switch h[i] {
			case '\\':
				i++ // the escaped character
				if i >= len(h) || (h[i] != '\\' && h[i] != '|') {
					t.Fatalf("header %q has a stray backslash", h)
				}
			case '|', '\n', '\r':
				t.Fatalf("header %q has an unescaped %q", h, h[i])
			}
		}
	})
}
