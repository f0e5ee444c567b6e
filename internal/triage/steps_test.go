package triage

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
)

func stepFors(steps []Step) []string {
	var out []string
	for _, s := range steps {
		if len(out) == 0 || out[len(out)-1] != s.For {
			out = append(out, s.For)
		}
	}
	return out
}

func mustPlaybooks(t *testing.T, src string) *Playbooks {
	t.Helper()
	pbs, err := ParsePlaybooks([]byte(src), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ps := &Playbooks{techniques: map[string]*Playbook{}, tactics: map[string]*Playbook{}}
	for _, p := range pbs {
		if p.Technique != "" {
			ps.techniques[p.Technique] = p
		} else {
			ps.tactics[p.Tactic] = p
		}
	}
	return ps
}

func TestStepsOrder(t *testing.T) {
	st, inc := openFixture(t)
	d, err := Gather(context.Background(), st, inc, GatherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := BuiltinPlaybooks()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		inc  correlate.Incident
		d    Dossier
		want []string
	}{
		{"attack order from signal times", inc, d,
			[]string{"T1110.003", "T1021", "T1569.002", "T1003.001", "T1560.001", "T1048.002", "initial-access", "defense-evasion"}},
		{"kill-chain order without a dossier", inc, Dossier{},
			[]string{"T1569.002", "T1003.001", "T1110.003", "T1021", "T1560.001", "T1048.002", "initial-access", "defense-evasion"}},
		{"tactics only", correlate.Incident{Tactics: []string{"Impact", "TA0007", "discovery"}}, Dossier{},
			[]string{"discovery", "impact"}},
		{"unknown technique and tactic", correlate.Incident{Techniques: []string{"T0000", "bogus"}, Tactics: []string{"looting"}}, Dossier{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := stepFors(Steps(tc.inc, tc.d, ps))
			if !slices.Equal(got, tc.want) {
				t.Errorf("playbook order %v, want %v", got, tc.want)
			}
		})
	}
	// Placeholders take the technique's own signals first: the service install
	// is at 09:25 from 10.0.5.21, the upload goes to 198.51.100.9.
	for _, s := range Steps(inc, d, ps) {
		switch {
		case s.For == "T1569.002" && s.Title == "Identify the service and its binary" && !strings.Contains(s.LookAt, "around 2026-03-10T09:25:00Z"),
			s.For == "T1569.002" && s.Title == "Find who created it remotely" && !strings.Contains(s.LookAt, "its source 10.0.5.21 and account corp\\alice"),
			s.For == "T1048.002" && s.Title == "Measure the encrypted upload" && !strings.Contains(s.LookAt, "to 198.51.100.9 around 2026-03-10T09:55:00Z"),
			// The logon signal names no address and the incident has three: none is guessed.
			s.For == "T1021" && s.Title == "Map the remote logon" && (!strings.Contains(s.LookAt, "source address the address") || !slices.Equal(s.Unfilled, []string{"ip"})):
			t.Errorf("%s step %q not filled from its own signals: %s", s.For, s.Title, s.LookAt)
		}
	}
	if Steps(inc, d, nil) != nil {
		t.Error("nil playbooks gave steps")
	}
}

func TestStepsFillAndDedup(t *testing.T) {
	ps := mustPlaybooks(t, `playbooks:
  - technique: T1110
    steps:
      - title: Failures for {user}
        look_at: "4625 of {users} from {ips} between {first_seen} and {last_seen} ({incident})"
        benign_if: "{host} is a kiosk"
      - title: Shared step
        look_at: same text
        benign_if: same text
  - technique: T1110.003
    steps:
      - title: Spray from {ip}
        look_at: "hash {hash} on {workload}"
        benign_if: pentest
      - title: Shared step
        look_at: same text
        benign_if: same text
  - tactic: credential-access
    steps:
      - title: Fallback
        look_at: never used here
        benign_if: covered by techniques
`)
	users := []detect.Entity{}
	for _, u := range []string{"u1", "u2", "u3", "u4", "u5", "u6"} {
		users = append(users, detect.Entity{Kind: detect.EntityUser, Value: u})
	}
	inc := correlate.Incident{
		ID: "inc-1", FirstSeen: t0, LastSeen: t0.Add(3600e9),
		Techniques: []string{"T1110.003", "T1110.001", "T1110"}, Tactics: []string{"credential-access"},
		Entities: append(users, sprayIP, sprayIP, aliceIP),
	}
	steps := Steps(inc, Dossier{}, ps)
	var titles []string
	for _, s := range steps {
		titles = append(titles, s.Title)
	}
	// T1110 (kill-chain tie, id order) first; T1110.001 falls back to T1110, used once;
	// the shared step appears once; the tactic is covered.
	if want := []string{"Failures for u1", "Shared step", "Spray from 203.0.113.7"}; !slices.Equal(titles, want) {
		t.Fatalf("titles %q, want %q", titles, want)
	}
	if got, want := steps[0].LookAt, "4625 of u1, u2, u3, u4, u5 and others from 203.0.113.7, 10.0.5.21 between 2026-03-10T09:00:00Z and 2026-03-10T10:00:00Z (inc-1)"; got != want {
		t.Errorf("look_at\n got %q\nwant %q", got, want)
	}
	if steps[0].BenignIf != "the host is a kiosk" || !slices.Equal(steps[0].Unfilled, []string{"host"}) {
		t.Errorf("unfilled host: %q %v", steps[0].BenignIf, steps[0].Unfilled)
	}
	if steps[2].LookAt != "hash the file hash on the workload" || !slices.Equal(steps[2].Unfilled, []string{"hash", "workload"}) {
		t.Errorf("unfilled: %q %v", steps[2].LookAt, steps[2].Unfilled)
	}
	if steps[0].For != "T1110" || steps[0].ForName != "Brute Force" || steps[0].Source != "test.yaml:2" || steps[0].Fallback {
		t.Errorf("provenance %+v", steps[0])
	}
}

func TestStepsCap(t *testing.T) {
	ps, err := BuiltinPlaybooks()
	if err != nil {
		t.Fatal(err)
	}
	inc := correlate.Incident{Techniques: ps.Techniques(), Tactics: ps.TacticsCovered()}
	steps := Steps(inc, Dossier{}, ps)
	if len(steps) != MaxSteps {
		t.Fatalf("%d steps, want the cap %d", len(steps), MaxSteps)
	}
	for _, s := range steps {
		if strings.ContainsAny(s.Title+s.LookAt+s.BenignIf, "{}") {
			t.Errorf("placeholder left in %+v", s)
		}
	}
}
