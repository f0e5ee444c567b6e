package behavior

import (
	"cmp"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/detect/behavior/c2"
)

// C2Config tunes the C2 adapter. Zero values take the defaults.
type C2Config struct {
	// Tracker configures the analytics (caps and RITA thresholds); zero fields take
	// c2.DefaultConfig values, except MinBeaconScore, which defaults to
	// MinScore.
	Tracker c2.Config
	// MinScore: beacon, strobe and long-connection findings scoring below are not
	// reported (RITA scale, modifiers included).
	MinScore float64 // default 0.8
	// MinUAScore: rare user agent findings below are not reported. A rare agent
	// scores 0.4 × rarity (1 for one host) + 0.3 × persistence (share of a day
	// between its first and last request) + 0.3 × share of blank Host headers:
	// one host using it for two thirds of a day, or with blank Hosts, passes.
	MinUAScore float64 // default 0.6
	// Regrow: a (kind, pair or agent) already reported is reported again only when
	// its score has grown by at least this much.
	Regrow float64 // default 0.1
	// MaxReported bounds the remembered reports (oldest report forgotten first).
	MaxReported int // default 65,536
	// MaxHosts bounds the (source, destination) → server name map (coldest
	// eighth evicted when full).
	MaxHosts int // default 65,536
}

func (c C2Config) withDefaults() C2Config {
	if c.MinScore <= 0 {
		c.MinScore = 0.8
	}
	if c.MinUAScore <= 0 {
		c.MinUAScore = 0.6
	}
	if c.Regrow <= 0 {
		c.Regrow = 0.1
	}
	if c.MaxReported <= 0 {
		c.MaxReported = 1 << 16
	}
	if c.MaxHosts <= 0 {
		c.MaxHosts = 1 << 16
	}
	if c.Tracker.MinBeaconScore == 0 {
		c.Tracker.MinBeaconScore = min(c.MinScore, 1) - 0.15 // the prevalence modifier may add 0.15
	}
	return c
}

// C2 is the command-and-control model: it feeds flow records (Zeek conn and any
// connection event without a process) and HTTP requests to the RITA-style
// analytics of package c2 (beacons, strobes, long connections, rare user agents),
// evaluates them once per event-time UTC day (at each midnight the stream passes,
// and at the last event time at the end of the input) and reports each pair or
// user agent once, and again only when its score grows by Regrow.
//
// The HTTP Host header and TLS server name seen between a source and a destination
// are remembered (MaxHosts pairs, 121 bytes each measured by TestC2MemoryPerKey,
// the name itself interned) and set as the server name of that pair's later
// connections, so beacons are also scored per (source, FQDN). Reports are
// remembered in MaxReported entries of 49 bytes plus the key text (kind, source,
// destination: about 50 bytes); forgetting the oldest is a linear scan, paid only
// when a new report finds the table full. The tracker's cost per pair is measured
// in package c2 (about 1 to 5 KiB).
//
// It does not read endpoint connection events (they carry a process and duplicate
// the flows) nor Zeek open_conn records (the observation does not say a
// connection is still open, so they would count as extra connections).
type C2 struct {
	cfg C2Config
	tr  *c2.Tracker

	hosts    map[[2]netip.Addr]*c2Host
	reported map[string]c2Report

	next     int64 // next midnight to evaluate at (0: no observation yet)
	last     int64 // latest observation time
	lastEval int64 // time of the latest evaluation
	idBuf    []byte
	normal   normalSet
}

type c2Host struct {
	name Sym
	last int64
}

type c2Report struct {
	Score float64
	Time  int64
}

// NewC2 builds the model for cfg.
func NewC2(cfg C2Config) (*C2, error) {
	cfg = cfg.withDefaults()
	if math.IsNaN(cfg.MinScore) || math.IsNaN(cfg.MinUAScore) || math.IsNaN(cfg.Regrow) {
		return nil, errors.New("building the c2 model: NaN threshold")
	}
	tr, err := c2.New(cfg.Tracker)
	if err != nil {
		return nil, fmt.Errorf("building the c2 model: %w", err)
	}
	cfg.Tracker = tr.Config()
	return &C2{cfg: cfg, tr: tr, hosts: map[[2]netip.Addr]*c2Host{}, reported: map[string]c2Report{}}, nil
}

// DefaultC2 builds the model with the default configuration, which always
// validates.
func DefaultC2() *C2 {
	m, err := NewC2(C2Config{})
	if err != nil {
		panic("behavior: default c2 configuration does not validate: " + err.Error())
	}
	return m
}

// ID implements Model.
func (*C2) ID() string { return "behavior.c2" }

// Version implements Model.
func (*C2) Version() string { return "1" }

// Config returns the effective configuration.
func (m *C2) Config() C2Config { return m.cfg }

// cheapID encodes o's origin and time for the tracker's evidence ring without
// hashing ("source\x00offset\x00record\x00time"); evidenceOf turns it back into
// a full evidence reference (real event id, time, source, offset) only for
// reported findings. BenchmarkC2EvidenceID: about as fast as the hash (one
// allocation each); what it buys is the evidence's time and origin, which an
// event id alone would not give back.
func (m *C2) cheapID(o *Obs) string {
	b := append(m.idBuf[:0], str(o.Source)...)
	b = append(b, 0)
	b = strconv.AppendInt(b, o.Offset, 10)
	b = append(b, 0)
	b = strconv.AppendInt(b, o.Record, 10)
	b = append(b, 0)
	b = strconv.AppendInt(b, o.Time, 10)
	m.idBuf = b
	return string(b)
}

// evidenceOf decodes a cheapID; other ids (from a hostile or older snapshot) are
// kept as they are.
func evidenceOf(id string) detect.EvidenceRef {
	parts := strings.Split(id, "\x00")
	if n := len(parts); n >= 4 {
		src := strings.Join(parts[:n-3], "\x00")
		off, e1 := strconv.ParseInt(parts[n-3], 10, 64)
		rec, e2 := strconv.ParseInt(parts[n-2], 10, 64)
		t, e3 := strconv.ParseInt(parts[n-1], 10, 64)
		if e1 == nil && e2 == nil && e3 == nil {
			o := Obs{Source: intern(src), Offset: off, Record: rec, Time: t}
			return o.Evidence()
		}
	}
	return detect.EvidenceRef{EventID: id}
}

// Observe implements Model.
func (m *C2) Observe(o *Obs, _ *Emitter) {
	if !o.SrcIP.IsValid() || !o.DstIP.IsValid() {
		return
	}
	switch o.Kind {
	case KindConn:
		if o.Process != (Sym{}) {
			return // an endpoint's connection event: the flow record has it too
		}
		if strings.Contains(str(o.Source), "open_conn") {
			return // still open: the observation cannot say so (see the type's doc)
		}
	case KindHTTP, KindTLS:
	default:
		return
	}
	if m.next == 0 {
		m.next = nextMidnight(o.Time)
	}
	m.last = max(m.last, o.Time)
	pair := [2]netip.Addr{o.SrcIP, o.DstIP}
	switch o.Kind {
	case KindConn:
		c := c2.Conn{
			Time: unixTime(o.Time), Src: o.SrcIP, Dst: o.DstIP, DstPort: o.DstPort,
			OrigBytes: o.BytesOut, RespBytes: o.BytesIn, Duration: time.Duration(o.Duration),
			Host: str(o.Target), EventID: m.cheapID(o),
		}
		if c.Host == "" {
			if h := m.hosts[pair]; h != nil {
				c.Host = str(h.name)
			}
		}
		_ = m.tr.Observe(c) // a record the tracker refuses (time out of range) is skipped
	case KindHTTP:
		m.rememberHost(pair, o.Target, o.Time)
		_ = m.tr.ObserveHTTP(c2.HTTPRequest{
			Time: unixTime(o.Time), Src: o.SrcIP, Dst: o.DstIP, Host: str(o.Target),
			UserAgent: str(o.Agent), Method: str(o.Action), URI: str(o.Extra), EventID: m.cheapID(o),
		})
	case KindTLS:
		m.rememberHost(pair, o.Target, o.Time)
	}
}

func (m *C2) rememberHost(pair [2]netip.Addr, name Sym, t int64) {
	if name == (Sym{}) {
		return
	}
	if _, err := netip.ParseAddr(str(name)); err == nil {
		return // a literal address is no server name
	}
	if h := m.hosts[pair]; h != nil {
		h.name, h.last = name, t
		return
	}
	if len(m.hosts) >= m.cfg.MaxHosts {
		m.evictHosts()
	}
	m.hosts[pair] = &c2Host{name: name, last: t}
}

// evictHosts forgets the coldest eighth of the server names (at least one).
func (m *C2) evictHosts() {
	type kv struct {
		k    [2]netip.Addr
		last int64
	}
	all := make([]kv, 0, len(m.hosts))
	for k, h := range m.hosts {
		all = append(all, kv{k, h.last})
	}
	slices.SortFunc(all, func(a, b kv) int {
		if c := cmp.Compare(a.last, b.last); c != 0 {
			return c
		}
		if c := a.k[0].Compare(b.k[0]); c != 0 {
			return c
		}
		return a.k[1].Compare(b.k[1])
	})
	for _, x := range all[:max(1, len(all)/8)] {
		delete(m.hosts, x.k)
	}
}

func nextMidnight(t int64) int64 {
	day := int64(24 * time.Hour)
	return (t/day + 1) * day
}

// Advance implements Model: the midnights the stream passed are evaluated; when
// event time jumps more than a day past the latest observation (the end of the
// input, or a gap), the day up to that observation is evaluated.
func (m *C2) Advance(now int64, out *Emitter) {
	if m.next == 0 {
		return
	}
	if now-m.last >= int64(24*time.Hour) {
		if m.lastEval < m.last {
			m.evaluate(m.last, out)
		}
		m.next = nextMidnight(now)
		return
	}
	if m.next < now-int64(48*time.Hour) { // a restored state far behind
		m.next = nextMidnight(now) - int64(24*time.Hour)
	}
	for m.next <= now {
		m.evaluate(m.next, out)
		m.next += int64(24 * time.Hour)
	}
}

func (m *C2) evaluate(at int64, out *Emitter) {
	m.lastEval = at
	for _, f := range m.tr.Evaluate(unixTime(at)) {
		minScore := m.cfg.MinScore
		if f.Kind == c2.KindRareUserAgent {
			minScore = m.cfg.MinUAScore
		}
		if f.Score < minScore {
			continue
		}
		key := c2Key(&f)
		if r, ok := m.reported[key]; ok && f.Score < r.Score+m.cfg.Regrow {
			continue
		}
		if m.isNormal(&f, at) {
			continue
		}
		m.remember(key, c2Report{Score: f.Score, Time: at})
		out.Emit(m.finding(&f, at))
	}
}

// isNormal reports whether an analyst declared f's source and destination (an
// address, a server name or a user agent) normal.
func (m *C2) isNormal(f *c2.Finding, at int64) bool {
	src := ""
	if f.Src.IsValid() {
		src = f.Src.String()
	}
	for _, attr := range []string{f.FQDN, f.UserAgent, addrText(f.Dst)} {
		if attr != "" && (m.normal.is(src, attr, at) || m.normal.is("", attr, at)) {
			return true
		}
	}
	return src != "" && m.normal.is(src, "", at)
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// MarkNormal implements Normalizer: entity is the source address ("" for every
// source), attribute the destination address, server name or user agent ("" for
// every destination of the source).
func (m *C2) MarkNormal(entity, attribute string, until time.Time) bool {
	if entity == "" && attribute == "" {
		return false
	}
	return m.normal.mark(entity, attribute, until)
}

func (m *C2) remember(key string, r c2Report) {
	if _, ok := m.reported[key]; !ok && len(m.reported) >= m.cfg.MaxReported {
		var victim string
		var vt int64 = math.MaxInt64
		for k, x := range m.reported {
			if x.Time < vt || (x.Time == vt && k < victim) {
				victim, vt = k, x.Time
			}
		}
		delete(m.reported, victim)
	}
	m.reported[key] = r
}

func c2Key(f *c2.Finding) string {
	if f.Kind == c2.KindRareUserAgent {
		return string(f.Kind) + "\x00" + f.UserAgent
	}
	dst := f.FQDN
	if dst == "" {
		dst = f.Dst.String()
	}
	return string(f.Kind) + "\x00" + f.Src.String() + "\x00" + dst
}

// c2Rule is how each kind of finding is reported.
var c2Rule = map[c2.Kind]struct {
	title      string
	techniques []string
}{
	c2.KindBeacon:         {"Beaconing", []string{"T1071.001", "T1029"}},
	c2.KindStrobe:         {"Connection strobe", []string{"T1071"}},
	c2.KindLongConnection: {"Long connection", []string{"T1071"}},
	c2.KindRareUserAgent:  {"Rare HTTP user agent", []string{"T1071.001"}},
}

func (m *C2) finding(f *c2.Finding, at int64) Finding {
	rule := c2Rule[f.Kind]
	var ents []detect.Entity
	addIP := func(a netip.Addr) {
		if a.IsValid() {
			ents = appendEntity(ents, detect.Entity{Kind: detect.EntityIP, Value: a.String()})
		}
	}
	addIP(f.Src)
	addIP(f.Dst)
	if f.FQDN != "" {
		ents = appendEntity(ents, detect.Entity{Kind: detect.EntityDomain, Value: f.FQDN})
	}
	for _, h := range f.UAHosts {
		addIP(h)
	}
	target := f.FQDN
	if target == "" {
		target = f.Dst.String()
	}
	if f.DstPort != 0 && f.FQDN == "" {
		target = netip.AddrPortFrom(f.Dst, f.DstPort).String()
	}
	title := fmt.Sprintf("%s from %s to %s", rule.title, f.Src, target)
	sev := detect.SeverityMedium
	if f.Score >= 1 {
		sev = detect.SeverityHigh
	}
	var expected, observed string
	var features []detect.Feature
	switch f.Kind {
	case c2.KindBeacon:
		expected = "irregular connection times and sizes, as people and most software make (RITA beacon score below " +
			strconv.FormatFloat(m.cfg.MinScore, 'f', 2, 64) + ")"
		observed = fmt.Sprintf("%d connections in the day, every %s (median) ± %s (MAD), interval skew %.2f; %.0f bytes out each (MAD %.0f); %s",
			f.Conns, f.MedianInterval, f.IntervalMAD, f.IntervalSkew, f.MedianBytes, f.BytesMAD, prevalence(f))
		features = []detect.Feature{
			{Name: "timestamp_score", Observed: score3(f.TimestampScore), Expected: "interval regularity (Bowley skew and MAD)", Weight: 0.25},
			{Name: "data_size_score", Observed: score3(f.DataSizeScore), Expected: "size regularity of bytes sent", Weight: 0.25},
			{Name: "histogram_score", Observed: score3(f.HistogramScore), Expected: "evenness of connections per hour", Weight: 0.25},
			{Name: "duration_score", Observed: score3(f.DurationScore), Expected: "hours of the day covered", Weight: 0.25},
		}
	case c2.KindStrobe:
		expected = fmt.Sprintf("fewer than %d connections a day to one destination", m.cfg.Tracker.StrobeConns)
		observed = fmt.Sprintf("%d connections in the day; %s", f.Conns, prevalence(f))
	case c2.KindLongConnection:
		expected = fmt.Sprintf("connections shorter than %s in total a day", m.cfg.Tracker.LongConnMin)
		observed = fmt.Sprintf("connected for %s in the day (%s still open) over %d connections; %s", f.TotalDuration, f.OpenDuration, f.Conns, prevalence(f))
	case c2.KindRareUserAgent:
		title = fmt.Sprintf("%s %q", rule.title, f.UserAgent)
		ents = appendEntity(ents, detect.Entity{Kind: "user_agent", Value: f.UserAgent})
		expected = fmt.Sprintf("user agents shared by more than %d HTTP clients", m.cfg.Tracker.RareUAMaxHosts)
		observed = fmt.Sprintf("used by %d clients, %d requests, %d with a blank Host header", len(f.UAHosts), f.Requests, f.BlankHostRequests)
	}
	if f.PrevalenceModifier != 0 {
		features = append(features, detect.Feature{Name: "prevalence_modifier", Observed: fmt.Sprintf("%+.2f (%s)", f.PrevalenceModifier, prevalence(f)), Weight: math.Abs(f.PrevalenceModifier)})
	}
	if f.MissingHostModifier != 0 {
		features = append(features, detect.Feature{Name: "missing_host_modifier", Observed: fmt.Sprintf("%+.2f (%d of %d HTTP requests without Host)", f.MissingHostModifier, f.BlankHostRequests, f.Requests), Weight: math.Abs(f.MissingHostModifier)})
	}
	ev := make([]detect.EvidenceRef, 0, len(f.Evidence))
	for _, id := range f.Evidence {
		ev = append(ev, evidenceOf(id))
	}
	// "this is normal": the source's traffic to this destination; a rare user
	// agent, for every source
	normal := NormalKey{Attribute: f.FQDN}
	if f.Kind == c2.KindRareUserAgent {
		normal.Attribute = f.UserAgent
	} else {
		if f.Src.IsValid() {
			normal.Entity = f.Src.String()
		}
		if normal.Attribute == "" {
			normal.Attribute = addrText(f.Dst)
		}
	}
	return Finding{
		Normal: normal,
		Time:   at, RuleID: "c2." + string(f.Kind), Title: title, Severity: sev, Confidence: f.Confidence,
		Tactics: []string{"command-and-control"}, Techniques: rule.techniques, Entities: ents,
		Explain: detect.Explanation{
			Summary: f.Summary, Expected: expected, Observed: observed, Score: f.Score, Features: features,
		},
		Evidence: ev,
	}
}

func score3(x float64) string { return strconv.FormatFloat(x, 'f', 3, 64) }

func prevalence(f *c2.Finding) string {
	if f.PopulationHosts == 0 {
		return "prevalence unknown (no internal hosts counted)"
	}
	return fmt.Sprintf("%d of %d internal hosts talk to it (%.1f%%)", f.PrevalenceHosts, f.PopulationHosts, 100*f.Prevalence)
}

// Stats implements Model.
func (m *C2) Stats() ModelStats {
	pairs := m.tr.Pairs()
	return ModelStats{
		Entities: pairs,
		Bytes:    int64(pairs)*3000 + int64(len(m.hosts))*121 + int64(len(m.reported))*100,
		Trained:  m.next != 0,
	}
}

// c2Snapshot is the adapter's state (gob) followed by the tracker's snapshot.
type c2Snapshot struct {
	Version  int
	Next     int64
	Last     int64
	LastEval int64
	Hosts    []c2HostRec // sorted by pair
	Reported []c2ReportRec
	Tracker  []byte
	Normal   []NormalEntry
}

type c2HostRec struct {
	Src, Dst netip.Addr
	Name     string
	Last     int64
}

type c2ReportRec struct {
	Key   string
	Score float64
	Time  int64
}

const c2SnapshotVersion = 1

// Snapshot implements Model.
func (m *C2) Snapshot(w io.Writer) error {
	snap := c2Snapshot{Version: c2SnapshotVersion, Next: m.next, Last: m.last, LastEval: m.lastEval}
	for k, h := range m.hosts {
		snap.Hosts = append(snap.Hosts, c2HostRec{Src: k[0], Dst: k[1], Name: str(h.name), Last: h.last})
	}
	slices.SortFunc(snap.Hosts, func(a, b c2HostRec) int {
		if c := a.Src.Compare(b.Src); c != 0 {
			return c
		}
		return a.Dst.Compare(b.Dst)
	})
	for k, r := range m.reported {
		snap.Reported = append(snap.Reported, c2ReportRec{Key: k, Score: r.Score, Time: r.Time})
	}
	slices.SortFunc(snap.Reported, func(a, b c2ReportRec) int { return strings.Compare(a.Key, b.Key) })
	var tb strings.Builder
	if err := m.tr.Snapshot(&tb); err != nil {
		return fmt.Errorf("snapshotting c2 tracker: %w", err)
	}
	snap.Tracker = []byte(tb.String())
	snap.Normal = m.normal.entries()
	if err := gob.NewEncoder(w).Encode(&snap); err != nil {
		return fmt.Errorf("encoding c2 state: %w", err)
	}
	return nil
}

// Restore implements Model. On error the model is unchanged.
func (m *C2) Restore(r io.Reader) error {
	var snap c2Snapshot
	if err := decodeGob(r, &snap); err != nil {
		return fmt.Errorf("restoring c2 model: %w", err)
	}
	if snap.Version != c2SnapshotVersion {
		return fmt.Errorf("restoring c2 model: version %d, want %d", snap.Version, c2SnapshotVersion)
	}
	if len(snap.Hosts) > m.cfg.MaxHosts || len(snap.Reported) > m.cfg.MaxReported {
		return fmt.Errorf("restoring c2 model: %d server names and %d reports exceed the caps %d and %d",
			len(snap.Hosts), len(snap.Reported), m.cfg.MaxHosts, m.cfg.MaxReported)
	}
	const far = int64(1) << 62 // about year 2116 in Unix nanoseconds
	day := int64(24 * time.Hour)
	if snap.Next < 0 || snap.Next > far || snap.Next%day != 0 || snap.Last < -far || snap.Last > far ||
		snap.LastEval < -far || snap.LastEval > far {
		return fmt.Errorf("restoring c2 model: times out of range (next %d, last %d, last evaluation %d)", snap.Next, snap.Last, snap.LastEval)
	}
	hosts := make(map[[2]netip.Addr]*c2Host, len(snap.Hosts))
	for _, h := range snap.Hosts {
		if !h.Src.IsValid() || !h.Dst.IsValid() || h.Name == "" {
			return errors.New("restoring c2 model: server name without addresses or name")
		}
		hosts[[2]netip.Addr{h.Src, h.Dst}] = &c2Host{name: intern(h.Name), last: h.Last}
	}
	reported := make(map[string]c2Report, len(snap.Reported))
	for _, x := range snap.Reported {
		if math.IsNaN(x.Score) {
			return fmt.Errorf("restoring c2 model: report %q with a NaN score", x.Key)
		}
		reported[x.Key] = c2Report{Score: x.Score, Time: x.Time}
	}
	tr, err := c2.New(m.cfg.Tracker)
	if err != nil {
		return fmt.Errorf("restoring c2 model: %w", err)
	}
	if err := tr.Restore(strings.NewReader(string(snap.Tracker))); err != nil {
		return fmt.Errorf("restoring c2 model: %w", err)
	}
	var normal normalSet
	if !normal.load(snap.Normal) {
		return fmt.Errorf("restoring c2 model: %d normal verdicts, more than %d", len(snap.Normal), maxNormal)
	}
	m.tr, m.hosts, m.reported, m.normal = tr, hosts, reported, normal
	m.next, m.last, m.lastEval = snap.Next, snap.Last, snap.LastEval
	return nil
}

var (
	_ Model      = (*C2)(nil)
	_ Normalizer = (*C2)(nil)
)
