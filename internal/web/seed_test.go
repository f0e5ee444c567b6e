package web

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

// The browser test's data: a simulated organisation's signals, incidents and
// evidence events, exported once from a hunt's store:
//
//	go run ./cmd/vigil simulate --seed 1 --users 60 --days 6 --out /tmp/sim
//	go run ./cmd/vigil hunt --data-dir /tmp/d --min-risk 0 --output json /tmp/sim >/dev/null
//	go test ./internal/web -run TestExportSeed -args -export-seed /tmp/d -export-seed-strip /tmp/sim/
var (
	exportSeed      = flag.String("export-seed", "", "data directory whose store TestExportSeed writes to testdata/seed.json")
	exportSeedStrip = flag.String("export-seed-strip", "", "prefix TestExportSeed strips from evidence sources")
)

const seedFile = "testdata/seed.json"

// maxSeedEvidence bounds the evidence kept per signal so the fixture stays small.
const maxSeedEvidence = 4

// seed is testdata/seed.json.
type seed struct {
	Signals   []detect.Signal      `json:"signals"`
	Incidents []correlate.Incident `json:"incidents"`
	Evidence  []store.Evidence     `json:"evidence"`
}

func TestExportSeed(t *testing.T) {
	if *exportSeed == "" {
		t.Skip("export only: -args -export-seed DATA_DIR")
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: *exportSeed})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var sd seed
	for cursor := ""; ; {
		p, err := st.ListSignals(ctx, store.SignalQuery{Order: store.OrderAsc, Limit: store.MaxLimit, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		sd.Signals = append(sd.Signals, p.Items...)
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	for cursor := ""; ; {
		p, err := st.ListIncidents(ctx, store.IncidentQuery{Limit: store.MaxLimit, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		sd.Incidents = append(sd.Incidents, p.Items...)
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	var ids []string
	for i := range sd.Signals {
		s := &sd.Signals[i]
		if len(s.Evidence) > maxSeedEvidence {
			s.Evidence = s.Evidence[:maxSeedEvidence]
		}
		for j := range s.Evidence {
			s.Evidence[j].Source = strings.TrimPrefix(s.Evidence[j].Source, *exportSeedStrip)
			ids = append(ids, s.Evidence[j].EventID)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if sd.Evidence, err = st.GetEvidence(ctx, ids); err != nil {
		t.Fatal(err)
	}
	for i := range sd.Evidence {
		sd.Evidence[i].Source = strings.TrimPrefix(sd.Evidence[i].Source, *exportSeedStrip)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(sd); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(seedFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seedFile, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d signals, %d incidents, %d evidence events, %d bytes", seedFile, len(sd.Signals), len(sd.Incidents), len(sd.Evidence), buf.Len())
}

// loadSeed reads testdata/seed.json into st.
func loadSeed(ctx context.Context, st store.Store) (seed, error) {
	var sd seed
	b, err := os.ReadFile(seedFile)
	if err != nil {
		return sd, fmt.Errorf("reading the seed: %w", err)
	}
	if err := json.Unmarshal(b, &sd); err != nil {
		return sd, fmt.Errorf("decoding %s: %w", seedFile, err)
	}
	if err := st.PutSignals(ctx, sd.Signals); err != nil {
		return sd, fmt.Errorf("storing signals: %w", err)
	}
	if err := st.PutEvidence(ctx, sd.Evidence); err != nil {
		return sd, fmt.Errorf("storing evidence: %w", err)
	}
	for _, inc := range sd.Incidents {
		if err := st.UpsertIncident(ctx, inc); err != nil {
			return sd, fmt.Errorf("storing incident %s: %w", inc.ID, err)
		}
	}
	return sd, nil
}
