package detect

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsec/vigil/internal/event"
)

// Detector examines events and emits signals.
//
// Detect is called with batches of events in source order, concurrently from
// several goroutines on different batches: a detector that keeps state must make
// that safe (and key its state by entity so it can be partitioned). It must not
// retain the events or their strings after returning (copy what a signal keeps), and
// must use event time only, never the wall clock. It returns an error only for a
// failure of the detector itself, not for an event it does not care about.
type Detector interface {
	ID() string      // stable, namespaced: "sigma", "behavior.first_seen", "ioc"
	Version() string // stamped on every signal it emits
	Detect(ctx context.Context, batch []*event.Event, emit func(Signal)) error
}

// EngineOptions configures an Engine.
type EngineOptions struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are not registered
}

// Engine fans every batch out to each detector, stamps detector id and version on
// the signals, isolates detector failures (an error or panic in one detector is
// logged and counted; the others still run), and counts per detector.
type Engine struct {
	detectors []Detector
	log       *slog.Logger

	events   *prometheus.CounterVec
	signals  *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	stats    []detectorStats
}

type detectorStats struct {
	events, signals, errors prometheus.Counter
	duration                prometheus.Observer
}

// NewEngine builds an engine over detectors. Detector ids must be unique.
func NewEngine(detectors []Detector, opts EngineOptions) (*Engine, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	seen := map[string]bool{}
	for _, d := range detectors {
		if seen[d.ID()] {
			return nil, fmt.Errorf("registering detector %q: duplicate id", d.ID())
		}
		seen[d.ID()] = true
	}
	e := &Engine{
		detectors: detectors,
		log:       log,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_detector_events_total", Help: "Events evaluated by each detector.",
		}, []string{"detector"}),
		signals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_detector_signals_total", Help: "Signals emitted by each detector.",
		}, []string{"detector"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_detector_errors_total", Help: "Batches a detector failed on (errors and panics).",
		}, []string{"detector"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_detector_batch_seconds", Help: "Time a detector spends on one batch.",
			Buckets: prometheus.ExponentialBuckets(1e-5, 4, 10),
		}, []string{"detector"}),
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{e.events, e.signals, e.errors, e.duration} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("registering detector metrics: %w", err)
			}
		}
	}
	for _, d := range detectors {
		id := d.ID()
		e.stats = append(e.stats, detectorStats{
			events: e.events.WithLabelValues(id), signals: e.signals.WithLabelValues(id),
			errors: e.errors.WithLabelValues(id), duration: e.duration.WithLabelValues(id),
		})
	}
	return e, nil
}

// Detectors returns the engine's detectors in registration order.
func (e *Engine) Detectors() []Detector { return e.detectors }

// Process runs every detector over batch and calls emit for each signal. emit is
// called from the calling goroutine only. Process returns ctx.Err() if ctx is done.
func (e *Engine) Process(ctx context.Context, batch []*event.Event, emit func(Signal)) error {
	for i, d := range e.detectors {
		if err := ctx.Err(); err != nil {
			return err
		}
		st := &e.stats[i]
		start := time.Now()
		n := 0
		err := e.run(ctx, d, batch, func(s Signal) {
			s.DetectorID, s.DetectorVersion = d.ID(), d.Version()
			s.Entities = dropEmptyEntities(s.Entities)
			s.Confidence = clampUnit(s.Confidence)
			if math.IsNaN(s.Explanation.Score) || math.IsInf(s.Explanation.Score, 0) {
				s.Explanation.Score = 0
			}
			if s.ID == "" {
				s.ID = SignalID(s.DetectorID, s.RuleID, s.Evidence)
			}
			n++
			emit(s)
		})
		st.duration.Observe(time.Since(start).Seconds())
		st.events.Add(float64(len(batch)))
		st.signals.Add(float64(n))
		if err != nil {
			st.errors.Inc()
			e.log.ErrorContext(ctx, "detector failed on a batch", "detector", d.ID(), "events", len(batch), "err", err)
		}
	}
	return nil
}

func (e *Engine) run(ctx context.Context, d Detector, batch []*event.Event, emit func(Signal)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("detector %s panicked: %v", d.ID(), r)
		}
	}()
	return d.Detect(ctx, batch, emit)
}

// clampUnit keeps a confidence within [0, 1]; NaN becomes 0. A detector's arithmetic
// slip must not make the signal unprintable (JSON has no NaN) or unstorable.
func clampUnit(f float64) float64 {
	switch {
	case math.IsNaN(f) || f < 0:
		return 0
	case f > 1:
		return 1
	}
	return f
}

// dropEmptyEntities removes entities with no kind or value: a detector that could not
// fill one (an event without a user) must not make the signal unstorable.
func dropEmptyEntities(es []Entity) []Entity {
	out := es[:0]
	for _, e := range es {
		if e.Kind != "" && e.Value != "" {
			out = append(out, e)
		}
	}
	return out
}

// Evidence returns the evidence reference for an event.
func Evidence(e *event.Event) EvidenceRef {
	return EvidenceRef{EventID: e.ID(), Time: e.Timestamp, Source: e.Origin.Source, Offset: e.Origin.Offset}
}
