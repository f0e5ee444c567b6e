package reload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var t0 = time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// holder stands for an enrichment store: it parses the file ("bad…" and empty
// files fail) and keeps the previous version on failure.
type holder struct {
	path string

	mu      sync.Mutex
	version string   // in force
	loads   []string // every content Load was asked to read, failed ones included
}

func (h *holder) Load(context.Context) (Summary, error) {
	b, err := os.ReadFile(h.path)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.loads = append(h.loads, "<"+err.Error()+">")
		return Summary{}, fmt.Errorf("reading %s: %w", h.path, err)
	}
	h.loads = append(h.loads, string(b))
	if len(b) == 0 || strings.HasPrefix(string(b), "bad") {
		return Summary{Rejected: 1}, fmt.Errorf("parsing %s line 1: no record loaded", h.path)
	}
	h.version = string(b)
	return Summary{Loaded: 1, Text: "1 record"}, nil
}

func (h *holder) state() (string, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.version, slices.Clone(h.loads)
}

type harness struct {
	t     *testing.T
	clock *fakeClock
	w     *Watcher
	dir   string
	h     map[string]*holder
}

// newHarness watches one file per name, "<name>.txt" in a temp directory.
func newHarness(t *testing.T, opts Options, names ...string) *harness {
	t.Helper()
	hs := &harness{t: t, clock: &fakeClock{now: t0}, dir: t.TempDir(), h: map[string]*holder{}}
	var srcs []Source
	for _, n := range names {
		h := &holder{path: filepath.Join(hs.dir, n+".txt")}
		hs.h[n] = h
		srcs = append(srcs, Source{Name: n, Paths: []string{h.path}, Load: h.Load})
	}
	opts.Now = hs.clock.Now
	w, err := New(srcs, opts)
	if err != nil {
		t.Fatal(err)
	}
	hs.w = w
	return hs
}

// write replaces the file's contents in place and sets its mtime to clock+age
// (age is negative for a file written in the past).
func (hs *harness) write(name, content string, age time.Duration) {
	hs.t.Helper()
	p := hs.h[name].path
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		hs.t.Fatal(err)
	}
	hs.touch(p, hs.clock.Now().Add(age))
}

func (hs *harness) touch(p string, mtime time.Time) {
	hs.t.Helper()
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		hs.t.Fatal(err)
	}
}

// poll advances the clock by d and polls once.
func (hs *harness) poll(d time.Duration) {
	hs.clock.Advance(d)
	hs.w.Poll(context.Background())
}

func (hs *harness) status(name string) Status {
	for _, st := range hs.w.Status() {
		if st.Source == name {
			return st
		}
	}
	hs.t.Fatalf("no status for %s", name)
	return Status{}
}

func (hs *harness) expect(name, version string, loads ...string) {
	hs.t.Helper()
	v, got := hs.h[name].state()
	if v != version {
		hs.t.Errorf("%s: version in force %q, want %q", name, v, version)
	}
	if !slices.Equal(got, loads) {
		hs.t.Errorf("%s: loads %q, want %q", name, got, loads)
	}
}

func (hs *harness) counter(name, result string) float64 {
	return testutil.ToFloat64(hs.w.reloads.WithLabelValues(name, result))
}

func TestChangeLoadedOnce(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	hs := newHarness(t, Options{Registerer: reg}, "assets")
	hs.write("assets", "v1", -time.Hour)
	hs.poll(0) // never loaded: loads at once, the file being quiet
	hs.expect("assets", "v1", "v1")
	for range 5 {
		hs.poll(30 * time.Second)
	}
	hs.expect("assets", "v1", "v1")

	hs.write("assets", "v2-longer", -10*time.Second)
	hs.poll(30 * time.Second)
	loadedAt := hs.clock.Now()
	for range 5 {
		hs.poll(30 * time.Second)
	}
	hs.expect("assets", "v2-longer", "v1", "v2-longer")

	st := hs.status("assets")
	if st.State != StateOK || st.LastError != "" || st.Summary.Loaded != 1 || st.Summary.Text != "1 record" {
		t.Errorf("status %+v", st)
	}
	if !st.LastSuccess.Equal(loadedAt) || !st.LastAttempt.Equal(loadedAt) {
		t.Errorf("last success %v, attempt %v, want %v", st.LastSuccess, st.LastAttempt, loadedAt)
	}
	if got := hs.counter("assets", "success"); got != 2 {
		t.Errorf("reloads success = %v, want 2", got)
	}
	if got := hs.counter("assets", "failure"); got != 0 {
		t.Errorf("reloads failure = %v, want 0", got)
	}
	if got, want := testutil.ToFloat64(hs.w.success.WithLabelValues("assets")), float64(loadedAt.Unix()); got != want {
		t.Errorf("last success gauge = %v, want %v", got, want)
	}
	if n, err := testutil.GatherAndCount(reg, "vigil_enrichment_reloads_total", "vigil_enrichment_last_success_timestamp_seconds"); err != nil || n != 3 {
		t.Errorf("gathered %d series (%v), want 3", n, err)
	}
}

// A rewrite with the same size within one mtime tick is caught by the hash on
// the first poll after the racy window; after that, polls need no hash.
func TestRewriteWithinMtimeTick(t *testing.T) {
	hs := newHarness(t, Options{}, "intel")
	hs.write("intel", "aaaa", 0) // being written right now
	hs.poll(0)
	hs.expect("intel", "") // settling
	if !hs.status("intel").Settling {
		t.Error("status does not say settling")
	}
	hs.poll(500 * time.Millisecond) // unchanged over two polls (hash equal)
	hs.expect("intel", "aaaa", "aaaa")

	mtime := t0 // same size, same mtime, same inode, other bytes
	if err := os.WriteFile(hs.h["intel"].path, []byte("bbbb"), 0o600); err != nil {
		t.Fatal(err)
	}
	hs.touch(hs.h["intel"].path, mtime)
	hs.poll(3 * time.Second) // first poll after the window: hashed, differs, quiet
	hs.expect("intel", "bbbb", "aaaa", "bbbb")
	for range 3 {
		hs.poll(30 * time.Second)
	}
	hs.expect("intel", "bbbb", "aaaa", "bbbb")
}

// A file loaded while racy is hashed on the first poll after the window and,
// found unchanged, not again.
func TestHashOnlyAroundChange(t *testing.T) {
	hs := newHarness(t, Options{}, "intel")
	hs.write("intel", "aaaa", 0)
	hs.poll(0)
	hs.poll(time.Second)
	hs.expect("intel", "aaaa", "aaaa")
	s := hs.w.sources[0]
	if !s.loaded[0].racy || !s.loaded[0].hashed {
		t.Fatalf("loaded while racy but not hashed: %+v", s.loaded[0])
	}
	hs.poll(30 * time.Second)
	if !s.last[0].hashed || s.last[0].racy {
		t.Errorf("first poll after the window: %+v, want hashed, not racy", s.last[0])
	}
	if s.loaded[0].racy {
		t.Error("the confirmed quiet observation did not replace the racy one")
	}
	hs.poll(30 * time.Second)
	if s.last[0].hashed {
		t.Error("hashed again on a later poll")
	}
	hs.expect("intel", "aaaa", "aaaa")
}

func TestRenameReplace(t *testing.T) {
	for _, tc := range []struct {
		name      string
		content   string
		sameMtime bool
	}{
		{"same size and mtime", "v2", true},
		{"new size and mtime", "version-2", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := newHarness(t, Options{}, "assets")
			hs.write("assets", "v1", -time.Hour)
			hs.poll(0)
			hs.expect("assets", "v1", "v1")

			p := hs.h["assets"].path
			old, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			tmp := p + ".tmp"
			if err := os.WriteFile(tmp, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			mtime := hs.clock.Now().Add(-time.Minute)
			if tc.sameMtime {
				mtime = old.ModTime()
			}
			hs.touch(tmp, mtime)
			if err := os.Rename(tmp, p); err != nil {
				t.Fatal(err)
			}
			hs.poll(30 * time.Second)
			hs.poll(30 * time.Second)
			hs.expect("assets", tc.content, "v1", tc.content)
		})
	}
}

func TestPartialWriteSettles(t *testing.T) {
	hs := newHarness(t, Options{}, "identity")
	hs.write("identity", "full-v1", -time.Hour)
	hs.poll(0)

	hs.write("identity", "ful", 0) // the writer has written part of the file
	hs.poll(100 * time.Millisecond)
	hs.expect("identity", "full-v1", "full-v1")
	hs.write("identity", "full-v2", 0) // ... and the rest before the next poll
	hs.poll(time.Second)
	hs.expect("identity", "full-v1", "full-v1")
	if !hs.status("identity").Settling {
		t.Error("status does not say settling")
	}
	hs.poll(time.Second) // unchanged since the last poll
	hs.expect("identity", "full-v2", "full-v1", "full-v2")
	if hs.status("identity").Settling {
		t.Error("status still says settling")
	}

	// With a settle delay of 10 s, a file modified 5 s before the poll waits for
	// a second poll; one modified 15 s before loads on first sight.
	hs2 := newHarness(t, Options{Settle: 10 * time.Second}, "identity")
	hs2.write("identity", "a", -5*time.Second)
	hs2.poll(0)
	hs2.expect("identity", "")
	hs2.poll(30 * time.Second)
	hs2.expect("identity", "a", "a")
	hs2.write("identity", "b", -15*time.Second)
	hs2.poll(0)
	hs2.expect("identity", "b", "a", "b")
}

func TestDeleteKeepsOldVersion(t *testing.T) {
	reg := prometheus.NewRegistry()
	hs := newHarness(t, Options{Registerer: reg}, "assets")
	hs.write("assets", "v1", -time.Hour)
	hs.poll(0)

	p := hs.h["assets"].path
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	hs.poll(30 * time.Second) // could be a non-atomic replace: wait one poll
	if st := hs.status("assets"); st.State != StateOK || !st.Settling {
		t.Errorf("after one poll without the file: %+v", st)
	}
	hs.poll(30 * time.Second)
	st := hs.status("assets")
	if st.State != StateFailing || !strings.Contains(st.LastError, "no such file") || !strings.Contains(st.LastError, p) {
		t.Errorf("deleted file: status %+v", st)
	}
	if !st.LastSuccess.Equal(t0) || st.Summary.Loaded != 1 {
		t.Errorf("deleted file lost the last success: %+v", st)
	}
	hs.expect("assets", "v1", "v1") // Load not called while the file is missing
	for range 5 {
		hs.poll(5 * time.Second)
	}
	if got := hs.counter("assets", "failure"); got != 1 {
		t.Errorf("failure reported %v times, want once", got)
	}
	if got := testutil.ToFloat64(hs.w.failing.WithLabelValues("assets")); got != 1 {
		t.Errorf("failing gauge = %v, want 1", got)
	}
	hs.poll(time.Minute) // the timed retry reports it again, still without Load
	if got := hs.counter("assets", "failure"); got != 2 {
		t.Errorf("failure after retry counted %v, want 2", got)
	}
	hs.expect("assets", "v1", "v1")

	hs.write("assets", "v2", -time.Second)
	hs.poll(2 * time.Second) // quiet again (3 s old): loaded at once
	hs.expect("assets", "v2", "v1", "v2")
	if st := hs.status("assets"); st.State != StateOK || st.LastError != "" || st.Failures != 0 || !st.NextRetry.IsZero() {
		t.Errorf("after the file came back: %+v", st)
	}
	if got := testutil.ToFloat64(hs.w.failing.WithLabelValues("assets")); got != 0 {
		t.Errorf("failing gauge = %v, want 0", got)
	}

	// A delete and re-create between two polls reports no failure.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	hs.poll(30 * time.Second)
	hs.write("assets", "v3", -time.Minute)
	hs.poll(30 * time.Second)
	hs.expect("assets", "v3", "v1", "v2", "v3")
	if got := hs.counter("assets", "failure"); got != 2 {
		t.Errorf("a replace counted as failure: %v failures, want 2", got)
	}
}

func TestFailingLoadBacksOff(t *testing.T) {
	hs := newHarness(t, Options{RetryMin: time.Minute, RetryMax: 3 * time.Minute}, "intel")
	hs.write("intel", "good-1", -time.Hour)
	hs.poll(0)
	hs.write("intel", "bad feed", -time.Minute)
	hs.poll(30 * time.Second)
	hs.expect("intel", "good-1", "good-1", "bad feed")
	st := hs.status("intel")
	if st.State != StateFailing || !strings.Contains(st.LastError, "no record loaded") || st.Failures != 1 {
		t.Fatalf("status %+v", st)
	}
	if want := t0.Add(30*time.Second + time.Minute); !st.NextRetry.Equal(want) {
		t.Errorf("next retry %v, want %v", st.NextRetry, want)
	}
	for range 5 { // 50 s: within the backoff, no retry
		hs.poll(10 * time.Second)
	}
	hs.expect("intel", "good-1", "good-1", "bad feed")
	// Backoff 1 min, 2 min, 3 min (capped), 3 min.
	var retries []time.Duration
	last := hs.clock.Now()
	for range 120 {
		hs.poll(5 * time.Second)
		if st := hs.status("intel"); st.LastAttempt.After(last) {
			retries = append(retries, st.LastAttempt.Sub(last))
			last = st.LastAttempt
		}
	}
	// The first retry is 1 min after the failure (10 s after the polling
	// resumed); then 2 min, then 3 min, 3 min ... 600 s of polls in all.
	want := []time.Duration{10 * time.Second, 2 * time.Minute, 3 * time.Minute, 3 * time.Minute}
	if !slices.Equal(retries, want) {
		t.Errorf("retries after %v, want %v", retries, want)
	}
	_, loads := hs.h["intel"].state()
	if len(loads) != 2+len(want) {
		t.Errorf("Load called %d times, want %d", len(loads), 2+len(want))
	}

	hs.write("intel", "good-2", -time.Minute) // fixed
	hs.poll(5 * time.Second)
	if v, _ := hs.h["intel"].state(); v != "good-2" {
		t.Errorf("version %q after the fix", v)
	}
	if st := hs.status("intel"); st.State != StateOK || st.Failures != 0 || st.LastError != "" || !st.NextRetry.IsZero() {
		t.Errorf("status after the fix %+v", st)
	}

	// RetryMin < 0: a failed load is retried only when the files change.
	hs2 := newHarness(t, Options{RetryMin: -1}, "intel")
	hs2.write("intel", "bad", -time.Hour)
	hs2.poll(0)
	for range 100 {
		hs2.poll(time.Hour)
	}
	hs2.expect("intel", "", "bad")
	hs2.write("intel", "good", -time.Hour)
	hs2.poll(time.Second)
	hs2.expect("intel", "good", "bad", "good")
}

func TestTriggerReloadsAll(t *testing.T) {
	// Inside a synctest bubble, Run's goroutine and its time are the bubble's:
	// synctest.Wait returns once Run is idle again, and the bubble fails the
	// test if Run (or anything it started) is still running at the end.
	dir := t.TempDir()
	synctestRun(t, func(t *testing.T) {
		now := time.Now() // the bubble's clock
		hs := &harness{t: t, clock: &fakeClock{now: now}, dir: dir, h: map[string]*holder{}}
		var srcs []Source
		for _, n := range []string{"assets", "intel"} {
			h := &holder{path: filepath.Join(dir, n+".txt")}
			hs.h[n] = h
			srcs = append(srcs, Source{Name: n, Paths: []string{h.path}, Load: h.Load})
			hs.write(n, n+"-v1", -time.Hour)
		}
		trigger := make(chan struct{})
		ticks := make(chan time.Time)
		w, err := New(srcs, Options{Trigger: trigger, Ticks: ticks, Now: hs.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		hs.w = w
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		syncWait() // the first poll loads both
		hs.expect("assets", "assets-v1", "assets-v1")
		hs.expect("intel", "intel-v1", "intel-v1")

		trigger <- struct{}{} // unchanged files are reloaded on demand
		syncWait()
		hs.expect("assets", "assets-v1", "assets-v1", "assets-v1")
		hs.expect("intel", "intel-v1", "intel-v1", "intel-v1")

		hs.write("intel", "intel-v2", -time.Minute)
		ticks <- now
		syncWait()
		hs.expect("assets", "assets-v1", "assets-v1", "assets-v1")
		hs.expect("intel", "intel-v2", "intel-v1", "intel-v1", "intel-v2")

		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
}

// Without injected ticks, Run polls on a real ticker at Interval (the bubble's
// fake time makes the 30 s pass at once) and stops it when ctx ends.
func TestRunDefaultTicker(t *testing.T) {
	dir := t.TempDir()
	synctestRun(t, func(t *testing.T) {
		h := &holder{path: filepath.Join(dir, "a.txt")}
		write := func(s string) {
			if err := os.WriteFile(h.path, []byte(s), 0o600); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-time.Hour)
			if err := os.Chtimes(h.path, old, old); err != nil {
				t.Fatal(err)
			}
		}
		write("v1")
		w, err := New([]Source{{Name: "a", Paths: []string{h.path}, Load: h.Load}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		syncWait()
		write("v2!")
		time.Sleep(29 * time.Second)
		syncWait()
		if v, _ := h.state(); v != "v1" {
			t.Errorf("version %q before the interval", v)
		}
		time.Sleep(2 * time.Second)
		syncWait()
		if v, _ := h.state(); v != "v2!" {
			t.Errorf("version %q after the interval", v)
		}
		cancel()
		<-done
	})
}

// A load interrupted by shutdown is neither a success nor a failure.
func TestCanceledLoadNotCounted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := filepath.Join(t.TempDir(), "a")
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := New([]Source{{Name: "a", Paths: []string{p}, Load: func(ctx context.Context) (Summary, error) {
		cancel()
		return Summary{}, ctx.Err()
	}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.ReloadAll(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("ReloadAll: %v", err)
	}
	if st := w.Status()[0]; st.State != StatePending || st.LastError != "" {
		t.Errorf("status %+v", st)
	}
	if got := testutil.ToFloat64(w.reloads.WithLabelValues("a", "failure")); got != 0 {
		t.Errorf("failures %v", got)
	}
}

func TestReloadByName(t *testing.T) {
	hs := newHarness(t, Options{}, "a", "b")
	hs.write("a", "a1", -time.Hour)
	hs.write("b", "bad", -time.Hour)
	err := hs.w.ReloadAll(context.Background())
	if err == nil || !strings.Contains(err.Error(), "source b") || strings.Contains(err.Error(), "source a") {
		t.Errorf("ReloadAll: %v", err)
	}
	if err := hs.w.Reload(context.Background(), "a"); err != nil {
		t.Error(err)
	}
	hs.expect("a", "a1", "a1", "a1")
	if err := hs.w.Reload(context.Background(), "c"); err == nil || !strings.Contains(err.Error(), `"c"`) {
		t.Errorf("Reload of an unknown source: %v", err)
	}
	hs.poll(time.Second) // both attempted with these files: nothing to do
	hs.expect("a", "a1", "a1", "a1")
	hs.expect("b", "", "bad")
}

func TestMultiplePaths(t *testing.T) {
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "feed1"), filepath.Join(dir, "feed2")
	old := t0.Add(-time.Hour)
	for _, p := range []string{p1, p2} {
		if err := os.WriteFile(p, []byte(p), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	clock := &fakeClock{now: t0}
	var n int
	w, err := New([]Source{{Name: "intel", Paths: []string{p1, p2}, Load: func(context.Context) (Summary, error) {
		n++
		return Summary{Loaded: 2}, nil
	}}}, Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	w.Poll(context.Background())
	if err := os.WriteFile(p2, []byte("changed"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p2, old, old); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	w.Poll(context.Background())
	w.Poll(context.Background())
	if n != 2 {
		t.Errorf("loaded %d times, want 2 (initial, second file changed)", n)
	}
}

func TestStatusConcurrent(t *testing.T) {
	hs := newHarness(t, Options{}, "a", "b", "c")
	for _, n := range []string{"a", "b", "c"} {
		hs.write(n, n, -time.Hour)
	}
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, st := range hs.w.Status() {
					_ = st.Source + st.LastError + st.Summary.Text + strings.Join(st.Paths, ",")
				}
				runtime.Gosched()
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			_ = hs.w.ReloadAll(ctx)
		}
	})
	for i := range 50 {
		content := fmt.Sprintf("v%d", i)
		if i%7 == 0 {
			content = "bad"
		}
		if err := os.WriteFile(hs.h["b"].path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		hs.poll(time.Minute)
	}
	close(stop)
	wg.Wait()
	if got := len(hs.w.Status()); got != 3 {
		t.Errorf("%d statuses", got)
	}
}

func TestNewRejects(t *testing.T) {
	load := func(context.Context) (Summary, error) { return Summary{}, nil }
	for _, tc := range []struct {
		name    string
		sources []Source
		want    string
	}{
		{"empty name", []Source{{Paths: []string{"x"}, Load: load}}, "source 0: empty name"},
		{"duplicate", []Source{{Name: "a", Paths: []string{"x"}, Load: load}, {Name: "a", Paths: []string{"y"}, Load: load}}, `"a": duplicate name`},
		{"no paths", []Source{{Name: "a", Load: load}}, `"a": no paths`},
		{"empty path", []Source{{Name: "a", Paths: []string{"x", ""}, Load: load}}, `"a": path 1 is empty`},
		{"no load", []Source{{Name: "a", Paths: []string{"x"}}}, `"a": no Load function`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.sources, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want %q", err, tc.want)
			}
		})
	}
	reg := prometheus.NewRegistry()
	ok := []Source{{Name: "a", Paths: []string{"x"}, Load: load}}
	if _, err := New(ok, Options{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(ok, Options{Registerer: reg}); err == nil || !strings.Contains(err.Error(), "registering reload metrics") {
		t.Errorf("second registration: %v", err)
	}
}

func TestNotRegularFile(t *testing.T) {
	dir := t.TempDir()
	var n int
	w, err := New([]Source{{Name: "a", Paths: []string{dir}, Load: func(context.Context) (Summary, error) {
		n++
		return Summary{}, nil
	}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.ReloadAll(context.Background()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReloadAll on a directory: %v", err)
	}
	if n != 0 {
		t.Errorf("Load called %d times on a directory", n)
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{1, time.Minute}, {2, 2 * time.Minute}, {3, 4 * time.Minute}, {6, 30 * time.Minute}, {1000, 30 * time.Minute}} {
		if got := backoff(time.Minute, 30*time.Minute, tc.n); got != tc.want {
			t.Errorf("backoff(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}

func TestRelayCoalesces(t *testing.T) {
	synctestRun(t, func(t *testing.T) {
		in := make(chan os.Signal)
		out, stop := relay(in)
		for range 3 {
			in <- os.Interrupt // stands for SIGHUP: no real signal is sent
		}
		syncWait()
		select {
		case <-out:
		default:
			t.Fatal("no trigger after three signals")
		}
		select {
		case <-out:
			t.Fatal("three signals made more than one pending trigger")
		default:
		}
		in <- os.Interrupt
		syncWait()
		if len(out) != 1 {
			t.Error("no trigger after a later signal")
		}
		stop()
		stop() // idempotent
	})
}

func TestHangupTriggerStops(t *testing.T) {
	trigger, stop := HangupTrigger()
	if trigger == nil {
		t.Fatal("nil trigger")
	}
	stop()
	stop()
}

// The logs name sources, paths and counts, never file contents; Status
// marshals for the API with stable keys.
func TestLogsAndStatusJSON(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hs := newHarness(t, Options{Logger: log}, "assets")
	hs.write("assets", "SECRET-ROW-1", -time.Hour)
	hs.poll(0)
	hs.write("assets", "bad SECRET-ROW-2", 0)
	hs.poll(time.Second)
	hs.poll(time.Second)
	if err := os.Remove(hs.h["assets"].path); err != nil {
		t.Fatal(err)
	}
	hs.poll(time.Second)
	hs.poll(time.Second)
	out := buf.String()
	if strings.Contains(out, "SECRET") {
		t.Errorf("file contents in the log:\n%s", out)
	}
	for _, want := range []string{
		`level=INFO msg="enrichment source reloaded" source=assets loaded=1 rejected=0 summary="1 record"`,
		`level=DEBUG msg="enrichment source changed, waiting for it to settle" source=assets`,
		`level=WARN msg="enrichment reload failed; previous version stays in force" source=assets err="reloading enrichment source assets: parsing `,
		"no such file or directory (the previous version stays in force)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}

	b, err := json.Marshal(hs.w.Status())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"source":"assets"`, `"state":"failing"`, `"last_attempt":"2030-03-01T12:00:04Z"`,
		`"last_success":"2030-03-01T12:00:00Z"`, `"consecutive_failures":2`, `"summary":{"loaded":1,"rejected":0,"text":"1 record"}`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("status JSON lacks %s: %s", key, b)
		}
	}
	b, err = json.Marshal(newHarness(t, Options{}, "x").w.Status()[0])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "last_") || strings.Contains(string(b), "next_retry") {
		t.Errorf("pending source shows times: %s", b)
	}
}
