package stream

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/ingest"
)

// TestSplit: chunks hold one stream each, in log order, at most the share of
// a worker, and every entry exactly once.
func TestSplit(t *testing.T) {
	rec := func(seq uint64, src, ctx string) Entry {
		return Entry{Seq: seq, Record: ingest.Record{Source: src, Context: []byte(ctx), Data: fmt.Appendf(nil, "%d", seq)}}
	}
	many := func(n int, srcs ...string) []Entry {
		var out []Entry
		for i := range n {
			out = append(out, rec(uint64(i+1), srcs[i%len(srcs)], ""))
		}
		return out
	}
	tests := []struct {
		name    string
		entries []Entry
		workers int
		want    string // chunks as "seq,seq|seq"
	}{
		{"empty", nil, 2, ""},
		{"one", []Entry{rec(1, "a", "")}, 2, "1"},
		{"runs stay runs", []Entry{rec(1, "a", ""), rec(2, "a", ""), rec(3, "b", ""), rec(4, "b", "")}, 2, "1,2|3,4"},
		{"interleaved grouped", []Entry{rec(1, "a", ""), rec(2, "b", ""), rec(3, "a", ""), rec(4, "c", ""), rec(5, "b", "")}, 2, "1,3|2,5|4"},
		{"context splits a source", []Entry{rec(1, "a", "h1"), rec(2, "a", "h2"), rec(3, "a", "h1")}, 1, "1,3|2"},
		{"format splits a source", []Entry{rec(1, "a", ""), {Seq: 2, Record: ingest.Record{Source: "a", Format: "zeek"}}, rec(3, "a", "")}, 1, "1,3|2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var parts []string
			for _, c := range split(tc.entries, tc.workers) {
				var seqs []string
				for _, e := range c {
					seqs = append(seqs, fmt.Sprint(e.Seq))
				}
				parts = append(parts, strings.Join(seqs, ","))
			}
			if got := strings.Join(parts, "|"); got != tc.want {
				t.Errorf("split = %q, want %q", got, tc.want)
			}
		})
	}
	// Sizes: 1000 interleaved records of 3 sources over 4 workers.
	entries := many(1000, "a", "b", "c")
	chunks := split(entries, 4)
	seen := map[uint64]bool{}
	for _, c := range chunks {
		if len(c) > 250 {
			t.Errorf("a chunk of %d records, more than a worker's share", len(c))
		}
		for i, e := range c {
			if !ingest.SameStream(&c[0].Record, &e.Record) {
				t.Errorf("a chunk mixes %s and %s", c[0].Record.Source, e.Record.Source)
			}
			if i > 0 && e.Seq <= c[i-1].Seq {
				t.Errorf("a chunk out of log order: %d after %d", e.Seq, c[i-1].Seq)
			}
			if seen[e.Seq] {
				t.Errorf("record %d twice", e.Seq)
			}
			seen[e.Seq] = true
		}
	}
	if len(seen) != len(entries) || len(chunks) != 6 {
		t.Errorf("%d records in %d chunks, want %d in 6", len(seen), len(chunks), len(entries))
	}
}

// TestWatermarkFollowsALongChunk: one stream's records spanning hours, read in
// one batch (one chunk), move the watermark to the last event's time less the
// lateness: MaxSkew bounds each event's step, not the chunk's.
func TestWatermarkFollowsALongChunk(t *testing.T) {
	l := &memLog{}
	base := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	const n = 300 // a minute apart: five hours, over MaxSkew's hour
	for i := range n {
		at := base.Add(time.Duration(i) * time.Minute)
		data := fmt.Appendf(nil, `{"@timestamp":%q,"event":{"category":["network"]},"source":{"ip":"10.0.0.1"},"host":{"name":"h1"}}`, at.Format(time.RFC3339Nano))
		l.entries = append(l.entries, Entry{Seq: uint64(i + 1), Record: ingest.Record{Source: "http:ndjson", Data: data, Received: base}})
	}
	clock := &fakeClock{t: base}
	p := newProcessor(t, l, openStore(t), clock, runConfig{lateness: time.Minute, batch: 1 << 20})
	drain(t, p, clock, n)
	want := base.Add((n - 1) * time.Minute).Add(-time.Minute).UnixNano()
	if p.watermark != want {
		t.Errorf("watermark %s, want %s", time.Unix(0, p.watermark).UTC(), time.Unix(0, want).UTC())
	}
}

// TestWatermarkBoundsFarTimes: a run of records from a clock ten days ahead
// moves the watermark by MaxSkew once per chunk, not once per record, while
// the well-timed records around them move it as they go.
func TestWatermarkBoundsFarTimes(t *testing.T) {
	l := &memLog{}
	base := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	add := func(at time.Time) {
		data := fmt.Appendf(nil, `{"@timestamp":%q,"event":{"category":["network"]},"source":{"ip":"10.0.0.1"},"host":{"name":"h1"}}`, at.Format(time.RFC3339Nano))
		l.entries = append(l.entries, Entry{Seq: uint64(len(l.entries) + 1), Record: ingest.Record{Source: "http:ndjson", Data: data, Received: base}})
	}
	// 64 records: one chunk (split's smallest).
	for i := range 20 {
		add(base.Add(time.Duration(i) * time.Minute))
	}
	for range 24 {
		add(base.Add(10 * 24 * time.Hour))
	}
	for i := 20; i < 40; i++ {
		add(base.Add(time.Duration(i) * time.Minute))
	}
	clock := &fakeClock{t: base}
	p := newProcessor(t, l, openStore(t), clock, runConfig{lateness: time.Minute, batch: 1 << 20})
	drain(t, p, clock, uint64(len(l.entries)))
	// The well-timed records reach 39 minutes; the far ones add one MaxSkew (an hour).
	want := base.Add(39 * time.Minute).Add(time.Hour).Add(-time.Minute).UnixNano()
	if p.watermark != want {
		t.Errorf("watermark %s, want %s", time.Unix(0, p.watermark).UTC(), time.Unix(0, want).UTC())
	}
}
