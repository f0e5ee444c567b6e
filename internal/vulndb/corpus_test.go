package vulndb

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/valyala/fastjson"
)

// golangVulnDB is the corpus of golang/vulndb's 4,291 OSV records.
func golangVulnDB(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "corpora", "osv", "golang-vulndb")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("VIGIL_REQUIRE_CORPORA") == "1" {
			tb.Fatalf("golang-vulndb: corpora not found: %v", err)
		}
		tb.Skip("golang-vulndb: corpora not found")
	}
	return dir
}

// TestGolangVulnDBKnownAnswer: golang.org/x/net v0.17.0 is affected by the
// 14 records govulncheck reports at module level.
func TestGolangVulnDBKnownAnswer(t *testing.T) {
	src := golangVulnDB(t)
	dir := t.TempDir()
	st, err := Import(context.Background(), dir, src)
	if err != nil {
		t.Fatal(err)
	}
	if st.Added != 4291 || st.Rejected != 0 || st.Updated != 0 || st.Unchanged != 0 || st.Records != 4291 {
		t.Fatalf("import stats %+v, want 4291 added and nothing rejected", st)
	}
	if st.Withdrawn != 17 {
		t.Errorf("withdrawn %d, want 17", st.Withdrawn)
	}
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := []string{
		"GO-2024-2687", "GO-2024-3333", "GO-2025-3503", "GO-2025-3595", "GO-2026-4440",
		"GO-2026-4441", "GO-2026-4918", "GO-2026-5025", "GO-2026-5026", "GO-2026-5027",
		"GO-2026-5028", "GO-2026-5029", "GO-2026-5030", "GO-2026-5942",
	}
	for _, v := range []string{"0.17.0", "v0.17.0"} {
		ms, err := db.Query("Go", "golang.org/x/net", v)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.ID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("x/net %s: %d matches %v\nwant %d %v", v, len(got), got, len(want), want)
		}
	}
	ms, _ := db.Query("Go", "golang.org/x/net", "0.17.0")
	m := ms[0]
	if m.ID != "GO-2024-2687" || !slices.Equal(m.Aliases, []string{"CVE-2023-45288", "GHSA-4v7x-pqxf-cx7m"}) ||
		!slices.Equal(m.Fixed, []string{"0.23.0"}) || m.URL != "https://pkg.go.dev/vuln/GO-2024-2687" ||
		!slices.Contains(m.Symbols, "golang.org/x/net/http2.Framer.ReadFrame") || slices.Contains(m.Symbols, "net/http.Get") {
		t.Errorf("GO-2024-2687: %+v", m)
	}
	st2, err := Import(context.Background(), dir, src)
	if err != nil {
		t.Fatal(err)
	}
	if st2.Unchanged != 4291 || st2.Added+st2.Updated+st2.Rejected != 0 {
		t.Errorf("re-import %+v, want all unchanged", st2)
	}
}

// TestCodecRoundTrip: decodeRecord reads back what json.Marshal stored,
// for every golang/vulndb record and the fixtures.
func TestCodecRoundTrip(t *testing.T) {
	var files []string
	for _, dir := range []string{filepath.Join("testdata", "osv", "pypi"), filepath.Join("testdata", "osv", "other")} {
		m, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		files = append(files, m...)
	}
	if src := filepath.Join("..", "..", "..", "shared", "corpora", "osv", "golang-vulndb"); dirExists(src) {
		m, _ := filepath.Glob(filepath.Join(src, "*.json"))
		files = append(files, m...)
	}
	var p fastjson.Parser
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := parseRecord(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		enc, _ := json.Marshal(r)
		var want record
		if err := json.Unmarshal(enc, &want); err != nil {
			t.Fatal(err)
		}
		got, err := decodeRecord(&p, enc)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i := range want.Affected {
			if !slices.Equal(want.Affected[i].Symbols.strings(), got.Affected[i].Symbols.strings()) {
				t.Fatalf("%s: symbols differ", f)
			}
			want.Affected[i].Symbols, got.Affected[i].Symbols = symbolList{}, symbolList{}
		}
		if !reflect.DeepEqual(&want, got) {
			t.Fatalf("%s:\n got %+v\nwant %+v", f, got, &want)
		}
	}
	if len(files) < 4291 && os.Getenv("VIGIL_REQUIRE_CORPORA") == "1" {
		t.Fatalf("%d records", len(files))
	}
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
