// Package governance holds the reports that audit Vigil itself rather than the
// estate it watches. Bias (vigil report bias) asks whether detections fall on
// some departments, roles, regions or peer groups more than their activity
// explains.
//
// For each dimension and group it counts users, events (the activity that
// normalises the rates), signals and incidents, and for every detector, for all
// signals together and for incidents it compares the group's rate per event with
// the rate of the rest of the organisation.
//
// The comparison is the exact conditional test for two Poisson rates: given the
// n signals (or incidents) that fall on the group or on the rest, the group's
// count is Binomial(n, p) under equal rates, with p the group's share of the
// events. The p-value is two-sided, twice the smaller binomial tail. This test
// was chosen over a Wald interval on the log rate ratio because detector counts
// per group are small (often under ten, sometimes zero): the Wald interval
// needs a continuity correction to exist at all when a count is zero and is
// anti-conservative at small counts, while the conditional binomial is exact at
// every count and needs neither the rest's rate nor a correction.
//
// A cell is flagged as a disparity when its rate ratio is at least
// Options.RatioThreshold (or at most its inverse) AND its Benjamini-Hochberg
// adjusted p-value (q) is at most Options.Alpha. The BH family is every tested
// cell of the report, across all dimensions, groups, detectors and measures.
// Groups with fewer than Options.MinGroupUsers users are reported with their
// counts and rates but are not tested, so they are never flagged and do not
// enlarge the family.
//
// Attribution: a signal or incident counts for a group when any of its users
// is in the group, so one that names users of two groups counts for both. Its
// "rest" is then every attributed signal that names no user of the group, which
// keeps group and rest disjoint for the test (a cross-group signal counts for the
// group it is tested for, never against it). Signals and incidents that name no
// user are counted as unattributed and left out of every rate.
package governance

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/enrich/identity"
)

// Group names for users the directory does not know and for attributes it
// leaves empty.
const (
	UnknownGroup = "(unknown)"
	UnsetGroup   = "(unset)"
)

// Dimensions of the report, in report order.
const (
	DimDepartment = "department"
	DimRole       = "role"
	DimRegion     = "region"
	DimPeerGroup  = "peer_group"
)

var dimensions = [...]string{DimDepartment, DimRole, DimRegion, DimPeerGroup}

// Measures a cell compares.
const (
	MeasureSignals   = "signals"
	MeasureIncidents = "incidents"
)

// Attributes are what the report groups a user by.
type Attributes struct {
	// User is the person's canonical name; names that resolve to the same User
	// (aliases) are one user. Empty means the looked-up name itself.
	User       string
	Department string
	Role       string
	Region     string // the office, or whatever locates the person
	PeerGroup  string
}

// LookupFunc resolves a user name to its attributes; ok is false for names the
// directory does not know (they go to the UnknownGroup of every dimension).
type LookupFunc func(user string) (Attributes, bool)

// DirectoryLookup adapts an identity directory: Region is the person's office,
// PeerGroup their peer group (explicit, else department/role). A nil directory
// knows nobody.
func DirectoryLookup(d *identity.Directory) LookupFunc {
	return func(user string) (Attributes, bool) {
		p, ok := d.Lookup(user)
		if !ok {
			return Attributes{}, false
		}
		return Attributes{User: p.User, Department: p.Department, Role: p.Role, Region: p.Office, PeerGroup: p.PeerGroup()}, true
	}
}

// Options tune the test. Zero fields take the defaults.
type Options struct {
	// RatioThreshold: a rate ratio at least this, or at most its inverse, is a
	// disparity when significant. Default 2.
	RatioThreshold float64 `json:"ratio_threshold"`
	// Alpha is the false discovery rate the Benjamini-Hochberg procedure
	// controls. Default 0.05.
	Alpha float64 `json:"alpha"`
	// MinGroupUsers: smaller groups are reported but never tested or flagged.
	// Default 5.
	MinGroupUsers int `json:"min_group_users"`
	// ByRule keys the per-detector cells by detector/rule instead of detector.
	ByRule bool `json:"by_rule,omitempty"`
}

// Defaults of Options.
const (
	DefaultRatioThreshold = 2.0
	DefaultAlpha          = 0.05
	DefaultMinGroupUsers  = 5
)

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{RatioThreshold: DefaultRatioThreshold, Alpha: DefaultAlpha, MinGroupUsers: DefaultMinGroupUsers}
}

// Validate reports the first option out of range. Zero values are valid (they
// mean the default).
func (o Options) Validate() error {
	switch {
	case math.IsNaN(o.RatioThreshold) || math.IsInf(o.RatioThreshold, 0) || o.RatioThreshold < 0 || (o.RatioThreshold != 0 && o.RatioThreshold <= 1):
		return fmt.Errorf("validating bias options: ratio_threshold %v must be above 1", o.RatioThreshold)
	case math.IsNaN(o.Alpha) || o.Alpha < 0 || o.Alpha >= 1:
		return fmt.Errorf("validating bias options: alpha %v must be in (0, 1)", o.Alpha)
	case o.MinGroupUsers < 0:
		return fmt.Errorf("validating bias options: min_group_users %d must not be negative", o.MinGroupUsers)
	}
	return nil
}

// withDefaults fills zero fields, and replaces invalid ones, with the defaults,
// so Bias never runs on nonsense.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if !(o.RatioThreshold > 1) || math.IsInf(o.RatioThreshold, 0) {
		o.RatioThreshold = d.RatioThreshold
	}
	if !(o.Alpha > 0 && o.Alpha < 1) {
		o.Alpha = d.Alpha
	}
	if o.MinGroupUsers <= 0 {
		o.MinGroupUsers = d.MinGroupUsers
	}
	return o
}

// BiasInput is what Bias reads.
type BiasInput struct {
	Signals   []detect.Signal
	Incidents []correlate.Incident
	// Lookup resolves users; nil knows nobody.
	Lookup LookupFunc
	// Activity is the number of events per user, the normaliser of every rate.
	// Users who appear only here (no signal, no incident) are counted; users who
	// appear only in signals or incidents are counted with 0 events.
	Activity map[string]int64
	Options  Options
}

// BiasReport is the result. Rates are per 10,000 events and nil where the
// events are 0.
type BiasReport struct {
	Options Options `json:"options"`
	Users   int     `json:"users"`
	Events  int64   `json:"events"`
	// Signals and Incidents count those attributed to at least one user; the
	// unattributed ones name no user and are in no rate.
	Signals               int64 `json:"signals"`
	Incidents             int64 `json:"incidents"`
	UnattributedSignals   int64 `json:"unattributed_signals"`
	UnattributedIncidents int64 `json:"unattributed_incidents"`
	// UnknownUsers are users the lookup does not know; UsersWithoutActivity have
	// no events (their signals still count, in groups whose rate may be nil).
	UnknownUsers         int `json:"unknown_users"`
	UsersWithoutActivity int `json:"users_without_activity"`
	// NegativeActivity counts activity entries below zero, taken as 0.
	NegativeActivity int `json:"negative_activity,omitempty"`
	// Detectors are the per-detector cell keys (detector, or detector/rule).
	Detectors []string `json:"detectors"`
	// Tests is the size of the Benjamini-Hochberg family.
	Tests      int         `json:"tests"`
	Dimensions []Dimension `json:"dimensions"`
	// Flags are the flagged cells, by dimension, then q, group and detector.
	Flags []Flag `json:"flags"`
}

// Dimension is one way of grouping users.
type Dimension struct {
	Name   string  `json:"name"`
	Groups []Group `json:"groups"` // by name
}

// Group is one department, role, region or peer group.
type Group struct {
	Name         string   `json:"name"`
	Users        int      `json:"users"`
	Events       int64    `json:"events"`
	Signals      int64    `json:"signals"`
	Incidents    int64    `json:"incidents"`
	SignalRate   *float64 `json:"signal_rate"`
	IncidentRate *float64 `json:"incident_rate"`
	// Tested is false for groups under Options.MinGroupUsers: their cells carry
	// counts and rates but no test and never a flag.
	Tested bool `json:"tested"`
	// Cells: all signals, incidents, then each detector in Detectors order with
	// at least one signal anywhere.
	Cells []Cell `json:"cells"`
}

// Cell compares one group with the rest of the organisation on one measure.
type Cell struct {
	Measure  string `json:"measure"`            // signals or incidents
	Detector string `json:"detector,omitempty"` // empty: every detector
	Count    int64  `json:"count"`
	// Total is the count of the group plus the rest (the test's n).
	Total      int64    `json:"total"`
	Rate       *float64 `json:"rate"`
	RestCount  int64    `json:"rest_count"`
	RestEvents int64    `json:"rest_events"`
	RestRate   *float64 `json:"rest_rate"`
	// Expected is the group's count under equal rates: Total times the group's
	// share of all events.
	Expected float64 `json:"expected"`
	// RateRatio is Rate / RestRate; nil when undefined or infinite (see
	// RatioInfinite: the rest has none, the group some).
	RateRatio     *float64 `json:"rate_ratio"`
	RatioInfinite bool     `json:"ratio_infinite,omitempty"`
	// P is the two-sided exact conditional binomial p-value, Q the
	// Benjamini-Hochberg adjusted one; both nil when not tested (see Note).
	P       *float64 `json:"p"`
	Q       *float64 `json:"q"`
	Flagged bool     `json:"flagged"`
	// Direction is "over" or "under" for a flagged cell.
	Direction string `json:"direction,omitempty"`
	// Note says why an unflagged cell is not flagged.
	Note string `json:"note,omitempty"`
}

// Flag is one flagged disparity.
type Flag struct {
	Dimension string  `json:"dimension"`
	Group     string  `json:"group"`
	Measure   string  `json:"measure"`
	Detector  string  `json:"detector,omitempty"`
	Direction string  `json:"direction"`
	Count     int64   `json:"count"`
	Expected  float64 `json:"expected"`
	// RateRatio is nil when infinite.
	RateRatio *float64 `json:"rate_ratio"`
	P         float64  `json:"p"`
	Q         float64  `json:"q"`
}

// Notes on cells that are not flagged.
const (
	NoteSmallGroup     = "group below min_group_users: not tested"
	NoteNoCounts       = "nothing to compare"
	NoteNoActivity     = "no activity recorded for the group: not tested"
	NoteNoRest         = "no activity recorded outside the group: not tested"
	NoteWithinRatio    = "rate ratio within the threshold"
	NoteNotSignificant = "not significant after Benjamini-Hochberg"
)

type user struct {
	attrs  Attributes
	known  bool
	events int64
}

type record struct {
	key   string // detector key; "" for incidents
	users []int  // indices into users, distinct
}

// Bias computes the report. It never fails: malformed input (negative
// activity, duplicate records, options out of range) is counted or replaced by
// defaults.
func Bias(in BiasInput) BiasReport {
	opts := in.Options.withDefaults()
	rep := BiasReport{Options: opts, Detectors: []string{}, Dimensions: []Dimension{}, Flags: []Flag{}}

	var users []user
	byName := map[string]int{}  // looked-up name → user index
	byCanon := map[string]int{} // canonical name → user index
	resolve := func(name string) int {
		if i, ok := byName[name]; ok {
			return i
		}
		var a Attributes
		ok := false
		if in.Lookup != nil {
			a, ok = in.Lookup(name)
		}
		canon := name
		if ok && a.User != "" {
			canon = a.User
		}
		i, seen := byCanon[canon]
		if !seen {
			i = len(users)
			a.User = canon
			users = append(users, user{attrs: a, known: ok})
			byCanon[canon] = i
		}
		byName[name] = i
		return i
	}

	for _, name := range sortedKeys(in.Activity) {
		i := resolve(name)
		n := in.Activity[name]
		if n < 0 {
			rep.NegativeActivity++
			continue
		}
		users[i].events = satAdd(users[i].events, n)
	}

	sigs, sigUsers := collectSignals(in.Signals, opts.ByRule, resolve)
	incs := collectIncidents(in.Incidents, sigUsers, resolve)

	for _, s := range sigs {
		if len(s.users) == 0 {
			rep.UnattributedSignals++
		} else {
			rep.Signals++
		}
	}
	for _, r := range incs {
		if len(r.users) == 0 {
			rep.UnattributedIncidents++
		} else {
			rep.Incidents++
		}
	}
	rep.Users = len(users)
	for _, u := range users {
		rep.Events = satAdd(rep.Events, u.events)
		if !u.known {
			rep.UnknownUsers++
		}
		if u.events == 0 {
			rep.UsersWithoutActivity++
		}
	}
	keyTotals := map[string]int64{}
	for _, s := range sigs {
		if len(s.users) > 0 {
			keyTotals[s.key]++
		}
	}
	rep.Detectors = sortedKeys(keyTotals)

	for _, dim := range dimensions {
		rep.Dimensions = append(rep.Dimensions, buildDimension(dim, users, sigs, incs, rep, keyTotals, opts))
	}
	applyBH(&rep, opts)
	return rep
}

func collectSignals(in []detect.Signal, byRule bool, resolve func(string) int) ([]record, map[string][]int) {
	seen := map[string]bool{}
	sigUsers := map[string][]int{}
	var out []record
	for i := range in {
		s := &in[i]
		if s.ID != "" {
			if seen[s.ID] {
				continue
			}
			seen[s.ID] = true
		}
		key := s.DetectorID
		if byRule && s.RuleID != "" {
			key += "/" + s.RuleID
		}
		us := userIndices(s.Entities, nil, resolve)
		if s.ID != "" {
			sigUsers[s.ID] = us
		}
		out = append(out, record{key: key, users: us})
	}
	return out, sigUsers
}

// collectIncidents keeps the newest version of each incident, drops merged ones
// (their signals live on in the incident they joined) and takes an incident's
// users from its entities and from those of its signals in the input (the
// incident's entity list is capped).
func collectIncidents(in []correlate.Incident, sigUsers map[string][]int, resolve func(string) int) []record {
	newest := map[string]int{}
	var order []int
	for i := range in {
		id := in[i].ID
		if id == "" {
			order = append(order, i)
			continue
		}
		if j, ok := newest[id]; ok {
			if in[i].Version > in[j].Version {
				newest[id] = i
			}
			continue
		}
		newest[id] = i
		order = append(order, i)
	}
	var out []record
	for _, i := range order {
		if in[i].ID != "" {
			i = newest[in[i].ID]
		}
		inc := &in[i]
		if inc.Status == correlate.StatusMerged {
			continue
		}
		us := userIndices(inc.Entities, nil, resolve)
		for _, id := range inc.SignalIDs {
			for _, u := range sigUsers[id] {
				if !slices.Contains(us, u) {
					us = append(us, u)
				}
			}
		}
		out = append(out, record{users: us})
	}
	return out
}

func userIndices(ents []detect.Entity, us []int, resolve func(string) int) []int {
	for _, e := range ents {
		if e.Kind != detect.EntityUser || e.Value == "" {
			continue
		}
		u := resolve(e.Value)
		if !slices.Contains(us, u) {
			us = append(us, u)
		}
	}
	return us
}

func groupOf(dim string, u *user) string {
	if !u.known {
		return UnknownGroup
	}
	var v string
	switch dim {
	case DimDepartment:
		v = u.attrs.Department
	case DimRole:
		v = u.attrs.Role
	case DimRegion:
		v = u.attrs.Region
	case DimPeerGroup:
		v = u.attrs.PeerGroup
	}
	if v == "" {
		return UnsetGroup
	}
	return v
}

type groupAcc struct {
	users, incidents int
	events           int64
	signals          int
	byKey            map[string]int64
}

func buildDimension(dim string, users []user, sigs, incs []record, rep BiasReport, keyTotals map[string]int64, opts Options) Dimension {
	ug := make([]string, len(users))
	accs := map[string]*groupAcc{}
	for i := range users {
		g := groupOf(dim, &users[i])
		ug[i] = g
		a := accs[g]
		if a == nil {
			a = &groupAcc{byKey: map[string]int64{}}
			accs[g] = a
		}
		a.users++
		a.events = satAdd(a.events, users[i].events)
	}
	var touched []string
	groupsOf := func(us []int) []string {
		touched = touched[:0]
		for _, u := range us {
			if !slices.Contains(touched, ug[u]) {
				touched = append(touched, ug[u])
			}
		}
		return touched
	}
	for _, s := range sigs {
		for _, g := range groupsOf(s.users) {
			accs[g].signals++
			accs[g].byKey[s.key]++
		}
	}
	for _, r := range incs {
		for _, g := range groupsOf(r.users) {
			accs[g].incidents++
		}
	}
	d := Dimension{Name: dim, Groups: []Group{}}
	for _, name := range sortedKeys(accs) {
		a := accs[name]
		g := Group{
			Name: name, Users: a.users, Events: a.events,
			Signals: int64(a.signals), Incidents: int64(a.incidents),
			SignalRate: per10k(int64(a.signals), a.events), IncidentRate: per10k(int64(a.incidents), a.events),
			Tested: a.users >= opts.MinGroupUsers,
		}
		restEvents := rep.Events - a.events
		g.Cells = append(g.Cells,
			cell(MeasureSignals, "", int64(a.signals), rep.Signals, a.events, restEvents, g.Tested),
			cell(MeasureIncidents, "", int64(a.incidents), rep.Incidents, a.events, restEvents, g.Tested))
		for _, k := range rep.Detectors {
			g.Cells = append(g.Cells, cell(MeasureSignals, k, a.byKey[k], keyTotals[k], a.events, restEvents, g.Tested))
		}
		d.Groups = append(d.Groups, g)
	}
	return d
}

func cell(measure, det string, x, n, events, restEvents int64, tested bool) Cell {
	c := Cell{
		Measure: measure, Detector: det, Count: x, Total: n,
		Rate: per10k(x, events), RestCount: n - x, RestEvents: restEvents, RestRate: per10k(n-x, restEvents),
	}
	if all := events + restEvents; all > 0 {
		c.Expected = float64(n) * (float64(events) / float64(all))
	}
	switch {
	case c.Rate != nil && c.RestRate != nil && *c.RestRate > 0:
		rr := *c.Rate / *c.RestRate
		c.RateRatio = &rr
	case c.Rate != nil && c.RestRate != nil && x > 0:
		c.RatioInfinite = true
	}
	switch {
	case !tested:
		c.Note = NoteSmallGroup
	case n == 0:
		c.Note = NoteNoCounts
	case events <= 0:
		c.Note = NoteNoActivity
	case restEvents <= 0:
		c.Note = NoteNoRest
	default:
		p := binomTest(x, n, float64(events)/float64(events+restEvents))
		c.P = &p
	}
	return c
}

// applyBH adjusts the p-values of every tested cell as one family and flags.
func applyBH(rep *BiasReport, opts Options) {
	type ref struct{ d, g, c int }
	var refs []ref
	var ps []float64
	for di := range rep.Dimensions {
		for gi := range rep.Dimensions[di].Groups {
			for ci, c := range rep.Dimensions[di].Groups[gi].Cells {
				if c.P != nil {
					refs = append(refs, ref{di, gi, ci})
					ps = append(ps, *c.P)
				}
			}
		}
	}
	rep.Tests = len(ps)
	qs := benjaminiHochberg(ps)
	lo := 1 / opts.RatioThreshold
	for i, r := range refs {
		dim := &rep.Dimensions[r.d]
		g := &dim.Groups[r.g]
		c := &g.Cells[r.c]
		q := qs[i]
		c.Q = &q
		over := c.RatioInfinite || (c.RateRatio != nil && *c.RateRatio >= opts.RatioThreshold)
		under := c.RateRatio != nil && *c.RateRatio <= lo
		switch {
		case !over && !under:
			c.Note = NoteWithinRatio
		case q > opts.Alpha:
			c.Note = NoteNotSignificant
		default:
			c.Flagged = true
			c.Direction = "under"
			if over {
				c.Direction = "over"
			}
			rep.Flags = append(rep.Flags, Flag{
				Dimension: dim.Name, Group: g.Name, Measure: c.Measure, Detector: c.Detector, Direction: c.Direction,
				Count: c.Count, Expected: c.Expected, RateRatio: c.RateRatio, P: *c.P, Q: q,
			})
		}
	}
	dimRank := func(name string) int { return slices.Index(dimensions[:], name) }
	slices.SortStableFunc(rep.Flags, func(a, b Flag) int {
		return cmp.Or(
			cmp.Compare(dimRank(a.Dimension), dimRank(b.Dimension)),
			cmp.Compare(a.Q, b.Q),
			cmp.Compare(a.Group, b.Group),
			cmp.Compare(a.Measure, b.Measure),
			cmp.Compare(a.Detector, b.Detector),
		)
	})
}

func per10k(x, events int64) *float64 {
	if events <= 0 {
		return nil
	}
	v := float64(x) * 1e4 / float64(events)
	return &v
}

func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
