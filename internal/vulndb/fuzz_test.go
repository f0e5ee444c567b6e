package vulndb

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/valyala/fastjson"
)

func seedRecords(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, dir := range []string{filepath.Join("testdata", "osv"), filepath.Join("testdata", "bad")} {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if data, err := os.ReadFile(p); err == nil {
					seeds = append(seeds, data)
				}
			}
			return nil
		})
	}
	if len(seeds) == 0 {
		f.Fatal("no seeds")
	}
	return seeds
}

// FuzzParseRecord: any bytes give a record or an error, never a panic; a
// record accepted survives the database's encoding and evaluates against
// versions without panicking.
func FuzzParseRecord(f *testing.F) {
	for _, s := range seedRecords(f) {
		f.Add(s, "1.0.0")
	}
	f.Add([]byte(`{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Maven","name":"a:b"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"limit":"*"}]}]}]}`), "1-SNAPSHOT")
	var p fastjson.Parser
	f.Fuzz(func(t *testing.T, data []byte, version string) {
		_, _ = decodeRecord(&p, data) // damaged storage: an error, never a panic
		r, err := parseRecord(data)
		if err != nil {
			return
		}
		if checkID(r.ID) != nil {
			t.Fatalf("accepted id %q", r.ID)
		}
		enc, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back record
		if err := json.Unmarshal(enc, &back); err != nil || back.ID != r.ID || len(back.Affected) != len(r.Affected) {
			t.Fatalf("round trip: %v", err)
		}
		fast, err := decodeRecord(&p, enc)
		if err != nil || fast.ID != r.ID || len(fast.Affected) != len(r.Affected) || fast.Sev != r.Sev || !fast.Modified.Equal(r.Modified) {
			t.Fatalf("fastjson round trip: %+v %v", fast, err)
		}
		for i := range back.Affected {
			a := &back.Affected[i]
			if a.Key != NormalizeName(a.Ecosystem, a.Name) {
				t.Fatalf("key %q of %q", a.Key, a.Name)
			}
			q, err := newQueryVersion(a.Ecosystem, version)
			if err != nil {
				continue
			}
			hit, fixes := prepareAffect(a).affects(q)
			if !hit && len(fixes) > 0 {
				t.Fatalf("fixes %v without a hit", fixes)
			}
		}
	})
}

// FuzzZipImport: a hostile archive is read within the limits or refused,
// never panics; every entry passed on is at most MaxRecordBytes, their sum
// at most MaxTotalBytes, and each is parsed as the import would. (The
// files Import then writes are covered by the tests: fsyncs would make
// the fuzzer run a few inputs a second.)
func FuzzZipImport(f *testing.F) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i, s := range seedRecords(f) {
		w, _ := zw.Create("dir/" + string(rune('a'+i%26)) + ".json")
		_, _ = w.Write(s)
	}
	_ = zw.Close()
	f.Add(buf.Bytes())
	buf.Reset()
	zw = zip.NewWriter(&buf)
	w, _ := zw.Create("bomb.json")
	_, _ = w.Write(bytes.Repeat([]byte("{"), 1<<20))
	_ = zw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("PK\x03\x04"))
	lim := Limits{MaxRecordBytes: 64 << 10, MaxTotalBytes: 256 << 10, MaxFiles: 64}
	f.Fuzz(func(t *testing.T, data []byte) {
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		var total int64
		seen := map[string]bool{}
		_ = readZip(context.Background(), zr, lim, func(name string, rec []byte, readErr error) error {
			if int64(len(rec)) > lim.MaxRecordBytes {
				t.Fatalf("%s: %d bytes passed the cap", name, len(rec))
			}
			if readErr != nil {
				return nil
			}
			if total += int64(len(rec)); total > lim.MaxTotalBytes {
				t.Fatalf("%d bytes passed the total cap", total)
			}
			if r, err := parseRecord(rec); err == nil {
				seen[r.ID] = true
			}
			return nil
		})
		if len(seen) > lim.MaxFiles {
			t.Fatalf("%d records from at most %d entries", len(seen), lim.MaxFiles)
		}
	})
}
