package secrets

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzFind runs the file scanner over arbitrary bytes under a few kinds of
// path: it must not panic, must place every match inside the text, must
// never show more than the snippet's share of a secret, and must give the
// same answer twice (the scratch space is reused).
func FuzzFind(f *testing.F) {
	for _, name := range []string{".env", "config/app.yaml", "src/app.js", "scripts/deploy.py", "keys/deploy_key", "gcp/service-account.json", "web/bundle.min.js"} {
		b, err := os.ReadFile(filepath.Join("testdata", "tree", filepath.FromSlash(name)))
		if err != nil {
			f.Fatal(err)
		}
		if len(b) > 4096 {
			b = b[len(b)/2-2048 : len(b)/2+2048]
		}
		f.Add(uint8(0), b)
	}
	f.Add(uint8(1), []byte("password: \"a\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e91\"\n"))
	f.Add(uint8(2), []byte("-----BEGIN PRIVATE KEY-----\\n"+strings.Repeat("QUJD", 30)+"\\n-----END PRIVATE KEY-----"))
	paths := []string{"a.env", "test/a.yaml", "go.sum", "a.go", "README.md"}
	d := newDetector()
	sc := d.newScratch()
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		k := classify(paths[int(kind)%len(paths)])
		ms := d.find(data, k, sc)
		again := slices.Clone(d.find(data, k, sc))
		if !slices.Equal(ms, again) {
			t.Fatalf("two runs differ: %v, %v", ms, again)
		}
		lines := bytes.Count(data, []byte{'\n'}) + 1
		prev := 0
		for _, m := range ms {
			if m.line < 1 || m.line > lines || m.endLine < m.line || m.endLine > lines || m.col < 1 || m.endCol < 1 {
				t.Fatalf("match out of the text: %+v (%d lines)", m, lines)
			}
			if m.line < prev {
				t.Fatalf("matches out of order")
			}
			prev = m.line
			if !strings.Contains(m.snippet, "\u2026") || !utf8.ValidString(m.snippet) && utf8.Valid(data) {
				t.Fatalf("snippet %q", m.snippet)
			}
			switch d.rules[m.rule].ID {
			case "VGL-SEC-007", "VGL-SEC-010", "VGL-SEC-011", "VGL-SEC-020":
			default:
				if shown, _, _ := strings.Cut(m.snippet, "\u2026"); len(shown) > 4 {
					t.Fatalf("snippet %q shows more than 4 bytes", m.snippet)
				}
			}
		}
	})
}
