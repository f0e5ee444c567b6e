package eval

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
)

// DefaultSlack is how far outside a campaign's time range an incident may fall and
// still count as overlapping it.
const DefaultSlack = time.Hour

// Scorer matches signals and incidents against a Truth. Add signals and incidents
// (in any order) then call Report. It keeps a few words per signal, not the signal.
type Scorer struct {
	truth    *Truth
	slack    time.Duration
	eps      []*Episode // campaigns then benign
	nc       int
	entities map[string][]int32
	evidence map[int64][]evRef

	signals   []sigRec
	byID      map[string]int
	incidents []incRec
}

type evRef struct {
	file string
	ep   int32
	tech string
}

type sigRec struct {
	time     time.Time
	detector string
	rule     string
	byEv     []int32 // episodes whose events the evidence cites
	byEnt    []int32 // episodes sharing an entity, whatever the time
	techs    []string
	evTechs  []string // techniques of the cited events, as "episode\x00TECHNIQUE"
}

type incRec struct {
	id         string
	start, end time.Time
	byEnt      []int32
	signals    []string
}

// NewScorer prepares the truth's indexes. slack < 0 is treated as 0.
func NewScorer(t *Truth, slack time.Duration) *Scorer {
	s := &Scorer{truth: t, slack: max(slack, 0), entities: map[string][]int32{}, evidence: map[int64][]evRef{}, byID: map[string]int{}}
	for i := range t.Campaigns {
		s.eps = append(s.eps, &t.Campaigns[i])
	}
	s.nc = len(s.eps)
	for i := range t.Benign {
		s.eps = append(s.eps, &t.Benign[i])
	}
	for i, ep := range s.eps {
		for _, en := range ep.Entities {
			for _, name := range append([]string{en.Value}, en.Aliases...) {
				for _, k := range truthKeys(detect.Entity{Kind: en.Kind, Value: name}) {
					if l := s.entities[k]; len(l) == 0 || l[len(l)-1] != int32(i) {
						s.entities[k] = append(l, int32(i))
					}
				}
			}
		}
		for _, ev := range ep.Events {
			s.evidence[ev.Offset] = append(s.evidence[ev.Offset], evRef{file: cleanPath(ev.File), ep: int32(i), tech: ev.Technique})
		}
	}
	return s
}

func cleanPath(p string) string {
	p = strings.ReplaceAll(strings.TrimSpace(p), "\\", "/")
	return strings.TrimPrefix(p, "./")
}

// truthKeys are the index keys of a ground-truth entity.
func truthKeys(en detect.Entity) []string {
	return entityKeys(en, func(u event.UserRef) []string {
		return []string{"user\x00" + u.Key(), "userbare\x00" + u.Name}
	})
}

// signalKeys are the keys a signal's entity is looked up by.
func signalKeys(en detect.Entity) []string {
	return entityKeys(en, func(u event.UserRef) []string {
		if u.Domain == "" {
			return []string{"userbare\x00" + u.Name}
		}
		return []string{"user\x00" + u.Key(), "user\x00" + u.Name}
	})
}

// entityKeys canonicalizes an entity into index keys; users are keyed by user,
// the one thing truth and signal keys do differently.
func entityKeys(en detect.Entity, user func(event.UserRef) []string) []string {
	kind := strings.ToLower(strings.TrimSpace(string(en.Kind)))
	v := strings.TrimSpace(en.Value)
	switch kind {
	case string(detect.EntityUser):
		u := event.ParseUser(v)
		if u.Name == "" {
			return nil
		}
		return user(u)
	case string(detect.EntityHost):
		h := event.CanonicalHost(v)
		if h.Short == "" {
			return nil
		}
		return []string{"host\x00" + h.Short}
	case string(detect.EntityIP):
		if a := event.ParseIP(v); a.IsValid() {
			return []string{"ip\x00" + a.String()}
		}
	}
	return []string{kind + "\x00" + strings.ToLower(v)}
}

func (s *Scorer) entityEpisodes(ents []detect.Entity, into []int32) []int32 {
	for _, en := range ents {
		for _, k := range signalKeys(en) {
			into = append(into, s.entities[k]...)
		}
	}
	slices.Sort(into)
	return slices.Compact(into)
}

// evidenceMatches says whether ref (Source as given to hunt) cites ev's file.
func sourceMatches(source, file string) bool {
	source = cleanPath(source)
	return source == file || strings.HasSuffix(source, "/"+file)
}

// AddSignal records one signal.
func (s *Scorer) AddSignal(sig *detect.Signal) {
	r := sigRec{time: sig.Time, detector: sig.DetectorID, rule: sig.RuleID, techs: slices.Clone(sig.Techniques)}
	for _, ref := range sig.Evidence {
		for _, e := range s.evidence[ref.Offset] {
			if sourceMatches(ref.Source, e.file) {
				r.byEv = append(r.byEv, e.ep)
				if e.tech != "" {
					r.evTechs = append(r.evTechs, fmt.Sprintf("%d\x00%s", e.ep, strings.ToUpper(e.tech)))
				}
			}
		}
	}
	slices.Sort(r.byEv)
	r.byEv = slices.Compact(r.byEv)
	r.byEnt = s.entityEpisodes(sig.Entities, nil)
	if sig.ID != "" {
		s.byID[sig.ID] = len(s.signals)
	}
	s.signals = append(s.signals, r)
}

// AddIncident records one incident.
func (s *Scorer) AddIncident(in *Incident) {
	s.incidents = append(s.incidents, incRec{id: in.ID, start: in.Start, end: in.End,
		byEnt: s.entityEpisodes(in.Entities, nil), signals: slices.Clone(in.SignalIDs)})
}

// inWindow reports whether [a, b] overlaps episode ep's range widened by the slack.
func (s *Scorer) inWindow(ep int32, a, b time.Time) bool {
	e := s.eps[ep]
	return !b.Before(e.Start.Add(-s.slack)) && !a.After(e.End.Add(s.slack))
}

// signalMatches returns the episodes sig matches by evidence, and by evidence or
// entity and time.
func (s *Scorer) signalMatches(r *sigRec) (byEv, anyM []int32) {
	anyM = slices.Clone(r.byEv)
	for _, ep := range r.byEnt {
		if s.inWindow(ep, r.time, r.time) {
			anyM = append(anyM, ep)
		}
	}
	slices.Sort(anyM)
	return r.byEv, slices.Compact(anyM)
}

// Ratio is N out of D; Value is null when D is 0.
type Ratio struct {
	N     int      `json:"n"`
	D     int      `json:"d"`
	Value *float64 `json:"value"`
}

func ratio(n, d int) Ratio {
	r := Ratio{N: n, D: d}
	if d > 0 {
		v := float64(n) / float64(d)
		r.Value = &v
	}
	return r
}

func (r Ratio) String() string {
	if r.Value == nil {
		return fmt.Sprintf("n/a (%d/%d)", r.N, r.D)
	}
	return fmt.Sprintf("%.3f (%d/%d)", *r.Value, r.N, r.D)
}

// Report is the evaluation's result.
type Report struct {
	Generator            string            `json:"generator,omitempty"`
	SlackSeconds         float64           `json:"slack_seconds"`
	Signals              int               `json:"signals"`
	Incidents            int               `json:"incidents"`
	IncidentsFromSignals bool              `json:"incidents_from_signals"` // no incidents in the results: each signal counted as one
	ReductionRatio       *float64          `json:"reduction_ratio"`        // signals / incidents
	CampaignRecall       Ratio             `json:"campaign_recall"`
	EvidenceRecall       Ratio             `json:"evidence_recall"`
	IncidentPrecision    Ratio             `json:"incident_precision"`
	BenignIncidents      int               `json:"benign_incidents"`    // match only benign episodes
	UnmatchedIncidents   int               `json:"unmatched_incidents"` // match nothing labelled
	MedianTTDSeconds     *float64          `json:"median_time_to_detect_seconds"`
	TechniqueCoverage    Ratio             `json:"technique_coverage"`
	Campaigns            []CampaignResult  `json:"campaigns"`
	Detectors            []DetectorResult  `json:"detectors"`
	Techniques           []TechniqueResult `json:"techniques"`
	// Matches says what each given incident matched, in the order added (not
	// in the JSON report: for experiments that label incidents, like an analyst).
	Matches []IncidentMatch `json:"-"`
}

// IncidentMatch is what one incident matched.
type IncidentMatch struct {
	ID        string
	Campaigns []string // ids of the campaigns it overlaps
	Benign    bool     // it matches benign episodes only
}

// CampaignResult is one campaign's outcome.
type CampaignResult struct {
	ID               string     `json:"id"`
	Name             string     `json:"name,omitempty"`
	Start            time.Time  `json:"start"`
	Detected         bool       `json:"detected"`
	EvidenceDetected bool       `json:"evidence_detected"`
	FirstDetection   *time.Time `json:"first_detection,omitempty"`
	TTDSeconds       *float64   `json:"time_to_detect_seconds,omitempty"`
	Incidents        int        `json:"incidents"`
	Signals          int        `json:"signals"`
}

// DetectorResult is one detector's (or one Sigma rule's) precision and recall.
type DetectorResult struct {
	Detector  string `json:"detector"`
	Rule      string `json:"rule,omitempty"`
	Signals   int    `json:"signals"`
	Benign    int    `json:"benign"` // signals matching only benign episodes
	Precision Ratio  `json:"precision"`
	Recall    Ratio  `json:"recall"`
	// Campaigns are the ids of the campaigns its signals matched, in truth order.
	Campaigns []string `json:"campaigns"`
}

// TechniqueResult is one ATT&CK technique's coverage over the campaigns using it.
type TechniqueResult struct {
	Technique string `json:"technique"`
	Coverage  Ratio  `json:"coverage"` // campaigns where it was evidence-matched / campaigns listing it
}

// Report computes the metrics.
func (s *Scorer) Report() *Report {
	rep := &Report{Generator: s.truth.Generator, SlackSeconds: s.slack.Seconds(), Signals: len(s.signals)}
	nc := s.nc
	sigEv := make([][]int32, len(s.signals))
	sigAny := make([][]int32, len(s.signals))
	for i := range s.signals {
		sigEv[i], sigAny[i] = s.signalMatches(&s.signals[i])
	}

	// Incidents: given, or one per signal.
	type inc struct {
		id       string
		start    time.Time
		ev, any_ []int32
	}
	var incs []inc
	if len(s.incidents) == 0 {
		rep.IncidentsFromSignals = true
		for i, r := range s.signals {
			incs = append(incs, inc{start: r.time, ev: sigEv[i], any_: sigAny[i]})
		}
	} else {
		for _, in := range s.incidents {
			x := inc{id: in.id, start: in.start}
			var ents []int32
			ents = append(ents, in.byEnt...)
			for _, id := range in.signals {
				if j, ok := s.byID[id]; ok {
					x.ev = append(x.ev, sigEv[j]...)
					ents = append(ents, s.signals[j].byEnt...)
				}
			}
			x.any_ = append(x.any_, x.ev...)
			for _, ep := range ents {
				if s.inWindow(ep, in.start, in.end) {
					x.any_ = append(x.any_, ep)
				}
			}
			slices.Sort(x.ev)
			x.ev = slices.Compact(x.ev)
			slices.Sort(x.any_)
			x.any_ = slices.Compact(x.any_)
			incs = append(incs, x)
		}
	}
	rep.Incidents = len(incs)
	if len(incs) > 0 {
		v := float64(len(s.signals)) / float64(len(incs))
		rep.ReductionRatio = &v
	}

	camps := make([]CampaignResult, nc)
	for i := range nc {
		c := s.eps[i]
		camps[i] = CampaignResult{ID: c.ID, Name: c.Name, Start: c.Start}
	}
	matched := 0
	for _, x := range incs {
		hitCampaign := false
		m := IncidentMatch{ID: x.id}
		for _, ep := range x.any_ {
			if int(ep) >= nc {
				continue
			}
			hitCampaign = true
			m.Campaigns = append(m.Campaigns, s.eps[ep].ID)
			c := &camps[ep]
			c.Detected = true
			c.Incidents++
			if c.FirstDetection == nil || x.start.Before(*c.FirstDetection) {
				t := x.start
				c.FirstDetection = &t
			}
		}
		for _, ep := range x.ev {
			if int(ep) < nc {
				camps[ep].EvidenceDetected = true
			}
		}
		switch {
		case hitCampaign:
			matched++
		case len(x.any_) > 0:
			rep.BenignIncidents++
			m.Benign = true
		default:
			rep.UnmatchedIncidents++
		}
		if !rep.IncidentsFromSignals {
			rep.Matches = append(rep.Matches, m)
		}
	}
	rep.IncidentPrecision = ratio(matched, len(incs))

	var ttds []float64
	detected, evDetected := 0, 0
	for i := range camps {
		c := &camps[i]
		if c.Detected {
			detected++
			d := max(c.FirstDetection.Sub(c.Start), 0).Seconds()
			c.TTDSeconds = &d
			ttds = append(ttds, d)
		}
		if c.EvidenceDetected {
			evDetected++
		}
	}
	for i := range s.signals {
		for _, ep := range sigAny[i] {
			if int(ep) < nc {
				camps[ep].Signals++
			}
		}
	}
	rep.Campaigns = camps
	rep.CampaignRecall = ratio(detected, nc)
	rep.EvidenceRecall = ratio(evDetected, nc)
	if len(ttds) > 0 {
		sort.Float64s(ttds)
		m := ttds[len(ttds)/2]
		if len(ttds)%2 == 0 {
			m = (ttds[len(ttds)/2-1] + ttds[len(ttds)/2]) / 2
		}
		rep.MedianTTDSeconds = &m
	}

	rep.Detectors = s.detectorResults(sigAny)
	rep.Techniques, rep.TechniqueCoverage = s.techniqueResults(sigEv)
	return rep
}

func (s *Scorer) detectorResults(sigAny [][]int32) []DetectorResult {
	type acc struct {
		signals, matching, benign int
		camps                     map[int32]bool
	}
	groups := map[[2]string]*acc{}
	add := func(k [2]string, anyM []int32) {
		a := groups[k]
		if a == nil {
			a = &acc{camps: map[int32]bool{}}
			groups[k] = a
		}
		a.signals++
		camp := false
		for _, ep := range anyM {
			if int(ep) < s.nc {
				camp = true
				a.camps[ep] = true
			}
		}
		if camp {
			a.matching++
		} else if len(anyM) > 0 {
			a.benign++
		}
	}
	for i, r := range s.signals {
		add([2]string{r.detector, ""}, sigAny[i])
		if r.rule != "" {
			add([2]string{r.detector, r.rule}, sigAny[i])
		}
	}
	keys := make([][2]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	out := make([]DetectorResult, 0, len(keys))
	for _, k := range keys {
		a := groups[k]
		camps := []string{}
		for i := range int32(s.nc) {
			if a.camps[i] {
				camps = append(camps, s.truth.Campaigns[i].ID)
			}
		}
		out = append(out, DetectorResult{Detector: k[0], Rule: k[1], Signals: a.signals, Benign: a.benign,
			Precision: ratio(a.matching, a.signals), Recall: ratio(len(a.camps), s.nc), Campaigns: camps})
	}
	return out
}

// techniqueResults: a campaign's technique is covered when a signal's evidence
// cites one of the campaign's events labelled with that technique, or cites any
// event of the campaign and the signal itself names the technique (or its parent).
func (s *Scorer) techniqueResults(sigEv [][]int32) ([]TechniqueResult, Ratio) {
	covered := map[string]bool{} // "ep\x00tech"
	for i, r := range s.signals {
		for _, k := range r.evTechs {
			covered[k] = true
		}
		for _, ep := range sigEv[i] {
			for _, t := range r.techs {
				t = strings.ToUpper(strings.TrimSpace(t))
				for _, ct := range s.eps[ep].Techniques {
					ct = strings.ToUpper(ct)
					if t == ct || strings.HasPrefix(ct, t+".") {
						covered[fmt.Sprintf("%d\x00%s", ep, ct)] = true
					}
				}
			}
		}
	}
	type acc struct{ n, d int }
	per := map[string]*acc{}
	total, hit := 0, 0
	for i := range s.nc {
		seen := map[string]bool{}
		for _, t := range s.eps[i].Techniques {
			key := strings.ToUpper(t)
			if seen[key] {
				continue
			}
			seen[key] = true
			a := per[key]
			if a == nil {
				a = &acc{}
				per[key] = a
			}
			a.d++
			total++
			if covered[fmt.Sprintf("%d\x00%s", i, key)] {
				a.n++
				hit++
			}
		}
	}
	out := make([]TechniqueResult, 0, len(per))
	for t, a := range per {
		out = append(out, TechniqueResult{Technique: t, Coverage: ratio(a.n, a.d)})
	}
	slices.SortFunc(out, func(a, b TechniqueResult) int { return strings.Compare(a.Technique, b.Technique) })
	return out, ratio(hit, total)
}
