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
	f.Fuzz(func(t *testing.T, data []byte, version string) {
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

// FuzzZipImport: a hostile archive imports within the limits or fails,
// never panics, and never leaves a database Open cannot read.
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
		tmp := t.TempDir()
		src := filepath.Join(tmp, "all.zip")
		if err := os.WriteFile(src, data, 0o600); err != nil {
			t.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err == nil {
			var total int64
			_ = readZip(context.Background(), zr, lim, func(name string, rec []byte, _ error) error {
				if int64(len(rec)) > lim.MaxRecordBytes {
					t.Fatalf("%s: %d bytes passed the cap", name, len(rec))
				}
				total += int64(len(rec))
				return nil
			})
			if total > lim.MaxTotalBytes+lim.MaxRecordBytes {
				t.Fatalf("%d bytes read past the total cap", total)
			}
		}
		dbDir := filepath.Join(tmp, "db")
		st, err := ImportWithLimits(context.Background(), dbDir, src, lim)
		if err != nil || st.Added == 0 {
			return
		}
		db, err := Open(dbDir)
		if err != nil {
			t.Fatalf("import %+v, then Open: %v", st, err)
		}
		defer db.Close()
		if s := db.Stats(); s.Records != st.Records {
			t.Fatalf("stats %+v after %+v", s, st)
		}
	})
}
