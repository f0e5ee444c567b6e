package correlate

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/attack"
	"github.com/vigilsec/vigil/internal/correlate/risk"
	"github.com/vigilsec/vigil/internal/detect"
)

// Options tunes a Correlator. Zero values take the defaults.
type Options struct {
	// Window: two signals sharing an entity are linked when at most Window apart
	// in event time (chains over hours or days are links of such steps).
	Window time.Duration // default 24h
	// HubDegree: an entity seen with more than this many distinct other entities
	// (users, hosts, addresses, ...) within Window is a hub (a domain controller,
	// a popular SaaS address, a shared server) and links nothing: through it every
	// incident would join every other.
	HubDegree int // default 10
	// Context says what the business knows of an entity: the asset's criticality
	// and whether the identity is privileged. Nil: nothing known. It raises (or
	// lowers) an incident's risk in odds space (see package risk).
	Context func(detect.Entity) (risk.Criticality, bool)
	// Resolve maps an entity to the one it is (entity resolution: CORP\alice and
	// alice@corp.example are one person; ws-042 and ws-042.corp.example one
	// host; 10.1.2.3 is ws-042 while ws-042 holds its DHCP lease), so signals
	// naming it differently link. t is the signal's event time, for bindings
	// that change over time. Nil: values as given.
	Resolve func(e detect.Entity, t time.Time) detect.Entity
	// MaxSignals bounds the signals an incident keeps: past it, a signal that
	// repeats one the incident already holds (same detector, rule and entities)
	// is counted, moves the incident's last time and is otherwise dropped, so a
	// noisy entity that never stops cannot grow an incident without bound.
	// Distinct signals are always kept.
	MaxSignals int // default 10,000
	// MaxOpenSignals bounds the signals all open incidents hold together,
	// kept or counted as repeats past MaxSignals: past it, Expire also closes
	// incidents until they hold at most nine tenths of it, as if their window
	// had passed, and counts them in Stats.Shed; a later signal on their
	// entities opens a new incident. Those holding over a tenth of the bound
	// close first, then the least recently active (oldest last signal
	// first). The window alone (a day) does not bound a flood of distinct
	// signals (hundreds a second for hours); this bounds the correlator's
	// memory and a stream's checkpoint. Default 200,000.
	MaxOpenSignals int
	// Precision is a rule's precision as analysts' verdicts estimate it (0 when
	// unknown: the risk scorer's prior), multiplied into each of its signals'
	// risk contributions. Nil: the prior for every rule.
	Precision func(detectorID, ruleID string) float64
	// Posture says what pre-production analysis (vigil scan) found about an
	// entity (a workload with a privileged pod spec, an image with a critical
	// reachable vulnerability): its exposure and why, in a sentence. Nil:
	// nothing known. The worst exposure among an incident's entities
	// multiplies its odds (ExposureModifiers) and the reasons are the
	// incident's Posture.
	Posture func(detect.Entity) (Exposure, string)
	// ExposureModifiers are odds multipliers for no, low, medium, high and
	// critical exposure; default 1, 1, 1.2, 1.5, 2 (a critical exposure weighs
	// like an extreme-criticality asset).
	ExposureModifiers [5]float64
}

// Exposure is how exposed an entity is by its pre-production posture: 0 none
// to 4 critical.
type Exposure uint8

// maxPostureReasons bounds the posture reasons an incident keeps.
const maxPostureReasons = 5

func (o Options) withDefaults() Options {
	if o.ExposureModifiers == ([5]float64{}) {
		o.ExposureModifiers = [5]float64{1, 1, 1.2, 1.5, 2}
	}
	if o.Window <= 0 {
		o.Window = 24 * time.Hour
	}
	if o.MaxOpenSignals <= 0 {
		o.MaxOpenSignals = 200_000
	}
	if o.HubDegree <= 0 {
		o.HubDegree = 10
	}
	if o.MaxSignals <= 0 {
		o.MaxSignals = 10_000
	}
	return o
}

// linkable says which entity kinds join signals into one incident: the things an
// attack moves through. Attributes of a behavior (a program path, an application,
// a country) describe a signal but would tie unrelated ones together.
var linkable = map[detect.EntityKind]bool{
	detect.EntityUser: true, detect.EntityHost: true, detect.EntityIP: true, detect.EntityDomain: true,
	detect.EntityURL: true, detect.EntityHash: true, detect.EntityWorkload: true, detect.EntityPrincipal: true,
}

// MaxIncidentEntities bounds the entities an Incident lists (the most
// frequent first; EntityCount says how many it has).
const MaxIncidentEntities = 200

// evidenceKind keys the events a signal cites: two signals backed by the same
// event are about the same activity (a Sigma correlation and the rule matches it
// counts, a rule and a behavioral model on one logon), whatever entities each
// names. Evidence links but is not an entity of the incident, and never a hub.
const evidenceKind detect.EntityKind = "_event"

// maxEvidenceKeys bounds the evidence events a signal links through.
const maxEvidenceKeys = 32

type entKey struct {
	kind  detect.EntityKind
	value string
}

// entState is what the correlator knows of one linkable entity.
type entState struct {
	incident string // the incident it last joined
	last     int64  // event time of its latest signal
	// neighbours seen with it within the window (up to HubDegree+1), by last time
	neighbours map[entKey]int64
}

// incState is one incident being built.
type incState struct {
	id          string
	first, last int64
	signals     []*detect.Signal
	seen        map[string]int // (detector, rule, entities) → repeats
	entities    map[entKey]int // entity → signals naming it
	// repeats past Options.MaxSignals: counted, not kept (their ids are, so a
	// redelivery is still recognised)
	extra    int
	extraIDs []string
	absorbed []string // ids of the incidents merged into this one

	// Kept as signals arrive, so rendering an incident does not walk them all.
	keys       []string         // dedupKey of each kept signal
	unsorted   bool             // signals not in (time, id) order (a merge, a late signal)
	tactics    map[string]int64 // tactic → its first signal's time
	techniques map[string]int64
	severity   detect.Severity
	noMiss     float64 // product of (1 - confidence) over distinct signals
	crit       risk.Criticality
	priv       bool
	exposure   Exposure
	posture    []string // why, at most maxPostureReasons
}

func newIncState(id string, t int64) *incState {
	return &incState{id: id, first: t, last: t, seen: map[string]int{}, entities: map[entKey]int{},
		tactics: map[string]int64{}, techniques: map[string]int64{}, noMiss: 1}
}

// riskEntity is an incident as the risk scorer knows it.
func riskEntity(id string) detect.Entity { return detect.Entity{Kind: "incident", Value: id} }

// Update says what adding one signal did.
type Update struct {
	Incident  string   // the incident the signal is in
	Created   bool     // the signal opened a new incident
	Merged    []string // incidents the signal joined into Incident (their ids end)
	Duplicate bool     // the signal was already there (a redelivery): nothing changed
}

// Merge records that an incident ended by joining another.
type Merge struct {
	From string `json:"from"`
	Into string `json:"into"`
}

// Correlator groups signals into incidents through the entities they share, in
// event-time order: a signal joins the incidents of its (non-hub) entities that
// were active within the window before it, and joins them into one when it links
// several. Incident ids are stable: an incident is named after its first signal,
// and when two merge the older name survives. Feed it signals in event-time order
// (hunt sorts them; a stream needs a reorder buffer before it); it is not safe
// for concurrent use.
//
// It works the same in batch and streaming: Add returns what each signal did,
// Updated renders the incidents changed since it was last called, and Expire
// closes the incidents no later signal can join (idle for longer than the
// window), which bounds the memory by what the window holds. Snapshot and
// Restore carry the open incidents across runs, so ids stay stable when the
// next batch continues an incident.
type Correlator struct {
	opts     Options
	ents     map[entKey]*entState
	incs     map[string]*incState
	mergedTo map[string]string // merged incident id → the id it joined (open incidents only)
	order    []string          // incident ids in creation order (closed and merged ones skipped)
	sigInc   map[string]string // signal id → the incident it joined (open incidents only)
	dirty    map[string]bool   // incidents changed since Updated
	merges   []Merge           // merges since Updated
	// scorer holds every open incident's risk, one entity per incident, updated
	// as signals arrive and merged when incidents merge
	scorer *risk.Scorer
	// sigJSON caches the encoding of held signals for snapshots
	sigJSON sigJSONCache
	// entities scores users, hosts, workloads and cloud principals (Elastic's
	// entity risk): every signal naming one contributes to it, whatever incident
	// it joined
	entities  *risk.Scorer
	peaks     map[detect.Entity]peak // each scored entity's highest score so far
	processed int
	stats     Stats
}

// New builds a correlator.
func New(opts Options) *Correlator {
	return &Correlator{opts: opts.withDefaults(), ents: map[entKey]*entState{}, incs: map[string]*incState{},
		mergedTo: map[string]string{}, sigInc: map[string]string{}, dirty: map[string]bool{}, scorer: newScorer(),
		entities: newEntityScorer(), peaks: map[detect.Entity]peak{}}
}

// peak is an entity's highest risk so far and when it was.
type peak struct {
	Score float64   `json:"score"`
	At    time.Time `json:"at"`
}

// riskKinds are the entities scored on their own: the identities and assets
// an analyst asks "how risky is it now" about.
var riskKinds = map[detect.EntityKind]bool{
	detect.EntityUser: true, detect.EntityHost: true, detect.EntityWorkload: true, detect.EntityPrincipal: true,
}

// newEntityScorer scores entities with the defaults, up to a million of them
// (the least recently seen evicted past that).
func newEntityScorer() *risk.Scorer {
	sc, err := risk.New(risk.Config{MaxEntities: 1_000_000})
	if err != nil {
		panic(fmt.Sprintf("correlate: risk defaults rejected: %v", err))
	}
	return sc
}

// newScorer is the incidents' risk scorer: the defaults (see package risk), and
// room for every open incident.
func newScorer() *risk.Scorer {
	sc, err := risk.New(risk.Config{MaxEntities: 10_000_000})
	if err != nil {
		panic(fmt.Sprintf("correlate: risk defaults rejected: %v", err)) // a constant configuration
	}
	return sc
}

// resolve follows merges to the surviving incident id.
func (c *Correlator) resolve(id string) string {
	for {
		next, ok := c.mergedTo[id]
		if !ok {
			return id
		}
		id = next
	}
}

// Add puts s into an incident and says which. A signal already held (same id,
// in an open incident) is a redelivery and changes nothing.
func (c *Correlator) Add(s detect.Signal) Update {
	if id, ok := c.sigInc[s.ID]; ok && s.ID != "" {
		c.stats.Duplicates++
		return Update{Incident: c.resolve(id), Duplicate: true}
	}
	c.processed++
	c.stats.Signals++
	now := s.Time.UnixNano()
	window := int64(c.opts.Window)
	if c.processed%4096 == 0 {
		c.sweep(now)
	}
	keys := c.signalKeys(&s)
	c.updateNeighbours(keys, now)

	var found []string
	for _, k := range keys {
		e := c.ents[k]
		if e == nil || e.incident == "" || now-e.last > window || c.isHub(e, now) {
			continue
		}
		id := c.resolve(e.incident)
		if _, open := c.incs[id]; open && !slices.Contains(found, id) {
			found = append(found, id)
		}
	}
	var up Update
	var inc *incState
	switch len(found) {
	case 0:
		inc = c.newIncident(&s)
		up.Created = true
	default:
		slices.SortFunc(found, func(a, b string) int {
			ia, ib := c.incs[a], c.incs[b]
			if x := cmp.Compare(ia.first, ib.first); x != 0 {
				return x
			}
			return strings.Compare(a, b)
		})
		inc = c.incs[found[0]]
		for _, id := range found[1:] {
			c.merge(inc, c.incs[id])
			up.Merged = append(up.Merged, id)
		}
	}
	sc := kept(&s)
	isKept := c.addTo(inc, &sc, keys, dedupKey(&sc), true)
	if !isKept {
		inc.extraIDs = append(inc.extraIDs, s.ID)
	}
	if s.ID != "" {
		c.sigInc[s.ID] = inc.id
	}
	for _, k := range keys {
		e := c.ents[k]
		if e == nil { // an event this signal is the first to cite
			if !isKept {
				// A repeat past MaxSignals links by its entities, which the
				// repeats it was counted with name; a link per repeat's event
				// grew with the repeats (a noisy hub: hundreds of thousands).
				continue
			}
			e = &entState{}
			c.ents[k] = e
		}
		e.incident = inc.id
		e.last = max(e.last, now)
	}
	c.dirty[inc.id] = true
	up.Incident = inc.id
	c.scoreEntities(&sc, keys)
	return up
}

// precision is the rule's estimated precision, 0 for the scorer's prior.
func (c *Correlator) precision(s *detect.Signal) float64 {
	if c.opts.Precision == nil {
		return 0
	}
	if p := c.opts.Precision(s.DetectorID, s.RuleID); p > 0 && p <= 1 {
		return p
	}
	return 0
}

// scoreEntities adds s to the risk of each identity and asset it names.
func (c *Correlator) scoreEntities(s *detect.Signal, keys []entKey) {
	tactic := ""
	if len(s.Tactics) > 0 {
		tactic = s.Tactics[0]
	}
	for _, k := range keys {
		if !riskKinds[k.kind] {
			continue
		}
		e := detect.Entity{Kind: k.kind, Value: k.value}
		crit, priv := risk.CriticalityUnknown, false
		if c.opts.Context != nil {
			crit, priv = c.opts.Context(e)
		}
		_ = c.entities.Add(risk.Contribution{Entity: e, Time: s.Time, Severity: s.Severity, Confidence: clamp01(s.Confidence),
			Precision: c.precision(s), RuleID: s.DetectorID + "/" + s.RuleID, Tactic: tactic, Criticality: crit, Privileged: priv})
		if v := c.entities.ScoreOf(e, s.Time); v > c.peaks[e].Score {
			c.peaks[e] = peak{Score: v, At: s.Time}
		}
	}
}

// PeakEntityRisk returns the n entities (all when n < 0) whose risk rose
// highest, each with the breakdown at its peak: what a hunt over past data
// asks ("who was most at risk, when, and why"), where EntityRisk asks about
// now. Entities the scorer has forgotten (idle past its horizon, or evicted)
// are left out.
func (c *Correlator) PeakEntityRisk(n int) []risk.Breakdown {
	type ranked struct {
		e detect.Entity
		p peak
	}
	var all []ranked
	for e, p := range c.peaks {
		if c.entities.Has(e) {
			all = append(all, ranked{e, p})
		}
	}
	slices.SortFunc(all, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(b.p.Score, a.p.Score), strings.Compare(string(a.e.Kind), string(b.e.Kind)), strings.Compare(a.e.Value, b.e.Value))
	})
	if n >= 0 && len(all) > n {
		all = all[:n]
	}
	out := make([]risk.Breakdown, len(all))
	for i, r := range all {
		out[i] = c.entities.Score(r.e, r.p.At)
	}
	return out
}

// EntityRisk returns the n riskiest users, hosts, workloads and cloud
// principals at event time now (all when n < 0), each with the breakdown of
// its score: every rule's part, decayed, zeta-weighted, and the business
// context's odds modifiers.
func (c *Correlator) EntityRisk(n int, now time.Time) []risk.Breakdown {
	return c.entities.Top(n, now)
}

func (c *Correlator) newIncident(s *detect.Signal) *incState {
	h := sha256.Sum256([]byte("incident\x00" + s.ID))
	id := "inc-" + hex.EncodeToString(h[:8])
	if c.incs[id] != nil || c.mergedTo[id] != "" {
		// the first signal's id already names an open incident (a signal id
		// reused for other content): derive another, deterministically
		for n := 1; ; n++ {
			h = sha256.Sum256(fmt.Appendf(nil, "incident\x00%s\x00%d", s.ID, n))
			if id = "inc-" + hex.EncodeToString(h[:8]); c.incs[id] == nil && c.mergedTo[id] == "" {
				break
			}
		}
	}
	inc := newIncState(id, s.Time.UnixNano())
	c.incs[id] = inc
	c.order = append(c.order, id)
	c.stats.Incidents++
	return inc
}

// merge moves from into into (the survivor keeps its id; the smaller side's
// signals are the ones moved, so repeated merges stay cheap). The scorer folds
// from's rules into into's, so the risk is as if every signal had joined into.
func (c *Correlator) merge(into, from *incState) {
	if len(from.signals) > len(into.signals) {
		// swap the contents, keeping the names and merge histories where they were
		intoID, fromID, intoAbs, fromAbs := into.id, from.id, into.absorbed, from.absorbed
		*into, *from = *from, *into
		into.id, from.id, into.absorbed, from.absorbed = intoID, fromID, intoAbs, fromAbs
	}
	for i, s := range from.signals {
		if !c.addTo(into, s, c.signalKeys(s), from.keys[i], false) {
			into.extraIDs = append(into.extraIDs, s.ID)
		}
		if s.ID != "" {
			c.sigInc[s.ID] = into.id
		}
	}
	into.extra += from.extra
	for _, id := range from.extraIDs {
		into.extraIDs = append(into.extraIDs, id)
		c.sigInc[id] = into.id
	}
	into.first, into.last = min(into.first, from.first), max(into.last, from.last)
	into.absorbed = append(into.absorbed, from.id)
	into.absorbed = append(into.absorbed, from.absorbed...)
	c.scorer.Merge(riskEntity(from.id), riskEntity(into.id))
	delete(c.incs, from.id)
	delete(c.dirty, from.id)
	c.mergedTo[from.id] = into.id
	c.merges = append(c.merges, Merge{From: from.id, Into: into.id})
	c.stats.Merges++
}

// addTo puts s (with its linkable keys and dedup key) in inc and keeps the
// incident's aggregates; score says whether s is new to the risk scorer (not
// when it moves in a merge). It reports false when s was only counted (a repeat
// past Options.MaxSignals).
func (c *Correlator) addTo(inc *incState, s *detect.Signal, keys []entKey, key string, score bool) bool {
	t := s.Time.UnixNano()
	inc.first, inc.last = min(inc.first, t), max(inc.last, t)
	if inc.seen[key]++; inc.seen[key] == 1 {
		inc.noMiss *= 1 - clamp01(s.Confidence) // a repeated signal is one piece of evidence, not many
	}
	for _, k := range keys {
		if k.kind == evidenceKind {
			continue // links signals, is not an entity of the incident
		}
		if inc.entities[k] == 0 && c.opts.Context != nil {
			cr, p := c.opts.Context(detect.Entity{Kind: k.kind, Value: k.value})
			inc.crit, inc.priv = max(inc.crit, cr), inc.priv || p
		}
		if inc.entities[k] == 0 && c.opts.Posture != nil {
			if lv, why := c.opts.Posture(detect.Entity{Kind: k.kind, Value: k.value}); lv > 0 {
				inc.exposure = max(inc.exposure, min(lv, 4))
				if why != "" && len(inc.posture) < maxPostureReasons && !slices.Contains(inc.posture, why) {
					inc.posture = append(inc.posture, why)
				}
			}
		}
		inc.entities[k]++
	}
	inc.severity = max(inc.severity, s.Severity)
	for _, tc := range s.Tactics {
		if f, ok := inc.tactics[tc]; !ok || t < f {
			inc.tactics[tc] = t
		}
	}
	for _, tc := range s.Techniques {
		if f, ok := inc.techniques[tc]; !ok || t < f {
			inc.techniques[tc] = t
		}
	}
	if score {
		tactic := ""
		if len(s.Tactics) > 0 {
			tactic = s.Tactics[0]
		}
		// rejected contributions (a zero time, an out-of-range confidence) add
		// nothing to the risk; the scorer counts them
		_ = c.scorer.Add(risk.Contribution{Entity: riskEntity(inc.id), Time: s.Time, Severity: s.Severity,
			Confidence: clamp01(s.Confidence), Precision: c.precision(s), RuleID: s.DetectorID + "/" + s.RuleID, Tactic: tactic})
	}
	if len(inc.signals) >= c.opts.MaxSignals && inc.seen[key] > 1 {
		inc.extra++
		return false
	}
	if n := len(inc.signals); n > 0 && signalOrder(inc.signals[n-1], s) > 0 {
		inc.unsorted = true
	}
	inc.signals = append(inc.signals, s)
	inc.keys = append(inc.keys, key)
	return true
}

// kept is the part of a signal an incident keeps, and a checkpoint holds:
// what linking, merging, the aggregates and the order need. The title, the
// explanation and the evidence's details are in the store (a stream stores
// every signal before correlating it); keeping them made an open signal cost
// about 2 KB of memory and 1.6 KB of checkpoint.
func kept(s *detect.Signal) detect.Signal {
	k := detect.Signal{ID: s.ID, Time: s.Time, DetectorID: s.DetectorID, RuleID: s.RuleID, Severity: s.Severity,
		Confidence: s.Confidence, Tactics: s.Tactics, Techniques: s.Techniques, Entities: s.Entities}
	if n := min(len(s.Evidence), maxEvidenceKeys); n > 0 {
		k.Evidence = make([]detect.EvidenceRef, n)
		for i := range n {
			k.Evidence[i] = detect.EvidenceRef{EventID: s.Evidence[i].EventID}
		}
	}
	return k
}

// signalKeys returns the linkable entities of s, each once, then the events
// it cites.
func (c *Correlator) signalKeys(s *detect.Signal) []entKey {
	keys := make([]entKey, 0, len(s.Entities)+min(len(s.Evidence), maxEvidenceKeys))
	for _, e := range s.Entities {
		if c.opts.Resolve != nil && linkable[e.Kind] {
			e = c.opts.Resolve(e, s.Time)
		}
		k := entKey{e.Kind, strings.ToLower(e.Value)}
		if linkable[e.Kind] && e.Value != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for i, ev := range s.Evidence {
		if i == maxEvidenceKeys {
			break
		}
		if k := (entKey{evidenceKind, ev.EventID}); ev.EventID != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// dedupKey says which signals repeat one another: same detector, rule and entities.
func dedupKey(s *detect.Signal) string {
	var b strings.Builder
	b.WriteString(s.DetectorID)
	b.WriteByte(0)
	b.WriteString(s.RuleID)
	es := slices.Clone(s.Entities)
	slices.SortFunc(es, func(a, b detect.Entity) int {
		if c := strings.Compare(string(a.Kind), string(b.Kind)); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	for _, e := range es {
		b.WriteByte(0)
		b.WriteString(string(e.Kind))
		b.WriteByte(':')
		b.WriteString(e.Value)
	}
	return b.String()
}

// sweep forgets entities idle for longer than the window: they can link nothing
// any more, so the entity table is bounded by what the window holds.
func (c *Correlator) sweep(now int64) {
	for k, e := range c.ents {
		if now-e.last > int64(c.opts.Window) {
			delete(c.ents, k)
		}
	}
}

// updateNeighbours records that keys were seen together at now (evidence
// events are nobody's neighbours: a user with many signals is not a hub).
func (c *Correlator) updateNeighbours(keys []entKey, now int64) {
	for _, k := range keys {
		if k.kind == evidenceKind {
			continue // links signals, has no neighbours; made when the signal is kept (Add)
		}
		e := c.ents[k]
		if e == nil {
			e = &entState{neighbours: map[entKey]int64{}}
			c.ents[k] = e
		}
		for _, o := range keys {
			if o == k || o.kind == evidenceKind {
				continue
			}
			if _, ok := e.neighbours[o]; !ok && len(e.neighbours) > c.opts.HubDegree {
				c.expireNeighbours(e, now)
				if len(e.neighbours) > c.opts.HubDegree {
					continue // already a hub: no need to know more
				}
			}
			e.neighbours[o] = now
		}
	}
}

func (c *Correlator) expireNeighbours(e *entState, now int64) {
	for k, t := range e.neighbours {
		if now-t > int64(c.opts.Window) {
			delete(e.neighbours, k)
		}
	}
}

// isHub reports whether e has been seen with more than HubDegree distinct
// entities within the window.
func (c *Correlator) isHub(e *entState, now int64) bool {
	if len(e.neighbours) <= c.opts.HubDegree {
		return false
	}
	n := 0
	for _, t := range e.neighbours {
		if now-t <= int64(c.opts.Window) {
			n++
		}
	}
	return n > c.opts.HubDegree
}

// Incidents returns the open incidents (those Expire has not closed), in the
// order of their first signal, each with its signals in event-time order.
func (c *Correlator) Incidents() []Incident {
	out := make([]Incident, 0, len(c.incs))
	for _, id := range c.order {
		if inc := c.incs[id]; inc != nil {
			out = append(out, c.render(inc))
		}
	}
	sortIncidents(out)
	return out
}

// Updated returns the incidents changed (created, grown, or merged into) since
// it was last called, in the order of their first signal, and the merges since:
// each merged incident's id ends there, its signals now in the other. A stream
// calls it now and then to publish; a batch calls it once at the end.
func (c *Correlator) Updated() ([]Incident, []Merge) {
	out := make([]Incident, 0, len(c.dirty))
	for id := range c.dirty {
		if inc := c.incs[id]; inc != nil {
			out = append(out, c.render(inc))
		}
	}
	clear(c.dirty)
	sortIncidents(out)
	merges := c.merges
	c.merges = nil
	return out, merges
}

// Expire closes the incidents no signal at or after now can join: those whose
// last signal is more than the window before now (every entity that could link
// to them has gone idle too). It returns them, final, and forgets them and the
// idle entities, so the correlator holds only what the window holds. When the
// open incidents still hold more than Options.MaxOpenSignals signals, it also
// closes the least recently active ones (Stats.Shed). now is event time: the
// watermark of a stream, or the last signal's time in a batch.
func (c *Correlator) Expire(now time.Time) []Incident {
	ns := now.UnixNano()
	window := int64(c.opts.Window)
	var out []Incident
	held := 0
	for id, inc := range c.incs {
		if ns-inc.last <= window {
			held += inc.held()
			continue
		}
		out = append(out, c.close(id, inc))
	}
	if held > c.opts.MaxOpenSignals {
		type open struct {
			id    string
			last  int64
			n     int
			large bool
		}
		large := c.opts.MaxOpenSignals / 10
		all := make([]open, 0, len(c.incs))
		for id, inc := range c.incs {
			all = append(all, open{id, inc.last, inc.held(), inc.held() > large})
		}
		// An incident holding over a tenth of the bound goes first: one hub
		// of repeats would otherwise have every smaller incident closed
		// before it, though it alone frees the most.
		slices.SortFunc(all, func(a, b open) int {
			if a.large != b.large {
				if a.large {
					return -1
				}
				return 1
			}
			return cmp.Or(cmp.Compare(a.last, b.last), strings.Compare(a.id, b.id))
		})
		target := c.opts.MaxOpenSignals - c.opts.MaxOpenSignals/10
		for _, o := range all {
			if held <= target {
				break
			}
			held -= o.n
			out = append(out, c.close(o.id, c.incs[o.id]))
			c.stats.Shed++
		}
	}
	if len(out) > 0 {
		c.order = slices.DeleteFunc(c.order, func(id string) bool { return c.incs[id] == nil })
	}
	c.sweep(ns)
	c.entities.Advance(now)
	for e := range c.peaks {
		if !c.entities.Has(e) {
			delete(c.peaks, e)
		}
	}
	sortIncidents(out)
	return out
}

// held is what an incident holds against Options.MaxOpenSignals: its signals
// and the ids of the repeats it counted past MaxSignals (each an id and an
// index entry: a flood of repeats grew memory without bound when only the
// kept signals counted).
func (inc *incState) held() int { return len(inc.signals) + len(inc.extraIDs) }

// close renders an incident final and forgets it, with the events its
// signals cite (one link key per signal: kept, they would grow with the
// signals until the window passed, whatever MaxOpenSignals said).
func (c *Correlator) close(id string, inc *incState) Incident {
	out := c.render(inc)
	for _, s := range inc.signals {
		delete(c.sigInc, s.ID)
		for i, ev := range s.Evidence {
			if i == maxEvidenceKeys {
				break
			}
			k := entKey{evidenceKind, ev.EventID}
			if e := c.ents[k]; e != nil && c.resolve(e.incident) == id {
				delete(c.ents, k)
			}
		}
	}
	for _, sid := range inc.extraIDs {
		delete(c.sigInc, sid)
	}
	for _, m := range inc.absorbed {
		delete(c.mergedTo, m)
	}
	c.scorer.Forget(riskEntity(id))
	delete(c.incs, id)
	delete(c.dirty, id)
	c.stats.Closed++
	return out
}

func sortIncidents(out []Incident) {
	slices.SortStableFunc(out, func(a, b Incident) int {
		if x := a.FirstSeen.Compare(b.FirstSeen); x != 0 {
			return x
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// Stats is what the correlator did.
type Stats struct {
	Signals    int `json:"signals"`    // signals added (redeliveries not counted)
	Duplicates int `json:"duplicates"` // redelivered signals ignored
	Incidents  int `json:"incidents"`  // incidents opened
	Merges     int `json:"merges"`     // incidents that ended by joining another
	Closed     int `json:"closed"`     // incidents closed by Expire
	Shed       int `json:"shed"`       // of them, closed early: the open incidents held over Options.MaxOpenSignals
	Open       int `json:"open"`       // incidents open now
}

// Stats reports the counts so far (across restores: a restored correlator
// continues the counts of the one that made the snapshot).
func (c *Correlator) Stats() Stats {
	st := c.stats
	st.Open = len(c.incs)
	return st
}

// render turns an incident's state into an Incident. It costs the sorting of
// its signals and entities; tactics, severity, confidence and risk are kept as
// signals arrive.
func (c *Correlator) render(inc *incState) Incident {
	if inc.unsorted {
		inc.sortSignals()
	}
	sigs := inc.signals
	total := len(sigs) + inc.extra
	out := Incident{ID: inc.id, Status: StatusOpen, FirstSeen: time.Unix(0, inc.first).UTC(), LastSeen: time.Unix(0, inc.last).UTC(),
		SignalCount: total, Version: int64(total), Severity: inc.severity, Confidence: 1 - inc.noMiss}
	out.SignalIDs = make([]string, len(sigs))
	for i, s := range sigs {
		out.SignalIDs[i] = s.ID
	}
	out.Tactics, out.Techniques = byFirstTime(inc.tactics), byFirstTime(inc.techniques)
	out.Posture = slices.Clone(inc.posture)
	type counted struct {
		k entKey
		n int
	}
	ents := make([]counted, 0, len(inc.entities))
	for k, n := range inc.entities {
		ents = append(ents, counted{k, n})
	}
	order := func(a, b counted) int {
		if x := cmp.Compare(b.n, a.n); x != 0 {
			return x
		}
		if x := strings.Compare(string(a.k.kind), string(b.k.kind)); x != 0 {
			return x
		}
		return strings.Compare(a.k.value, b.k.value)
	}
	out.EntityCount = len(ents)
	if len(ents) > 2*MaxIncidentEntities {
		ents = topK(ents, MaxIncidentEntities, order)
	}
	slices.SortFunc(ents, order)
	out.Entities = make([]detect.Entity, min(len(ents), MaxIncidentEntities))
	for i := range out.Entities {
		out.Entities[i] = detect.Entity{Kind: ents[i].k.kind, Value: ents[i].k.value}
	}
	out.Title = title(out.Tactics, out.Entities, len(inc.seen), total)
	out.Risk, out.Progress = c.incidentRisk(inc, out.Tactics)
	return out
}

// topK returns the k first of s in order (in no particular order), in
// O(n log k): a heap of the k best seen so far, the worst on top.
func topK[T any](s []T, k int, order func(a, b T) int) []T {
	h := make([]T, 0, k)
	worse := func(i, j int) bool { return order(h[i], h[j]) > 0 } // max-heap on order: h[0] is the worst kept
	down := func(i int) {
		for {
			l, m := 2*i+1, i
			if l < len(h) && worse(l, m) {
				m = l
			}
			if r := l + 1; r < len(h) && worse(r, m) {
				m = r
			}
			if m == i {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for _, x := range s {
		switch {
		case len(h) < k:
			h = append(h, x)
			for i := len(h) - 1; i > 0 && worse(i, (i-1)/2); i = (i - 1) / 2 {
				h[i], h[(i-1)/2] = h[(i-1)/2], h[i]
			}
		case order(x, h[0]) < 0:
			h[0] = x
			down(0)
		}
	}
	return h
}

// signalOrder orders signals by event time, then id.
func signalOrder(a, b *detect.Signal) int {
	return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.ID, b.ID))
}

// sortSignals puts the kept signals (and their keys) in signalOrder.
func (inc *incState) sortSignals() {
	perm := make([]int, len(inc.signals))
	for i := range perm {
		perm[i] = i
	}
	slices.SortStableFunc(perm, func(a, b int) int { return signalOrder(inc.signals[a], inc.signals[b]) })
	sigs, keys := make([]*detect.Signal, len(perm)), make([]string, len(perm))
	for i, j := range perm {
		sigs[i], keys[i] = inc.signals[j], inc.keys[j]
	}
	inc.signals, inc.keys, inc.unsorted = sigs, keys, false
}

// byFirstTime lists the keys of m in the order of their times (then by name).
func byFirstTime(m map[string]int64) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Or(cmp.Compare(m[a], m[b]), strings.Compare(a, b)) })
	return out
}

// incidentRisk scores an incident at its last signal: its signals as one
// entity's contributions to the risk scorer (distinct rules, zeta-weighted,
// decayed; the most critical asset and any privileged identity among its
// entities as odds modifiers; see package risk), then the ATT&CK progression of
// its tactics in the order they appeared as an odds multiplier of
// 1 + 2 x Progression.Score (a rising chain across several tactics at most
// triples the odds), and the worst pre-production exposure among its entities
// (Options.Posture, Options.ExposureModifiers).
func (c *Correlator) incidentRisk(inc *incState, tactics []string) (float64, attack.Progress) {
	ent := riskEntity(inc.id)
	c.scorer.SetContext(ent, inc.crit, inc.priv)
	base := c.scorer.Score(ent, time.Unix(0, inc.last)).Score
	prog := attack.Progression(tactics)
	q := min(max(base/100, 1e-6), 1-1e-6)
	o := q / (1 - q) * (1 + 2*prog.Score) * c.opts.ExposureModifiers[inc.exposure]
	return 100 * o / (1 + o), prog
}

// title is a short headline: the tactics in the order they appeared and the
// leading user and host.
func title(tactics []string, ents []detect.Entity, distinct, total int) string {
	var who, where string
	for _, e := range ents {
		switch {
		case e.Kind == detect.EntityUser && who == "":
			who = e.Value
		case (e.Kind == detect.EntityHost || e.Kind == detect.EntityIP) && where == "":
			where = e.Value
		}
	}
	var b strings.Builder
	if len(tactics) == 0 {
		b.WriteString("Suspicious activity")
	} else {
		for i, t := range tactics {
			if i == 3 {
				fmt.Fprintf(&b, " and %d more", len(tactics)-3)
				break
			}
			if i > 0 {
				b.WriteString(" then ")
			}
			b.WriteString(tacticName(t))
		}
	}
	if who != "" {
		b.WriteString(" from " + who)
	}
	if where != "" {
		b.WriteString(" on " + where)
	}
	fmt.Fprintf(&b, " (%d signals", total)
	if distinct != total {
		fmt.Fprintf(&b, ", %d distinct", distinct)
	}
	b.WriteString(")")
	return b.String()
}

// tacticName turns "credential-access" into "Credential access".
func tacticName(t string) string {
	t = strings.ReplaceAll(t, "-", " ")
	t = strings.ReplaceAll(t, "_", " ")
	if t == "" {
		return t
	}
	return strings.ToUpper(t[:1]) + t[1:]
}

func clamp01(x float64) float64 { return max(0, min(1, x)) }
