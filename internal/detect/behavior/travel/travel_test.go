package travel

import (
	"bytes"
	"fmt"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/enrich/geoip"
)

// fakeGeo answers from a table.
type fakeGeo map[netip.Addr]geoip.Location

func (g fakeGeo) Lookup(a netip.Addr) (geoip.Location, bool) {
	if geoip.IsInternal(a) {
		return geoip.Location{Internal: true}, true
	}
	l, ok := g[a]
	return l, ok
}

var (
	london  = netip.MustParseAddr("81.2.69.142")
	milton  = netip.MustParseAddr("216.160.83.56")
	reading = netip.MustParseAddr("2.125.160.216")
	paris   = netip.MustParseAddr("2.2.2.2")
	kansas  = netip.MustParseAddr("149.101.100.1")
	vpn     = netip.MustParseAddr("1.2.0.1")
	noCoord = netip.MustParseAddr("3.3.3.3")
	lan     = netip.MustParseAddr("10.0.0.7")
)

var table = fakeGeo{
	london:  {Country: "GB", CountryName: "United Kingdom", City: "London", Latitude: 51.5142, Longitude: -0.0931, HasCoords: true, AccuracyRadiusKm: 10},
	milton:  {Country: "US", CountryName: "United States", City: "Milton", Latitude: 47.2513, Longitude: -122.3149, HasCoords: true, AccuracyRadiusKm: 22, ASN: 209},
	reading: {Country: "GB", CountryName: "United Kingdom", City: "Reading", Latitude: 51.4542, Longitude: -0.9731, HasCoords: true, AccuracyRadiusKm: 5, ASN: 5089, ASOrg: "Virgin Media"},
	paris:   {Country: "FR", CountryName: "France", City: "Paris", Latitude: 48.8566, Longitude: 2.3522, HasCoords: true, AccuracyRadiusKm: 5, ASN: 3215, ASOrg: "Orange"},
	kansas:  {Country: "US", CountryName: "United States", Latitude: 37.751, Longitude: -97.822, HasCoords: true, AccuracyRadiusKm: 1000, ASN: 6167, ASOrg: "CELLCO-PART"},
	vpn:     {Country: "AU", CountryName: "Australia", Latitude: -33.494, Longitude: 143.2104, HasCoords: true, AccuracyRadiusKm: 1000, Anonymous: true, VPN: true},
	noCoord: {Country: "DE", CountryName: "Germany"},
}

var t0 = time.Date(2026, 11, 23, 9, 2, 0, 0, time.UTC)

type step struct {
	ip  netip.Addr
	min float64 // minutes after t0
	ok  bool
}

func login(user string, s step, i int) Login {
	return Login{Time: t0.Add(time.Duration(s.min * float64(time.Minute))), User: user, IP: s.ip, Success: s.ok, Source: "okta", EventID: fmt.Sprintf("ev%d", i)}
}

func run(t *testing.T, m *Model, user string, steps []step) []Finding {
	t.Helper()
	var out []Finding
	for i, s := range steps {
		if f, ok := m.Observe(login(user, s, i)); ok {
			out = append(out, f)
		}
	}
	return out
}

func kinds(fs []Finding) []Kind {
	var out []Kind
	for _, f := range fs {
		out = append(out, f.Kind)
	}
	return out
}

func TestObserve(t *testing.T) {
	T, A := KindImpossibleTravel, KindAnonymizer
	for _, c := range []struct {
		name   string
		cfg    Config
		normal [][2]string
		steps  []step
		want   []Kind
	}{
		{name: "London then Milton 38 min later", steps: []step{{london, 0, true}, {milton, 38, true}}, want: []Kind{T}},
		{name: "London then Milton 12 h later", steps: []step{{london, 0, true}, {milton, 720, true}}},
		{name: "ISP change 60 km away", steps: []step{{london, 0, true}, {reading, 5, true}}},
		{name: "Paris 30 min after London is a train", steps: []step{{london, 0, true}, {paris, 30, true}}},
		{name: "Paris 10 min after London is not", steps: []step{{london, 0, true}, {paris, 10, true}}, want: []Kind{T}},
		{name: "failed sign-in", steps: []step{{london, 0, true}, {milton, 38, false}}},
		{name: "VPN is not travel", steps: []step{{london, 0, true}, {vpn, 10, true}, {milton, 38, true}}, want: []Kind{A, T}},
		{name: "VPN reported once per window", steps: []step{{vpn, 0, true}, {vpn, 60, true}, {vpn, 800, true}}, want: []Kind{A, A}},
		{name: "VPN ignored", cfg: Config{IgnoreAnonymizers: true}, steps: []step{{london, 0, true}, {vpn, 10, true}}},
		{name: "internal and unlocated addresses", steps: []step{{london, 0, true}, {lan, 10, true}, {noCoord, 20, true}, {netip.MustParseAddr("9.9.9.9"), 30, true}}},
		{name: "corporate egress network", cfg: Config{ExcludeNets: []netip.Prefix{netip.MustParsePrefix("216.160.83.0/24")}}, steps: []step{{london, 0, true}, {milton, 38, true}}},
		{name: "corporate egress ASN", cfg: Config{ExcludeASNs: []uint32{209}}, steps: []step{{london, 0, true}, {milton, 38, true}}},
		{name: "marked normal country", normal: [][2]string{{"alice", "us"}}, steps: []step{{london, 0, true}, {milton, 38, true}}},
		{name: "marked normal ASN for everyone", normal: [][2]string{{"", "AS209"}}, steps: []step{{london, 0, true}, {milton, 38, true}}},
		{name: "marked normal for someone else", normal: [][2]string{{"bob", "US"}}, steps: []step{{london, 0, true}, {milton, 38, true}}, want: []Kind{T}},
		{name: "back and forth reported once", steps: []step{{london, 0, true}, {milton, 38, true}, {london, 50, true}, {milton, 60, true}}, want: []Kind{T}},
		{name: "back and forth again after the window", steps: []step{{london, 0, true}, {milton, 38, true}, {london, 1000, true}, {milton, 1010, true}}, want: []Kind{T, T}},
		{name: "large radius still far", steps: []step{{london, 0, true}, {kansas, 30, true}}, want: []Kind{T}},
		{name: "same second", steps: []step{{london, 0, true}, {milton, 0, true}}, want: []Kind{T}},
		{name: "out of order", steps: []step{{milton, 38, true}, {london, 0, true}}, want: []Kind{T}},
		{name: "slower limit", cfg: Config{MaxSpeedKmh: 20000}, steps: []step{{london, 0, true}, {milton, 38, true}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := New(c.cfg, table)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range c.normal {
				if err := m.MarkNormal(n[0], n[1]); err != nil {
					t.Fatal(err)
				}
			}
			got := run(t, m, "alice", c.steps)
			if !reflect.DeepEqual(kinds(got), c.want) {
				t.Fatalf("findings %v, want %v: %+v", kinds(got), c.want, got)
			}
			for _, f := range got {
				if f.Detector != ID || f.Version != Version || f.User != "alice" || f.Summary == "" || len(f.Evidence) == 0 {
					t.Errorf("incomplete finding %+v", f)
				}
				if f.Kind == T && (!f.From.Time.Before(f.To.Time) && !f.From.Time.Equal(f.To.Time) || len(f.Evidence) != 2 || f.SpeedKmh <= 900 || f.DistanceKm <= 300) {
					t.Errorf("travel finding %+v", f)
				}
			}
		})
	}
}

// TestFindingDetails: the figures and the sentence of the brief's example.
func TestFindingDetails(t *testing.T) {
	m, err := New(Config{}, table)
	if err != nil {
		t.Fatal(err)
	}
	fs := run(t, m, "alice", []step{{london, 0, true}, {milton, 38, true}, {kansas, 60 * 24 * 3, true}, {london, 60*24*3 + 30, true}})
	if len(fs) != 2 {
		t.Fatalf("%d findings: %+v", len(fs), fs)
	}
	f := fs[0]
	// London-Milton great circle: 7,732 km (London-Seattle is 7,708 km, Milton is
	// 40 km south-south-west of Seattle).
	if f.RawDistanceKm < 7725 || f.RawDistanceKm > 7740 || f.DistanceKm != f.RawDistanceKm-32 {
		t.Errorf("distance %.1f km (raw %.1f)", f.DistanceKm, f.RawDistanceKm)
	}
	if f.Elapsed != 38*time.Minute || f.SpeedKmh < 12100 || f.SpeedKmh > 12200 { // 7,700 km in 38 min
		t.Errorf("elapsed %v, speed %.0f", f.Elapsed, f.SpeedKmh)
	}
	if f.From.City != "London" || f.To.City != "Milton" || f.To.ASN != 209 || f.From.AccuracyRadiusKm != 10 || f.To.AccuracyRadiusKm != 22 ||
		f.From.IP != london || f.To.IP != milton || f.From.Source != "okta" {
		t.Errorf("endpoints %+v -> %+v", f.From, f.To)
	}
	if !reflect.DeepEqual(f.Evidence, []string{"ev0", "ev1"}) {
		t.Errorf("evidence %v", f.Evidence)
	}
	want := "alice signed in from London, GB at 09:02 and from Milton, US at 09:40 UTC on 23 Nov 2026: 7,700 km in 38 min (12,200 km/h)"
	if f.Summary != want {
		t.Errorf("summary\n%s\nwant\n%s", f.Summary, want)
	}
	if f.Severity != detect.SeverityHigh || f.Confidence < 0.9 {
		t.Errorf("precise fast travel: %v, confidence %.2f", f.Severity, f.Confidence)
	}
	// Kansas (radius 1000 km) to London: the radii lower the confidence.
	g := fs[1]
	if g.From.IP != kansas || g.Confidence >= f.Confidence || g.DistanceKm != g.RawDistanceKm-1010 {
		t.Errorf("large radius: confidence %.2f vs %.2f, %+v", g.Confidence, f.Confidence, g)
	}
	if !strings.Contains(g.Summary, "from United States, US at 09:02 and from London, GB at 09:32 UTC on 26 Nov 2026") {
		t.Errorf("summary %q", g.Summary)
	}
}

func TestAnonymizerFinding(t *testing.T) {
	m, err := New(Config{}, table)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := m.Observe(Login{Time: t0, User: "bob", IP: vpn, Success: true, EventID: "e1"})
	if !ok || f.Kind != KindAnonymizer || f.Severity != detect.SeverityLow || !reflect.DeepEqual(f.Anonymity, []string{"VPN"}) ||
		f.To.IP != vpn || !f.From.Time.IsZero() || f.SpeedKmh != 0 {
		t.Fatalf("%+v", f)
	}
	if want := "bob signed in through an anonymising network (VPN) from 1.2.0.1 in Australia, AU at 09:02 UTC on 23 Nov 2026"; f.Summary != want {
		t.Errorf("summary %q, want %q", f.Summary, want)
	}
	// The VPN exit is not remembered as a place.
	if _, ok := m.Observe(Login{Time: t0.Add(time.Minute), User: "bob", IP: london, Success: true}); ok {
		t.Error("VPN exit remembered as a place")
	}
}

func TestMarkNormalErrors(t *testing.T) {
	m, err := New(Config{}, table)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "GBR", "ASX", "1x", "AS99999999999"} {
		if err := m.MarkNormal("alice", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for i := range maxNormalPerUser {
		if err := m.MarkNormal("alice", fmt.Sprint(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.MarkNormal("alice", "AS1"); err != nil {
		t.Errorf("repeat: %v", err)
	}
	if err := m.MarkNormal("alice", "GB"); err == nil {
		t.Error("no cap on feedback per user")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{MaxSpeedKmh: -1}, "max_speed_kmh"},
		{Config{Locations: 65}, "locations 65"},
		{Config{Locations: -1}, "locations -1"},
		{Config{MaxUsers: 3}, "max_users 3"},
		{Config{MinElapsed: -time.Second}, "min_elapsed"},
		{Config{ExcludeNets: []netip.Prefix{{}}}, "exclude_nets"},
	} {
		if _, err := New(c.cfg, table); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("nil geo accepted")
	}
}

// TestPlacesBounded: a user keeps at most Locations places, most recent first.
func TestPlacesBounded(t *testing.T) {
	m, err := New(Config{Locations: 2, MaxSpeedKmh: 1e9}, table)
	if err != nil {
		t.Fatal(err)
	}
	run(t, m, "alice", []step{{london, 0, true}, {milton, 60, true}, {paris, 120, true}, {kansas, 180, true}, {paris, 240, true}})
	u := m.users["alice"]
	if len(u.places) != 2 || u.places[0].ip != paris || u.places[1].ip != kansas {
		t.Errorf("places %+v", u.places)
	}
}

// TestEviction: past MaxUsers the coldest users by event time go, whatever the
// order they arrived in.
func TestEviction(t *testing.T) {
	m, err := New(Config{MaxUsers: 16}, table)
	if err != nil {
		t.Fatal(err)
	}
	// Users arrive hottest first: user i signs in at minute 1000-i.
	for i := range 40 {
		m.Observe(Login{Time: t0.Add(time.Duration(1000-i) * time.Minute), User: fmt.Sprintf("u%02d", i), IP: london, Success: true})
	}
	if n := m.Users(); n > 16 || n < 14 {
		t.Fatalf("%d users tracked, cap 16", n)
	}
	// The survivors are the hottest ones seen when each eviction ran.
	for i := range 10 {
		if m.users[fmt.Sprintf("u%02d", i)] == nil {
			t.Errorf("hot user u%02d evicted", i)
		}
	}
	if m.users["u38"] != nil && m.users["u30"] != nil {
		t.Error("cold users kept")
	}
}

// TestMemoryPerUser measures the heap per tracked user with full places.
func TestMemoryPerUser(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates ~15 MB")
	}
	const n = 10000
	m, err := New(Config{MaxUsers: 2 * n, MaxSpeedKmh: 1e9}, table)
	if err != nil {
		t.Fatal(err)
	}
	ips := []netip.Addr{london, milton, paris, kansas}
	logins := make([]Login, 0, n*len(ips))
	for i := range n {
		for j, ip := range ips {
			logins = append(logins, Login{Time: t0.Add(time.Duration(j) * time.Hour), User: fmt.Sprintf("user%05d@corp.example.com", i), IP: ip, Success: true,
				Source: "okta", EventID: fmt.Sprintf("%08x-aaaa-bbbb-cccc-%012x", i, j)})
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, l := range logins {
		m.Observe(l)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	t.Logf("%.0f bytes per user with %d places (36-byte event ids, 26-byte user names)", per, len(ips))
	if per > 1300 || per < 200 {
		t.Errorf("%.0f bytes per user, the package doc says 1,070", per)
	}
	runtime.KeepAlive(logins)
	if m.Users() != n || len(m.users["user00000@corp.example.com"].places) != len(ips) {
		t.Fatalf("%d users", m.Users())
	}
}

// TestSnapshotRestore: a restored model has the same state and behaves the same.
func TestSnapshotRestore(t *testing.T) {
	m, err := New(Config{}, table)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.MarkNormal("bob", "FR"); err != nil {
		t.Fatal(err)
	}
	if err := m.MarkNormal("", "AS6167"); err != nil {
		t.Fatal(err)
	}
	run(t, m, "alice", []step{{london, 0, true}, {milton, 38, true}, {paris, 100, true}, {vpn, 110, true}})
	run(t, m, "bob", []step{{paris, 0, true}, {netip.MustParseAddr("2001:db8::1"), 5, true}, {reading, 600, true}})
	var a bytes.Buffer
	if err := m.Snapshot(&a); err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{}, table)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(bytes.NewReader(a.Bytes())); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.Snapshot(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("snapshot of the restored model differs")
	}
	if !reflect.DeepEqual(m.users, r.users) || !reflect.DeepEqual(m.normal, r.normal) {
		t.Fatal("restored state differs")
	}
	next := []step{{milton, 130, true}, {london, 135, true}, {vpn, 140, true}, {paris, 900, true}, {kansas, 905, true}}
	for _, u := range []string{"alice", "bob", "carol"} {
		x, y := run(t, m, u, next), run(t, r, u, next)
		if !reflect.DeepEqual(x, y) || len(x) == 0 {
			t.Errorf("%s: original %v, restored %v", u, kinds(x), kinds(y))
		}
	}
	// A snapshot too big for the configuration, bad magic, version, truncation.
	small, err := New(Config{Locations: 1}, table)
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{
		"too many places": a.Bytes(),
		"magic":           append([]byte("VIGIL-TRAVEX"), a.Bytes()[12:]...),
		"version":         append(append([]byte("VIGIL-TRAVEL"), 9), a.Bytes()[13:]...),
		"truncated":       a.Bytes()[:a.Len()/2],
		"trailing":        append(bytes.Clone(a.Bytes()), 0),
		"empty":           nil,
	} {
		target := r
		if name == "too many places" {
			target = small
		}
		if err := target.Restore(bytes.NewReader(in)); err == nil || !strings.HasPrefix(err.Error(), "restoring travel state: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A failed restore leaves the state alone.
	var c bytes.Buffer
	if err := r.Snapshot(&c); err != nil {
		t.Fatal(err)
	}
	var d bytes.Buffer
	if err := m.Snapshot(&d); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.Bytes(), d.Bytes()) {
		t.Error("a failed restore changed the state")
	}
}

func FuzzRestore(f *testing.F) {
	m, err := New(Config{}, table)
	if err != nil {
		f.Fatal(err)
	}
	_ = m.MarkNormal("bob", "FR")
	for i, s := range []step{{london, 0, true}, {milton, 38, true}, {vpn, 40, true}, {paris, 100, true}} {
		m.Observe(login("alice", s, i))
	}
	var buf bytes.Buffer
	if err := m.Snapshot(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("VIGIL-TRAVEL\x01\x00\x00"))
	f.Add([]byte("VIGIL-TRAVEL\x01\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := New(Config{}, table)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Restore(bytes.NewReader(data)); err != nil {
			return
		}
		// What restores snapshots to bytes that restore to the same state (the input
		// may spell numbers in longer varints than Snapshot writes).
		var out bytes.Buffer
		if err := r.Snapshot(&out); err != nil {
			t.Fatal(err)
		}
		r2, err := New(Config{}, table)
		if err != nil {
			t.Fatal(err)
		}
		if err := r2.Restore(bytes.NewReader(out.Bytes())); err != nil {
			t.Fatalf("restoring a snapshot of a restored model: %v", err)
		}
		var out2 bytes.Buffer
		if err := r2.Snapshot(&out2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), out2.Bytes()) || !reflect.DeepEqual(r.users, r2.users) {
			t.Fatalf("input %x: snapshot %x then %x", data, out.Bytes(), out2.Bytes())
		}
		r.Observe(Login{Time: t0, User: "alice", IP: milton, Success: true})
	})
}

// BenchmarkObserve: sign-ins/s through the model with the fake geo table (the
// model's own cost); BenchmarkObserveMMDB in corpus_test.go adds real lookups.
func BenchmarkObserve(b *testing.B) {
	m, err := New(Config{}, table)
	if err != nil {
		b.Fatal(err)
	}
	ips := []netip.Addr{london, reading, london, paris, milton}
	users := make([]string, 1000)
	for i := range users {
		users[i] = fmt.Sprintf("user%04d@corp.example.com", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Observe(Login{Time: t0.Add(time.Duration(i) * time.Minute), User: users[i%len(users)], IP: ips[i/len(users)%len(ips)], Success: true, EventID: "x"})
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// TestConcurrentObserve: users fed from several goroutines get the findings they
// get alone (run under -race in CI).
func TestConcurrentObserve(t *testing.T) {
	m, err := New(Config{MaxUsers: 64}, table)
	if err != nil {
		t.Fatal(err)
	}
	steps := []step{{london, 0, true}, {milton, 38, true}, {vpn, 40, true}, {paris, 900, true}, {kansas, 905, true}}
	alone := run(t, must(New(Config{}, table)), "u0", steps)
	results := make([][]Finding, 8)
	var wg sync.WaitGroup
	for g := range results {
		wg.Go(func() {
			for i, s := range steps {
				if f, ok := m.Observe(login(fmt.Sprintf("u%d", g), s, i)); ok {
					results[g] = append(results[g], f)
				}
			}
			var buf bytes.Buffer
			_ = m.Snapshot(&buf)
		})
	}
	wg.Wait()
	for g, fs := range results {
		if !reflect.DeepEqual(kinds(fs), kinds(alone)) || len(fs) == 0 {
			t.Errorf("u%d: %v, alone %v", g, kinds(fs), kinds(alone))
		}
	}
}

func must(m *Model, err error) *Model {
	if err != nil {
		panic(err)
	}
	return m
}
