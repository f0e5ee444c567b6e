package c2

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind names a finding's analytic.
type Kind string

// Finding kinds.
const (
	KindBeacon         Kind = "beacon"
	KindStrobe         Kind = "strobe"
	KindLongConnection Kind = "long_connection"
	KindRareUserAgent  Kind = "rare_user_agent"
)

// Finding is one scored pair (or user agent) with the numbers behind its score.
type Finding struct {
	Kind       Kind
	Score      float64 // the analytic's score plus modifiers, >= 0 (RITA scale, 1 is a perfect beacon)
	Confidence float64 // 0..1: grows with connections and observed span

	Src     netip.Addr // zero for a user agent
	Dst     netip.Addr // zero for a (src,fqdn) pair
	FQDN    string     // set for a (src,fqdn) pair
	DstPort uint16     // last port seen on the pair
	Proto   string

	// Beacon sub-scores (RITA): each 0..1, BeaconScore their weighted mean.
	TimestampScore float64
	DataSizeScore  float64
	HistogramScore float64
	DurationScore  float64
	BeaconScore    float64
	// Modifiers added to the score.
	PrevalenceModifier  float64
	MissingHostModifier float64

	Conns          uint64 // connections in the window
	TotalConns     uint64 // connections since the pair was first tracked
	MeanInterval   time.Duration
	MedianInterval time.Duration
	IntervalMAD    time.Duration // median absolute deviation of the intervals
	IntervalSkew   float64       // Bowley skewness of the intervals
	MeanBytes      float64       // originator bytes per connection
	MedianBytes    float64
	BytesMAD       float64

	TotalDuration time.Duration // long connections: closed in the window plus open
	OpenDuration  time.Duration // part of TotalDuration still open

	PrevalenceHosts int     // counted hosts that talk to the destination
	PopulationHosts int     // counted hosts
	Prevalence      float64 // PrevalenceHosts / PopulationHosts

	UserAgent         string
	UAHosts           []netip.Addr // hosts using the user agent
	Requests          uint64       // HTTP requests (user agent, or pair for a beacon)
	BlankHostRequests uint64

	First, Last time.Time
	Evidence    []string // event ids (or Zeek uids) of a few records
	Summary     string
}

func fromUnix(s int64) time.Time { return time.Unix(s, 0).UTC() }

// Evaluate scores every tracked pair and user agent and returns the findings,
// highest score first (ties by kind, then key). Beacons, strobes and long
// connections use the connections started in [now-Window, now] (and at or
// after the first event seen), binned by the UTC hours up to the one holding
// the second before now; open connections count when their last record falls
// in the window. User agents and HTTP request counts cover everything tracked.
// Evaluate does not change the tracker.
func (t *Tracker) Evaluate(now time.Time) []Finding {
	if t.first == 0 && t.last == 0 && len(t.pairs) == 0 && len(t.uas) == 0 {
		return nil
	}
	nowS := now.Unix()
	from := max(nowS-int64(Window/time.Second), t.first)
	nowH := floorDiv(nowS-1, 3600) // the hour holding the last second before now
	firstH := max(floorDiv(from, 3600), nowH-hours+1)

	type openAgg struct {
		dur, maxDur int64
		port        uint16
		ids         []string
	}
	opens := map[pairKey]*openAgg{}
	openIDs := make([]string, 0, len(t.open))
	for id := range t.open {
		openIDs = append(openIDs, id)
	}
	slices.Sort(openIDs)
	for _, id := range openIDs {
		o := t.open[id]
		if o.seen < from || o.start > nowS {
			continue
		}
		a := opens[o.key]
		if a == nil {
			a = &openAgg{}
			opens[o.key] = a
		}
		a.dur += o.dur
		if o.dur > a.maxDur {
			a.maxDur, a.port = o.dur, o.port
		}
		if len(a.ids) < evidenceN {
			a.ids = append(a.ids, o.id)
		}
	}

	keys := make([]pairKey, 0, len(t.pairs))
	for k := range t.pairs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmpPairKey)

	var out []Finding
	ev := &evaluator{t: t, from: from, now: nowS, firstH: firstH, nowH: nowH, pop: len(t.srcPairs)}
	for _, k := range keys {
		p := t.pairs[k]
		freq, durSec := ev.histogram(p)
		var conns uint64
		for _, f := range freq {
			conns += uint64(f)
		}
		strobe := conns >= uint64(t.cfg.StrobeConns)
		if strobe && k.fqdn == "" {
			f := ev.base(p, KindStrobe, conns)
			f.Score = 0.8 // RITA strobe_impact "high"
			f.Confidence = 1
			f.Summary = fmt.Sprintf("%s connected to %s %s times in %s (a strobe: at least %s a day).",
				k.src, f.target(), group(conns), spanText(from, nowS), group(uint64(t.cfg.StrobeConns)))
			out = append(out, f)
		}
		if !strobe {
			if f, ok := ev.beacon(p, freq, conns); ok {
				out = append(out, f)
			}
		}
		if k.fqdn != "" {
			continue
		}
		total, open, port := durSec, int64(0), p.durPort
		var openEv []string
		if a := opens[k]; a != nil {
			open, openEv = a.dur, a.ids
			total += open
			if a.maxDur > p.maxDur {
				port = a.port
			}
		}
		if total >= int64(t.cfg.LongConnMin/time.Second) {
			f := ev.base(p, KindLongConnection, conns)
			f.DstPort = port // of the longest connection: the pair may mix services
			f.TotalDuration = time.Duration(total) * time.Second
			f.OpenDuration = time.Duration(open) * time.Second
			f.Score = max(bucketedScore(float64(total), t.cfg.LongConnMin.Seconds(), 4*3600, 8*3600, 12*3600)+f.PrevalenceModifier, 0)
			f.Confidence = 1
			f.Evidence = appendUnique(openEv, f.Evidence, evidenceN)
			openText := ""
			if open > 0 {
				openText = fmt.Sprintf(" (%s of it in connections still open)", durText(open))
			}
			f.Summary = fmt.Sprintf("%s was connected to %s for %s in total%s, seen over %s%s.",
				k.src, f.target(), durText(total), openText, spanText(from, nowS), f.prevalenceText())
			out = append(out, f)
		}
	}
	out = append(out, t.rareUserAgents()...)
	slices.SortStableFunc(out, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), strings.Compare(string(a.Kind), string(b.Kind)),
			a.Src.Compare(b.Src), a.Dst.Compare(b.Dst), strings.Compare(a.FQDN, b.FQDN), strings.Compare(a.UserAgent, b.UserAgent))
	})
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

type evaluator struct {
	t              *Tracker
	from, now      int64
	firstH, nowH   int64
	pop            int
	ts, by, deltas []float64
	scratch        []float64
}

// histogram returns the connections per hour of the window and the seconds of
// connections that ended in it.
func (ev *evaluator) histogram(p *pair) ([]uint32, int64) {
	n := max(ev.nowH-ev.firstH+1, 1)
	freq := make([]uint32, n)
	var dur int64
	for _, b := range p.buckets {
		if b.hour >= ev.firstH && b.hour <= ev.nowH && (b.conns > 0 || b.dur > 0) {
			freq[b.hour-ev.firstH] += b.conns
			dur += int64(b.dur)
		}
	}
	return freq, dur
}

func (ev *evaluator) base(p *pair, kind Kind, conns uint64) Finding {
	f := Finding{
		Kind: kind, Src: p.key.src, Dst: p.key.dst, FQDN: p.key.fqdn, DstPort: p.port, Proto: p.proto,
		Conns: conns, TotalConns: p.total, First: fromUnix(p.first), Last: fromUnix(p.last),
		Evidence: evidenceOrder(p.ev, p.evHead), PopulationHosts: ev.pop,
	}
	if p.key.fqdn != "" {
		f.Dst = netip.Addr{}
	}
	if ev.t.counted(p.key.src) {
		f.PrevalenceHosts = int(ev.t.dstHosts[p.key.dstKey()])
	}
	if ev.pop > 0 {
		f.Prevalence = float64(f.PrevalenceHosts) / float64(ev.pop)
	}
	if ev.pop >= ev.t.cfg.MinPopulation && f.PrevalenceHosts > 0 {
		switch {
		case f.Prevalence <= 0.02: // RITA prevalence_increase_threshold
			f.PrevalenceModifier = 0.15
		case f.Prevalence >= 0.5: // RITA prevalence_decrease_threshold
			f.PrevalenceModifier = -0.15
		}
	}
	return f
}

func (ev *evaluator) beacon(p *pair, freq []uint32, conns uint64) (Finding, bool) {
	cfg := ev.t.cfg
	ev.ts, ev.by = ev.ts[:0], ev.by[:0]
	for i, off := range p.ts {
		s := p.base + int64(off)
		if s >= ev.from && s <= ev.now {
			ev.ts = append(ev.ts, float64(s))
			ev.by = append(ev.by, float64(p.bytes[i]))
		}
	}
	if len(ev.ts) < cfg.MinConns {
		return Finding{}, false
	}
	slices.Sort(ev.ts)
	first, last := int64(ev.ts[0]), int64(ev.ts[len(ev.ts)-1])
	if time.Duration(last-first)*time.Second < cfg.MinSpan {
		return Finding{}, false
	}
	ev.deltas = ev.deltas[:0]
	distinct := 1
	for i := 1; i < len(ev.ts); i++ {
		if d := ev.ts[i] - ev.ts[i-1]; d > 0 {
			ev.deltas = append(ev.deltas, d)
			distinct++
		}
	}
	if distinct < cfg.MinConns || len(ev.deltas) < 3 {
		return Finding{}, false
	}
	slices.Sort(ev.deltas)
	slices.Sort(ev.by)
	tsScore, tsSkew, tsMAD := statScore(ev.deltas, 1, &ev.scratch)
	dsScore, _, dsMAD := statScore(ev.by, 0, &ev.scratch)
	bars, run, bimodal := freqStats(freq)
	histScore := max(cvScore(freq), bimodal)
	durScore := durationScore(ev.from, ev.now, first, last, bars, run)
	beacon := round3(0.25*tsScore + 0.25*dsScore + 0.25*histScore + 0.25*durScore)
	if beacon < cfg.MinBeaconScore {
		return Finding{}, false
	}
	f := ev.base(p, KindBeacon, conns)
	f.TimestampScore, f.DataSizeScore, f.HistogramScore, f.DurationScore, f.BeaconScore = tsScore, dsScore, histScore, durScore, beacon
	if hp := ev.t.hpairs[pairKey{src: p.key.src, dst: p.key.dst}]; hp != nil && p.key.fqdn == "" {
		f.Requests, f.BlankHostRequests = hp.requests, hp.blankHost
		if hp.blankHost > 0 {
			f.MissingHostModifier = 0.1 // RITA missing_host_count_score_increase
		}
	}
	f.Score = max(round3(beacon+f.PrevalenceModifier+f.MissingHostModifier), 0)
	n := float64(len(ev.ts))
	f.Confidence = round3(min(1, n/float64(4*cfg.MinConns)) * min(1, float64(last-first)/(6*3600)))
	var sumD, sumB float64
	for _, d := range ev.deltas {
		sumD += d
	}
	for _, b := range ev.by {
		sumB += b
	}
	f.MeanInterval = secs(sumD / float64(len(ev.deltas)))
	f.MedianInterval = secs(median(ev.deltas))
	f.IntervalMAD = secs(tsMAD)
	f.IntervalSkew = tsSkew
	f.MeanBytes = sumB / n
	f.MedianBytes = median(ev.by)
	f.BytesMAD = dsMAD
	blank := ""
	switch {
	case f.BlankHostRequests > 0 && f.BlankHostRequests == f.Requests:
		blank = fmt.Sprintf("; all %s HTTP requests seen between them had a blank Host header", group(f.Requests))
	case f.BlankHostRequests > 0:
		blank = fmt.Sprintf("; %s of %s HTTP requests seen between them had a blank Host header", group(f.BlankHostRequests), group(f.Requests))
	}
	f.Summary = fmt.Sprintf("%s connected to %s %s times in %s, every %s ± %s, %s bytes each%s%s.",
		p.key.src, f.target(), group(uint64(len(ev.ts))), spanText(first, last),
		secText(f.MedianInterval), secText(f.IntervalMAD), group(uint64(math.Round(f.MedianBytes))), f.prevalenceText(), blank)
	return f, true
}

func secs(s float64) time.Duration { return time.Duration(math.Round(s)) * time.Second }

func (f *Finding) target() string {
	d := f.FQDN
	if d == "" {
		d = f.Dst.String()
	}
	if f.DstPort != 0 || f.Proto != "" {
		return fmt.Sprintf("%s:%d/%s", d, f.DstPort, f.Proto)
	}
	return d
}

// prevalenceText is "; no other of 212 hosts talks to it" or "; 5 of 212 hosts
// talk to it", or "" when the source is not counted or too few hosts are.
func (f *Finding) prevalenceText() string {
	switch {
	case f.PrevalenceHosts == 0 || f.PopulationHosts < 2:
		return ""
	case f.PrevalenceHosts == 1:
		return fmt.Sprintf("; no other of %s hosts talks to it", group(uint64(f.PopulationHosts)))
	default:
		return fmt.Sprintf("; %s of %s hosts talk to it", group(uint64(f.PrevalenceHosts)), group(uint64(f.PopulationHosts)))
	}
}

func (t *Tracker) rareUserAgents() []Finding {
	cfg := t.cfg
	clients := map[netip.Addr]struct{}{}
	for k := range t.hpairs {
		clients[k.src] = struct{}{}
	}
	pop := len(clients)
	if pop <= cfg.RareUAMaxHosts {
		return nil // every agent is rare among so few clients
	}
	uas := make([]string, 0, len(t.uas))
	for ua := range t.uas {
		uas = append(uas, ua)
	}
	slices.Sort(uas)
	var out []Finding
	for _, ua := range uas {
		u := t.uas[ua]
		if u.moreHosts || len(u.hosts) > cfg.RareUAMaxHosts || u.requests < uint64(cfg.RareUAMinRequests) {
			continue
		}
		rarity := 1 - float64(len(u.hosts)-1)/float64(cfg.RareUAMaxHosts)
		persistence := min(1, float64(u.last-u.first)/Window.Seconds())
		blankShare := float64(u.blankHost) / float64(u.requests)
		f := Finding{
			Kind: KindRareUserAgent, UserAgent: u.ua, UAHosts: slices.Clone(u.hosts),
			Requests: u.requests, BlankHostRequests: u.blankHost, PrevalenceHosts: len(u.hosts), PopulationHosts: pop,
			Prevalence: float64(len(u.hosts)) / float64(pop),
			First:      fromUnix(u.first), Last: fromUnix(u.last), Evidence: evidenceOrder(u.ev, u.evHead),
			Score:      round3(0.4*rarity + 0.3*persistence + 0.3*blankShare),
			Confidence: round3(min(1, float64(u.requests)/float64(4*cfg.RareUAMinRequests))),
		}
		if len(u.hosts) == 1 {
			f.Src = u.hosts[0]
		}
		hs := make([]string, len(u.hosts))
		for i, h := range u.hosts {
			hs[i] = h.String()
		}
		blank := ""
		if u.blankHost > 0 {
			blank = fmt.Sprintf(", %s with a blank Host header", group(u.blankHost))
		}
		f.Summary = fmt.Sprintf("User agent %q was used by %s of %s HTTP clients (%s): %s requests over %s%s.",
			u.ua, group(uint64(len(u.hosts))), group(uint64(pop)), strings.Join(hs, ", "),
			group(u.requests), spanText(u.first, u.last), blank)
		out = append(out, f)
	}
	return out
}

func appendUnique(dst, src []string, n int) []string {
	for _, s := range src {
		if len(dst) >= n {
			break
		}
		if !slices.Contains(dst, s) {
			dst = append(dst, s)
		}
	}
	return dst
}

// group formats n with thousands separators: 1034 → "1,034".
func group(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func secText(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) + " s" }

func durText(s int64) string {
	h, m := s/3600, s%3600/60
	if h == 0 {
		return fmt.Sprintf("%d min", m)
	}
	return fmt.Sprintf("%d h %02d min", h, m)
}

func spanText(a, b int64) string { return durText(max(b-a, 0)) }
