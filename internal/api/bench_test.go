package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

// BenchmarkListIncidents: GET /api/v1/incidents (by risk, limit 100) on a
// store holding 10,000 incidents.
//
//	go test -run '^$' -bench ListIncidents -benchmem ./internal/api/
func BenchmarkListIncidents(b *testing.B) {
	ctx := b.Context()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for i := range 10_000 {
		at := t0.Add(time.Duration(i) * time.Minute)
		inc := correlate.Incident{ID: fmt.Sprintf("inc-%05d", i), Title: "Encoded PowerShell then LSASS access", Status: correlate.StatusOpen,
			Severity: detect.Severity(i % 5), Risk: float64(i%997) / 10, FirstSeen: at, LastSeen: at.Add(time.Minute), Tactics: []string{"execution"},
			Entities:    []detect.Entity{{Kind: "user", Value: fmt.Sprintf("u%d", i%300)}, {Kind: "host", Value: fmt.Sprintf("h%d", i%50)}},
			EntityCount: 2, SignalIDs: []string{fmt.Sprintf("s-%d-1", i), fmt.Sprintf("s-%d-2", i)}, SignalCount: 2, Version: 1}
		if err := st.UpsertIncident(ctx, inc); err != nil {
			b.Fatal(err)
		}
	}
	a, err := New(Options{Store: st, Auth: fakeAuth{}})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Routes(mux)
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/v1/incidents?sort=risk&limit=100", nil)
		req.Header.Set("X-Test-User", "vera:viewer")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}
