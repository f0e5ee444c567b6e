package seasonal

import (
	"fmt"
	"math"
)

// Limits on Config and on inputs. They bound what New and Restore can be asked
// to allocate.
const (
	MaxMetrics    = 64
	MaxTracked    = 1 << 26
	MaxEntityLen  = 1024
	MaxEvidenceID = 256
	// MaxEvidence is the number of sample evidence ids kept per hour.
	MaxEvidence = 5
)

// Metric identifies a metric: an index into Config.Metrics.
type Metric uint8

// Indices of the metrics of DefaultConfig.
const (
	FailedLogins Metric = iota
	BytesOut
	DNSQueries
	APIErrors
	FilesTouched
	Logons
	Processes
)

// TimeOfDay is the name MarkNormal takes for the time-of-day profile.
const TimeOfDay = "time_of_day"

// MetricSpec configures one metric.
type MetricSpec struct {
	// Name is the stable id of the metric ("failed_logins").
	Name string
	// Unit names one amount in sentences ("failed logins", "bytes").
	Unit string
	// High turns on spike findings; MinHigh is the least hourly amount that
	// can raise one (a floor on the absolute excess).
	High    bool
	MinHigh float64
	// Low turns on drop findings for steadily busy entities: both the slot's
	// and the entity's all-hours expected amount must be >= MinLowExpected
	// and the slot's log-space sigma <= MaxLowSigma.
	Low            bool
	MinLowExpected float64
	MaxLowSigma    float64
	// Activity makes events of this metric count as activity of the entity
	// for the time-of-day profile.
	Activity bool
}

// Config tunes a Model. Start from DefaultConfig.
type Config struct {
	// Metrics, indexed by Metric; at most MaxMetrics, names unique.
	Metrics []MetricSpec
	// MaxSeries caps the tracked (entity, metric) pairs, MaxProfiles the
	// tracked time-of-day profiles (1..MaxTracked each).
	MaxSeries   int
	MaxProfiles int
	// EvictAfterDays drops a record whose entity has not been seen for this
	// many days of event time (checked at each hour sweep).
	EvictAfterDays int
	// WarmupDays of history of a pair before any volume finding.
	WarmupDays int
	// HighP and LowP are the tail probabilities under which an hour is
	// flagged HIGH or LOW.
	HighP float64
	LowP  float64
	// ShrinkK is the weight, in pseudo-observations, of the pooled group in
	// a slot's estimate (and of the all-hours baseline in a group's).
	ShrinkK float64
	// SlotHorizon is the effective memory of a slot in observations
	// (weeks): alpha = max(1/n, 1/SlotHorizon). Groups and the all-hours
	// baseline use SlotHorizon weeks of their hours.
	SlotHorizon float64
	// SigmaFloor is the least log-space sigma used in z scores.
	SigmaFloor float64
	// FlaggedWeight scales the learning rate of hours that raised a finding
	// (0 = never learn them; 1 = learn as any hour).
	FlaggedWeight float64
	// DormantHours: zero hours are learned only while the entity had
	// activity within this many hours.
	DormantHours int
	// DayStart and DayEnd bound the "day" hours (UTC) of the pooled groups:
	// DayStart <= hour < DayEnd.
	DayStart, DayEnd int

	// ProfileWarmupDays and ProfileMinActiveHours gate time-of-day findings.
	ProfileWarmupDays     int
	ProfileMinActiveHours int
	// ProfileHalfLifeWeeks is the half-life of the activity histogram,
	// 1..16 weeks.
	ProfileHalfLifeWeeks float64
	// RareP is the probability of activity under which an active hour is
	// rare.
	RareP float64
	// SessionGapHours: rare active hours at most this far apart belong to
	// one session, which raises at most one finding.
	SessionGapHours int
}

// DefaultConfig returns the defaults: the seven standard metrics, 1M series,
// 256k profiles, 7 days of warm-up, p < 1e-5 for volume findings and p < 1%
// for a rare hour after 14 days and 40 active hours.
func DefaultConfig() Config {
	return Config{
		Metrics: []MetricSpec{
			FailedLogins: {Name: "failed_logins", Unit: "failed logins", High: true, MinHigh: 10},
			BytesOut:     {Name: "bytes_out", Unit: "bytes out", High: true, MinHigh: 50 << 20, Activity: true},
			DNSQueries:   {Name: "dns_queries", Unit: "DNS queries", High: true, MinHigh: 500, Activity: true},
			APIErrors:    {Name: "api_errors", Unit: "API errors", High: true, MinHigh: 20},
			FilesTouched: {Name: "files_touched", Unit: "files touched", High: true, MinHigh: 200, Activity: true},
			Logons: {Name: "logons", Unit: "logons", High: true, MinHigh: 50, Activity: true,
				Low: true, MinLowExpected: 20, MaxLowSigma: 0.7},
			Processes: {Name: "processes", Unit: "processes", High: true, MinHigh: 500, Activity: true,
				Low: true, MinLowExpected: 20, MaxLowSigma: 0.7},
		},
		MaxSeries:             1 << 20,
		MaxProfiles:           1 << 18,
		EvictAfterDays:        35,
		WarmupDays:            7,
		HighP:                 1e-5,
		LowP:                  1e-5,
		ShrinkK:               3,
		SlotHorizon:           8,
		SigmaFloor:            0.3,
		FlaggedWeight:         0.1,
		DormantHours:          7 * 24,
		DayStart:              8,
		DayEnd:                18,
		ProfileWarmupDays:     14,
		ProfileMinActiveHours: 40,
		ProfileHalfLifeWeeks:  8,
		RareP:                 0.01,
		SessionGapHours:       1,
	}
}

func finitePos(x float64) bool { return x > 0 && !math.IsInf(x, 0) }

func prob(x float64) bool { return x > 0 && x < 1 }

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if len(c.Metrics) == 0 || len(c.Metrics) > MaxMetrics {
		return fmt.Errorf("seasonal config: %d metrics outside 1..%d", len(c.Metrics), MaxMetrics)
	}
	seen := make(map[string]bool, len(c.Metrics))
	for i, m := range c.Metrics {
		switch {
		case m.Name == "" || m.Name == TimeOfDay:
			return fmt.Errorf("seasonal config: metric %d: name %q is empty or reserved", i, m.Name)
		case seen[m.Name]:
			return fmt.Errorf("seasonal config: metric %q: duplicate name", m.Name)
		case !(m.MinHigh >= 0) || math.IsInf(m.MinHigh, 0):
			return fmt.Errorf("seasonal config: metric %q: min_high %v must be finite and >= 0", m.Name, m.MinHigh)
		case m.Low && !(finitePos(m.MinLowExpected) && finitePos(m.MaxLowSigma)):
			return fmt.Errorf("seasonal config: metric %q: low needs positive min_low_expected and max_low_sigma", m.Name)
		}
		seen[m.Name] = true
	}
	switch {
	case c.MaxSeries < 1 || c.MaxSeries > MaxTracked:
		return fmt.Errorf("seasonal config: max_series %d outside 1..%d", c.MaxSeries, MaxTracked)
	case c.MaxProfiles < 1 || c.MaxProfiles > MaxTracked:
		return fmt.Errorf("seasonal config: max_profiles %d outside 1..%d", c.MaxProfiles, MaxTracked)
	case c.EvictAfterDays < 1 || c.EvictAfterDays > 3650:
		return fmt.Errorf("seasonal config: evict_after_days %d outside 1..3650", c.EvictAfterDays)
	case c.WarmupDays < 0 || c.WarmupDays > 365:
		return fmt.Errorf("seasonal config: warmup_days %d outside 0..365", c.WarmupDays)
	case !prob(c.HighP) || !prob(c.LowP):
		return fmt.Errorf("seasonal config: high_p %v and low_p %v must be in (0, 1)", c.HighP, c.LowP)
	case !(c.ShrinkK >= 0) || c.ShrinkK > 1e6:
		return fmt.Errorf("seasonal config: shrink_k %v outside [0, 1e6]", c.ShrinkK)
	case !(c.SlotHorizon >= 1) || c.SlotHorizon > 1e6:
		return fmt.Errorf("seasonal config: slot_horizon %v outside [1, 1e6]", c.SlotHorizon)
	case !finitePos(c.SigmaFloor) || c.SigmaFloor > 10:
		return fmt.Errorf("seasonal config: sigma_floor %v outside (0, 10]", c.SigmaFloor)
	case !(c.FlaggedWeight >= 0 && c.FlaggedWeight <= 1):
		return fmt.Errorf("seasonal config: flagged_weight %v outside [0, 1]", c.FlaggedWeight)
	case c.DormantHours < 1 || c.DormantHours > 24*365:
		return fmt.Errorf("seasonal config: dormant_hours %d outside 1..%d", c.DormantHours, 24*365)
	case c.DayStart < 0 || c.DayEnd > 24 || c.DayStart >= c.DayEnd:
		return fmt.Errorf("seasonal config: day hours %d..%d invalid", c.DayStart, c.DayEnd)
	case c.ProfileWarmupDays < 0 || c.ProfileWarmupDays > 365:
		return fmt.Errorf("seasonal config: profile_warmup_days %d outside 0..365", c.ProfileWarmupDays)
	case c.ProfileMinActiveHours < 0 || c.ProfileMinActiveHours > 1<<20:
		return fmt.Errorf("seasonal config: profile_min_active_hours %d outside 0..%d", c.ProfileMinActiveHours, 1<<20)
	case !(c.ProfileHalfLifeWeeks >= 1 && c.ProfileHalfLifeWeeks <= 16):
		return fmt.Errorf("seasonal config: profile_half_life_weeks %v outside [1, 16]", c.ProfileHalfLifeWeeks)
	case !prob(c.RareP):
		return fmt.Errorf("seasonal config: rare_p %v must be in (0, 1)", c.RareP)
	case c.SessionGapHours < 0 || c.SessionGapHours > 168:
		return fmt.Errorf("seasonal config: session_gap_hours %d outside 0..168", c.SessionGapHours)
	}
	return nil
}
