package assets

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

// BindingsConfig tunes the learned IP→host bindings. Zero values take the defaults.
type BindingsConfig struct {
	// Lease is how long a binding lasts after its last observation.
	Lease time.Duration // default 24h
	// MaxIPs bounds the addresses tracked (least recently observed evicted).
	MaxIPs int // default 1,000,000
	// MaxHistory bounds the intervals kept per address (oldest dropped).
	MaxHistory int // default 8
	// Retain: an address whose latest binding ended longer ago than this
	// (event time, against the newest observation) is forgotten.
	Retain time.Duration // default 7 days
}

// Default binding limits.
const (
	DefaultLease      = 24 * time.Hour
	DefaultMaxIPs     = 1_000_000
	DefaultMaxHistory = 8
	DefaultRetain     = 7 * 24 * time.Hour
)

func (c BindingsConfig) withDefaults() BindingsConfig {
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.MaxIPs <= 0 {
		c.MaxIPs = DefaultMaxIPs
	}
	if c.MaxHistory <= 0 {
		c.MaxHistory = DefaultMaxHistory
	}
	if c.Retain <= 0 {
		c.Retain = DefaultRetain
	}
	return c
}

// binding is one interval: host held the address from start, renewed at last,
// until until (the latest observation's time plus its lease). host "" is a
// release. claimed: every observation in it was a Claimed one.
type binding struct {
	host               string
	start, last, until int64 // unix nanoseconds, event time
	claimed            bool
}

// Evidence says how far an observation can be trusted.
type Evidence uint8

const (
	// Authoritative: the address was handed out or reported by its holder (a
	// DHCP server's lease, an agent describing its own host).
	Authoritative Evidence = iota
	// Claimed: a peer named itself to a server (an NTLM workstation name, an
	// RDP client name, a machine account's ticket request). Anyone can claim
	// any name, so a claim never displaces an Authoritative binding that is
	// in force for another host; it is recorded otherwise.
	Claimed
)

type ipEntry struct {
	ip         netip.Addr
	hist       []binding // sorted by start
	prev, next *ipEntry  // recency list, front = most recently observed
}

// Bindings holds learned IP→host bindings. Safe for concurrent use (Observe
// takes a write lock, HostAt a read lock).
type Bindings struct {
	cfg        BindingsConfig
	mu         sync.RWMutex
	byIP       map[[16]byte]*ipEntry
	head, tail *ipEntry
	newest     int64 // newest observation time
	evicted    uint64
	expired    uint64
}

// NewBindings returns empty bindings.
func NewBindings(cfg BindingsConfig) *Bindings {
	return &Bindings{cfg: cfg.withDefaults(), byIP: map[[16]byte]*ipEntry{}}
}

// Config returns the configuration in force (defaults filled in).
func (b *Bindings) Config() BindingsConfig { return b.cfg }

// Observe records that host held ip at event time t (an event naming both, a
// DHCP lease or renewal). Ignored: zero times, empty or placeholder host names,
// host names that are addresses, and addresses no single host holds on a
// network (invalid, unspecified, loopback, link-local, multicast, broadcast;
// see Bindable). The host is canonicalized (event.CanonicalHost) and copied.
func (b *Bindings) Observe(t time.Time, ip netip.Addr, host string) {
	b.ObserveAs(t, ip, host, 0, Authoritative)
}

// ObserveAs is Observe with the observation's own lease (a DHCP lease time; 0
// or less takes the configured Lease; at most MaxLease) and evidence. It
// reports whether the observation was recorded: false when ignored as Observe
// describes, or for a Claimed observation while an Authoritative binding of
// another host holds ip at t.
func (b *Bindings) ObserveAs(t time.Time, ip netip.Addr, host string, lease time.Duration, ev Evidence) bool {
	if !Bindable(ip) {
		return false
	}
	h := event.CanonicalHost(host)
	if h.FQDN == "" || event.ParseIP(h.FQDN).IsValid() {
		return false
	}
	if lease <= 0 {
		lease = b.cfg.Lease
	}
	return b.observe(t, ip, h.FQDN, min(lease, MaxLease), ev == Claimed)
}

// MaxLease caps an observation's lease: DHCP servers may grant "infinite"
// leases (0xffffffff seconds), which would bind an address for a century.
const MaxLease = 30 * 24 * time.Hour

// Bindable reports whether ip can name one host on a network: not invalid,
// unspecified, loopback, link-local (169.254/16, fe80::/10: every host has its
// own), multicast or the limited broadcast address. Events carry such
// addresses (a logon from 127.0.0.1 or ::1) that must not bind every host to them.
func Bindable(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsValid() && !ip.IsUnspecified() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() &&
		!ip.IsMulticast() && !ip.IsLinkLocalMulticast() && !ip.IsInterfaceLocalMulticast() && ip != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// Release records that ip was given up at event time t (a DHCP release or
// expiry): no host holds it from t until the next observation.
func (b *Bindings) Release(t time.Time, ip netip.Addr) {
	if Bindable(ip) {
		b.observe(t, ip, "", 0, false)
	}
}

// ReleaseHost is Release when host (canonicalized) held ip at t, and nothing
// otherwise; it reports whether it released. For a client giving up an
// address it may never have held (a DHCP decline: the address was found in
// use, perhaps by the host bound to it).
func (b *Bindings) ReleaseHost(t time.Time, ip netip.Addr, host string) bool {
	h := event.CanonicalHost(host)
	if !Bindable(ip) || h.FQDN == "" || t.IsZero() {
		return false
	}
	ip = ip.Unmap().WithZone("")
	ns := t.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.byIP[ip.As16()]
	if e == nil {
		return false
	}
	if cur, ok := e.at(ns); !ok || cur != h.FQDN {
		return false
	}
	b.moveFront(e)
	b.newest = max(b.newest, ns)
	b.record(e, ns, "", ns, false)
	b.trim()
	return true
}

func (b *Bindings) observe(t time.Time, ip netip.Addr, host string, lease time.Duration, claimed bool) bool {
	if !ip.IsValid() || t.IsZero() {
		return false
	}
	ip = ip.Unmap().WithZone("")
	ns := t.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	if ns > b.newest {
		b.newest = ns
	}
	until := ns
	if host != "" {
		until = satAdd(ns, int64(lease))
	}
	e := b.byIP[ip.As16()]
	if e == nil {
		if host == "" {
			return false // releasing what was never bound changes nothing
		}
		e = &ipEntry{ip: ip}
		b.byIP[ip.As16()] = e
		b.pushFront(e)
	} else {
		b.moveFront(e)
	}
	ok := b.record(e, ns, host, until, claimed)
	b.trim()
	return ok
}

// sameHost reports whether canonical names a and b are one host: equal, or
// one a short name (no dot) that is the other's first label, as a NetBIOS
// workstation name and its host's DNS name are.
func sameHost(a, b string) bool {
	if a == b {
		return true
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	return a != "" && strings.IndexByte(a, '.') < 0 && len(b) > len(a) && b[len(a)] == '.' && b[:len(a)] == a
}

// satAdd is a+d for d >= 0, saturating at the largest int64.
func satAdd(a, d int64) int64 {
	if a > 1<<63-1-d {
		return 1<<63 - 1
	}
	return a + d
}

// record merges one observation into e's history: host held the address at
// ns until until. It reports false when a claim was refused.
func (b *Bindings) record(e *ipEntry, ns int64, host string, until int64, claimed bool) bool {
	// i: the last interval starting at or before ns.
	i := len(e.hist) - 1
	for i >= 0 && e.hist[i].start > ns {
		i--
	}
	if i >= 0 {
		cur := &e.hist[i]
		same := sameHost(cur.host, host)
		if claimed && !same && cur.host != "" && !cur.claimed && ns <= cur.until {
			return false // a claim does not displace an authoritative binding in force
		}
		if same && (host == "" || ns <= cur.until) {
			if len(host) > len(cur.host) {
				cur.host = strings.Clone(host) // ws-042 seen as ws-042.corp.example
			}
			cur.last = max(cur.last, ns)
			if host != "" {
				cur.until = max(cur.until, until) // a release's until stays its start
			}
			cur.claimed = cur.claimed && claimed
			return true
		}
	}
	if i+1 < len(e.hist) {
		nx := &e.hist[i+1]
		if sameHost(nx.host, host) && nx.start <= until {
			if len(host) > len(nx.host) {
				nx.host = strings.Clone(host)
			}
			nx.start = ns // an earlier observation of the following interval
			nx.claimed = nx.claimed && claimed
			if host == "" {
				nx.until = ns
			}
			return true
		}
	}
	shared := false
	for _, x := range e.hist {
		if x.host == host {
			host, shared = x.host, true // share the string
			break
		}
	}
	if !shared {
		host = strings.Clone(host) // do not keep the event's buffer alive
	}
	e.hist = append(e.hist, binding{})
	copy(e.hist[i+2:], e.hist[i+1:])
	e.hist[i+1] = binding{host: host, start: ns, last: ns, until: until, claimed: claimed}
	if len(e.hist) > b.cfg.MaxHistory {
		drop := len(e.hist) - b.cfg.MaxHistory
		e.hist = append(e.hist[:0], e.hist[drop:]...)
	}
	if e.hist[0].host == "" {
		e.hist = e.hist[1:] // a leading release bounds nothing
		if len(e.hist) == 0 {
			b.remove(e)
		}
	}
	return true
}

// trim enforces MaxIPs and Retain from the cold end.
func (b *Bindings) trim() {
	for b.tail != nil {
		e := b.tail
		switch {
		case b.newest-e.end() > int64(b.cfg.Retain):
			b.expired++
		case len(b.byIP) > b.cfg.MaxIPs:
			b.evicted++
		default:
			return
		}
		b.remove(e)
	}
}

// end is when e's latest binding stops holding.
func (e *ipEntry) end() int64 {
	if len(e.hist) == 0 {
		return 0
	}
	l := e.hist[len(e.hist)-1]
	if l.host == "" {
		return l.start
	}
	return l.until
}

// HostAt returns the canonical host name that held ip at event time t, from the
// learned bindings only (see Resolver for the inventory's static addresses).
func (b *Bindings) HostAt(ip netip.Addr, t time.Time) (string, bool) {
	ip = ip.Unmap().WithZone("")
	ns := t.UnixNano()
	b.mu.RLock()
	defer b.mu.RUnlock()
	e := b.byIP[ip.As16()]
	if e == nil {
		return "", false
	}
	return e.at(ns)
}

func (e *ipEntry) at(ns int64) (string, bool) {
	for i := len(e.hist) - 1; i >= 0; i-- {
		x := e.hist[i]
		if x.start > ns {
			continue
		}
		if x.host == "" || ns > x.until {
			return "", false
		}
		return x.host, true
	}
	return "", false
}

// BindingsStats are counters for monitoring.
type BindingsStats struct {
	IPs       int    // addresses tracked
	Intervals int    // intervals over all addresses
	Evicted   uint64 // addresses evicted by MaxIPs
	Expired   uint64 // addresses forgotten by Retain
}

// Stats returns the current counters.
func (b *Bindings) Stats() BindingsStats {
	b.mu.RLock()
	defer b.mu.RUnlock()
	s := BindingsStats{IPs: len(b.byIP), Evicted: b.evicted, Expired: b.expired}
	for e := b.head; e != nil; e = e.next {
		s.Intervals += len(e.hist)
	}
	return s
}

func (b *Bindings) pushFront(e *ipEntry) {
	e.prev, e.next = nil, b.head
	if b.head != nil {
		b.head.prev = e
	}
	b.head = e
	if b.tail == nil {
		b.tail = e
	}
}

func (b *Bindings) unlink(e *ipEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		b.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		b.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (b *Bindings) moveFront(e *ipEntry) {
	if b.head == e {
		return
	}
	b.unlink(e)
	b.pushFront(e)
}

func (b *Bindings) remove(e *ipEntry) {
	b.unlink(e)
	delete(b.byIP, e.ip.As16())
}

// Snapshot format: magic, version, newest, evicted, expired, count, then per
// address from coldest to hottest: address (length-prefixed 4 or 16 bytes),
// interval count, per interval host (length-prefixed), start, last (varints),
// and from version 2 until (varint) and a flags byte (1: claimed). Version 1
// snapshots restore with until = last + the configured Lease, authoritative.
const (
	snapMagic   = "VGASSETB"
	snapVersion = 2
	maxHostLen  = 253
)

// Snapshot writes the learned bindings.
func (b *Bindings) Snapshot(w io.Writer) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	bw := bufio.NewWriter(w)
	buf := make([]byte, 0, 64)
	buf = append(buf, snapMagic...)
	buf = binary.AppendUvarint(buf, snapVersion)
	buf = binary.AppendVarint(buf, b.newest)
	buf = binary.AppendUvarint(buf, b.evicted)
	buf = binary.AppendUvarint(buf, b.expired)
	buf = binary.AppendUvarint(buf, uint64(len(b.byIP)))
	for e := b.tail; e != nil; e = e.prev {
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("writing asset bindings: %w", err)
		}
		a := e.ip.AsSlice()
		buf = append(buf[:0], byte(len(a)))
		buf = append(buf, a...)
		buf = binary.AppendUvarint(buf, uint64(len(e.hist)))
		for _, x := range e.hist {
			buf = binary.AppendUvarint(buf, uint64(len(x.host)))
			buf = append(buf, x.host...)
			buf = binary.AppendVarint(buf, x.start)
			buf = binary.AppendVarint(buf, x.last)
			buf = binary.AppendVarint(buf, x.until)
			var flags byte
			if x.claimed {
				flags = 1
			}
			buf = append(buf, flags)
		}
	}
	if _, err := bw.Write(buf); err != nil {
		return fmt.Errorf("writing asset bindings: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing asset bindings: %w", err)
	}
	return nil
}

var errSnapshot = errors.New("malformed asset bindings snapshot")

// Restore replaces the learned bindings with a snapshot's. The configuration
// stays this Bindings' own: a snapshot holding more addresses or intervals than
// it allows is refused. On error the bindings are left unchanged.
func (b *Bindings) Restore(r io.Reader) error {
	br := bufio.NewReader(r)
	magic := make([]byte, len(snapMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapMagic {
		return fmt.Errorf("restoring asset bindings: %w: no magic", errSnapshot)
	}
	fail := func(what string, err error) error {
		if err != nil {
			return fmt.Errorf("restoring asset bindings: reading %s: %w", what, err)
		}
		return fmt.Errorf("restoring asset bindings: %w: %s", errSnapshot, what)
	}
	v, err := binary.ReadUvarint(br)
	if err != nil {
		return fail("version", err)
	}
	if v != 1 && v != snapVersion {
		return fmt.Errorf("restoring asset bindings: version %d, want 1 or %d", v, snapVersion)
	}
	newest, err := binary.ReadVarint(br)
	if err != nil {
		return fail("newest time", err)
	}
	evicted, err := binary.ReadUvarint(br)
	if err != nil {
		return fail("eviction count", err)
	}
	expired, err := binary.ReadUvarint(br)
	if err != nil {
		return fail("expiry count", err)
	}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return fail("address count", err)
	}
	if n > uint64(b.cfg.MaxIPs) {
		return fail(fmt.Sprintf("%d addresses, more than MaxIPs %d", n, b.cfg.MaxIPs), nil)
	}
	nb := &Bindings{cfg: b.cfg, byIP: map[[16]byte]*ipEntry{}, newest: newest, evicted: evicted, expired: expired}
	var ab [16]byte
	var hb [maxHostLen]byte
	for k := uint64(0); k < n; k++ {
		l, err := br.ReadByte()
		if err != nil {
			return fail("address", err)
		}
		if l != 4 && l != 16 {
			return fail(fmt.Sprintf("address length %d", l), nil)
		}
		if _, err := io.ReadFull(br, ab[:l]); err != nil {
			return fail("address", err)
		}
		ip, _ := netip.AddrFromSlice(ab[:l])
		if ip.Unmap() != ip {
			return fail(fmt.Sprintf("address %s is v4-mapped", ip), nil)
		}
		if _, dup := nb.byIP[ip.As16()]; dup {
			return fail(fmt.Sprintf("address %s repeated", ip), nil)
		}
		m, err := binary.ReadUvarint(br)
		if err != nil {
			return fail("interval count", err)
		}
		if m == 0 || m > uint64(b.cfg.MaxHistory) {
			return fail(fmt.Sprintf("%s has %d intervals (1 to MaxHistory %d)", ip, m, b.cfg.MaxHistory), nil)
		}
		e := &ipEntry{ip: ip, hist: make([]binding, 0, m)}
		for j := uint64(0); j < m; j++ {
			hl, err := binary.ReadUvarint(br)
			if err != nil {
				return fail("host", err)
			}
			if hl > maxHostLen {
				return fail(fmt.Sprintf("host length %d", hl), nil)
			}
			if _, err := io.ReadFull(br, hb[:hl]); err != nil {
				return fail("host", err)
			}
			host := string(hb[:hl])
			if host != "" {
				for _, x := range e.hist {
					if x.host == host {
						host = x.host
						break
					}
				}
			}
			if host != "" && event.CanonicalHost(host).FQDN != host {
				return fail(fmt.Sprintf("host %q is not canonical", host), nil)
			}
			start, err := binary.ReadVarint(br)
			if err != nil {
				return fail("interval start", err)
			}
			last, err := binary.ReadVarint(br)
			if err != nil {
				return fail("interval end", err)
			}
			if last < start || (j > 0 && start < e.hist[j-1].start) || (j == 0 && host == "") {
				return fail(fmt.Sprintf("%s interval %d out of order or leading release", ip, j), nil)
			}
			x := binding{host: host, start: start, last: last, until: start}
			switch {
			case v == 1 && host != "":
				x.until = satAdd(last, int64(b.cfg.Lease))
			case v >= 2:
				if x.until, err = binary.ReadVarint(br); err != nil {
					return fail("interval until", err)
				}
				flags, err := br.ReadByte()
				if err != nil {
					return fail("interval flags", err)
				}
				if flags > 1 || (host == "" && (x.until != start || flags != 0)) || (host != "" && x.until < last) {
					return fail(fmt.Sprintf("%s interval %d: until %d or flags %d inconsistent", ip, j, x.until, flags), nil)
				}
				x.claimed = flags == 1
			}
			e.hist = append(e.hist, x)
		}
		nb.byIP[ip.As16()] = e
		nb.pushFront(e)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		return fail("trailing bytes", nil)
	}
	b.mu.Lock()
	b.byIP, b.head, b.tail, b.newest, b.evicted, b.expired = nb.byIP, nb.head, nb.tail, nb.newest, nb.evicted, nb.expired
	b.mu.Unlock()
	return nil
}
