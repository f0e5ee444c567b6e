package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric names the scraper reads.
const (
	MetricLatency = "vigil_stream_signal_latency_seconds"
	MetricRecords = "vigil_stream_records_total"
	MetricSignals = "vigil_stream_signals_total"
	MetricBacklog = "vigil_wal_backlog_bytes"
	MetricRSS     = "process_resident_memory_bytes"
)

// maxMetricsBody bounds a /metrics answer.
const maxMetricsBody = 16 << 20

// Scraper reads a Vigil server's Prometheus metrics.
type Scraper struct {
	URL    string       // the /metrics URL
	Token  string       // an api-scope token with the viewer role
	Client *http.Client // nil: a client with a 10 s timeout
}

// Histogram is a cumulative histogram: Counts[i] observations <= Bounds[i]
// (finite bounds only: Count includes the +Inf bucket's).
type Histogram struct {
	Bounds []float64 `json:"bounds"`
	Counts []uint64  `json:"counts"`
	Count  uint64    `json:"count"`
	Sum    float64   `json:"sum"`
}

// Sample is one scrape.
type Sample struct {
	Time    time.Time
	Records float64   // vigil_stream_records_total
	Signals float64   // vigil_stream_signals_total, every detector
	Latency Histogram // vigil_stream_signal_latency_seconds
	RSS     float64   // process_resident_memory_bytes
	Backlog float64   // vigil_wal_backlog_bytes
}

// Scrape fetches and parses the metrics once.
func (s *Scraper) Scrape(ctx context.Context) (Sample, error) {
	hc := s.Client
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return Sample{}, fmt.Errorf("building the metrics request: %w", err)
	}
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := hc.Do(req)
	if err != nil {
		return Sample{}, fmt.Errorf("scraping %s: %w", s.URL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return Sample{}, fmt.Errorf("scraping %s: status %d", s.URL, resp.StatusCode)
	}
	sm, err := ParseMetrics(io.LimitReader(resp.Body, maxMetricsBody))
	if err != nil {
		return Sample{}, fmt.Errorf("scraping %s: %w", s.URL, err)
	}
	sm.Time = time.Now()
	return sm, nil
}

// ParseMetrics reads the Prometheus text exposition format and picks the
// metrics a load test needs; a missing metric is left zero, a malformed
// exposition is an error.
func ParseMetrics(r io.Reader) (Sample, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return Sample{}, fmt.Errorf("parsing metrics: %w", err)
	}
	var s Sample
	sum := func(name string) float64 {
		f := fams[name]
		if f == nil {
			return 0
		}
		var v float64
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				v += m.GetCounter().GetValue()
			case m.Gauge != nil:
				v += m.GetGauge().GetValue()
			case m.Untyped != nil:
				v += m.GetUntyped().GetValue()
			}
		}
		return v
	}
	s.Records, s.Signals, s.RSS, s.Backlog = sum(MetricRecords), sum(MetricSignals), sum(MetricRSS), sum(MetricBacklog)
	if f := fams[MetricLatency]; f != nil && len(f.GetMetric()) > 0 {
		if h := f.GetMetric()[0].GetHistogram(); h != nil {
			s.Latency = histogram(h)
		}
	}
	return s, nil
}

func histogram(h *dto.Histogram) Histogram {
	out := Histogram{Count: h.GetSampleCount(), Sum: h.GetSampleSum()}
	for _, b := range h.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue // Count holds it (and JSON has no +Inf)
		}
		out.Bounds = append(out.Bounds, b.GetUpperBound())
		out.Counts = append(out.Counts, b.GetCumulativeCount())
	}
	return out
}

// Sub returns the observations of h made since prev (same buckets).
func (h Histogram) Sub(prev Histogram) (Histogram, error) {
	if len(prev.Bounds) == 0 {
		return h, nil
	}
	if !slices.Equal(h.Bounds, prev.Bounds) {
		return Histogram{}, errors.New("histogram buckets changed between scrapes")
	}
	out := Histogram{Bounds: h.Bounds, Counts: make([]uint64, len(h.Counts)), Count: h.Count - prev.Count, Sum: h.Sum - prev.Sum}
	for i := range h.Counts {
		if h.Counts[i] < prev.Counts[i] {
			return Histogram{}, errors.New("histogram counts went down between scrapes (a restart?)")
		}
		out.Counts[i] = h.Counts[i] - prev.Counts[i]
	}
	return out, nil
}

// Quantile estimates the q-quantile (0..1) as Prometheus' histogram_quantile
// does: linear interpolation inside the bucket that holds it; NaN without
// observations, the largest finite bound when it falls in the +Inf bucket.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count == 0 || len(h.Bounds) == 0 || math.IsNaN(q) {
		return math.NaN()
	}
	q = min(max(q, 0), 1)
	rank := q * float64(h.Count)
	lower, prevCount := 0.0, uint64(0)
	for i, ub := range h.Bounds {
		c := h.Counts[i]
		if float64(c) >= rank {
			if math.IsInf(ub, 1) {
				return lower
			}
			inBucket := float64(c - prevCount)
			if inBucket == 0 {
				return ub
			}
			return lower + (ub-lower)*(rank-float64(prevCount))/inBucket
		}
		lower, prevCount = ub, c
	}
	return lower // observations above the last explicit bound
}
