package behavior

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/detect/behavior/seasonal"
)

// Seasonal wires the seasonal volume and time-of-day models (package seasonal)
// into the engine. Per entity and metric it counts, per event-time hour:
//
//	failed_logins  per user, per target host and per source address (spraying, brute force)
//	logons         per user (the user's time-of-day profile) and per host
//	bytes_out      per internal source address, flows to public addresses (exfiltration)
//	dns_queries    per client (tunnels, DGA bursts)
//	api_errors     per cloud principal or Kubernetes account (discovery by trial and error)
//	files_touched  per user (collection from shares)
//	processes      per host
//
// and reports hours far above (or, for steady busy entities, below) the entity's
// own hour-of-week baseline, and users active at hours they almost never are.
type Seasonal struct {
	m    *seasonal.Model
	buf  []seasonal.Finding
	hour int64 // event-time hour last advanced to
}

// NewSeasonal builds the adapter with the seasonal package's defaults; time of
// day is learned from user logons and file accesses only (hosts have no office hours).
func NewSeasonal() (*Seasonal, error) {
	cfg := seasonal.DefaultConfig()
	for i := range cfg.Metrics {
		cfg.Metrics[i].Activity = false
	}
	cfg.Metrics[seasonal.Logons].Activity = true
	cfg.Metrics[seasonal.FilesTouched].Activity = true
	m, err := seasonal.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("building seasonal model: %w", err)
	}
	return &Seasonal{m: m}, nil
}

// ID implements Model.
func (*Seasonal) ID() string { return "behavior.seasonal" }

// Version implements Model.
func (*Seasonal) Version() string { return strconv.Itoa(seasonal.Version) }

// Entity key prefixes: one model holds users, hosts and addresses apart.
const (
	prefUser = "user:"
	prefHost = "host:"
	prefIP   = "ip:"
)

// Observe implements Model.
func (s *Seasonal) Observe(o *Obs, _ *Emitter) {
	feed := func(prefix string, ent Sym, metric seasonal.Metric, amount float64) {
		if ent == (Sym{}) || amount <= 0 {
			return
		}
		name := str(ent)
		if len(name)+len(prefix) > seasonal.MaxEntityLen {
			return
		}
		_ = s.m.Observe(seasonal.Event{Entity: prefix + name, Metric: metric, Time: unixTime(o.Time), Amount: amount, Evidence: evidenceKey(o)})
	}
	feedIP := func(metric seasonal.Metric, amount float64) {
		if o.SrcIP.IsValid() {
			_ = s.m.Observe(seasonal.Event{Entity: prefIP + o.SrcIP.String(), Metric: metric, Time: unixTime(o.Time), Amount: amount, Evidence: evidenceKey(o)})
		}
	}
	switch o.Kind {
	case KindAuth:
		if o.Fail {
			feed(prefUser, o.User, seasonal.FailedLogins, 1)
			feed(prefHost, o.Host, seasonal.FailedLogins, 1)
			feedIP(seasonal.FailedLogins, 1)
			return
		}
		feed(prefUser, o.User, seasonal.Logons, 1)
		feed(prefHost, o.Host, seasonal.Logons, 1)
	case KindConn:
		if o.Process == (Sym{}) && o.BytesOut > 0 && o.SrcIP.IsPrivate() && o.DstIP.IsValid() && !o.DstIP.IsPrivate() && !o.DstIP.IsLoopback() {
			feedIP(seasonal.BytesOut, float64(o.BytesOut))
		}
	case KindDNS:
		if o.Host != (Sym{}) {
			return // endpoint DNS events repeat what the resolver logs per address
		}
		feedIP(seasonal.DNSQueries, 1)
	case KindCloud, KindKube:
		if o.Fail {
			feed(prefUser, o.User, seasonal.APIErrors, 1)
		}
	case KindFile:
		feed(prefUser, o.User, seasonal.FilesTouched, 1)
	case KindProcess:
		feed(prefHost, o.Host, seasonal.Processes, 1)
	}
}

// evidenceKey packs what an EvidenceRef needs into the model's opaque id.
func evidenceKey(o *Obs) string {
	src := str(o.Source)
	if len(src) > 160 {
		src = src[len(src)-160:]
	}
	return strconv.FormatInt(o.Time, 36) + "|" + strconv.FormatInt(o.Offset, 36) + "|" + strconv.FormatInt(o.Record, 36) + "|" + src
}

func evidenceRef(key string) (detect.EvidenceRef, bool) {
	parts := strings.SplitN(key, "|", 4)
	if len(parts) != 4 {
		return detect.EvidenceRef{}, false
	}
	t, err1 := strconv.ParseInt(parts[0], 36, 64)
	off, err2 := strconv.ParseInt(parts[1], 36, 64)
	rec, err3 := strconv.ParseInt(parts[2], 36, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return detect.EvidenceRef{}, false
	}
	o := Obs{Time: t, Offset: off, Record: rec, Source: intern(parts[3])}
	return o.Evidence(), true
}

// Advance implements Model: hours close as event time passes them.
func (s *Seasonal) Advance(now int64, out *Emitter) {
	if h := now / int64(time.Hour); h != s.hour {
		s.hour = h
		_ = s.m.Advance(unixTime(now))
		s.drain(out)
	}
}

// Flush implements Flusher.
func (s *Seasonal) Flush(out *Emitter) {
	s.m.Flush()
	s.drain(out)
}

func (s *Seasonal) drain(out *Emitter) {
	s.buf = s.m.Drain(s.buf[:0])
	for i := range s.buf {
		s.emit(&s.buf[i], out)
	}
}

// metricSignal says how a metric's findings read as signals.
type metricSignal struct {
	sev          detect.Severity
	tactic, tech string
	title        string
}

var metricSignals = map[string]metricSignal{
	"failed_logins": {sev: detect.SeverityMedium, tactic: "credential-access", tech: "T1110", title: "Failed logins far above baseline"},
	"bytes_out":     {sev: detect.SeverityMedium, tactic: "exfiltration", tech: "T1048", title: "Outbound volume far above baseline"},
	"dns_queries":   {sev: detect.SeverityLow, tactic: "command-and-control", tech: "T1071.004", title: "DNS queries far above baseline"},
	"api_errors":    {sev: detect.SeverityLow, tactic: "discovery", tech: "T1580", title: "API errors far above baseline"},
	"files_touched": {sev: detect.SeverityMedium, tactic: "collection", tech: "T1039", title: "File accesses far above baseline"},
	"logons":        {sev: detect.SeverityLow, tactic: "lateral-movement", tech: "T1021", title: "Logons far above baseline"},
	"processes":     {sev: detect.SeverityLow, tactic: "execution", tech: "T1059", title: "Process starts far above baseline"},
}

func (s *Seasonal) emit(f *seasonal.Finding, out *Emitter) {
	kind, name, _ := strings.Cut(f.Entity, ":")
	ent := detect.Entity{Kind: detect.EntityKind(kind), Value: name}
	if kind == "ip" {
		ent.Kind = detect.EntityIP
	}
	var ev []detect.EvidenceRef
	for _, k := range f.Evidence {
		if r, ok := evidenceRef(k); ok {
			ev = append(ev, r)
		}
	}
	sentence := strings.Replace(f.Message, f.Entity, name, 1)
	fin := Finding{
		Time: f.End.UnixNano() - 1, Confidence: f.Confidence, Entities: []detect.Entity{ent}, Evidence: ev,
		Normal: NormalKey{Entity: name, Attribute: f.Metric},
		Explain: detect.Explanation{
			Summary:     sentence,
			Score:       -math.Log10(max(f.Probability, 1e-300)),
			Probability: f.Probability,
		},
	}
	hour := f.Start.Format("Mon 15:04") + "-" + f.End.Format("15:04") + " UTC"
	if f.Direction == seasonal.Rare {
		fin.RuleID = "seasonal.time_of_day"
		fin.Normal.Attribute = seasonal.TimeOfDay
		fin.Title = "Activity at an unusual hour for " + name
		fin.Severity = detect.SeverityLow
		fin.Tactics, fin.Techniques = []string{"initial-access"}, []string{"T1078"}
		fin.Explain.Expected = fmt.Sprintf("active in this hour of the week with probability %.2g%% (%.0f days of history)", 100*f.Expected, f.HistoryDays)
		fin.Explain.Observed = "active " + hour
		fin.Explain.Features = []detect.Feature{{Name: "time_of_day", Observed: hour, Expected: fmt.Sprintf("P(active) %.2g%%", 100*f.Expected), Weight: 1}}
		out.Emit(fin)
		return
	}
	ms := metricSignals[f.Metric]
	fin.RuleID = "seasonal." + f.Metric + "." + f.Direction.String()
	fin.Severity, fin.Title = ms.sev, ms.title
	fin.Tactics, fin.Techniques = []string{ms.tactic}, []string{ms.tech}
	if f.Direction == seasonal.Low {
		fin.Severity = detect.SeverityLow
		fin.Title = strings.Replace(ms.title, "far above", "far below", 1)
		fin.Tactics, fin.Techniques = []string{"defense-evasion"}, []string{"T1562"}
	}
	fin.Title += " for " + name
	fin.Explain.Expected = fmt.Sprintf("%s %s: expected %.4g, p5-p95 %.4g-%.4g (%.0f days of history)", f.Metric, hour, f.Expected, f.RangeLow, f.RangeHigh, f.HistoryDays)
	fin.Explain.Observed = fmt.Sprintf("%s %s: %.4g", f.Metric, hour, f.Observed)
	fin.Explain.Features = []detect.Feature{{Name: f.Metric, Observed: strconv.FormatFloat(f.Observed, 'g', 6, 64),
		Expected: fmt.Sprintf("%.4g (p5-p95 %.4g-%.4g)", f.Expected, f.RangeLow, f.RangeHigh), Weight: 1}}
	out.Emit(fin)
}

// MarkNormal implements Normalizer: attribute is a metric name ("failed_logins")
// or "time_of_day"; entity is a user, host or address as signals name it.
func (s *Seasonal) MarkNormal(entity, attribute string, until time.Time) bool {
	for _, p := range []string{prefUser, prefHost, prefIP} {
		if s.m.MarkNormal(p+entity, attribute, until) == nil {
			return true
		}
	}
	return false
}

// Snapshot implements Model.
func (s *Seasonal) Snapshot(w io.Writer) error {
	if err := s.m.Snapshot(w); err != nil {
		return fmt.Errorf("snapshotting seasonal model: %w", err)
	}
	return nil
}

// Restore implements Model.
func (s *Seasonal) Restore(r io.Reader) error {
	if err := s.m.Restore(r); err != nil {
		return fmt.Errorf("restoring seasonal model: %w", err)
	}
	return nil
}

// Stats implements Model. Bytes use the package's measured costs (1,102 bytes
// per series, about 780 per time-of-day profile).
func (s *Seasonal) Stats() ModelStats {
	st := s.m.Stats()
	return ModelStats{Entities: st.Series + st.Profiles, Bytes: int64(st.Series)*1102 + int64(st.Profiles)*780, Trained: st.Events > 0}
}

var (
	_ Model      = (*Seasonal)(nil)
	_ Normalizer = (*Seasonal)(nil)
	_ Flusher    = (*Seasonal)(nil)
)
