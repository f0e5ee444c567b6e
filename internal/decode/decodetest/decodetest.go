// Package decodetest helps decoder tests: a collecting sink, golden files of
// normalized events, and a fuzz body that checks the decoder contract.
package decodetest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Sink collects everything a decoder emits and rejects.
type Sink struct {
	Events  []*event.Event
	Rejects []*decode.RecordError
	cur     *event.Event
}

// Alloc implements decode.Sink.
func (s *Sink) Alloc() *event.Event {
	if s.cur == nil {
		s.cur = new(event.Event)
	}
	s.cur.Reset()
	return s.cur
}

// Emit implements decode.Sink.
func (s *Sink) Emit(e *event.Event) {
	if e != s.cur {
		panic("decodetest: Emit of an event not obtained from the last Alloc")
	}
	s.Events = append(s.Events, e)
	s.cur = nil
}

// Reject implements decode.Sink.
func (s *Sink) Reject(err *decode.RecordError) { s.Rejects = append(s.Rejects, err) }

// Reasons counts rejects by reason.
func (s *Sink) Reasons() map[string]int {
	m := map[string]int{}
	for _, r := range s.Rejects {
		m[r.Reason]++
	}
	return m
}

// Decode runs d over data and returns what it produced and its error.
func Decode(t testing.TB, d decode.Decoder, source string, data []byte) (*Sink, error) {
	t.Helper()
	s := &Sink{}
	err := d.Decode(context.Background(), decode.Input{R: bytes.NewReader(data), Source: source}, s)
	return s, err
}

// DecodeFile runs d over the file at path.
func DecodeFile(t testing.TB, d decode.Decoder, path string) (*Sink, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return Decode(t, d, filepath.Base(path), data)
}

// JSONL renders events one JSON document per line, and rejects as "# reject:" lines.
func (s *Sink) JSONL() []byte {
	var b []byte
	for _, e := range s.Events {
		b = e.AppendJSON(b)
		b = append(b, '\n')
	}
	for _, r := range s.Rejects {
		b = append(b, "# reject: "...)
		b = append(b, r.Error()...)
		b = append(b, '\n')
	}
	return b
}

// Golden compares got with testdata/<name>.golden, rewriting it under -update.
func Golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		// Golden files are repository files: readable like the rest of the tree.
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil { //nolint:gosec // see above
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil { //nolint:gosec // see above
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden %s (run with -update to create it): %v", path, err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d (run with -update to accept):\n got: %s\nwant: %s", path, i+1, g, w)
			}
		}
	}
}

// Corpora returns the path of ../shared/corpora/<rel> seen from the package under
// test, skipping the test when it is absent, or failing it when VIGIL_REQUIRE_CORPORA=1.
func Corpora(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "..", "shared", "corpora")
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			full := filepath.Join(p, rel)
			if _, err := os.Stat(full); err != nil {
				if os.Getenv("VIGIL_REQUIRE_CORPORA") == "1" {
					t.Fatalf("corpus %s required (VIGIL_REQUIRE_CORPORA=1) but absent: %v", full, err)
				}
				t.Skipf("corpus %s absent; skipping (set VIGIL_REQUIRE_CORPORA=1 to fail instead)", full)
			}
			return full
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// Fuzz checks the decoder contract on arbitrary input: no panic, every emitted event
// has a time, every reject names a reason, and the decoder returns (it may return an
// error only when the stream is unreadable).
func Fuzz(t *testing.T, d decode.Decoder, data []byte) {
	s := &Sink{}
	err := d.Decode(context.Background(), decode.Input{R: bytes.NewReader(data), Source: "fuzz",
		Limits: decode.Limits{MaxLine: 4096, MaxRecord: 1 << 20}}, s)
	if err != nil && errors.Is(err, context.Canceled) {
		t.Fatalf("decoder reported cancellation without one: %v", err)
	}
	for _, e := range s.Events {
		if e.Timestamp.IsZero() {
			t.Fatalf("emitted an event without a timestamp: %s", e.AppendJSON(nil))
		}
		_ = e.AppendJSON(nil)
	}
	for _, r := range s.Rejects {
		if r.Reason == "" {
			t.Fatalf("reject without a reason: %v", r)
		}
	}
}
