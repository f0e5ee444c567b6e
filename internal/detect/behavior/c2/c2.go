package c2

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Conn is one connection record.
type Conn struct {
	Time    time.Time // start of the connection (Zeek ts)
	Src     netip.Addr
	Dst     netip.Addr
	DstPort uint16
	Proto   string // tcp, udp, icmp
	// Host is the HTTP Host or TLS SNI of the connection when known, else "".
	Host      string
	OrigBytes int64
	RespBytes int64
	Duration  time.Duration
	// Open marks a record of a connection still open (Zeek open_conn.log):
	// Duration is how long it has been open so far; it feeds long connections
	// only, never the beacon series.
	Open    bool
	UID     string // Zeek uid, joins open and closed records of one connection
	EventID string // id of the source event, for evidence ("" to use UID)
}

// HTTPRequest is one HTTP request (Zeek http.log).
type HTTPRequest struct {
	Time      time.Time
	Src       netip.Addr
	Dst       netip.Addr
	Host      string // Host header, "" when blank or absent
	UserAgent string
	Method    string
	URI       string
	EventID   string
}

// Config sets the tracker's caps and thresholds. Zero fields take the
// DefaultConfig values.
type Config struct {
	MaxPairs      int // tracked (src,dst) and (src,fqdn) pairs
	MaxSamples    int // retained connection times and sizes per pair
	MaxOpen       int // tracked open connections
	MaxUserAgents int // tracked user agents
	MaxUAHosts    int // source hosts remembered per user agent
	MaxHTTPPairs  int // (src,dst) pairs with HTTP request counts

	MinConns       int           // distinct connection times before a pair is scored
	MinSpan        time.Duration // first to last connection before a pair is scored
	MinBeaconScore float64       // beacon findings below are dropped
	StrobeConns    int           // connections in the window that make a strobe
	LongConnMin    time.Duration // total duration that makes a long connection

	MinPopulation int // counted hosts before prevalence modifies scores
	// Internal lists the networks whose hosts make the prevalence population
	// (RITA's internal_subnets). Nil takes RITA's default, the private ranges
	// 10/8, 172.16/12, 192.168/16 and fd00::/8; 0.0.0.0/0 and ::/0 count every
	// source.
	Internal          []netip.Prefix
	RareUAMaxHosts    int // a user agent used by at most this many hosts is rare
	RareUAMinRequests int // requests before a rare user agent is reported
}

// DefaultConfig returns the defaults (RITA's thresholds where RITA has one).
func DefaultConfig() Config {
	return Config{
		MaxPairs: 65536, MaxSamples: 512, MaxOpen: 4096, MaxUserAgents: 8192, MaxUAHosts: 16, MaxHTTPPairs: 65536,
		MinConns: 8, MinSpan: time.Hour, MinBeaconScore: 0.5, StrobeConns: 86400, LongConnMin: time.Hour,
		MinPopulation: 10, RareUAMaxHosts: 2, RareUAMinRequests: 5,
		Internal: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
			netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("fd00::/8"),
		},
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setInt(&c.MaxPairs, d.MaxPairs)
	setInt(&c.MaxSamples, d.MaxSamples)
	setInt(&c.MaxOpen, d.MaxOpen)
	setInt(&c.MaxUserAgents, d.MaxUserAgents)
	setInt(&c.MaxUAHosts, d.MaxUAHosts)
	setInt(&c.MaxHTTPPairs, d.MaxHTTPPairs)
	setInt(&c.MinConns, d.MinConns)
	setInt(&c.StrobeConns, d.StrobeConns)
	setInt(&c.MinPopulation, d.MinPopulation)
	setInt(&c.RareUAMaxHosts, d.RareUAMaxHosts)
	setInt(&c.RareUAMinRequests, d.RareUAMinRequests)
	if c.MinSpan == 0 {
		c.MinSpan = d.MinSpan
	}
	if c.LongConnMin == 0 {
		c.LongConnMin = d.LongConnMin
	}
	if c.MinBeaconScore == 0 {
		c.MinBeaconScore = d.MinBeaconScore
	}
	if c.Internal == nil {
		c.Internal = d.Internal
	}
	return c
}

// Validate reports a configuration the tracker cannot run with.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name   string
		v, max int
	}{
		{"max_pairs", c.MaxPairs, 1 << 24}, {"max_samples", c.MaxSamples, 1 << 16}, {"max_open", c.MaxOpen, 1 << 24},
		{"max_user_agents", c.MaxUserAgents, 1 << 24}, {"max_ua_hosts", c.MaxUAHosts, 1 << 12},
		{"max_http_pairs", c.MaxHTTPPairs, 1 << 24},
	} {
		if f.v < 1 || f.v > f.max {
			errs = append(errs, fmt.Errorf("%s %d outside 1..%d", f.name, f.v, f.max))
		}
	}
	if c.MinConns < 4 {
		errs = append(errs, fmt.Errorf("min_conns %d below 4 (three intervals are needed)", c.MinConns))
	}
	if c.MinSpan < 0 || c.LongConnMin <= 0 {
		errs = append(errs, errors.New("min_span must be >= 0 and long_conn_min > 0"))
	}
	if math.IsNaN(c.MinBeaconScore) || c.MinBeaconScore < 0 || c.MinBeaconScore > 1 {
		errs = append(errs, fmt.Errorf("min_beacon_score %v outside 0..1", c.MinBeaconScore))
	}
	if c.StrobeConns < 1 || c.MinPopulation < 1 || c.RareUAMaxHosts < 1 || c.RareUAMinRequests < 1 {
		errs = append(errs, errors.New("strobe_conns, min_population, rare_ua_max_hosts and rare_ua_min_requests must be positive"))
	}
	if c.RareUAMaxHosts > c.MaxUAHosts {
		errs = append(errs, fmt.Errorf("rare_ua_max_hosts %d above max_ua_hosts %d", c.RareUAMaxHosts, c.MaxUAHosts))
	}
	for _, p := range c.Internal {
		if !p.IsValid() {
			errs = append(errs, errors.New("internal: invalid prefix"))
		}
	}
	return errors.Join(errs...)
}

// Window is the span of event time Evaluate scores (RITA scores one day).
const Window = 24 * time.Hour

const (
	hours      = 24 // hourly buckets per pair, covering Window
	evidenceN  = 4  // evidence ids kept per pair and user agent
	maxStrLen  = 512
	evictShare = 8 // past a cap, evict 1/evictShare of the entries
)

// pairKey identifies a (src,dst) pair when fqdn is "", else a (src,fqdn) pair.
type pairKey struct {
	src, dst netip.Addr
	fqdn     string
}

func (k pairKey) dstKey() dstKey { return dstKey{k.dst, k.fqdn} }

func cmpPairKey(a, b pairKey) int {
	if c := a.src.Compare(b.src); c != 0 {
		return c
	}
	if c := a.dst.Compare(b.dst); c != 0 {
		return c
	}
	return strings.Compare(a.fqdn, b.fqdn)
}

type dstKey struct {
	dst  netip.Addr
	fqdn string
}

// bucket is one UTC hour of a pair: connections started and seconds of
// connections ended in it.
type bucket struct {
	hour  int64 // unix hour index; a bucket whose hour is not current is empty
	conns uint32
	dur   uint32 // seconds, saturating
}

type pair struct {
	key     pairKey
	port    uint16
	proto   string
	first   int64 // unix seconds of the first connection start
	last    int64 // unix seconds of the last event touching the pair (eviction)
	total   uint64
	base    int64 // unix seconds samples are relative to
	ts      []uint32
	bytes   []uint32
	head    int // next ring slot once full
	buckets [hours]bucket
	maxDur  int64  // longest closed connection, seconds
	durPort uint16 // its destination port
	ev      []string
	evHead  int
}

type openConn struct {
	key   pairKey
	port  uint16
	start int64 // unix seconds
	dur   int64 // seconds open so far
	seen  int64 // unix seconds the record was written (start + dur)
	id    string
}

type userAgent struct {
	ua        string
	hosts     []netip.Addr // sorted, at most MaxUAHosts
	moreHosts bool         // hosts beyond MaxUAHosts were seen
	requests  uint64
	blankHost uint64
	first     int64
	last      int64
	ev        []string
	evHead    int
}

type httpPair struct {
	requests  uint64
	blankHost uint64
	last      int64
}

// Tracker holds the per-pair state. It is not safe for concurrent use: feed it
// from one goroutine (partition by source host to scale out).
type Tracker struct {
	cfg Config

	pairs map[pairKey]*pair
	// prevalence: live pairs per destination and per source, counted sources only
	dstHosts map[dstKey]int32
	srcPairs map[netip.Addr]int32

	open   map[string]*openConn
	uas    map[string]*userAgent
	hpairs map[pairKey]*httpPair

	first, last int64 // event time span seen (unix seconds); first 0 when empty
}

// New returns a tracker for cfg (zero fields take DefaultConfig values).
func New(cfg Config) (*Tracker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validating c2 config: %w", err)
	}
	t := &Tracker{cfg: cfg}
	t.reset()
	return t, nil
}

func (t *Tracker) reset() {
	t.pairs = map[pairKey]*pair{}
	t.dstHosts = map[dstKey]int32{}
	t.srcPairs = map[netip.Addr]int32{}
	t.open = map[string]*openConn{}
	t.uas = map[string]*userAgent{}
	t.hpairs = map[pairKey]*httpPair{}
	t.first, t.last = 0, 0
}

// Config returns the effective configuration.
func (t *Tracker) Config() Config { return t.cfg }

// Pairs returns how many pairs are tracked.
func (t *Tracker) Pairs() int { return len(t.pairs) }

// minTime and maxTime bound the event times accepted: unix seconds that fit the
// uint32 sample offsets with room.
var (
	minTime = time.Unix(0, 0)
	maxTime = time.Unix(1<<32-1, 0)
)

// ErrBadRecord is wrapped by the errors Observe and ObserveHTTP return for
// records they cannot use.
var ErrBadRecord = errors.New("bad record")

func (t *Tracker) seeTime(s int64) {
	if t.first == 0 || s < t.first {
		t.first = s
	}
	if s > t.last {
		t.last = s
	}
}

// Observe adds one connection. Records must come in event time order, as Zeek
// writes them (a long connection's record may carry an older start time; it
// is accepted). Records without valid addresses or with a time outside
// 1970..2106 are refused with an error wrapping ErrBadRecord.
func (t *Tracker) Observe(c Conn) error {
	if !c.Src.IsValid() || !c.Dst.IsValid() {
		return fmt.Errorf("observing connection %q: %w: missing address", c.UID, ErrBadRecord)
	}
	if c.Time.Before(minTime) || !c.Time.Before(maxTime) {
		return fmt.Errorf("observing connection %q: %w: time %v out of range", c.UID, ErrBadRecord, c.Time)
	}
	start := c.Time.Unix()
	dur := max(int64(c.Duration/time.Second), 0)
	end := min(start+dur, maxTime.Unix()-1)
	t.seeTime(end)
	if !c.Open {
		t.seeTime(start)
	}
	id := c.EventID
	if id == "" {
		id = c.UID
	}
	k := pairKey{src: c.Src.Unmap().WithZone(""), dst: c.Dst.Unmap().WithZone("")}
	t.observePair(k, c, start, end, dur, id)
	if h := normHost(c.Host); h != "" {
		t.observePair(pairKey{src: k.src, fqdn: h}, c, start, end, dur, id)
	}
	if c.UID == "" {
		return nil
	}
	uid := c.UID[:min(len(c.UID), maxStrLen)]
	if c.Open {
		o := t.open[uid]
		if o == nil {
			if len(t.open) >= t.cfg.MaxOpen {
				t.evictOpen()
			}
			o = &openConn{}
			t.open[clip(uid)] = o
		}
		*o = openConn{key: k, port: c.DstPort, start: start, dur: max(o.dur, dur), seen: max(o.seen, end), id: clip(id)}
	} else {
		delete(t.open, uid) // closed: its duration is now in the buckets
	}
	return nil
}

func (t *Tracker) observePair(k pairKey, c Conn, start, end, dur int64, id string) {
	p := t.pairs[k]
	if p == nil {
		if len(t.pairs) >= t.cfg.MaxPairs {
			t.evictPairs()
		}
		k.fqdn = strings.Clone(k.fqdn)
		p = &pair{key: k, first: start, base: start}
		t.pairs[k] = p
		t.countPair(k, 1)
	}
	p.port, p.proto = c.DstPort, internProto(c.Proto)
	p.last = max(p.last, end)
	if c.Open {
		return
	}
	if start < p.first {
		p.first = start
	}
	p.total++
	p.addSample(t.cfg.MaxSamples, start, c.OrigBytes)
	b := p.bucketAt(start / 3600)
	b.conns = satAdd(b.conns, 1)
	if dur > 0 {
		e := p.bucketAt(end / 3600)
		e.dur = satAdd(e.dur, uint64(dur))
	}
	if dur > p.maxDur {
		p.maxDur, p.durPort = dur, c.DstPort
	}
	p.ev, p.evHead = pushEvidence(p.ev, p.evHead, id)
}

// bucketAt returns the bucket of hour h, emptied if it held an older hour.
func (p *pair) bucketAt(h int64) *bucket {
	b := &p.buckets[uint64(h)%hours]
	if b.hour != h {
		if b.hour > h { // older than the ring: park in a scratch that is dropped
			return &bucket{}
		}
		*b = bucket{hour: h}
	}
	return b
}

func (p *pair) addSample(maxN int, start, bytes int64) {
	off := start - p.base
	if off < 0 { // an out-of-order earlier start: rebase (offsets stay >= 0)
		for i := range p.ts {
			v := int64(p.ts[i]) - off
			p.ts[i] = uint32(min(v, math.MaxUint32))
		}
		p.base, off = start, 0
	}
	ts := uint32(min(off, math.MaxUint32))
	by := uint32(min(max(bytes, 0), math.MaxUint32))
	if len(p.ts) < maxN {
		p.ts = append(p.ts, ts)
		p.bytes = append(p.bytes, by)
		return
	}
	p.ts[p.head], p.bytes[p.head] = ts, by
	p.head = (p.head + 1) % len(p.ts)
}

func pushEvidence(ev []string, head int, id string) ([]string, int) {
	if id == "" {
		return ev, head
	}
	id = clip(id)
	if len(ev) < evidenceN {
		return append(ev, id), head
	}
	ev[head] = id
	return ev, (head + 1) % evidenceN
}

// evidenceOrder returns the ring's ids oldest first.
func evidenceOrder(ev []string, head int) []string {
	out := make([]string, 0, len(ev))
	out = append(out, ev[head:]...)
	return append(out, ev[:head]...)
}

func satAdd(a uint32, d uint64) uint32 {
	return uint32(min(uint64(a)+d, math.MaxUint32))
}

func (t *Tracker) counted(src netip.Addr) bool {
	for _, p := range t.cfg.Internal {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

func (t *Tracker) countPair(k pairKey, d int32) {
	if !t.counted(k.src) {
		return
	}
	dk := k.dstKey()
	if n := t.dstHosts[dk] + d; n > 0 {
		t.dstHosts[dk] = n
	} else {
		delete(t.dstHosts, dk)
	}
	if k.fqdn != "" {
		return // a source's population membership is counted on its IP pairs
	}
	if n := t.srcPairs[k.src] + d; n > 0 {
		t.srcPairs[k.src] = n
	} else {
		delete(t.srcPairs, k.src)
	}
}

// evictPairs drops the coldest eighth of the pairs by last event time (ties by key).
func (t *Tracker) evictPairs() {
	ps := make([]*pair, 0, len(t.pairs))
	for _, p := range t.pairs {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b *pair) int {
		return cmp.Or(cmp.Compare(a.last, b.last), cmpPairKey(a.key, b.key))
	})
	for _, p := range ps[:max(len(ps)/evictShare, 1)] {
		delete(t.pairs, p.key)
		t.countPair(p.key, -1)
	}
}

func (t *Tracker) evictOpen() {
	ids := make([]string, 0, len(t.open))
	for id := range t.open {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		return cmp.Or(cmp.Compare(t.open[a].seen, t.open[b].seen), strings.Compare(a, b))
	})
	for _, id := range ids[:max(len(ids)/evictShare, 1)] {
		delete(t.open, id)
	}
}

func (t *Tracker) evictUAs() {
	uas := make([]*userAgent, 0, len(t.uas))
	for _, u := range t.uas {
		uas = append(uas, u)
	}
	slices.SortFunc(uas, func(a, b *userAgent) int {
		return cmp.Or(cmp.Compare(a.last, b.last), strings.Compare(a.ua, b.ua))
	})
	for _, u := range uas[:max(len(uas)/evictShare, 1)] {
		delete(t.uas, u.ua)
	}
}

func (t *Tracker) evictHTTPPairs() {
	ks := make([]pairKey, 0, len(t.hpairs))
	for k := range t.hpairs {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b pairKey) int {
		return cmp.Or(cmp.Compare(t.hpairs[a].last, t.hpairs[b].last), cmpPairKey(a, b))
	})
	for _, k := range ks[:max(len(ks)/evictShare, 1)] {
		delete(t.hpairs, k)
	}
}

// ObserveHTTP adds one HTTP request: its user agent's host set and the blank
// Host count of its (src,dst) pair.
func (t *Tracker) ObserveHTTP(r HTTPRequest) error {
	if !r.Src.IsValid() || !r.Dst.IsValid() {
		return fmt.Errorf("observing http request %q: %w: missing address", r.EventID, ErrBadRecord)
	}
	if r.Time.Before(minTime) || !r.Time.Before(maxTime) {
		return fmt.Errorf("observing http request %q: %w: time %v out of range", r.EventID, ErrBadRecord, r.Time)
	}
	ts := r.Time.Unix()
	t.seeTime(ts)
	src, dst := r.Src.Unmap().WithZone(""), r.Dst.Unmap().WithZone("")
	blank := isBlank(r.Host)
	k := pairKey{src: src, dst: dst}
	hp := t.hpairs[k]
	if hp == nil {
		if len(t.hpairs) >= t.cfg.MaxHTTPPairs {
			t.evictHTTPPairs()
		}
		hp = &httpPair{}
		t.hpairs[k] = hp
	}
	hp.requests++
	hp.last = max(hp.last, ts)
	if blank {
		hp.blankHost++
	}

	ua := r.UserAgent[:min(len(r.UserAgent), maxStrLen)]
	u := t.uas[ua]
	if u == nil {
		if len(t.uas) >= t.cfg.MaxUserAgents {
			t.evictUAs()
		}
		u = &userAgent{ua: clip(ua), first: ts}
		t.uas[u.ua] = u
	}
	u.requests++
	u.first = min(u.first, ts)
	u.last = max(u.last, ts)
	if blank {
		u.blankHost++
	}
	if i, found := slices.BinarySearchFunc(u.hosts, src, netip.Addr.Compare); !found {
		if len(u.hosts) < t.cfg.MaxUAHosts {
			u.hosts = slices.Insert(u.hosts, i, src)
		} else {
			u.moreHosts = true
		}
	}
	u.ev, u.evHead = pushEvidence(u.ev, u.evHead, r.EventID)
	return nil
}

// normHost lower-cases a host name and strips a port; "-", "" and literal
// addresses give "".
func normHost(h string) string {
	h = strings.TrimSpace(h)
	if h == "-" || h == "" {
		return ""
	}
	if len(h) > 253 {
		h = h[:253]
	}
	if i := strings.LastIndexByte(h, ':'); i > 0 && !strings.Contains(h[:i], ":") {
		h = h[:i]
	}
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return "" // an address, not a name: the IP pair covers it
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// clip returns a private copy of s cut to maxStrLen bytes: decoders may hand
// out strings backed by reused buffers, so nothing retained aliases them.
func isBlank(h string) bool {
	h = strings.TrimSpace(h)
	return h == "" || h == "-"
}

func clip(s string) string {
	return strings.Clone(s[:min(len(s), maxStrLen)])
}

// internProto avoids a string per pair for the usual protocols.
func internProto(p string) string {
	switch p {
	case "tcp":
		return "tcp"
	case "udp":
		return "udp"
	case "icmp":
		return "icmp"
	}
	return clip(p)
}
