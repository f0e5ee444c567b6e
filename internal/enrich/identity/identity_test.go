package identity

import (
	"strings"
	"testing"
)

const sample = "\ufeffUser,aliases,department,role,privileged,email\n" +
	"alice@corp.example,CORP\\alice;alice,Finance,staff,false,alice@corp.example\n" +
	"bob@corp.example,CORP\\Bob,IT,admin,true,\n" +
	",x,IT,admin,false,\n" +
	"carol@corp.example,CORP\\alice,IT,staff,false,\n" +
	"dave@corp.example,,Sales,,maybe,\n" +
	"erin@corp.example,\"broken,Sales\n"

func TestRead(t *testing.T) {
	d, rej, err := Read(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 2 {
		t.Fatalf("people = %d, want 2", d.Len())
	}
	wantRej := []string{"line 4: empty user", `line 5: name "alice@corp" already belongs to another person`, `line 6: privileged "maybe" is not true or false`}
	if len(rej) != 4 {
		t.Fatalf("rejected = %v, want 4", rej)
	}
	for i, w := range wantRej {
		if rej[i].Error() != w {
			t.Errorf("rejected[%d] = %q, want %q", i, rej[i].Error(), w)
		}
	}
	tests := []struct{ name, canon, group string }{
		{`CORP\Alice`, "alice@corp.example", "Finance/staff"},
		{"alice", "alice@corp.example", "Finance/staff"},
		{"ALICE@corp.example", "alice@corp.example", "Finance/staff"},
		{`corp\bob`, "bob@corp.example", "IT/admin"},
		{"mallory@corp.example", "mallory@corp.example", ""},
	}
	for _, tt := range tests {
		if got := d.Canonical(tt.name); got != tt.canon {
			t.Errorf("Canonical(%q) = %q, want %q", tt.name, got, tt.canon)
		}
		if got := d.PeerGroup(tt.name); got != tt.group {
			t.Errorf("PeerGroup(%q) = %q, want %q", tt.name, got, tt.group)
		}
	}
	if p, _ := d.Lookup("bob"); p != nil {
		t.Errorf("bare bob resolved to %v; only CORP\\bob is an alias", p)
	}
	if p, ok := d.Lookup(`CORP\bob`); !ok || !p.Privileged {
		t.Errorf("bob privileged = %v, %v", p, ok)
	}
}

func TestReadHeaderErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "reading header: EOF"},
		{"name,role\n", `header: no "user" column`},
		{"user,user\n", `header: column "user" repeated`},
		{"user,shoe_size\n", `header: unknown column "shoe_size"`},
	} {
		_, _, err := Read(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Read(%q) error = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add(sample)
	f.Add("user\n\"\n")
	f.Add("user,aliases\na,b;c;;d\n")
	f.Fuzz(func(t *testing.T, in string) {
		d, _, err := Read(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, p := range d.people {
			for _, n := range append([]string{p.User}, p.Aliases...) {
				got, ok := d.Lookup(n)
				if !ok || got.User != p.User {
					t.Fatalf("name %q of %q resolves to %v", n, p.User, got)
				}
			}
		}
	})
}
