package vulndb

import (
	"context"
	"slices"
	"testing"
)

// BenchmarkImportGolangVulnDB: a fresh import of golang/vulndb's 4,291 records.
func BenchmarkImportGolangVulnDB(b *testing.B) {
	src := golangVulnDB(b)
	for b.Loop() {
		dir := b.TempDir()
		if _, err := Import(context.Background(), dir, src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReimportGolangVulnDB: importing the same records again (all unchanged).
func BenchmarkReimportGolangVulnDB(b *testing.B) {
	src := golangVulnDB(b)
	dir := b.TempDir()
	if _, err := Import(context.Background(), dir, src); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if st, err := Import(context.Background(), dir, src); err != nil || st.Unchanged != 4291 {
			b.Fatal(st, err)
		}
	}
}

// queryPairs returns 1,000 (Go module, version) pairs: every module the
// database names (1,373) in order, each at a version from its records' own
// events (so the ranges are exercised, not just the misses), v-prefixed one
// time in two.
func queryPairs(b *testing.B, dir string) [][2]string {
	b.Helper()
	m, err := readManifest(dir)
	if err != nil {
		b.Fatal(err)
	}
	table, err := readTable(dir, m)
	if err != nil {
		b.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range table {
		for _, k := range e.Keys {
			names[k.Name] = true
		}
	}
	sorted := slices.Sorted(func(yield func(string) bool) {
		for n := range names {
			if !yield(n) {
				return
			}
		}
	})
	versions := []string{"0.0.1", "1.0.0", "0.17.0", "1.21.0", "2.3.4", "0.0.0-20200101000000-abcdefabcdef"}
	var pairs [][2]string
	for i, n := range sorted {
		if len(pairs) == 1000 {
			break
		}
		v := versions[i%len(versions)]
		if i%2 == 0 {
			v = "v" + v
		}
		pairs = append(pairs, [2]string{n, v})
	}
	return pairs
}

// BenchmarkOpenQuery1000: Open, then 1,000 (module, version) queries on a
// cold DB (each op opens the database anew).
func BenchmarkOpenQuery1000(b *testing.B) {
	src := golangVulnDB(b)
	dir := b.TempDir()
	if _, err := Import(context.Background(), dir, src); err != nil {
		b.Fatal(err)
	}
	pairs := queryPairs(b, dir)
	matches := 0
	for b.Loop() {
		db, err := Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		matches = 0
		for _, p := range pairs {
			ms, err := db.Query("Go", p[0], p[1])
			if err != nil {
				b.Fatal(err)
			}
			matches += len(ms)
		}
		_ = db.Close()
	}
	b.ReportMetric(float64(matches), "matches")
}

// BenchmarkQueryWarm: one query on an open DB whose package records are
// cached (the scanner's case for a module seen before).
func BenchmarkQueryWarm(b *testing.B) {
	src := golangVulnDB(b)
	dir := b.TempDir()
	if _, err := Import(context.Background(), dir, src); err != nil {
		b.Fatal(err)
	}
	db, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for b.Loop() {
		if ms, err := db.Query("Go", "stdlib", "1.21.0"); err != nil || len(ms) == 0 {
			b.Fatal(ms, err)
		}
	}
}
