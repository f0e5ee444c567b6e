package wal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigilsec/vigil/internal/ingest"
)

func appendN(t *testing.T, w *WAL, from, n int) {
	t.Helper()
	recs := make([]ingest.Record, n)
	for i := range recs {
		recs[i] = rec(from + i)
	}
	if err := w.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCommitAndRetention(t *testing.T) {
	dir := t.TempDir()
	w := openT(t, Options{Dir: dir, NoSync: true, SegmentBytes: 1024})
	for i := range 30 { // one call per record: a segment holds ~12
		appendN(t, w, i, 1)
	}
	files := segmentFiles(t, dir)
	if len(files) < 3 {
		t.Fatalf("%d segments, want several", len(files))
	}
	if err := w.Commit(31); err == nil {
		t.Error("committing past the last durable seq was accepted")
	}
	if err := w.Commit(20); err != nil {
		t.Fatal(err)
	}
	if w.Committed() != 20 {
		t.Fatalf("committed %d", w.Committed())
	}
	if err := w.Commit(10); err != nil || w.Committed() != 20 {
		t.Fatalf("committing backwards: %v, committed %d", err, w.Committed())
	}
	first := w.First()
	if first <= 1 || first > 21 {
		t.Fatalf("first available seq %d after committing 20", first)
	}
	if left := segmentFiles(t, dir); len(left) >= len(files) {
		t.Fatalf("retention kept %d of %d segments", len(left), len(files))
	}
	_, err := w.Read(context.Background(), 1, 10, 0)
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), fmt.Sprintf("starts at %d", first)) {
		t.Fatalf("reading a deleted seq: %v", err)
	}
	got := readAll(t, w, first)
	if len(got) != int(30-first+1) || got[0].Seq != first || !sameRecord(got[len(got)-1].Record, rec(29)) {
		t.Fatalf("read %d entries from %d", len(got), first)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	w2 := openT(t, Options{Dir: dir, NoSync: true, SegmentBytes: 1024})
	if w2.Committed() != 20 || w2.Last() != 30 || w2.First() != first {
		t.Fatalf("after reopen: committed %d last %d first %d", w2.Committed(), w2.Last(), w2.First())
	}
	if b := w2.Backlog(); b <= 0 || b > 10*100 {
		t.Fatalf("backlog of 10 records after reopen: %d bytes", b)
	}
	appendN(t, w2, 30, 1)
	if err := w2.Commit(31); err != nil {
		t.Fatal(err)
	}
	if w2.Backlog() != 0 || len(segmentFiles(t, dir)) != 1 {
		t.Fatalf("after committing everything: backlog %d, %d segments", w2.Backlog(), len(segmentFiles(t, dir)))
	}
	w2.Close()
	// Seqs are never reused, even when every segment but the active is gone.
	w3 := openT(t, Options{Dir: dir, NoSync: true, SegmentBytes: 1024})
	appendN(t, w3, 31, 1)
	if w3.Last() != 32 {
		t.Fatalf("next seq after a reopen of a committed log: %d", w3.Last())
	}
}

func TestOverload(t *testing.T) {
	reg := prometheus.NewRegistry()
	w := openT(t, Options{NoSync: true, MaxBacklog: 2000, Registerer: reg})
	var err error
	n := 0
	for ; n < 100; n++ {
		if err = w.Append(context.Background(), []ingest.Record{rec(n)}); err != nil {
			break
		}
	}
	if !errors.Is(err, ingest.ErrOverloaded) {
		t.Fatalf("after %d appends: %v, want an overload", n, err)
	}
	var oe *ingest.OverloadError
	if !errors.As(err, &oe) || oe.Backlog != w.Backlog() || oe.Backlog > 2000 || ingest.RetryAfter(err) < time.Second {
		t.Fatalf("overload error %+v, backlog %d", oe, w.Backlog())
	}
	if v := testutil.ToFloat64(w.m.overload); v != 1 {
		t.Errorf("overloaded metric %v", v)
	}
	if v := testutil.ToFloat64(w.m.backlog); v != float64(w.Backlog()) {
		t.Errorf("backlog gauge %v, backlog %d", v, w.Backlog())
	}
	if err := w.Commit(uint64(n)); err != nil {
		t.Fatal(err)
	}
	if w.Backlog() != 0 {
		t.Fatalf("backlog %d after committing everything", w.Backlog())
	}
	if err := w.Append(context.Background(), []ingest.Record{rec(n)}); err != nil {
		t.Fatalf("append after commit: %v", err)
	}
	// A single call larger than the bound goes through on an empty backlog.
	if err := w.Commit(w.Last()); err != nil {
		t.Fatal(err)
	}
	big := ingest.Record{Data: make([]byte, 5000)}
	if err := w.Append(context.Background(), []ingest.Record{big}); err != nil {
		t.Fatalf("a large call on an empty backlog: %v", err)
	}
}

func TestCloseAndUseAfterClose(t *testing.T) {
	w := openT(t, Options{NoSync: true})
	appendN(t, w, 0, 3)
	for i := range 2 {
		if err := w.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	ctx := context.Background()
	checks := map[string]error{
		"append": w.Append(ctx, []ingest.Record{rec(1)}),
		"commit": w.Commit(1),
	}
	_, checks["read"] = w.Read(ctx, 1, 10, 0)
	for name, err := range checks {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after close: %v, want ErrClosed", name, err)
		}
	}
}

func TestCloseWakesReader(t *testing.T) {
	w := openT(t, Options{NoSync: true})
	done := make(chan error)
	go func() {
		_, err := w.Read(context.Background(), 1, 10, time.Minute)
		done <- err
	}()
	// Give the reader a moment to block; it gets ErrClosed either way, this
	// only makes the test exercise the wake-up.
	time.Sleep(10 * time.Millisecond)
	w.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("reader got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake a waiting reader")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestReadWaits(t *testing.T) {
	w := openT(t, Options{NoSync: true})
	ctx := context.Background()
	start := time.Now()
	es, err := w.Read(ctx, 1, 10, 50*time.Millisecond)
	if err != nil || len(es) != 0 || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("empty log: %v %v after %v", es, err, time.Since(start))
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := w.Read(cctx, 1, 10, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: %v", err)
	}
	got := make(chan []Entry)
	go func() {
		es, _ := w.Read(ctx, 1, 10, time.Minute)
		got <- es
	}()
	appendN(t, w, 0, 3)
	select {
	case es := <-got:
		if len(es) == 0 || es[0].Seq != 1 {
			t.Fatalf("woken reader got %+v", es)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("append did not wake the reader")
	}
	es, err = w.Read(ctx, 2, 1, 0)
	if err != nil || len(es) != 1 || es[0].Seq != 2 {
		t.Fatalf("max 1 from 2: %+v %v", es, err)
	}
	es, err = w.Read(ctx, 1, 100, 0) // backwards: rescans
	if err != nil || len(es) != 3 || es[0].Seq != 1 {
		t.Fatalf("reading again from 1: %d entries %v", len(es), err)
	}
	if _, err := w.Read(ctx, 1, 0, 0); err == nil {
		t.Error("max 0 accepted")
	}
}

func TestWriteFailureSticks(t *testing.T) {
	w := openT(t, Options{})
	appendN(t, w, 0, 2)
	w.mu.Lock()
	w.active.Close() // the next write fails as a disk error would
	w.mu.Unlock()
	err := w.Append(context.Background(), []ingest.Record{rec(2)})
	if err == nil || !errors.Is(err, ErrFailed) {
		t.Fatalf("append on a failed disk: %v", err)
	}
	if w.Last() != 2 {
		t.Fatalf("a failed append moved Last to %d", w.Last())
	}
	if err := w.Append(context.Background(), []ingest.Record{rec(3)}); !errors.Is(err, ErrFailed) {
		t.Fatalf("later append: %v, want ErrFailed", err)
	}
	es, err := w.Read(context.Background(), 1, 10, 0)
	if err != nil || len(es) != 2 {
		t.Fatalf("durable records stay readable: %d %v", len(es), err)
	}
}

func TestAppendCancelled(t *testing.T) {
	w := openT(t, Options{NoSync: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Append(ctx, []ingest.Record{rec(0)}); !errors.Is(err, context.Canceled) || w.Last() != 0 {
		t.Fatalf("append with a cancelled ctx: %v, last %d", err, w.Last())
	}
	// A follower whose ctx ends while the leader syncs gets the ctx error;
	// its records still become durable (at-least-once).
	w.mu.Lock()
	w.flushing = true // pretend a leader is busy
	w.mu.Unlock()
	ctx2, cancel2 := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Append(ctx2, []ingest.Record{rec(1)}) }()
	waitFor(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.pend) > 0 })
	cancel2()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("follower: %v", err)
	}
	w.mu.Lock() // the pretended leader finishes
	w.flushing = false
	close(w.flushed)
	w.flushed = make(chan struct{})
	w.mu.Unlock()
	// No other Append comes: the abandoned record is written all the same.
	es, err := w.Read(context.Background(), 1, 10, 5*time.Second)
	if err != nil || len(es) != 1 || !sameRecord(es[0].Record, rec(1)) {
		t.Fatalf("read %+v, %v", es, err)
	}
}

// The kill -9 test: a child process appends and prints what was
// acknowledged; the parent kills it and checks all of it is on disk.
const killEnv = "VIGIL_WAL_KILL_CHILD_DIR"

func TestKillChild(t *testing.T) {
	dir := os.Getenv(killEnv)
	if dir == "" {
		t.Skip("run by TestKill9 only")
	}
	w, err := Open(Options{Dir: dir, SegmentBytes: 256 << 10})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for c := 0; ; c++ {
				n := 1 + c%32
				recs := make([]ingest.Record, n)
				for i := range recs {
					recs[i] = killRecord(g, c, i)
				}
				if err := w.Append(context.Background(), recs); err != nil {
					fmt.Println("append:", err)
					os.Exit(2)
				}
				mu.Lock()
				for i := range recs { // acknowledged
					fmt.Fprintf(out, "%d %d %d\n", g, c, i)
				}
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func killRecord(g, c, i int) ingest.Record {
	return ingest.Record{
		Source:   fmt.Sprintf("g%d", g),
		Context:  []byte("#fields a b c"),
		Data:     fmt.Appendf(nil, "%d %d %d %s", g, c, i, strings.Repeat("k", 200+i)),
		Received: time.Unix(int64(c), int64(i)),
	}
}

func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test skipped in -short")
	}
	for run := range 3 {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$")
		cmd.Env = append(os.Environ(), killEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := make(chan []string)
		go func() {
			var lines []string
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			acked <- lines
		}()
		time.Sleep(time.Duration(250+50*run) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		lines := <-acked
		_ = cmd.Wait()
		if len(lines) < 10 {
			t.Fatalf("run %d: the child acknowledged only %d records: %q", run, len(lines), lines)
		}

		w, err := Open(Options{Dir: dir, NoSync: true})
		if err != nil {
			t.Fatalf("run %d: reopening: %v", run, err)
		}
		all := readAll(t, w, 1)
		w.Close()
		present := make(map[string]ingest.Record, len(all))
		for i, e := range all {
			if e.Seq != uint64(i+1) {
				t.Fatalf("run %d: entry %d has seq %d", run, i, e.Seq)
			}
			f := strings.Fields(string(e.Record.Data))
			present[strings.Join(f[:3], " ")] = e.Record
		}
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) != 3 {
				t.Fatalf("run %d: bad line %q", run, l)
			}
			g, _ := strconv.Atoi(f[0])
			c, _ := strconv.Atoi(f[1])
			i, _ := strconv.Atoi(f[2])
			r, ok := present[l]
			if !ok {
				t.Fatalf("run %d: acknowledged record %q lost (%d acknowledged, %d on disk)", run, l, len(lines), len(all))
			}
			if !sameRecord(r, killRecord(g, c, i)) {
				t.Fatalf("run %d: record %q differs", run, l)
			}
		}
		t.Logf("run %d: %d acknowledged, %d on disk, %d bytes cut at recovery", run, len(lines), len(all), w.Recovered().TruncatedBytes)
	}
}

func TestMetrics(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	w := openT(t, Options{Dir: dir, Registerer: reg})
	appendN(t, w, 0, 5)
	appendN(t, w, 5, 3)
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"appended records", testutil.ToFloat64(w.m.records), 8},
		{"appended bytes", testutil.ToFloat64(w.m.bytes), float64(w.Backlog())},
		{"backlog gauge", testutil.ToFloat64(w.m.backlog), float64(w.Backlog())},
		{"fsync observations (one per call here)", fsyncCount(t, w), 2},
		{"series registered", float64(testutil.CollectAndCount(reg)), 6},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	w.Close()
	// Reopening on the same registry keeps counting on the same series.
	w2 := openT(t, Options{Dir: dir, Registerer: reg})
	appendN(t, w2, 8, 2)
	if v := testutil.ToFloat64(w2.m.records); v != 10 {
		t.Errorf("appended records after reopen = %v, want 10", v)
	}
}

func fsyncCount(t *testing.T, w *WAL) float64 {
	t.Helper()
	var m dto.Metric
	if err := w.m.fsync.Write(&m); err != nil {
		t.Fatal(err)
	}
	return float64(m.GetHistogram().GetSampleCount())
}

// TestConsumedBoundsBacklog: what the consumer has processed no longer counts
// against the backlog, though it is not committed (retention keeps it).
func TestConsumedBoundsBacklog(t *testing.T) {
	w := openT(t, Options{NoSync: true, MaxBacklog: 2000})
	n := 0
	for ; n < 100; n++ {
		if err := w.Append(context.Background(), []ingest.Record{rec(n)}); err != nil {
			break
		}
	}
	if n == 100 {
		t.Fatal("never overloaded")
	}
	w.Consumed(uint64(n) + 5) // beyond what is durable: ignored
	if w.Backlog() == 0 {
		t.Fatal("Consumed beyond the last durable seq emptied the backlog")
	}
	w.Consumed(uint64(n))
	if w.Backlog() != 0 || w.Committed() != 0 {
		t.Fatalf("after Consumed(%d): backlog %d, committed %d", n, w.Backlog(), w.Committed())
	}
	if err := w.Append(context.Background(), []ingest.Record{rec(n)}); err != nil {
		t.Fatalf("append after Consumed: %v", err)
	}
	es, err := w.Read(context.Background(), 1, 1, 0)
	if err != nil || len(es) != 1 || es[0].Seq != 1 {
		t.Fatalf("consumed records must stay readable until committed: %v %v", es, err)
	}
}
