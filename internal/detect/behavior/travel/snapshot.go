package travel

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strings"
)

// snapshotMagic starts a snapshot; the byte after it is the format version.
const (
	snapshotMagic   = "VIGIL-TRAVEL"
	snapshotVersion = 1
	maxString       = 4096 // longest string a snapshot may hold
)

// Snapshot writes the learned state (users, their places and dedup marks, and the
// MarkNormal feedback) in a versioned binary format, users in name order.
func (m *Model) Snapshot(w io.Writer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := &enc{w: bufio.NewWriter(w)}
	e.raw([]byte(snapshotMagic))
	e.raw([]byte{snapshotVersion})
	names := make([]string, 0, len(m.users))
	for n := range m.users {
		names = append(names, n)
	}
	slices.Sort(names)
	e.uvarint(uint64(len(names)))
	for _, n := range names {
		u := m.users[n]
		e.str(n)
		e.varint(u.last)
		e.uvarint(u.flagPair)
		e.varint(u.flagAt)
		e.addr(u.anonIP)
		e.varint(u.anonAt)
		e.uvarint(uint64(len(u.places)))
		for i := range u.places {
			p := &u.places[i]
			e.varint(p.t)
			e.uvarint(math.Float64bits(p.lat))
			e.uvarint(math.Float64bits(p.lon))
			e.uvarint(uint64(p.radius))
			e.uvarint(uint64(p.asn))
			e.addr(p.ip)
			for _, s := range []string{p.country, p.countryName, p.city, p.asOrg, p.eventID, p.source} {
				e.str(s)
			}
		}
	}
	users := make([]string, 0, len(m.normal))
	for n := range m.normal {
		users = append(users, n)
	}
	slices.Sort(users)
	e.uvarint(uint64(len(users)))
	for _, n := range users {
		e.str(n)
		e.uvarint(uint64(len(m.normal[n])))
		for _, v := range m.normal[n] {
			e.str(v)
		}
	}
	if e.err == nil {
		e.err = e.w.Flush()
	}
	if e.err != nil {
		return fmt.Errorf("writing travel snapshot: %w", e.err)
	}
	return nil
}

// Restore replaces the learned state with a snapshot's. The snapshot must fit the
// model's configuration (users, places per user); on error the state is unchanged.
func (m *Model) Restore(r io.Reader) error {
	users, normal, err := m.read(bufio.NewReader(r))
	if err != nil {
		return fmt.Errorf("restoring travel state: %w", err)
	}
	m.mu.Lock()
	m.users, m.normal = users, normal
	m.mu.Unlock()
	return nil
}

func (m *Model) read(br *bufio.Reader) (map[string]*user, map[string][]string, error) {
	d := &dec{r: br}
	magic := d.bytes(len(snapshotMagic) + 1)
	if d.err != nil {
		return nil, nil, d.err
	}
	if string(magic[:len(snapshotMagic)]) != snapshotMagic {
		return nil, nil, errors.New("not a travel snapshot")
	}
	if v := magic[len(snapshotMagic)]; v != snapshotVersion {
		return nil, nil, fmt.Errorf("snapshot version %d, want %d", v, snapshotVersion)
	}
	n := d.count(uint64(m.cfg.MaxUsers), "users")
	users := map[string]*user{}
	prev := ""
	for i := uint64(0); i < n && d.err == nil; i++ {
		name := d.str()
		if d.err == nil && (name == "" || i > 0 && name <= prev) {
			return nil, nil, fmt.Errorf("user %q out of order or empty", name)
		}
		prev = name
		u := &user{last: d.varint(), flagPair: d.uvarint(), flagAt: d.varint(), anonIP: d.addr(), anonAt: d.varint()}
		np := d.count(uint64(m.cfg.Locations), "places")
		for range np {
			if d.err != nil {
				break
			}
			p := place{t: d.varint(), lat: math.Float64frombits(d.uvarint()), lon: math.Float64frombits(d.uvarint())}
			radius, asn := d.uvarint(), d.uvarint()
			if d.err == nil && (radius > 20040 || asn > math.MaxUint32) {
				return nil, nil, fmt.Errorf("user %q: radius %d or ASN %d out of range", name, radius, asn)
			}
			if d.err == nil && (math.IsNaN(p.lat) || math.IsNaN(p.lon) || math.Abs(p.lat) > 90 || math.Abs(p.lon) > 180) {
				return nil, nil, fmt.Errorf("user %q: coordinates %v, %v out of range", name, p.lat, p.lon)
			}
			p.radius, p.asn = int32(radius), uint32(asn)
			p.ip = d.addr()
			p.country, p.countryName, p.city, p.asOrg, p.eventID, p.source = d.str(), d.str(), d.str(), d.str(), d.str(), d.str()
			p.key = placeKey(&p)
			if d.err == nil && slices.ContainsFunc(u.places, func(q place) bool { return q.key == p.key }) {
				return nil, nil, fmt.Errorf("user %q: place %s twice", name, p.name())
			}
			u.places = append(u.places, p)
		}
		users[name] = u
	}
	nn := d.count(maxNormalUsers, "feedback users")
	normal := map[string][]string{}
	for i := uint64(0); i < nn && d.err == nil; i++ {
		name := d.str()
		if _, dup := normal[name]; dup && d.err == nil {
			return nil, nil, fmt.Errorf("feedback for %q twice", name)
		}
		k := d.count(maxNormalPerUser, "feedback entries")
		var list []string
		for range k {
			v := d.str()
			if d.err != nil {
				break
			}
			if key, err := normalKey(v); err != nil || key != v {
				return nil, nil, fmt.Errorf("feedback %q for %q: not canonical", v, name)
			}
			list = append(list, v)
		}
		if d.err == nil && (len(list) == 0 || !slices.IsSorted(list) || len(slices.Compact(slices.Clone(list))) != len(list)) {
			return nil, nil, fmt.Errorf("feedback for %q: empty, unsorted or repeated", name)
		}
		normal[name] = list
	}
	if d.err != nil {
		return nil, nil, d.err
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		return nil, nil, errors.New("trailing bytes after the snapshot")
	}
	return users, normal, nil
}

// enc writes snapshot fields, keeping the first error.
type enc struct {
	w   *bufio.Writer
	err error
	buf [binary.MaxVarintLen64]byte
}

func (e *enc) raw(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}
func (e *enc) uvarint(v uint64) { e.raw(e.buf[:binary.PutUvarint(e.buf[:], v)]) }
func (e *enc) varint(v int64)   { e.raw(e.buf[:binary.PutVarint(e.buf[:], v)]) }
func (e *enc) str(s string) {
	if len(s) > maxString {
		s = s[:maxString]
		s = strings.ToValidUTF8(s, "")
	}
	e.uvarint(uint64(len(s)))
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

// addr writes an address as its length (0, 4 or 16) and bytes.
func (e *enc) addr(a netip.Addr) {
	b := a.AsSlice()
	e.uvarint(uint64(len(b)))
	e.raw(b)
}

// dec reads snapshot fields, keeping the first error; after one, reads return
// zero values.
type dec struct {
	r   *bufio.Reader
	err error
}

func (d *dec) fail(err error) {
	if d.err == nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		d.err = err
	}
}

func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d.r)
	if err != nil {
		d.fail(fmt.Errorf("reading a number: %w", err))
	}
	return v
}

func (d *dec) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(d.r)
	if err != nil {
		d.fail(fmt.Errorf("reading a number: %w", err))
	}
	return v
}

// count reads a length and checks it against limit before anything is allocated.
func (d *dec) count(limit uint64, what string) uint64 {
	n := d.uvarint()
	if d.err == nil && n > limit {
		d.fail(fmt.Errorf("%d %s, at most %d", n, what, limit))
		return 0
	}
	return n
}

// bytes reads n bytes; n is bounded by the callers.
func (d *dec) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		d.fail(fmt.Errorf("reading %d bytes: %w", n, err))
		return nil
	}
	return b
}

func (d *dec) str() string {
	n := d.count(maxString, "bytes of string")
	return string(d.bytes(int(n)))
}

func (d *dec) addr() netip.Addr {
	n := d.uvarint()
	if d.err != nil {
		return netip.Addr{}
	}
	switch n {
	case 0:
		return netip.Addr{}
	case 4, 16:
		a, _ := netip.AddrFromSlice(d.bytes(int(n)))
		return a
	}
	d.fail(fmt.Errorf("address of %d bytes", n))
	return netip.Addr{}
}
