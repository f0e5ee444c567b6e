package dnsanomaly

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/decode/zeek"
	"github.com/vigilsec/vigil/internal/ingest/files"
)

// corpusQueries decodes the Zeek dns logs matching the globs under the corpus
// folder rel with the given decoder (gzip or plain, opened as vigil hunt opens
// them) and returns their
// queries in time order.
func corpusQueries(t *testing.T, rel string, newDec func() decode.Decoder, globs ...string) []Query {
	t.Helper()
	root := decodetest.Corpora(t, rel)
	var qs []Query
	nfiles := 0
	for _, g := range globs {
		paths, err := filepath.Glob(filepath.Join(root, g))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			nfiles++
			err := files.Open(p, 0, func(s files.Stream) error {
				sink := &decodetest.Sink{}
				if err := newDec().Decode(context.Background(), decode.Input{R: s.R, Source: s.Name}, sink); err != nil {
					return err
				}
				if len(sink.Rejects) != 0 {
					t.Errorf("%s: %d rejects, first %v", s.Name, len(sink.Rejects), sink.Rejects[0])
				}
				for _, e := range sink.Events {
					if q, ok := FromEvent(e); ok {
						qs = append(qs, q)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if nfiles == 0 || len(qs) == 0 {
		t.Fatalf("%s: %d files, %d queries", rel, nfiles, len(qs))
	}
	sortQueries(qs)
	return qs
}

// TestCorpusFalsePositives runs the models over real, benign-labelled Zeek DNS
// logs and bounds the findings per thousand queries, with the default warm-up and
// with a one-hour warm-up that leaves the models almost untrained (the worst case).
func TestCorpusFalsePositives(t *testing.T) {
	corpora := []struct {
		name, rel string
		dec       func() decode.Decoder
		globs     []string
	}{
		// A cloud server's resolver traffic over three days (reverse lookups,
		// package mirrors, scanners' queries).
		{"rita-missing-host", "zeek/rita-missing-host", func() decode.Decoder { return zeek.NewTSV() }, []string{"*/dns.*.log.gz"}},
		// A small Windows domain's sensors over two days (JSON, HELK's @stream).
		{"apt29", "zeek/apt29", func() decode.Decoder { return zeek.NewJSON() }, []string{"day*/*_dns.log"}},
	}
	configs := []struct {
		name string
		cfg  Config
		max  float64 // findings per 1000 queries
	}{
		{"default", Config{}, 0.5},
		{"short-warm-up", Config{WarmUp: time.Hour, MinWindows: 5, MinModelWeight: 20}, 2},
	}
	for _, c := range corpora {
		t.Run(c.name, func(t *testing.T) {
			qs := corpusQueries(t, c.rel, c.dec, c.globs...)
			for _, k := range configs {
				m := newModel(t, k.cfg)
				fs := run(t, m, qs)
				byKind := map[FindingKind]int{}
				for _, f := range fs {
					byKind[f.Kind]++
					t.Logf("%s: %s %s", k.name, f.Kind, f.Summary)
				}
				st := m.Stats()
				rate := 1000 * float64(len(fs)) / float64(len(qs))
				t.Logf("%s: %d queries (%v by kind, rejected %v) from %v to %v: %d findings %v = %.2f per 1000 queries",
					k.name, len(qs), st.ByKind, st.Rejected, qs[0].Time.Format(time.DateOnly), qs[len(qs)-1].Time.Format(time.DateOnly), len(fs), byKind, rate)
				if rate > k.max {
					t.Errorf("%s: %.2f findings per 1000 queries, bound %.1f", k.name, rate, k.max)
				}
				if st.Queries != uint64(len(qs)) {
					t.Errorf("counted %d queries of %d", st.Queries, len(qs))
				}
			}
		})
	}
}
