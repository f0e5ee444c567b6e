// Package travel owns the impossible-travel model: per user, where their recent
// successful sign-ins geolocated, and whether the next one is farther away than
// anyone could have travelled in the time between.
//
// Algorithm. Each successful sign-in is geolocated (Geo, implemented by
// geoip.Reader). The great-circle (haversine) distance to the user's previous
// sign-in location, minus both MaxMind accuracy radii and floored at 0, divided by
// the event time elapsed (at least Config.MinElapsed), is the speed the user would
// have needed; above Config.MaxSpeedKmh (default 900 km/h, an airliner) and with
// more than Config.MinDistanceKm left after the radii (default 300 km, so a change of
// ISP or a mobile network geolocated to the next city is not travel) it is a finding.
// Confidence falls as the radii eat into the distance and as the speed nears the
// limit. This is the rule behind Microsoft Entra ID Protection's "atypical travel"
// and Okta's "velocity" behavior detection; the radii are subtracted because MaxMind
// defines accuracy_radius as the distance (km) around the coordinates within which
// the address likely is, so the user may have been anywhere in either circle.
//
// Exclusions: failed sign-ins; configured corporate egress or VPN networks and ASNs
// (their location is the concentrator's, not the user's); addresses without a
// location (internal, unknown, country-only without coordinates); destinations
// MarkNormal accepted for the user. Sign-ins from addresses the anonymous-IP database
// calls a VPN, hosting provider, Tor exit or proxy are not travel: they give a lower
// severity KindAnonymizer finding and are not remembered as a location. Repeated
// findings for the same pair of places (or the same anonymising address) within
// Config.DedupWindow are suppressed.
//
// Memory: per tracked user the last Config.Locations distinct places (default 4),
// each 160 bytes plus copies of its event id and source (city, country and AS names
// are the geo reader's strings, shared), and about 150 bytes of user record, name and
// map entry: 1,070 bytes per user at the default K with 36-byte event ids and
// 26-byte user names, measured by TestMemoryPerUser. Config.MaxUsers (default
// 100000, so about 110 MB at most) caps the users; past it the eighth coldest by
// event time are evicted.
//
// EngineModel runs the model in the behavioral engine (behavior.Model, id
// behavior.impossible_travel). Throughput on 2 shared cores: 3.5 M sign-ins/s with
// the geo reader's cache, 0.66 M/s without it (BenchmarkObserveMMDB).
//
// What it does not do: geolocate (geoip does), learn a user's usual countries
// (the first-seen model does), follow sessions or tokens, or judge failed sign-ins.
package travel

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/enrich/geoip"
)

// ID is the detector's stable identifier; Version is stamped on every finding.
const (
	ID      = "behavior/travel"
	Version = "1"
)

// Geo geolocates an address; geoip.Reader implements it.
type Geo interface {
	Lookup(a netip.Addr) (geoip.Location, bool)
}

// Login is one sign-in.
type Login struct {
	Time    time.Time
	User    string
	IP      netip.Addr
	Success bool
	Source  string // where the record came from, e.g. "okta" or "entra"
	EventID string
}

// Config tunes the model. The zero value of a field means its default.
type Config struct {
	// MaxSpeedKmh is the fastest believable travel (default 900).
	MaxSpeedKmh float64
	// MinDistanceKm is the distance, after the accuracy radii, at or below which two
	// places are never travel (default 300).
	MinDistanceKm float64
	// MinElapsed is the least time a speed is computed over, for sign-ins logged
	// within the same second or minute (default 1 minute).
	MinElapsed time.Duration
	// Locations is how many distinct places are kept per user (default 4, at most 64).
	Locations int
	// MaxUsers caps the tracked users (default 100000).
	MaxUsers int
	// DedupWindow suppresses repeated findings for the same places (default 12 h).
	DedupWindow time.Duration
	// ExcludeNets are corporate egress and VPN concentrator networks.
	ExcludeNets []netip.Prefix
	// ExcludeASNs are autonomous systems of corporate egress or VPN providers.
	ExcludeASNs []uint32
	// IgnoreAnonymizers drops sign-ins through anonymising networks silently instead
	// of reporting them.
	IgnoreAnonymizers bool
}

// Defaults.
const (
	DefaultMaxSpeedKmh   = 900
	DefaultMinDistanceKm = 300
	DefaultMinElapsed    = time.Minute
	DefaultLocations     = 4
	DefaultMaxUsers      = 100_000
	DefaultDedupWindow   = 12 * time.Hour
	maxLocations         = 64
	maxNormalPerUser     = 32
	maxNormalUsers       = 100_000
)

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.MaxSpeedKmh == 0 {
		c.MaxSpeedKmh = DefaultMaxSpeedKmh
	}
	if c.MinDistanceKm == 0 {
		c.MinDistanceKm = DefaultMinDistanceKm
	}
	if c.MinElapsed == 0 {
		c.MinElapsed = DefaultMinElapsed
	}
	if c.Locations == 0 {
		c.Locations = DefaultLocations
	}
	if c.MaxUsers == 0 {
		c.MaxUsers = DefaultMaxUsers
	}
	if c.DedupWindow == 0 {
		c.DedupWindow = DefaultDedupWindow
	}
	return c
}

// Validate checks the configuration (after defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.MaxSpeedKmh < 0 || math.IsNaN(c.MaxSpeedKmh) || math.IsInf(c.MaxSpeedKmh, 0) {
		errs = append(errs, fmt.Errorf("max_speed_kmh %v: must be a positive number", c.MaxSpeedKmh))
	}
	if c.MinDistanceKm < 0 || math.IsNaN(c.MinDistanceKm) || math.IsInf(c.MinDistanceKm, 0) {
		errs = append(errs, fmt.Errorf("min_distance_km %v: must be a positive number", c.MinDistanceKm))
	}
	if c.MinElapsed < 0 {
		errs = append(errs, fmt.Errorf("min_elapsed %v: must be positive", c.MinElapsed))
	}
	if c.Locations < 1 || c.Locations > maxLocations {
		errs = append(errs, fmt.Errorf("locations %d: must be 1 to %d", c.Locations, maxLocations))
	}
	if c.MaxUsers < 8 {
		errs = append(errs, fmt.Errorf("max_users %d: must be at least 8", c.MaxUsers))
	}
	if c.DedupWindow < 0 {
		errs = append(errs, fmt.Errorf("dedup_window %v: must be positive", c.DedupWindow))
	}
	for _, p := range c.ExcludeNets {
		if !p.IsValid() {
			errs = append(errs, errors.New("exclude_nets: invalid prefix"))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("validating travel config: %w", errors.Join(errs...))
	}
	return nil
}

// Kind is what a finding says.
type Kind string

// Finding kinds.
const (
	KindImpossibleTravel Kind = "impossible_travel"
	KindAnonymizer       Kind = "anonymizer"
)

// Endpoint is one sign-in of a finding, with where it geolocated.
type Endpoint struct {
	Time             time.Time
	IP               netip.Addr
	City             string
	Country          string
	CountryName      string
	ASN              uint32
	ASOrg            string
	Latitude         float64
	Longitude        float64
	AccuracyRadiusKm int
	EventID          string
	Source           string
}

// Finding is one impossible travel, or one sign-in through an anonymising network
// (then From is zero and the travel figures are 0).
type Finding struct {
	Detector   string // ID
	Version    string // Version
	Kind       Kind
	User       string
	Severity   detect.Severity
	Confidence float64 // 0..1
	From, To   Endpoint
	// DistanceKm is the great-circle distance minus both accuracy radii (floored at
	// 0); RawDistanceKm is without the radii.
	DistanceKm    float64
	RawDistanceKm float64
	Elapsed       time.Duration
	SpeedKmh      float64
	// Anonymity lists the anonymous-IP flags of To, for KindAnonymizer.
	Anonymity []string
	Evidence  []string // event ids, earlier first
	Summary   string
}

// place is one remembered sign-in location.
type place struct {
	t           int64  // unix nanoseconds of the last sign-in there
	key         uint64 // placeKey
	lat, lon    float64
	radius      int32
	asn         uint32
	ip          netip.Addr
	country     string
	countryName string
	city        string
	asOrg       string
	eventID     string
	source      string
}

// user is one tracked user: places most recent first.
type user struct {
	last     int64 // latest event time seen, unix ns
	places   []place
	flagPair uint64 // places of the last travel finding
	flagAt   int64
	anonIP   netip.Addr // address of the last anonymizer finding
	anonAt   int64
}

// Model is the impossible-travel model. It is safe for concurrent use.
type Model struct {
	cfg    Config
	geo    Geo
	exASN  map[uint32]bool
	mu     sync.Mutex
	users  map[string]*user
	normal map[string][]string // user ("" = everyone) -> accepted countries and ASNs
}

// New returns a model; geo may be shared with other models.
func New(cfg Config, geo Geo) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if geo == nil {
		return nil, errors.New("creating travel model: no geo lookup")
	}
	cfg = cfg.withDefaults()
	m := &Model{cfg: cfg, geo: geo, exASN: map[uint32]bool{}, users: map[string]*user{}, normal: map[string][]string{}}
	for _, a := range cfg.ExcludeASNs {
		m.exASN[a] = true
	}
	return m, nil
}

// Users returns how many users are tracked.
func (m *Model) Users() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.users)
}

// MarkNormal records analyst feedback: sign-ins of user ("" for every user) that
// geolocate to countryOrASN (an ISO country code like "NL", or an AS number like
// "AS9009" or "9009") are not findings, e.g. a user who always goes through a VPN
// exit abroad. The location is still remembered.
func (m *Model) MarkNormal(user, countryOrASN string) error {
	v, err := normalKey(countryOrASN)
	if err != nil {
		return fmt.Errorf("marking %q normal for %q: %w", countryOrASN, user, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	list := m.normal[user]
	if slices.Contains(list, v) {
		return nil
	}
	if list == nil && len(m.normal) >= maxNormalUsers {
		return fmt.Errorf("marking %q normal for %q: feedback for %d users already", countryOrASN, user, maxNormalUsers)
	}
	if len(list) >= maxNormalPerUser {
		return fmt.Errorf("marking %q normal for %q: %d entries already", countryOrASN, user, maxNormalPerUser)
	}
	list = append(list, v)
	slices.Sort(list)
	m.normal[user] = list
	return nil
}

// normalKey canonicalises a country code ("GB") or AS number ("AS1221", "1221").
func normalKey(s string) (string, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	digits := strings.TrimPrefix(s, "AS")
	if n, err := strconv.ParseUint(digits, 10, 32); err == nil && digits != "" {
		return "AS" + strconv.FormatUint(n, 10), nil
	}
	if len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' {
		return s, nil
	}
	return "", errors.New("not an ISO country code or AS number")
}

// isNormal reports whether feedback accepts country or asn for u.
func (m *Model) isNormal(u, country string, asn uint32) bool {
	as := "AS" + strconv.FormatUint(uint64(asn), 10)
	for _, k := range []string{u, ""} {
		for _, v := range m.normal[k] {
			if v == country || (asn != 0 && v == as) {
				return true
			}
		}
	}
	return false
}

// excluded reports whether a is corporate egress or VPN by configuration.
func (m *Model) excludedNet(a netip.Addr) bool {
	for _, p := range m.cfg.ExcludeNets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Observe feeds one sign-in; it returns a finding when there is one.
func (m *Model) Observe(l Login) (Finding, bool) {
	if !l.Success || l.User == "" || len(l.User) > maxString || !l.IP.IsValid() || l.Time.IsZero() {
		return Finding{}, false
	}
	// Clones: decoders hand out strings of their arenas, which must not be kept
	// alive by the model.
	l.EventID, l.Source = strings.Clone(clip(l.EventID)), strings.Clone(clip(l.Source))
	ip := l.IP.Unmap().WithZone("")
	if m.excludedNet(ip) {
		return Finding{}, false
	}
	loc, ok := m.geo.Lookup(ip)
	if !ok || loc.Internal || m.exASN[loc.ASN] && loc.ASN != 0 {
		return Finding{}, false
	}
	anon := loc.Anonymising()
	if !anon && !loc.HasCoords {
		return Finding{}, false
	}
	now := l.Time.UnixNano()
	p := place{t: now, lat: loc.Latitude, lon: loc.Longitude, radius: int32(min(loc.AccuracyRadiusKm, 20040)), asn: loc.ASN, ip: ip,
		country: clip(loc.Country), countryName: clip(loc.CountryName), city: clip(loc.City), asOrg: clip(loc.ASOrg), eventID: l.EventID, source: l.Source}
	p.key = placeKey(&p)

	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.users[l.User]
	if u == nil {
		u = &user{last: now}
		m.users[strings.Clone(l.User)] = u
		m.evict()
	}
	u.last = max(u.last, now)
	if anon {
		if m.cfg.IgnoreAnonymizers || m.isNormal(l.User, loc.Country, loc.ASN) ||
			u.anonIP == ip && abs(now-u.anonAt) <= int64(m.cfg.DedupWindow) {
			return Finding{}, false
		}
		u.anonIP, u.anonAt = ip, now
		return m.anonFinding(l, &loc, &p), true
	}
	var prev place
	hadPrev := len(u.places) > 0
	if hadPrev {
		prev = u.places[0]
	}
	u.remember(p, m.cfg.Locations)
	if !hadPrev || prev.key == p.key {
		return Finding{}, false
	}
	if prev.country != "" && prev.country == p.country && (prev.city == "" || p.city == "") {
		// A country-level location (a mobile carrier's centroid) inside the same
		// country says nothing about where in it the user is.
		return Finding{}, false
	}
	f, ok := m.travel(l.User, prev, p)
	if !ok || m.isNormal(l.User, p.country, p.asn) {
		return Finding{}, false
	}
	pair := pairHash(prev.key, p.key)
	if u.flagPair == pair && abs(now-u.flagAt) <= int64(m.cfg.DedupWindow) {
		return Finding{}, false
	}
	u.flagPair, u.flagAt = pair, now
	return f, true
}

// remember puts p first among u's places, replacing the entry of the same place.
func (u *user) remember(p place, k int) {
	if i := slices.IndexFunc(u.places, func(q place) bool { return q.key == p.key }); i >= 0 {
		u.places = slices.Delete(u.places, i, i+1)
	}
	if len(u.places) >= k {
		u.places = u.places[:k-1]
	}
	u.places = slices.Insert(u.places, 0, p)
}

// placeKey identifies a place: a hash of country, city and coordinates (the ASN
// and address do not make a different place).
func placeKey(p *place) uint64 {
	h := fnv.New64a()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], math.Float64bits(p.lat))
	binary.LittleEndian.PutUint64(b[8:], math.Float64bits(p.lon))
	_, _ = h.Write(b[:])
	_, _ = h.Write([]byte(p.country))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(p.city))
	return h.Sum64()
}

// pairHash is an order-independent hash of two place keys.
func pairHash(a, b uint64) uint64 {
	if a > b {
		a, b = b, a
	}
	h := fnv.New64a()
	var buf [16]byte
	binary.LittleEndian.PutUint64(buf[:8], a)
	binary.LittleEndian.PutUint64(buf[8:], b)
	_, _ = h.Write(buf[:])
	return h.Sum64()
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// earthRadiusKm is the mean Earth radius (IUGG).
const earthRadiusKm = 6371.0088

// Haversine returns the great-circle distance in km between two points in degrees.
func Haversine(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(min(1, h)))
}

// travel computes the move from a to b (in either time order) and returns a
// finding when it is impossible.
func (m *Model) travel(name string, a, b place) (Finding, bool) {
	if b.t < a.t {
		a, b = b, a
	}
	raw := Haversine(a.lat, a.lon, b.lat, b.lon)
	radii := float64(a.radius + b.radius)
	dist := max(0, raw-radii)
	if dist <= m.cfg.MinDistanceKm {
		return Finding{}, false
	}
	elapsed := time.Duration(b.t - a.t)
	hours := max(elapsed, m.cfg.MinElapsed).Hours()
	speed := dist / hours
	if speed <= m.cfg.MaxSpeedKmh {
		return Finding{}, false
	}
	// The radii's share of the distance and the margin over the limit lower the
	// confidence; both are 1 for a precise location moving twice the limit.
	radiusFactor := dist / raw
	speedFactor := 0.5 + 0.5*min(1, speed/m.cfg.MaxSpeedKmh-1)
	conf := math.Round(radiusFactor*speedFactor*100) / 100
	sev := detect.SeverityMedium
	if conf >= 0.6 {
		sev = detect.SeverityHigh
	}
	f := Finding{Detector: ID, Version: Version, Kind: KindImpossibleTravel, User: name, Severity: sev, Confidence: conf,
		From: a.endpoint(), To: b.endpoint(), DistanceKm: dist, RawDistanceKm: raw, Elapsed: elapsed, SpeedKmh: speed,
		Evidence: evidence(a.eventID, b.eventID)}
	f.Summary = fmt.Sprintf("%s signed in from %s at %s and from %s at %s: %s km in %s (%s km/h)",
		name, a.name(), clock(a.t, b.t), b.name(), clock(b.t, b.t), thousands(roundTo(dist, 10)), duration(elapsed), thousands(roundTo(speed, 100)))
	return f, true
}

// anonFinding reports a sign-in through an anonymising network.
func (m *Model) anonFinding(l Login, loc *geoip.Location, p *place) Finding {
	var flags []string
	for _, f := range []struct {
		on   bool
		name string
	}{{loc.VPN, "VPN"}, {loc.Hosting, "hosting provider"}, {loc.Tor, "Tor exit node"}, {loc.PublicProxy, "public proxy"}, {loc.ResidentialProxy, "residential proxy"}} {
		if f.on {
			flags = append(flags, f.name)
		}
	}
	if len(flags) == 0 {
		flags = []string{"anonymous"}
	}
	where := p.ip.String()
	if p.asn != 0 {
		where += fmt.Sprintf(" (AS%d %s)", p.asn, p.asOrg)
	}
	if n := p.name(); n != "" {
		where += " in " + n
	}
	f := Finding{Detector: ID, Version: Version, Kind: KindAnonymizer, User: l.User, Severity: detect.SeverityLow, Confidence: 0.5,
		To: p.endpoint(), Anonymity: flags, Evidence: evidence(l.EventID)}
	f.Summary = fmt.Sprintf("%s signed in through an anonymising network (%s) from %s at %s",
		l.User, strings.Join(flags, ", "), strings.TrimSpace(where), clock(p.t, p.t))
	return f
}

// clip bounds a string from the input to what a snapshot holds.
func clip(s string) string {
	if len(s) <= maxString {
		return s
	}
	return strings.ToValidUTF8(s[:maxString], "")
}

func evidence(ids ...string) []string {
	var out []string
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	return out
}

func (p *place) endpoint() Endpoint {
	return Endpoint{Time: time.Unix(0, p.t).UTC(), IP: p.ip, City: p.city, Country: p.country, CountryName: p.countryName,
		ASN: p.asn, ASOrg: p.asOrg, Latitude: p.lat, Longitude: p.lon, AccuracyRadiusKm: int(p.radius), EventID: p.eventID, Source: p.source}
}

// name is "City, CC", or "Country name, CC" without a city.
func (p *place) name() string {
	switch {
	case p.city != "" && p.country != "":
		return p.city + ", " + p.country
	case p.countryName != "" && p.country != "":
		return p.countryName + ", " + p.country
	case p.country != "":
		return p.country
	}
	return fmt.Sprintf("%.2f, %.2f", p.lat, p.lon)
}

// clock renders t (UTC) as "09:02" when it is on ref's day and ref != t, else as
// "09:02 UTC on 23 Nov 2026" (the second time of a sentence carries the date).
func clock(t, ref int64) string {
	tt, rt := time.Unix(0, t).UTC(), time.Unix(0, ref).UTC()
	if t != ref && tt.YearDay() == rt.YearDay() && tt.Year() == rt.Year() {
		return tt.Format("15:04")
	}
	return tt.Format("15:04 UTC on 2 Jan 2006")
}

// duration renders d as "38 min", "3 h 05 min" or "2 days 4 h".
func duration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %02d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d days %d h", int(d.Hours())/24, int(d.Hours())%24)
}

func roundTo(v, step float64) float64 {
	if v < 10*step {
		step /= 10
	}
	return math.Round(v/step) * step
}

// thousands renders v as an integer with comma separators.
func thousands(v float64) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return "∞"
	}
	s := strconv.FormatInt(int64(v), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// evict drops the coldest eighth of the users by last event time (name order on
// ties) once the cap is passed. Called with mu held.
func (m *Model) evict() {
	if len(m.users) <= m.cfg.MaxUsers {
		return
	}
	type ent struct {
		name string
		last int64
	}
	all := make([]ent, 0, len(m.users))
	for n, u := range m.users {
		all = append(all, ent{n, u.last})
	}
	slices.SortFunc(all, func(a, b ent) int {
		return cmp.Or(cmp.Compare(a.last, b.last), strings.Compare(a.name, b.name))
	})
	n := max(1, m.cfg.MaxUsers/8)
	for _, e := range all[:min(n, len(all))] {
		delete(m.users, e.name)
	}
}

var _ Geo = (*geoip.Reader)(nil)
