package dnsanomaly

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/decode/zeek"
	"github.com/vigilsec/vigil/internal/sim"
)

// simQueries generates a small organisation with the DNS tunnel campaign and
// returns its dns.log as queries, with the campaign's truth.
func simQueries(t *testing.T, seed uint64, users, days int) ([]Query, sim.TruthCampaign) {
	t.Helper()
	dir := t.TempDir()
	if _, err := sim.Run(sim.Config{Seed: seed, Users: users, Days: days, Out: dir, Campaigns: []string{"c2-dns"}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tr sim.Truth
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	if len(tr.Campaigns) != 1 || tr.Campaigns[0].ID != "c2dns" {
		t.Fatalf("campaigns %+v", tr.Campaigns)
	}
	s, err := decodetest.DecodeFile(t, zeek.NewTSV(), filepath.Join(dir, "zeek", "dns.log"))
	if err != nil || len(s.Rejects) != 0 {
		t.Fatalf("decoding dns.log: %v, %d rejects", err, len(s.Rejects))
	}
	qs := make([]Query, 0, len(s.Events))
	for _, e := range s.Events {
		if q, ok := FromEvent(e); ok {
			qs = append(qs, q)
		}
	}
	if len(qs) != len(s.Events) {
		t.Fatalf("%d of %d events are queries", len(qs), len(s.Events))
	}
	return qs, tr.Campaigns[0]
}

func TestSimTunnelCampaign(t *testing.T) {
	qs, camp := simQueries(t, 3, 30, 4)
	var dom string
	for _, e := range camp.Entities {
		if e.Kind == "domain" {
			n, err := Normalize(e.Value)
			if err != nil {
				t.Fatal(err)
			}
			dom = n.Registered
		}
	}
	m, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var fs []Finding
	for _, q := range qs {
		fs = m.Observe(q, fs)
	}
	for _, f := range fs {
		t.Logf("%s %s %s %.1f %s", f.Kind, f.Time.Format(time.RFC3339), f.Domain, f.Score, f.Summary)
	}
	_ = dom
	t.Logf("%+v", m.Stats())
}
