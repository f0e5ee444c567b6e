package governance

import (
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/enrich/identity"
)

func TestDirectoryLookup(t *testing.T) {
	const csv = "user,aliases,department,role,office,peer_group\n" +
		"alice@corp.example,CORP\\alice,Finance,analyst,Paris,\n" +
		"bob@corp.example,,Eng,sre,Berlin,oncall\n"
	d, rowErrs, err := identity.Read(strings.NewReader(csv))
	if err != nil || len(rowErrs) != 0 {
		t.Fatalf("reading directory: %v %v", err, rowErrs)
	}
	look := DirectoryLookup(d)
	a, ok := look("CORP\\alice")
	want := Attributes{User: "alice@corp.example", Department: "Finance", Role: "analyst", Region: "Paris", PeerGroup: "Finance/analyst"}
	if !ok || a != want {
		t.Errorf("alias lookup = %+v %v, want %+v", a, ok, want)
	}
	if b, ok := look("bob@corp.example"); !ok || b.PeerGroup != "oncall" || b.Region != "Berlin" {
		t.Errorf("bob = %+v %v, want explicit peer group oncall in Berlin", b, ok)
	}
	if _, ok := look("mallory"); ok {
		t.Error("unknown user resolved")
	}
	if _, ok := DirectoryLookup(nil)("alice@corp.example"); ok {
		t.Error("nil directory resolved a user")
	}
}
