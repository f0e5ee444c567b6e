package store

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	good := fstest.MapFS{
		"m/0001_init.sql":   {Data: []byte("CREATE TABLE a (x int);")},
		"m/0002_second.sql": {Data: []byte("CREATE TABLE b (y int);")},
		"m/README":          {Data: []byte("not a migration")},
	}
	ms, err := LoadMigrations(good, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0] != (Migration{1, "0001_init", "CREATE TABLE a (x int);"}) || ms[1].Version != 2 || ms[1].Name != "0002_second" {
		t.Fatalf("loaded %+v", ms)
	}
	for name, tt := range map[string]struct {
		fsys fstest.MapFS
		want string
	}{
		"gap":       {fstest.MapFS{"m/0001_a.sql": {}, "m/0003_c.sql": {}}, "0003_c.sql: expected version 2"},
		"bad name":  {fstest.MapFS{"m/1_a.sql": {}}, "1_a.sql: name is not NNNN_name.sql"},
		"no number": {fstest.MapFS{"m/init.sql": {}}, "init.sql: name is not NNNN_name.sql"},
	} {
		if _, err := LoadMigrations(tt.fsys, "m"); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, tt.want)
		}
	}
}

func TestEvidenceInOrder(t *testing.T) {
	found := map[string]Evidence{"a": {EventID: "a"}, "b": {EventID: "b"}}
	got := EvidenceInOrder([]string{"b", "x", "a", "b"}, found)
	if len(got) != 2 || got[0].EventID != "b" || got[1].EventID != "a" {
		t.Errorf("got %+v, want b then a, each once, x left out", got)
	}
}
