// Package reload decides when enrichment data (asset inventory, threat intel,
// identities) is reloaded in a long-running service: when the files a source
// reads have changed and settled, and for every source on demand (SIGHUP).
//
// The loading itself, and keeping the previous version when a load fails, belong
// to the source's holder (assets.Store.Reload, intel.Store.Load); the Watcher
// calls the holder's Load at the right moments, at most once per change, and
// reports what happened in Status, slog logs and Prometheus metrics.
//
// Change detection polls (default every 30 s) and compares each file's size,
// modification time and identity (device and inode, so a file replaced by rename
// is seen even with the same size and mtime). A file modified within the racy
// window (Settle, at least 2 s) of a poll is also hashed on that poll and on the
// first poll after the window, so that a rewrite within one mtime tick is not
// missed. A changed file is loaded once it is quiet (modified at least Settle
// before the poll) or unchanged across two polls; a file still being written is
// left for a later poll. A missing or unreadable file is reported as a failed
// reload once it stays so for two polls, and Load is not called: the previous
// version stays in force, and the watcher loads again when the file returns.
// A failed load is retried when the files change, or else after an exponential
// backoff (RetryMin doubling up to RetryMax), never in a tight loop.
//
// The watcher reads the wall clock (file modification times are wall-clock
// times); Options.Now and Options.Ticks replace it and the poll ticker in tests.
// File systems whose clock differs from the host's (NFS) make every file look
// racy or quiet; racy files cost a hash per poll and load one poll later.
package reload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for Options fields left zero.
const (
	DefaultInterval = 30 * time.Second
	DefaultSettle   = 2 * time.Second
	DefaultRetryMin = time.Minute
	DefaultRetryMax = 30 * time.Minute
)

// Summary describes one load, as the source's Load reports it. Text is logged
// and shown by the status API: it must not quote file contents.
type Summary struct {
	Loaded   int    `json:"loaded"`   // records in force after the load (assets, indicators, people)
	Rejected int    `json:"rejected"` // records the load rejected
	Text     string `json:"text,omitempty"`
}

// Source is one reloadable enrichment source.
type Source struct {
	Name  string   // stable id: "assets", "intel", "identity"; a metric label
	Paths []string // files whose change triggers a reload; at least one
	// Load reads the files and, when they can be used, swaps the new version in.
	// On error the previous version must stay in force (the holders do that). It
	// is never called concurrently with itself, nor while a path is missing.
	Load func(ctx context.Context) (Summary, error)
}

// Options configures a Watcher. The zero value is usable.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are not registered

	Interval time.Duration // poll interval; 0: DefaultInterval
	// Settle is how long a file must have been left alone before it is loaded
	// on the poll that first sees it changed; a more recent change waits until
	// a second poll sees the files unchanged. 0: DefaultSettle; negative: load
	// on first sight (the racy window stays 2 s).
	Settle time.Duration
	// RetryMin and RetryMax bound the backoff between retries of a failed load
	// whose files have not changed: RetryMin after the first failure, doubling
	// up to RetryMax. 0: the defaults; RetryMin < 0: retry only on change.
	RetryMin, RetryMax time.Duration

	// Trigger reloads every source at once when it receives (SIGHUP in the
	// binary: see HangupTrigger). nil: no on-demand reload through Run.
	Trigger <-chan struct{}
	// Ticks replaces the poll ticker (tests); nil: a time.Ticker at Interval.
	Ticks <-chan time.Time
	// Now replaces the wall clock (tests); nil: time.Now.
	Now func() time.Time
}

// State summarises a source's condition.
type State string

// Source states.
const (
	StatePending State = "pending" // never loaded by the watcher
	StateOK      State = "ok"      // the last attempt succeeded
	StateFailing State = "failing" // the last attempt failed; the previous version is in force
)

// Status is a source's reload status, for the API.
type Status struct {
	Source      string    `json:"source"`
	Paths       []string  `json:"paths"`
	State       State     `json:"state"`
	Settling    bool      `json:"settling,omitempty"` // a change is seen and waits to settle
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"` // of the last attempt; "" when it succeeded
	Failures    int       `json:"consecutive_failures,omitempty"`
	NextRetry   time.Time `json:"next_retry,omitzero"` // timed retry of a failed load (files unchanged)
	Summary     Summary   `json:"summary"`             // of the last successful load (the version in force)
}

// Watcher reloads sources when their files change, and all of them on demand.
type Watcher struct {
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration
	settle   time.Duration
	racy     time.Duration
	retryMin time.Duration
	retryMax time.Duration
	trigger  <-chan struct{}
	ticks    <-chan time.Time

	reloads *prometheus.CounterVec
	success *prometheus.GaugeVec
	failing *prometheus.GaugeVec

	mu      sync.Mutex // serialises polls and loads; guards sources' watch state
	sources []*source

	statusMu sync.RWMutex // guards source.status; never held during a load
}

type source struct {
	Source
	loaded  []fileState // files as they were when last attempted (nil: never)
	last    []fileState // files at the previous poll
	retryAt time.Time   // zero: no timed retry
	fails   int
	status  Status // under statusMu

	okCount, failCount prometheus.Counter
	successGauge       prometheus.Gauge
	failingGauge       prometheus.Gauge
}

// New returns a watcher over sources. Names must be unique and non-empty, each
// source must name at least one path and have a Load function.
func New(sources []Source, opts Options) (*Watcher, error) {
	w := &Watcher{
		log:      opts.Logger,
		now:      opts.Now,
		interval: opts.Interval,
		settle:   opts.Settle,
		retryMin: opts.RetryMin,
		retryMax: opts.RetryMax,
		trigger:  opts.Trigger,
		ticks:    opts.Ticks,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_enrichment_reloads_total",
			Help: "Enrichment reload attempts per source, by result (success, failure).",
		}, []string{"source", "result"}),
		success: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_enrichment_last_success_timestamp_seconds",
			Help: "Unix time of the last successful reload of each enrichment source.",
		}, []string{"source"}),
		failing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_enrichment_reload_failing",
			Help: "1 when the last reload of the source failed (the previous version is in force), else 0.",
		}, []string{"source"}),
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.interval <= 0 {
		w.interval = DefaultInterval
	}
	if w.settle == 0 {
		w.settle = DefaultSettle
	}
	w.racy = max(w.settle, minRacyWindow)
	if w.retryMin == 0 {
		w.retryMin = DefaultRetryMin
	}
	if w.retryMax <= 0 {
		w.retryMax = DefaultRetryMax
	}
	w.retryMax = max(w.retryMax, w.retryMin)
	seen := map[string]bool{}
	for i, src := range sources {
		switch {
		case src.Name == "":
			return nil, fmt.Errorf("registering reload source %d: empty name", i)
		case seen[src.Name]:
			return nil, fmt.Errorf("registering reload source %q: duplicate name", src.Name)
		case len(src.Paths) == 0:
			return nil, fmt.Errorf("registering reload source %q: no paths", src.Name)
		case src.Load == nil:
			return nil, fmt.Errorf("registering reload source %q: no Load function", src.Name)
		}
		for j, p := range src.Paths {
			if p == "" {
				return nil, fmt.Errorf("registering reload source %q: path %d is empty", src.Name, j)
			}
		}
		seen[src.Name] = true
		src.Paths = slices.Clone(src.Paths)
		w.sources = append(w.sources, &source{
			Source:       src,
			status:       Status{Source: src.Name, Paths: slices.Clone(src.Paths), State: StatePending},
			okCount:      w.reloads.WithLabelValues(src.Name, "success"),
			failCount:    w.reloads.WithLabelValues(src.Name, "failure"),
			successGauge: w.success.WithLabelValues(src.Name),
			failingGauge: w.failing.WithLabelValues(src.Name),
		})
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{w.reloads, w.success, w.failing} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("registering reload metrics: %w", err)
			}
		}
	}
	return w, nil
}

// Run polls the sources at the interval (once at once), and reloads every source
// when the trigger fires, until ctx ends; it then returns ctx's error. A load in
// progress is handed ctx and should return when it ends.
func (w *Watcher) Run(ctx context.Context) error {
	ticks := w.ticks
	if ticks == nil {
		t := time.NewTicker(w.interval)
		defer t.Stop()
		ticks = t.C
	}
	w.Poll(ctx)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticks:
			w.Poll(ctx)
		case <-w.trigger:
			w.log.InfoContext(ctx, "reloading every enrichment source on demand")
			_ = w.ReloadAll(ctx) // failures are logged, counted and in Status
		}
	}
}

// Poll checks every source's files once and loads those whose change has
// settled, and those whose backoff after a failed load has run out.
func (w *Watcher) Poll(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.sources {
		if ctx.Err() != nil {
			return
		}
		w.pollSource(ctx, s)
	}
}

func (w *Watcher) pollSource(ctx context.Context, s *source) {
	now := w.now()
	cur := observeSet(s.Paths, now, w.racy, s.loaded, s.last)
	stable := sameSet(cur, s.last)
	s.last = cur
	if sameSet(cur, s.loaded) {
		// A racy observation confirmed by a quiet one: keep the quiet one, so
		// that later polls need no hash.
		if anyRacy(s.loaded) && !anyRacy(cur) {
			s.loaded = cur
		}
		w.setSettling(s, false)
		if !s.retryAt.IsZero() && !now.Before(s.retryAt) {
			w.log.InfoContext(ctx, "retrying failed enrichment reload", "source", s.Name, "failures", s.fails)
			_ = w.attempt(ctx, s, cur, now) // logged, counted and in Status
		}
		return
	}
	if !stable && (missing(cur) != "" || !quiet(cur, now, w.settle)) {
		w.log.DebugContext(ctx, "enrichment source changed, waiting for it to settle", "source", s.Name)
		w.setSettling(s, true)
		return
	}
	_ = w.attempt(ctx, s, cur, now) // logged, counted and in Status
}

// ReloadAll loads every source now, whatever its files' state, and returns the
// failures joined (nil when every load succeeded). Use it at start-up to fail
// fast on bad files, and for on-demand reloads.
func (w *Watcher) ReloadAll(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	for _, s := range w.sources {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if err := w.reloadNow(ctx, s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Reload loads the named source now, whatever its files' state.
func (w *Watcher) Reload(ctx context.Context, name string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.sources {
		if s.Name == name {
			return w.reloadNow(ctx, s)
		}
	}
	return fmt.Errorf("reloading enrichment source %q: no such source", name)
}

func (w *Watcher) reloadNow(ctx context.Context, s *source) error {
	now := w.now()
	cur := observeSet(s.Paths, now, w.racy, s.loaded, s.last)
	s.last = cur
	return w.attempt(ctx, s, cur, now)
}

// attempt loads s (unless a file is missing) and records the outcome against
// the files as observed before the load: a change made during the load is seen
// by the next poll.
func (w *Watcher) attempt(ctx context.Context, s *source, cur []fileState, now time.Time) error {
	s.loaded = cur
	var (
		sum Summary
		err error
	)
	if m := missing(cur); m != "" {
		err = fmt.Errorf("reloading enrichment source %s: %s (the previous version stays in force)", s.Name, m)
	} else {
		sum, err = s.Load(ctx)
		if err != nil && ctx.Err() != nil {
			// Shutting down: not a failure of the source; the next start retries.
			s.loaded = nil
			return err
		}
		if err != nil {
			err = fmt.Errorf("reloading enrichment source %s: %w", s.Name, err)
		}
	}
	if err == nil {
		s.fails, s.retryAt = 0, time.Time{}
		s.okCount.Inc()
		s.successGauge.Set(float64(now.UnixNano()) / 1e9)
		s.failingGauge.Set(0)
		w.statusMu.Lock()
		s.status.State, s.status.Settling = StateOK, false
		s.status.LastAttempt, s.status.LastSuccess = now, now
		s.status.LastError, s.status.Failures, s.status.NextRetry = "", 0, time.Time{}
		s.status.Summary = sum
		w.statusMu.Unlock()
		w.log.InfoContext(ctx, "enrichment source reloaded", "source", s.Name,
			"loaded", sum.Loaded, "rejected", sum.Rejected, "summary", sum.Text)
		return nil
	}
	s.fails++
	s.retryAt = time.Time{}
	if w.retryMin > 0 {
		s.retryAt = now.Add(backoff(w.retryMin, w.retryMax, s.fails))
	}
	s.failCount.Inc()
	s.failingGauge.Set(1)
	w.statusMu.Lock()
	s.status.State, s.status.Settling = StateFailing, false
	s.status.LastAttempt, s.status.LastError = now, err.Error()
	s.status.Failures, s.status.NextRetry = s.fails, s.retryAt
	w.statusMu.Unlock()
	w.log.WarnContext(ctx, "enrichment reload failed; previous version stays in force", "source", s.Name,
		"err", err, "failures", s.fails, "loaded", sum.Loaded, "rejected", sum.Rejected)
	return err
}

// backoff is min·2^(n-1), capped at max.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

func (w *Watcher) setSettling(s *source, v bool) {
	w.statusMu.Lock()
	s.status.Settling = v
	w.statusMu.Unlock()
}

// Status returns every source's status, in registration order. It never waits
// for a load in progress.
func (w *Watcher) Status() []Status {
	w.statusMu.RLock()
	defer w.statusMu.RUnlock()
	out := make([]Status, len(w.sources))
	for i, s := range w.sources {
		out[i] = s.status
		out[i].Paths = slices.Clone(s.status.Paths)
	}
	return out
}

// missing describes the first file of set that could not be read ("" when all could).
func missing(set []fileState) string {
	for i := range set {
		if !set[i].present() {
			return set[i].err
		}
	}
	return ""
}

// quiet reports whether every file was last modified at least settle before now.
func quiet(set []fileState, now time.Time, settle time.Duration) bool {
	for i := range set {
		if now.Sub(set[i].mtime) < settle {
			return false
		}
	}
	return true
}

func anyRacy(set []fileState) bool {
	for i := range set {
		if set[i].racy {
			return true
		}
	}
	return false
}

// HangupTrigger returns a trigger channel for Options.Trigger that receives once
// for each burst of SIGHUP the process gets, and a stop function that stops
// listening (SIGHUP then has its default effect again); stop is idempotent.
func HangupTrigger() (trigger <-chan struct{}, stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	trigger, stopRelay := relay(ch)
	return trigger, func() {
		signal.Stop(ch)
		stopRelay()
	}
}

// relay forwards each value received from in as one pending trigger (bursts
// coalesce) until stop is called; stop waits for the relay goroutine to end.
func relay[T any](in <-chan T) (<-chan struct{}, func()) {
	out := make(chan struct{}, 1)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-done:
				return
			case <-in:
				select {
				case out <- struct{}{}:
				default: // a trigger is already pending
				}
			}
		}
	}()
	var once sync.Once
	return out, func() {
		once.Do(func() { close(done) })
		<-exited
	}
}
