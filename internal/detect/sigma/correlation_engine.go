package sigma

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
)

// Defaults of CorrelationOptions.
const (
	DefaultCorrelationGroups   = 10000 // groups kept per correlation
	DefaultCorrelationEntries  = 256   // timestamps, values or distinct values kept per group
	DefaultCorrelationEvidence = 20    // evidence references per correlation signal
)

// CorrelationOptions bounds the correlation engine's memory and says how rule
// fields resolve.
type CorrelationOptions struct {
	// Mapping is the mapping the rules were compiled with: a group-by or value
	// field of a detection rule reads the event field the rule's logsource
	// variants map it to. nil is DefaultMapping().
	Mapping *Mapping
	// MaxGroups bounds the groups (distinct group-by values) kept per
	// correlation; when full, expired groups go first, then the eighth of the
	// groups with the oldest event times. A group costs about 0.5 KB plus 24
	// bytes per entry (event_count, value_sum, value_avg), about 40 bytes and
	// the value per value (value_count, value_percentile), and about 60 bytes
	// per evidence reference: with the defaults, at most about 80 MB for one
	// event_count correlation whose every group is full.
	MaxGroups int
	// MaxEntries bounds what one group keeps: distinct timestamps (event_count,
	// value_sum, value_avg), distinct values (value_count; raised to one more
	// than the condition's largest bound, up to 65,536, so the condition can be
	// decided), values (value_percentile). See CorrelationEngine for what happens
	// beyond it.
	MaxEntries int
	// MaxEvidence bounds the evidence references of one correlation signal.
	MaxEvidence int
	// Lateness is how far behind the newest event time a correlation has seen a
	// group may fall before its window is closed and the group dropped. A negative
	// Lateness never expires groups by time: they leave only when MaxGroups is
	// reached or on Flush (the right choice when hunting files of different
	// periods at once, whose event times interleave).
	Lateness time.Duration
}

func (o CorrelationOptions) withDefaults() CorrelationOptions {
	if o.Mapping == nil {
		o.Mapping = DefaultMapping()
	}
	if o.MaxGroups <= 0 {
		o.MaxGroups = DefaultCorrelationGroups
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultCorrelationEntries
	}
	o.MaxEntries = max(o.MaxEntries, 2)
	if o.MaxEvidence <= 0 {
		o.MaxEvidence = DefaultCorrelationEvidence
	}
	if o.Lateness < 0 {
		o.Lateness = -1
	}
	o.Lateness = min(o.Lateness, 100*365*24*time.Hour)
	return o
}

// CorrelationEngine evaluates Sigma correlation rules on the hits of detection
// rules (and on the firings of other correlations), in event time.
//
// Semantics, per group (the events of a correlation whose group-by fields have
// the same values, compared without case as Sigma compares values):
//
//   - Time is event time only. A correlation's watermark is the newest event
//     time it has seen; nothing reads the wall clock, so replaying the same input
//     in the same order gives the same signals.
//   - A condition with lower bounds only (gt, gte; the default of temporal and
//     temporal_ordered) is evaluated on every event over the sliding window
//     [newest - timespan, newest] of the group (both ends included) and fires as
//     soon as it holds. The events it counted are then consumed, and the group
//     cannot fire again until an event newer than the firing + timespan (at most
//     one signal per group per timespan).
//   - A condition with an upper bound (lt, lte, eq, neq) cannot be decided while
//     events may still come, so it is evaluated when the group's window closes:
//     windows are then tumbling, from the group's first event to first +
//     timespan, and close when a later event of the group arrives, when the
//     watermark passes their end by Lateness, or on Flush.
//   - value_percentile is evaluated on every event: the percentile rank of the
//     event's value among the group's values in the sliding window (mid-rank:
//     100 * (values below + half the values equal) / values; numbers compare as
//     numbers). A value that is not a number ranks by how common it is: 100 *
//     (values equal to it) / values, so the specification's example (Image, lte
//     1) fires for a process name seen in at most 1% of the host's process
//     creations. It fires at most once per group per timespan.
//   - temporal counts the referenced rules seen in the window, in any order;
//     temporal_ordered counts how far the referenced rules were seen in the given
//     order (by event time, ties allowed), the whole sequence within timespan.
//   - value_count counts distinct values (of the tuple, when condition.field
//     lists several fields); value_sum and value_avg add the field's numbers,
//     skipping (and counting) events where it is absent or not a number.
//   - An event missing a group-by field (absent or empty) is left out of the
//     correlation and counted, as SIEM backends' "stats ... by" and terms
//     aggregations do: lumping such events into one null group would make
//     unrelated events ("every logon without a user") count together.
//   - Out-of-order events: an event older than its group's newest event is
//     accepted if it is within timespan of it (and not older than the events the
//     last firing consumed), and counts toward the window ending at the newest
//     event; older ones are dropped and counted as late.
//   - Bounds: MaxGroups per correlation, MaxEntries per group. Beyond MaxEntries,
//     event_count/value_sum/value_avg merge their two oldest timestamps into the
//     later one (totals kept; those events may count up to that gap past the
//     window's edge), and value_percentile ranks among the most recent
//     MaxEntries values. value_count keeps at least one more distinct value than
//     its condition's largest bound, so its condition is decided exactly; beyond
//     that it forgets the value seen longest ago (sliding) or stops adding
//     values (tumbling: the count saturates above every bound).
//   - Chaining: a correlation may refer to another; the inner one's firings are
//     the outer one's events, with the inner group-by values as their fields
//     (other fields are read from the event that completed the inner condition,
//     when there is one). Cycles are rejected when the engine is built.
//   - generate: a detection rule (or correlation) referred to by correlations
//     emits its own signals only if one of them says generate: true.
//
// Every method is safe for concurrent use: each correlation has its own lock.
// Batches detected in parallel may reach a correlation in an order different
// from the source order; the out-of-order handling above absorbs that within a
// timespan, but which event completes a condition (and so the evidence and time
// of a signal) can then differ from run to run.
type CorrelationEngine struct {
	opts        CorrelationOptions
	corrs       []*corrState // inner correlations before the outer ones
	byRule      map[*Rule][]corrLink
	suppress    map[*Rule]bool
	fingerprint string

	// Rejected holds the correlations that cannot run, with their reasons
	// (unknown references, cycles, referenced rules that did not compile,
	// unsupported forms).
	Rejected []*LoadError
}

// corrLink is a correlation referring to a rule (or correlation), at these
// positions of its rules list.
type corrLink struct {
	c   *corrState
	pos []int
}

// CorrelationStats counts what a correlation did with its input.
type CorrelationStats struct {
	Updates        int64 `json:"updates"`          // inputs applied (rule hits and inner firings)
	Fired          int64 `json:"fired"`            // signals (or inner firings)
	Quiet          int64 `json:"quiet"`            // inputs within timespan after their group fired (counted, not evaluated)
	MissingGroupBy int64 `json:"missing_group_by"` // inputs without a group-by value
	MissingValue   int64 `json:"missing_value"`    // inputs without the condition field, or not a number
	Late           int64 `json:"late"`             // inputs too old for their group's window
	NoTime         int64 `json:"no_time"`          // events without a usable timestamp
	Expired        int64 `json:"expired"`          // groups dropped (windows closed) as the watermark passed them
	Evicted        int64 `json:"evicted"`          // groups dropped because MaxGroups was reached
	Groups         int   `json:"groups"`           // groups currently kept
}

// corrMode is when a correlation's condition is evaluated.
type corrMode uint8

const (
	modeSliding  corrMode = iota // lower bounds: on every input, sliding window
	modeWindow                   // upper bounds: when a tumbling window closes
	modePerEvent                 // value_percentile: on every input, for that input's value
)

// unsetTime marks an unset time.
const unsetTime = math.MinInt64

// Event times outside about 1827..2112 are not correlated: the bound keeps every
// sum and difference of times and timespans within int64.
const corrMaxUnixSeconds = 4_500_000_000

// corrEventTime returns t in Unix nanoseconds, and false for a zero or out-of-range time.
func corrEventTime(t time.Time) (int64, bool) {
	if t.IsZero() {
		return 0, false
	}
	s := t.Unix()
	if s < -corrMaxUnixSeconds || s > corrMaxUnixSeconds {
		return 0, false
	}
	return s*1e9 + int64(t.Nanosecond()), true
}

// NewCorrelationEngine builds the engine for the correlations of c. rs is the
// compiled rule set whose hits will be observed (its rejected rules make the
// correlations that need them rejected); it may be nil. Correlations that cannot
// run are listed in Rejected; the error is reserved for failures of the engine.
func NewCorrelationEngine(c *Collection, rs *Ruleset, opts CorrelationOptions) (*CorrelationEngine, error) {
	opts = opts.withDefaults()
	ce := &CorrelationEngine{opts: opts, byRule: map[*Rule][]corrLink{}, suppress: map[*Rule]bool{}}

	rulesByID, rulesByName := map[string]*Rule{}, map[string]*Rule{}
	for _, r := range c.Rules {
		if r.ID != "" {
			rulesByID[strings.ToLower(r.ID)] = r
		}
		if r.Name != "" {
			rulesByName[r.Name] = r
		}
	}
	corrByID, corrByName := map[string]*Correlation{}, map[string]*Correlation{}
	for _, d := range c.Correlations {
		if d.ID != "" {
			corrByID[strings.ToLower(d.ID)] = d
		}
		if d.Name != "" {
			corrByName[d.Name] = d
		}
	}
	notCompiled := map[Location]string{}
	if rs != nil {
		for _, le := range rs.Rejected {
			notCompiled[le.Source] = le.Reason
		}
	}

	type node struct {
		refs   []any // *Rule or *Correlation, by position
		reason string
		err    error
	}
	nodes := map[*Correlation]*node{}
	for _, d := range c.Correlations {
		n := &node{}
		nodes[d] = n
		fail := func(reason string, err error) {
			if n.err == nil {
				n.reason, n.err = reason, err
			}
		}
		for _, ref := range d.Rules {
			r := rulesByID[strings.ToLower(ref)]
			if r == nil {
				r = rulesByName[ref]
			}
			if r != nil {
				if why, bad := notCompiled[r.Source]; bad {
					fail(ReasonReference, fmt.Errorf("correlation refers to rule %s (%s), which did not compile (%s)", ref, r.Source, why))
				}
				n.refs = append(n.refs, r)
				continue
			}
			inner := corrByID[strings.ToLower(ref)]
			if inner == nil {
				inner = corrByName[ref]
			}
			if inner == nil {
				fail(ReasonReference, fmt.Errorf("correlation refers to %q, which is not a loaded rule or correlation", ref))
				n.refs = append(n.refs, nil)
				continue
			}
			n.refs = append(n.refs, inner)
		}
		switch d.Type {
		case ValueSum, ValueAvg, ValuePercentile:
			if len(d.Condition.Fields) > 1 {
				fail(ReasonUnsupported, fmt.Errorf("%s over several fields (%s) is not supported: name one", d.Type, strings.Join(d.Condition.Fields, ", ")))
			}
		}
		if d.Type == ValueCount && distinctNeeded(d.Condition) > maxDistinctValues {
			fail(ReasonUnsupported, fmt.Errorf("value_count over more than %d distinct values per group is not supported", maxDistinctValues))
		}
		if d.Timespan <= 0 {
			fail(ReasonSchema, errors.New("correlation has no timespan"))
		}
	}

	// Cycles, by depth-first search; order lists inner correlations first.
	const (
		unseen = iota
		onStack
		done
	)
	state := map[*Correlation]int{}
	var order, stack []*Correlation
	var visit func(d *Correlation)
	visit = func(d *Correlation) {
		state[d] = onStack
		stack = append(stack, d)
		for _, ref := range nodes[d].refs {
			inner, ok := ref.(*Correlation)
			if !ok {
				continue
			}
			switch state[inner] {
			case unseen:
				visit(inner)
			case onStack:
				i := slices.Index(stack, inner)
				var path []string
				for _, x := range stack[i:] {
					path = append(path, corrRef(x))
				}
				path = append(path, corrRef(inner))
				err := fmt.Errorf("correlation cycle: %s", strings.Join(path, " -> "))
				for _, x := range stack[i:] {
					if nodes[x].err == nil {
						nodes[x].reason, nodes[x].err = ReasonReference, err
					}
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[d] = done
		order = append(order, d)
	}
	for _, d := range c.Correlations {
		if state[d] == unseen {
			visit(d)
		}
	}
	// A correlation over a rejected one is rejected too (inner ones come first).
	for _, d := range order {
		n := nodes[d]
		if n.err != nil {
			continue
		}
		for _, ref := range n.refs {
			if inner, ok := ref.(*Correlation); ok && nodes[inner].err != nil {
				n.reason, n.err = ReasonReference, fmt.Errorf("correlation refers to correlation %s, which was rejected", corrRef(inner))
				break
			}
		}
	}

	states := map[*Correlation]*corrState{}
	for _, d := range order {
		n := nodes[d]
		if n.err != nil {
			ce.Rejected = append(ce.Rejected, &LoadError{Source: d.Source, Title: d.Title, Reason: n.reason, Err: n.err})
			continue
		}
		cs := newCorrState(d, &ce.opts)
		states[d] = cs
		ce.corrs = append(ce.corrs, cs)
	}
	// Links, field sources and suppression.
	generating := map[any]bool{} // referenced by a correlation with generate: true
	referenced := map[any]bool{}
	for _, cs := range ce.corrs {
		d := cs.def
		refs := nodes[d].refs
		for pos, ref := range refs {
			referenced[ref] = true
			if d.Generate {
				generating[ref] = true
			}
			switch ref := ref.(type) {
			case *Rule:
				ce.byRule[ref] = addCorrLink(ce.byRule[ref], cs, pos)
			case *Correlation:
				inner := states[ref]
				inner.outers = addCorrLink(inner.outers, cs, pos)
			}
		}
		cs.resolveFields(refs, states, opts.Mapping)
		cs.describe(refs)
	}
	for ref := range referenced {
		switch ref := ref.(type) {
		case *Rule:
			ce.suppress[ref] = !generating[ref]
		case *Correlation:
			states[ref].suppressed = !generating[ref]
		}
	}
	h := sha256.New()
	for _, cs := range ce.corrs {
		h.Write([]byte(cs.defFP))
	}
	ce.fingerprint = hex.EncodeToString(h.Sum(nil)[:6])
	return ce, nil
}

func addCorrLink(links []corrLink, cs *corrState, pos int) []corrLink {
	for i := range links {
		if links[i].c == cs {
			links[i].pos = append(links[i].pos, pos)
			return links
		}
	}
	return append(links, corrLink{c: cs, pos: []int{pos}})
}

// corrRef is how signals name a correlation: its id, else its name, else its file.
func corrRef(d *Correlation) string {
	switch {
	case d.ID != "":
		return d.ID
	case d.Name != "":
		return d.Name
	}
	return d.Source.String()
}

// Fingerprint is a short hash of the correlations' definitions.
func (ce *CorrelationEngine) Fingerprint() string { return ce.fingerprint }

// Suppressed reports whether r's own signals are suppressed: every correlation
// referring to it says generate: false.
func (ce *CorrelationEngine) Suppressed(r *Rule) bool { return ce.suppress[r] }

// Stats returns the counters of every correlation, by rule id (or name).
func (ce *CorrelationEngine) Stats() map[string]CorrelationStats {
	out := make(map[string]CorrelationStats, len(ce.corrs))
	for _, c := range ce.corrs {
		c.mu.Lock()
		st := c.stats
		st.Groups = len(c.groups)
		c.mu.Unlock()
		out[c.ref] = st
	}
	return out
}

// observe applies a detection rule's hit on e to every correlation referring to
// the rule, emitting the correlation signals that fire, and reports whether the
// rule's own signal is suppressed (generate: false).
func (ce *CorrelationEngine) observe(h *Hit, e *event.Event, emit func(detect.Signal)) bool {
	links := ce.byRule[h.Rule]
	if len(links) == 0 {
		return false
	}
	t, ok := corrEventTime(e.Timestamp)
	for _, l := range links {
		if !ok {
			l.c.mu.Lock()
			l.c.stats.NoTime++
			l.c.mu.Unlock()
			continue
		}
		in := corrInput{pos: l.pos, t: t, e: e}
		ce.feed(l.c, &in, emit)
	}
	return ce.suppress[h.Rule]
}

// feed applies one input to c and delivers what fires.
func (ce *CorrelationEngine) feed(c *corrState, in *corrInput, emit func(detect.Signal)) {
	c.mu.Lock()
	fs := c.apply(in, nil)
	c.mu.Unlock()
	for i := range fs {
		ce.deliver(&fs[i], emit)
	}
}

// deliver emits a firing (unless its correlation only feeds others) and feeds it
// to the correlations referring to its correlation.
func (ce *CorrelationEngine) deliver(f *corrFiring, emit func(detect.Signal)) {
	if !f.c.suppressed {
		emit(f.c.signal(f))
	}
	for _, l := range f.c.outers {
		in := corrInput{pos: l.pos, t: f.t, e: f.e, f: f}
		ce.feed(l.c, &in, emit)
	}
}

// Flush closes every open window (the end of the input): conditions with upper
// bounds are decided on what their windows hold, and correlation state is
// emptied. Signals are emitted as by Detect.
func (ce *CorrelationEngine) Flush(emit func(detect.Signal)) {
	for _, c := range ce.corrs { // inner first: their firings reach the outer ones before those close
		c.mu.Lock()
		fs := c.flush()
		c.mu.Unlock()
		for i := range fs {
			ce.deliver(&fs[i], emit)
		}
	}
}

// corrInput is one thing a correlation counts: a rule hit on an event, or an inner
// correlation's firing.
type corrInput struct {
	pos []int // positions in the correlation's rules list
	t   int64
	e   *event.Event // the event; for a firing, the event that completed it (may be nil)
	f   *corrFiring  // the inner firing, nil for a rule hit
}

// corrFiring is a correlation whose condition held.
type corrFiring struct {
	c      *corrState
	vals   []string // group-by values
	t      int64
	value  float64 // the count, sum, average or percentile that met the condition
	events int64   // inputs in the window where known, else 0
	detail string  // the value ranked (value_percentile)
	ev     []detect.EvidenceRef
	e      *event.Event
}

// corrField says how a correlation reads one field of its inputs from one referenced rule.
type corrField struct {
	accs  []event.Accessor // event fields, tried in order
	inner int              // >= 0: the inner correlation's group-by value at this index
}

func (s *corrField) read(in *corrInput) string {
	if in.f != nil && s.inner >= 0 {
		return in.f.vals[s.inner]
	}
	if in.e != nil {
		for _, a := range s.accs {
			if v, ok := a.String(in.e); ok && v != "" {
				return v
			}
		}
	}
	return ""
}

// corrState is one correlation: its compiled definition and its state.
type corrState struct {
	def    *Correlation
	ref    string
	defFP  string
	span   int64
	mode   corrMode
	opts   *CorrelationOptions
	groupF [][]corrField // [position][group-by field]
	valueF [][]corrField // [position][condition field]
	outers []corrLink
	// suppressed: referred to only by correlations with generate: false.
	suppressed bool

	// For signals.
	what       string     // the referenced rules, for summaries
	kinds      [][]string // per group-by field, the field names that say what entity it is
	severity   detect.Severity
	confidence float64
	tactics    []string
	techniques []string

	mu        sync.Mutex
	groups    map[string]*corrGroup
	watermark int64
	lastSweep int64
	started   bool
	stats     CorrelationStats
	keyBuf    []byte
	valBuf    []string
	lastSrc   string // the last evidence source cloned, shared by the next ones
	lastValid bool   // lastSrc is valid UTF-8
	timeBuf   []int64
	// maxDistinct bounds value_count's distinct values per group: MaxEntries, or
	// more when the condition's bounds need it.
	maxDistinct int
}

func newCorrState(d *Correlation, opts *CorrelationOptions) *corrState {
	c := &corrState{def: d, ref: corrRef(d), span: int64(d.Timespan), opts: opts, groups: map[string]*corrGroup{}}
	switch {
	case d.Type == ValuePercentile:
		c.mode = modePerEvent
	case d.Condition.Lt != nil || d.Condition.Lte != nil || d.Condition.Eq != nil || d.Condition.Neq != nil:
		c.mode = modeWindow
	}
	c.defFP = defFingerprint(d)
	c.maxDistinct = opts.MaxEntries
	if d.Type == ValueCount {
		c.maxDistinct = max(c.maxDistinct, distinctNeeded(d.Condition))
	}
	return c
}

// maxDistinctValues bounds what a value_count condition may ask for.
const maxDistinctValues = 1 << 16

// distinctNeeded is how many distinct values decide a value_count condition: one
// more than its largest bound.
func distinctNeeded(cond CorrelationCondition) int {
	need := 0
	for _, b := range []*float64{cond.Gt, cond.Gte, cond.Lt, cond.Lte, cond.Eq, cond.Neq} {
		if b != nil && *b >= 0 {
			need = max(need, int(math.Min(math.Ceil(*b), maxDistinctValues))+1)
		}
	}
	return need
}

// defFingerprint identifies what a correlation's state means, so a snapshot is
// not restored into a correlation whose definition changed.
func defFingerprint(d *Correlation) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%q|%q|%d|%s|%q", corrRef(d), d.Type, d.Rules, d.GroupBy, d.Timespan, d.Condition.String(), d.Condition.Fields)
	aliases := make([]string, 0, len(d.Aliases))
	for a, m := range d.Aliases {
		for r, f := range m {
			aliases = append(aliases, a+"\x00"+r+"\x00"+f)
		}
	}
	slices.Sort(aliases)
	fmt.Fprintf(h, "|%q", aliases)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// resolveFields compiles how each group-by and condition field is read from the
// inputs of each referenced rule or correlation.
func (c *corrState) resolveFields(refs []any, states map[*Correlation]*corrState, m *Mapping) {
	d := c.def
	src := func(pos int, name string) corrField {
		refName := d.Rules[pos]
		if a, ok := d.Aliases[name][refName]; ok {
			name = a
		}
		switch ref := refs[pos].(type) {
		case *Rule:
			return corrField{accs: ruleFieldAccessors(m, ref, name), inner: -1}
		case *Correlation:
			return corrField{accs: []event.Accessor{event.Lookup(name)}, inner: slices.Index(states[ref].def.GroupBy, name)}
		}
		return corrField{inner: -1}
	}
	c.groupF = make([][]corrField, len(refs))
	c.valueF = make([][]corrField, len(refs))
	for pos := range refs {
		for _, g := range d.GroupBy {
			c.groupF[pos] = append(c.groupF[pos], src(pos, g))
		}
		for _, f := range d.Condition.Fields {
			c.valueF[pos] = append(c.valueF[pos], src(pos, f))
		}
	}
	c.kinds = make([][]string, len(d.GroupBy))
	for i, g := range d.GroupBy {
		c.kinds[i] = append(c.kinds[i], g)
		for pos := range refs {
			for _, a := range c.groupF[pos][i].accs {
				c.kinds[i] = append(c.kinds[i], a.Name())
			}
		}
	}
}

// ruleFieldAccessors returns the event fields a rule's field name reads, one per
// distinct mapping of the rule's logsource variants.
func ruleFieldAccessors(m *Mapping, r *Rule, name string) []event.Accessor {
	countEntry := m.For(r.LogSource)
	if countEntry == nil {
		return []event.Accessor{event.Lookup(name)}
	}
	var out []event.Accessor
	for i := range countEntry.Variants {
		f := countEntry.Variants[i].field(name)
		if !slices.ContainsFunc(out, func(a event.Accessor) bool { return a.Name() == f }) {
			out = append(out, event.Lookup(f))
		}
	}
	return out
}

// describe prepares what signals say: severity, ATT&CK tags (the correlation's
// own, else those of the rules it refers to), and the referenced rules' titles.
func (c *corrState) describe(refs []any) {
	d := c.def
	sev, err := detect.ParseSeverity(d.Level)
	if err != nil {
		sev = detect.SeverityMedium
	}
	c.severity, c.confidence = sev, confidence(d.Status)
	c.tactics, c.techniques = attackTags(d.Tags)
	var titles []string
	for _, ref := range refs {
		var title string
		var tags []Tag
		switch ref := ref.(type) {
		case *Rule:
			title, tags = ref.Title, ref.Tags
		case *Correlation:
			title, tags = ref.Title, ref.Tags
		}
		titles = append(titles, strconv.Quote(title))
		if len(d.Tags) == 0 {
			ta, te := attackTags(tags)
			for _, x := range ta {
				if !slices.Contains(c.tactics, x) {
					c.tactics = append(c.tactics, x)
				}
			}
			for _, x := range te {
				if !slices.Contains(c.techniques, x) {
					c.techniques = append(c.techniques, x)
				}
			}
		}
	}
	titles = slices.Compact(titles)
	switch c.def.Type {
	case TemporalOrdered:
		c.what = strings.Join(titles, " then ")
	default:
		c.what = strings.Join(titles, ", ")
	}
}

// corrValue is an input's condition field.
type corrValue struct {
	tuple []byte // value_count: the values, lower-cased, each ended by a zero byte
	key   string // value_percentile: the value
	num   float64
	isNum bool
}

// apply applies one input (c.mu held) and appends what fires to out.
func (c *corrState) apply(in *corrInput, out []corrFiring) []corrFiring {
	c.stats.Updates++
	pos := in.pos[0]
	vals, key := c.valBuf[:0], c.keyBuf[:0]
	for i := range c.groupF[pos] {
		v := c.groupF[pos][i].read(in)
		if v == "" {
			c.valBuf, c.keyBuf = vals, key
			c.stats.MissingGroupBy++
			return out
		}
		vals = append(vals, v)
		key = append(appendLower(key, v), 0)
	}
	c.valBuf, c.keyBuf = vals, key
	var x corrValue
	if !c.readValue(in, &x) {
		c.stats.MissingValue++
		return out
	}
	t := in.t
	if !c.started {
		c.started, c.watermark, c.lastSweep = true, t, t
	}
	c.watermark = max(c.watermark, t)
	if c.opts.Lateness >= 0 && c.watermark-c.lastSweep >= c.sweepEvery() {
		out = c.sweep(out)
		c.lastSweep = c.watermark
	}
	g := c.groups[string(key)]
	if g == nil {
		if len(c.groups) >= c.opts.MaxGroups {
			out = c.makeRoom(out)
		}
		g = c.newGroup(string(key), vals)
		c.groups[g.Key] = g
	}
	switch c.mode {
	case modeWindow:
		return c.window(g, in, &x, out)
	case modePerEvent:
		return c.perEvent(g, in, &x, out)
	}
	return c.slide(g, in, &x, out)
}

// sweepEvery is how far the watermark moves between sweeps for expired groups.
func (c *corrState) sweepEvery() int64 { return max(c.span/4, int64(time.Second)) }

// readValue reads the condition field of in into x; false when the input cannot
// count (absent, or not a number for value_sum and value_avg).
func (c *corrState) readValue(in *corrInput, x *corrValue) bool {
	srcs := c.valueF[in.pos[0]]
	switch c.def.Type {
	case ValueCount:
		// The tuple follows the group key in keyBuf (the key's bytes stay put).
		buf := c.keyBuf
		start := len(buf)
		for i := range srcs {
			v := srcs[i].read(in)
			if v == "" {
				return false
			}
			buf = append(appendLower(buf, v), 0)
		}
		c.keyBuf = buf
		x.tuple = buf[start:]
		return true
	case ValueSum, ValueAvg:
		v := srcs[0].read(in)
		n, ok := parseCorrNumber(v)
		x.num, x.isNum = n, ok
		return ok
	case ValuePercentile:
		v := srcs[0].read(in)
		if v == "" {
			return false
		}
		x.key = v
		x.num, x.isNum = parseCorrNumber(v)
		return true
	}
	return true
}

// maxCorrValue bounds the numbers summed, so totals stay finite (and encodable).
const maxCorrValue = 1e300

func parseCorrNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(n) || math.Abs(n) > maxCorrValue {
		return 0, false
	}
	return n, true
}

// addCorrClamped adds without overflowing to infinity.
func addCorrClamped(a, b float64) float64 {
	s := a + b
	switch {
	case s > math.MaxFloat64/2:
		return math.MaxFloat64 / 2
	case s < -math.MaxFloat64/2:
		return -math.MaxFloat64 / 2
	}
	return s
}

// corrGroup is the state of one group of one correlation. Its exported fields are
// its snapshot.
type corrGroup struct {
	Key    string   `json:"key"`
	Vals   []string `json:"vals"`
	First  int64    `json:"first"`  // window mode: the window's start
	Latest int64    `json:"latest"` // the newest input time, none when empty
	Fired  bool     `json:"fired,omitempty"`
	Floor  int64    `json:"floor,omitempty"` // inputs older than this were consumed by a firing
	Quiet  int64    `json:"quiet,omitempty"` // no firing again until an input newer than this

	// event_count, value_sum, value_avg: inputs by timestamp, with totals.
	Entries corrRing[countEntry] `json:"entries"`
	Count   int64                `json:"count,omitempty"`
	Sum     float64              `json:"sum,omitempty"`
	Pops    int64                `json:"pops,omitempty"`
	// value_count: distinct values and when each was last seen.
	Distinct  map[string]int64 `json:"distinct,omitempty"`
	Saturated bool             `json:"saturated,omitempty"`
	// temporal: when each referenced rule was last seen, with that input's evidence.
	Seen   []int64       `json:"seen,omitempty"`
	SeenEv [][]corrEvRef `json:"seen_ev,omitempty"`
	// temporal_ordered: per stage, the start and time of the best partial sequence.
	StageStart []int64       `json:"stage_start,omitempty"`
	StageAt    []int64       `json:"stage_at,omitempty"`
	StageEv    [][]corrEvRef `json:"stage_ev,omitempty"`
	// value_percentile: the values in the window.
	Pct corrRing[corrPctEntry] `json:"pct"`
	// The most recent inputs' evidence.
	Ev corrRing[corrEvRef] `json:"ev"`
}

type countEntry struct {
	T   int64   `json:"t"`
	N   int64   `json:"n"`
	Sum float64 `json:"sum,omitempty"`
}

type corrPctEntry struct {
	T     int64   `json:"t"`
	S     string  `json:"s"` // lower-cased
	Num   float64 `json:"num,omitempty"`
	IsNum bool    `json:"is_num,omitempty"`
}

// corrEvRef is a reference to an input event, kept until a firing needs its id.
type corrEvRef struct {
	T   int64  `json:"t"`
	Src string `json:"src,omitempty"`
	Off int64  `json:"off,omitempty"`
	Rec int64  `json:"rec,omitempty"`
	ID  string `json:"id,omitempty"` // set when known (evidence of an inner firing)
}

func (c *corrState) newGroup(key string, vals []string) *corrGroup {
	g := &corrGroup{Key: key, Vals: make([]string, len(vals)), Latest: unsetTime}
	for i, v := range vals {
		g.Vals[i] = strings.ToValidUTF8(strings.Clone(v), "\uFFFD") // as snapshots (JSON) keep it
	}
	c.initAgg(g)
	return g
}

// initAgg empties a group's aggregates.
func (c *corrState) initAgg(g *corrGroup) {
	g.Entries.clear()
	g.Count, g.Sum = 0, 0
	g.Pct.clear()
	g.Ev.clear()
	g.Saturated = false
	switch c.def.Type {
	case ValueCount:
		g.Distinct = map[string]int64{}
	case Temporal:
		g.Seen = fillUnset(g.Seen, len(c.def.Rules))
		g.SeenEv = clearCorrEv(g.SeenEv, len(c.def.Rules))
	case TemporalOrdered:
		g.StageStart = fillUnset(g.StageStart, len(c.def.Rules))
		g.StageAt = fillUnset(g.StageAt, len(c.def.Rules))
		g.StageEv = clearCorrEv(g.StageEv, len(c.def.Rules))
	}
}

func fillUnset(s []int64, n int) []int64 {
	if len(s) != n {
		s = make([]int64, n)
	}
	for i := range s {
		s[i] = unsetTime
	}
	return s
}

func clearCorrEv(s [][]corrEvRef, n int) [][]corrEvRef {
	if len(s) != n {
		return make([][]corrEvRef, n)
	}
	for i := range s {
		s[i] = s[i][:0]
	}
	return s
}

// slide applies an input in sliding mode.
func (c *corrState) slide(g *corrGroup, in *corrInput, x *corrValue, out []corrFiring) []corrFiring {
	t := in.t
	if (g.Fired && t < g.Floor) || (g.Latest != unsetTime && t < g.Latest-c.span) {
		c.stats.Late++
		return out
	}
	g.Latest = max(g.Latest, t)
	start := g.Latest - c.span
	if g.Fired {
		start = max(start, g.Floor)
	}
	c.add(g, in, x)
	c.prune(g, start)
	if g.Fired && t <= g.Quiet {
		c.stats.Quiet++
		return out
	}
	v, ok := c.aggregate(g, start, x)
	if !ok || !c.def.Condition.Holds(v) {
		return out
	}
	out = append(out, c.fire(g, t, v, start, in, x))
	g.Fired, g.Floor, g.Quiet = true, g.Latest, t+c.span
	c.initAgg(g)
	return out
}

// window applies an input in window mode: tumbling windows decided when they close.
func (c *corrState) window(g *corrGroup, in *corrInput, x *corrValue, out []corrFiring) []corrFiring {
	t := in.t
	switch {
	case g.Latest == unsetTime:
		g.First, g.Latest = t, t
	case t > g.First+c.span:
		out = c.close(g, out)
		g.First, g.Latest = t, t
	case t < g.Latest-c.span:
		c.stats.Late++
		return out
	default:
		g.First, g.Latest = min(g.First, t), max(g.Latest, t)
	}
	c.add(g, in, x)
	return out
}

// close decides a window-mode group's window and empties the group.
func (c *corrState) close(g *corrGroup, out []corrFiring) []corrFiring {
	if g.Latest == unsetTime {
		return out
	}
	if v, ok := c.aggregate(g, g.First, nil); ok && c.def.Condition.Holds(v) {
		out = append(out, c.fire(g, g.Latest, v, g.First, nil, nil))
	}
	c.initAgg(g)
	g.Latest = unsetTime
	return out
}

// perEvent applies an input of value_percentile.
func (c *corrState) perEvent(g *corrGroup, in *corrInput, x *corrValue, out []corrFiring) []corrFiring {
	t := in.t
	if g.Latest != unsetTime && t < g.Latest-c.span {
		c.stats.Late++
		return out
	}
	g.Latest = max(g.Latest, t)
	start := g.Latest - c.span
	c.add(g, in, x)
	c.prune(g, start)
	if g.Fired && t <= g.Quiet {
		c.stats.Quiet++
		return out
	}
	v, ok := c.aggregate(g, start, x)
	if !ok || !c.def.Condition.Holds(v) {
		return out
	}
	out = append(out, c.fire(g, t, v, start, in, x))
	g.Fired, g.Quiet = true, t+c.span
	return out
}

// add records an input in its group.
func (c *corrState) add(g *corrGroup, in *corrInput, x *corrValue) {
	t := in.t
	limit := c.opts.MaxEntries
	switch c.def.Type {
	case EventCount:
		c.addEntry(g, t, 0)
	case ValueSum, ValueAvg:
		c.addEntry(g, t, x.num)
	case ValueCount:
		if last, ok := g.Distinct[string(x.tuple)]; ok {
			g.Distinct[string(x.tuple)] = max(last, t)
			break
		}
		if len(g.Distinct) >= c.maxDistinct {
			if c.mode == modeWindow {
				g.Saturated = true
				break
			}
			c.pruneDistinct(g, g.Latest-c.span)
			if len(g.Distinct) >= c.maxDistinct {
				c.forgetOldestValue(g)
			}
		}
		g.Distinct[string(x.tuple)] = t
	case Temporal:
		for _, p := range in.pos {
			if t >= g.Seen[p] {
				g.Seen[p] = t
				g.SeenEv[p] = c.refsOf(in, g.SeenEv[p][:0])
			}
		}
		return
	case TemporalOrdered:
		c.advance(g, in)
		return
	case ValuePercentile:
		r := &g.Pct
		if r.n >= limit {
			r.popFront()
		}
		i := r.n
		for i > 0 && r.at(i-1).T > t {
			i--
		}
		r.insert(i, corrPctEntry{T: t, S: strings.Clone(lower(x.key)), Num: x.num, IsNum: x.isNum}, limit)
	}
	c.pushEvidence(g, in)
}

// pushEvidence records an input's evidence in the group's most recent ones.
func (c *corrState) pushEvidence(g *corrGroup, in *corrInput) {
	if in.f != nil {
		g.Ev.pushEvict(c.refsOf(in, nil), c.opts.MaxEvidence)
		return
	}
	if in.e == nil {
		return
	}
	if g.Ev.n >= c.opts.MaxEvidence {
		g.Ev.popFront()
	}
	g.Ev.insert(g.Ev.n, c.refOf(in), c.opts.MaxEvidence)
}

// addEntry adds one input at time t (with value v) to a group's entries,
// merging equal timestamps, and the two oldest entries when full.
func (c *corrState) addEntry(g *corrGroup, t int64, v float64) {
	r := &g.Entries
	g.Count++
	g.Sum = addCorrClamped(g.Sum, v)
	i := r.n
	for i > 0 && r.at(i-1).T > t {
		i--
	}
	if i > 0 && r.at(i-1).T == t {
		e := r.at(i - 1)
		e.N++
		e.Sum = addCorrClamped(e.Sum, v)
		return
	}
	if r.n >= c.opts.MaxEntries {
		if i == 0 { // older than everything kept: merged into the oldest entry
			e := r.at(0)
			e.N++
			e.Sum = addCorrClamped(e.Sum, v)
			return
		}
		a := r.popFront()
		b := r.at(0)
		b.N += a.N
		b.Sum = addCorrClamped(b.Sum, a.Sum)
		i--
	}
	r.insert(i, countEntry{T: t, N: 1, Sum: v}, c.opts.MaxEntries)
}

// advance moves a temporal_ordered group's partial sequences with an input.
// Positions are taken last first, so one input does not advance two stages.
func (c *corrState) advance(g *corrGroup, in *corrInput) {
	t := in.t
	for k := len(in.pos) - 1; k >= 0; k-- {
		p := in.pos[k]
		if p == 0 {
			if g.StageStart[0] == unsetTime || t >= g.StageStart[0] {
				g.StageStart[0], g.StageAt[0] = t, t
				g.StageEv[0] = c.refsOf(in, g.StageEv[0][:0])
			}
			continue
		}
		start, at := g.StageStart[p-1], g.StageAt[p-1]
		if start == unsetTime || at > t || t-start > c.span || (g.Fired && start < g.Floor) {
			continue
		}
		if g.StageStart[p] == unsetTime || start >= g.StageStart[p] {
			g.StageStart[p], g.StageAt[p] = start, t
			ev := append(g.StageEv[p][:0], g.StageEv[p-1]...)
			ev = c.refsOf(in, ev)
			if over := len(ev) - c.opts.MaxEvidence; over > 0 {
				ev = append(ev[:0], ev[over:]...)
			}
			g.StageEv[p] = ev
		}
	}
}

// refsOf appends the evidence references of an input to dst.
func (c *corrState) refsOf(in *corrInput, dst []corrEvRef) []corrEvRef {
	if in.f != nil {
		for _, r := range in.f.ev {
			dst = append(dst, corrEvRef{T: r.Time.UnixNano(), Src: r.Source, Off: r.Offset, ID: r.EventID})
		}
		return dst
	}
	if in.e == nil {
		return dst
	}
	return append(dst, c.refOf(in))
}

// refOf is the reference to an input's event (in.e is not nil).
func (c *corrState) refOf(in *corrInput) corrEvRef {
	src := in.e.Origin.Source
	if src != c.lastSrc {
		c.lastSrc = strings.Clone(src)
		c.lastValid = utf8.ValidString(src)
	}
	r := corrEvRef{T: in.t, Src: c.lastSrc, Off: in.e.Origin.Offset, Rec: in.e.Origin.Record}
	if !c.lastValid {
		// Snapshots (JSON) cannot keep these bytes: keep the event's id, computed
		// from them, and the source made valid.
		r.ID = in.e.ID()
		r.Src = strings.ToValidUTF8(src, "\uFFFD")
	}
	return r
}

// prune drops what is older than start from a sliding group.
func (c *corrState) prune(g *corrGroup, start int64) {
	r := &g.Entries
	popped := false
	for r.n > 0 && r.at(0).T < start {
		e := r.popFront()
		g.Count -= e.N
		g.Sum -= e.Sum
		g.Pops++
		popped = true
	}
	if popped && (r.n == 0 || g.Pops%64 == 0) { // running sums drift: recompute now and then
		g.Count, g.Sum = 0, 0
		for i := 0; i < r.n; i++ {
			e := r.at(i)
			g.Count += e.N
			g.Sum = addCorrClamped(g.Sum, e.Sum)
		}
	}
	for g.Pct.n > 0 && g.Pct.at(0).T < start {
		g.Pct.popFront()
	}
}

// pruneDistinct forgets the values last seen before start.
func (c *corrState) pruneDistinct(g *corrGroup, start int64) {
	for k, t := range g.Distinct {
		if t < start {
			delete(g.Distinct, k)
		}
	}
}

// forgetOldestValue forgets the value seen longest ago (ties: the smallest).
func (c *corrState) forgetOldestValue(g *corrGroup) {
	var oldest string
	ot := int64(math.MaxInt64)
	for k, t := range g.Distinct {
		if t < ot || (t == ot && k < oldest) {
			oldest, ot = k, t
		}
	}
	delete(g.Distinct, oldest)
}

// aggregate computes what the condition is checked against, over [start, newest].
// x is the input just added (value_percentile), nil when a window closes.
func (c *corrState) aggregate(g *corrGroup, start int64, x *corrValue) (float64, bool) {
	switch c.def.Type {
	case EventCount:
		return float64(g.Count), g.Count > 0
	case ValueSum:
		return g.Sum, g.Count > 0
	case ValueAvg:
		if g.Count == 0 {
			return 0, false
		}
		return g.Sum / float64(g.Count), true
	case ValueCount:
		if c.mode == modeSliding && c.def.Condition.Holds(float64(len(g.Distinct))) {
			// Lower bounds only: a smaller count cannot hold when this one
			// does not, so the expired values are dropped only when it does.
			c.pruneDistinct(g, start)
		}
		return float64(len(g.Distinct)), len(g.Distinct) > 0
	case Temporal:
		n := 0
		for _, t := range g.Seen {
			if t != unsetTime && t >= start {
				n++
			}
		}
		return float64(n), n > 0
	case TemporalOrdered:
		n := stagesReached(g, start)
		return float64(n), n > 0
	case ValuePercentile:
		if x == nil {
			return 0, false
		}
		return corrPercentileRank(&g.Pct, x), g.Pct.n > 0
	}
	return 0, false
}

// stagesReached is how many stages of a temporal_ordered sequence started at or after start.
func stagesReached(g *corrGroup, start int64) int {
	for p := len(g.StageStart) - 1; p >= 0; p-- {
		if s := g.StageStart[p]; s != unsetTime && s >= start {
			return p + 1
		}
	}
	return 0
}

// corrPercentileRank ranks x among the values kept (x included).
func corrPercentileRank(r *corrRing[corrPctEntry], x *corrValue) float64 {
	var below, equal, total float64
	if x.isNum {
		for i := 0; i < r.n; i++ {
			e := r.at(i)
			if !e.IsNum {
				continue
			}
			total++
			switch {
			case e.Num < x.num:
				below++
			case e.Num == x.num:
				equal++
			}
		}
		if total == 0 {
			return 0
		}
		return 100 * (below + equal/2) / total
	}
	s := lower(x.key)
	for i := 0; i < r.n; i++ {
		total++
		if r.at(i).S == s {
			equal++
		}
	}
	if total == 0 {
		return 0
	}
	return 100 * equal / total
}

// fire builds a firing of g at time t (c.mu held).
func (c *corrState) fire(g *corrGroup, t int64, v float64, start int64, in *corrInput, x *corrValue) corrFiring {
	c.stats.Fired++
	f := corrFiring{c: c, vals: g.Vals, t: t, value: v}
	if in != nil {
		f.e = in.e
	}
	switch c.def.Type {
	case EventCount, ValueSum, ValueAvg:
		f.events = g.Count
	case ValuePercentile:
		f.events = int64(g.Pct.n)
		if x != nil {
			f.detail = clip(x.key)
		}
	}
	var refs []corrEvRef
	switch c.def.Type {
	case Temporal:
		for p, at := range g.Seen {
			if at != unsetTime && at >= start {
				refs = append(refs, g.SeenEv[p]...)
			}
		}
	case TemporalOrdered:
		if n := stagesReached(g, start); n > 0 {
			refs = append(refs, g.StageEv[n-1]...)
		}
	default:
		for i := 0; i < g.Ev.n; i++ {
			if r := g.Ev.at(i); r.T >= start {
				refs = append(refs, *r)
			}
		}
	}
	f.ev = c.evidence(refs)
	return f
}

// evidence turns references into evidence: in time order, without duplicates, the
// most recent MaxEvidence.
func (c *corrState) evidence(refs []corrEvRef) []detect.EvidenceRef {
	slices.SortStableFunc(refs, func(a, b corrEvRef) int { return cmp.Compare(a.T, b.T) })
	var tmp event.Event
	out := make([]detect.EvidenceRef, 0, min(len(refs), c.opts.MaxEvidence))
	seen := map[string]bool{}
	for i := len(refs) - 1; i >= 0 && len(out) < c.opts.MaxEvidence; i-- {
		r := refs[i]
		id := r.ID
		if id == "" {
			tmp.Origin = event.Origin{Source: r.Src, Offset: r.Off, Record: r.Rec}
			id = tmp.ID()
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, detect.EvidenceRef{EventID: id, Time: time.Unix(0, r.T).UTC(), Source: r.Src, Offset: r.Off})
	}
	slices.Reverse(out)
	return out
}

// sweep closes and drops the groups the watermark has passed (c.mu held).
func (c *corrState) sweep(out []corrFiring) []corrFiring {
	if c.opts.Lateness < 0 {
		return out
	}
	limit := c.watermark - int64(c.opts.Lateness)
	var closing []*corrGroup
	for k, g := range c.groups {
		switch {
		case c.mode == modeWindow:
			if g.Latest == unsetTime || g.First+c.span < limit {
				closing = append(closing, g)
				delete(c.groups, k)
			}
		case g.Latest == unsetTime || g.Latest+c.span < limit:
			delete(c.groups, k)
			c.stats.Expired++
		}
	}
	return c.closeAll(closing, out)
}

// closeAll closes groups in a stable order (window ends, then keys).
func (c *corrState) closeAll(gs []*corrGroup, out []corrFiring) []corrFiring {
	slices.SortFunc(gs, func(a, b *corrGroup) int {
		if r := cmp.Compare(a.Latest, b.Latest); r != 0 {
			return r
		}
		return strings.Compare(a.Key, b.Key)
	})
	for _, g := range gs {
		out = c.close(g, out)
		c.stats.Expired++
	}
	return out
}

// makeRoom drops groups when MaxGroups is reached: expired ones, then the eighth
// with the oldest inputs (without deciding their windows).
func (c *corrState) makeRoom(out []corrFiring) []corrFiring {
	out = c.sweep(out)
	if len(c.groups) >= c.opts.MaxGroups {
		c.evict(c.opts.MaxGroups - 1 - c.opts.MaxGroups/8)
	}
	return out
}

// evict drops the groups with the oldest inputs (ties: the smallest keys) until
// keep are left. It sorts times, not groups: the groups at the cut are the only
// ones compared by key.
func (c *corrState) evict(keep int) {
	n := len(c.groups) - min(max(keep, 0), len(c.groups)) // to drop
	if n == 0 {
		return
	}
	times := c.timeBuf[:0]
	for _, g := range c.groups {
		times = append(times, g.Latest)
	}
	slices.Sort(times)
	cut := times[n-1]
	below, _ := slices.BinarySearch(times[:n], cut) // groups older than cut
	c.timeBuf = times[:0]
	var ties []*corrGroup
	for k, g := range c.groups {
		switch {
		case g.Latest < cut:
			delete(c.groups, k)
			c.stats.Evicted++
		case g.Latest == cut:
			ties = append(ties, g)
		}
	}
	slices.SortFunc(ties, func(a, b *corrGroup) int { return strings.Compare(a.Key, b.Key) })
	for _, g := range ties[:n-below] {
		delete(c.groups, g.Key)
		c.stats.Evicted++
	}
}

// flush closes every window and empties the correlation (c.mu held).
func (c *corrState) flush() []corrFiring {
	var out []corrFiring
	if c.mode == modeWindow {
		gs := make([]*corrGroup, 0, len(c.groups))
		for _, g := range c.groups {
			gs = append(gs, g)
		}
		out = c.closeAll(gs, nil)
	}
	clear(c.groups)
	return out
}

// signal renders a firing as a signal.
func (c *corrState) signal(f *corrFiring) detect.Signal {
	d := c.def
	s := detect.Signal{
		Time:       time.Unix(0, f.t).UTC(),
		RuleID:     c.ref,
		Title:      d.Title,
		Severity:   c.severity,
		Confidence: c.confidence,
		Tactics:    slices.Clone(c.tactics),
		Techniques: slices.Clone(c.techniques),
		Evidence:   f.ev,
	}
	var where []string
	for i, g := range d.GroupBy {
		v := f.vals[i]
		where = append(where, g+"="+v)
		s.Explanation.Matches = append(s.Explanation.Matches, detect.FieldMatch{Field: g, Value: clip(v)})
		if e, ok := corrEntityOf(c.kinds[i], v); ok && !slices.Contains(s.Entities, e) {
			s.Entities = append(s.Entities, e)
		}
	}
	scope := "across all events"
	if len(where) > 0 {
		scope = "for " + strings.Join(where, ", ")
	}
	field := strings.Join(d.Condition.Fields, ",")
	val := formatCorrNumber(f.value)
	var what string
	switch d.Type {
	case EventCount:
		what = fmt.Sprintf("%s events matching %s", val, c.what)
	case ValueCount:
		what = fmt.Sprintf("%s distinct values of %s in events matching %s", val, field, c.what)
	case Temporal:
		what = fmt.Sprintf("%s of %d rules (%s) matched", val, len(d.Rules), c.what)
	case TemporalOrdered:
		what = fmt.Sprintf("%s of %d rules matched in order (%s)", val, len(d.Rules), c.what)
	case ValueSum:
		what = fmt.Sprintf("sum of %s is %s over %d events matching %s", field, val, f.events, c.what)
	case ValueAvg:
		what = fmt.Sprintf("average of %s is %s over %d events matching %s", field, val, f.events, c.what)
	case ValuePercentile:
		what = fmt.Sprintf("%s %q is at percentile %s of %d values in events matching %s", field, f.detail, val, f.events, c.what)
		s.Explanation.Matches = append(s.Explanation.Matches, detect.FieldMatch{Field: field, Value: f.detail})
	}
	bounds := d.Condition
	bounds.Fields = nil
	s.Explanation.Summary = fmt.Sprintf("%s %s within %s (%s %s)", what, scope, formatCorrSpan(d.Timespan), d.Type, bounds.String())
	s.Explanation.Observed = val
	s.Explanation.Expected = bounds.String()
	s.Explanation.Score = f.value
	return s
}

// corrEntityOf says which entity a group-by value is, from its form (an address)
// or the names of the fields it was read from.
func corrEntityOf(names []string, v string) (detect.Entity, bool) {
	if ip := event.ParseIP(v); ip.IsValid() {
		return detect.Entity{Kind: detect.EntityIP, Value: ip.String()}, true
	}
	for _, n := range names {
		n = strings.ToLower(n)
		switch {
		case n == "user" || strings.HasSuffix(n, "username") || strings.HasSuffix(n, "user.name") ||
			strings.HasSuffix(n, "accountname") || strings.HasSuffix(n, "_user") || n == "account":
			if k := event.ParseUser(v).Key(); k != "" {
				return detect.Entity{Kind: detect.EntityUser, Value: k}, true
			}
		case n == "host" || n == "computer" || strings.HasSuffix(n, "computername") || strings.HasSuffix(n, "hostname") ||
			strings.HasSuffix(n, "host.name") || strings.HasSuffix(n, "workstationname") || n == "workstation":
			if h := event.CanonicalHost(v).FQDN; h != "" {
				return detect.Entity{Kind: detect.EntityHost, Value: h}, true
			}
		}
	}
	return detect.Entity{}, false
}

func formatCorrNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// formatCorrSpan writes a timespan as Sigma does (5m, 1h, 2d).
func formatCorrSpan(d time.Duration) string {
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if d >= u.unit && d%u.unit == 0 {
			return strconv.FormatInt(int64(d/u.unit), 10) + u.name
		}
	}
	return d.String()
}

// corrRing is a bounded FIFO (a power-of-two circular buffer) that also inserts in
// the middle, for late inputs. It encodes as a JSON array, oldest first.
type corrRing[T any] struct {
	buf  []T
	head int
	n    int
}

func (r *corrRing[T]) at(i int) *T { return &r.buf[(r.head+i)&(len(r.buf)-1)] }

func (r *corrRing[T]) clear() {
	var zero T
	for i := 0; i < r.n; i++ {
		*r.at(i) = zero
	}
	r.head, r.n = 0, 0
}

func (r *corrRing[T]) popFront() T {
	var zero T
	p := r.at(0)
	x := *p
	*p = zero
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
	return x
}

// insert puts x at position i, growing the buffer (up to the power of two
// holding limit) when full. The caller keeps n below limit.
func (r *corrRing[T]) insert(i int, x T, limit int) {
	if r.n == len(r.buf) {
		size := max(4, 2*len(r.buf))
		if limit > r.n && size > limit {
			size = 4
			for size < limit {
				size *= 2
			}
		}
		nb := make([]T, size)
		for k := 0; k < r.n; k++ {
			nb[k] = *r.at(k)
		}
		r.buf, r.head = nb, 0
	}
	r.n++
	for k := r.n - 1; k > i; k-- {
		*r.at(k) = *r.at(k - 1)
	}
	*r.at(i) = x
}

// pushEvict appends xs, dropping the oldest beyond limit.
func (r *corrRing[T]) pushEvict(xs []T, limit int) {
	for _, x := range xs {
		if r.n >= limit {
			r.popFront()
		}
		r.insert(r.n, x, limit)
	}
}

func (r corrRing[T]) MarshalJSON() ([]byte, error) {
	s := make([]T, r.n)
	for i := range s {
		s[i] = *r.at(i)
	}
	return json.Marshal(s)
}

func (r *corrRing[T]) UnmarshalJSON(b []byte) error {
	var s []T
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*r = corrRing[T]{}
	for _, x := range s {
		r.insert(r.n, x, len(s))
	}
	return nil
}

// Snapshots.

const correlationSnapshotVersion = 1

type corrEngineSnapshot struct {
	Version      int               `json:"version"`
	Correlations []json.RawMessage `json:"correlations"`
}

type corrSnapshot struct {
	Ref       string           `json:"ref"`
	Def       string           `json:"def"` // definition fingerprint
	Started   bool             `json:"started"`
	Watermark int64            `json:"watermark"`
	LastSweep int64            `json:"last_sweep"`
	Stats     CorrelationStats `json:"stats"`
	Groups    []*corrGroup     `json:"groups"`
}

// Snapshot writes the state of every correlation to w (JSON), so that Restore in
// a new process continues where this one stopped. Each correlation is copied
// under its lock; for a snapshot consistent across correlations, take it while
// no Detect call is running.
func (ce *CorrelationEngine) Snapshot(w io.Writer) error {
	snap := corrEngineSnapshot{Version: correlationSnapshotVersion}
	for _, c := range ce.corrs {
		c.mu.Lock()
		cs := corrSnapshot{Ref: c.ref, Def: c.defFP, Started: c.started, Watermark: c.watermark, LastSweep: c.lastSweep, Stats: c.stats}
		for _, g := range c.groups {
			cs.Groups = append(cs.Groups, g)
		}
		slices.SortFunc(cs.Groups, func(a, b *corrGroup) int { return strings.Compare(a.Key, b.Key) })
		data, err := json.Marshal(cs) // under the lock: the groups are live
		c.mu.Unlock()
		if err != nil {
			return fmt.Errorf("snapshotting correlation %s: %w", c.ref, err)
		}
		snap.Correlations = append(snap.Correlations, data)
	}
	if err := json.NewEncoder(w).Encode(snap); err != nil {
		return fmt.Errorf("writing correlation snapshot: %w", err)
	}
	return nil
}

// Restore replaces the engine's state with a snapshot. Correlations of the
// snapshot that no longer exist or whose definition changed are skipped and
// returned (those correlations start empty). State beyond the engine's bounds
// is trimmed. On error the engine is unchanged.
func (ce *CorrelationEngine) Restore(r io.Reader) (skipped []string, err error) {
	var snap corrEngineSnapshot
	if err := json.NewDecoder(r).Decode(&snap); err != nil {
		return nil, fmt.Errorf("reading correlation snapshot: %w", err)
	}
	if snap.Version != correlationSnapshotVersion {
		return nil, fmt.Errorf("reading correlation snapshot: version %d, want %d", snap.Version, correlationSnapshotVersion)
	}
	byRef := map[string]*corrState{}
	for _, c := range ce.corrs {
		byRef[c.ref] = c
	}
	type restored struct {
		c      *corrState
		snap   *corrSnapshot
		groups map[string]*corrGroup
	}
	var todo []restored
	for _, data := range snap.Correlations {
		cs := &corrSnapshot{}
		if err := json.Unmarshal(data, cs); err != nil {
			return nil, fmt.Errorf("reading correlation snapshot: %w", err)
		}
		c := byRef[cs.Ref]
		if c == nil || c.defFP != cs.Def {
			skipped = append(skipped, cs.Ref)
			continue
		}
		groups := map[string]*corrGroup{}
		for _, g := range cs.Groups {
			if err := c.checkGroup(g); err != nil {
				return nil, fmt.Errorf("reading correlation snapshot: correlation %s: %w", cs.Ref, err)
			}
			if groups[g.Key] != nil {
				return nil, fmt.Errorf("reading correlation snapshot: correlation %s: group %q twice", cs.Ref, g.Key)
			}
			groups[g.Key] = g
		}
		todo = append(todo, restored{c: c, snap: cs, groups: groups})
	}
	for _, x := range todo {
		c := x.c
		c.mu.Lock()
		c.groups, c.started, c.watermark, c.lastSweep, c.stats = x.groups, x.snap.Started, x.snap.Watermark, x.snap.LastSweep, x.snap.Stats
		if len(c.groups) > c.opts.MaxGroups {
			c.evict(c.opts.MaxGroups)
		}
		c.mu.Unlock()
	}
	return skipped, nil
}

// snapTime reports whether a restored time is unset or within what the engine
// produces (event times and timespans are bounded).
func snapTime(t int64) bool { return t == unsetTime || (t >= -8e18 && t <= 8e18) }

// checkGroup validates a restored group and trims it to the bounds.
func (c *corrState) checkGroup(g *corrGroup) error {
	n := len(c.def.Rules)
	switch {
	case g == nil:
		return errors.New("empty group")
	case len(g.Vals) != len(c.def.GroupBy):
		return fmt.Errorf("group %q has %d values, want %d", g.Key, len(g.Vals), len(c.def.GroupBy))
	case c.def.Type == Temporal && (len(g.Seen) != n || len(g.SeenEv) != n):
		return fmt.Errorf("group %q: temporal state for %d rules, want %d", g.Key, len(g.Seen), n)
	case c.def.Type == TemporalOrdered && (len(g.StageStart) != n || len(g.StageAt) != n || len(g.StageEv) != n):
		return fmt.Errorf("group %q: sequence state for %d rules, want %d", g.Key, len(g.StageStart), n)
	case math.IsNaN(g.Sum) || math.IsInf(g.Sum, 0):
		return fmt.Errorf("group %q: sum is not finite", g.Key)
	case !snapTime(g.First) || !snapTime(g.Latest) || !snapTime(g.Floor) || !snapTime(g.Quiet):
		return fmt.Errorf("group %q: time out of range", g.Key)
	}
	if c.def.Type == ValueCount && g.Distinct == nil {
		g.Distinct = map[string]int64{}
	}
	for g.Entries.n > c.opts.MaxEntries {
		a := g.Entries.popFront()
		b := g.Entries.at(0)
		b.N += a.N
		b.Sum = addCorrClamped(b.Sum, a.Sum)
	}
	for g.Pct.n > c.opts.MaxEntries {
		g.Pct.popFront()
	}
	for g.Ev.n > c.opts.MaxEvidence {
		g.Ev.popFront()
	}
	for len(g.Distinct) > c.maxDistinct {
		c.forgetOldestValue(g)
	}
	for i := range g.SeenEv {
		if over := len(g.SeenEv[i]) - c.opts.MaxEvidence; over > 0 {
			g.SeenEv[i] = g.SeenEv[i][over:]
		}
	}
	for i := range g.StageEv {
		if over := len(g.StageEv[i]) - c.opts.MaxEvidence; over > 0 {
			g.StageEv[i] = g.StageEv[i][over:]
		}
	}
	return nil
}

// WithCorrelations makes d feed its hits to the correlation engine ce (built over
// the same rules) and emit the correlation signals; the signals of rules used
// only by correlations with generate: false are no longer emitted. Call it before
// the first Detect. d's version then also names the correlations.
func (d *Detector) WithCorrelations(ce *CorrelationEngine) *Detector {
	d.corr = ce
	if ce != nil && len(ce.corrs) > 0 {
		d.version += "+c" + ce.Fingerprint()
	}
	return d
}

// Correlations returns the detector's correlation engine, nil without one.
func (d *Detector) Correlations() *CorrelationEngine { return d.corr }

// Flush ends the input: correlation windows still open are decided (conditions
// with upper bounds fire now if they hold) and correlation state is emptied. The
// signals are stamped with the detector's id and version and their ids, as
// detect.Engine stamps those of Detect.
func (d *Detector) Flush(emit func(detect.Signal)) {
	if d.corr == nil {
		return
	}
	stamp := d.stamper(emit)
	d.release(math.MaxInt64, stamp)
	d.corr.Flush(stamp)
}

// Release is the streaming form of Flush for an Ordered detector: the deferred
// hits at or before upTo (event time, Unix nanoseconds: a stream's watermark)
// go to the correlations in event-time order, the later ones wait for a later
// call, and the correlations keep their state (their windows close as event
// time passes, by CorrelationOptions.Lateness).
func (d *Detector) Release(upTo int64, emit func(detect.Signal)) {
	if d.corr == nil {
		return
	}
	d.release(upTo, d.stamper(emit))
}

// SkipThrough makes Release drop the hits at or before t (event time, Unix
// nanoseconds): a stream restored from a checkpoint whose correlation state
// already counted them replays them from its log.
func (d *Detector) SkipThrough(t int64) { d.skipThrough = t }

// Held returns how many hits wait for Release and the smallest log position
// (event.Origin.Pos) among their events (ok false when none).
func (d *Detector) Held() (n int, minPos uint64, ok bool) {
	d.deferMu.Lock()
	defer d.deferMu.Unlock()
	if len(d.deferred) == 0 {
		return 0, 0, false
	}
	minPos = d.deferred[0].e.Origin.Pos
	for _, h := range d.deferred {
		minPos = min(minPos, h.e.Origin.Pos)
	}
	return len(d.deferred), minPos, true
}

// stamper stamps correlation signals with the detector's id and version and
// their ids, as detect.Engine stamps those of Detect.
func (d *Detector) stamper(emit func(detect.Signal)) func(detect.Signal) {
	return func(s detect.Signal) {
		s.DetectorID, s.DetectorVersion = DetectorID, d.version
		if s.ID == "" {
			s.ID = detect.SignalID(s.DetectorID, s.RuleID, s.Evidence)
		}
		emit(s)
	}
}

func (d *Detector) release(upTo int64, stamp func(detect.Signal)) {
	d.deferMu.Lock()
	hits := d.deferred
	d.deferred = nil
	d.deferMu.Unlock()
	slices.SortStableFunc(hits, func(a, b deferredHit) int {
		if c := a.e.Timestamp.Compare(b.e.Timestamp); c != 0 {
			return c
		}
		if c := strings.Compare(a.e.Origin.Source, b.e.Origin.Source); c != 0 {
			return c
		}
		if c := cmp.Compare(a.e.Origin.Offset, b.e.Origin.Offset); c != 0 {
			return c
		}
		if c := cmp.Compare(a.e.Origin.Record, b.e.Origin.Record); c != 0 {
			return c
		}
		return strings.Compare(RuleRef(a.rule), RuleRef(b.rule))
	})
	n := 0
	for n < len(hits) && hits[n].e.Timestamp.UnixNano() <= upTo {
		if d.skipThrough == 0 || hits[n].e.Timestamp.UnixNano() > d.skipThrough {
			d.corr.observe(&Hit{Rule: hits[n].rule}, hits[n].e, stamp)
		}
		hits[n].e = nil
		n++
	}
	if rest := hits[n:]; len(rest) > 0 {
		d.deferMu.Lock()
		d.deferred = append(slices.Clone(rest), d.deferred...)
		d.deferMu.Unlock()
	}
}

// Ordered makes d run its correlations in event-time order, whatever order the
// detect workers see batches in: hits of rules that correlations refer to are
// kept with a copy of their event and fed to the correlations, sorted by event
// time and origin, at Flush. A batch run (hunt) then gives the same correlation
// signals every time. The cost is memory for those hits until Flush; the rules'
// own signals are emitted as they happen.
func (d *Detector) Ordered() *Detector {
	d.ordered = true
	return d
}
