package api

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vigilsec/vigil/internal/feedback"
)

// FuzzDecodeBody: request bodies decode into a value or fail with a 400, never
// anything else.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{`{"status":"closed"}`, `{"assignee":""}`, `{"target_kind":"incident","target_id":"x","verdict":"fp"}`,
		`{"x":1}`, `{} {}`, `{"status":`, `null`, `[]`, ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []any{&IncidentPatch{}, &feedback.Request{}} {
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			err := decodeBody(httptest.NewRecorder(), r, v)
			var e *Error
			if err != nil && (!errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Message == "") {
				t.Fatalf("%q: error %v, want a 400 with a message", body, err)
			}
		}
	})
}
