package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sync"
	"text/tabwriter"
	"time"
)

// Point is one per-second sample of the server during the run.
type Point struct {
	Elapsed     float64 `json:"elapsed_s"`
	RecordsRate float64 `json:"records_per_s"` // processed since the previous point
	RSS         float64 `json:"rss_bytes"`
	Backlog     float64 `json:"backlog_bytes"`
}

// Report is a load run's outcome: what the clients saw and what the server's
// metrics say it did with it.
type Report struct {
	Target   string        `json:"target"`
	Rate     int           `json:"rate"` // offered records/s
	Duration time.Duration `json:"duration"`
	Clients  int           `json:"clients"`
	Batch    int           `json:"batch"`
	Gzip     bool          `json:"gzip"`
	Load     LoadResult    `json:"load"`

	OfferedRate  float64 `json:"offered_rate"`  // records/s the schedule offered
	AcceptedRate float64 `json:"accepted_rate"` // records/s acknowledged

	ProcessedDuringLoad int64         `json:"processed_during_load"` // records the stream processed while the load ran
	ProcessedRate       float64       `json:"processed_rate"`        // of those, per second of load
	Processed           int64         `json:"processed"`             // records processed by the end (after the drain)
	Drained             bool          `json:"drained"`               // processed caught up with accepted
	DrainTime           time.Duration `json:"drain_time"`            // from the end of the load to caught up (or the limit)
	Signals             int64         `json:"signals"`               // signals stored, every detector

	LatencyCount uint64    `json:"latency_count"` // per-event signals whose latency was observed
	LatencyP50   float64   `json:"latency_p50_s"`
	LatencyP99   float64   `json:"latency_p99_s"`
	Latency      Histogram `json:"latency_histogram"` // the run's observations

	PeakRSS      float64 `json:"peak_rss_bytes"`
	FinalRSS     float64 `json:"final_rss_bytes"`
	PeakBacklog  float64 `json:"peak_backlog_bytes"`
	FinalBacklog float64 `json:"final_backlog_bytes"` // after the drain
	LoadAverage  string  `json:"load_average,omitempty"`

	Timeline []Point `json:"timeline"`
}

// Targets are the figures a run must reach.
type Targets struct {
	MinRate float64       // records/s accepted and processed while the load ran
	MaxP99  time.Duration // event-to-signal latency
}

// Check lists the targets r misses (none: nil). The rates may fall short of
// MinRate by what is in flight when the load stops, a batch per client: the
// last answers come after the schedule's end, and the records of the last
// batches are processed after it (99,994/s over ten minutes at 100,000/s is
// 3,600 records, less than four batches of 1,000).
func (r *Report) Check(t Targets) []string {
	var miss []string
	slack := 0.0
	if secs := r.Duration.Seconds(); secs > 0 {
		slack = float64(r.Clients*r.Batch) / secs
	}
	if r.AcceptedRate+slack < t.MinRate {
		miss = append(miss, fmt.Sprintf("accepted %.0f records/s < %.0f", r.AcceptedRate, t.MinRate))
	}
	if r.ProcessedRate+slack < t.MinRate {
		miss = append(miss, fmt.Sprintf("processed %.0f records/s < %.0f", r.ProcessedRate, t.MinRate))
	}
	if !r.Drained {
		miss = append(miss, fmt.Sprintf("not drained: processed %d of %d accepted records", r.Processed, r.Load.Accepted))
	}
	switch {
	case r.LatencyCount == 0:
		miss = append(miss, "no signal latency observed")
	case t.MaxP99 > 0 && !(r.LatencyP99 <= t.MaxP99.Seconds()):
		miss = append(miss, fmt.Sprintf("p99 latency %s > %s", secs(r.LatencyP99), t.MaxP99))
	}
	if r.Load.Errors > 0 {
		miss = append(miss, fmt.Sprintf("%d requests failed: %s", r.Load.Errors, r.Load.FirstError))
	}
	return miss
}

// MeasureOptions configure Measure.
type MeasureOptions struct {
	Load    Options
	Metrics *Scraper
	// Drain is how long to wait after the load for the stream to process
	// what was accepted.
	Drain time.Duration
	// Every is the sampling period of RSS and backlog.
	Every time.Duration
}

// Measure runs the load and scrapes the server around and during it.
func Measure(ctx context.Context, o MeasureOptions) (*Report, error) {
	if o.Metrics == nil || o.Metrics.URL == "" {
		return nil, fmt.Errorf("measuring: the metrics URL is required")
	}
	if o.Every <= 0 {
		o.Every = time.Second
	}
	if err := o.Load.Validate(); err != nil {
		return nil, err
	}
	before, err := o.Metrics.Scrape(ctx)
	if err != nil {
		return nil, err
	}
	r := &Report{Target: o.Load.Target, Rate: o.Load.Rate, Duration: o.Load.Duration, Clients: o.Load.Clients, Batch: o.Load.Batch, Gzip: o.Load.Gzip,
		PeakRSS: before.RSS, PeakBacklog: before.Backlog}
	var mu sync.Mutex
	observe := func(s Sample, prev *Sample) {
		mu.Lock()
		defer mu.Unlock()
		r.PeakRSS, r.PeakBacklog = max(r.PeakRSS, s.RSS), max(r.PeakBacklog, s.Backlog)
		p := Point{Elapsed: s.Time.Sub(before.Time).Seconds(), RSS: s.RSS, Backlog: s.Backlog}
		if dt := s.Time.Sub(prev.Time).Seconds(); dt > 0 {
			p.RecordsRate = (s.Records - prev.Records) / dt
		}
		r.Timeline = append(r.Timeline, p)
		*prev = s
	}
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		prev := before
		tk := time.NewTicker(o.Every)
		defer tk.Stop()
		for {
			select {
			case <-sampleCtx.Done():
				return
			case <-tk.C:
				if s, err := o.Metrics.Scrape(sampleCtx); err == nil {
					observe(s, &prev)
				}
			}
		}
	}()
	res, err := Run(ctx, o.Load)
	loadEnd := time.Now()
	stopSampling()
	<-sampled
	if err != nil {
		return nil, err
	}
	r.Load = res
	secsLoad := res.Elapsed.Seconds()
	r.OfferedRate, r.AcceptedRate = float64(res.Offered)/secsLoad, float64(res.Accepted)/secsLoad
	atEnd, err := o.Metrics.Scrape(ctx)
	if err != nil {
		return nil, err
	}
	r.ProcessedDuringLoad = int64(atEnd.Records - before.Records)
	r.ProcessedRate = float64(r.ProcessedDuringLoad) / atEnd.Time.Sub(before.Time).Seconds()
	// Drain: wait until the stream processed what was accepted.
	last := atEnd
	prev := atEnd
	deadline := loadEnd.Add(o.Drain)
	for int64(last.Records-before.Records) < res.Accepted && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("draining: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
		s, err := o.Metrics.Scrape(ctx)
		if err != nil {
			return nil, err
		}
		last = s
		if s.Time.Sub(prev.Time) >= o.Every {
			observe(s, &prev)
		}
	}
	r.DrainTime = last.Time.Sub(loadEnd)
	// The records counter moves before a step's signals are stored: settle
	// until the signals and latency observations stop changing.
	for settle := time.Now().Add(5 * time.Second); time.Now().Before(settle); {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("draining: %w", ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
		s, err := o.Metrics.Scrape(ctx)
		if err != nil {
			return nil, err
		}
		stable := s.Signals == last.Signals && s.Latency.Count == last.Latency.Count && s.Records == last.Records
		last = s
		if stable {
			break
		}
	}
	r.Processed = int64(last.Records - before.Records)
	r.Drained = r.Processed >= res.Accepted
	r.Signals = int64(last.Signals - before.Signals)
	r.FinalRSS, r.FinalBacklog = last.RSS, last.Backlog
	r.PeakRSS, r.PeakBacklog = max(r.PeakRSS, last.RSS, atEnd.RSS), max(r.PeakBacklog, last.Backlog, atEnd.Backlog)
	if r.Latency, err = last.Latency.Sub(before.Latency); err != nil {
		return nil, fmt.Errorf("measuring latency: %w", err)
	}
	r.LatencyCount = r.Latency.Count
	r.LatencyP50, r.LatencyP99 = r.Latency.Quantile(0.5), r.Latency.Quantile(0.99)
	return r, nil
}

// WriteTable prints r for people.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	row("target", "%s (%d clients, batches of %d, gzip %t)", r.Target, r.Clients, r.Batch, r.Gzip)
	if r.LoadAverage != "" {
		row("load average before", "%s", r.LoadAverage)
	}
	row("offered", "%d records in %s (%.0f/s; schedule %d/s)", r.Load.Offered, r.Load.Elapsed.Round(time.Millisecond), r.OfferedRate, r.Rate)
	row("accepted", "%d (%.0f/s), %d rejected, %d throttled answers, %d failed requests", r.Load.Accepted, r.AcceptedRate, r.Load.Rejected, r.Load.Throttled, r.Load.Errors)
	row("request round trip", "p50 %s, p99 %s", r.Load.RequestP50.Round(time.Microsecond), r.Load.RequestP99.Round(time.Microsecond))
	row("processed during load", "%d (%.0f/s)", r.ProcessedDuringLoad, r.ProcessedRate)
	row("processed", "%d (drained %t after %s)", r.Processed, r.Drained, r.DrainTime.Round(time.Millisecond))
	row("signals", "%d (%d built to match a rule)", r.Signals, r.Load.Matching)
	row("event-to-signal latency", "p50 %s, p99 %s (%d observations)", secs(r.LatencyP50), secs(r.LatencyP99), r.LatencyCount)
	row("resident memory", "peak %s, final %s", mib(r.PeakRSS), mib(r.FinalRSS))
	row("WAL backlog", "peak %s, final %s", mib(r.PeakBacklog), mib(r.FinalBacklog))
	if r.Load.FirstError != "" {
		row("first error", "%s", r.Load.FirstError)
	}
	return tw.Flush()
}

// WriteJSON prints r as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// MarshalJSON writes NaN latencies (no observation) as null.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	c := *r
	out := struct {
		*plain
		LatencyP50 *float64 `json:"latency_p50_s"`
		LatencyP99 *float64 `json:"latency_p99_s"`
	}{plain: (*plain)(&c)}
	if !math.IsNaN(r.LatencyP50) {
		out.LatencyP50 = &c.LatencyP50
	}
	if !math.IsNaN(r.LatencyP99) {
		out.LatencyP99 = &c.LatencyP99
	}
	return json.Marshal(out)
}

func secs(s float64) string {
	if math.IsNaN(s) {
		return "n/a"
	}
	return (time.Duration(s * float64(time.Second))).Round(100 * time.Microsecond).String()
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
