package httpin

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsec/vigil/internal/ingest"
)

// fakeAppender records what it is given, or fails as told.
type fakeAppender struct {
	mu    sync.Mutex
	calls [][]ingest.Record
	err   error
}

func (a *fakeAppender) Append(_ context.Context, recs []ingest.Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	cp := make([]ingest.Record, len(recs))
	for i, r := range recs {
		r.Data = append([]byte(nil), r.Data...) // Append does not keep them (ingest.Appender)
		r.Context = append([]byte(nil), r.Context...)
		cp[i] = r
	}
	a.calls = append(a.calls, cp)
	return nil
}

func (a *fakeAppender) records() []ingest.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	var all []ingest.Record
	for _, c := range a.calls {
		all = append(all, c...)
	}
	return all
}

func (a *fakeAppender) nCalls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.calls)
}

// fakeTokens knows token -> name.
type fakeTokens map[string]string

func (f fakeTokens) CheckIngestToken(_ context.Context, token string) (string, bool) {
	name, ok := f[token]
	return name, ok
}

const goodToken = "s3cret-token"

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type env struct {
	srv *httptest.Server
	app *fakeAppender
	reg *prometheus.Registry
	h   *Handler
}

func newEnv(t testing.TB, mod func(*Options)) *env {
	t.Helper()
	app := &fakeAppender{}
	reg := prometheus.NewRegistry()
	opts := Options{
		Appender:   app,
		Tokens:     fakeTokens{goodToken: "shipper"},
		Registerer: reg,
		Now:        func() time.Time { return testNow },
	}
	if mod != nil {
		mod(&opts)
	}
	h, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{srv: srv, app: app, reg: reg, h: h}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(t testing.TB, method, path string, hdr map[string]string, body []byte) resp {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, b}
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decodeJSON(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, b)
	}
	return m
}

// counterValue reads one counter of the registry.
func counterValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
