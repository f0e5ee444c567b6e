package travel

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/enrich/geoip"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/sim"
)

// geoData returns ../shared/corpora/geoip/test-data, skipping (or failing, when
// VIGIL_REQUIRE_CORPORA=1) when it is missing.
func geoData(t testing.TB) string {
	t.Helper()
	p := "../../../../../shared/corpora/geoip/test-data"
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("VIGIL_REQUIRE_CORPORA") == "1" {
			t.Fatalf("corpus geoip/test-data missing: %v", err)
		}
		t.Skipf("corpus geoip/test-data missing: %v", err)
	}
	return p
}

// openGeo opens MaxMind's City and ASN test databases, and the Anonymous-IP one
// when anon.
func openGeo(t testing.TB, anon bool) *geoip.Reader {
	t.Helper()
	dir := geoData(t)
	o := geoip.Options{City: filepath.Join(dir, "GeoIP2-City-Test.mmdb"), ASN: filepath.Join(dir, "GeoLite2-ASN-Test.mmdb")}
	if anon {
		o.AnonymousIP = filepath.Join(dir, "GeoIP2-Anonymous-IP-Test.mmdb")
	}
	r, err := geoip.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// TestMMDB: the model over MaxMind's test databases.
func TestMMDB(t *testing.T) {
	m, err := New(Config{}, openGeo(t, true))
	if err != nil {
		t.Fatal(err)
	}
	steps := []step{
		{netip.MustParseAddr("216.160.83.56"), 0, true},   // Milton, US
		{netip.MustParseAddr("89.160.20.128"), 45, true},  // Linköping, SE
		{netip.MustParseAddr("81.2.69.142"), 50, true},    // London, flagged VPN/hosting/Tor/proxy
		{netip.MustParseAddr("1.128.0.1"), 55, true},      // only an ASN: no location
		{netip.MustParseAddr("192.168.10.4"), 56, true},   // internal
		{netip.MustParseAddr("89.160.20.129"), 600, true}, // Linköping again
	}
	fs := run(t, m, "carol", steps)
	if got := kinds(fs); !slices.Equal(got, []Kind{KindImpossibleTravel, KindAnonymizer}) {
		t.Fatalf("findings %v: %+v", got, fs)
	}
	f := fs[0]
	if f.From.City != "Milton" || f.To.City != "Linköping" || f.To.ASN != 29518 || f.To.ASOrg != "Bredband2 AB" ||
		f.From.AccuracyRadiusKm != 22 || f.To.AccuracyRadiusKm != 76 {
		t.Errorf("travel %+v", f)
	}
	if a := fs[1]; !slices.Equal(a.Anonymity, []string{"VPN", "hosting provider", "Tor exit node", "public proxy", "residential proxy"}) || a.To.City != "London" {
		t.Errorf("anonymizer %+v", a)
	}
}

// login reads a sign-in from a decoded event; false for other events.
func loginOf(e *event.Event) (Login, bool) {
	if !e.Category.Has(event.CatAuthentication) || e.Str(event.UserName) == "" {
		return Login{}, false
	}
	u := e.Str(event.UserName)
	if d := e.Str(event.UserDomain); d != "" {
		u += "@" + d
	}
	return Login{Time: e.Timestamp, User: strings.ToLower(u), IP: e.IP(event.SourceIP), Success: e.Str(event.EventOutcome) == "success",
		Source: e.Str(event.EventModule), EventID: e.Str(event.EventID)}, true
}

// simLogins generates an organisation and returns its Okta and Entra sign-ins in
// event time order, with the truth.
func simLogins(t *testing.T, seed uint64) ([]Login, sim.Truth) {
	t.Helper()
	dir := t.TempDir()
	if _, err := sim.Run(sim.Config{Seed: seed, Users: 20, Days: 7, Out: dir, Campaigns: []string{"account-takeover"}}); err != nil {
		t.Fatal(err)
	}
	tr := readTruth(t, dir)
	var logins []Login
	for _, name := range []string{"okta/system.json", "entra/signins.json"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		det, err := formats.Default().Detect(data[:min(len(data), decode.SniffSize)])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sink := &decodetest.Sink{}
		if err := det.Format.New().Decode(context.Background(), decode.Input{R: bytes.NewReader(data), Source: name}, sink); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(sink.Rejects) > 0 {
			t.Fatalf("%s: %d rejects, first %v", name, len(sink.Rejects), sink.Rejects[0])
		}
		n := len(logins)
		for _, e := range sink.Events {
			if l, ok := loginOf(e); ok {
				logins = append(logins, l)
			}
		}
		if len(logins)-n < 100 {
			t.Fatalf("%s: %d sign-ins", name, len(logins)-n)
		}
	}
	slices.SortStableFunc(logins, func(a, b Login) int { return a.Time.Compare(b.Time) })
	return logins, tr
}

// readTruth reads a simulation's truth.json.
func readTruth(t *testing.T, dir string) sim.Truth {
	t.Helper()
	var tr sim.Truth
	b, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

func entityValues(es []sim.TruthEntity, kind string) []string {
	var out []string
	for _, e := range es {
		if e.Kind == kind {
			out = append(out, e.Value)
		}
	}
	return out
}

// TestSimulatedOrg: on a simulated organisation whose addresses geolocate in the
// MaxMind test databases, the account takeover's impossible travel is found and the
// employee's trip abroad (a real flight) is not.
func TestSimulatedOrg(t *testing.T) {
	geo := openGeo(t, false)
	seeds := []uint64{1, 2, 3}
	if raceEnabled {
		seeds = seeds[:1]
	}
	for _, seed := range seeds {
		logins, tr := simLogins(t, seed)
		m, err := New(Config{}, geo)
		if err != nil {
			t.Fatal(err)
		}
		var fs []Finding
		for _, l := range logins {
			if f, ok := m.Observe(l); ok {
				fs = append(fs, f)
			}
		}
		var ato *sim.TruthCampaign
		for i := range tr.Campaigns {
			if tr.Campaigns[i].ID == "ato1" {
				ato = &tr.Campaigns[i]
			}
		}
		var trip *sim.TruthBenign
		for i := range tr.Benign {
			if tr.Benign[i].Kind == "trip_abroad" {
				trip = &tr.Benign[i]
			}
		}
		if ato == nil || trip == nil {
			t.Fatalf("seed %d: no ato1 campaign or trip_abroad episode in the truth", seed)
		}
		victim, attacker := entityValues(ato.Entities, "user"), entityValues(ato.Entities, "ip")
		traveller, abroad := entityValues(trip.Entities, "user"), entityValues(trip.Entities, "ip")
		if len(victim) != 1 || len(attacker) != 1 || len(traveller) != 1 || len(abroad) == 0 {
			t.Fatalf("seed %d: entities %+v / %+v", seed, ato.Entities, trip.Entities)
		}
		found, tripFlagged, other := 0, 0, 0
		for _, f := range fs {
			if f.Kind != KindImpossibleTravel {
				continue
			}
			ips := []string{f.From.IP.String(), f.To.IP.String()}
			switch {
			case f.User == victim[0] && slices.Contains(ips, attacker[0]):
				found++
				if len(f.Evidence) != 2 || f.SpeedKmh <= DefaultMaxSpeedKmh || !f.To.Time.After(ato.Start.Add(-1)) {
					t.Errorf("seed %d: takeover finding %+v", seed, f)
				}
				t.Logf("seed %d: %s", seed, f.Summary)
			case f.User == traveller[0] && (slices.Contains(abroad, ips[0]) || slices.Contains(abroad, ips[1])):
				tripFlagged++
				t.Errorf("seed %d: the trip abroad flagged: %s", seed, f.Summary)
			default:
				other++
				t.Logf("seed %d: other finding: %s (confidence %.2f)", seed, f.Summary, f.Confidence)
			}
		}
		if found == 0 {
			t.Errorf("seed %d: the takeover of %s from %s not found (%d findings)", seed, victim[0], attacker[0], len(fs))
		}
		// The trip was seen and judged by its speed, not waved through by the
		// distance floor: the move from the last place at home to the first abroad
		// is far, and slower than the limit.
		var home, first *Login
		for i := range logins {
			l := &logins[i]
			if l.User != traveller[0] || !l.Success {
				continue
			}
			if loc, ok := geo.Lookup(l.IP); !ok || !loc.HasCoords {
				continue
			}
			if slices.Contains(abroad, l.IP.String()) {
				first = l
				break
			}
			home = l
		}
		if home == nil || first == nil {
			t.Fatalf("seed %d: the traveller %s has no sign-in at home then abroad", seed, traveller[0])
		}
		a, _ := geo.Lookup(home.IP)
		b, _ := geo.Lookup(first.IP)
		d := Haversine(a.Latitude, a.Longitude, b.Latitude, b.Longitude) - float64(a.AccuracyRadiusKm+b.AccuracyRadiusKm)
		v := d / first.Time.Sub(home.Time).Hours()
		if d <= DefaultMinDistanceKm || v >= DefaultMaxSpeedKmh {
			t.Errorf("seed %d: trip from %v to %v: %.0f km at %.0f km/h", seed, home.IP, first.IP, d, v)
		}
		t.Logf("seed %d: trip %s -> %s, %s: %.0f km at %.0f km/h, not flagged", seed, a.Country, b.Country, first.Time.Sub(home.Time), d, v)
		t.Logf("seed %d: %d sign-ins, %d users, takeover findings %d, trip findings %d, other findings %d",
			seed, len(logins), m.Users(), found, tripFlagged, other)
	}
}

// BenchmarkObserveMMDB: sign-ins/s of a simulated organisation's Okta log through
// the model with lookups in the MaxMind test databases (City, ASN, Anonymous-IP),
// with the reader's answer cache and without it.
func BenchmarkObserveMMDB(b *testing.B) {
	dir := b.TempDir()
	if _, err := sim.Run(sim.Config{Seed: 1, Users: 40, Days: 10, Out: dir, Campaigns: []string{"account-takeover"}}); err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "okta/system.json"))
	if err != nil {
		b.Fatal(err)
	}
	det, err := formats.Default().Detect(data[:min(len(data), decode.SniffSize)])
	if err != nil {
		b.Fatal(err)
	}
	sink := &decodetest.Sink{}
	if err := det.Format.New().Decode(context.Background(), decode.Input{R: bytes.NewReader(data), Source: "okta"}, sink); err != nil {
		b.Fatal(err)
	}
	var logins []Login
	for _, e := range sink.Events {
		if l, ok := loginOf(e); ok {
			logins = append(logins, l)
		}
	}
	slices.SortStableFunc(logins, func(a, b Login) int { return cmp.Compare(a.Time.UnixNano(), b.Time.UnixNano()) })
	gd := geoData(b)
	for _, c := range []struct {
		name  string
		cache int
	}{{"cache", 0}, {"nocache", -1}} {
		b.Run(c.name, func(b *testing.B) {
			geo, err := geoip.Open(geoip.Options{City: filepath.Join(gd, "GeoIP2-City-Test.mmdb"), ASN: filepath.Join(gd, "GeoLite2-ASN-Test.mmdb"),
				AnonymousIP: filepath.Join(gd, "GeoIP2-Anonymous-IP-Test.mmdb"), CacheSize: c.cache})
			if err != nil {
				b.Fatal(err)
			}
			defer geo.Close()
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				b.StopTimer()
				m, err := New(Config{}, geo)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for _, l := range logins {
					m.Observe(l)
				}
				n += len(logins)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "logins/s")
			b.ReportMetric(float64(len(logins)), "logins/op")
		})
	}
}
