package behavior

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/detect/behavior/midas"
)

// EdgeStreamConfig tunes the edge-stream model. Zero values take the defaults.
type EdgeStreamConfig struct {
	// MinScore is the MIDAS score (chi-squared) a burst needs.
	MinScore float64 // default 1e3
	// MinCount and MinAuthCount are how many edges in one minute the driving
	// part (edge, source or destination) needs in the network and the sign-in
	// graph: MIDAS scores any first burst highly, and a handful of new flows is
	// what first-seen is for; five sign-ins a minute from one source is not.
	MinCount     float64 // default 30
	MinAuthCount float64 // default 5
	// Learn is how long each graph learns before it may alert, and LearnEdges
	// how many edges it must have seen by then.
	Learn      time.Duration // default 24h
	LearnEdges int64         // default 1000
	// Cooldown: a node or edge reported once is not reported again within it.
	Cooldown time.Duration // default 1h
	// Buckets is the width of each sketch row (0: midas.DefaultConfig's 1,024).
	Buckets int
}

func (c EdgeStreamConfig) withDefaults() EdgeStreamConfig {
	if c.MinScore <= 0 {
		c.MinScore = 1e3
	}
	if c.MinAuthCount <= 0 {
		c.MinAuthCount = 5
	}
	if c.MinCount <= 0 {
		c.MinCount = 30
	}
	if c.Learn <= 0 {
		c.Learn = 24 * time.Hour
	}
	if c.LearnEdges <= 0 {
		c.LearnEdges = 1000
	}
	if c.Cooldown <= 0 {
		c.Cooldown = time.Hour
	}
	return c
}

// graph is one edge stream: network flows (source address → destination
// address) or authentication (source address or user → user or host).
type graph struct {
	name        string
	m           *midas.Model
	first       int64 // event time of the first edge, -1 before
	edges       int64 // edges seen
	lastReports map[string]int64
}

// EdgeStream runs MIDAS-F (package midas) over two graphs per event-time minute:
// network flows, source address → destination address; and authentication,
// the source address (or, without one, the user) → the account signing in
// (password spraying fans one source out to many accounts; a credential-stuffing
// or brute-force wave makes one edge burst). A burst far above what the edge,
// its source or its destination did before is reported with the driving part.
// Memory is fixed: two sketches of 245,760 bytes, plus the cooldown table
// (bounded by one entry per reported key per cooldown).
type EdgeStream struct {
	cfg    EdgeStreamConfig
	graphs [2]*graph
	normal normalSet
}

const (
	graphNetwork = iota
	graphAuth
)

// NewEdgeStream builds the model.
func NewEdgeStream(cfg EdgeStreamConfig) (*EdgeStream, error) {
	m := &EdgeStream{cfg: cfg.withDefaults()}
	for i, name := range []string{"network", "auth"} {
		mc := midas.DefaultConfig()
		mc.Seed = uint64(i + 1)
		if cfg.Buckets > 0 {
			mc.Buckets = cfg.Buckets
		}
		mm, err := midas.New(mc)
		if err != nil {
			return nil, fmt.Errorf("building %s edge stream: %w", name, err)
		}
		m.graphs[i] = &graph{name: name, m: mm, first: -1, lastReports: map[string]int64{}}
	}
	return m, nil
}

// ID implements Model.
func (*EdgeStream) ID() string { return "behavior.edge_stream" }

// Version implements Model.
func (*EdgeStream) Version() string { return "1" }

// Observe implements Model.
func (m *EdgeStream) Observe(o *Obs, out *Emitter) {
	switch o.Kind {
	case KindConn:
		if o.Process != (Sym{}) || !o.SrcIP.IsValid() || !o.DstIP.IsValid() {
			return // endpoint connection events repeat the flows
		}
		m.edge(graphNetwork, o, midas.HashAddr(o.SrcIP), midas.HashAddr(o.DstIP), out)
	case KindAuth:
		if o.User == (Sym{}) {
			return
		}
		var src uint64
		switch {
		case o.SrcIP.IsValid():
			src = midas.HashAddr(o.SrcIP)
		case o.Host != (Sym{}):
			src = midas.HashString("host:" + str(o.Host))
		default:
			return
		}
		m.edge(graphAuth, o, src, midas.HashString(str(o.User)), out)
	}
}

func (m *EdgeStream) edge(gi int, o *Obs, src, dst uint64, out *Emitter) {
	g := m.graphs[gi]
	if g.first < 0 {
		g.first = o.Time
	}
	r := g.m.Observe(src, dst, o.Time/int64(time.Minute))
	g.edges++
	if r.Score < m.cfg.MinScore || o.Time-g.first < int64(m.cfg.Learn) || g.edges < m.cfg.LearnEdges {
		return
	}
	p := r.Part(r.Driver)
	minCount := m.cfg.MinCount
	if gi == graphAuth {
		minCount = m.cfg.MinAuthCount
	}
	if p.Count < minCount {
		return
	}
	srcName, dstName := m.names(gi, o)
	key := r.Driver.String() + ":"
	switch r.Driver {
	case midas.KindEdge:
		key += srcName + ">" + dstName
	case midas.KindSource:
		key += srcName
	default:
		key += dstName
	}
	if last, ok := g.lastReports[key]; ok && o.Time-last < int64(m.cfg.Cooldown) {
		return
	}
	switch r.Driver {
	case midas.KindEdge:
		if m.normal.is(srcName, dstName, o.Time) || m.normal.is(srcName, "", o.Time) {
			return
		}
	case midas.KindSource:
		if m.normal.is(srcName, "", o.Time) {
			return
		}
	default:
		if m.normal.is("", dstName, o.Time) || m.normal.is(dstName, "", o.Time) {
			return
		}
	}
	if len(g.lastReports) >= 1<<16 {
		for k, t := range g.lastReports {
			if o.Time-t >= int64(m.cfg.Cooldown) {
				delete(g.lastReports, k)
			}
		}
	}
	g.lastReports[key] = o.Time
	m.report(gi, o, &r, srcName, dstName, out)
}

func (m *EdgeStream) names(gi int, o *Obs) (src, dst string) {
	if gi == graphNetwork {
		return o.SrcIP.String(), o.DstIP.String()
	}
	src = str(o.Host)
	if o.SrcIP.IsValid() {
		src = o.SrcIP.String()
	}
	return src, str(o.User)
}

func (m *EdgeStream) report(gi int, o *Obs, r *midas.Result, src, dst string, out *Emitter) {
	p := r.Part(r.Driver)
	var what, title string
	var ents []detect.Entity
	srcEnt := detect.Entity{Kind: detect.EntityIP, Value: src}
	if gi == graphAuth && !o.SrcIP.IsValid() {
		srcEnt.Kind = detect.EntityHost
	}
	dstEnt := detect.Entity{Kind: detect.EntityIP, Value: dst}
	if gi == graphAuth {
		dstEnt.Kind = detect.EntityUser
	}
	unit := "connections"
	if gi == graphAuth {
		unit = "sign-in attempts"
	}
	switch r.Driver {
	case midas.KindEdge:
		what = fmt.Sprintf("%s → %s", src, dst)
		title = fmt.Sprintf("Burst of %s from %s to %s", unit, src, dst)
		ents = []detect.Entity{srcEnt, dstEnt}
	case midas.KindSource:
		what = src + " (to all destinations)"
		title = fmt.Sprintf("Burst of %s from %s", unit, src)
		ents = []detect.Entity{srcEnt, dstEnt}
	default:
		what = dst + " (from all sources)"
		title = fmt.Sprintf("Burst of %s to %s", unit, dst)
		ents = []detect.Entity{dstEnt, srcEnt}
	}
	// "this is normal": bursts on this edge; from this source; to this destination
	normal := NormalKey{Entity: src, Attribute: dst}
	switch r.Driver {
	case midas.KindSource:
		normal.Attribute = ""
	case midas.KindDestination:
		normal.Entity = ""
	}
	minute := unixTime(o.Time).Truncate(time.Minute).Format("2006-01-02 15:04")
	sev, tactic, tech := detect.SeverityLow, "discovery", "T1046"
	if gi == graphAuth {
		sev, tactic, tech = detect.SeverityMedium, "credential-access", "T1110"
		if r.Driver == midas.KindSource {
			tech = "T1110.003" // one source, many accounts: spraying
		}
	} else if r.Driver == midas.KindDestination {
		tactic, tech = "impact", "T1498"
	}
	features := make([]detect.Feature, 0, 3)
	total := r.Edge.Score + r.Source.Score + r.Destination.Score
	for _, k := range []midas.Kind{midas.KindEdge, midas.KindSource, midas.KindDestination} {
		q := r.Part(k)
		w := 0.0
		if total > 0 {
			w = q.Score / total
		}
		features = append(features, detect.Feature{Name: k.String(), Observed: fmt.Sprintf("%.0f this minute", q.Count),
			Expected: fmt.Sprintf("%.2f per minute before", q.MeanBefore), Weight: w})
	}
	slices.SortStableFunc(features, func(a, b detect.Feature) int { return -cmp.Compare(a.Weight, b.Weight) })
	conf := clamp01(0.5 + 0.1*math.Log10(r.Score/m.cfg.MinScore+1) + 0.2*math.Min(float64(r.Elapsed)/(7*24*60), 1))
	out.Emit(Finding{
		Time: o.Time, RuleID: "edge_stream." + [...]string{"network", "auth"}[gi] + "." + r.Driver.String(),
		Title: title, Severity: sev, Confidence: conf,
		Tactics: []string{tactic}, Techniques: []string{tech}, Entities: ents,
		Explain: detect.Explanation{
			Summary: fmt.Sprintf("%s: %.0f %s in the minute %s; %.2f per minute on average before (MIDAS score %.3g)",
				what, p.Count, unit, minute, p.MeanBefore, r.Score),
			Expected: fmt.Sprintf("%.2f %s per minute", p.MeanBefore, unit),
			Observed: fmt.Sprintf("%.0f %s in the minute %s", p.Count, unit, minute),
			Score:    r.Score,
			Features: features,
		},
		Evidence: []detect.EvidenceRef{o.Evidence()},
		Normal:   normal,
	})
}

// MarkNormal implements Normalizer: bursts from entity (a source address or host)
// to attribute (a destination address or account; "" for any) are normal; entity
// "" with an attribute makes bursts towards that destination normal.
func (m *EdgeStream) MarkNormal(entity, attribute string, until time.Time) bool {
	if entity == "" && attribute == "" {
		return false
	}
	return m.normal.mark(entity, attribute, until)
}

// Advance implements Model (MIDAS moves its ticks with the edges).
func (*EdgeStream) Advance(int64, *Emitter) {}

// Snapshot implements Model: per graph, the first edge time, the cooldown table
// and the sketch.
func (m *EdgeStream) Snapshot(w io.Writer) error {
	var buf bytes.Buffer
	buf.WriteString("VES2")
	for _, g := range m.graphs {
		_ = binary.Write(&buf, binary.LittleEndian, g.first)
		_ = binary.Write(&buf, binary.LittleEndian, g.edges)
		keys := make([]string, 0, len(g.lastReports))
		for k := range g.lastReports {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		_ = binary.Write(&buf, binary.LittleEndian, uint32(len(keys)))
		for _, k := range keys {
			_ = binary.Write(&buf, binary.LittleEndian, uint32(len(k)))
			buf.WriteString(k)
			_ = binary.Write(&buf, binary.LittleEndian, g.lastReports[k])
		}
		if err := g.m.Snapshot(&buf); err != nil {
			return fmt.Errorf("snapshotting %s edge stream: %w", g.name, err)
		}
	}
	normal := m.normal.entries()
	_ = binary.Write(&buf, binary.LittleEndian, uint32(len(normal)))
	for _, e := range normal {
		for _, t := range []string{e.Entity, e.Attribute} {
			_ = binary.Write(&buf, binary.LittleEndian, uint32(len(t)))
			buf.WriteString(t)
		}
		_ = binary.Write(&buf, binary.LittleEndian, e.Until)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("writing edge-stream state: %w", err)
	}
	return nil
}

// Restore implements Model.
func (m *EdgeStream) Restore(r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return fmt.Errorf("reading edge-stream state: %w", err)
	}
	if !strings.HasPrefix(string(b[:min(len(b), 4)]), "VES2") {
		return fmt.Errorf("restoring edge-stream state: not a version 2 snapshot")
	}
	rd := bytes.NewReader(b[4:])
	var graphs [2]*graph
	for i, old := range m.graphs {
		g := &graph{name: old.name, lastReports: map[string]int64{}}
		var n uint32
		if err := binary.Read(rd, binary.LittleEndian, &g.first); err != nil {
			return fmt.Errorf("restoring edge-stream state: %w", err)
		}
		if err := binary.Read(rd, binary.LittleEndian, &g.edges); err != nil {
			return fmt.Errorf("restoring edge-stream state: %w", err)
		}
		if err := binary.Read(rd, binary.LittleEndian, &n); err != nil {
			return fmt.Errorf("restoring edge-stream state: %w", err)
		}
		if int(n) > rd.Len()/12 {
			return fmt.Errorf("restoring edge-stream state: %d cooldown entries in %d bytes", n, rd.Len())
		}
		for range n {
			var kl uint32
			if err := binary.Read(rd, binary.LittleEndian, &kl); err != nil || int(kl) > rd.Len() {
				return fmt.Errorf("restoring edge-stream state: bad cooldown key")
			}
			k := make([]byte, kl)
			_, _ = io.ReadFull(rd, k)
			var t int64
			if err := binary.Read(rd, binary.LittleEndian, &t); err != nil {
				return fmt.Errorf("restoring edge-stream state: %w", err)
			}
			g.lastReports[string(k)] = t
		}
		mm, err := midas.Load(rd)
		if err != nil {
			return fmt.Errorf("restoring %s edge stream: %w", g.name, err)
		}
		g.m = mm
		graphs[i] = g
	}
	var n uint32
	if err := binary.Read(rd, binary.LittleEndian, &n); err != nil || int(n) > rd.Len()/16 || n > maxNormal {
		return fmt.Errorf("restoring edge-stream state: bad normal verdict count")
	}
	entries := make([]NormalEntry, 0, n)
	for range n {
		var pair [2]string
		for i := range pair {
			var l uint32
			if err := binary.Read(rd, binary.LittleEndian, &l); err != nil || int(l) > rd.Len() {
				return fmt.Errorf("restoring edge-stream state: bad normal verdict")
			}
			t := make([]byte, l)
			_, _ = io.ReadFull(rd, t)
			pair[i] = string(t)
		}
		var until int64
		if err := binary.Read(rd, binary.LittleEndian, &until); err != nil {
			return fmt.Errorf("restoring edge-stream state: %w", err)
		}
		entries = append(entries, NormalEntry{Entity: pair[0], Attribute: pair[1], Until: until})
	}
	if rd.Len() != 0 {
		return fmt.Errorf("restoring edge-stream state: %d trailing bytes", rd.Len())
	}
	m.graphs = graphs
	m.normal.load(entries)
	return nil
}

// Stats implements Model.
func (m *EdgeStream) Stats() ModelStats {
	s := ModelStats{}
	for _, g := range m.graphs {
		s.Bytes += int64(g.m.Config().MemoryBytes()) + int64(len(g.lastReports))*64
		s.Entities += len(g.lastReports)
		s.Trained = s.Trained || g.first >= 0
	}
	return s
}

var (
	_ Model      = (*EdgeStream)(nil)
	_ Normalizer = (*EdgeStream)(nil)
)
