package sigma

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/decode/evtx"
	"github.com/vigilsec/vigil/internal/event"
)

// evalSlow evaluates n without the prefilter: every string condition searches the
// values itself.
func evalSlow(n node, v *view) bool {
	switch n := n.(type) {
	case andNode:
		for _, x := range n {
			if !evalSlow(x, v) {
				return false
			}
		}
		return true
	case orNode:
		for _, x := range n {
			if evalSlow(x, v) {
				return true
			}
		}
		return false
	case notNode:
		return !evalSlow(n.x, v)
	case *searchNode:
		for _, g := range n.groups {
			ok := true
			for _, c := range g {
				if _, m := c.match(v); m == c.neg {
					ok = false
					break
				}
			}
			if ok {
				return true
			}
		}
		return false
	}
	panic("unknown node")
}

// checkPrefilter asserts that, on e, every rule evaluates the same with and without
// the prefilter, and that a guarded rule that matches had its guard found.
func checkPrefilter(t *testing.T, rs *Ruleset, e *event.Event, where string) {
	t.Helper()
	m := rs.NewMatcher()
	m.v.reset(e)
	for ai := range rs.pre.autos {
		m.v.scan(int32(ai))
	}
	m.v.markRules()
	for idx, cr := range rs.rules {
		slow := evalSlow(cr.cond, &m.v)
		fast := cr.cond.eval(&m.v)
		if slow != fast {
			t.Fatalf("%s: rule %s (%s): prefilter says %v, direct evaluation %v", where, cr.rule.Title, cr.rule.Source, fast, slow)
		}
		if slow && cr.guarded && m.v.ruleGen[idx] != m.v.gen {
			t.Fatalf("%s: rule %s (%s) matches but its guard was not found", where, cr.rule.Title, cr.rule.Source)
		}
	}
}

// TestPrefilterMatchesDirect compares the prefilter with direct evaluation for every
// SigmaHQ rule on every event of the EVTX attack samples.
func TestPrefilterMatchesDirect(t *testing.T) {
	var paths []string
	for _, d := range []string{"rules", "rules-emerging-threats", "rules-threat-hunting", "rules-compliance"} {
		paths = append(paths, decodetest.Corpora(t, "sigma/"+d))
	}
	c, err := Load(paths...)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Compile(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	root := decodetest.Corpora(t, "evtx-attack-samples")
	n := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.EqualFold(filepath.Ext(p), ".evtx") {
			return err
		}
		s, _ := decodetest.DecodeFile(t, evtx.New(), p)
		for i, e := range s.Events {
			if i%7 != 0 && (testing.Short() || raceEnabled) {
				continue
			}
			checkPrefilter(t, rs, e, filepath.Base(p))
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events x %d compiled rules agree", n, len(rs.rules))
}

// FuzzPrefilter feeds arbitrary field values to rules using every kind of string
// matcher and checks the prefilter agrees with direct evaluation.
func FuzzPrefilter(f *testing.F) {
	det := `    s1:
        A|contains:
            - 'mimi'
            - 'kat'
        B|endswith: '\cmd.exe'
    s2:
        A|startswith: 'pow'
        B|contains|all:
            - 'x'
            - 'yz'
    s3:
        A: 'exact'
        B: 'a*b?c'
    s4:
        A|windash|contains: ' -enc'
        B|cased|contains: 'Cs'
    s5:
        A|base64offset|contains: 'http'
    s6:
        A: '*'
        B: ''
    s7:
        A|re: 'xy+z(Qq)?'
        B|re|i: '(?:foo|bar)BAZ'
    condition: 1 of them
`
	var c Collection
	c.Add("f.yml", []byte("title: F\nlogsource:\n    product: test\ndetection:\n"+det))
	c.Link()
	rs, err := Compile(&c, Options{Mapping: testMapping})
	if err != nil || rs.Loaded != 1 {
		f.Fatalf("%v %v %v", err, c.Rejected, rs.Rejected)
	}
	f.Add("mimikatz", `C:\CMD.EXE`)
	f.Add("powershell /enc", "xyz")
	f.Add("EXACT", "aXbYc")
	f.Add("", "")
	f.Add("aHR0cDovL2V2aWw=", "Cs")
	f.Fuzz(func(t *testing.T, a, b string) {
		checkPrefilter(t, rs, ev("A", a, "B", b), "fuzz")
		checkPrefilter(t, rs, ev("A", a, "A", b, "B", a), "fuzz repeated")
	})
}
