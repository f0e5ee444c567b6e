package files

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zipOf(t *testing.T, members map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for name, data := range members {
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Create("dir/"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type got struct {
	name, comp, text, err string
}

func openAll(t *testing.T, path string, max int64) ([]got, error) {
	t.Helper()
	var out []got
	err := Open(path, max, func(s Stream) error {
		b, err := io.ReadAll(s.R)
		g := got{name: filepath.Base(s.Name), comp: string(s.Compression), text: string(b)}
		if err != nil {
			g.err = err.Error()
		}
		out = append(out, g)
		return nil
	})
	return out, err
}

func TestOpenContainers(t *testing.T) {
	dir := t.TempDir()
	plain := write(t, dir, "a.log", []byte("hello\n"))
	gzp := write(t, dir, "b.log.gz", gz(t, "gzipped\n"))
	noext := write(t, dir, "c", gz(t, "named without .gz\n"))
	zp := write(t, dir, "d.zip", zipOf(t, map[string][]byte{
		"one.json": []byte(`{"a":1}`), "two.log.gz": gz(t, "inner gz\n"), "nested.zip": zipOf(t, map[string][]byte{"x": []byte("x")}),
	}))
	tests := []struct {
		path string
		want []got
	}{
		{plain, []got{{"a.log", "", "hello\n", ""}}},
		{gzp, []got{{"b.log.gz", "gzip", "gzipped\n", ""}}},
		{noext, []got{{"c", "gzip", "named without .gz\n", ""}}},
		{filepath.Join("testdata", "two-lines.txt.bz2"), []got{{"two-lines.txt.bz2", "bzip2", "line one\nline two\n", ""}}},
		{zp, []got{
			{"d.zip!nested.zip", "zip", "", "unsupported compression: zip nested in another container"},
			{"d.zip!one.json", "zip", `{"a":1}`, ""},
			{"d.zip!two.log.gz", "gzip", "inner gz\n", ""},
		}},
	}
	for _, tt := range tests {
		g, err := openAll(t, tt.path, 0)
		if err != nil {
			t.Fatalf("%s: %v", tt.path, err)
		}
		if len(g) != len(tt.want) {
			t.Fatalf("%s: got %+v, want %+v", tt.path, g, tt.want)
		}
		for i := range g {
			if g[i] != tt.want[i] {
				t.Errorf("%s: stream %d = %+v, want %+v", tt.path, i, g[i], tt.want[i])
			}
		}
	}
}

func TestDecompressionLimit(t *testing.T) {
	dir := t.TempDir()
	bomb := write(t, dir, "bomb.gz", gz(t, strings.Repeat("A", 1<<20)))
	g, err := openAll(t, bomb, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(g) != 1 || !strings.Contains(g[0].err, ErrTooLarge.Error()) || len(g[0].text) != 1000 {
		t.Fatalf("limit not enforced: %d bytes, err %q", len(g[0].text), g[0].err)
	}
	exact := write(t, dir, "exact.gz", gz(t, strings.Repeat("A", 1000)))
	g, _ = openAll(t, exact, 1000)
	if g[0].err != "" || len(g[0].text) != 1000 {
		t.Fatalf("a stream of exactly the limit must pass: %+v", g[0].err)
	}
}

func TestUnsupportedAndBroken(t *testing.T) {
	dir := t.TempDir()
	zst := write(t, dir, "x.zst", []byte{0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3})
	if _, err := openAll(t, zst, 0); !errors.Is(err, ErrUnsupportedCompression) || !strings.Contains(err.Error(), "x.zst") {
		t.Fatalf("zstd: %v", err)
	}
	badgz := write(t, dir, "bad.gz", append(gz(t, strings.Repeat("data ", 1000))[:40], 0xff, 0xff))
	g, err := openAll(t, badgz, 0)
	if err != nil || len(g) != 1 || g[0].err == "" {
		t.Fatalf("truncated gzip must surface as a stream read error: %+v %v", g, err)
	}
	badzip := write(t, dir, "bad.zip", []byte("PK\x03\x04garbage"))
	if _, err := openAll(t, badzip, 0); err == nil || !strings.Contains(err.Error(), "bad.zip") {
		t.Fatalf("broken zip: %v", err)
	}
	if _, err := openAll(t, filepath.Join(dir, "missing"), 0); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestExpand(t *testing.T) {
	dir := t.TempDir()
	b := write(t, dir, "sub/b.log", nil)
	a := write(t, dir, "a.log", nil)
	h := write(t, dir, "sub/.hidden", nil)
	if err := os.Symlink(filepath.Join(dir, "sub"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	files, errs := Expand([]string{dir, a, filepath.Join(dir, "nope")})
	if len(errs) != 1 || !errors.Is(errs[0], os.ErrNotExist) {
		t.Fatalf("errs = %v", errs)
	}
	want := []string{a, h, b}
	if strings.Join(files, ",") != strings.Join(want, ",") {
		t.Fatalf("files = %v, want %v", files, want)
	}
}

func TestSniff(t *testing.T) {
	tests := map[string]Compression{
		"\x1f\x8b\x08":       Gzip,
		"BZh91AY&SY":         Bzip2,
		"BZh9notbzip":        None,
		"PK\x03\x04":         Zip,
		"\xfd7zXZ\x00":       XZ,
		"7z\xbc\xaf\x27\x1c": SevenZip,
		"ElfFile\x00":        None,
		"":                   None,
	}
	for in, want := range tests {
		if got := Sniff([]byte(in)); got != want {
			t.Errorf("Sniff(%q) = %q, want %q", in, got, want)
		}
	}
}
