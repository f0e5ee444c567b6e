package seasonal

import (
	"fmt"
	"math"
	"strconv"
)

// Fixed-point scale of the per-slot log-space mean and deviation (uint16).
const qScale = 1024

func q16(x float64) uint16 {
	x = math.Round(x * qScale)
	switch {
	case !(x > 0):
		return 0
	case x > math.MaxUint16:
		return math.MaxUint16
	}
	return uint16(x)
}

func f16(u uint16) float64 { return float64(u) / qScale }

// stat is an EW mean / mean absolute deviation of log1p amounts.
type stat struct{ mu, dev, n float32 }

// Groups of the pooled baselines.
const (
	gAll = iota
	gWeekdayDay
	gWeekdayNight
	gWeekendDay
	gWeekendNight
	nGroups
)

// series is the state of one (entity, metric) pair.
type series struct {
	entity    string
	ev        [MaxEvidence]string
	curAmount float64
	groups    [nGroups]stat
	// Hours since the epoch: first seen, open hour, last closed, last seen,
	// feedback horizon, last flagged.
	first, cur, closed, lastSeen, normalUntil, flaggedHour int32
	flaggedY                                               float32
	metric                                                 Metric
	nEv                                                    uint8
	lowRun, flaggedOK                                      bool
	mu, dev                                                [168]uint16
	n                                                      [168]uint8
}

type skey struct {
	e string
	m Metric
}

type volume struct {
	cfg     *Config
	slab    slab[series]
	index   []map[string]int32 // by metric: string keys take the fast map path
	count   int
	free    []int32
	l       lru
	evicted uint64
	groupOf [168]uint8
	horizon [nGroups]float64
}

func (v *volume) init(cfg *Config) {
	v.cfg = cfg
	v.index = make([]map[string]int32, len(cfg.Metrics))
	for i := range v.index {
		v.index[i] = make(map[string]int32)
	}
	v.count = 0
	v.l.reset()
	var size [nGroups]float64
	for s := range 168 {
		day, hod := s/24, s%24
		g := gWeekdayNight
		switch isDay := hod >= cfg.DayStart && hod < cfg.DayEnd; {
		case day < 5 && isDay:
			g = gWeekdayDay
		case day >= 5 && isDay:
			g = gWeekendDay
		case day >= 5:
			g = gWeekendNight
		}
		v.groupOf[s] = uint8(g)
		size[g]++
	}
	size[gAll] = 168
	for g := range nGroups {
		v.horizon[g] = cfg.SlotHorizon * max(size[g], 1)
	}
}

func (v *volume) observe(m *Model, e Event, h int32) {
	k := skey{e.Entity, e.Metric}
	i, ok := v.index[k.m][k.e]
	if !ok {
		i = v.add(m, k, h)
	} else {
		v.l.touch(i)
	}
	s := v.slab.at(i)
	if s.cur != h {
		s.cur = h
	}
	s.curAmount = min(s.curAmount+e.Amount, 1e300)
	s.lastSeen = h
	if e.Evidence != "" && s.nEv < MaxEvidence {
		s.ev[s.nEv] = e.Evidence
		s.nEv++
	}
}

// add creates the series of k, evicting the least recently seen at the cap.
func (v *volume) add(m *Model, k skey, h int32) int32 {
	if v.count >= m.cfg.MaxSeries {
		v.remove(v.l.tail)
		v.evicted++
	}
	var i int32
	if n := len(v.free); n > 0 {
		i = v.free[n-1]
		v.free = v.free[:n-1]
	} else {
		i = v.slab.push()
		v.l.grow()
	}
	*v.slab.at(i) = series{entity: k.e, metric: k.m, first: h, cur: h, closed: h - 1, lastSeen: h}
	v.index[k.m][k.e] = i
	v.count++
	v.l.pushFront(i)
	return i
}

func (v *volume) remove(i int32) {
	s := v.slab.at(i)
	delete(v.index[s.metric], s.entity)
	v.count--
	v.l.unlink(i)
	*s = series{}
	v.free = append(v.free, i)
}

// sweep closes the hours < h of every series and drops idle ones.
func (v *volume) sweep(m *Model, h int32) {
	last := h - 1
	idle := int32(m.cfg.EvictAfterDays) * 24
	for i := range v.slab.len() {
		s := v.slab.at(i)
		if s.entity == "" {
			continue
		}
		if last-s.lastSeen > idle {
			v.remove(i)
			continue
		}
		if s.closed < last {
			v.closeThrough(m, s, last)
		}
	}
}

// closeThrough closes the hours (s.closed, last]: the open hour with its
// amount, the hours after it as zeros while the entity is not dormant.
func (v *volume) closeThrough(m *Model, s *series, last int32) {
	dormant := int32(m.cfg.DormantHours)
	// Hours before the open one were closed when the stream passed them
	// (Restore checks this too); never walk them again.
	s.closed = max(s.closed, s.cur-1)
	for hh := s.closed + 1; hh <= last; hh++ {
		x := 0.0
		if hh == s.cur {
			x = s.curAmount
		} else if hh-s.lastSeen > dormant {
			break
		}
		v.closeHour(m, s, hh, x)
	}
	s.closed = last
	if s.cur <= last {
		s.curAmount = 0
		clear(s.ev[:s.nEv])
		s.nEv = 0
	}
}

// estimate returns the shrunk log-space mean, the slot's robust sigma, the
// sigma used in z scores and the slot's observation count.
func (v *volume) estimate(s *series, slot int) (mu, sigma, sigEff, ns float64) {
	k := v.cfg.ShrinkK
	all, grp := s.groups[gAll], s.groups[v.groupOf[slot]]
	muG, devG := shrink(float64(grp.mu), float64(grp.dev), float64(grp.n), float64(all.mu), float64(all.dev), k)
	ns = float64(s.n[slot])
	var dev float64
	mu, dev = shrink(f16(s.mu[slot]), f16(s.dev[slot]), ns, muG, devG, k)
	sigma = max(1.2533*dev, v.cfg.SigmaFloor)
	return mu, sigma, sigma * math.Sqrt(1+1/(ns+1)), ns
}

func shrink(mu, dev, n, pmu, pdev, k float64) (float64, float64) {
	if n+k == 0 {
		return pmu, pdev
	}
	return (n*mu + k*pmu) / (n + k), (n*dev + k*pdev) / (n + k)
}

// learn updates an EW mean/MAD with y at weight w, winsorising when asked.
func learn(mu, dev, n, y, w, horizon, floor float64, winsor bool) (float64, float64) {
	if n == 0 {
		return y, 0
	}
	if winsor {
		s := 3 * max(1.2533*dev, floor)
		y = min(max(y, mu-s), mu+s)
	}
	a := max(1/(n+1), 1/horizon) * w
	d := y - mu
	return mu + a*d, dev + a*(math.Abs(d)-dev)
}

// update teaches a closed hour to the slot, its group and the all-hours
// baseline.
func (v *volume) update(s *series, slot int, y, w float64, winsor bool) {
	c := v.cfg
	n := float64(s.n[slot])
	mu, dev := learn(f16(s.mu[slot]), f16(s.dev[slot]), n, y, w, c.SlotHorizon, c.SigmaFloor, winsor && n >= 4)
	s.mu[slot], s.dev[slot] = q16(mu), q16(dev)
	if s.n[slot] < math.MaxUint8 {
		s.n[slot]++
	}
	for _, g := range [2]int{gAll, int(v.groupOf[slot])} {
		st := &s.groups[g]
		n := float64(st.n)
		mu, dev := learn(float64(st.mu), float64(st.dev), n, y, w, v.horizon[g], c.SigmaFloor, winsor && n >= 24)
		st.mu, st.dev = float32(mu), float32(dev)
		if st.n < 1e9 {
			st.n++
		}
	}
}

// closeHour evaluates and learns one closed hour of amount x.
func (v *volume) closeHour(m *Model, s *series, hh int32, x float64) {
	c := v.cfg
	spec := &c.Metrics[s.metric]
	slot := how(hh)
	y := math.Log1p(x)
	span := hh - s.first
	warm := span >= int32(c.WarmupDays)*24
	suppressed := hh < s.normalUntil
	flagged := false
	if warm && (spec.High || spec.Low) {
		mu, sigma, sigEff, ns := v.estimate(s, slot)
		if spec.High && x > 0 && x >= spec.MinHigh {
			if p := normalTail((y - mu) / sigEff); p < c.HighP {
				flagged = true
				if !suppressed {
					m.emit(v.finding(s, hh, x, mu, sigEff, ns, p, High), true)
				}
			}
		}
		if spec.Low && !flagged {
			muAll := float64(s.groups[gAll].mu)
			eligible := math.Expm1(mu) >= spec.MinLowExpected && math.Expm1(muAll) >= spec.MinLowExpected &&
				sigma <= spec.MaxLowSigma
			p := normalTail((mu - y) / sigEff)
			switch {
			case eligible && p < c.LowP:
				flagged = true
				if !s.lowRun && !suppressed {
					m.emit(v.finding(s, hh, x, mu, sigEff, ns, p, Low), true)
				}
				s.lowRun = true
			case x > 0:
				s.lowRun = false
			}
		}
	}
	w := 1.0
	if flagged && !suppressed {
		w = c.FlaggedWeight
		s.flaggedHour, s.flaggedY, s.flaggedOK = hh, float32(y), true
	}
	v.update(s, slot, y, w, !suppressed)
}

func (v *volume) finding(s *series, hh int32, x, mu, sig, ns, p float64, d Direction) Finding {
	c := v.cfg
	spec := &c.Metrics[s.metric]
	span := float64(hh-s.first) / 24
	k := c.ShrinkK
	support := 1.0
	if ns+k > 0 {
		support = ns / (ns + k)
	}
	f := Finding{
		Model: ModelVolume, Version: Version, Entity: s.entity, Metric: spec.Name, Direction: d,
		Start: hourStart(hh), End: hourStart(hh + 1), Observed: x, Expected: math.Expm1(mu),
		RangeLow: max(0, math.Expm1(mu-1.645*sig)), RangeHigh: math.Expm1(mu + 1.645*sig),
		Probability: p, Confidence: min(1, span/28) * (0.5 + 0.5*support), HistoryDays: span,
	}
	if s.nEv > 0 && hh == s.cur {
		f.Evidence = append([]string(nil), s.ev[:s.nEv]...)
	}
	start := f.Start
	f.Message = fmt.Sprintf("%s had %s %s between %s and %s UTC on %s; its %s %s baseline is %s-%s (expected %s, %s, %.0f days of history)",
		s.entity, fmtAmount(x), spec.Unit, start.Format("15:04"), f.End.Format("15:04"), start.Format("Mon 2006-01-02"),
		start.Format("Monday"), start.Format("15:04"),
		fmtAmount(f.RangeLow), fmtAmount(f.RangeHigh), fmtAmount(f.Expected), fmtP(p), span)
	return f
}

func fmtAmount(x float64) string {
	switch {
	case x >= 1e6:
		return strconv.FormatFloat(x, 'g', 3, 64)
	case x >= 10 || x == math.Trunc(x):
		return strconv.FormatFloat(math.Round(x), 'f', -1, 64)
	}
	return strconv.FormatFloat(x, 'f', 1, 64)
}

func fmtP(p float64) string {
	if p < 1e-9 {
		return "p < 1e-9"
	}
	return "p = " + strconv.FormatFloat(p, 'g', 2, 64)
}

func (v *volume) markNormal(m *Model, entity string, id Metric, h int32) bool {
	i, ok := v.index[id][entity]
	if !ok {
		return false
	}
	s := v.slab.at(i)
	s.normalUntil = max(s.normalUntil, h)
	if s.flaggedOK && s.flaggedHour < h {
		// Learn the flagged hour again with the weight it was denied.
		v.update(s, how(s.flaggedHour), float64(s.flaggedY), 1-m.cfg.FlaggedWeight, false)
		s.flaggedOK = false
	}
	s.lowRun = false
	return true
}
