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

// binding is one interval: host held the address from start, renewed at last.
// host "" is a release.
type binding struct {
	host        string
	start, last int64 // unix nanoseconds, event time
}

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
	if !Bindable(ip) {
		return
	}
	h := event.CanonicalHost(host)
	if h.FQDN == "" || event.ParseIP(h.FQDN).IsValid() {
		return
	}
	b.observe(t, ip, h.FQDN)
}

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
		b.observe(t, ip, "")
	}
}

func (b *Bindings) observe(t time.Time, ip netip.Addr, host string) {
	if !ip.IsValid() || t.IsZero() {
		return
	}
	ip = ip.Unmap().WithZone("")
	ns := t.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	if ns > b.newest {
		b.newest = ns
	}
	e := b.byIP[ip.As16()]
	if e == nil {
		if host == "" {
			return // releasing what was never bound changes nothing
		}
		e = &ipEntry{ip: ip}
		b.byIP[ip.As16()] = e
		b.pushFront(e)
	} else {
		b.moveFront(e)
	}
	b.record(e, ns, host)
	b.trim()
}

// record merges one observation into e's history.
func (b *Bindings) record(e *ipEntry, ns int64, host string) {
	lease := int64(b.cfg.Lease)
	// i: the last interval starting at or before ns.
	i := len(e.hist) - 1
	for i >= 0 && e.hist[i].start > ns {
		i--
	}
	if i >= 0 {
		cur := &e.hist[i]
		if cur.host == host && (host == "" || ns-cur.last <= lease) {
			if ns > cur.last {
				cur.last = ns
			}
			return
		}
	}
	if i+1 < len(e.hist) {
		nx := &e.hist[i+1]
		if nx.host == host && nx.start-ns <= lease {
			nx.start = ns // an earlier observation of the following interval
			return
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
	e.hist[i+1] = binding{host: host, start: ns, last: ns}
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
}

// trim enforces MaxIPs and Retain from the cold end.
func (b *Bindings) trim() {
	for b.tail != nil {
		e := b.tail
		switch {
		case b.newest-e.end(int64(b.cfg.Lease)) > int64(b.cfg.Retain):
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
func (e *ipEntry) end(lease int64) int64 {
	if len(e.hist) == 0 {
		return 0
	}
	l := e.hist[len(e.hist)-1]
	if l.host == "" {
		return l.start
	}
	return l.last + lease
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
	return e.at(ns, int64(b.cfg.Lease))
}

func (e *ipEntry) at(ns, lease int64) (string, bool) {
	for i := len(e.hist) - 1; i >= 0; i-- {
		x := e.hist[i]
		if x.start > ns {
			continue
		}
		if x.host == "" || ns-x.last > lease {
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
// interval count, per interval host (length-prefixed), start, last (varints).
const (
	snapMagic   = "VGASSETB"
	snapVersion = 1
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
	if v != snapVersion {
		return fmt.Errorf("restoring asset bindings: version %d, want %d", v, snapVersion)
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
			e.hist = append(e.hist, binding{host: host, start: start, last: last})
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
