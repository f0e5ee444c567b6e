package risk

import (
	"bufio"
	"container/list"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/vigilsec/vigil/internal/detect"
)

// Snapshot format, version 1 (all integers varint/uvarint, floats as 8-byte
// little-endian IEEE bits, strings as uvarint length + bytes):
//
//	"VRSK" version
//	added evicted expired replaced dropped, rejected-count {reason count}
//	entity-count {kind value criticality privileged last rule-count
//	              {id tactic severity peak at base first last count}}
//
// Entities are written least recently touched first, so Restore rebuilds the
// eviction order exactly. Configuration is not stored: restore into a scorer
// built with the same Config (limits are checked against the receiving one).
const (
	snapMagic   = "VRSK"
	snapVersion = 1
)

// Snapshot writes all learned state.
func (s *Scorer) Snapshot(w io.Writer) error {
	bw := bufio.NewWriter(w)
	var buf []byte
	u := func(v uint64) { buf = binary.AppendUvarint(buf, v) }
	i := func(v int64) { buf = binary.AppendVarint(buf, v) }
	f := func(v float64) { buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v)) }
	str := func(v string) { u(uint64(len(v))); buf = append(buf, v...) }
	flush := func() error {
		_, err := bw.Write(buf)
		buf = buf[:0]
		return err
	}
	buf = append(buf, snapMagic...)
	u(snapVersion)
	u(s.stats.Added)
	u(s.stats.Evicted)
	u(s.stats.Expired)
	u(s.stats.Replaced)
	u(s.stats.Dropped)
	reasons := make([]string, 0, len(s.stats.Rejected))
	for k := range s.stats.Rejected {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	u(uint64(len(reasons)))
	for _, k := range reasons {
		str(k)
		u(s.stats.Rejected[k])
	}
	u(uint64(len(s.entities)))
	for el := s.lru.Back(); el != nil; el = el.Prev() {
		e := el.Value.(*entityState)
		str(string(e.key.Kind))
		str(e.key.Value)
		u(uint64(e.criticality))
		if e.privileged {
			u(1)
		} else {
			u(0)
		}
		i(e.last)
		u(uint64(len(e.rules)))
		for _, r := range e.rules {
			str(r.id)
			str(r.tactic)
			u(uint64(r.severity))
			f(r.peak)
			i(r.at)
			f(r.base)
			i(r.first)
			i(r.last)
			u(uint64(r.count))
		}
		if err := flush(); err != nil {
			return fmt.Errorf("writing risk snapshot: %w", err)
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("writing risk snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing risk snapshot: %w", err)
	}
	return nil
}

type snapReader struct {
	r   *bufio.Reader
	err error
}

func (d *snapReader) u() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d.r)
	d.err = err
	return v
}

func (d *snapReader) i() int64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(d.r)
	d.err = err
	return v
}

func (d *snapReader) f() float64 {
	if d.err != nil {
		return 0
	}
	var b [8]byte
	_, d.err = io.ReadFull(d.r, b[:])
	return math.Float64frombits(binary.LittleEndian.Uint64(b[:]))
}

func (d *snapReader) str(what string) string {
	n := d.u()
	if d.err != nil {
		return ""
	}
	if n > maxStringLen {
		d.err = fmt.Errorf("%s length %d over %d", what, n, maxStringLen)
		return ""
	}
	b := make([]byte, n)
	_, d.err = io.ReadFull(d.r, b)
	return string(b)
}

func (d *snapReader) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, a...)
	}
}

// Restore replaces the scorer's state with a snapshot. On error the scorer is
// left unchanged. Lengths are checked against this scorer's limits before
// anything is allocated.
func (s *Scorer) Restore(r io.Reader) error {
	d := &snapReader{r: bufio.NewReader(r)}
	var magic [4]byte
	if _, err := io.ReadFull(d.r, magic[:]); err != nil {
		return fmt.Errorf("restoring risk state: reading magic: %w", err)
	}
	if string(magic[:]) != snapMagic {
		return fmt.Errorf("restoring risk state: not a risk snapshot (magic %q)", magic[:])
	}
	if v := d.u(); d.err == nil && v != snapVersion {
		return fmt.Errorf("restoring risk state: version %d, want %d", v, snapVersion)
	}
	var st Stats
	st.Added, st.Evicted, st.Expired, st.Replaced, st.Dropped = d.u(), d.u(), d.u(), d.u(), d.u()
	st.Rejected = map[string]uint64{}
	nr := d.u()
	if nr > 64 {
		d.fail("%d reject reasons", nr)
	}
	for k := uint64(0); k < nr && d.err == nil; k++ {
		st.Rejected[d.str("reason")] = d.u()
	}
	ne := d.u()
	if d.err == nil && ne > uint64(s.cfg.MaxEntities) {
		d.fail("%d entities over the cap %d", ne, s.cfg.MaxEntities)
	}
	entities := map[detect.Entity]*entityState{}
	lru := list.New()
	for k := uint64(0); k < ne && d.err == nil; k++ {
		e := &entityState{}
		e.key.Kind = detect.EntityKind(d.str("entity kind"))
		e.key.Value = d.str("entity value")
		crit, priv := d.u(), d.u()
		e.last = d.i()
		if crit > uint64(CriticalityExtreme) || priv > 1 {
			d.fail("entity %d: criticality %d or privileged %d out of range", k, crit, priv)
		}
		if d.err == nil && (e.key.Kind == "" || e.key.Value == "") {
			d.fail("entity %d: empty kind or value", k)
		}
		if _, dup := entities[e.key]; dup && d.err == nil {
			d.fail("entity %d: duplicate %s:%s", k, e.key.Kind, e.key.Value)
		}
		e.criticality, e.privileged = Criticality(crit), priv == 1
		n := d.u()
		if d.err == nil && n > uint64(s.cfg.MaxRules) {
			d.fail("entity %d: %d rules over the cap %d", k, n, s.cfg.MaxRules)
		}
		if d.err != nil {
			break
		}
		e.rules = make([]rule, 0, n)
		for j := uint64(0); j < n && d.err == nil; j++ {
			var r rule
			r.id = d.str("rule id")
			r.tactic = d.str("tactic")
			sev := d.u()
			r.peak, r.at, r.base = d.f(), d.i(), d.f()
			r.first, r.last = d.i(), d.i()
			cnt := d.u()
			switch {
			case d.err != nil:
			case r.id == "" || sev > uint64(detect.SeverityCritical) || cnt == 0 || cnt > math.MaxUint32:
				d.fail("entity %d rule %d: empty id, severity %d or count %d out of range", k, j, sev, cnt)
			case !(r.base >= 0 && r.base <= 1) || !(r.peak >= 0 && r.peak <= r.base) || r.first > r.last:
				d.fail("entity %d rule %d: base %v, peak %v or times out of range", k, j, r.base, r.peak)
			}
			r.severity, r.count = detect.Severity(sev), uint32(cnt)
			e.rules = append(e.rules, r)
		}
		e.elem = lru.PushFront(e)
		entities[e.key] = e
	}
	if d.err != nil {
		if errors.Is(d.err, io.EOF) {
			d.err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("restoring risk state: %w", d.err)
	}
	if _, err := d.r.ReadByte(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("restoring risk state: trailing bytes after %d entities", ne)
	}
	s.entities, s.lru, s.stats = entities, lru, st
	return nil
}
