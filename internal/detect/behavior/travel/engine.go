package travel

import (
	"fmt"
	"io"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/detect/behavior"
)

// EngineID is the model's id in the behavioral engine.
const EngineID = "behavior.impossible_travel"

// EngineModel runs a Model inside the behavioral engine: it takes the engine's
// sign-in observations (KindAuth, with a source address) and emits its findings as
// signals. It implements behavior.Model and behavior.Normalizer.
type EngineModel struct {
	m *Model
}

// NewEngineModel returns the engine adapter of a new Model.
func NewEngineModel(cfg Config, geo Geo) (*EngineModel, error) {
	m, err := New(cfg, geo)
	if err != nil {
		return nil, err
	}
	return &EngineModel{m: m}, nil
}

// Model returns the wrapped model.
func (e *EngineModel) Model() *Model { return e.m }

// ID implements behavior.Model.
func (e *EngineModel) ID() string { return EngineID }

// Version implements behavior.Model.
func (e *EngineModel) Version() string { return Version }

func symStr(s behavior.Sym) string {
	if s == (behavior.Sym{}) {
		return ""
	}
	return s.Value()
}

// Observe implements behavior.Model.
func (e *EngineModel) Observe(o *behavior.Obs, out *behavior.Emitter) {
	if o.Kind != behavior.KindAuth || o.Fail || !o.SrcIP.IsValid() {
		return
	}
	l := Login{Time: time.Unix(0, o.Time).UTC(), User: symStr(o.User), IP: o.SrcIP, Success: true, Source: symStr(o.Source), EventID: o.EventID()}
	f, ok := e.m.Observe(l)
	if !ok {
		return
	}
	out.Emit(e.finding(&f, o))
}

// finding turns a finding into the engine's form.
func (e *EngineModel) finding(f *Finding, o *behavior.Obs) behavior.Finding {
	ents := []detect.Entity{{Kind: detect.EntityUser, Value: f.User}, {Kind: detect.EntityIP, Value: f.To.IP.String()}}
	ev := []detect.EvidenceRef{o.Evidence()}
	if f.Kind == KindAnonymizer {
		return behavior.Finding{Time: o.Time, RuleID: "impossible_travel.anonymizer",
			Title:    fmt.Sprintf("Sign-in through an anonymising network for %s", f.User),
			Severity: f.Severity, Confidence: f.Confidence, Tactics: []string{"defense-evasion"}, Techniques: []string{"T1090"},
			Entities: ents,
			Explain: detect.Explanation{Summary: f.Summary, Observed: fmt.Sprintf("%v: %v", f.To.IP, f.Anonymity),
				Features: []detect.Feature{{Name: "anonymity", Observed: fmt.Sprint(f.Anonymity)}}},
			Evidence: ev, Normal: feedbackKey(f.User, &f.To, true)}
	}
	ents = append(ents, detect.Entity{Kind: detect.EntityIP, Value: f.From.IP.String()})
	// The other sign-in: the one of the pair o is not.
	other := f.From
	if f.From.EventID == o.EventID() {
		other = f.To
	}
	if other.EventID != "" {
		ev = append(ev, detect.EvidenceRef{EventID: other.EventID, Time: other.Time, Source: other.Source})
	}
	return behavior.Finding{Time: o.Time, RuleID: "impossible_travel.speed",
		Title:    fmt.Sprintf("Impossible travel for %s: %s to %s", f.User, place1(&f.From), place1(&f.To)),
		Severity: f.Severity, Confidence: f.Confidence, Tactics: []string{"initial-access"}, Techniques: []string{"T1078"},
		Entities: ents,
		Explain: detect.Explanation{
			Summary:  f.Summary,
			Expected: fmt.Sprintf("at most %.0f km/h beyond %.0f km", e.m.cfg.MaxSpeedKmh, e.m.cfg.MinDistanceKm),
			Observed: fmt.Sprintf("%.0f km in %s (%.0f km/h)", f.DistanceKm, f.Elapsed, f.SpeedKmh),
			Score:    f.SpeedKmh,
			Features: []detect.Feature{
				{Name: "distance_km", Observed: fmt.Sprintf("%.0f", f.DistanceKm), Expected: fmt.Sprintf("great circle %.0f km minus radii %d and %d km", f.RawDistanceKm, f.From.AccuracyRadiusKm, f.To.AccuracyRadiusKm)},
				{Name: "elapsed", Observed: f.Elapsed.String()},
				{Name: "speed_kmh", Observed: fmt.Sprintf("%.0f", f.SpeedKmh)},
			},
		},
		Evidence: ev, Normal: feedbackKey(f.User, &f.To, false)}
}

// feedbackKey is what MarkNormal takes for a finding ending at to: the user and the
// country of the sign-in, or its network (AS) when asn is set (an anonymiser's
// exit is a network, not a place) or the country is unknown.
func feedbackKey(user string, to *Endpoint, asn bool) behavior.NormalKey {
	k := behavior.NormalKey{Entity: user, Attribute: to.Country}
	if (asn || k.Attribute == "") && to.ASN != 0 {
		k.Attribute = fmt.Sprintf("AS%d", to.ASN)
	}
	return k
}

func place1(e *Endpoint) string {
	p := place{city: e.City, country: e.Country, countryName: e.CountryName, lat: e.Latitude, lon: e.Longitude}
	return p.name()
}

// Advance implements behavior.Model: the model has no windows to close.
func (e *EngineModel) Advance(int64, *behavior.Emitter) {}

// Snapshot implements behavior.Model.
func (e *EngineModel) Snapshot(w io.Writer) error { return e.m.Snapshot(w) }

// Restore implements behavior.Model.
func (e *EngineModel) Restore(r io.Reader) error { return e.m.Restore(r) }

// Stats implements behavior.Model: users tracked and the bytes they hold (the
// measured per-user and per-place costs plus the strings).
func (e *EngineModel) Stats() behavior.ModelStats {
	e.m.mu.Lock()
	defer e.m.mu.Unlock()
	var b int64
	for n, u := range e.m.users {
		b += userBytes + int64(len(n))
		for i := range u.places {
			b += placeBytes + int64(len(u.places[i].eventID)+len(u.places[i].source))
		}
	}
	return behavior.ModelStats{Entities: len(e.m.users), Bytes: b, Trained: true}
}

// Costs behind Stats: a place's struct, and a user's record and map entry
// (TestMemoryPerUser checks the total).
const (
	placeBytes = 160
	userBytes  = 150
)

// MarkNormal implements behavior.Normalizer: attribute is a country code or AS
// number. until is ignored: the acceptance lasts for good (at most 32 per user).
func (e *EngineModel) MarkNormal(entity, attribute string, _ time.Time) bool {
	return e.m.MarkNormal(entity, attribute) == nil
}

var (
	_ behavior.Model      = (*EngineModel)(nil)
	_ behavior.Normalizer = (*EngineModel)(nil)
)
