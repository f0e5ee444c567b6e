package c2

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

// Snapshot format: "VC2S", a version byte, then the tracker's time span, the
// pairs, open connections, user agents and HTTP pairs, each table as a count and
// its entries in key order (so equal trackers give equal bytes). Integers are
// little endian; strings a uint16 length (at most 512) and bytes; addresses a
// length byte (0, 4 or 16) and bytes. The prevalence counts are rebuilt from
// the pairs.
const (
	snapMagic   = "VC2S"
	snapVersion = 1
)

// Snapshot writes all learned state to w.
func (t *Tracker) Snapshot(w io.Writer) error {
	e := &enc{w: bufio.NewWriter(w)}
	e.bytes([]byte(snapMagic))
	e.u8(snapVersion)
	e.i64(t.first)
	e.i64(t.last)

	pk := make([]pairKey, 0, len(t.pairs))
	for k := range t.pairs {
		pk = append(pk, k)
	}
	slices.SortFunc(pk, cmpPairKey)
	e.u32(uint32(len(pk)))
	for _, k := range pk {
		p := t.pairs[k]
		e.key(k)
		e.u16(p.port)
		e.str(p.proto)
		e.i64(p.first)
		e.i64(p.last)
		e.u64(p.total)
		e.i64(p.base)
		e.u32(uint32(len(p.ts)))
		for i := range p.ts {
			e.u32(p.ts[i])
			e.u32(p.bytes[i])
		}
		e.u32(uint32(p.head))
		for _, b := range p.buckets {
			e.i64(b.hour)
			e.u32(b.conns)
			e.u32(b.dur)
		}
		e.i64(p.maxDur)
		e.u16(p.durPort)
		e.evidence(p.ev, p.evHead)
	}

	ids := make([]string, 0, len(t.open))
	for id := range t.open {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	e.u32(uint32(len(ids)))
	for _, id := range ids {
		o := t.open[id]
		e.str(id)
		e.key(o.key)
		e.u16(o.port)
		e.i64(o.start)
		e.i64(o.dur)
		e.i64(o.seen)
		e.str(o.id)
	}

	uas := make([]string, 0, len(t.uas))
	for ua := range t.uas {
		uas = append(uas, ua)
	}
	slices.Sort(uas)
	e.u32(uint32(len(uas)))
	for _, ua := range uas {
		u := t.uas[ua]
		e.str(ua)
		e.u32(uint32(len(u.hosts)))
		for _, h := range u.hosts {
			e.addr(h)
		}
		e.bool(u.moreHosts)
		e.u64(u.requests)
		e.u64(u.blankHost)
		e.i64(u.first)
		e.i64(u.last)
		e.evidence(u.ev, u.evHead)
	}

	hk := make([]pairKey, 0, len(t.hpairs))
	for k := range t.hpairs {
		hk = append(hk, k)
	}
	slices.SortFunc(hk, cmpPairKey)
	e.u32(uint32(len(hk)))
	for _, k := range hk {
		h := t.hpairs[k]
		e.addr(k.src)
		e.addr(k.dst)
		e.u64(h.requests)
		e.u64(h.blankHost)
		e.i64(h.last)
	}
	if e.err == nil {
		e.err = e.w.Flush()
	}
	if e.err != nil {
		return fmt.Errorf("writing c2 snapshot: %w", e.err)
	}
	return nil
}

// Restore replaces the tracker's state with a snapshot read from r. The
// snapshot must fit the tracker's caps. On error the tracker is unchanged.
func (t *Tracker) Restore(r io.Reader) error {
	n, err := t.restore(&dec{r: bufio.NewReader(r)})
	if err != nil {
		return fmt.Errorf("restoring c2 state: %w", err)
	}
	*t = *n
	return nil
}

var errSnapshot = errors.New("malformed snapshot")

func bad(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errSnapshot, fmt.Sprintf(format, a...))
}

func validTime(s int64) bool { return s >= 0 && s < maxTime.Unix() }

func (t *Tracker) restore(d *dec) (*Tracker, error) {
	magic := make([]byte, len(snapMagic))
	d.full(magic)
	if d.err == nil && string(magic) != snapMagic {
		return nil, bad("not a c2 snapshot")
	}
	if v := d.u8(); d.err == nil && v != snapVersion {
		return nil, bad("version %d, want %d", v, snapVersion)
	}
	n := &Tracker{cfg: t.cfg}
	n.reset()
	n.first, n.last = d.i64(), d.i64()
	if d.err == nil && (!validTime(n.first) || !validTime(n.last)) {
		return nil, bad("time span %d..%d", n.first, n.last)
	}

	count, err := d.count(t.cfg.MaxPairs, "pairs")
	if err != nil {
		return nil, err
	}
	for range count {
		p := &pair{key: d.key()}
		p.port = d.u16()
		p.proto = internProto(d.str())
		p.first, p.last, p.total, p.base = d.i64(), d.i64(), d.u64(), d.i64()
		ns, err := d.count(t.cfg.MaxSamples, "samples")
		if err != nil {
			return nil, err
		}
		for range ns {
			p.ts = append(p.ts, d.u32())
			p.bytes = append(p.bytes, d.u32())
		}
		p.head = int(d.u32())
		for i := range p.buckets {
			p.buckets[i] = bucket{hour: d.i64(), conns: d.u32(), dur: d.u32()}
		}
		p.maxDur, p.durPort = d.i64(), d.u16()
		p.ev, p.evHead = d.evidence()
		if d.err != nil {
			return nil, d.err
		}
		if err := p.validate(t.cfg.MaxSamples); err != nil {
			return nil, err
		}
		if n.pairs[p.key] != nil {
			return nil, bad("duplicate pair")
		}
		n.pairs[p.key] = p
		n.countPair(p.key, 1)
	}

	if count, err = d.count(t.cfg.MaxOpen, "open connections"); err != nil {
		return nil, err
	}
	for range count {
		id := d.str()
		o := &openConn{key: d.key(), port: d.u16(), start: d.i64(), dur: d.i64(), seen: d.i64(), id: d.str()}
		if d.err != nil {
			return nil, d.err
		}
		if id == "" || !o.key.valid() || o.key.fqdn != "" || !validTime(o.start) || o.dur < 0 || !validTime(o.seen) || n.open[id] != nil {
			return nil, bad("open connection %q", id)
		}
		n.open[id] = o
	}

	if count, err = d.count(t.cfg.MaxUserAgents, "user agents"); err != nil {
		return nil, err
	}
	for range count {
		u := &userAgent{ua: d.str()}
		nh, err := d.count(t.cfg.MaxUAHosts, "user agent hosts")
		if err != nil {
			return nil, err
		}
		for range nh {
			u.hosts = append(u.hosts, d.addr())
		}
		u.moreHosts = d.bool()
		u.requests, u.blankHost, u.first, u.last = d.u64(), d.u64(), d.i64(), d.i64()
		u.ev, u.evHead = d.evidence()
		if d.err != nil {
			return nil, d.err
		}
		sorted := slices.IsSortedFunc(u.hosts, netip.Addr.Compare) && len(slices.CompactFunc(slices.Clone(u.hosts), func(a, b netip.Addr) bool { return a == b })) == len(u.hosts)
		if !sorted || slices.ContainsFunc(u.hosts, func(a netip.Addr) bool { return !a.IsValid() }) ||
			u.blankHost > u.requests || u.requests == 0 || !validTime(u.first) || !validTime(u.last) || u.first > u.last || n.uas[u.ua] != nil {
			return nil, bad("user agent %q", u.ua)
		}
		n.uas[u.ua] = u
	}

	if count, err = d.count(t.cfg.MaxHTTPPairs, "http pairs"); err != nil {
		return nil, err
	}
	for range count {
		k := pairKey{src: d.addr(), dst: d.addr()}
		h := &httpPair{requests: d.u64(), blankHost: d.u64(), last: d.i64()}
		if d.err != nil {
			return nil, d.err
		}
		if !k.valid() || h.blankHost > h.requests || !validTime(h.last) || n.hpairs[k] != nil {
			return nil, bad("http pair")
		}
		n.hpairs[k] = h
	}
	if d.err != nil {
		return nil, d.err
	}
	var extra [1]byte
	if _, err := d.r.Read(extra[:]); !errors.Is(err, io.EOF) {
		return nil, bad("trailing data")
	}
	return n, nil
}

func (k pairKey) valid() bool {
	return k.src.IsValid() && k.src.Zone() == "" && k.dst.Zone() == "" && (k.dst.IsValid() != (k.fqdn != "")) &&
		k.fqdn == strings.ToLower(k.fqdn)
}

func (p *pair) validate(maxSamples int) error {
	switch {
	case !p.key.valid():
		return bad("pair key")
	case !validTime(p.first) || !validTime(p.last) || !validTime(p.base) || p.base > p.first && p.total > 0:
		return bad("pair times")
	case len(p.ts) == maxSamples && p.head >= len(p.ts), len(p.ts) < maxSamples && p.head != 0:
		return bad("sample ring head %d of %d", p.head, len(p.ts))
	case p.total < uint64(len(p.ts)):
		return bad("pair total %d below %d samples", p.total, len(p.ts))
	case p.maxDur < 0 || p.maxDur > math.MaxUint32:
		return bad("pair duration")
	}
	for i, b := range p.buckets {
		if b.hour < 0 || b.hour > maxTime.Unix()/3600 || (uint64(b.hour)%hours != uint64(i) && (b.hour != 0 || b.conns != 0 || b.dur != 0)) {
			return bad("bucket %d hour %d", i, b.hour)
		}
	}
	return nil
}

type enc struct {
	w   *bufio.Writer
	err error
	buf [8]byte
}

func (e *enc) bytes(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}
func (e *enc) u8(v uint8) { e.bytes([]byte{v}) }
func (e *enc) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}
func (e *enc) u16(v uint16) { e.bytes(binary.LittleEndian.AppendUint16(e.buf[:0], v)) }
func (e *enc) u32(v uint32) { e.bytes(binary.LittleEndian.AppendUint32(e.buf[:0], v)) }
func (e *enc) u64(v uint64) { e.bytes(binary.LittleEndian.AppendUint64(e.buf[:0], v)) }
func (e *enc) i64(v int64)  { e.u64(uint64(v)) }
func (e *enc) str(s string) {
	s = s[:min(len(s), maxStrLen)]
	e.u16(uint16(len(s)))
	e.bytes([]byte(s))
}
func (e *enc) addr(a netip.Addr) {
	b := a.AsSlice()
	e.u8(uint8(len(b)))
	e.bytes(b)
}
func (e *enc) key(k pairKey) {
	e.addr(k.src)
	e.addr(k.dst)
	e.str(k.fqdn)
}
func (e *enc) evidence(ev []string, head int) {
	e.u8(uint8(len(ev)))
	for _, s := range ev {
		e.str(s)
	}
	e.u8(uint8(head))
}

type dec struct {
	r   *bufio.Reader
	err error
	buf [16]byte
}

func (d *dec) full(b []byte) {
	if d.err != nil {
		return
	}
	if _, err := io.ReadFull(d.r, b); err != nil {
		d.err = bad("truncated: %v", err)
		clear(b)
	}
}
func (d *dec) u8() uint8 {
	d.full(d.buf[:1])
	return d.buf[0]
}
func (d *dec) bool() bool {
	v := d.u8()
	if v > 1 && d.err == nil {
		d.err = bad("boolean %d", v)
	}
	return v == 1
}
func (d *dec) u16() uint16 { d.full(d.buf[:2]); return binary.LittleEndian.Uint16(d.buf[:2]) }
func (d *dec) u32() uint32 { d.full(d.buf[:4]); return binary.LittleEndian.Uint32(d.buf[:4]) }
func (d *dec) u64() uint64 { d.full(d.buf[:8]); return binary.LittleEndian.Uint64(d.buf[:8]) }
func (d *dec) i64() int64  { return int64(d.u64()) }

// count reads a table length and checks it against the cap before anything is
// allocated for it.
func (d *dec) count(limit int, what string) (int, error) {
	n := d.u32()
	if d.err != nil {
		return 0, d.err
	}
	if uint64(n) > uint64(limit) {
		return 0, bad("%d %s above the cap %d", n, what, limit)
	}
	return int(n), nil
}

func (d *dec) str() string {
	n := d.u16()
	if d.err != nil {
		return ""
	}
	if n > maxStrLen {
		d.err = bad("string of %d bytes", n)
		return ""
	}
	b := make([]byte, n)
	d.full(b)
	return string(b)
}

func (d *dec) addr() netip.Addr {
	n := d.u8()
	switch {
	case d.err != nil:
		return netip.Addr{}
	case n == 0:
		return netip.Addr{}
	case n == 4:
		d.full(d.buf[:4])
		return netip.AddrFrom4([4]byte(d.buf[:4]))
	case n == 16:
		d.full(d.buf[:16])
		a := netip.AddrFrom16(d.buf)
		if a.Is4In6() {
			d.err = bad("mapped address")
		}
		return a
	}
	d.err = bad("address of %d bytes", n)
	return netip.Addr{}
}

func (d *dec) key() pairKey {
	return pairKey{src: d.addr(), dst: d.addr(), fqdn: d.str()}
}

func (d *dec) evidence() ([]string, int) {
	n := int(d.u8())
	if d.err == nil && n > evidenceN {
		d.err = bad("%d evidence ids", n)
	}
	if d.err != nil {
		return nil, 0
	}
	var ev []string
	for range n {
		ev = append(ev, d.str())
	}
	head := int(d.u8())
	if d.err == nil && ((n < evidenceN && head != 0) || (n == evidenceN && head >= n)) {
		d.err = bad("evidence head %d of %d", head, n)
	}
	return ev, head
}
