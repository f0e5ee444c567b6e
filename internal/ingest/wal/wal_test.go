package wal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigilsec/vigil/internal/ingest"
)

func openT(t testing.TB, o Options) *WAL {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	w, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// readAll reads every durable entry from seq from on.
func readAll(t testing.TB, w *WAL, from uint64) []Entry {
	t.Helper()
	var out []Entry
	for {
		es, err := w.Read(context.Background(), from, 1000, 0)
		if err != nil {
			t.Fatalf("Read(%d): %v", from, err)
		}
		if len(es) == 0 {
			return out
		}
		out = append(out, es...)
		from = es[len(es)-1].Seq + 1
	}
}

func sameRecord(a, b ingest.Record) bool {
	return a.Source == b.Source && a.Format == b.Format && bytes.Equal(a.Context, b.Context) &&
		bytes.Equal(a.Data, b.Data) && a.Received.Equal(b.Received)
}

func rec(i int) ingest.Record {
	return ingest.Record{
		Source:   "http:ndjson",
		Context:  []byte("#fields\tts\tid"),
		Data:     fmt.Appendf(nil, `{"n":%d,"pad":"%s"}`, i, strings.Repeat("x", i%50)),
		Received: time.Unix(1700000000, int64(i)),
	}
}

func TestRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	ts := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name string
		recs []ingest.Record
	}{
		{"every field", []ingest.Record{{Source: "tail:/var/log/auth.log", Format: "syslog", Context: []byte("hdr"), Data: []byte("line one"), Received: ts}}},
		{"empty and nil fields", []ingest.Record{{}, {Data: []byte{}}, {Context: []byte{}, Data: nil}}},
		{"zero received among set ones", []ingest.Record{{Data: []byte("a"), Received: ts}, {Data: []byte("b")}, {Data: []byte("c"), Received: time.Unix(0, 0)}}},
		{"run of equal contexts", []ingest.Record{
			{Source: "s", Context: []byte("#fields a b"), Data: []byte("1")},
			{Source: "s", Context: []byte("#fields a b"), Data: []byte("2")},
			{Source: "s", Context: nil, Data: []byte("3")},
			{Source: "s", Context: []byte("#fields a b"), Data: []byte("4")},
			{Source: "t", Context: []byte("other"), Data: []byte("5")},
			{Source: "t", Context: []byte("other"), Data: []byte("6")},
		}},
		{"large records", []ingest.Record{{Source: "big", Data: big}, {Source: "big", Context: big, Data: big[:10]}, {Data: []byte("after")}}},
		{"binary data", []ingest.Record{{Data: []byte{0, 0xff, '\n', 0x80}, Context: []byte{0}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := openT(t, Options{Dir: dir, NoSync: true})
			if err := w.Append(context.Background(), tc.recs); err != nil {
				t.Fatal(err)
			}
			check := func(w *WAL) {
				t.Helper()
				got := readAll(t, w, 1)
				if len(got) != len(tc.recs) {
					t.Fatalf("read %d entries, want %d", len(got), len(tc.recs))
				}
				for i, e := range got {
					if e.Seq != uint64(i+1) {
						t.Errorf("entry %d has seq %d", i, e.Seq)
					}
					if !sameRecord(e.Record, tc.recs[i]) {
						t.Errorf("entry %d = %+v, want %+v", i, trunc(e.Record), trunc(tc.recs[i]))
					}
					if tc.recs[i].Received.IsZero() != e.Record.Received.IsZero() {
						t.Errorf("entry %d received zero-ness changed", i)
					}
				}
			}
			check(w)
			if w.Last() != uint64(len(tc.recs)) {
				t.Errorf("Last = %d", w.Last())
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			w2 := openT(t, Options{Dir: dir, NoSync: true}) // and from disk after reopen
			check(w2)
		})
	}
}

func trunc(r ingest.Record) ingest.Record {
	if len(r.Data) > 40 {
		r.Data = r.Data[:40]
	}
	if len(r.Context) > 40 {
		r.Context = r.Context[:40]
	}
	return r
}

func TestContextStoredOnce(t *testing.T) {
	ctxHdr := bytes.Repeat([]byte("h"), 1000)
	recs := make([]ingest.Record, 100)
	for i := range recs {
		recs[i] = ingest.Record{Context: ctxHdr, Data: []byte("d")}
	}
	w := openT(t, Options{NoSync: true})
	if err := w.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if b := w.Backlog(); b > 1000+100*40 {
		t.Errorf("backlog %d bytes: the context seems stored more than once", b)
	}
}

func TestRecordLimits(t *testing.T) {
	tests := []struct {
		name    string
		rec     ingest.Record
		wantErr string
	}{
		{"at the limit", ingest.Record{Context: make([]byte, 40), Data: make([]byte, 60)}, ""},
		{"data over", ingest.Record{Source: "hec:main", Data: make([]byte, 101)}, `record 2 of 2 from "hec:main": 101 bytes`},
		{"data and context over", ingest.Record{Source: "x", Context: make([]byte, 51), Data: make([]byte, 50)}, "over the 100-byte limit"},
		{"source too long", ingest.Record{Source: strings.Repeat("s", maxNameLen+1)}, "source or format over"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := openT(t, Options{MaxRecord: 100, NoSync: true})
			err := w.Append(context.Background(), []ingest.Record{{Data: []byte("ok")}, tc.rec})
			if tc.wantErr == "" {
				if err != nil || w.Last() != 2 {
					t.Fatalf("err %v, last %d", err, w.Last())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want it to contain %q", err, tc.wantErr)
			}
			if errors.Is(err, ingest.ErrOverloaded) {
				t.Error("a too large record must not read as an overload")
			}
			if w.Last() != 0 {
				t.Errorf("a refused call appended records: last %d", w.Last())
			}
		})
	}
}

func TestConcurrentAppend(t *testing.T) {
	for _, segBytes := range []int64{0, 4096} {
		t.Run(fmt.Sprintf("segment %d", segBytes), func(t *testing.T) {
			const goroutines, calls = 16, 50
			w := openT(t, Options{NoSync: segBytes == 0, SegmentBytes: segBytes})
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					for c := range calls {
						n := 1 + (g+c)%7
						recs := make([]ingest.Record, n)
						for i := range recs {
							recs[i] = ingest.Record{Source: fmt.Sprintf("g%d", g), Data: fmt.Appendf(nil, "%d/%d/%d/%d", g, c, i, n)}
						}
						if err := w.Append(context.Background(), recs); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			total := 0
			for g := range goroutines {
				for c := range calls {
					total += 1 + (g+c)%7
				}
			}
			got := make(chan []Entry)
			go func() { // a reader following the writers
				var all []Entry
				from := uint64(1)
				for len(all) < total {
					es, err := w.Read(context.Background(), from, 100, 5*time.Second)
					if err != nil || len(es) == 0 {
						t.Errorf("reader stopped after %d entries: %v", len(all), err)
						break
					}
					all = append(all, es...)
					from = es[len(es)-1].Seq + 1
				}
				got <- all
			}()
			wg.Wait()
			all := <-got
			if len(all) != total || w.Last() != uint64(total) {
				t.Fatalf("read %d entries, last %d, want %d", len(all), w.Last(), total)
			}
			seen := map[string]bool{}
			for i := 0; i < len(all); {
				if all[i].Seq != uint64(i+1) {
					t.Fatalf("entry %d has seq %d", i, all[i].Seq)
				}
				var g, c, k, n int
				if _, err := fmt.Sscanf(string(all[i].Record.Data), "%d/%d/%d/%d", &g, &c, &k, &n); err != nil || k != 0 {
					t.Fatalf("seq %d: %q does not start a call", all[i].Seq, all[i].Record.Data)
				}
				for k := range n { // the call's records follow, in order
					want := fmt.Sprintf("%d/%d/%d/%d", g, c, k, n)
					if i+k >= len(all) || string(all[i+k].Record.Data) != want {
						t.Fatalf("seq %d: want %q", all[i].Seq+uint64(k), want)
					}
					if seen[want] {
						t.Fatalf("%q read twice", want)
					}
					seen[want] = true
				}
				i += n
			}
			if segBytes > 0 && len(w.segs) < 3 {
				t.Errorf("only %d segments with a %d-byte segment size", len(w.segs), segBytes)
			}
		})
	}
}

// writeRecords creates a WAL in dir holding n records and returns the segment
// path and the file offset where each record starts (plus the end).
func writeRecords(t *testing.T, dir string, n int) (string, []int64) {
	t.Helper()
	w := openT(t, Options{Dir: dir, NoSync: true})
	offs := []int64{headerSize}
	for i := range n {
		if err := w.Append(context.Background(), []ingest.Record{rec(i)}); err != nil {
			t.Fatal(err)
		}
		offs = append(offs, w.segs[0].size)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, segmentName(1)), offs
}

func TestTornTail(t *testing.T) {
	const n = 4
	src := t.TempDir()
	path, offs := writeRecords(t, src, n)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lastStart, end := offs[n-1], offs[n]
	type tcase struct {
		name string
		data []byte
	}
	var cases []tcase
	for cut := lastStart; cut < end; cut++ {
		cases = append(cases, tcase{fmt.Sprintf("cut at %d", cut), orig[:cut]})
	}
	for at := lastStart; at < end; at++ {
		b := bytes.Clone(orig)
		b[at] ^= 0x5a
		cases = append(cases, tcase{fmt.Sprintf("flip at %d", at), b})
	}
	for _, tc := range cases {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), tc.data, 0o600); err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		w, err := Open(Options{Dir: dir, NoSync: true, Registerer: reg})
		if err != nil {
			t.Fatalf("%s: Open: %v", tc.name, err)
		}
		got := readAll(t, w, 1)
		if len(got) != n-1 {
			t.Fatalf("%s: recovered %d records, want %d", tc.name, len(got), n-1)
		}
		for i, e := range got {
			if !sameRecord(e.Record, rec(i)) {
				t.Fatalf("%s: record %d differs", tc.name, i)
			}
		}
		wantCut := int64(len(tc.data)) - lastStart
		if r := w.Recovered(); r.TruncatedBytes != wantCut || r.Records != n-1 {
			t.Fatalf("%s: recovery %+v, want %d bytes cut", tc.name, r, wantCut)
		}
		if v := testutil.ToFloat64(w.m.truncated); v != float64(wantCut) {
			t.Fatalf("%s: truncated metric %v", tc.name, v)
		}
		if err := w.Append(context.Background(), []ingest.Record{rec(100)}); err != nil {
			t.Fatalf("%s: Append after recovery: %v", tc.name, err)
		}
		es, err := w.Read(context.Background(), n, 10, 0)
		if err != nil || len(es) != 1 || es[0].Seq != n || !sameRecord(es[0].Record, rec(100)) {
			t.Fatalf("%s: after recovery read %+v, %v", tc.name, es, err)
		}
		w.Close()
		// And the repaired log opens clean.
		w, err = Open(Options{Dir: dir, NoSync: true})
		if err != nil || w.Recovered().TruncatedBytes != 0 || w.Last() != n {
			t.Fatalf("%s: reopen: %v %+v last %d", tc.name, err, w.Recovered(), w.Last())
		}
		w.Close()
	}
}

func TestRecoveryEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string][]byte
		last    uint64
		wantErr string
	}{
		{"empty dir", nil, 0, ""},
		{"zero-length segment", map[string][]byte{segmentName(1): nil}, 0, ""},
		{"torn header", map[string][]byte{segmentName(1): []byte(segmentMagic)}, 0, ""},
		{"header naming another seq", map[string][]byte{segmentName(1): appendHeader(nil, 9)}, 0, ""},
		{"header only, later seq", map[string][]byte{segmentName(7): appendHeader(nil, 7)}, 6, ""},
		{"foreign file ignored", map[string][]byte{"notes.txt": []byte("hi"), "abc.wal": nil}, 0, ""},
		{"gap between segments", map[string][]byte{
			segmentName(1): appendFrames(appendHeader(nil, 1), 1, []ingest.Record{{Data: []byte("a")}}),
			segmentName(5): appendFrames(appendHeader(nil, 5), 5, []ingest.Record{{Data: []byte("b")}}),
		}, 0, "starts at seq 5 but the previous segment ended at 1"},
		{"damaged segment before the last", map[string][]byte{
			segmentName(1): append(appendFrames(appendHeader(nil, 1), 1, []ingest.Record{{Data: []byte("a")}}), 1, 2, 3),
			segmentName(2): appendFrames(appendHeader(nil, 2), 2, []ingest.Record{{Data: []byte("b")}}),
		}, 0, "is damaged and is not the last one"},
		{"gap of committed records (retention cut short)", map[string][]byte{
			segmentName(1): appendFrames(appendHeader(nil, 1), 1, []ingest.Record{{Data: []byte("a")}}),
			segmentName(3): appendFrames(appendHeader(nil, 3), 3, []ingest.Record{{Data: []byte("c")}}),
			checkpointName: checkpointBytes(2),
		}, 3, ""},
		{"damaged committed segment", map[string][]byte{
			segmentName(1): append(appendFrames(appendHeader(nil, 1), 1, []ingest.Record{{Data: []byte("a")}}), 1, 2, 3),
			segmentName(2): appendFrames(appendHeader(nil, 2), 2, []ingest.Record{{Data: []byte("b")}}),
			checkpointName: checkpointBytes(1),
		}, 2, ""},
		{"bad checkpoint", map[string][]byte{checkpointName: []byte("nonsense")}, 0, "not a valid checkpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			w, err := Open(Options{Dir: dir, NoSync: true})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if w.Last() != tc.last {
				t.Fatalf("last %d, want %d", w.Last(), tc.last)
			}
			if err := w.Append(context.Background(), []ingest.Record{{Data: []byte("new")}}); err != nil {
				t.Fatal(err)
			}
			es, err := w.Read(context.Background(), tc.last+1, 10, 0)
			if err != nil || len(es) != 1 || es[0].Seq != tc.last+1 || string(es[0].Record.Data) != "new" {
				t.Fatalf("read %+v, %v", es, err)
			}
		})
	}
}

func checkpointBytes(seq uint64) []byte {
	dir, err := os.MkdirTemp("", "cp")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	if err := writeCheckpoint(dir, seq, false); err != nil {
		panic(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, checkpointName))
	if err != nil {
		panic(err)
	}
	return b
}
