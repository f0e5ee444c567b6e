package dnsanomaly

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/decode/zeek"
	"github.com/vigilsec/vigil/internal/sim"
)

// simQueries generates a small organisation with the DNS tunnel and the HTTP
// beacon campaigns and returns its dns.log as queries, with the campaigns' truth
// by id.
func simQueries(t *testing.T, seed uint64, users, days int) ([]Query, map[string]sim.TruthCampaign) {
	t.Helper()
	dir := t.TempDir()
	if _, err := sim.Run(sim.Config{Seed: seed, Users: users, Days: days, Out: dir, Campaigns: []string{"c2-dns", "c2-http"}}); err != nil {
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
	camps := map[string]sim.TruthCampaign{}
	for _, c := range tr.Campaigns {
		camps[c.ID] = c
	}
	if len(camps) != 2 || camps["c2dns"].ID == "" || camps["c2http"].ID == "" {
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
	return qs, camps
}

// target returns a campaign's registered domain and its first IP (the internal
// host's, as the simulator lists it first).
func target(t *testing.T, c sim.TruthCampaign) (dom, ip string) {
	t.Helper()
	for _, e := range c.Entities {
		switch e.Kind {
		case "domain":
			n, err := Normalize(e.Value)
			if err != nil {
				t.Fatal(err)
			}
			dom = n.Registered
		case "ip":
			if ip == "" {
				ip = e.Value
			}
		}
	}
	if dom == "" || ip == "" {
		t.Fatalf("campaign %s: domain %q, ip %q", c.ID, dom, ip)
	}
	return dom, ip
}

// TestSimTunnelCampaign: on simulated organisations the DNS campaign's tunnel
// domain is reported for its host inside the campaign's time, the HTTP beacon's
// domain as a rare domain for its host, and the benign traffic of the other days
// and hosts gives at most a couple of findings a day.
func TestSimTunnelCampaign(t *testing.T) {
	for _, c := range []struct {
		seed        uint64
		users, days int
	}{{3, 30, 4}, {9, 40, 5}} {
		t.Run(fmt.Sprint("seed", c.seed), func(t *testing.T) {
			if raceEnabled && c.seed != 3 {
				t.Skip("one simulated organisation is enough under the race detector")
			}
			qs, camps := simQueries(t, c.seed, c.users, c.days)
			camp, beacon := camps["c2dns"], camps["c2http"]
			dom, ip := target(t, camp)
			bdom, bip := target(t, beacon)
			m := newModel(t, Config{})
			fs := run(t, m, qs)
			var hits, rare, benign int
			for _, f := range fs {
				if f.Domain == bdom && f.Client == bip {
					if f.Kind != FindingRare || f.Time.Before(beacon.Start) || f.Time.After(beacon.End) {
						t.Errorf("beacon finding: %s %s", f.Kind, f.Summary)
					}
					rare++
					continue
				}
				if f.Domain == dom && f.Client == ip {
					if f.Time.Before(camp.Start) || f.Time.After(camp.End) {
						t.Errorf("campaign finding outside the campaign: %s", f.Summary)
					}
					if f.Kind == FindingTunnel {
						hits++
					}
					continue
				}
				benign++
				t.Logf("benign finding: %s %s", f.Kind, f.Summary)
			}
			if hits == 0 {
				t.Errorf("tunnel %s from %s not found; %d findings, stats %+v", dom, ip, len(fs), m.Stats())
			}
			if rare != 1 {
				t.Errorf("beacon domain %s from %s: %d rare-domain findings, want 1", bdom, bip, rare)
			}
			// Two reports per started window at most.
			if wins := int(camp.End.Sub(camp.Start)/time.Hour) + 2; hits > 2*wins {
				t.Errorf("%d tunnel findings for a %v campaign", hits, camp.End.Sub(camp.Start))
			}
			if benign > 2*c.days {
				t.Errorf("%d benign findings in %d days", benign, c.days)
			}
			t.Logf("%d queries, %d tunnel findings for %s, %d rare for %s, %d benign findings; character model weight %.0f, %0.f label scores",
				len(qs), hits, dom, rare, bdom, benign, m.weight, m.scoreH.total)

			// The character model learned from this organisation's names finds a
			// bot's burst injected into the last day.
			last := qs[len(qs)-1].Time.Add(-3 * time.Hour)
			bot := append(slices.Clone(qs), dga(rand.New(rand.NewPCG(c.seed, 2)), last, "10.64.0.99", 30)...)
			sortQueries(bot)
			found := false
			for _, f := range run(t, newModel(t, Config{}), bot) {
				if f.Kind == FindingDGA && f.Client == "10.64.0.99" {
					found = true
					t.Log(f.Summary)
				}
			}
			if !found {
				t.Error("injected DGA burst not found")
			}
		})
	}
}
