package attack

import (
	"math"
	"runtime"
	"slices"
	"testing"
)

func TestTacticsKillChainOrder(t *testing.T) {
	ts := Tactics()
	if len(ts) != TacticCount {
		t.Fatalf("%d tactics", len(ts))
	}
	want := []string{"reconnaissance", "resource-development", "initial-access", "execution", "persistence",
		"privilege-escalation", "defense-evasion", "credential-access", "discovery", "lateral-movement",
		"collection", "command-and-control", "exfiltration", "impact"}
	for i, ta := range ts {
		if ta.ShortName != want[i] || ta.Order != i+1 {
			t.Errorf("tactic %d = %+v, want %s", i+1, ta, want[i])
		}
	}
	ts[0].Name = "mutated"
	if Tactics()[0].Name != "Reconnaissance" {
		t.Error("Tactics returns shared state")
	}
}

func TestLookupTactic(t *testing.T) {
	for _, tc := range []struct {
		in     string
		wantID string
	}{
		{"TA0006", "TA0006"},
		{"ta0006", "TA0006"},
		{"credential-access", "TA0006"},
		{"Credential Access", "TA0006"},
		{"credential_access", "TA0006"},
		{" CREDENTIAL_ACCESS ", "TA0006"},
		{"Command and Control", "TA0011"},
		{"command_and_control", "TA0011"},
		{"impact", "TA0040"},
		{"reconnaissance", "TA0043"},
		{"", ""},
		{"credential", ""},
		{"TA0099", ""},
		{"T1003", ""},
		{"credential--access", ""},
	} {
		got, ok := LookupTactic(tc.in)
		if ok != (tc.wantID != "") || got.ID != tc.wantID {
			t.Errorf("LookupTactic(%q) = %+v, %v; want %q", tc.in, got, ok, tc.wantID)
		}
	}
}

func TestLookupTechnique(t *testing.T) {
	for _, tc := range []struct {
		in         string
		ok         bool
		name       string
		tactics    []string
		parent     string
		deprecated bool
	}{
		{"T1003", true, "OS Credential Dumping", []string{"credential-access"}, "", false},
		{"T1003.001", true, "LSASS Memory", []string{"credential-access"}, "T1003", false},
		{"t1003.001", true, "LSASS Memory", []string{"credential-access"}, "T1003", false},
		{"T1059.001", true, "PowerShell", []string{"execution"}, "T1059", false},
		{"T1078", true, "Valid Accounts", []string{"initial-access", "persistence", "privilege-escalation", "defense-evasion"}, "", false},
		{"T1071.001", true, "Web Protocols", []string{"command-and-control"}, "T1071", false},
		{"T1003.999", false, "", nil, "", false},
		{"T9999", false, "", nil, "", false},
		{"T10", false, "", nil, "", false},
		{"T1003.1", false, "", nil, "", false},
		{"T1003-001", false, "", nil, "", false},
		{"TA0006", false, "", nil, "", false},
		{"1003", false, "", nil, "", false},
		{"T1003.001x", false, "", nil, "", false},
		{"", false, "", nil, "", false},
		{"Ｔ1003", false, "", nil, "", false},
	} {
		got, ok := LookupTechnique(tc.in)
		if ok != tc.ok || got.Name != tc.name || !slices.Equal(got.Tactics, tc.tactics) || got.Parent != tc.parent || got.Deprecated != tc.deprecated {
			t.Errorf("LookupTechnique(%q) = %+v, %v", tc.in, got, ok)
		}
	}
	// Deprecated techniques are kept and flagged.
	var dep int
	for _, id := range TechniqueIDs() {
		if te, _ := LookupTechnique(id); te.Deprecated {
			dep++
		}
	}
	if dep == 0 || dep == len(TechniqueIDs()) {
		t.Errorf("%d deprecated techniques of %d", dep, len(TechniqueIDs()))
	}
	te, _ := LookupTechnique("T1078")
	te.Tactics[0] = "mutated"
	if te2, _ := LookupTechnique("T1078"); te2.Tactics[0] != "initial-access" {
		t.Error("LookupTechnique returns shared state")
	}
}

func TestTacticsOf(t *testing.T) {
	ids := func(ts []Tactic) []string {
		var out []string
		for _, ta := range ts {
			out = append(out, ta.ID)
		}
		return out
	}
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"T1078", []string{"TA0001", "TA0003", "TA0004", "TA0005"}},
		{"T1003.001", []string{"TA0006"}},
		{"T1003.999", []string{"TA0006"}}, // unknown sub-technique: parent's tactics
		{"T9999.001", nil},
		{"bogus", nil},
	} {
		if got := ids(TacticsOf(tc.in)); !slices.Equal(got, tc.want) {
			t.Errorf("TacticsOf(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestProgression(t *testing.T) {
	for _, tc := range []struct {
		name              string
		in                []string
		distinct, longest int
		rising            bool
		unknown           int
		first, last       string
	}{
		{"empty", nil, 0, 0, false, 0, "", ""},
		{"one", []string{"execution"}, 1, 1, false, 0, "execution", "execution"},
		{"rising", []string{"initial-access", "Execution", "TA0006", "lateral_movement"}, 4, 4, true, 0, "initial-access", "lateral-movement"},
		{"rising with repeats", []string{"execution", "execution", "persistence", "persistence"}, 2, 2, true, 0, "execution", "persistence"},
		{"reverse", []string{"lateral-movement", "credential-access", "execution", "initial-access"}, 4, 1, false, 0, "initial-access", "lateral-movement"},
		{"interleaved evasion", []string{"initial-access", "execution", "defense-evasion", "persistence", "credential-access", "lateral-movement"}, 6, 5, false, 0, "initial-access", "lateral-movement"},
		{"unknown skipped", []string{"execution", "bogus", "impact", ""}, 2, 2, true, 2, "execution", "impact"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Progression(tc.in)
			if p.Distinct != tc.distinct || p.Longest != tc.longest || p.Rising != tc.rising || p.Unknown != tc.unknown ||
				p.First.ShortName != tc.first || p.Last.ShortName != tc.last {
				t.Errorf("Progression = %+v", p)
			}
			if want := float64(tc.distinct+tc.longest) / 28; math.Abs(p.Score-want) > 1e-12 {
				t.Errorf("score %v, want %v", p.Score, want)
			}
		})
	}
	// A rising sequence weighs more than the same tactics out of order, and the
	// full kill chain in order scores 1.
	fwd := []string{"initial-access", "execution", "credential-access", "lateral-movement", "exfiltration"}
	rev := slices.Clone(fwd)
	slices.Reverse(rev)
	if Progression(fwd).Score <= Progression(rev).Score {
		t.Errorf("rising %v <= reverse %v", Progression(fwd).Score, Progression(rev).Score)
	}
	var all []string
	for _, ta := range Tactics() {
		all = append(all, ta.Name)
	}
	if p := Progression(all); p.Score != 1 || !p.Rising {
		t.Errorf("full chain %+v", p)
	}
}

func TestParseTableRejects(t *testing.T) {
	for _, in := range []string{
		``, `{`, `{"tactics":[]}`,
	} {
		if _, err := parseTable([]byte(in)); err == nil {
			t.Errorf("parseTable(%q) accepted", in)
		}
	}
}

func FuzzProgression(f *testing.F) {
	f.Add("execution", "credential_access", "TA0008")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		p := Progression([]string{a, b, c, a})
		if p.Score < 0 || p.Score > 1 || p.Longest > p.Distinct || p.Distinct+p.Unknown > 4 {
			t.Fatalf("%+v", p)
		}
		_, _ = LookupTechnique(a)
		_ = TacticsOf(b)
	})
}

func BenchmarkLookupTechnique(b *testing.B) {
	ids := TechniqueIDs()
	for i := 0; b.Loop(); i++ {
		if _, ok := LookupTechnique(ids[i%len(ids)]); !ok {
			b.Fatal("missing")
		}
	}
}

// TestTableHeap measures the parsed table's heap (figure quoted in the package doc).
func TestTableHeap(t *testing.T) {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	tb, err := parseTable(tableJSON)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	n := int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
	t.Logf("parsed table: %d bytes of heap", n)
	if n < 20_000 || n > 400_000 {
		t.Errorf("parsed table uses %d bytes", n)
	}
	runtime.KeepAlive(tb)
}
