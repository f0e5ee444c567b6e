package pipeline

import (
	"sort"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
)

// Stats summarises a run: what was read, decoded, rejected and why.
type Stats struct {
	Sources  int64 `json:"sources"`
	Streams  int64 `json:"streams"`
	Events   int64 `json:"events"`
	Rejected int64 `json:"rejected"`
	Signals  int64 `json:"signals"`
	// OutOfRange counts decoded events outside the run's event-time window
	// (Options.Since/Until), not analysed.
	OutOfRange int64 `json:"out_of_range,omitempty"`
	// EventsByFormat and StreamsByFormat count decoded streams and events per format id.
	EventsByFormat  map[string]int64 `json:"events_by_format"`
	StreamsByFormat map[string]int64 `json:"streams_by_format"`
	// RejectedByReason counts rejected records by "format/reason".
	RejectedByReason map[string]int64 `json:"rejected_by_reason"`
	// Examples keeps the first few rejected records of each "format/reason".
	Examples map[string][]string `json:"reject_examples,omitempty"`
	// PerStream lists every decoded stream with its format and counts, by name.
	PerStream []StreamStat `json:"streams_decoded,omitempty"`
	// Skipped lists streams that were not decoded at all, and why.
	Skipped []SkippedStream `json:"skipped,omitempty"`
	// SkippedByReason counts skipped streams by reason (unknown-format, unreadable, ...).
	SkippedByReason map[string]int64 `json:"skipped_by_reason"`
	Elapsed         time.Duration    `json:"elapsed_ns"`
}

// StreamStat is what one decoded stream yielded.
type StreamStat struct {
	Name     string `json:"name"`
	Format   string `json:"format"`
	Events   int64  `json:"events"`
	Rejected int64  `json:"rejected"`
}

// SkippedStream is a stream that yielded nothing: unrecognised, unreadable, empty.
type SkippedStream struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
	Error  string `json:"error,omitempty"`
}

// EventsPerSecond is the run's throughput.
func (s *Stats) EventsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Events) / s.Elapsed.Seconds()
}

type collector struct {
	mu          sync.Mutex
	st          Stats
	maxExamples int
}

func newCollector(maxExamples int) *collector {
	return &collector{maxExamples: maxExamples, st: Stats{
		EventsByFormat: map[string]int64{}, StreamsByFormat: map[string]int64{},
		RejectedByReason: map[string]int64{}, Examples: map[string][]string{},
		SkippedByReason: map[string]int64{},
	}}
}

func (c *collector) source() {
	c.mu.Lock()
	c.st.Sources++
	c.mu.Unlock()
}

func (c *collector) stream(name, format string, events, rejected int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st.PerStream = append(c.st.PerStream, StreamStat{Name: name, Format: format, Events: events, Rejected: rejected})
	c.st.Streams++
	c.st.StreamsByFormat[format]++
	c.st.EventsByFormat[format] += events
	c.st.Events += events
}

func (c *collector) outOfRange(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st.OutOfRange += n
}

func (c *collector) streamSkipped(name, reason, _ string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st.Streams++
	s := SkippedStream{Name: name, Reason: reason}
	if err != nil {
		s.Error = err.Error()
	}
	c.st.Skipped = append(c.st.Skipped, s)
	c.st.SkippedByReason[reason]++
}

// sourceFailed records a source that could not be opened at all.
func (c *collector) sourceFailed(name, reason string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st.Skipped = append(c.st.Skipped, SkippedStream{Name: name, Reason: reason, Error: err.Error()})
	c.st.SkippedByReason[reason]++
}

func (c *collector) reject(r *decode.RecordError) {
	key := r.Format + "/" + r.Reason
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st.Rejected++
	c.st.RejectedByReason[key]++
	if len(c.st.Examples[key]) < c.maxExamples {
		c.st.Examples[key] = append(c.st.Examples[key], r.Error())
	}
}

func (c *collector) signal() {
	c.mu.Lock()
	c.st.Signals++
	c.mu.Unlock()
}

func (c *collector) snapshot() *Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.st
	st.EventsByFormat = clone(c.st.EventsByFormat)
	st.StreamsByFormat = clone(c.st.StreamsByFormat)
	st.RejectedByReason = clone(c.st.RejectedByReason)
	st.SkippedByReason = clone(c.st.SkippedByReason)
	st.Examples = make(map[string][]string, len(c.st.Examples))
	for k, v := range c.st.Examples {
		st.Examples[k] = append([]string(nil), v...)
	}
	st.Skipped = append([]SkippedStream(nil), c.st.Skipped...)
	st.PerStream = append([]StreamStat(nil), c.st.PerStream...)
	sort.Slice(st.PerStream, func(i, j int) bool { return st.PerStream[i].Name < st.PerStream[j].Name })
	sort.Slice(st.Skipped, func(i, j int) bool { return st.Skipped[i].Name < st.Skipped[j].Name })
	return &st
}

func clone(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
