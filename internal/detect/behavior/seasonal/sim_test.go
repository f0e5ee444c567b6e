package seasonal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sim"
)

// simEvents generates a small organisation with the simulator, decodes its
// files and maps them to seasonal events: all of them, and those that are not
// records of attack campaigns (what the model finds there is a false
// positive).
func simEvents(t *testing.T, users, days int) (all, benign []Event, tr sim.Truth) {
	t.Helper()
	dir := t.TempDir()
	if _, err := sim.Run(sim.Config{Seed: 11, Users: users, Days: days, Out: dir}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	attack := map[string]bool{}
	for _, c := range tr.Campaigns {
		for _, e := range c.Events {
			attack[fmt.Sprintf("%s@%d", e.File, e.Offset)] = true
		}
	}
	for _, name := range []string{"windows/security.json", "windows/sysmon.json", "linux/auth.log", "zeek/dns.log",
		"okta/system.json", "entra/signins.json", "aws/cloudtrail.json"} {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if err != nil || len(data) == 0 {
			continue
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		det, err := formats.Default().Detect(data[:min(len(data), decode.SniffSize)])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sink := &decodetest.Sink{}
		if err := det.Format.New().Decode(context.Background(), decode.Input{R: bytes.NewReader(data), Source: name, ModTime: st.ModTime()}, sink); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, e := range sink.Events {
			se, ok := toSeasonal(name, e)
			if !ok {
				continue
			}
			all = append(all, se)
			if !attack[fmt.Sprintf("%s@%d", name, e.Origin.Offset)] {
				benign = append(benign, se)
			}
		}
	}
	byTime := func(a, b Event) int { return a.Time.Compare(b.Time) }
	slices.SortStableFunc(all, byTime)
	slices.SortStableFunc(benign, byTime)
	return all, benign, tr
}

func toSeasonal(file string, e *event.Event) (Event, bool) {
	user := strings.ToLower(e.Str(event.UserName))
	out := Event{Entity: user, Time: e.Timestamp, Amount: 1, Evidence: fmt.Sprintf("%s@%d", file, e.Origin.Offset)}
	outcome := e.Str(event.EventOutcome)
	switch {
	case file == "zeek/dns.log":
		if a := e.IP(event.SourceIP); a.IsValid() {
			out.Entity, out.Metric = a.String(), DNSQueries
			return out, true
		}
	case e.Category.Has(event.CatAuthentication) && outcome == "failure":
		out.Metric = FailedLogins
	case e.Category.Has(event.CatAuthentication) && outcome == "success":
		out.Metric = Logons
	case e.Category.Has(event.CatProcess) && e.Type.Has(event.TypeStart):
		out.Metric = Processes
	case file == "aws/cloudtrail.json" && outcome == "failure":
		out.Metric = APIErrors
	default:
		return out, false
	}
	return out, user != ""
}

// TestSimulator measures findings per user-day on the simulator's benign
// traffic (campaign records removed), and checks that the DNS tunnel campaign
// of seed 11 is found when the attacks are kept.
func TestSimulator(t *testing.T) {
	const users, days = 40, 28
	all, evs, tr := simEvents(t, users, days)
	benign := tr.Benign
	if len(evs) < 1000 {
		t.Fatalf("only %d events mapped from the simulator", len(evs))
	}
	m := newModel(t, nil)
	fs := run(t, m, evs)
	inEpisode := 0
	byKind := map[string]int{}
	for _, f := range fs {
		byKind[f.Model+" "+f.Direction.String()]++
		if overlaps(f, benign) {
			inEpisode++
		}
		t.Log(f.Message)
	}
	st := m.Stats()
	rate := float64(len(fs)) / float64(users*days)
	t.Logf("%d events, %d series, %d profiles; %d findings on benign data = %.4f per user-day (%d overlap benign novelty episodes); %v",
		len(evs), st.Series, st.Profiles, len(fs), rate, inEpisode, byKind)
	if rate > 0.05 {
		t.Errorf("%.4f findings per user-day on benign data, want <= 0.05", rate)
	}

	var tunnel *sim.TruthCampaign
	for i, c := range tr.Campaigns {
		if c.Name == "DNS tunnel" {
			tunnel = &tr.Campaigns[i]
		}
	}
	if tunnel == nil {
		t.Fatal("the simulator ran no DNS tunnel campaign")
	}
	var hits []string
	for _, f := range run(t, newModel(t, nil), all) {
		if f.Metric == "dns_queries" && f.Direction == High && !f.End.Before(tunnel.Start) && !f.Start.After(tunnel.End) {
			hits = append(hits, f.Entity)
			t.Log(f.Message)
		}
	}
	// The tunnel's source address is an entity of the campaign.
	if len(hits) == 0 || !slices.ContainsFunc(tunnel.Entities, func(e sim.TruthEntity) bool { return e.Value == hits[0] }) {
		t.Errorf("DNS tunnel %s..%s: findings for %q, want the tunnel's source address", tunnel.Start, tunnel.End, hits)
	}
}

// overlaps reports whether a benign novelty episode of the finding's entity
// covers its hour.
func overlaps(f Finding, benign []sim.TruthBenign) bool {
	for _, b := range benign {
		if f.End.Before(b.Start) || f.Start.After(b.End) {
			continue
		}
		for _, e := range b.Entities {
			for _, n := range append([]string{e.Value}, e.Aliases...) {
				n = strings.ToLower(n)
				if n == f.Entity || strings.HasPrefix(n, f.Entity+"@") || strings.HasSuffix(n, `\`+f.Entity) {
					return true
				}
			}
		}
	}
	return false
}
