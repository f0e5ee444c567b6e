package identity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFormatsAgree loads one directory written as CSV, YAML and in a file
// without a known extension, and checks the names every system gives alice
// resolve to her in each.
func TestFormatsAgree(t *testing.T) {
	dir := t.TempDir()
	sniffed := filepath.Join(dir, "people.txt")
	if err := os.WriteFile(sniffed, mustRead(t, filepath.Join("testdata", "people.yaml")), 0o600); err != nil {
		t.Fatal(err)
	}
	alice := want{user: "alice@corp.example", manager: "bob@corp.example", office: "London", group: "finance-payments"}
	named := func(w want, name string) want { w.name = name; return w }
	for _, p := range []string{filepath.Join("testdata", "people.csv"), filepath.Join("testdata", "people.yaml"), sniffed} {
		t.Run(filepath.Base(p), func(t *testing.T) {
			d, rej, err := Load(p)
			if err != nil || len(rej) != 0 {
				t.Fatal(rej, err)
			}
			if d.Len() != 3 {
				t.Errorf("people = %d", d.Len())
			}
			checkLookups(t, d, []want{
				named(alice, `CORP\alice`), named(alice, "alice@corp.example"), named(alice, "alice.smith"),
				named(alice, "Alice.Smith@Corp.Example"),
				{name: `corp\bob`, user: "bob@corp.example", group: "IT/admin", privileged: true},
				{name: "bob.jones", user: "bob@corp.example", group: "IT/admin", privileged: true},
				{name: "carol.white", user: "carol@corp.example", group: "IT/staff", disabled: true},
				{name: "alice"}, {name: "bob"},
			})
		})
	}
}

func TestReadYAML(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		people   int
		rejected []string
		err      string
		lookups  []want
	}{{
		name:    "top-level list",
		in:      "- user: a@x\n  aliases: X\\a\n- user: b@x\n  privileged: false\n  peer_group: ops\n  manager: x\\A\n",
		people:  2,
		lookups: []want{{name: `x\a`, user: "a@x"}, {name: "B@X", user: "b@x", group: "ops", manager: "a@x"}},
	}, {
		name:    "empty list, null identities, empty document",
		in:      "identities:\n",
		lookups: []want{{name: "a"}},
	}, {
		name: "bad items keep their lines",
		in: "identities:\n  - user: a\n  - user: b\n    shoe_size: 9\n  - user: c\n    user: d\n  - just a string\n" +
			"  - user: e\n    privileged: maybe\n  - user: f\n    privileged: 1\n  - aliases: [x]\n  - user: g\n    aliases: [a]\n" +
			"  - user: h\n    aliases: [[x]]\n  - user: i\n    role: [x]\n  - user: j\n    disabled: \"true\"\n",
		people: 2,
		rejected: []string{
			`line 4: unknown key "shoe_size"`, `line 6: key "user" repeated`, "line 7: item is not a mapping",
			`line 9: privileged "maybe" is not true or false`, `line 11: privileged "1" is not true or false`,
			"line 12: empty user", `line 13: name "a" already belongs to another person`,
			"line 16: aliases item at line 16 is not a single value", "line 18: role is not a single value",
		},
		lookups: []want{{name: "a", user: "a"}, {name: "j", user: "j", disabled: true}},
	}, {
		name: "anchors refused",
		in:   "- &p\n  user: a\n- *p\n- user: b\n  role: &r x\n",
		rejected: []string{
			"line 1: anchors and aliases are not supported", "line 3: anchors and aliases are not supported",
			"line 5: anchors and aliases are not supported",
		},
	}, {
		name: "top level of another shape", in: "user: a\n", err: `line 1: top-level key "user" is not identities`,
	}, {
		name: "scalar top level", in: "hello\n", err: "line 1: top level is not a list",
	}, {
		name: "identities not a list", in: "identities: {user: a}\n", err: "line 1: top level is not a list",
	}, {
		name: "two documents", in: "- user: a\n---\n- user: b\n", err: "more than one yaml document",
	}, {
		name: "not yaml", in: "- user: a\n  x: [\n", err: "parsing yaml",
	}} {
		t.Run(tt.name, func(t *testing.T) {
			d, rej, err := ReadYAML(strings.NewReader(tt.in))
			if tt.err != "" || err != nil {
				if err == nil || !strings.Contains(err.Error(), tt.err) || tt.err == "" {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			checkRejected(t, rej, tt.rejected)
			if d.Len() != tt.people {
				t.Errorf("people = %d, want %d", d.Len(), tt.people)
			}
			checkLookups(t, d, tt.lookups)
		})
	}
}

func FuzzReadYAML(f *testing.F) {
	f.Add(string(mustRead(f, filepath.Join("testdata", "people.yaml"))))
	f.Add("- user: a\n  aliases: [b, c]\n- user: b\n- &x {user: c}\n- *x\n")
	f.Add("identities: [{user: 'CORP\\a', privileged: true, disabled: no}]\n")
	f.Fuzz(func(t *testing.T, in string) {
		d, rej, err := ReadYAML(strings.NewReader(in))
		if err != nil {
			return
		}
		checkDirectory(t, d)
		for _, r := range rej {
			if r.Line < 1 {
				t.Fatalf("rejected without a line: %v", r)
			}
		}
	})
}
