package dnsanomaly

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
)

// Snapshot format: magic, version byte, config fingerprint, then every learned
// structure in a fixed order with maps written in sorted key order (so equal
// models give equal bytes). Integers are varints, floats their IEEE bits.
const (
	snapMagic   = "VGDNSA"
	snapVersion = 1
	maxStr      = 1024
)

// ErrSnapshot matches every error Restore returns for a bad snapshot.
var ErrSnapshot = errors.New("bad dnsanomaly snapshot")

type wr struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte
}

func (w *wr) u(x uint64) { n := binary.PutUvarint(w.buf[:], x); _, _ = w.w.Write(w.buf[:n]) }
func (w *wr) i(x int64)  { n := binary.PutVarint(w.buf[:], x); _, _ = w.w.Write(w.buf[:n]) }
func (w *wr) f(x float64) {
	binary.LittleEndian.PutUint64(w.buf[:8], math.Float64bits(x))
	_, _ = w.w.Write(w.buf[:8])
}
func (w *wr) s(x string) { w.u(uint64(len(x))); _, _ = w.w.WriteString(x) }
func (w *wr) b(x bool) {
	if x {
		_ = w.w.WriteByte(1)
	} else {
		_ = w.w.WriteByte(0)
	}
}

func (w *wr) sketch(d *distinct) {
	if d.regs == nil {
		_ = w.w.WriteByte(0)
		w.u(uint64(len(d.exact)))
		for _, x := range d.exact {
			w.u(x)
		}
		return
	}
	_ = w.w.WriteByte(1)
	w.u(uint64(len(d.regs)))
	_, _ = w.w.Write(d.regs)
}

func (w *wr) hist(h *hist) {
	w.f(h.total)
	w.sparse(h.bins)
}

// sparse writes the non-zero entries of xs as (index, value).
func (w *wr) sparse(xs []float64) {
	nz := 0
	for _, x := range xs {
		if x != 0 {
			nz++
		}
	}
	w.u(uint64(nz))
	for i, x := range xs {
		if x != 0 {
			w.u(uint64(i))
			w.f(x)
		}
	}
}

func (m *Model) fingerprint() uint64 { return hash64(fmt.Sprintf("%+v", m.cfg)) }

// Snapshot writes all learned state.
func (m *Model) Snapshot(out io.Writer) error {
	w := &wr{w: bufio.NewWriter(out)}
	_, _ = w.w.WriteString(snapMagic)
	_ = w.w.WriteByte(snapVersion)
	w.u(m.fingerprint())
	w.i(m.first)
	w.i(m.now)
	// stats
	w.u(m.stats.Queries)
	for _, x := range m.stats.ByKind {
		w.u(x)
	}
	w.u(m.stats.Allowed)
	w.u(m.stats.Evicted)
	for _, k := range slices.Sorted(maps.Keys(m.stats.Rejected)) {
		w.b(true)
		w.s(k)
		w.u(m.stats.Rejected[k])
	}
	w.b(false)
	for _, k := range slices.Sorted(maps.Keys(m.stats.Findings)) {
		w.b(true)
		w.s(string(k))
		w.u(m.stats.Findings[k])
	}
	w.b(false)
	// analyst feedback
	w.u(uint64(len(m.normal)))
	for _, k := range slices.Sorted(maps.Keys(m.normal)) {
		w.s(k)
	}
	// baselines and the character model
	for _, h := range m.hists() {
		w.hist(h)
	}
	for i := range m.robustAt {
		w.f(m.robustAt[i])
		w.f(m.robust[i][0])
		w.f(m.robust[i][1])
	}
	w.f(m.weight)
	c := &m.chars
	w.f(c.n1)
	w.sparse(c.c1[:])
	w.sparse(c.c2[:])
	w.sparse(c.ctx2[:])
	w.sparse(c.ctx3[:])
	nz := 0
	for _, x := range c.c3 {
		if x != 0 {
			nz++
		}
	}
	w.u(uint64(nz))
	for i, x := range c.c3 {
		if x != 0 {
			w.u(uint64(i))
			w.u(uint64(math.Float32bits(x)))
		}
	}
	// domains
	w.u(uint64(len(m.doms)))
	for _, k := range slices.Sorted(maps.Keys(m.doms)) {
		d := m.doms[k]
		w.s(k)
		w.i(d.first)
		w.i(d.last)
		w.i(d.lastHour)
		w.u(uint64(d.hours))
		w.sketch(&d.clients)
		w.u(uint64(d.trained))
		w.b(d.normal)
		w.b(d.rareDone)
		w.b(d.scored)
		w.u(uint64(math.Float32bits(d.score)))
		w.u(uint64(math.Float32bits(d.usual)))
		w.u(uint64(math.Float32bits(d.aggUsual)))
		w.u(uint64(math.Float32bits(d.uLen)))
		w.u(uint64(math.Float32bits(d.uEnt)))
		w.u(uint64(d.windows))
		w.u(uint64(d.kind))
	}
	// pairs
	pk := make([]pairKey, 0, len(m.pairs))
	for k := range m.pairs {
		pk = append(pk, k)
	}
	slices.SortFunc(pk, cmpKey[pairKey])
	w.u(uint64(len(pk)))
	for _, k := range pk {
		p := m.pairs[k]
		w.s(k.client)
		w.s(k.domain)
		w.i(p.win)
		w.i(p.last)
		w.u(uint64(p.queries))
		w.sketch(&p.subs)
		w.u(uint64(p.named))
		w.f(p.lenSum)
		w.f(p.entSum)
		w.u(uint64(p.maxLabel))
		w.u(uint64(p.odd))
		w.u(uint64(p.nx))
		w.f(p.reported)
		w.u(uint64(p.nrep))
		w.b(p.flagged)
		w.u(uint64(p.clients))
		for _, s := range p.ev {
			w.s(s)
		}
		for _, s := range p.names {
			w.s(s)
		}
	}
	// clients
	w.u(uint64(len(m.clients)))
	for _, k := range slices.Sorted(maps.Keys(m.clients)) {
		c := m.clients[k]
		w.s(k)
		w.i(c.win)
		w.i(c.last)
		w.u(uint64(c.queries))
		w.u(uint64(c.nx))
		w.u(uint64(len(c.dga)))
		for _, h := range c.dga {
			w.s(h.domain)
			w.s(h.name)
			w.s(h.ev)
			w.f(h.z)
			w.b(h.nx)
		}
		w.u(uint64(c.ndga))
		w.u(uint64(c.ndgaNX))
		w.u(uint64(c.reported))
		w.u(uint64(c.nrep))
	}
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("writing dnsanomaly snapshot: %w", err)
	}
	return nil
}

func (m *Model) hists() []*hist { return []*hist{&m.distinctH, &m.lenH, &m.entH, &m.scoreH, &m.aggH} }

// rd reads with sticky errors: after the first error every read returns zero.
type rd struct {
	r   *bufio.Reader
	err error
}

func (r *rd) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrSnapshot}, a...)...)
	}
}

func (r *rd) u() uint64 {
	if r.err != nil {
		return 0
	}
	x, err := binary.ReadUvarint(r.r)
	if err != nil {
		r.fail("reading varint: %v", err)
	}
	return x
}

// n reads a count and checks it against limit.
func (r *rd) n(limit int, what string) int {
	x := r.u()
	if x > uint64(limit) {
		r.fail("%s count %d over %d", what, x, limit)
		return 0
	}
	return int(x)
}

func (r *rd) u32(what string) uint32 {
	x := r.u()
	if x > math.MaxUint32 {
		r.fail("%s %d out of range", what, x)
		return 0
	}
	return uint32(x)
}

func (r *rd) i() int64 {
	if r.err != nil {
		return 0
	}
	x, err := binary.ReadVarint(r.r)
	if err != nil {
		r.fail("reading varint: %v", err)
	}
	return x
}

func (r *rd) f() float64 {
	if r.err != nil {
		return 0
	}
	var b [8]byte
	if _, err := io.ReadFull(r.r, b[:]); err != nil {
		r.fail("reading float: %v", err)
		return 0
	}
	x := math.Float64frombits(binary.LittleEndian.Uint64(b[:]))
	if math.IsNaN(x) || math.IsInf(x, 0) {
		r.fail("non-finite number")
		return 0
	}
	return x
}

// fn reads a non-negative float (a count).
func (r *rd) fn() float64 {
	x := r.f()
	if x < 0 {
		r.fail("negative count")
		return 0
	}
	return x
}

func (r *rd) f32() float32 {
	x := r.u32("float32")
	v := math.Float32frombits(x)
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		r.fail("non-finite number")
		return 0
	}
	return v
}

func (r *rd) s() string {
	n := r.n(maxStr, "string length")
	if r.err != nil || n == 0 {
		return ""
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.r, b); err != nil {
		r.fail("reading string: %v", err)
		return ""
	}
	return string(b)
}

func (r *rd) b() bool {
	if r.err != nil {
		return false
	}
	c, err := r.r.ReadByte()
	if err != nil {
		r.fail("reading flag: %v", err)
		return false
	}
	if c > 1 {
		r.fail("flag byte %d", c)
	}
	return c == 1
}

func (r *rd) sketch(p uint8) distinct {
	var d distinct
	switch mode := r.b(); mode {
	case false:
		n := r.n(exactMax, "exact set")
		for range n {
			d.exact = append(d.exact, r.u())
		}
	default:
		n := r.n(1<<p, "registers")
		if r.err == nil && n != 1<<p {
			r.fail("%d registers, want %d", n, 1<<p)
			return distinct{}
		}
		if r.err != nil {
			return distinct{}
		}
		d.regs = make([]uint8, n)
		if _, err := io.ReadFull(r.r, d.regs); err != nil {
			r.fail("reading registers: %v", err)
		}
		for _, x := range d.regs {
			if x > 65-p {
				r.fail("register value %d", x)
			}
		}
	}
	return d
}

// sparse reads what wr.sparse wrote into xs (zeroed), checking indexes and
// that every value is a finite non-negative count.
func (r *rd) sparse(xs []float64) {
	prev := -1
	for range r.n(len(xs), "entries") {
		i := r.n(len(xs)-1, "index")
		if r.err == nil && i <= prev {
			r.fail("index %d after %d", i, prev)
		}
		prev = i
		xs[i] = r.fn()
		if r.err != nil {
			return
		}
	}
}

func (r *rd) hist(h *hist) {
	h.total = r.fn()
	r.sparse(h.bins)
	var sum float64
	for _, x := range h.bins {
		sum += x
	}
	if r.err == nil && math.Abs(sum-h.total) > 1e-6*max(1, sum) {
		r.fail("histogram total %v, bins sum to %v", h.total, sum)
	}
}

// Restore replaces the model's learned state with a snapshot written by a model
// with the same configuration. On error the model is unchanged.
func (m *Model) Restore(in io.Reader) error {
	if err := m.restore(in); err != nil {
		return fmt.Errorf("restoring dnsanomaly state: %w", err)
	}
	return nil
}

func (m *Model) restore(in io.Reader) error {
	r := &rd{r: bufio.NewReader(in)}
	var head [len(snapMagic) + 1]byte
	if _, err := io.ReadFull(r.r, head[:]); err != nil {
		return fmt.Errorf("%w: reading header: %w", ErrSnapshot, err)
	}
	if string(head[:len(snapMagic)]) != snapMagic {
		return fmt.Errorf("%w: not a dnsanomaly snapshot", ErrSnapshot)
	}
	if head[len(snapMagic)] != snapVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrSnapshot, head[len(snapMagic)], snapVersion)
	}
	if fp := r.u(); r.err == nil && fp != m.fingerprint() {
		return fmt.Errorf("%w: written with another configuration", ErrSnapshot)
	}
	n, err := New(m.cfg)
	if err != nil {
		return err
	}
	n.first, n.now = r.i(), r.i()
	n.stats.Queries = r.u()
	for i := range n.stats.ByKind {
		n.stats.ByKind[i] = r.u()
	}
	n.stats.Allowed, n.stats.Evicted = r.u(), r.u()
	for i := 0; r.b(); i++ {
		if i >= 64 {
			r.fail("too many reject reasons")
			break
		}
		k := r.s()
		n.stats.Rejected[k] = r.u()
	}
	for i := 0; r.b(); i++ {
		if i >= 8 {
			r.fail("too many finding kinds")
			break
		}
		k := FindingKind(r.s())
		n.stats.Findings[k] = r.u()
	}
	for range r.n(maxTracked, "normal domains") {
		n.normal[r.s()] = struct{}{}
		if r.err != nil {
			break
		}
	}
	for _, h := range n.hists() {
		r.hist(h)
	}
	for i := range n.robustAt {
		n.robustAt[i], n.robust[i][0], n.robust[i][1] = r.f(), r.f(), r.f()
	}
	n.weight = r.fn()
	c := &n.chars
	c.n1 = r.fn()
	r.sparse(c.c1[:])
	r.sparse(c.c2[:])
	r.sparse(c.ctx2[:])
	r.sparse(c.ctx3[:])
	for range r.n(len(c.c3), "trigrams") {
		i := r.n(len(c.c3)-1, "trigram index")
		c.c3[i] = r.f32()
		if c.c3[i] < 0 {
			r.fail("negative count")
		}
		if r.err != nil {
			break
		}
	}
	if r.err != nil {
		return r.err
	}
	for range r.n(m.cfg.MaxDoms, "domains") {
		k := r.s()
		d := &domState{first: r.i(), last: r.i(), lastHour: r.i(), hours: r.u32("hours")}
		d.clients = r.sketch(pClients)
		d.trained = uint16(r.n(math.MaxUint16, "trained"))
		d.normal, d.rareDone, d.scored = r.b(), r.b(), r.b()
		d.score, d.usual, d.aggUsual, d.uLen, d.uEnt = r.f32(), r.f32(), r.f32(), r.f32(), r.f32()
		d.windows = uint16(r.n(math.MaxUint16, "windows"))
		d.kind = NameKind(r.n(int(KindIP), "kind"))
		if r.err != nil {
			return r.err
		}
		n.doms[k] = d
	}
	for range r.n(m.cfg.MaxPair, "pairs") {
		k := pairKey{r.s(), r.s()}
		p := &pairState{win: r.i(), last: r.i(), queries: r.u32("queries")}
		p.subs = r.sketch(pSubs)
		p.named = r.u32("named")
		p.lenSum, p.entSum = r.f(), r.f()
		p.maxLabel = uint8(r.n(maxLabel, "label length"))
		p.odd, p.nx = r.u32("odd"), r.u32("nx")
		p.reported = r.f()
		p.nrep = uint8(r.n(math.MaxUint8, "reports"))
		p.flagged = r.b()
		p.clients = r.u32("clients")
		for i := range p.ev {
			p.ev[i] = r.s()
		}
		for i := range p.names {
			p.names[i] = r.s()
		}
		if r.err != nil {
			return r.err
		}
		n.pairs[k] = p
	}
	for range r.n(m.cfg.MaxCli, "clients") {
		k := r.s()
		c := &cliState{win: r.i(), last: r.i(), queries: r.u32("queries"), nx: r.u32("nx")}
		for range r.n(maxHits, "dga hits") {
			c.dga = append(c.dga, dgaHit{r.s(), r.s(), r.s(), r.f(), r.b()})
		}
		c.ndga = r.n(math.MaxInt32, "dga count")
		c.ndgaNX = r.n(c.ndga, "dga nxdomain count")
		c.reported = r.n(math.MaxInt32, "dga reported")
		c.nrep = uint8(r.n(math.MaxUint8, "reports"))
		if r.err != nil {
			return r.err
		}
		n.clients[k] = c
	}
	if r.err != nil {
		return r.err
	}
	if _, err := r.r.ReadByte(); err == nil {
		return fmt.Errorf("%w: trailing bytes", ErrSnapshot)
	}
	for k := range n.normal {
		if _, err := Normalize(k); err != nil {
			return fmt.Errorf("%w: normal domain %q", ErrSnapshot, k)
		}
	}
	n.allow = m.allow
	*m = *n
	return nil
}
