package seasonal

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Version of the detector, stamped on every Finding.
const Version = 1

// Model names stamped on findings.
const (
	ModelVolume    = "behavior.seasonal.volume"
	ModelTimeOfDay = "behavior.seasonal.time_of_day"
)

// ErrNotTracked is returned by MarkNormal for a pair the model does not track
// (never seen, or evicted).
var ErrNotTracked = errors.New("not tracked")

// Event is one observation fed by the engine, in event-time order.
type Event struct {
	// Entity is the key of the entity ("alice@corp.example", a host name);
	// 1..MaxEntityLen bytes. The model keeps the string (not a copy).
	Entity string
	// Metric is an index into Config.Metrics.
	Metric Metric
	// Time is the event time.
	Time time.Time
	// Amount is 1 for counts or the size (bytes); finite and >= 0.
	Amount float64
	// Evidence is an optional opaque id of the event; up to MaxEvidence are
	// kept per hour as samples.
	Evidence string
}

// Direction of a finding.
type Direction uint8

// Directions.
const (
	High Direction = iota + 1 // more than the baseline
	Low                       // less than the baseline (a silent busy entity)
	Rare                      // activity at an hour the user is almost never active
)

// String returns the direction name used in findings ("high", "low", "rare_hour").
func (d Direction) String() string {
	switch d {
	case High:
		return "high"
	case Low:
		return "low"
	case Rare:
		return "rare_hour"
	}
	return "unknown"
}

// Finding is one signal with its explanation.
type Finding struct {
	Model   string
	Version int
	Entity  string
	// Metric is the metric name, or TimeOfDay.
	Metric    string
	Direction Direction
	// Start and End bound the hour (UTC) the finding is about.
	Start, End time.Time
	// Observed amount in the hour (volume) or 1 (time of day).
	Observed float64
	// Expected is the baseline's central value (volume: the geometric-mean
	// expected amount; time of day: the probability of activity).
	Expected float64
	// RangeLow and RangeHigh: the baseline's p5-p95 (volume only).
	RangeLow, RangeHigh float64
	// Probability of an hour at least this extreme under the baseline.
	Probability float64
	// Confidence in [0, 1], growing with history.
	Confidence float64
	// HistoryDays of the pair at the time of the finding.
	HistoryDays float64
	// Evidence holds up to MaxEvidence sample event ids.
	Evidence []string
	// Message is the plain explanation.
	Message string
}

// Stats counts what the model did.
type Stats struct {
	Events, Late, Findings         uint64
	Series, Profiles               int
	EvictedSeries, EvictedProfiles uint64
}

// Model is the seasonal volume and time-of-day model. Not safe for concurrent
// use.
type Model struct {
	cfg     Config
	byName  map[string]Metric
	vol     volume
	prof    profiles
	clock   int32 // current hour (event time); 0 = none yet
	pending []Finding
	batch   []Finding
	stats   Stats
}

// New returns a Model for a valid cfg.
func New(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Metrics = slices.Clone(cfg.Metrics)
	m := &Model{cfg: cfg, byName: make(map[string]Metric, len(cfg.Metrics))}
	for i, s := range cfg.Metrics {
		m.byName[s.Name] = Metric(i)
	}
	m.vol.init(&m.cfg)
	m.prof.init(&m.cfg)
	return m, nil
}

// MetricID returns the Metric of a name.
func (m *Model) MetricID(name string) (Metric, bool) {
	id, ok := m.byName[name]
	return id, ok
}

// Stats returns counters and sizes.
func (m *Model) Stats() Stats {
	s := m.stats
	s.Series = m.vol.count
	s.Profiles = len(m.prof.index)
	s.EvictedSeries = m.vol.evicted
	s.EvictedProfiles = m.prof.evicted
	return s
}

const maxHour = math.MaxInt32 - 24*400

// hourOf converts an event time into hours since the Unix epoch.
func hourOf(t time.Time) (int32, error) {
	u := t.Unix()
	if u < 3600 || u/3600 >= maxHour {
		return 0, fmt.Errorf("event time %s outside 1970..2200", t.UTC().Format(time.RFC3339))
	}
	return int32(u / 3600), nil
}

// hourStart is the time of hour h.
func hourStart(h int32) time.Time { return time.Unix(int64(h)*3600, 0).UTC() }

// how is the hour of the week of h, Monday 00:00 UTC = 0.
func how(h int32) int { return int((h + 72) % 168) }

// Observe feeds one event. Events older than the model's current hour are
// late: counted and ignored. Findings are queued for Drain.
func (m *Model) Observe(e Event) error {
	if e.Entity == "" || len(e.Entity) > MaxEntityLen {
		return fmt.Errorf("observing event: entity of %d bytes outside 1..%d", len(e.Entity), MaxEntityLen)
	}
	if int(e.Metric) >= len(m.cfg.Metrics) {
		return fmt.Errorf("observing event: metric %d unknown", e.Metric)
	}
	if !(e.Amount >= 0) || math.IsInf(e.Amount, 0) {
		return fmt.Errorf("observing event: amount %v must be finite and >= 0", e.Amount)
	}
	if len(e.Evidence) > MaxEvidenceID {
		return fmt.Errorf("observing event: evidence id of %d bytes over %d", len(e.Evidence), MaxEvidenceID)
	}
	h, err := hourOf(e.Time)
	if err != nil {
		return fmt.Errorf("observing event: %w", err)
	}
	m.stats.Events++
	if h < m.clock {
		m.stats.Late++
		return nil
	}
	if h > m.clock {
		m.advance(h)
	}
	m.vol.observe(m, e, h)
	if m.cfg.Metrics[e.Metric].Activity {
		m.prof.observe(m, e, h)
	}
	return nil
}

// Advance moves the model's clock to t (event time of the stream, e.g. a
// watermark), closing the hours before t's hour. Earlier times are ignored.
func (m *Model) Advance(t time.Time) error {
	h, err := hourOf(t)
	if err != nil {
		return fmt.Errorf("advancing: %w", err)
	}
	if h > m.clock {
		m.advance(h)
	}
	return nil
}

// Flush closes the current hour of every series as if the stream's time had
// passed it (end of stream). Later events of that hour are late.
func (m *Model) Flush() {
	if m.clock != 0 {
		m.advance(m.clock + 1)
	}
}

// advance closes every hour < h, then sets the clock to h.
func (m *Model) advance(h int32) {
	if m.clock != 0 {
		m.batch = m.batch[:0]
		m.vol.sweep(m, h)
		m.prof.sweep(m, h)
		slices.SortFunc(m.batch, compareFindings)
		m.pending = append(m.pending, m.batch...)
	}
	m.clock = h
}

func compareFindings(a, b Finding) int {
	return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Entity, b.Entity),
		cmp.Compare(a.Metric, b.Metric), cmp.Compare(a.Direction, b.Direction))
}

// emit queues a finding; sweep findings go through batch to be sorted.
func (m *Model) emit(f Finding, inSweep bool) {
	m.stats.Findings++
	if inSweep {
		m.batch = append(m.batch, f)
		return
	}
	m.pending = append(m.pending, f)
}

// Drain appends the queued findings to dst, in a deterministic order, and
// empties the queue.
func (m *Model) Drain(dst []Finding) []Finding {
	dst = append(dst, m.pending...)
	clear(m.pending)
	m.pending = m.pending[:0]
	return dst
}

// MarkNormal records the feedback "this is normal" for entity and what (a
// metric name or TimeOfDay): findings of the pair are suppressed for hours
// before until (event time) and those hours are learned with full weight;
// the last flagged hour of the pair is re-learned as normal.
func (m *Model) MarkNormal(entity, what string, until time.Time) error {
	h, err := hourOf(until)
	if err != nil {
		return fmt.Errorf("marking normal: %w", err)
	}
	if until.Unix()%3600 != 0 {
		h++ // the hour holding until is covered
	}
	if what == TimeOfDay {
		if !m.prof.markNormal(m, entity, h) {
			return fmt.Errorf("marking %s of %q normal: %w", what, entity, ErrNotTracked)
		}
		return nil
	}
	id, ok := m.byName[what]
	if !ok {
		return fmt.Errorf("marking normal: unknown metric %q", what)
	}
	if !m.vol.markNormal(m, entity, id, h) {
		return fmt.Errorf("marking %s of %q normal: %w", what, entity, ErrNotTracked)
	}
	return nil
}

// normalTail is P(Z >= z) for a standard normal Z.
func normalTail(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }
