package seasonal

import (
	"fmt"
	"math"
	"strings"
)

// Fixed-point scale of the decayed activity counts (uint16, max 32 weeks).
const cScale = 2048

// Smoothing pseudo-counts of P(active): (C + priorA) / (N + priorB).
const (
	priorA = 0.05
	priorB = 1.0
)

// crossClassW is the weight of the same hour of a day of the other class
// (weekday vs weekend): weekend work in the user's usual weekday hours is
// less surprising than weekend work at night.
const crossClassW = 0.04

// profile is the time-of-day state of one user.
type profile struct {
	entity string
	// Hours since the epoch: first seen, last active hour, end of the
	// current rare session, feedback horizon, last flagged hour; decayWeek
	// is the week the counts are decayed to.
	first, lastHour, sessionEnd, normalUntil, flaggedHour, decayWeek int32
	active                                                           uint32
	flaggedOK                                                        bool
	cnt                                                              [168]uint16 // decayed active hours x cScale
	last                                                             [168]uint16 // week of the last activity + 1, 0 = never
}

// maxNbr bounds a neighbourhood: 5 hours of the day itself, 4 other weekdays
// x 3 hours and 2 weekend days.
const maxNbr = 19

type nb struct {
	slot uint8
	w    float32
}

type profiles struct {
	cfg     *Config
	slab    slab[profile]
	index   map[string]int32
	free    []int32
	l       lru
	evicted uint64
	decay   float64         // weekly decay factor
	nbr     [168][maxNbr]nb // neighbourhood of each slot, nbrN[s] used
	nbrN    [168]uint8
	nbrW    [168]float64 // sum of weights
}

func weekOf(h int32) int32 { return (h + 72) / 168 }

func (p *profiles) init(cfg *Config) {
	p.cfg = cfg
	p.index = make(map[string]int32)
	p.l.reset()
	p.decay = math.Pow(0.5, 1/cfg.ProfileHalfLifeWeeks)
	for s := range 168 {
		day, hod := s/24, s%24
		add := func(d, h int, w float32) {
			t := ((d*24+h)%168 + 168) % 168
			p.nbr[s][p.nbrN[s]] = nb{uint8(t), w}
			p.nbrN[s]++
			p.nbrW[s] += float64(w)
		}
		for off, w := range [5]float32{0.25, 0.5, 1, 0.5, 0.25} {
			add(day, hod+off-2, w)
		}
		for d := range 7 {
			switch {
			case d == day:
			case (d < 5) == (day < 5): // same class: weekday or weekend
				add(d, hod-1, 0.15)
				add(d, hod, 0.3)
				add(d, hod+1, 0.15)
			default: // the other class, same hour, weakly
				add(d, hod, crossClassW)
			}
		}
	}
}

func (p *profiles) add(m *Model, e string, h int32) int32 {
	if len(p.index) >= m.cfg.MaxProfiles {
		p.remove(p.l.tail)
		p.evicted++
	}
	var i int32
	if n := len(p.free); n > 0 {
		i = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		i = p.slab.push()
		p.l.grow()
	}
	*p.slab.at(i) = profile{entity: e, first: h, lastHour: h - 1, decayWeek: weekOf(h)}
	p.index[e] = i
	p.l.pushFront(i)
	return i
}

func (p *profiles) remove(i int32) {
	delete(p.index, p.slab.at(i).entity)
	p.l.unlink(i)
	*p.slab.at(i) = profile{}
	p.free = append(p.free, i)
}

func (p *profiles) sweep(m *Model, h int32) {
	idle := int32(m.cfg.EvictAfterDays) * 24
	for i := range p.slab.len() {
		if e := p.slab.at(i).entity; e != "" && h-1-p.slab.at(i).lastHour > idle {
			p.remove(i)
		}
	}
}

// decayTo brings the counts of u to week wk.
func (p *profiles) decayTo(u *profile, wk int32) {
	if wk <= u.decayWeek {
		return
	}
	f := math.Pow(p.decay, float64(wk-u.decayWeek))
	for s, c := range u.cnt {
		u.cnt[s] = uint16(float64(c) * f)
	}
	u.decayWeek = wk
}

// weeks is the decayed number of weeks of history at hour h.
func (p *profiles) weeks(u *profile, h int32) float64 {
	n := float64(h-u.first) / 168
	return (1 - math.Pow(p.decay, n)) / (1 - p.decay)
}

// prob is the smoothed P(active in slot) at hour h, before learning h.
func (p *profiles) prob(u *profile, slot int, h int32) float64 {
	var c float64
	for _, x := range p.nbr[slot][:p.nbrN[slot]] {
		c += float64(x.w) * float64(u.cnt[x.slot])
	}
	c /= cScale
	return min(1, (c+priorA)/(p.nbrW[slot]*p.weeks(u, h)+priorB))
}

func (p *profiles) observe(m *Model, e Event, h int32) {
	i, ok := p.index[e.Entity]
	if !ok {
		i = p.add(m, e.Entity, h)
	} else {
		p.l.touch(i)
	}
	u := p.slab.at(i)
	if u.lastHour >= h {
		return // this hour is already counted
	}
	c := p.cfg
	p.decayTo(u, weekOf(h))
	slot := how(h)
	w := 1.0
	warm := h-u.first >= int32(c.ProfileWarmupDays)*24 && u.active >= uint32(c.ProfileMinActiveHours)
	if warm && h >= u.normalUntil {
		if pr := p.prob(u, slot, h); pr < c.RareP {
			w = c.FlaggedWeight
			if h-u.sessionEnd > int32(c.SessionGapHours)+1 || u.sessionEnd == 0 {
				m.emit(p.finding(u, h, slot, pr, e.Evidence), false)
			}
			u.sessionEnd, u.flaggedHour, u.flaggedOK = h, h, true
		}
	}
	u.cnt[slot] = addCount(u.cnt[slot], w)
	u.last[slot] = uint16(min(weekOf(h)+1, math.MaxUint16))
	u.active++
	u.lastHour = h
}

func addCount(c uint16, w float64) uint16 {
	return uint16(min(float64(c)+w*cScale, math.MaxUint16))
}

var dayNames = [7]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// usual describes the usual hours: per day class, the runs of hours of the
// day (wrapping past midnight) with an activity rate of at least 25%.
func (p *profiles) usual(u *profile, h int32) string {
	wk := p.weeks(u, h)
	if wk <= 0 {
		return "not yet known"
	}
	var parts []string
	for _, cl := range [2]struct {
		name     string
		from, to int
	}{{"Mon-Fri", 0, 5}, {"Sat-Sun", 5, 7}} {
		var on [24]bool
		for hod := range 24 {
			var r float64
			for d := cl.from; d < cl.to; d++ {
				r += float64(u.cnt[d*24+hod]) / cScale
			}
			on[hod] = r/float64(cl.to-cl.from)/wk >= 0.25
		}
		parts = append(parts, cl.name+" "+hourRuns(on))
	}
	return strings.Join(parts, ", ")
}

// hourRuns formats the runs of set hours, a run crossing midnight as one
// ("22:00-06:00").
func hourRuns(on [24]bool) string {
	first := -1 // an hour that starts a run: set, its predecessor not
	for hod := range 24 {
		if on[hod] && !on[(hod+23)%24] {
			first = hod
			break
		}
	}
	switch {
	case first < 0 && on[0]:
		return "00:00-24:00"
	case first < 0:
		return "rarely"
	}
	var runs []string
	for i := 0; i < 24; {
		hod := (first + i) % 24
		if !on[hod] {
			i++
			continue
		}
		n := 0
		for n < 24 && on[(hod+n)%24] {
			n++
		}
		runs = append(runs, fmt.Sprintf("%02d:00-%02d:00", hod, (hod+n-1)%24+1))
		i += n
	}
	return strings.Join(runs, " and ")
}

func (p *profiles) finding(u *profile, h int32, slot int, pr float64, evidence string) Finding {
	c := p.cfg
	span := float64(h-u.first) / 24
	conf := min(1, span/28) * min(1, float64(u.active)/float64(2*max(c.ProfileMinActiveHours, 1)))
	start := hourStart(h)
	var seen string
	if l := u.last[slot]; l == 0 {
		seen = fmt.Sprintf("for the first time in %.0f days of history", span)
	} else {
		ago := float64(weekOf(h)-int32(l-1)) * 7
		seen = fmt.Sprintf("last active at this hour of the week about %.0f days ago", ago)
	}
	f := Finding{
		Model: ModelTimeOfDay, Version: Version, Entity: u.entity, Metric: TimeOfDay, Direction: Rare,
		Start: start, End: hourStart(h + 1), Observed: 1, Expected: pr, Probability: pr,
		Confidence: conf, HistoryDays: span,
		Message: fmt.Sprintf("%s is usually active %s (UTC as seen in the data); active %s %s %s (P(active) = %.2g%%)",
			u.entity, p.usual(u, h), dayNames[slot/24], start.Format("15:04"), seen, 100*pr),
	}
	if evidence != "" {
		f.Evidence = []string{evidence}
	}
	return f
}

func (p *profiles) markNormal(m *Model, entity string, h int32) bool {
	i, ok := p.index[entity]
	if !ok {
		return false
	}
	u := p.slab.at(i)
	u.normalUntil = max(u.normalUntil, h)
	if u.flaggedOK && u.flaggedHour < h {
		s := how(u.flaggedHour)
		u.cnt[s] = addCount(u.cnt[s], 1-m.cfg.FlaggedWeight)
		u.flaggedOK = false
	}
	u.sessionEnd = 0
	return true
}
