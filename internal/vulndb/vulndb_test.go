package vulndb

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/scan"
)

// fixtureDB imports testdata/osv into a new database.
func fixtureDB(t *testing.T) (*DB, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := Import(context.Background(), dir, filepath.Join("testdata", "osv"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Rejected != 0 || st.Added != 19 {
		t.Fatalf("fixture import %+v", st)
	}
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, dir
}

func ids(ms []Match) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

// TestVersionSemantics: each ecosystem's ordering and the OSV range events.
func TestVersionSemantics(t *testing.T) {
	db, _ := fixtureDB(t)
	none := []string{}
	for _, tc := range []struct {
		eco, name, version string
		want               []string
		fixed              []string
	}{
		// PEP 440: 1.0.0rc1 < 1.0.0; names normalised (Foo_Bar = foo-bar = FOO.bar)
		{"PyPI", "foo-bar", "1.0.0rc1", []string{"PYSEC-2024-1"}, []string{"1.0.0"}},
		{"PyPI", "FOO.bar", "0.1", []string{"PYSEC-2024-1"}, []string{"1.0.0"}},
		{"PyPI", "Foo_Bar", "1.0.0", none, nil},
		{"PyPI", "foo-bar", "1.0", none, nil}, // 1.0 == 1.0.0
		{"pypi", "foo_bar", "1.0.0.dev1", []string{"PYSEC-2024-1"}, []string{"1.0.0"}},
		// post-releases: fixed in 1.0.0.post1
		{"PyPI", "postpkg", "1.0.0", []string{"PYSEC-2024-2"}, []string{"1.0.0.post1"}},
		{"PyPI", "postpkg", "1.0.0.post1", none, nil},
		{"PyPI", "postpkg", "1.0.0-1", none, nil}, // another spelling of post1
		{"PyPI", "postpkg", "1.0.1", none, nil},
		{"PyPI", "postpkg", "0.9", none, nil},
		// Maven: 1.0-alpha < 1.0-beta < 1.0-SNAPSHOT < 1.0
		{"Maven", "org.example:lib", "1.0-alpha", none, nil},
		{"Maven", "org.example:lib", "1.0-beta", []string{"GHSA-mvn1-mvn1-mvn1"}, []string{"1.0"}},
		{"Maven", "org.example:lib", "1.0-SNAPSHOT", []string{"GHSA-mvn1-mvn1-mvn1"}, []string{"1.0"}},
		{"Maven", "org.example:lib", "1.0-RC1", []string{"GHSA-mvn1-mvn1-mvn1"}, []string{"1.0"}},
		{"Maven", "org.example:lib", "1.0", none, nil},
		{"Maven", "org.example:lib", "1.0.0", none, nil}, // 1.0.0 == 1.0
		{"Maven", "org.example:lib", "1.0-sp1", none, nil},
		// npm: prereleases sort below their release and among themselves
		{"npm", "pre", "2.0.0-beta.1", []string{"GHSA-npm1-npm1-npm1"}, []string{"2.0.0"}},
		{"npm", "pre", "2.0.0", none, nil},
		{"npm", "pre", "3.0.0-alpha.0", none, nil},
		{"npm", "pre", "3.0.0-alpha.1", []string{"GHSA-npm1-npm1-npm1"}, []string{"3.0.0-rc.2"}},
		{"npm", "pre", "3.0.0-beta", []string{"GHSA-npm1-npm1-npm1"}, []string{"3.0.0-rc.2"}},
		{"npm", "pre", "3.0.0-rc.1", []string{"GHSA-npm1-npm1-npm1"}, []string{"3.0.0-rc.2"}},
		{"npm", "pre", "3.0.0-rc.10", none, nil}, // numeric identifiers compare as numbers
		{"npm", "pre", "3.0.0", none, nil},
		// last_affected: 1.2.3 is the last one, and no fix is known
		{"crates.io", "lastcrate", "1.2.3", []string{"RUSTSEC-2024-0001"}, nil},
		{"crates.io", "LastCrate", "1.0.0", []string{"RUSTSEC-2024-0001"}, nil},
		{"crates.io", "lastcrate", "1.2.4", none, nil},
		{"crates.io", "lastcrate", "0.9.9", none, nil},
		// limit: introduced 0, fixed 1.5, introduced 1.8, limit 2.0
		{"RubyGems", "limitgem", "1.4", []string{"GHSA-gem1-gem1-gem1"}, []string{"1.5"}},
		{"RubyGems", "limitgem", "1.5.0.pre", []string{"GHSA-gem1-gem1-gem1"}, []string{"1.5"}},
		{"RubyGems", "limitgem", "1.6", none, nil},
		{"RubyGems", "limitgem", "1.9", []string{"GHSA-gem1-gem1-gem1"}, nil},
		{"RubyGems", "limitgem", "2.0", none, nil},
		{"RubyGems", "limitgem", "2.1", none, nil},
		// explicit versions list; Packagist names ignore case
		{"Packagist", "vendor/pkg", "1.2.3", []string{"GHSA-php1-php1-php1"}, nil},
		{"Packagist", "VENDOR/Pkg", "2.0.0", []string{"GHSA-php1-php1-php1"}, nil},
		{"Packagist", "vendor/pkg", "v2.0.0", []string{"GHSA-php1-php1-php1"}, nil}, // the same version for Packagist
		{"Packagist", "vendor/pkg", "1.2.4", none, nil},
		// withdrawn never matches; GIT ranges are not evaluated
		{"Go", "example.com/withdrawn", "1.0.0", none, nil},
		{"Go", "example.com/git", "1.0.0", none, nil},
		// Go: v prefix, +incompatible, one fix per line
		{"Go", "github.com/docker/docker", "v20.10.9+incompatible", []string{"GO-2024-9002"}, []string{"20.10.11+incompatible"}},
		{"Go", "github.com/docker/docker", "20.10.11+incompatible", none, nil},
		{"Go", "github.com/docker/docker", "v24.0.0+incompatible", none, nil},
		{"Go", "example.com/multi", "v1.2.0", []string{"GO-2024-9003"}, []string{"1.2.5"}},
		{"Go", "example.com/multi", "1.2.6", none, nil},
		{"Go", "example.com/multi", "1.3.1", []string{"GO-2024-9003"}, []string{"1.3.2"}},
		{"Go", "example.com/multi", "v1.3.0-pre", none, nil}, // 1.2.5 < 1.3.0-pre < 1.3.0: between the lines
		{"Go", "Example.com/multi", "1.2.0", none, nil},      // Go module paths are case-sensitive
		// NuGet, Pub, Hex
		{"NuGet", "some.package", "1.9.9", []string{"GHSA-nug1-nug1-nug1"}, []string{"2.0.0"}},
		{"NuGet", "Some.Package", "2.0.0", none, nil},
		{"Pub", "pubpkg", "1.0.0-dev.1", []string{"GHSA-pub1-pub1-pub1"}, []string{"1.0.0-dev.2"}},
		{"Pub", "pubpkg", "1.0.0", none, nil},
		{"Hex", "hexpkg", "1.4.0", []string{"EEF-CVE-2024-1"}, []string{"1.4.1"}},
		{"Hex", "hexpkg", "0.9.0", none, nil},
		// Debian (epochs, ~) and Alpine (-rN)
		{"Debian:12", "openssl", "3.0.9-1", []string{"DSA-5500-1"}, []string{"3.0.11-1~deb12u1"}},
		{"Debian:12", "openssl", "3.0.11-1~deb12u1", none, nil},
		{"Debian:12", "openssl", "3.0.11-1", none, nil}, // ~ sorts before the empty string
		{"Debian:11", "openssl", "3.0.9-1", none, nil},  // another release
		{"Debian:12", "epochpkg", "9.9-1", []string{"DEBIAN-CVE-2024-9"}, []string{"1:1.0-1"}},
		{"Debian:12", "epochpkg", "1:1.0-1", none, nil},
		{"Alpine:v3.18", "openssl", "3.1.3-r0", []string{"ALPINE-CVE-2024-1"}, []string{"3.1.4-r0"}},
		{"Alpine:v3.18", "openssl", "3.1.4-r0", none, nil},
		// unknown package, empty version
		{"npm", "nothing", "1.0.0", none, nil},
		{"npm", "pre", "", none, nil},
	} {
		ms, err := db.Query(tc.eco, tc.name, tc.version)
		if err != nil {
			t.Errorf("%s %s %s: %v", tc.eco, tc.name, tc.version, err)
			continue
		}
		if got := ids(ms); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s %s: %v, want %v", tc.eco, tc.name, tc.version, got, tc.want)
			continue
		}
		if len(ms) == 1 && !slices.Equal(ms[0].Fixed, tc.fixed) {
			t.Errorf("%s %s %s: fixed %v, want %v", tc.eco, tc.name, tc.version, ms[0].Fixed, tc.fixed)
		}
	}
}

// TestMergeAndSeverity: PYSEC-2024-1 and GHSA-aaaa-bbbb-cccc share
// CVE-2024-1001: one match, PYSEC first (PyPI's own id), every id, the
// CVSS 3.1 severity of the primary; the GHSA alone has its CVSS 4.0 one.
func TestMergeAndSeverity(t *testing.T) {
	db, _ := fixtureDB(t)
	ms, err := db.Query("PyPI", "foo-bar", "0.9")
	if err != nil || len(ms) != 1 {
		t.Fatalf("%+v, %v", ms, err)
	}
	m := ms[0]
	if m.ID != "PYSEC-2024-1" || !slices.Equal(m.Aliases, []string{"CVE-2024-1001", "GHSA-aaaa-bbbb-cccc"}) {
		t.Errorf("merged ids %s %v", m.ID, m.Aliases)
	}
	if m.Severity != scan.SeverityCritical || m.Score != 9.8 || m.CVSS != "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" {
		t.Errorf("severity %v %v %q", m.Severity, m.Score, m.CVSS)
	}
	if m.URL != "https://example.org/PYSEC-2024-1" || m.Summary != "Foo Bar: remote code execution" ||
		!slices.Contains(m.References, "https://osv.dev/vulnerability/GHSA-aaaa-bbbb-cccc") {
		t.Errorf("url %q summary %q refs %v", m.URL, m.Summary, m.References)
	}
	if !slices.Equal(m.Fixed, []string{"1.0.0"}) {
		t.Errorf("fixed %v", m.Fixed)
	}
	// Only the GHSA record covers 0.5 <= v < 1.0.0 ... and the PYSEC one too: both
	// match; below 0.5 only the PYSEC one does, still one match with the GHSA id aside.
	ms, _ = db.Query("PyPI", "foo-bar", "0.1")
	if len(ms) != 1 || ms[0].ID != "PYSEC-2024-1" || !slices.Equal(ms[0].Aliases, []string{"CVE-2024-1001"}) {
		t.Errorf("below 0.5: %+v", ms)
	}

	// A record with only a CVSS 4.0 vector, found through Advisories.
	adv, err := db.Advisories("PyPI", "foo_bar")
	if err != nil || len(adv) != 1 {
		t.Fatalf("advisories %+v %v", adv, err)
	}
	raw, _ := os.ReadFile(filepath.Join("testdata", "osv", "pypi", "GHSA-aaaa-bbbb-cccc.json"))
	r, err := parseRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sev.Level != scan.SeverityMedium || r.Sev.Score != 6.9 || !strings.HasPrefix(r.Sev.CVSS, "CVSS:4.0/") {
		t.Errorf("CVSS 4.0: %+v", r.Sev)
	}
	ms, _ = db.Query("PyPI", "wordpkg", "1.0")
	if len(ms) != 1 || ms[0].Severity != scan.SeverityHigh || ms[0].CVSS != "" {
		t.Errorf("database_specific severity: %+v", ms)
	}
	ms, _ = db.Query("Go", "example.com/multi", "1.0.0")
	if len(ms) != 1 || ms[0].Severity != scan.SeverityUnknown ||
		!slices.Equal(ms[0].Symbols, []string{"example.com/multi/all", "example.com/multi/sub.Parse", "example.com/multi/sub.T.Method"}) {
		t.Errorf("Go symbols: %+v", ms)
	}
	adv, _ = db.Advisories("Go", "example.com/withdrawn")
	if len(adv) != 1 || !adv[0].Withdrawn {
		t.Errorf("withdrawn advisory: %+v", adv)
	}
}

func TestSeverityVectors(t *testing.T) {
	for _, tc := range []struct {
		typ, vec string
		level    scan.Severity
		score    float64
	}{
		{"CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", scan.SeverityCritical, 9.8},
		{"CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", scan.SeverityMedium, 6.1},
		{"CVSS_V3", "CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", scan.SeverityMedium, 5.5},
		{"CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", scan.SeverityCritical, 9.3},
		{"CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N", scan.SeverityMedium, 6.9},
		{"CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P", scan.SeverityHigh, 7.5},
		{"CVSS_V3", "CVSS:3.1/AV:N/garbage", scan.SeverityUnknown, 0},
		{"CVSS_V4", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", scan.SeverityUnknown, 0},
	} {
		s := pickSeverity([]osvSeverity{{Type: tc.typ, Score: tc.vec}}, nil)
		if s.Level != tc.level || s.Score != tc.score {
			t.Errorf("%s %s: %v %v, want %v %v", tc.typ, tc.vec, s.Level, s.Score, tc.level, tc.score)
		}
	}
	// v3 is preferred over v4 when a record has both, whatever their order.
	s := pickSeverity([]osvSeverity{
		{Type: "CVSS_V4", Score: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N"},
		{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
	}, json.RawMessage(`"LOW"`))
	if s.Score != 9.8 {
		t.Errorf("v3 and v4: %+v", s)
	}
	if s := pickSeverity(nil, json.RawMessage(`"MODERATE"`)); s.Level != scan.SeverityMedium {
		t.Errorf("MODERATE: %+v", s)
	}
}

// TestImportRejects: a corrupt record is rejected by name and the import
// goes on.
func TestImportRejects(t *testing.T) {
	dir := t.TempDir()
	st, err := Import(context.Background(), dir, filepath.Join("testdata", "bad"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"truncated.json":    "decoding JSON",
		"badrange.json":     `unknown type "FOO"`,
		"nomodified.json":   "modified: missing",
		"badid.json":        "id: character ' '",
		"nointroduced.json": "no introduced event",
		"badversion.json":   `version "a:1.0"`,
	}
	if st.Rejected != len(want) || st.Added != 0 || len(st.Rejections) != len(want) {
		t.Fatalf("stats %+v", st)
	}
	for _, r := range st.Rejections {
		if w, ok := want[r.File]; !ok || !strings.Contains(r.Reason, w) {
			t.Errorf("rejection %s: %q, want %q", r.File, r.Reason, w)
		}
	}
	if _, err := Open(dir); !errors.Is(err, ErrNoDatabase) {
		t.Errorf("nothing imported, Open: %v", err)
	}

	// Mixed with good records: those are imported.
	mixed := t.TempDir()
	copyTree(t, filepath.Join("testdata", "osv"), filepath.Join(mixed, "good"))
	copyTree(t, filepath.Join("testdata", "bad"), filepath.Join(mixed, "bad"))
	st, err = Import(context.Background(), dir, mixed)
	if err != nil || st.Added != 19 || st.Rejected != 6 || st.Rejections[0].File != "bad/badid.json" {
		t.Fatalf("mixed: %+v %v", st, err)
	}
}

// TestIncremental: a re-import changes nothing; a later modified time
// replaces a record, an earlier one does not.
func TestIncremental(t *testing.T) {
	_, dir := fixtureDB(t)
	before, _ := os.ReadFile(filepath.Join(dir, manifestName))
	st, err := Import(context.Background(), dir, filepath.Join("testdata", "osv"))
	if err != nil || st.Unchanged != 19 || st.Added+st.Updated+st.Rejected != 0 || st.Records != 19 {
		t.Fatalf("re-import: %+v %v", st, err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, manifestName))
	if !bytes.Equal(before, after) {
		t.Error("an import that changed nothing rewrote the manifest")
	}

	upd := t.TempDir()
	write := func(name, modified, fixed string) {
		rec := `{"id":"GO-2024-9002","modified":"` + modified + `","summary":"` + fixed + `",
			"affected":[{"package":{"ecosystem":"Go","name":"github.com/docker/docker"},
			"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"` + fixed + `"}]}]}]}`
		if err := os.WriteFile(filepath.Join(upd, name), []byte(rec), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.json", "2023-06-01T00:00:00Z", "99.0.0+incompatible") // older: ignored
	st, err = Import(context.Background(), dir, upd)
	if err != nil || st.Unchanged != 1 || st.Updated != 0 {
		t.Fatalf("older record: %+v %v", st, err)
	}
	write("a.json", "2024-06-01T00:00:00Z", "25.0.0+incompatible") // newer: replaces
	st, err = Import(context.Background(), dir, upd)
	if err != nil || st.Updated != 1 || st.Records != 19 {
		t.Fatalf("newer record: %+v %v", st, err)
	}
	// The same time with other bytes is a correction (golang/vulndb's files
	// all say 0001-01-01T00:00:00Z): it replaces the record.
	write("a.json", "2024-06-01T00:00:00Z", "26.0.0+incompatible")
	if st, err = Import(context.Background(), dir, upd); err != nil || st.Updated != 1 {
		t.Fatalf("same time, other bytes: %+v %v", st, err)
	}
	write("a.json", "2024-06-01T00:00:00Z", "25.0.0+incompatible")
	if st, err = Import(context.Background(), dir, upd); err != nil || st.Updated != 1 {
		t.Fatalf("same time, other bytes again: %+v %v", st, err)
	}
	if st, err = Import(context.Background(), dir, upd); err != nil || st.Unchanged != 1 {
		t.Fatalf("same time, same bytes: %+v %v", st, err)
	}
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := db.Query("Go", "github.com/docker/docker", "v24.0.0+incompatible")
	if err != nil || len(ms) != 1 || !slices.Equal(ms[0].Fixed, []string{"25.0.0+incompatible"}) {
		t.Fatalf("after the update: %+v %v", ms, err)
	}
	// The other records are still there.
	if ms, _ := db.Query("npm", "pre", "2.0.0-beta.1"); len(ms) != 1 {
		t.Errorf("npm record lost: %+v", ms)
	}
	if s := db.Stats(); s.Records != 19 || s.Withdrawn != 1 || s.Generation != 4 {
		t.Errorf("stats %+v", s)
	}
}

// TestCompaction: after many updates the segments are rewritten into one
// and the old ones deleted (the previous generation's kept one import longer).
func TestCompaction(t *testing.T) {
	_, dir := fixtureDB(t)
	upd := t.TempDir()
	compacted := false
	for i := range maxSegments + 2 {
		mod := time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC).Format(time.RFC3339)
		rec := `{"id":"GHSA-npm1-npm1-npm1","modified":"` + mod + `","affected":[{"package":{"ecosystem":"npm","name":"pre"},
			"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"2.0.0"}]}]}]}`
		if err := os.WriteFile(filepath.Join(upd, "r.json"), []byte(rec), 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := Import(context.Background(), dir, upd)
		if err != nil || st.Updated != 1 {
			t.Fatalf("update %d: %+v %v", i, st, err)
		}
		compacted = compacted || st.Compacted
	}
	if !compacted {
		t.Fatal("never compacted")
	}
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if len(db.m.Segments) > maxSegments {
		t.Errorf("%d segments", len(db.m.Segments))
	}
	for _, q := range [][3]string{{"npm", "pre", "1.0.0"}, {"PyPI", "postpkg", "1.0.0"}, {"Go", "example.com/multi", "1.0.0"}} {
		if ms, err := db.Query(q[0], q[1], q[2]); err != nil || len(ms) != 1 {
			t.Errorf("%v after compaction: %+v %v", q, ms, err)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.dat"))
	if len(segs) > maxSegments+1 {
		t.Errorf("%d segment files left", len(segs))
	}
}

// TestZipImport: the all.zip layout imports as the directory does; a zip
// bomb entry is rejected, a total over the cap stops the import.
func TestZipImport(t *testing.T) {
	zipPath := filepath.Join(t.TempDir(), "all.zip")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(filepath.Join("testdata", "osv"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		w, err := zw.Create(filepath.Base(p))
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	w, _ := zw.Create("bomb.json")
	_, _ = w.Write(bytes.Repeat([]byte(" "), 2<<20))
	w, _ = zw.Create("README.txt")
	_, _ = w.Write([]byte("not a record"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(zipPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := ImportWithLimits(context.Background(), dir, zipPath, Limits{MaxRecordBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if st.Added != 19 || st.Rejected != 1 || st.Rejections[0].File != "bomb.json" || !strings.Contains(st.Rejections[0].Reason, "limit") {
		t.Fatalf("zip import %+v", st)
	}
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if ms, _ := db.Query("PyPI", "foo-bar", "0.9"); len(ms) != 1 || ms[0].ID != "PYSEC-2024-1" {
		t.Errorf("zip-imported query: %+v", ms)
	}
	_, err = ImportWithLimits(context.Background(), t.TempDir(), zipPath, Limits{MaxTotalBytes: 64 << 10})
	if err == nil || !strings.Contains(err.Error(), "bytes uncompressed") {
		t.Errorf("total cap: %v", err)
	}
	if _, err := Import(context.Background(), t.TempDir(), filepath.Join("testdata", "osv", "pypi", "PYSEC-2024-2.json")); err != nil {
		t.Errorf("one file: %v", err)
	}
	notZip := filepath.Join(t.TempDir(), "x.tar")
	_ = os.WriteFile(notZip, []byte("nope"), 0o600)
	if _, err := Import(context.Background(), t.TempDir(), notZip); err == nil {
		t.Error("a non-zip file imported")
	}
}

// countdownCtx is cancelled after n calls of Err: an import interrupted
// midway.
type countdownCtx struct {
	context.Context
	n atomic.Int64
}

func (c *countdownCtx) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// TestInterruptedImport: an import stopped midway leaves the previous
// database as it was, and its orphans are gone after the next import.
func TestInterruptedImport(t *testing.T) {
	db0, dir := fixtureDB(t)
	_ = db0.Close()
	before, _ := os.ReadFile(filepath.Join(dir, manifestName))
	src := t.TempDir()
	for i := range 50 {
		rec := `{"id":"GHSA-new` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `","modified":"2025-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"pre"},
			"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`
		_ = os.WriteFile(filepath.Join(src, "r"+string(rune('a'+i%26))+string(rune('a'+i/26))+".json"), []byte(rec), 0o600)
	}
	ctx := &countdownCtx{Context: context.Background()}
	ctx.n.Store(30)
	if _, err := Import(ctx, dir, src); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted import: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, manifestName))
	if !bytes.Equal(before, after) {
		t.Fatal("the manifest changed")
	}
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ms, _ := db.Query("npm", "pre", "9.0.0"); len(ms) != 0 {
		t.Errorf("half an import visible: %+v", ms)
	}
	_ = db.Close()
	// A crash would leave files behind: the next import deletes them.
	orphan := filepath.Join(dir, "seg-77.dat")
	_ = os.WriteFile(orphan, []byte("x"), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600)
	st, err := Import(context.Background(), dir, src)
	if err != nil || st.Added != 50 {
		t.Fatalf("%+v %v", st, err)
	}
	if _, err := os.Stat(orphan); !errors.Is(err, fs.ErrNotExist) {
		t.Error("orphan segment kept")
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Error("a file not ours was deleted")
	}
	db, _ = Open(dir)
	defer db.Close()
	if ms, _ := db.Query("npm", "pre", "9.0.0"); len(ms) != 50 {
		t.Errorf("%d matches after the import", len(ms))
	}
}

// TestDamagedIndex: an index file that does not match the manifest is an
// error, not wrong answers.
func TestDamagedIndex(t *testing.T) {
	db, dir := fixtureDB(t)
	_ = db.Close()
	idx, _ := filepath.Glob(filepath.Join(dir, "eco-npm-*.idx"))
	if len(idx) != 1 {
		t.Fatal(idx)
	}
	data, _ := os.ReadFile(idx[0])
	data[0] ^= 1
	_ = os.WriteFile(idx[0], data, 0o600)
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Query("npm", "pre", "1.0.0"); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("damaged index: %v", err)
	}
	if ms, err := db.Query("PyPI", "postpkg", "1.0.0"); err != nil || len(ms) != 1 {
		t.Errorf("another ecosystem: %+v %v", ms, err)
	}
}

func TestQueryBadVersion(t *testing.T) {
	db, _ := fixtureDB(t)
	if _, err := db.Query("Debian:12", "openssl", "x:1.0"); err == nil {
		t.Error("a Debian version that does not parse matched quietly")
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
