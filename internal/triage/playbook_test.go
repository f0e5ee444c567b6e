package triage

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/vigilsec/vigil/internal/attack"
	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/rulepack"
)

// repoTechniques returns the ATT&CK technique ids tagged in the built-in Sigma
// pack and named in the simulator's campaign sources.
func repoTechniques(t *testing.T) (pack, sim []string) {
	t.Helper()
	tag := regexp.MustCompile(`(?i)attack\.(t\d{4}(?:\.\d{3})?)\b`)
	err := fs.WalkDir(rulepack.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(rulepack.FS(), p)
		if err != nil {
			return err
		}
		for _, m := range tag.FindAllStringSubmatch(string(b), -1) {
			pack = append(pack, strings.ToUpper(m[1]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	quoted := regexp.MustCompile(`"(T\d{4}(?:\.\d{3})?)"`)
	files, err := filepath.Glob("../sim/*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range quoted.FindAllStringSubmatch(string(b), -1) {
			sim = append(sim, m[1])
		}
	}
	slices.Sort(pack)
	slices.Sort(sim)
	return slices.Compact(pack), slices.Compact(sim)
}

func TestBuiltinCoversRepoTechniques(t *testing.T) {
	ps, err := BuiltinPlaybooks()
	if err != nil {
		t.Fatal(err)
	}
	pack, sim := repoTechniques(t)
	if len(pack) < 20 || len(sim) < 30 {
		t.Fatalf("found %d pack and %d simulator techniques; the scan of the sources is broken", len(pack), len(sim))
	}
	for _, id := range append(pack, sim...) {
		p, ok := ps.ForTechnique(id)
		if !ok {
			t.Errorf("no playbook for %s", id)
			continue
		}
		if p.Technique != id {
			t.Errorf("%s is covered only by its parent's playbook %s", id, p.Technique)
		}
	}
	var tactics []string
	for _, ta := range attack.Tactics() {
		tactics = append(tactics, ta.ShortName)
		if _, ok := ps.ForTactic(ta.ID); !ok {
			t.Errorf("no fallback playbook for tactic %s (%s)", ta.ShortName, ta.ID)
		}
	}
	if got := ps.TacticsCovered(); !slices.Equal(got, sortedCopy(tactics)) {
		t.Errorf("tactic playbooks %v, want the 14 tactics", got)
	}
	t.Logf("%d technique playbooks, %d tactic playbooks; pack %d, simulator %d techniques", len(ps.Techniques()), len(ps.TacticsCovered()), len(pack), len(sim))
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func TestBuiltinStepsAreComplete(t *testing.T) {
	ps, err := BuiltinPlaybooks()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []map[string]*Playbook{ps.techniques, ps.tactics} {
		for k, p := range m {
			if len(p.Steps) == 0 {
				t.Errorf("%s: no steps", k)
			}
			for i, s := range p.Steps {
				if len(s.Title) > 80 {
					t.Errorf("%s step %d: title longer than 80 bytes: %q", k, i, s.Title)
				}
				if len(s.LookAt) < 30 || len(s.BenignIf) < 15 {
					t.Errorf("%s step %d: look_at or benign_if too thin to act on", k, i)
				}
			}
		}
	}
}

func TestParsePlaybooksErrors(t *testing.T) {
	const step = "\n      - title: t\n        look_at: l\n        benign_if: b\n"
	tests := []struct {
		name, in, want string
	}{
		{"unknown top key", "plays: []\n", `x.yaml:1: top-level key "plays" is not playbooks`},
		{"not a list", "playbooks: 3\n", "x.yaml:1: top level is not a list of playbooks"},
		{"unknown key", "playbooks:\n  - technique: T1110\n    stepz: []\n", `x.yaml:3: unknown key "stepz"`},
		{"unknown technique", "playbooks:\n  - technique: T9999\n    steps:" + step, `x.yaml:2: technique "T9999" is not an ATT&CK`},
		{"malformed technique", "playbooks:\n  - technique: brute\n    steps:" + step, `x.yaml:2: technique "brute"`},
		{"unknown tactic", "playbooks:\n  - tactic: looting\n    steps:" + step, `x.yaml:2: tactic "looting"`},
		{"both", "playbooks:\n  - technique: T1110\n    tactic: impact\n    steps:" + step, "x.yaml:2: playbook names both"},
		{"neither", "playbooks:\n  - steps:" + step, "x.yaml:2: playbook names neither"},
		{"no steps", "playbooks:\n  - technique: T1110\n", "x.yaml:2: playbook has no steps"},
		{"empty steps", "playbooks:\n  - technique: T1110\n    steps: []\n", "x.yaml:3: playbook has no steps"},
		{"steps not list", "playbooks:\n  - technique: T1110\n    steps: go\n", "x.yaml:3: steps is not a list"},
		{"missing benign", "playbooks:\n  - technique: T1110\n    steps:\n      - title: t\n        look_at: l\n", "x.yaml:4: step has no benign_if"},
		{"unknown placeholder", "playbooks:\n  - technique: T1110\n    steps:\n      - title: t\n        look_at: logons of {usr}\n        benign_if: b\n", "x.yaml:5: look_at: unknown placeholder {usr}"},
		{"unclosed placeholder", "playbooks:\n  - technique: T1110\n    steps:\n      - title: t\n        look_at: l\n        benign_if: b {user\n", "x.yaml:6: benign_if: '{' without '}'"},
		{"stray brace", "playbooks:\n  - technique: T1110\n    steps:\n      - title: t}\n        look_at: l\n        benign_if: b\n", "x.yaml:4: title: '}' without '{'"},
		{"step not mapping", "playbooks:\n  - technique: T1110\n    steps:\n      - just text\n", "x.yaml:4: item is not a mapping"},
		{"text not scalar", "playbooks:\n  - technique: T1110\n    steps:\n      - title: [a]\n        look_at: l\n        benign_if: b\n", "x.yaml:4: title is not a single value"},
		{"duplicate", "playbooks:\n  - technique: T1110\n    steps:" + step + "  - technique: t1110\n    steps:" + step, "x.yaml:7: playbook for T1110 already defined at x.yaml:2"},
		{"duplicate key", "playbooks:\n  - technique: T1110\n    technique: T1110\n    steps:" + step, `x.yaml:3: key "technique" repeated`},
		{"alias", "playbooks:\n  - technique: T1110\n    steps: &s" + step + "  - technique: T1078\n    steps: *s\n", "x.yaml:3: anchors and aliases"},
		{"two documents", "playbooks: []\n---\nplaybooks: []\n", "x.yaml:2: more than one yaml document"},
		{"too long", "playbooks:\n  - technique: T1110\n    steps:\n      - title: " + strings.Repeat("a", MaxStepText+1) + "\n        look_at: l\n        benign_if: b\n", "x.yaml:4: title longer than"},
		{"not yaml", "playbooks: [\n", "x.yaml: parsing yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePlaybooks([]byte(tc.in), "x.yaml")
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParsePlaybooksGood(t *testing.T) {
	in := "playbooks:\n  - technique: t1110.003\n    steps:\n      - title: Spray\n        look_at: failures of {users} from {ip}\n        benign_if: one account\n  - tactic: Credential Access\n    steps:\n      - title: Creds\n        look_at: l\n        benign_if: b\n"
	pbs, err := ParsePlaybooks([]byte(in), "good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(pbs) != 2 || pbs[0].Technique != "T1110.003" || pbs[1].Tactic != "credential-access" {
		t.Fatalf("parsed %+v %+v", pbs[0], pbs[1])
	}
	if pbs[0].Source != "good.yaml:2" || pbs[1].Source != "good.yaml:7" {
		t.Errorf("sources %s, %s", pbs[0].Source, pbs[1].Source)
	}
	if pbs[0].Steps[0].LookAt != "failures of {users} from {ip}" {
		t.Errorf("look_at %q", pbs[0].Steps[0].LookAt)
	}
	if empty, err := ParsePlaybooks(nil, "empty.yaml"); err != nil || len(empty) != 0 {
		t.Errorf("empty file: %v, %v", empty, err)
	}
}

func TestLoadPlaybooksOverride(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("spray.yaml", "playbooks:\n  - technique: T1110.003\n    steps:\n      - title: Our own spray step\n        look_at: our SIEM query for {ip}\n        benign_if: our pentest range\n")
	write("new.yml", "playbooks:\n  - technique: T1195.002\n    steps:\n      - title: Supply chain\n        look_at: build logs\n        benign_if: vendor advisory\n")
	write("notes.txt", "not a playbook")
	ps, err := LoadPlaybooks(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := ps.ForTechnique("T1110.003")
	if !ok || p.Steps[0].Title != "Our own spray step" || p.Source != "spray.yaml:2" {
		t.Errorf("override not applied: %+v", p)
	}
	if p, ok := ps.ForTechnique("T1195.002"); !ok || p.Source != "new.yml:2" {
		t.Errorf("added playbook missing: %+v", p)
	}
	if p, ok := ps.ForTechnique("T1486"); !ok || !strings.HasPrefix(p.Source, "c2-exfil.yaml:") {
		t.Errorf("built-in playbook lost: %+v", p)
	}
	base, _ := BuiltinPlaybooks()
	if bp, _ := base.ForTechnique("T1110.003"); bp.Steps[0].Title == "Our own spray step" {
		t.Error("override changed the built-in set")
	}

	write("dup.yaml", "playbooks:\n  - technique: T1110.003\n    steps:\n      - title: a\n        look_at: b\n        benign_if: c\n")
	if _, err := LoadPlaybooks(dir); err == nil || !strings.Contains(err.Error(), "spray.yaml:2: playbook for T1110.003 already defined at dup.yaml:2") {
		t.Errorf("duplicate across files: %v", err)
	}
	if _, err := LoadPlaybooks(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing directory loaded")
	}
}

func TestForTechniqueFallsBackToParent(t *testing.T) {
	ps, err := BuiltinPlaybooks()
	if err != nil {
		t.Fatal(err)
	}
	p, ok := ps.ForTechnique("T1071.003") // no playbook of its own
	if !ok || p.Technique != "T1071" {
		t.Fatalf("T1071.003 -> %+v, %v", p, ok)
	}
	if _, ok := ps.ForTechnique("T1195"); ok {
		t.Error("T1195 has a playbook; pick another uncovered technique for this test")
	}
	if _, ok := ps.ForTactic("not-a-tactic"); ok {
		t.Error("unknown tactic found")
	}
}

func FuzzParsePlaybooks(f *testing.F) {
	ents, _ := builtinFS.ReadDir("playbooks")
	for _, e := range ents {
		b, _ := builtinFS.ReadFile("playbooks/" + e.Name())
		f.Add(b)
	}
	f.Add([]byte("playbooks:\n  - technique: T1110\n    steps:\n      - title: {user\n"))
	f.Add([]byte("playbooks: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pbs, err := ParsePlaybooks(data, "fuzz.yaml")
		if err != nil {
			return
		}
		for _, p := range pbs {
			if (p.Technique == "") == (p.Tactic == "") || len(p.Steps) == 0 || len(p.Steps) > MaxStepsPerPlaybook {
				t.Fatalf("accepted a malformed playbook %+v", p)
			}
			for _, s := range p.Steps {
				for _, txt := range []string{s.Title, s.LookAt, s.BenignIf} {
					if txt == "" || len(txt) > MaxStepText || checkPlaceholders(txt) != nil {
						t.Fatalf("accepted a bad step %+v", s)
					}
				}
			}
		}
	})
}

func TestLoadPlaybooksFSBounds(t *testing.T) {
	big := fstest.MapFS{"big.yaml": {Data: bytes.Repeat([]byte("# padding\n"), MaxPlaybookBytes/10+1)}}
	if _, err := LoadPlaybooksFS(big); err == nil || !strings.Contains(err.Error(), "big.yaml: larger than") {
		t.Errorf("oversized file: %v", err)
	}
	sub := fstest.MapFS{
		"a.yaml":      {Data: []byte("playbooks:\n  - tactic: impact\n    steps:\n      - title: Ours\n        look_at: our impact query\n        benign_if: drill\n")},
		"dir/b.yaml":  {Data: []byte("not: [valid")}, // subdirectories are not read
		"README.md":   {Data: []byte("ignored")},
		"empty.yml":   {Data: nil},
		"comment.yml": {Data: []byte("# nothing yet\n")},
	}
	ps, err := LoadPlaybooksFS(sub)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := ps.ForTactic("TA0040"); p.Steps[0].Title != "Ours" || p.Source != "a.yaml:2" {
		t.Errorf("impact fallback %+v", p)
	}
	if p, _ := ps.ForTactic("discovery"); !strings.HasPrefix(p.Source, "tactics.yaml:") {
		t.Errorf("discovery fallback lost: %+v", p)
	}
}

// FuzzFill checks that any text the loader accepts is filled without panics
// and without braces left over.
func FuzzFill(f *testing.F) {
	f.Add("logons of {user} on {hosts} from {first_seen}")
	f.Add("{incident}{ip}{}")
	f.Add("no placeholders")
	inc := mainIncident()
	fl := newFiller(inc, nil)
	empty := newFiller(correlate.Incident{}, nil)
	f.Fuzz(func(t *testing.T, s string) {
		if checkPlaceholders(s) != nil {
			return
		}
		for _, x := range []*filler{fl, empty} {
			out, miss := x.fill(s, nil)
			if strings.ContainsAny(out, "{}") && !strings.ContainsAny(valuesOf(x), "{}") {
				t.Fatalf("fill(%q) = %q leaves a brace", s, out)
			}
			for _, m := range miss {
				if !slices.Contains(Placeholders, m) {
					t.Fatalf("fill(%q) reports unknown placeholder %q", s, m)
				}
			}
		}
	})
}

func valuesOf(f *filler) string {
	var b strings.Builder
	for _, v := range f.vals {
		b.WriteString(v)
	}
	return b.String()
}
