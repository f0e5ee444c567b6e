package triage

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/store"
)

func reachedValues(r Reach) []string {
	var out []string
	for _, x := range r.Reached {
		out = append(out, x.Entity.Value)
	}
	return out
}

func TestBlastRadius(t *testing.T) {
	st, inc := openFixture(t)
	tests := []struct {
		name                           string
		opts                           BlastOptions
		aliceHosts, fsUsers            []string
		aliceCount, fsCount            int
		reached, critical, privileged  int
		aliceCritical, fsPrivilegedCnt int
	}{
		{
			name:       "14 days with context",
			opts:       BlastOptions{Context: assetContext},
			aliceHosts: []string{"dc-01.corp.example", "fs-01.corp.example", "ws-alice.corp.example"},
			fsUsers:    []string{`corp\svc-backup`, `corp\alice`, `corp\bob`},
			aliceCount: 3, fsCount: 3, reached: 6, critical: 2, privileged: 1, aliceCritical: 2, fsPrivilegedCnt: 1,
		},
		{
			name:       "without context: most signals first",
			opts:       BlastOptions{},
			aliceHosts: []string{"ws-alice.corp.example", "fs-01.corp.example", "dc-01.corp.example"},
			fsUsers:    []string{`corp\alice`, `corp\svc-backup`, `corp\bob`},
			aliceCount: 3, fsCount: 3, reached: 6,
		},
		{
			name:       "one day",
			opts:       BlastOptions{Lookback: 24 * time.Hour, Context: assetContext},
			aliceHosts: []string{"fs-01.corp.example"},
			fsUsers:    []string{`corp\alice`},
			aliceCount: 1, fsCount: 1, reached: 2, critical: 1, aliceCritical: 1,
		},
		{
			name:       "listed capped, counted in full",
			opts:       BlastOptions{MaxListed: 1, Context: assetContext},
			aliceHosts: []string{"dc-01.corp.example"},
			fsUsers:    []string{`corp\svc-backup`},
			aliceCount: 3, fsCount: 3, reached: 6, critical: 2, privileged: 1, aliceCritical: 2, fsPrivilegedCnt: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := BlastRadius(context.Background(), st, inc, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Users) != 1 || len(b.Hosts) != 1 || b.Users[0].Entity != alice || b.Hosts[0].Entity != fs01 {
				t.Fatalf("subjects %+v / %+v", b.Users, b.Hosts)
			}
			u, h := b.Users[0], b.Hosts[0]
			if got := reachedValues(u); !slices.Equal(got, tc.aliceHosts) {
				t.Errorf("alice reached %v, want %v", got, tc.aliceHosts)
			}
			if got := reachedValues(h); !slices.Equal(got, tc.fsUsers) {
				t.Errorf("fs-01 users %v, want %v", got, tc.fsUsers)
			}
			if u.Count != tc.aliceCount || h.Count != tc.fsCount {
				t.Errorf("counts %d, %d; want %d, %d", u.Count, h.Count, tc.aliceCount, tc.fsCount)
			}
			if b.Reached != tc.reached || b.Critical != tc.critical || b.Privileged != tc.privileged {
				t.Errorf("totals %d reached, %d critical, %d privileged; want %d, %d, %d", b.Reached, b.Critical, b.Privileged, tc.reached, tc.critical, tc.privileged)
			}
			if u.CriticalCount != tc.aliceCritical || h.PrivilegedCount != tc.fsPrivilegedCnt {
				t.Errorf("alice critical %d, fs-01 privileged %d; want %d, %d", u.CriticalCount, h.PrivilegedCount, tc.aliceCritical, tc.fsPrivilegedCnt)
			}
		})
	}
}

func TestBlastRadiusDetails(t *testing.T) {
	st, inc := openFixture(t)
	b, err := BlastRadius(context.Background(), st, inc, BlastOptions{Context: assetContext})
	if err != nil {
		t.Fatal(err)
	}
	if !b.Until.Equal(inc.LastSeen) || !b.Since.Equal(b.Until.Add(-14*24*time.Hour)) {
		t.Errorf("window %s..%s", b.Since, b.Until)
	}
	var ws Reached
	for _, x := range b.Users[0].Reached {
		if x.Entity == wsAlice {
			ws = x
		}
	}
	// 13 daily logons and the RDP logon 30 hours before; the one after the incident is out.
	if ws.Signals != 14 || !ws.FirstSeen.Equal(t0.Add(-13*24*time.Hour)) || !ws.LastSeen.Equal(t0.Add(-24*time.Hour)) || ws.Criticality != "low" {
		t.Errorf("ws-alice %+v", ws)
	}
	if c := b.Users[0]; c.Criticality != "unknown" || c.Privileged {
		t.Errorf("alice context %+v", c)
	}
	if c := b.Hosts[0]; c.Criticality != "high" {
		t.Errorf("fs-01 context %+v", c)
	}

	capped, err := BlastRadius(context.Background(), st, inc, BlastOptions{MaxScan: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !capped.Users[0].Truncated {
		t.Error("scan cap not reported")
	}

	if _, err := BlastRadius(context.Background(), st, correlate.Incident{ID: "x"}, BlastOptions{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("zero incident: %v", err)
	}
	onlyIP := correlate.Incident{ID: "ip", FirstSeen: t0, LastSeen: t0, Entities: []detect.Entity{sprayIP}}
	if b, err := BlastRadius(context.Background(), st, onlyIP, BlastOptions{}); err != nil || len(b.Users)+len(b.Hosts) != 0 {
		t.Errorf("incident without users or hosts: %+v, %v", b, err)
	}
}
