// Package assets owns the asset inventory and host entity resolution: which
// machine a host name, short name or IP address in an event is, and what the
// business knows about it (owner, business unit, criticality, tags, data
// residency region).
//
// It holds three things:
//
//   - Inventory: assets read from a CSV or YAML file (see ReadCSV, ReadYAML).
//     Bad rows are rejected with file:line and reason and the rest loads; two
//     assets claiming one FQDN or IP are rejected, naming the line of both.
//     Lookup resolves a name the way the decoders canonicalize it
//     (event.CanonicalHost: case folded, trailing dot dropped): an IP matches
//     the asset listing it, an FQDN matches exactly (or a short-name-only asset
//     with its first label), a short name matches the one asset with that first
//     label. Two FQDNs sharing a short name make that short name ambiguous: the
//     candidates are returned, never a guess. An inventory keeps about 450
//     bytes per asset with one address and tag (TestInventoryMemoryPerAsset);
//     a file holds at most MaxRows assets.
//   - Bindings: time-bounded IP→host bindings learned from events that name
//     both (Learn and Resolver.ObserveEvent read DHCP leases, agents' reports
//     on their own host, Windows logons naming the client workstation, a
//     computer account's Kerberos requests; see Source). Per IP a short
//     history of intervals is kept; HostAt(ip, t) answers with the host whose
//     interval holds event time t. An interval starts at the first
//     observation, is renewed by each later one and ends a lease time (the
//     observation's own, a DHCP lease_time; else default 24 h, the common
//     DHCP default) after the last, or when another host takes the IP, or at
//     a release. Observations are Authoritative (DHCP, self-reports) or
//     Claimed (a name a client gives itself, which anyone can forge): a claim
//     never displaces an authoritative binding of another host while it is in
//     force. A short name and an FQDN with that first label are one host. This is the DHCP lease model (RFC 2131: a
//     lease held until it expires unrenewed or is released, §3.1 and §4.4.5)
//     seen from the logs, as passive inventories do it (Zeek's dhcp.log and
//     known_hosts joins, Splunk ES asset correlation by IP). Addresses no one
//     host holds (loopback, link-local, multicast) are never bound, and a
//     domain's own name (an AD domain resolves to its controllers) must be
//     kept out by the caller. Memory is bounded: at most MaxIPs addresses
//     (the least recently observed evicted) with at most MaxHistory intervals
//     each, and addresses quiet for longer than Retain (event time) dropped.
//     Cost per tracked IP is about 150 bytes plus the host name with one
//     interval (170 bytes with a 21-byte name, measured by
//     TestBindingsMemoryPerIP), 48 bytes per further interval (plus the name
//     when it is new for that IP); host strings are shared between intervals
//     of one IP, not across IPs.
//   - Store: the current inventory behind an atomic pointer, replaced by
//     Reload only when the new file parses; Resolver joins a Store and
//     Bindings, static inventory addresses taking precedence over learned ones.
//
// Only event time is used; nothing here reads the wall clock.
//
// What it does not do: CIDR ranges or subnets in the inventory (one asset, its
// own addresses), NetBIOS↔DNS domain mapping beyond the first label, reverse
// DNS, or discovering assets that are not in the file (learned bindings name
// hosts, they do not create assets). Bindings are not order independent when
// observations of different hosts on one IP arrive out of event-time order: a
// later-inserted observation ends the interval it falls in.
package assets

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// Criticality is how much the business depends on an asset.
type Criticality uint8

// Criticality levels. CriticalityUnknown is an asset whose row left it empty.
const (
	CriticalityUnknown Criticality = iota
	CriticalityLow
	CriticalityMedium
	CriticalityHigh
	CriticalityExtreme
)

var critNames = [...]string{"", "low", "medium", "high", "extreme"}

// String returns the level's name ("" for unknown).
func (c Criticality) String() string {
	if int(c) < len(critNames) {
		return critNames[c]
	}
	return fmt.Sprintf("criticality(%d)", c)
}

// ParseCriticality parses low|medium|high|extreme (any case); "" is unknown.
func ParseCriticality(s string) (Criticality, error) {
	s = strings.TrimSpace(s)
	for i, n := range critNames {
		if strings.EqualFold(s, n) {
			return Criticality(i), nil
		}
	}
	return CriticalityUnknown, fmt.Errorf("criticality %q is not one of low, medium, high, extreme", s)
}

// Asset is one inventory entry. Names are canonical (event.CanonicalHost).
type Asset struct {
	FQDN         string       // canonical full name; equals Short when no domain is known
	Short        string       // first label of FQDN
	Host         string       // the "host" column when it names something else than FQDN's first label, canonical
	IPs          []netip.Addr // static addresses, unmapped, without zones
	Owner        string
	BusinessUnit string
	Criticality  Criticality
	Tags         []string
	Region       string // data residency
	Source       string // "file:line" the asset was read from
}

// MatchKind says how a name was resolved.
type MatchKind uint8

// Ways a name resolves.
const (
	MatchNone      MatchKind = iota // not found, or ambiguous (see Match.Candidates)
	MatchFQDN                       // the full name matched
	MatchShort                      // the first label matched one asset
	MatchIP                         // a static inventory address matched
	MatchDynamic                    // a learned IP→host binding, then the host's name
	MatchAmbiguous                  // a short name shared by several assets
)

var kindNames = [...]string{"none", "fqdn", "short", "ip", "dynamic", "ambiguous"}

// String names the kind.
func (k MatchKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("matchkind(%d)", k)
}

// Match is the result of a lookup.
type Match struct {
	Asset      *Asset    // nil when not found or ambiguous
	By         MatchKind // how it matched
	Candidates []*Asset  // for MatchAmbiguous: every asset with that short name, by FQDN; shared, do not modify
	Host       string    // for MatchDynamic: the canonical host name the binding gave (also when no asset has it)
}

// Found reports whether one asset was resolved.
func (m Match) Found() bool { return m.Asset != nil }

// Inventory is a parsed asset file. It is immutable once built and safe for
// concurrent use.
type Inventory struct {
	assets  []Asset
	byFQDN  map[string]int
	byShort map[string][]*Asset // sorted by FQDN
	byIP    map[netip.Addr]int
	source  string
}

// Len returns the number of assets.
func (inv *Inventory) Len() int {
	if inv == nil {
		return 0
	}
	return len(inv.assets)
}

// Assets returns the assets in file order. Shared: do not modify.
func (inv *Inventory) Assets() []Asset {
	if inv == nil {
		return nil
	}
	return inv.assets
}

// Source is the file the inventory was read from ("" for a reader).
func (inv *Inventory) Source() string {
	if inv == nil {
		return ""
	}
	return inv.source
}

// Ambiguous returns the short names shared by more than one asset, sorted, each
// with its candidates' FQDNs.
func (inv *Inventory) Ambiguous() []Ambiguity {
	if inv == nil {
		return nil
	}
	var out []Ambiguity
	for s, c := range inv.byShort {
		if len(c) > 1 {
			a := Ambiguity{Short: s}
			for _, x := range c {
				a.FQDNs = append(a.FQDNs, x.FQDN)
			}
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b Ambiguity) int { return strings.Compare(a.Short, b.Short) })
	return out
}

// Ambiguity is a short name that several assets share.
type Ambiguity struct {
	Short string
	FQDNs []string
}

// Lookup resolves a host name (FQDN or short, any case, trailing dot allowed) or
// an IP literal against the static inventory.
func (inv *Inventory) Lookup(name string) Match {
	if inv == nil {
		return Match{}
	}
	if a := event.ParseIP(name); a.IsValid() {
		return inv.LookupIP(a)
	}
	return inv.lookupRef(event.CanonicalHost(name))
}

// LookupIP resolves a static inventory address.
func (inv *Inventory) LookupIP(ip netip.Addr) Match {
	if inv == nil {
		return Match{}
	}
	if i, ok := inv.byIP[ip.Unmap().WithZone("")]; ok {
		return Match{Asset: &inv.assets[i], By: MatchIP}
	}
	return Match{}
}

// LookupHost resolves an already canonical host reference (from event.CanonicalHost).
func (inv *Inventory) LookupHost(h event.HostRef) Match {
	if inv == nil {
		return Match{}
	}
	return inv.lookupRef(h)
}

func (inv *Inventory) lookupRef(h event.HostRef) Match {
	if h.FQDN == "" {
		return Match{}
	}
	if h.FQDN != h.Short {
		if i, ok := inv.byFQDN[h.FQDN]; ok {
			return Match{Asset: &inv.assets[i], By: MatchFQDN}
		}
		// An asset known by its short name only is the same machine; one with a
		// different domain is not.
		if i, ok := inv.byFQDN[h.Short]; ok {
			if c := inv.byShort[h.Short]; len(c) > 1 {
				return Match{By: MatchAmbiguous, Candidates: c}
			}
			return Match{Asset: &inv.assets[i], By: MatchShort}
		}
		return Match{}
	}
	c := inv.byShort[h.Short]
	switch len(c) {
	case 0:
		return Match{}
	case 1:
		if c[0].FQDN == h.FQDN {
			return Match{Asset: c[0], By: MatchFQDN}
		}
		return Match{Asset: c[0], By: MatchShort}
	}
	return Match{By: MatchAmbiguous, Candidates: c}
}

// builder accumulates assets and checks duplicates.
type builder struct {
	inv      *Inventory
	fqdnLine map[string]string // fqdn → source of the asset claiming it
	ipLine   map[netip.Addr]string
}

func newBuilder(source string) *builder {
	return &builder{
		inv:      &Inventory{byFQDN: map[string]int{}, byShort: map[string][]*Asset{}, byIP: map[netip.Addr]int{}, source: source},
		fqdnLine: map[string]string{},
		ipLine:   map[netip.Addr]string{},
	}
}

// add validates a raw record and adds it; the error is the row's reason.
func (b *builder) add(r rawAsset, src string) error {
	a, err := r.asset()
	if err != nil {
		return err
	}
	a.Source = src
	names := []string{a.FQDN}
	if a.Host != "" {
		names = append(names, a.Host)
	}
	for _, n := range names {
		if prev, ok := b.fqdnLine[n]; ok {
			return fmt.Errorf("name %q already claimed by the asset at %s", n, prev)
		}
	}
	for _, ip := range a.IPs {
		if prev, ok := b.ipLine[ip]; ok {
			return fmt.Errorf("ip %s already claimed by the asset at %s", ip, prev)
		}
	}
	idx := len(b.inv.assets)
	b.inv.assets = append(b.inv.assets, a)
	for _, n := range names {
		b.fqdnLine[n] = src
		b.inv.byFQDN[n] = idx
	}
	for _, ip := range a.IPs {
		b.ipLine[ip] = src
		b.inv.byIP[ip] = idx
	}
	return nil
}

// finish builds the short-name index (pointers into the final slice).
func (b *builder) finish() *Inventory {
	inv := b.inv
	for i := range inv.assets {
		a := &inv.assets[i]
		shorts := []string{a.Short}
		if a.Host != "" {
			if s := event.CanonicalHost(a.Host).Short; s != a.Short {
				shorts = append(shorts, s)
			}
		}
		for _, s := range shorts {
			inv.byShort[s] = append(inv.byShort[s], a)
		}
	}
	for _, c := range inv.byShort {
		slices.SortFunc(c, func(x, y *Asset) int { return strings.Compare(x.FQDN, y.FQDN) })
	}
	return inv
}

// rawAsset is a row before validation (CSV and YAML share it).
type rawAsset struct {
	Host, FQDN, Owner, BusinessUnit, Criticality, Region string
	IPs, Tags                                            []string
}

// MaxField bounds the length of one field value.
const MaxField = 4096

// MaxListItems bounds the IPs or tags of one asset.
const MaxListItems = 1024

func (r rawAsset) asset() (Asset, error) {
	for _, f := range []struct{ name, v string }{{"host", r.Host}, {"fqdn", r.FQDN}, {"owner", r.Owner}, {"business_unit", r.BusinessUnit}, {"region", r.Region}} {
		if len(f.v) > MaxField {
			return Asset{}, fmt.Errorf("%s longer than %d bytes", f.name, MaxField)
		}
	}
	if len(r.IPs) > MaxListItems || len(r.Tags) > MaxListItems {
		return Asset{}, fmt.Errorf("more than %d ips or tags", MaxListItems)
	}
	for _, l := range [][]string{r.IPs, r.Tags} {
		for _, v := range l {
			if len(v) > MaxField {
				return Asset{}, fmt.Errorf("ip or tag longer than %d bytes", MaxField)
			}
		}
	}
	host, err := hostName("host", r.Host)
	if err != nil {
		return Asset{}, err
	}
	fqdn, err := hostName("fqdn", r.FQDN)
	if err != nil {
		return Asset{}, err
	}
	var a Asset
	switch {
	case host.FQDN == "" && fqdn.FQDN == "":
		return Asset{}, fmt.Errorf("no host or fqdn")
	case fqdn.FQDN == "":
		a.FQDN, a.Short = host.FQDN, host.Short
	default:
		a.FQDN, a.Short = fqdn.FQDN, fqdn.Short
		if host.FQDN != "" && host.FQDN != fqdn.FQDN && host.FQDN != fqdn.Short {
			a.Host = host.FQDN
		}
	}
	for _, s := range r.IPs {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		ip := event.ParseIP(s)
		if !ip.IsValid() {
			return Asset{}, fmt.Errorf("ip %q is not an address", s)
		}
		if ip.Zone() != "" {
			return Asset{}, fmt.Errorf("ip %q has a zone", s)
		}
		if ip.IsUnspecified() {
			return Asset{}, fmt.Errorf("ip %q is the unspecified address", s)
		}
		if !slices.Contains(a.IPs, ip) {
			a.IPs = append(a.IPs, ip)
		}
	}
	if a.Criticality, err = ParseCriticality(r.Criticality); err != nil {
		return Asset{}, err
	}
	for _, t := range r.Tags {
		t = strings.TrimSpace(t)
		if t != "" && !slices.Contains(a.Tags, t) {
			a.Tags = append(a.Tags, t)
		}
	}
	a.Owner, a.BusinessUnit, a.Region = strings.TrimSpace(r.Owner), strings.TrimSpace(r.BusinessUnit), strings.TrimSpace(r.Region)
	return a, nil
}

// hostName canonicalizes and validates a host name (letters, digits, '-', '_',
// dot-separated labels of at most 63 bytes, 253 in all).
func hostName(field, s string) (event.HostRef, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return event.HostRef{}, nil
	}
	h := event.CanonicalHost(s)
	if h.FQDN == "" {
		return event.HostRef{}, nil
	}
	if event.ParseIP(h.FQDN).IsValid() {
		return event.HostRef{}, fmt.Errorf("%s %q is an address (list it under ips)", field, s)
	}
	if len(h.FQDN) > 253 {
		return event.HostRef{}, fmt.Errorf("%s %q is longer than 253 bytes", field, s)
	}
	for label := range strings.SplitSeq(h.FQDN, ".") {
		if label == "" || len(label) > 63 {
			return event.HostRef{}, fmt.Errorf("%s %q has an empty or over-long label", field, s)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return event.HostRef{}, fmt.Errorf("%s %q has character %q", field, s, c)
			}
		}
	}
	return h, nil
}
