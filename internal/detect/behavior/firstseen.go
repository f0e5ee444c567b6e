package behavior

import (
	"encoding/gob"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
)

// FirstSeenConfig tunes the first-seen and rarity model. Zero values take the defaults.
type FirstSeenConfig struct {
	// SpaceLearn is how long (event time) a pair space learns before it may alert.
	SpaceLearn time.Duration // default 3 days
	// EntityLearn is how long an entity must have been seen before its novelties count.
	EntityLearn time.Duration // default 2 days
	// MinEvents is how many observations an entity needs in a space before it may alert.
	MinEvents int // default 20
	// OrgRare: a value used by less than this share of the space's entities is uncommon in the org.
	OrgRare float64 // default 0.05
	// PeerRare: a value used by less than this share of the entity's peers is uncommon among peers.
	PeerRare float64 // default 0.10
	// MinPeers is the smallest peer group compared against.
	MinPeers int // default 5
	// MaxEntities bounds the entities tracked per space (least recently seen evicted).
	MaxEntities int // default 200,000
	// MaxValues bounds the values remembered per entity (least used forgotten).
	MaxValues int // default 256
	// MaxOrgValues bounds the values whose org-wide prevalence is tracked per space.
	MaxOrgValues int // default 1,000,000
	// PerEntityDaily caps findings per entity, space and event-time day.
	PerEntityDaily int // default 3
	// PerValueDaily caps findings per value, space and event-time day: a tool
	// rolled out to every workstation in a morning is reported for the first
	// few, not for each.
	PerValueDaily int // default 3
	// MaxNovelty: an entity whose chance of using a new value is above this (the
	// Good-Turing estimate: values used once / observations) is one for which new
	// values are routine (a browser's destinations), so they are not reported.
	MaxNovelty float64 // default 0.05
	// MaxNewPerDay: an entity that has lately taken up more new values per day than
	// this (a browser meeting new sites; an exponentially decayed rate with a
	// two-day time constant, from its second day on) is not reported for one more.
	MaxNewPerDay float64 // default 1
}

func (c FirstSeenConfig) withDefaults() FirstSeenConfig {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defi := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	deff := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.SpaceLearn, 3*24*time.Hour)
	def(&c.EntityLearn, 2*24*time.Hour)
	defi(&c.MinEvents, 20)
	deff(&c.OrgRare, 0.05)
	deff(&c.PeerRare, 0.10)
	defi(&c.MinPeers, 5)
	defi(&c.MaxEntities, 200_000)
	defi(&c.MaxValues, 256)
	defi(&c.MaxOrgValues, 1_000_000)
	defi(&c.PerEntityDaily, 3)
	defi(&c.PerValueDaily, 3)
	deff(&c.MaxNovelty, 0.05)
	deff(&c.MaxNewPerDay, 1)
	return c
}

// GeoFunc locates a public address: ISO country code and autonomous system
// ("AS1221 Telstra"). ok is false for addresses it cannot place.
type GeoFunc func(netip.Addr) (country, asn string, ok bool)

// PeerFunc names the peer group of a user ("department/role"), "" when unknown.
type PeerFunc func(user string) string

// space is one kind of (entity, attribute) pair the model tracks.
type space struct {
	id             string
	entKind, attrK detect.EntityKind
	entNoun        string // "user"
	attrNoun       string // "host"
	phrase         string // "logged on to %s"
	peers          bool   // entities are users: compare with their peer group
	tactic, tech   string
	extract        func(m *FirstSeen, o *Obs) (ent, attr Sym, ok bool)
}

func spaces() []*space {
	return []*space{
		{id: "user_host", entKind: detect.EntityUser, attrK: detect.EntityHost, entNoun: "user", attrNoun: "host",
			phrase: "logged on to %s", peers: true, tactic: "lateral-movement", tech: "T1021",
			extract: func(_ *FirstSeen, o *Obs) (Sym, Sym, bool) {
				return o.User, o.Host, o.Kind == KindAuth && !o.Fail
			}},
		{id: "user_app", entKind: detect.EntityUser, attrK: "application", entNoun: "user", attrNoun: "application",
			phrase: "signed in to %s", peers: true, tactic: "initial-access", tech: "T1078",
			extract: func(_ *FirstSeen, o *Obs) (Sym, Sym, bool) {
				return o.User, o.Target, o.Kind == KindAuth && !o.Fail
			}},
		{id: "user_country", entKind: detect.EntityUser, attrK: "country", entNoun: "user", attrNoun: "country",
			phrase: "signed in from %s", peers: true, tactic: "initial-access", tech: "T1078",
			extract: func(m *FirstSeen, o *Obs) (Sym, Sym, bool) {
				if o.Kind != KindAuth || o.Fail {
					return Sym{}, Sym{}, false
				}
				c, _ := m.locate(o.SrcIP)
				return o.User, c, true
			}},
		{id: "user_asn", entKind: detect.EntityUser, attrK: "asn", entNoun: "user", attrNoun: "network (ASN)",
			phrase: "signed in from %s", peers: true, tactic: "initial-access", tech: "T1078",
			extract: func(m *FirstSeen, o *Obs) (Sym, Sym, bool) {
				if o.Kind != KindAuth || o.Fail {
					return Sym{}, Sym{}, false
				}
				_, a := m.locate(o.SrcIP)
				return o.User, a, true
			}},
		{id: "user_process", entKind: detect.EntityUser, attrK: detect.EntityProcess, entNoun: "user", attrNoun: "program",
			phrase: "ran %s", peers: true, tactic: "execution", tech: "T1204",
			extract: func(_ *FirstSeen, o *Obs) (Sym, Sym, bool) {
				return o.User, o.Process, o.Kind == KindProcess
			}},
		{id: "host_process", entKind: detect.EntityHost, attrK: detect.EntityProcess, entNoun: "host", attrNoun: "program",
			phrase: "ran %s", tactic: "execution", tech: "T1204",
			extract: func(_ *FirstSeen, o *Obs) (Sym, Sym, bool) {
				return o.Host, o.Process, o.Kind == KindProcess
			}},
		{id: "parent_child", entKind: detect.EntityProcess, attrK: detect.EntityProcess, entNoun: "program", attrNoun: "child program",
			phrase: "started %s", tactic: "execution", tech: "T1059",
			extract: func(_ *FirstSeen, o *Obs) (Sym, Sym, bool) {
				return o.Parent, o.Process, o.Kind == KindProcess
			}},
		{id: "process_destination", entKind: detect.EntityProcess, attrK: detect.EntityDomain, entNoun: "program", attrNoun: "destination",
			phrase: "connected to %s", tactic: "command-and-control", tech: "T1071",
			extract: func(_ *FirstSeen, o *Obs) (Sym, Sym, bool) {
				if o.Kind != KindConn || o.Process == (Sym{}) {
					return Sym{}, Sym{}, false
				}
				if o.Target != (Sym{}) {
					return o.Process, o.Target, true
				}
				if o.DstIP.IsValid() && !o.DstIP.IsPrivate() && !o.DstIP.IsLoopback() {
					return o.Process, intern(o.DstIP.String()), true
				}
				return Sym{}, Sym{}, false
			}},
		{id: "account_kube_action", entKind: detect.EntityUser, attrK: "kubernetes_action", entNoun: "account", attrNoun: "Kubernetes action",
			phrase: "made the Kubernetes request %s", tactic: "discovery", tech: "T1613",
			extract: func(_ *FirstSeen, o *Obs) (Sym, Sym, bool) {
				if o.Kind != KindKube || o.Action == (Sym{}) {
					return Sym{}, Sym{}, false
				}
				return o.User, intern(str(o.Action) + " " + str(o.Target)), true
			}},
		{id: "principal_api_call", entKind: detect.EntityPrincipal, attrK: "api_call", entNoun: "principal", attrNoun: "API call",
			phrase: "called %s", tactic: "discovery", tech: "T1580",
			extract: func(_ *FirstSeen, o *Obs) (Sym, Sym, bool) {
				if o.Kind != KindCloud || o.Action == (Sym{}) {
					return Sym{}, Sym{}, false
				}
				return o.User, intern(str(o.Target) + ":" + str(o.Action)), true
			}},
	}
}

// FirstSeen is the first-seen and rarity model, after the Microsoft Sentinel UEBA
// pattern: for each kind of (entity, attribute) pair it learns, per entity, the
// values used and how often; org-wide, how many entities use each value; per peer
// group, how many peers do. A value new for a trained entity is reported when it is
// also uncommon in the org or among the entity's peers ("first time for user,
// uncommon among peers, first time in org").
//
// Memory: per tracked entity about 120 bytes plus about 40 bytes per remembered
// value; per org value about 60 bytes (measured by BenchmarkFirstSeenMemory).
type FirstSeen struct {
	cfg    FirstSeenConfig
	geo    GeoFunc
	peerOf PeerFunc
	spaces []*space
	state  []*spaceState

	geoCache map[netip.Addr]geoAnswer
	peerMemo map[Sym]Sym
	learned  learnedPeers
}

type geoAnswer struct{ country, asn Sym }

// NewFirstSeen builds the model. geo and peers may be nil (no country/ASN spaces,
// no peer comparison).
func NewFirstSeen(cfg FirstSeenConfig, geo GeoFunc, peers PeerFunc) *FirstSeen {
	m := &FirstSeen{cfg: cfg.withDefaults(), geo: geo, peerOf: peers, spaces: spaces(),
		geoCache: map[netip.Addr]geoAnswer{}, peerMemo: map[Sym]Sym{}}
	for range m.spaces {
		m.state = append(m.state, newSpaceState())
	}
	return m
}

// ID implements Model.
func (*FirstSeen) ID() string { return "behavior.first_seen" }

// Version implements Model.
func (*FirstSeen) Version() string { return "1" }

func (m *FirstSeen) locate(ip netip.Addr) (country, asn Sym) {
	if m.geo == nil || !ip.IsValid() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return Sym{}, Sym{}
	}
	if a, ok := m.geoCache[ip]; ok {
		return a.country, a.asn
	}
	var a geoAnswer
	if c, as, ok := m.geo(ip); ok {
		a = geoAnswer{intern(c), intern(as)}
	}
	if len(m.geoCache) >= 1<<16 {
		clear(m.geoCache)
	}
	m.geoCache[ip] = a
	return a.country, a.asn
}

func (m *FirstSeen) peerGroup(user Sym) Sym {
	if m.peerOf == nil || user == (Sym{}) {
		return Sym{}
	}
	if g, ok := m.peerMemo[user]; ok {
		return g
	}
	g := intern(m.peerOf(str(user)))
	if len(m.peerMemo) >= 1<<18 {
		clear(m.peerMemo)
	}
	m.peerMemo[user] = g
	return g
}

// spaceState is what one space learned.
type spaceState struct {
	Start    int64
	entities map[Sym]*entState
	lru      lruList[*entState]
	org      map[Sym]*orgVal
	orgLRU   lruList[*orgVal]
	peerVals map[[2]Sym]uint32 // (group, value) → distinct entities of the group using it
	peerSize map[Sym]uint32    // group → distinct entities seen
	Seen     uint32            // distinct entities ever seen in the space
}

type entState struct {
	key, group  Sym
	first, last int64
	n           uint32
	ones        uint32  // values used exactly once (Good-Turing)
	novel       float64 // decayed count of values taken up after its first day
	novelT      int64   // event time novel was last decayed to
	vals        map[Sym]uint32
	day         int64 // event-time day of alertsToday
	alertsToday uint8
	node        lruNode[*entState]
}

// noveltyTau is the time constant of an entity's rate of new values.
const noveltyTau = 48 * time.Hour

// novelAt is the decayed count of new values at event time now.
func (e *entState) novelAt(now int64) float64 {
	if e.novel == 0 || now <= e.novelT {
		return e.novel
	}
	return e.novel * math.Exp(-float64(now-e.novelT)/float64(noveltyTau))
}

type orgVal struct {
	key      Sym
	entities uint32
	first    int64
	day      int64 // event-time day of alerts
	alerts   uint8
	node     lruNode[*orgVal]
}

func newSpaceState() *spaceState {
	return &spaceState{Start: -1, entities: map[Sym]*entState{}, org: map[Sym]*orgVal{},
		peerVals: map[[2]Sym]uint32{}, peerSize: map[Sym]uint32{}}
}

// Observe implements Model.
func (m *FirstSeen) Observe(o *Obs, out *Emitter) {
	m.maybeRebuildPeers(o.Time)
	var found []novelty
	for i, sp := range m.spaces {
		ent, val, ok := sp.extract(m, o)
		if !ok || ent == (Sym{}) || val == (Sym{}) {
			continue
		}
		if nv, ok := m.observe(sp, m.state[i], ent, val, o); ok {
			found = append(found, nv)
		}
	}
	if len(found) > 0 {
		m.emit(found, o, out)
	}
}

func (m *FirstSeen) observe(sp *space, st *spaceState, entKey, val Sym, o *Obs) (nv novelty, found bool) {
	now := o.Time
	if st.Start < 0 {
		st.Start = now
	}
	e := st.entities[entKey]
	if e == nil {
		e = &entState{key: entKey, first: now, vals: map[Sym]uint32{}}
		e.node.v = e
		if sp.peers {
			e.group = m.peerGroup(entKey)
			if e.group != (Sym{}) {
				st.peerSize[e.group]++
			}
		}
		st.entities[entKey] = e
		st.lru.pushFront(&e.node)
		st.Seen++
		for len(st.entities) > m.cfg.MaxEntities {
			old := st.lru.back()
			st.lru.remove(old)
			delete(st.entities, old.v.key)
		}
	} else {
		st.lru.moveToFront(&e.node)
	}
	if c := e.vals[val]; c > 0 {
		if c < math.MaxUint32 {
			e.vals[val] = c + 1
		}
		if c == 1 && e.ones > 0 {
			e.ones--
		}
	} else {
		ov := st.org[val]
		if m.trained(st, e, now) {
			nv, found = m.judge(sp, st, e, val, ov, o)
		}
		m.learn(st, e, val, ov, now)
	}
	e.n++
	e.last = now
	return nv, found
}

func (m *FirstSeen) trained(st *spaceState, e *entState, now int64) bool {
	return now-st.Start >= int64(m.cfg.SpaceLearn) && now-e.first >= int64(m.cfg.EntityLearn) && int(e.n) >= m.cfg.MinEvents
}

// learn records val as used by e.
func (m *FirstSeen) learn(st *spaceState, e *entState, val Sym, ov *orgVal, now int64) {
	if len(e.vals) >= m.cfg.MaxValues {
		// Forget the least used value (ties: the smallest text), deterministically.
		var victim Sym
		var vc uint32 = math.MaxUint32
		for k, c := range e.vals {
			if c < vc || (c == vc && str(k) < str(victim)) {
				victim, vc = k, c
			}
		}
		delete(e.vals, victim)
		if vc == 1 && e.ones > 0 {
			e.ones--
		}
	}
	e.vals[val] = 1
	e.ones++
	if now-e.first > int64(24*time.Hour) {
		e.novel = e.novelAt(now) + 1
		e.novelT = now
	}
	if ov == nil {
		ov = &orgVal{key: val, first: now}
		ov.node.v = ov
		st.org[val] = ov
		st.orgLRU.pushFront(&ov.node)
		for len(st.org) > m.cfg.MaxOrgValues {
			old := st.orgLRU.back()
			st.orgLRU.remove(old)
			delete(st.org, old.v.key)
		}
	} else {
		st.orgLRU.moveToFront(&ov.node)
	}
	ov.entities++
	if e.group != (Sym{}) {
		st.peerVals[[2]Sym{e.group, val}]++
	}
}

// novelty is one space's verdict that a value is new and rare for an entity.
type novelty struct {
	sp                    *space
	ent, val              string
	group                 string
	known                 int // values the entity is known to use
	days                  float64
	orgN, population      uint32
	peersN, peersWith     uint32
	peerKnown, firstInOrg bool
	kind                  string
	pOrg, conf            float64
	topVals               string
}

// judge decides whether a value new for a trained entity is worth reporting.
func (m *FirstSeen) judge(sp *space, st *spaceState, e *entState, val Sym, ov *orgVal, o *Obs) (novelty, bool) {
	if pNew := float64(e.ones+1) / float64(e.n+2); pNew > m.cfg.MaxNovelty {
		return novelty{}, false // new values are routine for this entity
	}
	if e.novelAt(o.Time)/noveltyTau.Hours()*24 > m.cfg.MaxNewPerDay {
		return novelty{}, false // it takes up new values every day
	}
	var orgN uint32
	if ov != nil {
		orgN = ov.entities
	}
	population := max(st.Seen, 1)
	orgShare := float64(orgN) / float64(population)
	peersN, peersWith := uint32(0), uint32(0)
	group := str(e.group)
	switch {
	case e.group != (Sym{}):
		peersN = st.peerSize[e.group] - 1 // without e
		peersWith = st.peerVals[[2]Sym{e.group, val}]
	case sp.peers:
		if peersN, peersWith = m.learnedPeerShare(st, e, val); peersN > 0 {
			group = "similar access"
		}
	}
	peerKnown := int(peersN) >= m.cfg.MinPeers
	peerShare := 0.0
	if peerKnown {
		peerShare = float64(peersWith) / float64(peersN)
	}
	firstInOrg := orgN == 0
	uncommonOrg := orgShare < m.cfg.OrgRare
	uncommonPeers := peerKnown && peerShare < m.cfg.PeerRare
	if !firstInOrg && !uncommonOrg && !(uncommonPeers && orgShare < 4*m.cfg.OrgRare) {
		return novelty{}, false
	}
	day := o.Time / int64(24*time.Hour)
	if e.day != day {
		e.day, e.alertsToday = day, 0
	}
	if int(e.alertsToday) >= m.cfg.PerEntityDaily {
		return novelty{}, false
	}
	if ov != nil {
		if ov.day != day {
			ov.day, ov.alerts = day, 0
		}
		if int(ov.alerts) >= m.cfg.PerValueDaily {
			return novelty{}, false
		}
		ov.alerts++
	}
	e.alertsToday++
	days := float64(o.Time-e.first) / float64(24*time.Hour)
	kind := "first time for " + sp.entNoun
	switch {
	case firstInOrg:
		kind += ", first time in organisation"
	case uncommonPeers:
		kind += ", uncommon among peers"
	default:
		kind += ", uncommon in organisation"
	}
	return novelty{
		sp: sp, ent: str(e.key), val: str(val), group: group, known: len(e.vals), days: days,
		orgN: orgN, population: population, peersN: peersN, peersWith: peersWith,
		peerKnown: peerKnown, firstInOrg: firstInOrg, kind: kind,
		pOrg:    (float64(orgN) + 0.5) / (float64(population) + 1),
		conf:    clamp01(0.4 + 0.4*math.Min(days/14, 1) + 0.2*math.Min(float64(e.n)/200, 1)),
		topVals: topValues(e.vals, 5),
	}, true
}

// facts renders what the org and the peers say about nv's value.
func (nv *novelty) facts() string {
	var f []string
	if nv.peerKnown {
		f = append(f, fmt.Sprintf("%d of %d peers (%s) ever did", nv.peersWith, nv.peersN, nv.group))
	}
	if nv.firstInOrg {
		f = append(f, fmt.Sprintf("no %s in the organisation ever did", nv.sp.entNoun))
	} else {
		f = append(f, fmt.Sprintf("%d of %d %ss ever did", nv.orgN, nv.population, nv.sp.entNoun))
	}
	return strings.Join(f, "; ")
}

// emit reports the novelties one observation produced as one signal: the rarest
// (lowest org probability, then space order) leads; the others are its features.
func (m *FirstSeen) emit(found []novelty, o *Obs, out *Emitter) {
	lead := 0
	for i := range found {
		if found[i].pOrg < found[lead].pOrg {
			lead = i
		}
	}
	nv := &found[lead]
	sev := detect.SeverityLow
	conf := nv.conf
	for _, f := range found {
		if f.firstInOrg {
			sev = detect.SeverityMedium
		}
		conf = max(conf, f.conf)
	}
	if len(found) >= 3 {
		conf = clamp01(conf + 0.1) // new for the user, the host and the parent at once
	}
	summary := fmt.Sprintf("%s %s for the first time; %s", nv.ent, fmt.Sprintf(nv.sp.phrase, nv.val), nv.facts())
	entities := []detect.Entity{{Kind: nv.sp.entKind, Value: nv.ent}, {Kind: nv.sp.attrK, Value: nv.val}}
	tactics, techs := []string{nv.sp.tactic}, []string{nv.sp.tech}
	features := make([]detect.Feature, 0, len(found)+1)
	for i, f := range found {
		features = append(features, detect.Feature{
			Name:     "first_seen." + f.sp.id,
			Observed: fmt.Sprintf("%s %s (%s)", f.ent, fmt.Sprintf(f.sp.phrase, f.val), f.kind),
			Expected: fmt.Sprintf("%d known %ss over %.1f days; %s", f.known, f.sp.attrNoun, f.days, f.facts()),
			Weight:   1 / float64(len(found)),
		})
		if i != lead {
			summary += fmt.Sprintf("; also new for %s %s (%s)", f.sp.entNoun, f.ent, f.facts())
			entities = appendEntity(entities, detect.Entity{Kind: f.sp.entKind, Value: f.ent})
			if !slices.Contains(tactics, f.sp.tactic) {
				tactics = append(tactics, f.sp.tactic)
				techs = append(techs, f.sp.tech)
			}
		}
	}
	if p := nv.population; p > 0 {
		features = append(features, detect.Feature{Name: "org_prevalence", Observed: fmt.Sprintf("%d of %d %ss", nv.orgN, p, nv.sp.entNoun), Expected: fmt.Sprintf(">= %.0f%%", 100*m.cfg.OrgRare)})
	}
	out.Emit(Finding{
		Time: o.Time, RuleID: "first_seen." + nv.sp.id,
		Title:    fmt.Sprintf("First %s %s for %s (%s)", nv.sp.attrNoun, nv.val, nv.ent, nv.kind),
		Severity: sev, Confidence: conf, Tactics: tactics, Techniques: techs, Entities: entities,
		Explain: detect.Explanation{
			Summary:     summary,
			Expected:    fmt.Sprintf("%s's known %ss: %s", nv.ent, nv.sp.attrNoun, nv.topVals),
			Observed:    fmt.Sprintf("%s (%s)", nv.val, nv.kind),
			Score:       -math.Log2(nv.pOrg),
			Probability: nv.pOrg,
			Features:    features,
		},
		Evidence: []detect.EvidenceRef{o.Evidence()},
		Normal:   NormalKey{Entity: nv.ent, Attribute: nv.val},
	})
}

func appendEntity(es []detect.Entity, e detect.Entity) []detect.Entity {
	if slices.Contains(es, e) {
		return es
	}
	return append(es, e)
}

// topValues renders the n most used values of vals, most used first.
func topValues(vals map[Sym]uint32, n int) string {
	type kv struct {
		k string
		c uint32
	}
	all := make([]kv, 0, len(vals))
	for k, c := range vals {
		all = append(all, kv{str(k), c})
	}
	slices.SortFunc(all, func(a, b kv) int {
		if a.c != b.c {
			return int(b.c) - int(a.c)
		}
		return strings.Compare(a.k, b.k)
	})
	var b strings.Builder
	for i, x := range all {
		if i == n {
			fmt.Fprintf(&b, " and %d more", len(all)-n)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%d)", x.k, x.c)
	}
	if len(all) == 0 {
		return "none"
	}
	return b.String()
}

// Advance implements Model (the model has no windows).
func (*FirstSeen) Advance(int64, *Emitter) {}

// MarkNormal implements Normalizer: attribute becomes a known value of entity in
// every space where entity is tracked, so it never again counts as new for it.
// until is not needed: a known value stays known until forgotten.
func (m *FirstSeen) MarkNormal(entity, attribute string, _ time.Time) bool {
	ek, av := intern(entity), intern(attribute)
	done := false
	for _, st := range m.state {
		if e := st.entities[ek]; e != nil {
			if e.vals[av] == 0 {
				e.vals[av] = 1
				e.ones++
			}
			done = true
		}
	}
	return done
}

// Stats implements Model.
func (m *FirstSeen) Stats() ModelStats {
	var s ModelStats
	for _, st := range m.state {
		s.Entities += len(st.entities)
		var vals int
		for _, e := range st.entities {
			vals += len(e.vals)
		}
		s.Bytes += int64(len(st.entities))*120 + int64(vals)*40 + int64(len(st.org))*60 + int64(len(st.peerVals))*40
		if st.Start >= 0 {
			s.Trained = true
		}
	}
	return s
}

// Snapshot format (gob): one fsSnapshot.
type fsSnapshot struct {
	Version    int
	Spaces     []fsSpace
	LearnedDay int64      // event-time day the behavioral peer groups were built for
	Learned    [][]string // the groups, members in name order
}

type fsSpace struct {
	ID       string
	Start    int64
	Seen     uint32
	Entities []fsEntity // least recently seen first
	Org      []fsOrg    // least recently used first
	Peers    []fsPeer
	Groups   []fsPeer // group sizes (Val empty), counting entities since evicted
}

type fsEntity struct {
	Key, Group  string
	First, Last int64
	N           uint32
	Novel       float64
	NovelT      int64
	Day         int64
	Alerts      uint8
	Vals        []string
	Counts      []uint32
}

type fsOrg struct {
	Key      string
	Entities uint32
	First    int64
	Day      int64
	Alerts   uint8
}

type fsPeer struct {
	Group, Val string
	N          uint32
}

const fsSnapshotVersion = 1

// Snapshot implements Model.
func (m *FirstSeen) Snapshot(w io.Writer) error {
	snap := fsSnapshot{Version: fsSnapshotVersion, LearnedDay: m.learned.day, Learned: m.learned.groups()}
	for i, sp := range m.spaces {
		st := m.state[i]
		fs := fsSpace{ID: sp.id, Start: st.Start, Seen: st.Seen}
		for n := st.lru.back(); n != nil; n = n.prev {
			e := n.v
			fe := fsEntity{Key: str(e.key), Group: str(e.group), First: e.first, Last: e.last, N: e.n, Novel: e.novel, NovelT: e.novelT, Day: e.day, Alerts: e.alertsToday}
			for _, k := range sortedKeys(e.vals) {
				fe.Vals = append(fe.Vals, str(k))
				fe.Counts = append(fe.Counts, e.vals[k])
			}
			fs.Entities = append(fs.Entities, fe)
		}
		for n := st.orgLRU.back(); n != nil; n = n.prev {
			fs.Org = append(fs.Org, fsOrg{Key: str(n.v.key), Entities: n.v.entities, First: n.v.first, Day: n.v.day, Alerts: n.v.alerts})
		}
		for k, c := range st.peerVals {
			fs.Peers = append(fs.Peers, fsPeer{Group: str(k[0]), Val: str(k[1]), N: c})
		}
		for _, g := range sortedKeys(st.peerSize) {
			fs.Groups = append(fs.Groups, fsPeer{Group: str(g), N: st.peerSize[g]})
		}
		slices.SortFunc(fs.Peers, func(a, b fsPeer) int {
			if c := strings.Compare(a.Group, b.Group); c != 0 {
				return c
			}
			return strings.Compare(a.Val, b.Val)
		})
		snap.Spaces = append(snap.Spaces, fs)
	}
	if err := gob.NewEncoder(w).Encode(&snap); err != nil {
		return fmt.Errorf("encoding first-seen state: %w", err)
	}
	return nil
}

// Restore implements Model. Spaces the snapshot does not know start empty.
func (m *FirstSeen) Restore(r io.Reader) error {
	var snap fsSnapshot
	if err := decodeGob(r, &snap); err != nil {
		return fmt.Errorf("restoring first-seen state: %w", err)
	}
	if snap.Version != fsSnapshotVersion {
		return fmt.Errorf("decoding first-seen state: version %d, want %d", snap.Version, fsSnapshotVersion)
	}
	state := make([]*spaceState, len(m.spaces))
	for i := range state {
		state[i] = newSpaceState()
	}
	for _, fs := range snap.Spaces {
		i := slices.IndexFunc(m.spaces, func(sp *space) bool { return sp.id == fs.ID })
		if i < 0 {
			continue
		}
		st := state[i]
		st.Start, st.Seen = fs.Start, fs.Seen
		for _, fe := range fs.Entities {
			if len(fe.Vals) != len(fe.Counts) {
				return fmt.Errorf("decoding first-seen state: entity %q has %d values and %d counts", fe.Key, len(fe.Vals), len(fe.Counts))
			}
			e := &entState{key: intern(fe.Key), group: intern(fe.Group), first: fe.First, last: fe.Last, n: fe.N, novel: fe.Novel, novelT: fe.NovelT,
				day: fe.Day, alertsToday: fe.Alerts, vals: make(map[Sym]uint32, len(fe.Vals))}
			e.node.v = e
			for j, v := range fe.Vals {
				e.vals[intern(v)] = fe.Counts[j]
				if fe.Counts[j] == 1 {
					e.ones++
				}
			}
			if _, dup := st.entities[e.key]; dup || e.key == (Sym{}) {
				return fmt.Errorf("decoding first-seen state: entity %q repeated or empty", fe.Key)
			}
			st.entities[e.key] = e
			st.lru.pushFront(&e.node)
		}
		for _, g := range fs.Groups {
			st.peerSize[intern(g.Group)] = g.N
		}
		for _, fo := range fs.Org {
			ov := &orgVal{key: intern(fo.Key), entities: fo.Entities, first: fo.First, day: fo.Day, alerts: fo.Alerts}
			ov.node.v = ov
			if _, dup := st.org[ov.key]; dup || ov.key == (Sym{}) {
				return fmt.Errorf("decoding first-seen state: org value %q repeated or empty", fo.Key)
			}
			st.org[ov.key] = ov
			st.orgLRU.pushFront(&ov.node)
		}
		for _, p := range fs.Peers {
			st.peerVals[[2]Sym{intern(p.Group), intern(p.Val)}] = p.N
		}
	}
	m.state = state
	learned, err := loadLearned(snap.LearnedDay, snap.Learned)
	if err != nil {
		return fmt.Errorf("decoding first-seen state: %w", err)
	}
	m.learned = learned
	return nil
}

var (
	_ Model      = (*FirstSeen)(nil)
	_ Normalizer = (*FirstSeen)(nil)
)
