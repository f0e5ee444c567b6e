package sim

import (
	"math"
	"net/netip"
	"slices"
	"time"
)

// GeoRole says what a network of the geography table is used for.
type GeoRole uint8

const (
	geoOffice   GeoRole = iota + 1 // an office's corporate egress
	geoHome                        // residential / mobile ISPs for remote work, by country
	geoTravel                      // hotel and roaming networks abroad
	geoAttacker                    // where attackers sign in from: no employee lives or travels there
)

// GeoNet is one network of the geography table, with what the MaxMind test
// databases say about it.
type GeoNet struct {
	Prefix      netip.Prefix
	Role        GeoRole
	Country     string // ISO 3166-1 alpha-2
	CountryName string
	City        string // "" when the database has only a country or state
	State       string // first subdivision
	Postal      string
	Lat, Lon    float64
	Radius      int // accuracy radius, km
	ASN         int // 0 when GeoLite2-ASN-Test has no network covering it
	ASOrg       string
	ISP         string // from GeoIP2-Enterprise-Test, "" when absent
}

// geoNets was extracted (with a throwaway MMDB reader, not part of the repository)
// from MaxMind's test databases, github.com/maxmind/MaxMind-DB test-data (MIT or
// Apache-2.0), a copy of which is in ../shared/corpora/geoip/test-data:
// country, city, first subdivision, postal code, location and accuracy radius from
// GeoIP2-City-Test.mmdb (every prefix below is a network of that database, as it
// writes it, and geolocates there to the values given); ASN and AS organization from
// GeoLite2-ASN-Test.mmdb where a network of it covers the prefix; ISP from
// GeoIP2-Enterprise-Test.mmdb where it has one.
//
// Limits of the test data, and the choices they forced:
//   - GeoIP2-City-Test has no IPv4 network in Germany at all; its German networks
//     are IPv6 allocations located at the country's centroid (51.5, 10.5), so the
//     Berlin office egresses over IPv6 and is placed "in Germany", about 380 km from
//     Berlin. (GeoIP2-Precision-Enterprise-Test places 55.0.0.4 in Berlin, but the City
//     database does not hold that address, so it is not used.)
//   - It has no network in or near New York; the New York office egress is the
//     "Lariat Software" network in Milton, Washington, the only US city-level IPv4
//     network that is not a satellite or military range. Precision-Enterprise's
//     55.0.0.3 (New York) is again absent from the City database.
//   - Singapore has a single network (214.0.0.0/24), so the Singapore office and its
//     remote workers share it (different hosts of the /24); the ASN database puts
//     all of 214.0.0.0/8 in AS721 (DoD NIC), which is what the test data says.
//   - Every London network of the City database (81.2.69.0/24) is flagged
//     anonymous (VPN, hosting, Tor, proxy) by GeoIP2-Anonymous-IP-Test, so an
//     office there would look like a VPN exit: the London office egresses from
//     Boxford's 2.2.3.0/24 (about 90 km away) and remote London staff from
//     Boxford's 2.125.160.216/29.
//   - Most foreign networks are country-level (no city, centroid coordinates,
//     radius 100 km); distances between them are between country centroids.
var geoNets = []GeoNet{
	{Prefix: netip.MustParsePrefix("2.2.3.0/24"), Role: geoOffice, Country: "GB", CountryName: "United Kingdom", City: "Boxford", State: "England", Lat: 51.75, Lon: -1.25, Radius: 100},
	{Prefix: netip.MustParsePrefix("216.160.83.56/29"), Role: geoOffice, Country: "US", CountryName: "United States", City: "Milton", State: "Washington", Postal: "98354", Lat: 47.2513, Lon: -122.3149, Radius: 22, ASN: 209, ISP: "Century Link"},
	{Prefix: netip.MustParsePrefix("2a02:d180::/29"), Role: geoOffice, Country: "DE", CountryName: "Germany", Lat: 51.5, Lon: 10.5, Radius: 100},
	{Prefix: netip.MustParsePrefix("214.0.0.0/24"), Role: geoOffice, Country: "SG", CountryName: "Singapore", City: "Singapore", Postal: "59", Lat: 1.336, Lon: 103.7716, Radius: 10, ASN: 721, ASOrg: "DoD Network Information Center"},

	{Prefix: netip.MustParsePrefix("2.125.160.216/29"), Role: geoHome, Country: "GB", CountryName: "United Kingdom", City: "Boxford", State: "England", Postal: "OX1", Lat: 51.75, Lon: -1.25, Radius: 100},
	{Prefix: netip.MustParsePrefix("149.101.100.0/28"), Role: geoHome, Country: "US", CountryName: "United States", Lat: 37.751, Lon: -97.822, Radius: 1000, ASN: 6167, ASOrg: "CELLCO-PART", ISP: "Verizon Wireless"},
	{Prefix: netip.MustParsePrefix("214.78.124.0/24"), Role: geoHome, Country: "US", CountryName: "United States", State: "California", Lat: 36.7783, Lon: -119.4179, Radius: 100, ASN: 721, ASOrg: "DoD Network Information Center"},
	{Prefix: netip.MustParsePrefix("216.160.83.64/29"), Role: geoHome, Country: "US", CountryName: "United States", State: "Washington", Lat: 47.7511, Lon: -120.7401, Radius: 1000, ASN: 209},
	{Prefix: netip.MustParsePrefix("2a02:d480::/29"), Role: geoHome, Country: "DE", CountryName: "Germany", Lat: 51.5, Lon: 10.5, Radius: 100},
	{Prefix: netip.MustParsePrefix("2a02:d600::/29"), Role: geoHome, Country: "DE", CountryName: "Germany", Lat: 51.5, Lon: 10.5, Radius: 100},
	{Prefix: netip.MustParsePrefix("2a02:db00::/29"), Role: geoHome, Country: "DE", CountryName: "Germany", Lat: 51.5, Lon: 10.5, Radius: 100},

	{Prefix: netip.MustParsePrefix("214.0.1.0/24"), Role: geoTravel, Country: "AU", CountryName: "Australia", City: "Melbourne", State: "Victoria", Postal: "3000", Lat: -37.8159, Lon: 144.9669, Radius: 20, ASN: 721, ASOrg: "DoD Network Information Center"},
	{Prefix: netip.MustParsePrefix("89.160.20.128/25"), Role: geoTravel, Country: "SE", CountryName: "Sweden", City: "Linköping", State: "Östergötland County", Lat: 58.4167, Lon: 15.6167, Radius: 76, ASN: 29518, ASOrg: "Bredband2 AB"},
	{Prefix: netip.MustParsePrefix("2001:218::/32"), Role: geoTravel, Country: "JP", CountryName: "Japan", Lat: 35.68536, Lon: 139.75309, Radius: 100},
	{Prefix: netip.MustParsePrefix("2a02:e040::/29"), Role: geoTravel, Country: "NL", CountryName: "Netherlands", Lat: 52.5, Lon: 5.75, Radius: 100},
	{Prefix: netip.MustParsePrefix("2a02:cfc0::/29"), Role: geoTravel, Country: "FR", CountryName: "France", Lat: 46.0, Lon: 2.0, Radius: 100},
	{Prefix: netip.MustParsePrefix("2a02:d5c0::/29"), Role: geoTravel, Country: "ES", CountryName: "Spain", Lat: 40.0, Lon: -4.0, Radius: 100},
	{Prefix: netip.MustParsePrefix("2a02:d000::/29"), Role: geoTravel, Country: "CH", CountryName: "Switzerland", Lat: 47.00016, Lon: 8.01427, Radius: 100},
	{Prefix: netip.MustParsePrefix("2a02:d1c0::/29"), Role: geoTravel, Country: "IT", CountryName: "Italy", Lat: 42.83333, Lon: 12.83333, Radius: 100},

	{Prefix: netip.MustParsePrefix("175.16.199.0/24"), Role: geoAttacker, Country: "CN", CountryName: "China", City: "Changchun", State: "Jilin Sheng", Lat: 43.88, Lon: 125.3228, Radius: 100},
	{Prefix: netip.MustParsePrefix("202.196.224.0/20"), Role: geoAttacker, Country: "PH", CountryName: "Philippines", Postal: "34021", Lat: 13.0, Lon: 122.0, Radius: 121},
	{Prefix: netip.MustParsePrefix("67.43.156.0/24"), Role: geoAttacker, Country: "BT", CountryName: "Bhutan", Lat: 27.5, Lon: 90.5, Radius: 534, ASN: 35908, ISP: "Loud Packet"},
	{Prefix: netip.MustParsePrefix("2a02:d0c0::/29"), Role: geoAttacker, Country: "RU", CountryName: "Russia", Lat: 60.0, Lon: 100.0, Radius: 100},
}

// Geography places the organisation's sign-ins: office egress addresses, home
// addresses, travel and attacker networks, all from geoNets.
type Geography struct {
	Nets []GeoNet
	// away are the spans during which a user is travelling (from the trip_abroad
	// episode): the identity sources write no home-country sign-ins for them then.
	away map[int][]span
	// present are days on which a user is surely at the office (a campaign needs
	// the victim's normal sign-ins to be there).
	present map[int][]time.Time
}

type span struct{ from, to time.Time }

func newGeography() *Geography {
	return &Geography{Nets: geoNets, away: map[int][]span{}, present: map[int][]time.Time{}}
}

// Lookup returns the network holding a, or nil.
func (g *Geography) Lookup(a netip.Addr) *GeoNet {
	for i := range g.Nets {
		if g.Nets[i].Prefix.Contains(a) {
			return &g.Nets[i]
		}
	}
	return nil
}

// nets returns the networks of a role, in a country when country is not "".
func (g *Geography) nets(role GeoRole, country string) []*GeoNet {
	var out []*GeoNet
	for i := range g.Nets {
		if n := &g.Nets[i]; n.Role == role && (country == "" || n.Country == country) {
			out = append(out, n)
		}
	}
	return out
}

// officeCountries lists the countries with an office network, sorted.
func (g *Geography) officeCountries() []string {
	var out []string
	for _, n := range g.nets(geoOffice, "") {
		if !slices.Contains(out, n.Country) {
			out = append(out, n.Country)
		}
	}
	slices.Sort(out)
	return out
}

// Egress is an office's corporate egress address.
func (g *Geography) Egress(o Office) netip.Addr {
	ns := g.nets(geoOffice, o.Country)
	if len(ns) == 0 {
		return netip.Addr{}
	}
	return hostIn(ns[0].Prefix, 5)
}

// Home is user ui's residential address: a fixed host of one of the home networks
// of the office's country (the office network itself where the table has none).
func (g *Geography) Home(ui int, o Office) netip.Addr {
	ns := g.nets(geoHome, o.Country)
	if len(ns) == 0 {
		ns = g.nets(geoOffice, o.Country)
		if len(ns) == 0 {
			return netip.Addr{}
		}
		return hostIn(ns[0].Prefix, uint64(64+ui%180))
	}
	return hostIn(ns[ui%len(ns)].Prefix, uint64(1+ui/len(ns)))
}

// isAway reports whether user ui is travelling at t.
func (g *Geography) isAway(ui int, t time.Time) bool {
	for _, s := range g.away[ui] {
		if !t.Before(s.from) && t.Before(s.to) {
			return true
		}
	}
	return false
}

// awayDuring reports whether user ui travels at any time in [from, to).
func (g *Geography) awayDuring(ui int, from, to time.Time) bool {
	for _, s := range g.away[ui] {
		if s.from.Before(to) && from.Before(s.to) {
			return true
		}
	}
	return false
}

// mustBePresent reports whether a campaign needs user ui at the office on day.
func (g *Geography) mustBePresent(ui int, day time.Time) bool {
	return slices.ContainsFunc(g.present[ui], day.Equal)
}

// hostIn returns the k-th address of p (wrapping within its host bits); for IPv6 the
// host number goes in the low 64 bits of a subnet chosen by k too, as a provider's
// customer prefixes would differ.
func hostIn(p netip.Prefix, k uint64) netip.Addr {
	a := p.Masked().Addr()
	if a.Is4() {
		b := a.As4()
		host := uint64(1)<<(32-p.Bits()) - 1
		v := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
		h := k % host
		if h == 0 {
			h = 1
		}
		v |= h
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	b := a.As16()
	// Bits 32..63 select a /64 inside the allocation: host bits, as the IPv6
	// prefixes of the table are /32 or shorter.
	sub := uint32(k * 2654435761)
	b[4] |= byte(sub >> 24)
	b[5] |= byte(sub >> 16)
	b[6] |= byte(sub >> 8)
	b[7] |= byte(sub)
	b[15] = byte(1 + k%250)
	return netip.AddrFrom16(b)
}

// distanceKm is the great-circle distance between two networks' locations.
func distanceKm(a, b *GeoNet) float64 {
	const r = 6371.0
	la1, la2 := a.Lat*math.Pi/180, b.Lat*math.Pi/180
	dla, dlo := la2-la1, (b.Lon-a.Lon)*math.Pi/180
	h := math.Sin(dla/2)*math.Sin(dla/2) + math.Cos(la1)*math.Cos(la2)*math.Sin(dlo/2)*math.Sin(dlo/2)
	return 2 * r * math.Asin(math.Sqrt(h))
}
