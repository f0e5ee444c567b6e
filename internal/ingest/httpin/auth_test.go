package httpin

import (
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestAuthenticate(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		header string
		want   authError
	}{
		{"", authMissing},
		{"Bearer " + goodToken, authOK},
		{"bearer  " + goodToken + " ", authOK},
		{"Splunk " + goodToken, authOK},
		{"Basic " + b64("anyone:"+goodToken), authOK},
		{"Basic " + b64(":"+goodToken), authOK},
		{"ApiKey " + b64("key-id:"+goodToken), authOK},
		{"Bearer wrong", authDenied},
		{"Basic " + b64("user:wrong"), authDenied},
		{"Basic " + b64(goodToken), authInvalid}, // no colon
		{"Basic !!!", authInvalid},
		{"Basic " + b64("user:"), authInvalid},
		{"Bearer", authInvalid},
		{"Digest " + goodToken, authInvalid},
		{"Bearer " + strings.Repeat("x", maxTokenLen+1), authInvalid},
	}
	h, err := New(Options{Appender: &fakeAppender{}, Tokens: fakeTokens{goodToken: "shipper"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		r, _ := http.NewRequest("POST", "/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		name, got := h.authenticate(r)
		if got != tt.want || (got == authOK) != (name == "shipper") {
			t.Errorf("Authorization %.40q: %v %q, want %v", tt.header, got, name, tt.want)
		}
	}
}

// TestNoSecretsLogged: a failing append is logged without the token or the body.
func TestNoSecretsLogged(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	e.app.err = errors.New("disk on fire")
	for _, path := range []string{"/ingest/ndjson", "/services/collector/raw", "/_bulk"} {
		body := "secret-body-line\n"
		if path == "/_bulk" {
			body = `{"create":{"_index":"a"}}` + "\n" + `{"m":"secret-body-line"}` + "\n"
		}
		e.do(t, "POST", path, bearer(goodToken), []byte(body))
	}
	out := logs.String()
	if !strings.Contains(out, "disk on fire") {
		t.Fatalf("append failure not logged: %s", out)
	}
	if strings.Contains(out, goodToken) || strings.Contains(out, "secret-body-line") {
		t.Errorf("log holds a token or a body: %s", out)
	}
}

func TestHECGzipAndHead(t *testing.T) {
	e := newEnv(t, nil)
	hdr := splunk(goodToken)
	hdr["Content-Encoding"] = "gzip"
	r := e.do(t, "POST", "/services/collector/event", hdr, gz(t, []byte(`{"event":"a"}{"event":"b"}`)))
	if r.status != 200 || len(e.app.records()) != 2 {
		t.Fatalf("gzip HEC: %d %s, %d records", r.status, r.body, len(e.app.records()))
	}
	r = e.do(t, "POST", "/services/collector/event", hdr, []byte("plain"))
	if m := decodeJSON(t, r.body); r.status != 400 || m["code"] != float64(6) {
		t.Errorf("bad gzip HEC: %d %s", r.status, r.body)
	}
}
