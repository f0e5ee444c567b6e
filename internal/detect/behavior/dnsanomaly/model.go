package dnsanomaly

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Version is stamped on every finding; bump it when scoring changes.
const Version = "dnsanomaly/1"

// FindingKind names what a finding is about.
type FindingKind string

// Finding kinds.
const (
	FindingTunnel FindingKind = "tunnel"
	FindingDGA    FindingKind = "dga"
	FindingRare   FindingKind = "rare_domain"
)

// Query is one DNS question as the models need it.
type Query struct {
	Time    time.Time
	Client  string // host name or IP text of the asking host
	Name    string // question name as logged
	QType   string // "A", "TXT", ...
	RCode   string // "NOERROR", "NXDOMAIN", ... ("" when unknown)
	EventID string // evidence reference
}

// Feature is one number behind a finding: what was observed, what the baseline
// is, and how far apart they are in robust standard deviations (0 when the
// feature has no learned spread).
type Feature struct {
	Name     string
	Observed float64
	Baseline float64
	Z        float64
}

// Finding is one anomaly.
type Finding struct {
	Kind       FindingKind
	Version    string
	Time       time.Time // event time of the query that raised it
	Client     string    // empty for a tunnel seen over all the domain's clients together
	Domain     string    // registered domain
	Score      float64
	Confidence float64   // 0..1, monotone in Score
	Features   []Feature // largest contribution first
	Names      []string  // a few example query names
	EventIDs   []string  // a few evidence events
	Summary    string    // one plain sentence with the numbers
}

// Config tunes the models. Zero fields take the defaults (DefaultConfig).
type Config struct {
	Window  time.Duration // tunnel and DGA counting window (1h)
	WarmUp  time.Duration // event time from the first query before anything is reported (24h)
	MaxDoms int           // tracked registered domains (100,000)
	MaxPair int           // tracked (client, domain) pairs (200,000)
	MaxCli  int           // tracked clients (50,000)

	// Tunnel.
	MinDistinct  int     // distinct subdomains per pair and window before scoring (30)
	TunnelZ      float64 // robust z of log2(1+distinct) against the org's pair-windows (4)
	ShapeZ       float64 // robust z of mean subdomain length or entropy (2)
	UsualFactor  float64 // distinct must exceed this times the domain's own usual (4)
	MinWindows   int     // closed pair-windows learned before tunnel scoring (30)
	Regrowth     float64 // a pair is reported again in its window when distinct grew this much (8)
	MaxPerWindow int     // reports per pair or client and window (2)

	// Prevalence (CDNs and cloud services).
	PrevalentClients int           // distinct clients that make a domain prevalent (5)
	PrevalentAge     time.Duration // and seen for at least (48h)
	PrevalentExtraZ  float64       // added to TunnelZ and ShapeZ for prevalent domains (3)

	// DGA.
	DGAZ            float64 // robust z below the learned label-score distribution (-3 means 3 sigma below)
	MinLabel        int     // shortest registered label scored (6)
	MinTrainClients int     // a domain teaches the character model from this many clients on (2)
	MaxTrainClients int     // and stops adding weight at (16)
	MinModelWeight  float64 // label weight learned before DGA scoring (150)
	DGAMinNames     int     // suspicious registered domains per client and window to report (3)

	// Rare domains.
	RareMaxClients int // at most this many clients (1)
	RareMinHours   int // queried in at least this many distinct hours (3)
	RareMinOrg     int // and only while the organisation has this many tracked clients (10)

	// AllowSuffixes are user-declared suffixes never scored ("corp.example").
	AllowSuffixes []string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Window: time.Hour, WarmUp: 24 * time.Hour,
		MaxDoms: 100_000, MaxPair: 200_000, MaxCli: 50_000,
		MinDistinct: 30, TunnelZ: 4, ShapeZ: 2, UsualFactor: 4, MinWindows: 30, Regrowth: 8, MaxPerWindow: 2,
		PrevalentClients: 5, PrevalentAge: 48 * time.Hour, PrevalentExtraZ: 3,
		DGAZ: -3, MinLabel: 6, MinTrainClients: 2, MaxTrainClients: 16, MinModelWeight: 150, DGAMinNames: 3,
		RareMaxClients: 1, RareMinHours: 3, RareMinOrg: 10,
	}
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	fill := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	fillF := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		}
	}
	fillD := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	fillD(&c.Window, d.Window)
	fillD(&c.WarmUp, d.WarmUp)
	fillD(&c.PrevalentAge, d.PrevalentAge)
	for _, x := range []struct {
		p *int
		v int
	}{
		{&c.MaxDoms, d.MaxDoms}, {&c.MaxPair, d.MaxPair}, {&c.MaxCli, d.MaxCli},
		{&c.MinDistinct, d.MinDistinct}, {&c.MinWindows, d.MinWindows}, {&c.MaxPerWindow, d.MaxPerWindow},
		{&c.PrevalentClients, d.PrevalentClients}, {&c.MinLabel, d.MinLabel},
		{&c.MinTrainClients, d.MinTrainClients}, {&c.MaxTrainClients, d.MaxTrainClients},
		{&c.DGAMinNames, d.DGAMinNames}, {&c.RareMaxClients, d.RareMaxClients}, {&c.RareMinHours, d.RareMinHours}, {&c.RareMinOrg, d.RareMinOrg},
	} {
		fill(x.p, x.v)
	}
	for _, x := range []struct {
		p *float64
		v float64
	}{
		{&c.TunnelZ, d.TunnelZ}, {&c.ShapeZ, d.ShapeZ}, {&c.UsualFactor, d.UsualFactor}, {&c.Regrowth, d.Regrowth},
		{&c.PrevalentExtraZ, d.PrevalentExtraZ}, {&c.DGAZ, d.DGAZ}, {&c.MinModelWeight, d.MinModelWeight},
	} {
		fillF(x.p, x.v)
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Window < time.Minute || c.Window > 24*time.Hour {
		errs = append(errs, fmt.Errorf("window %v outside 1m..24h", c.Window))
	}
	if c.WarmUp < 0 || c.PrevalentAge < 0 {
		errs = append(errs, errors.New("negative warm-up or prevalent age"))
	}
	for _, n := range []int{c.MaxDoms, c.MaxPair, c.MaxCli} {
		if n < 8 || n > maxTracked {
			errs = append(errs, fmt.Errorf("tracked-key cap %d outside 8..%d", n, maxTracked))
		}
	}
	if c.MinDistinct < 2 || c.Regrowth <= 1 || c.MaxPerWindow < 1 || c.DGAMinNames < 1 || c.RareMinHours < 1 {
		errs = append(errs, errors.New("min distinct < 2, regrowth <= 1 or a per-window count < 1"))
	}
	for _, x := range []float64{c.TunnelZ, c.ShapeZ, c.UsualFactor, c.PrevalentExtraZ, c.MinModelWeight,
		float64(c.MinWindows), float64(c.PrevalentClients), float64(c.MinLabel), float64(c.RareMaxClients), float64(c.RareMinOrg)} {
		if x < 0 || math.IsNaN(x) || math.IsInf(x, 0) {
			errs = append(errs, fmt.Errorf("threshold %v must be finite and non-negative", x))
			break
		}
	}
	if c.DGAZ >= 0 {
		errs = append(errs, fmt.Errorf("dga z %v must be negative", c.DGAZ))
	}
	if c.MaxTrainClients < c.MinTrainClients || c.MinTrainClients < 1 {
		errs = append(errs, errors.New("train clients: need 1 <= min <= max"))
	}
	for _, s := range c.AllowSuffixes {
		if _, err := Normalize(s); err != nil {
			errs = append(errs, fmt.Errorf("allow suffix: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("validating dnsanomaly config: %w", err)
	}
	return nil
}

// maxTracked bounds every cap, and so what Restore will allocate.
const maxTracked = 10_000_000

// ReasonNoTime counts queries without an event time (the zero time.Time), and
// ReasonClientTooLong queries whose client is longer than a snapshot keeps
// (1,024 bytes).
const (
	ReasonNoTime        = "no-time"
	ReasonClientTooLong = "client-too-long"
)

// Stats counts what the model saw.
type Stats struct {
	Queries  uint64
	Rejected map[string]uint64 // by Reason* (and ReasonNoTime)
	ByKind   [4]uint64         // accepted names by NameKind
	Allowed  uint64            // under an allow-listed suffix
	Evicted  uint64            // tracked keys dropped for the caps
	Findings map[FindingKind]uint64
}

// Model is the DNS behavioural model. It is not safe for concurrent use.
type Model struct {
	cfg   Config
	allow []string

	first int64 // unix seconds of the first query (0: none yet)
	now   int64

	doms    map[string]*domState
	pairs   map[pairKey]*pairState
	clients map[string]*cliState
	normal  map[string]struct{}

	distinctH hist // log2(1+distinct subdomains) per closed pair-window
	aggH      hist // log2(1+distinct subdomains) per closed domain-window (all clients)
	lenH      hist // mean subdomain length per closed pair-window (names with a subdomain)
	entH      hist // mean subdomain entropy, bits/char, same windows
	scoreH    hist // DGA label scores of trained domains
	chars     charModel
	weight    float64 // label weight learned by chars

	robustAt [5]float64 // hist totals when robust stats were cached
	robust   [5][2]float64

	stats Stats
}

type pairKey struct{ client, domain string }

// domState is one registered domain.
type domState struct {
	first, last int64
	lastHour    int64
	hours       uint32
	clients     distinct // p=6
	trained     uint16   // clients whose weight is in the character model
	normal      bool
	rareDone    bool
	scored      bool
	score       float32 // cached DGA label score
	usual       float32 // domain's usual distinct subdomains per pair-window
	aggUsual    float32 // and per domain-window, all clients together
	uLen, uEnt  float32 // its usual mean subdomain length and entropy (EWMA over windows)
	windows     uint16  // pair-windows learned into usual, uLen, uEnt (saturating)
	kind        NameKind
}

// pairState is one (client, registered domain) in its current window.
type pairState struct {
	win      int64 // window index
	last     int64
	queries  uint32
	subs     distinct // p=8
	named    uint32   // queries with a subdomain part
	lenSum   float64  // subdomain characters (dots excluded)
	entSum   float64
	maxLabel uint8
	odd      uint32 // TXT, NULL, CNAME, MX queries
	nx       uint32
	reported float64 // distinct count at the last report
	nrep     uint8
	flagged  bool
	clients  uint32 // distinct clients this window (domain aggregates only)
	ev       [3]string
	names    [3]string
}

// cliState is one client in its current window.
type cliState struct {
	win      int64
	last     int64
	queries  uint32
	nx       uint32
	dga      []dgaHit // distinct suspicious domains this window (capped)
	ndga     int
	ndgaNX   int // of them answered NXDOMAIN
	reported int
	nrep     uint8
}

type dgaHit struct {
	domain, name, ev string
	z                float64
	nx               bool
}

const (
	domainHistory = 3 // pair-windows before a domain's own name profile is trusted
	pClients      = 6
	pSubs         = 8
	maxHits       = 16
)

// New returns an empty model.
func New(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m := &Model{
		cfg:     cfg,
		doms:    map[string]*domState{},
		pairs:   map[pairKey]*pairState{},
		clients: map[string]*cliState{},
		normal:  map[string]struct{}{},
		// log2(1+d) from 0 to 24, quarter bits
		distinctH: newHist(0, 24, 96),
		aggH:      newHist(0, 24, 96),
		lenH:      newHist(0, 256, 256),
		entH:      newHist(0, 8, 80),
		scoreH:    newHist(-12, 0, 240),
		stats:     Stats{Rejected: map[string]uint64{}, Findings: map[FindingKind]uint64{}},
	}
	for _, s := range cfg.AllowSuffixes {
		n, _ := Normalize(s)
		m.allow = append(m.allow, n.FQDN)
	}
	slices.Sort(m.allow)
	return m, nil
}

// Stats returns a copy of the counters.
func (m *Model) Stats() Stats {
	s := m.stats
	s.Rejected = make(map[string]uint64, len(m.stats.Rejected))
	for k, v := range m.stats.Rejected {
		s.Rejected[k] = v
	}
	s.Findings = make(map[FindingKind]uint64, len(m.stats.Findings))
	for k, v := range m.stats.Findings {
		s.Findings[k] = v
	}
	return s
}

// MarkNormal declares the registered domain of name normal: it is no longer
// reported, and its windows are learned as baseline even when they look anomalous.
func (m *Model) MarkNormal(name string) error {
	n, err := Normalize(name)
	if err != nil {
		return fmt.Errorf("marking %q normal: %w", name, err)
	}
	if len(m.normal) >= maxTracked {
		return fmt.Errorf("marking %q normal: %d domains already marked", name, len(m.normal))
	}
	m.normal[strings.Clone(n.Registered)] = struct{}{}
	if d := m.doms[n.Registered]; d != nil {
		d.normal = true
	}
	return nil
}

func (m *Model) allowed(fqdn string) bool {
	for _, s := range m.allow {
		if fqdn == s || (len(fqdn) > len(s) && fqdn[len(fqdn)-len(s)-1] == '.' && strings.HasSuffix(fqdn, s)) {
			return true
		}
	}
	return false
}

// warm reports whether event time is past the warm-up.
func (m *Model) warm(t int64) bool {
	return m.first != 0 && t-m.first >= int64(m.cfg.WarmUp/time.Second)
}

// Observe feeds one query and appends any findings it raises to out.
func (m *Model) Observe(q Query, out []Finding) []Finding {
	m.stats.Queries++
	if q.Time.IsZero() {
		// A zero time would move the start of event time to year 1 and end
		// the warm-up for everything after it.
		m.stats.Rejected[ReasonNoTime]++
		return out
	}
	n, err := Normalize(q.Name)
	if err != nil {
		var ne *NameError
		if errors.As(err, &ne) {
			m.stats.Rejected[ne.Reason]++
		}
		return out
	}
	if len(q.Client) > maxStr {
		// Longer than a snapshot keeps: no host name or address is this long.
		m.stats.Rejected[ReasonClientTooLong]++
		return out
	}
	if len(q.EventID) > maxStr {
		q.EventID = "" // evidence is optional; an id this long is not one
	}
	m.stats.ByKind[n.Kind]++
	if n.Kind == KindReverse || n.Kind == KindIP || q.Client == "" {
		return out
	}
	if m.allowed(n.FQDN) {
		m.stats.Allowed++
		return out
	}
	t := q.Time.Unix()
	if m.first == 0 || t < m.first {
		m.first = t
	}
	if t > m.now {
		m.now = t
	}
	win := t / int64(m.cfg.Window/time.Second)
	nx := q.RCode == "NXDOMAIN"

	c := m.client(q.Client, t)
	if win > c.win { // a late query counts into the current window
		*c = cliState{win: win, dga: c.dga[:0]}
	}
	c.last = max(c.last, t)
	c.queries++
	if nx {
		c.nx++
	}

	d := m.domain(n, t)
	d.last = max(d.last, t)
	if h := t / 3600; h > d.lastHour {
		d.lastHour = h
		d.hours++
	}
	if d.clients.add(hash64(q.Client), pClients) {
		m.train(d, n)
	}

	p := m.pair(q.Client, n.Registered, t)
	newInWindow := win > p.win
	m.count(p, d, q, n, win, t, false)
	// The domain's aggregate over all clients, to see a tunnel spread thin.
	a := m.pair("", n.Registered, t)
	m.count(a, d, q, n, win, t, true)
	if newInWindow {
		a.clients++
	}
	if d.normal {
		return out
	}
	if p.queries < 64 || p.queries%16 == 0 {
		out = m.checkTunnel(q, n, d, p, false, out)
	}
	if a.clients >= 2 && (a.queries < 64 || a.queries%16 == 0) {
		out = m.checkTunnel(q, n, d, a, true, out)
	}
	if p.queries == 1 && n.Kind == KindPublic && !n.Private {
		out = m.checkDGA(q, n, d, c, nx, out)
	}
	out = m.checkRare(q, n, d, out)
	return out
}

// count adds q to the window state p (a pair, or the domain's aggregate).
func (m *Model) count(p *pairState, d *domState, q Query, n Name, win, t int64, agg bool) {
	if win > p.win {
		m.closeWindow(p, d, agg)
		*p = pairState{win: win, subs: p.subs}
		p.subs.reset()
	}
	p.last = max(p.last, t)
	p.queries++
	if q.RCode == "NXDOMAIN" {
		p.nx++
	}
	switch q.QType {
	case "TXT", "NULL", "CNAME", "MX":
		p.odd++
	}
	if p.queries <= uint32(len(p.ev)) {
		p.ev[p.queries-1] = strings.Clone(q.EventID)
	}
	if n.Sub != "" {
		if p.subs.add(hash64(n.Sub), pSubs) && p.named < uint32(len(p.names)) {
			p.names[p.named] = strings.Clone(n.FQDN)
		}
		p.named++
		l, e, ml := subShape(n.Sub)
		p.lenSum += float64(l)
		p.entSum += e
		p.maxLabel = max(p.maxLabel, uint8(min(ml, maxLabel)))
	}
}

// subShape returns the characters (dots excluded), Shannon entropy in bits per
// character and longest label of a subdomain part.
func subShape(sub string) (chars int, entropy float64, maxLabel int) {
	var cnt [alpha]uint16
	run := 0
	for i := 0; i < len(sub); i++ {
		if sub[i] == '.' {
			run = 0
			continue
		}
		cnt[sym(sub[i])]++
		chars++
		run++
		maxLabel = max(maxLabel, run)
	}
	if chars == 0 {
		return 0, 0, 0
	}
	for _, k := range cnt {
		if k > 0 {
			p := float64(k) / float64(chars)
			entropy -= p * math.Log2(p)
		}
	}
	return chars, entropy, maxLabel
}

// closeWindow learns a finished pair-window into the org baselines.
func (m *Model) closeWindow(p *pairState, d *domState, agg bool) {
	if p.queries == 0 {
		return
	}
	if p.flagged && !d.normal {
		return // an anomalous window teaches nothing
	}
	ds := min(p.subs.count(), float64(p.named))
	if agg {
		m.aggH.add(math.Log2(1+ds), 1)
		d.aggUsual = float32(max(float64(d.aggUsual)*0.98, ds))
		return
	}
	m.distinctH.add(math.Log2(1+ds), 1)
	if p.named > 0 {
		m.lenH.add(p.lenSum/float64(p.named), 1)
		m.entH.add(p.entSum/float64(p.named), 1)
	}
	d.usual = float32(max(float64(d.usual)*0.98, ds))
	if p.named > 0 {
		l, e := float32(p.lenSum/float64(p.named)), float32(p.entSum/float64(p.named))
		if d.windows == 0 {
			d.uLen, d.uEnt = l, e
		} else {
			d.uLen += 0.1 * (l - d.uLen)
			d.uEnt += 0.1 * (e - d.uEnt)
		}
		if d.windows < math.MaxUint16 {
			d.windows++
		}
	}
}

// robustOf returns the cached median and sigma of hist i, refreshed when its
// total moved by more than 1% (or 1).
func (m *Model) robustOf(i int, h *hist) (med, sigma float64) {
	if math.Abs(h.total-m.robustAt[i]) > max(1, h.total/100) || (h.total > 0 && m.robustAt[i] == 0) {
		m.robustAt[i] = h.total
		m.robust[i][0], m.robust[i][1] = h.robust()
	}
	return m.robust[i][0], m.robust[i][1]
}

func z(x, med, sigma, floor float64) float64 { return (x - med) / max(sigma, floor) }

func (m *Model) prevalent(d *domState) bool {
	return d.clients.count() >= float64(m.cfg.PrevalentClients) && d.last-d.first >= int64(m.cfg.PrevalentAge/time.Second)
}

func (m *Model) checkTunnel(q Query, n Name, d *domState, p *pairState, agg bool, out []Finding) []Finding {
	h, hi, usual := &m.distinctH, 0, d.usual
	if agg {
		h, hi, usual = &m.aggH, 4, d.aggUsual
	}
	if p.named == 0 || !m.warm(q.Time.Unix()) || h.total < float64(m.cfg.MinWindows) || int(p.nrep) >= m.cfg.MaxPerWindow {
		return out
	}
	ds := min(p.subs.count(), float64(p.named))
	if ds < float64(m.cfg.MinDistinct) || ds <= m.cfg.UsualFactor*float64(usual) {
		return out
	}
	if p.nrep > 0 && ds < m.cfg.Regrowth*p.reported {
		return out
	}
	dMed, dSig := m.robustOf(hi, h)
	lMed, lSig := m.robustOf(1, &m.lenH)
	eMed, eSig := m.robustOf(2, &m.entH)
	meanLen := p.lenSum / float64(p.named)
	meanEnt := p.entSum / float64(p.named)
	zd := z(math.Log2(1+ds), dMed, dSig, 0.5)
	zl := z(meanLen, lMed, lSig, 2)
	ze := z(meanEnt, eMed, eSig, 0.25)
	share := float64(p.odd) / float64(p.queries)
	needZ, needShape := m.cfg.TunnelZ, m.cfg.ShapeZ
	prev := m.prevalent(d)
	if prev {
		needZ += m.cfg.PrevalentExtraZ
		needShape += m.cfg.PrevalentExtraZ
	}
	shape := max(zl, ze)
	if zd < needZ || shape < needShape {
		return out
	}
	if d.windows >= domainHistory && meanLen < float64(d.uLen)+max(8, float64(d.uLen)/2) && meanEnt < float64(d.uEnt)+0.75 {
		// The domain's names always look like this (a CDN's host names): more of
		// them is heavy use, not a tunnel.
		return out
	}
	p.flagged = true
	p.nrep++
	p.reported = ds
	score := zd + shape + 2*share
	who, per, client := q.Client, "per client and window", q.Client
	if agg {
		who, per, client = fmt.Sprintf("%d clients together", p.clients), "per domain and window", ""
	}
	f := Finding{
		Kind: FindingTunnel, Version: Version, Time: q.Time, Client: client, Domain: n.Registered,
		Score: score, Confidence: squash(score, 8),
		Features: []Feature{
			{"distinct_subdomains_per_window", ds, math.Exp2(dMed) - 1, zd},
			{"mean_subdomain_length", meanLen, lMed, zl},
			{"subdomain_entropy_bits_per_char", meanEnt, eMed, ze},
			{"txt_null_cname_mx_share", share, 0, 0},
			{"max_label_length", float64(p.maxLabel), 0, 0},
			{"queries_per_window", float64(p.queries), 0, 0},
			{"clients_per_window", float64(max(p.clients, 1)), 0, 0},
		},
		Names:    nonEmpty(p.names[:]),
		EventIDs: nonEmpty(p.ev[:]),
	}
	sortFeatures(f.Features)
	pv := ""
	if prev {
		pv = fmt.Sprintf(" (a prevalent domain: %.0f clients)", d.clients.count())
	}
	f.Summary = fmt.Sprintf("%s queried %s with %s distinct subdomains in %s (%s queries, %.0f%% TXT/NULL/CNAME/MX), entropy %.1f bits/char, mean subdomain %.0f chars, longest label %d; org median %s %.0f subdomains of %.0f chars%s.",
		who, n.Registered, thousands(ds), dur(m.cfg.Window), thousands(float64(p.queries)), 100*share, meanEnt, meanLen, p.maxLabel, per, math.Exp2(dMed)-1, lMed, pv)
	m.stats.Findings[FindingTunnel]++
	return append(out, f)
}

// train adds the domain's label to the character model once it is used by
// MinTrainClients clients, one unit of weight per client up to MaxTrainClients:
// a label one host alone uses (its own DGA output) teaches nothing.
func (m *Model) train(d *domState, n Name) {
	if n.Kind != KindPublic || n.Private || len(n.Label) == 0 {
		return
	}
	k := int(math.Round(d.clients.count()))
	if k < m.cfg.MinTrainClients || int(d.trained) >= m.cfg.MaxTrainClients {
		return
	}
	w := min(k, m.cfg.MaxTrainClients) - int(d.trained)
	if w <= 0 {
		return
	}
	if d.trained == 0 && m.weight >= m.cfg.MinModelWeight {
		// Out-of-sample score of a newly common label: the learned distribution.
		m.scoreH.add(m.chars.score(n.Label), 1)
	}
	m.chars.add(n.Label, float64(w))
	m.weight += float64(w)
	d.trained += uint16(w)
	d.scored = false
}

func (m *Model) checkDGA(q Query, n Name, d *domState, c *cliState, nx bool, out []Finding) []Finding {
	if len(n.Label) < m.cfg.MinLabel || m.weight < m.cfg.MinModelWeight || m.scoreH.total < 30 || !m.warm(q.Time.Unix()) {
		return out
	}
	if d.clients.count() >= float64(m.cfg.MinTrainClients) {
		return out // shared by several hosts: not one bot's private name
	}
	if !d.scored {
		d.score, d.scored = float32(m.chars.score(n.Label)), true
	}
	med, sig := m.robustOf(3, &m.scoreH)
	zs := z(float64(d.score), med, sig, 0.25)
	if zs > m.cfg.DGAZ {
		return out
	}
	c.ndga++
	if nx {
		c.ndgaNX++
	}
	if len(c.dga) < maxHits {
		c.dga = append(c.dga, dgaHit{strings.Clone(n.Registered), strings.Clone(n.FQDN), strings.Clone(q.EventID), zs, nx})
	}
	if c.ndga < m.cfg.DGAMinNames || int(c.nrep) >= m.cfg.MaxPerWindow || (c.nrep > 0 && float64(c.ndga) < m.cfg.Regrowth*float64(c.reported)) {
		return out
	}
	c.nrep++
	c.reported = c.ndga
	var zsum float64
	f := Finding{Kind: FindingDGA, Version: Version, Time: q.Time, Client: q.Client, Domain: n.Registered}
	for _, h := range c.dga {
		zsum += h.z
		if len(f.Names) < 5 {
			f.Names = append(f.Names, h.name)
			f.EventIDs = append(f.EventIDs, h.ev)
		}
	}
	meanZ := zsum / float64(len(c.dga))
	nxRate := float64(c.nx) / float64(c.queries)
	f.Score = -meanZ + math.Log2(float64(c.ndga)) + 4*nxRate
	f.Confidence = squash(f.Score, 6)
	f.Features = []Feature{
		{"label_log2_likelihood_per_char", float64(d.score), med, zs},
		{"suspicious_domains_per_window", float64(c.ndga), 0, 0},
		{"mean_suspicious_z", meanZ, 0, 0},
		{"client_nxdomain_rate", nxRate, 0, 0},
		{"suspicious_nxdomain", float64(c.ndgaNX), 0, 0},
	}
	sortFeatures(f.Features)
	f.Summary = fmt.Sprintf("%s queried %d single-client domains in %s whose names are unlike the organisation's (mean %.1f sigma below the learned character model, e.g. %s), %d of them NXDOMAIN; client NXDOMAIN rate %.0f%%.",
		q.Client, c.ndga, dur(m.cfg.Window), -meanZ, strings.Join(f.Names, ", "), c.ndgaNX, 100*nxRate)
	m.stats.Findings[FindingDGA]++
	return append(out, f)
}

func (m *Model) checkRare(q Query, n Name, d *domState, out []Finding) []Finding {
	if d.rareDone || n.Kind != KindPublic || int(d.hours) < m.cfg.RareMinHours || !m.warm(d.first) || len(m.clients) < m.cfg.RareMinOrg {
		// (With a handful of clients every domain is "used by one host".)
		return out
	}
	k := d.clients.count()
	if k > float64(m.cfg.RareMaxClients) {
		return out
	}
	d.rareDone = true
	days := float64(d.last-d.first) / 86400
	f := Finding{
		Kind: FindingRare, Version: Version, Time: q.Time, Client: q.Client, Domain: n.Registered,
		Score: float64(d.hours) / k, Names: []string{n.FQDN}, EventIDs: []string{q.EventID},
		Features: []Feature{
			{"distinct_clients", k, float64(m.cfg.PrevalentClients), 0},
			{"distinct_hours_seen", float64(d.hours), 0, 0},
			{"days_since_first_seen", days, 0, 0},
		},
	}
	f.Confidence = squash(f.Score, 12)
	f.Summary = fmt.Sprintf("%s is new to the organisation since %s (after the warm-up) and only %s resolves it, in %d distinct hours over %.1f days.",
		n.Registered, time.Unix(d.first, 0).UTC().Format(time.RFC3339), q.Client, d.hours, days)
	m.stats.Findings[FindingRare]++
	return append(out, f)
}

// squash maps a non-negative score to 0..1.
func squash(s, half float64) float64 {
	if s <= 0 {
		return 0
	}
	return s / (s + half)
}

func nonEmpty(s []string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

func sortFeatures(fs []Feature) {
	slices.SortStableFunc(fs, func(a, b Feature) int {
		return -cmp.Compare(math.Abs(a.Z), math.Abs(b.Z))
	})
}

// dur renders a window as "1 h", "15 min" or Go's form.
func dur(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return d.String()
}

// thousands renders a count rounded to an integer with thousands separators.
func thousands(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Size reports the tracked keys and an estimate of their heap cost from the
// per-key figures measured in mem_test.go (plus the fixed character model), for
// an engine's memory accounting.
func (m *Model) Size() (domains, pairs, clients int, bytes int64) {
	hll := 0
	for _, p := range m.pairs {
		if p.subs.regs != nil {
			hll++
		}
	}
	bytes = int64(len(m.doms))*bytesPerDomain + int64(len(m.pairs))*bytesPerPair + int64(hll)*bytesHLLExtra +
		int64(len(m.clients))*bytesPerClient + int64(len(m.normal))*64 + charModelBytes
	return len(m.doms), len(m.pairs), len(m.clients), bytes
}

// Per-key heap costs measured on amd64 (TestMemoryPerKey checks Size against the
// heap).
const (
	bytesPerDomain = 250
	bytesPerPair   = 340
	bytesPerClient = 160
	bytesHLLExtra  = 420 // a pair whose sketch is a HyperLogLog, with its longer sample names
	charModelBytes = 8*alpha + 8*alpha*alpha + 4*alpha*alpha*alpha + 8*alpha + 8*alpha*alpha + 8
)
