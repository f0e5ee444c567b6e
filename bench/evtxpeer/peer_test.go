// Package evtxpeer benchmarks Vigil's EVTX decoder side by side with the peer the
// issue names, Velocidex evtx v0.2.0, on the same files in the same run. It is a
// separate module so the peer never becomes a dependency of Vigil itself.
//
//	cd bench && go test -run '^$' -bench . -benchmem -cpu 1 ./evtxpeer/
package evtxpeer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	velocidex "www.velocidex.com/golang/evtx"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/evtx"
	"github.com/vigilsec/vigil/internal/event"
)

// corpus loads every .evtx file of the EVTX attack samples into memory.
func corpus(b *testing.B) [][]byte {
	b.Helper()
	root := filepath.Join("..", "..", "..", "shared", "corpora", "evtx-attack-samples")
	var out [][]byte
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".evtx" {
			return err
		}
		data, err := os.ReadFile(p)
		out = append(out, data)
		return err
	})
	if err != nil || len(out) == 0 {
		if os.Getenv("VIGIL_REQUIRE_CORPORA") == "1" {
			b.Fatalf("corpus %s required: %v", root, err)
		}
		b.Skipf("corpus %s absent: %v", root, err)
	}
	return out
}

type countSink struct {
	e event.Event
	n int
}

func (s *countSink) Alloc() *event.Event        { s.e.Reset(); return &s.e }
func (s *countSink) Emit(*event.Event)          { s.n++ }
func (s *countSink) Reject(*decode.RecordError) {}

// BenchmarkVigil decodes and normalizes every record into an ECS event.
func BenchmarkVigil(b *testing.B) {
	files := corpus(b)
	dec := evtx.Formats()[0].New() // reused across files, as the pipeline does per worker
	records := 0
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range files {
			s := &countSink{}
			if err := dec.Decode(context.Background(), decode.Input{R: bytes.NewReader(f), Source: "bench"}, s); err != nil {
				b.Fatal(err)
			}
			records += s.n
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkVelocidex parses every record of every chunk into Velocidex's event tree.
func BenchmarkVelocidex(b *testing.B) {
	files := corpus(b)
	records := 0
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range files {
			chunks, err := velocidex.GetChunks(bytes.NewReader(f))
			if err != nil {
				continue
			}
			for _, c := range chunks {
				recs, err := c.Parse(0)
				if err != nil {
					continue
				}
				records += len(recs)
			}
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
