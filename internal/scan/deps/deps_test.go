package deps

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/scan"
	"github.com/vigilsec/vigil/internal/vulndb"
)

func fixtureTarget(t testing.TB) *scan.Target {
	t.Helper()
	tg, err := scan.Walk(filepath.Join("testdata", "repo"), scan.WalkOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func fixtureDB(t testing.TB) *vulndb.DB {
	t.Helper()
	dir := t.TempDir()
	st, err := vulndb.Import(context.Background(), dir, filepath.Join("testdata", "osv"))
	if err != nil || st.Rejected != 0 {
		t.Fatalf("importing the fixture advisories: %+v %v", st, err)
	}
	db, err := vulndb.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestScanWithoutDB(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var problems []scan.Problem
	n := 0
	if err := s.Scan(context.Background(), fixtureTarget(t), func(scan.Finding) { n++ }, func(p scan.Problem) { problems = append(problems, p) }); err != nil {
		t.Fatal(err)
	}
	if n != 0 || len(problems) != 1 || problems[0].Scanner != "deps" || !strings.Contains(problems[0].Err, "no vulnerability database") {
		t.Errorf("%d findings, problems %+v", n, problems)
	}
}

func TestGoVersions(t *testing.T) {
	for in, want := range map[string]string{"1.21": "1.21.0", "1.21.3": "1.21.3", "1.22rc1": "1.22.0-rc.1", "1.18beta2": "1.18.0-beta.2", "go1.20": "1.20.0"} {
		if got := queryVersion(Dep{Ecosystem: "Go", Name: "stdlib", Version: in}); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
	if got := queryVersion(Dep{Ecosystem: "Go", Name: "golang.org/x/net", Version: "0.17.0"}); got != "0.17.0" {
		t.Errorf("module version changed: %s", got)
	}
	for _, tc := range [][3]string{{"stdlib", "1.22.1", "go1.22.1"}, {"golang.org/x/net", "0.17.0", "v0.17.0"}, {"golang.org/x/net", "v0.17.0", "v0.17.0"}} {
		if got := displayVersion(Dep{Ecosystem: "Go", Name: tc[0]}, tc[1]); got != tc[2] {
			t.Errorf("%v: %s", tc, got)
		}
	}
	if got := displayVersion(Dep{Ecosystem: "npm", Name: "x"}, "1.0.0"); got != "1.0.0" {
		t.Errorf("npm: %s", got)
	}
}
