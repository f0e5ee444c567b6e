package seasonal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Snapshot format: magic, version, then little-endian fields (see Snapshot).
const (
	snapMagic   = "VGSEASNL"
	snapVersion = 1
)

type enc struct {
	w   *bufio.Writer
	err error
	b   [8]byte
}

func (e *enc) u8(x uint8) {
	if e.err == nil {
		e.err = e.w.WriteByte(x)
	}
}
func (e *enc) u16(x uint16) {
	binary.LittleEndian.PutUint16(e.b[:], x)
	e.raw(e.b[:2])
}
func (e *enc) u32(x uint32) {
	binary.LittleEndian.PutUint32(e.b[:], x)
	e.raw(e.b[:4])
}
func (e *enc) u64(x uint64) {
	binary.LittleEndian.PutUint64(e.b[:], x)
	e.raw(e.b[:8])
}
func (e *enc) i32(x int32)   { e.u32(uint32(x)) }
func (e *enc) f32(x float32) { e.u32(math.Float32bits(x)) }
func (e *enc) f64(x float64) { e.u64(math.Float64bits(x)) }
func (e *enc) raw(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}
func (e *enc) str(s string) {
	e.u32(uint32(len(s)))
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}
func (e *enc) flag(b bool) {
	if b {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

// Snapshot writes all learned state (not the configuration, not queued
// findings: Drain first) to w.
func (m *Model) Snapshot(w io.Writer) error {
	if len(m.pending) > 0 {
		return fmt.Errorf("snapshotting seasonal state: %d findings not drained", len(m.pending))
	}
	e := &enc{w: bufio.NewWriter(w)}
	e.raw([]byte(snapMagic))
	e.u32(snapVersion)
	e.u32(uint32(len(m.cfg.Metrics)))
	for _, s := range m.cfg.Metrics {
		e.str(s.Name)
	}
	e.i32(m.clock)
	e.u64(m.stats.Events)
	e.u64(m.stats.Late)
	e.u64(m.stats.Findings)
	e.u64(m.vol.evicted)
	e.u64(m.prof.evicted)
	// Series, least recently seen first, so that Restore rebuilds the LRU
	// order by pushing each to the front.
	e.u32(uint32(m.vol.count))
	for i := m.vol.l.tail; i >= 0; i = m.vol.l.prev[i] {
		s := m.vol.slab.at(i)
		e.str(s.entity)
		e.u8(uint8(s.metric))
		e.u8(s.nEv)
		for _, x := range s.ev[:s.nEv] {
			e.str(x)
		}
		e.f64(s.curAmount)
		for _, g := range s.groups {
			e.f32(g.mu)
			e.f32(g.dev)
			e.f32(g.n)
		}
		for _, x := range [...]int32{s.first, s.cur, s.closed, s.lastSeen, s.normalUntil, s.flaggedHour} {
			e.i32(x)
		}
		e.f32(s.flaggedY)
		e.flag(s.lowRun)
		e.flag(s.flaggedOK)
		for k := range 168 {
			e.u16(s.mu[k])
			e.u16(s.dev[k])
			e.u8(s.n[k])
		}
	}
	e.u32(uint32(len(m.prof.index)))
	for i := m.prof.l.tail; i >= 0; i = m.prof.l.prev[i] {
		u := m.prof.slab.at(i)
		e.str(u.entity)
		for _, x := range [...]int32{u.first, u.lastHour, u.sessionEnd, u.normalUntil, u.flaggedHour, u.decayWeek} {
			e.i32(x)
		}
		e.u32(u.active)
		e.flag(u.flaggedOK)
		for k := range 168 {
			e.u16(u.cnt[k])
			e.u16(u.last[k])
		}
	}
	if e.err == nil {
		e.err = e.w.Flush()
	}
	if e.err != nil {
		return fmt.Errorf("snapshotting seasonal state: %w", e.err)
	}
	return nil
}

type dec struct {
	r   *bufio.Reader
	err error
	b   [8]byte
}

func (d *dec) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, a...)
	}
}

func (d *dec) fill(n int) []byte {
	if d.err != nil {
		return make([]byte, n)
	}
	if _, err := io.ReadFull(d.r, d.b[:n]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		d.err = err
	}
	return d.b[:n]
}

func (d *dec) u8() uint8   { return d.fill(1)[0] }
func (d *dec) u16() uint16 { return binary.LittleEndian.Uint16(d.fill(2)) }
func (d *dec) u32() uint32 { return binary.LittleEndian.Uint32(d.fill(4)) }
func (d *dec) u64() uint64 { return binary.LittleEndian.Uint64(d.fill(8)) }

// hour reads an hour since the epoch in [-1, maxHour].
func (d *dec) hour() int32 {
	x := int32(d.u32())
	if x < -1 || x > maxHour {
		d.fail("hour %d out of range", x)
		return 0
	}
	return x
}

// f reads a finite float >= 0 no larger than limit.
func (d *dec) f(bits int, limit float64) float64 {
	var x float64
	if bits == 32 {
		x = float64(math.Float32frombits(d.u32()))
	} else {
		x = math.Float64frombits(d.u64())
	}
	if !(x >= 0 && x <= limit) {
		d.fail("value %v outside [0, %v]", x, limit)
		return 0
	}
	return x
}

func (d *dec) flag() bool {
	switch d.u8() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("invalid flag")
	return false
}

func (d *dec) str(maxLen int) string {
	n := d.u32()
	if d.err != nil {
		return ""
	}
	if n == 0 || n > uint32(maxLen) {
		d.fail("string of %d bytes outside 1..%d", n, maxLen)
		return ""
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		d.fail("reading string: %w", io.ErrUnexpectedEOF)
		return ""
	}
	return string(b)
}

// Restore replaces the model's state with a snapshot written by Snapshot
// from a model with the same metrics. On error the model is left empty.
func (m *Model) Restore(r io.Reader) error {
	m.reset()
	if err := m.restore(r); err != nil {
		m.reset()
		return fmt.Errorf("restoring seasonal state: %w", err)
	}
	return nil
}

func (m *Model) reset() {
	cfg := m.cfg
	*m = Model{cfg: cfg, byName: m.byName}
	m.vol.init(&m.cfg)
	m.prof.init(&m.cfg)
}

func (m *Model) restore(r io.Reader) error {
	d := &dec{r: bufio.NewReader(r)}
	var magic [len(snapMagic)]byte
	if _, err := io.ReadFull(d.r, magic[:]); err != nil || string(magic[:]) != snapMagic {
		return errors.New("not a seasonal snapshot")
	}
	if v := d.u32(); d.err == nil && v != snapVersion {
		return fmt.Errorf("snapshot version %d, want %d", v, snapVersion)
	}
	nm := d.u32()
	if d.err == nil && nm != uint32(len(m.cfg.Metrics)) {
		return fmt.Errorf("snapshot has %d metrics, the model %d", nm, len(m.cfg.Metrics))
	}
	for i := 0; d.err == nil && i < int(nm); i++ {
		if s := d.str(MaxEntityLen); d.err == nil && s != m.cfg.Metrics[i].Name {
			return fmt.Errorf("snapshot metric %d is %q, the model's %q", i, s, m.cfg.Metrics[i].Name)
		}
	}
	m.clock = d.hour()
	m.stats.Events, m.stats.Late, m.stats.Findings = d.u64(), d.u64(), d.u64()
	ve, pe := d.u64(), d.u64()
	ns := d.u32()
	if d.err == nil && ns > uint32(m.cfg.MaxSeries) {
		return fmt.Errorf("snapshot has %d series, over the cap of %d", ns, m.cfg.MaxSeries)
	}
	v := &m.vol
	for i := 0; d.err == nil && i < int(ns); i++ {
		var s series
		s.entity = d.str(MaxEntityLen)
		s.metric = Metric(d.u8())
		if d.err == nil && int(s.metric) >= len(m.cfg.Metrics) {
			return fmt.Errorf("series %d: metric %d unknown", i, s.metric)
		}
		s.nEv = d.u8()
		if s.nEv > MaxEvidence {
			return fmt.Errorf("series %d: %d evidence ids", i, s.nEv)
		}
		for k := range s.ev[:s.nEv] {
			s.ev[k] = d.str(MaxEvidenceID)
		}
		s.curAmount = d.f(64, 1e300)
		for g := range s.groups {
			s.groups[g] = stat{float32(d.f(32, 64)), float32(d.f(32, 64)), float32(d.f(32, 1e9))}
		}
		for _, p := range [...]*int32{&s.first, &s.cur, &s.closed, &s.lastSeen, &s.normalUntil, &s.flaggedHour} {
			*p = d.hour()
		}
		if d.err == nil && (s.first < 0 || s.cur < s.first || s.lastSeen < s.cur || s.closed < s.cur-1 || s.closed >= m.clock || s.lastSeen > m.clock) {
			return fmt.Errorf("series %d: inconsistent hours", i)
		}
		s.flaggedY = float32(d.f(32, 1000))
		s.lowRun, s.flaggedOK = d.flag(), d.flag()
		for k := range 168 {
			s.mu[k], s.dev[k], s.n[k] = d.u16(), d.u16(), d.u8()
		}
		if d.err != nil {
			break
		}
		k := skey{s.entity, s.metric}
		if _, dup := v.index[k.m][k.e]; dup {
			return fmt.Errorf("series %d: duplicate %q/%d", i, s.entity, s.metric)
		}
		idx := v.slab.push()
		*v.slab.at(idx) = s
		v.l.grow()
		v.l.pushFront(idx)
		v.index[k.m][k.e] = idx
		v.count++
	}
	np := d.u32()
	if d.err == nil && np > uint32(m.cfg.MaxProfiles) {
		return fmt.Errorf("snapshot has %d profiles, over the cap of %d", np, m.cfg.MaxProfiles)
	}
	p := &m.prof
	for i := 0; d.err == nil && i < int(np); i++ {
		var u profile
		u.entity = d.str(MaxEntityLen)
		for _, x := range [...]*int32{&u.first, &u.lastHour, &u.sessionEnd, &u.normalUntil, &u.flaggedHour, &u.decayWeek} {
			*x = d.hour()
		}
		if d.err == nil && (u.first < 0 || u.lastHour < u.first-1 || u.lastHour > m.clock) {
			return fmt.Errorf("profile %d: inconsistent hours", i)
		}
		u.active = d.u32()
		u.flaggedOK = d.flag()
		for k := range 168 {
			u.cnt[k], u.last[k] = d.u16(), d.u16()
		}
		if d.err != nil {
			break
		}
		if _, dup := p.index[u.entity]; dup {
			return fmt.Errorf("profile %d: duplicate %q", i, u.entity)
		}
		idx := p.slab.push()
		*p.slab.at(idx) = u
		p.l.grow()
		p.l.pushFront(idx)
		p.index[u.entity] = idx
	}
	if d.err != nil {
		return d.err
	}
	if _, err := d.r.ReadByte(); !errors.Is(err, io.EOF) {
		return errors.New("trailing bytes after the snapshot")
	}
	v.evicted, p.evicted = ve, pe
	return nil
}
