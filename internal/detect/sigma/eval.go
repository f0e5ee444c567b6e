package sigma

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/vigilsec/vigil/internal/event"
)

// node is a compiled condition.
type node interface{ eval(v *view) bool }

type andNode []node
type orNode []node
type notNode struct{ x node }

func (n andNode) eval(v *view) bool {
	for _, x := range n {
		if !x.eval(v) {
			return false
		}
	}
	return true
}

func (n orNode) eval(v *view) bool {
	for _, x := range n {
		if x.eval(v) {
			return true
		}
	}
	return false
}

func (n notNode) eval(v *view) bool { return !n.x.eval(v) }

// searchNode is a search: an OR of groups, each an AND of conditions.
type searchNode struct {
	name   string
	groups [][]*cond
}

func (s *searchNode) eval(v *view) bool {
	for _, g := range s.groups {
		if evalGroup(g, v) {
			return true
		}
	}
	return false
}

func evalGroup(g []*cond, v *view) bool {
	for _, c := range g {
		if !c.eval(v) {
			return false
		}
	}
	return true
}

type condKind uint8

const (
	cString condKind = iota
	cKeyword
	cNull
	cExists
	cNumCmp
	cTimePart
	cCIDR
	cRegex
	cFieldRef
)

type cmpOp uint8

const (
	opEq cmpOp = iota
	opLt
	opLte
	opGt
	opGte
)

// cond is one compiled field match.
type cond struct {
	kind  condKind
	fast  bool   // a string condition evaluated through the prefilter
	auto  int32  // its automaton (-1: none of its matchers has a literal)
	field string // the Sigma field name, for explanations
	slot  int    // -1 for keywords
	all   bool   // every value must match (all modifier)
	neg   bool   // neq: the result is negated
	cased bool

	strs   []strMatcher
	groups []int // with all: strs[groups[i]:groups[i+1]] are the variants of value i

	res      []*regexp.Regexp
	reLits   []int32 // per regex, a literal every match contains (-1: none); see prefilter.go
	nums     []float64
	op       cmpOp
	timePart Modifier
	prefixes []netip.Prefix
	exists   bool
	refSlots []int
	pos      Modifier // fieldref: contains/startswith/endswith
}

// cost ranks how expensive a condition is to evaluate, for ordering AND groups.
func (c *cond) cost() int {
	switch c.kind {
	case cString, cExists, cNull:
		return 0
	case cRegex:
		return 2
	}
	return 1
}

func (c *cond) eval(v *view) bool {
	if c.fast {
		return c.evalFast(v) != c.neg
	}
	if c.reLits != nil {
		return c.evalRegex(v) != c.neg
	}
	_, ok := c.match(v)
	return ok != c.neg
}

// evalFast evaluates a string condition from the literals the prefilter found,
// testing values directly only for matchers a literal cannot decide.
func (c *cond) evalFast(v *view) bool {
	if c.auto >= 0 {
		v.scan(c.auto)
	}
	if c.all {
		for g := 0; g+1 < len(c.groups); g++ {
			found := false
			for k := c.groups[g]; k < c.groups[g+1] && !found; k++ {
				found = v.sat(&c.strs[k], c)
			}
			if !found {
				return false
			}
		}
		return true
	}
	for k := range c.strs {
		if v.sat(&c.strs[k], c) {
			return true
		}
	}
	return false
}

// evalRegex runs only the regular expressions whose required literal occurs.
func (c *cond) evalRegex(v *view) bool {
	if c.auto >= 0 {
		v.scan(c.auto)
	}
	for i, re := range c.res {
		if l := c.reLits[i]; l >= 0 && v.litGen[l] != v.gen {
			continue
		}
		for _, x := range v.values(c.slot, false) {
			if re.MatchString(x) {
				return true
			}
		}
	}
	return false
}

// sat reports whether a matcher of c holds for some value of its field.
func (v *view) sat(m *strMatcher, c *cond) bool {
	if m.lit >= 0 {
		if v.litGen[m.lit] != v.gen {
			return false
		}
		f := v.litFlags[m.lit]
		if m.kind != strGlob {
			return f&m.need != 0
		}
		if f&fContains == 0 {
			return false
		}
	}
	for _, x := range v.values(c.slot, !c.cased) {
		if m.match(x) {
			return true
		}
	}
	return false
}

// scan runs automaton ai over its field's values once per event, recording the
// literals found and how.
func (v *view) scan(ai int32) {
	if v.scanned[ai] == v.gen {
		return
	}
	v.scanned[ai] = v.gen
	a := v.rs.pre.autos[ai]
	for _, x := range v.values(a.slot, !a.cased) {
		n := len(x)
		a.ac.scan(x, func(id int32, start, end int) {
			g := a.global[id]
			if v.litGen[g] != v.gen {
				v.litGen[g] = v.gen
				v.litFlags[g] = 0
				v.matched = append(v.matched, g)
			}
			f := fContains
			if start == 0 {
				f |= fPrefix
			}
			if end == n {
				f |= fSuffix
				if start == 0 {
					f |= fExact
				}
			}
			v.litFlags[g] |= f
		})
	}
}

// markRules marks the rules guarded by a literal found so far with the occurrence
// they need.
func (v *view) markRules() {
	p := &v.rs.pre
	for _, g := range v.matched {
		f := v.litFlags[g]
		for _, rn := range p.rules[g] {
			if f&rn.need != 0 {
				v.ruleGen[rn.rule] = v.gen
			}
		}
	}
}

// match reports whether the condition (before neq) holds and the value that made it
// hold.
func (c *cond) match(v *view) (string, bool) {
	switch c.kind {
	case cString:
		return matchStrings(c, v.values(c.slot, !c.cased), v.values(c.slot, false))
	case cKeyword:
		low, orig := v.keywords(!c.cased)
		return matchStrings(c, low, orig)
	case cNull:
		vals := v.values(c.slot, false)
		for _, x := range vals {
			if x != "" {
				return "", false
			}
		}
		return "null", true
	case cExists:
		present := v.present(c.slot)
		return "", present == c.exists
	case cNumCmp:
		for _, x := range v.values(c.slot, false) {
			n, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err == nil && c.compare(n) {
				return x, true
			}
		}
	case cTimePart:
		for _, x := range v.values(c.slot, false) {
			if n, ok := timePart(x, c.timePart); ok && c.compare(float64(n)) {
				return x, true
			}
		}
	case cCIDR:
		for _, x := range v.values(c.slot, false) {
			ip, err := netip.ParseAddr(strings.TrimSpace(x))
			if err != nil {
				continue
			}
			ip = ip.Unmap()
			for _, p := range c.prefixes {
				if p.Contains(ip) {
					return x, true
				}
			}
		}
	case cRegex:
		for _, x := range v.values(c.slot, false) {
			for _, re := range c.res {
				if re.MatchString(x) {
					return x, true
				}
			}
		}
	case cFieldRef:
		return c.matchRef(v)
	}
	return "", false
}

// matchStrings matches the string matchers against values (low: as compared, orig:
// as written, for the explanation).
func matchStrings(c *cond, low, orig []string) (string, bool) {
	if c.all {
		var first string
		for g := 0; g+1 < len(c.groups); g++ {
			found := false
			for i, x := range low {
				for k := c.groups[g]; k < c.groups[g+1]; k++ {
					if c.strs[k].match(x) {
						found = true
						if first == "" {
							first = orig[i]
						}
						break
					}
				}
				if found {
					break
				}
			}
			if !found {
				return "", false
			}
		}
		return first, true
	}
	for i, x := range low {
		for k := range c.strs {
			if c.strs[k].match(x) {
				return orig[i], true
			}
		}
	}
	return "", false
}

func (c *cond) compare(n float64) bool {
	for _, want := range c.nums {
		var ok bool
		switch c.op {
		case opLt:
			ok = n < want
		case opLte:
			ok = n <= want
		case opGt:
			ok = n > want
		case opGte:
			ok = n >= want
		default:
			ok = n == want
		}
		if ok {
			return true
		}
	}
	return false
}

func (c *cond) matchRef(v *view) (string, bool) {
	vals := v.values(c.slot, !c.cased)
	orig := v.values(c.slot, false)
	for _, ref := range c.refSlots {
		for _, r := range v.values(ref, !c.cased) {
			for i, x := range vals {
				var ok bool
				switch c.pos {
				case ModContains:
					ok = strings.Contains(x, r)
				case ModStartsWith:
					ok = strings.HasPrefix(x, r)
				case ModEndsWith:
					ok = strings.HasSuffix(x, r)
				default:
					ok = x == r
				}
				if ok {
					return orig[i], true
				}
			}
		}
	}
	return "", false
}

// timeLayouts are the forms of times in event fields the time modifiers read.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05Z07:00"}

func timePart(s string, part Modifier) (int, bool) {
	s = strings.TrimSpace(s)
	var t time.Time
	var err error
	for _, l := range timeLayouts {
		if t, err = time.Parse(l, s); err == nil {
			break
		}
	}
	if err != nil {
		return 0, false
	}
	switch part {
	case ModMinute:
		return t.Minute(), true
	case ModHour:
		return t.Hour(), true
	case ModDay:
		return t.Day(), true
	case ModWeek:
		_, w := t.ISOWeek()
		return w, true
	case ModMonth:
		return int(t.Month()), true
	case ModYear:
		return t.Year(), true
	}
	return 0, false
}

// view is one event as rules see it: field values loaded once per event on first
// use, and lower-cased once. It is reused from event to event without allocating.
type view struct {
	rs    *Ruleset
	e     *event.Event
	gen   uint32
	slots []slotCache
	buf   []byte // lower-cased copies of this event's values

	kwGen         uint32
	kwOrig, kwLow []string

	// Prefilter state, stamped with gen: literals found (and how), automata run,
	// rules whose guard holds.
	litGen   []uint32
	litFlags []uint8
	scanned  []uint32
	ruleGen  []uint32
	matched  []int32

	// Raw field names with spaces ("Threat Name"), which Sigma writes without
	// ("ThreatName"): the event's such fields (found once per event) and their
	// names with the spaces removed (cached across events).
	spacedGen uint32
	spaced    []int
	stripped  map[event.Key]string
}

type slotCache struct {
	gen, lowGen uint32
	vals, low   []string
}

func (v *view) reset(e *event.Event) {
	v.e = e
	if v.litGen == nil {
		v.litGen = make([]uint32, len(v.rs.pre.text))
		v.litFlags = make([]uint8, len(v.rs.pre.text))
		v.scanned = make([]uint32, len(v.rs.pre.autos))
		v.ruleGen = make([]uint32, len(v.rs.rules))
	}
	v.gen++
	if v.gen == 0 { // wrapped: forget everything
		for i := range v.slots {
			v.slots[i] = slotCache{vals: v.slots[i].vals[:0], low: v.slots[i].low[:0]}
		}
		clear(v.litGen)
		clear(v.scanned)
		clear(v.ruleGen)
		v.kwGen, v.spacedGen = 0, 0
		v.gen = 1
	}
	v.buf = v.buf[:0]
	v.matched = v.matched[:0]
	if len(v.slots) < len(v.rs.fields) {
		v.slots = append(v.slots, make([]slotCache, len(v.rs.fields)-len(v.slots))...)
	}
}

// values returns the values of a slot, lower-cased when low is set.
func (v *view) values(slot int, low bool) []string {
	s := &v.slots[slot]
	if s.gen != v.gen {
		acc := v.rs.fields[slot]
		s.vals = acc.AppendStrings(v.e, s.vals[:0])
		if len(s.vals) == 0 && !acc.IsECS() {
			s.vals = v.spacedValues(acc.Name(), s.vals)
		}
		s.gen = v.gen
	}
	if !low {
		return s.vals
	}
	if s.lowGen != v.gen {
		s.low = v.lowerAll(s.vals, s.low[:0])
		s.lowGen = v.gen
	}
	return s.low
}

// spacedValues appends the values of the raw fields whose names, spaces removed,
// are name: the specification writes producer field names without their spaces.
func (v *view) spacedValues(name string, dst []string) []string {
	if v.spacedGen != v.gen {
		v.spaced = v.spaced[:0]
		for i := range v.e.Raw {
			if strings.IndexByte(v.e.Raw[i].Key.Value(), ' ') >= 0 {
				v.spaced = append(v.spaced, i)
			}
		}
		v.spacedGen = v.gen
	}
	for _, i := range v.spaced {
		r := &v.e.Raw[i]
		st, ok := v.stripped[r.Key]
		if !ok {
			st = strings.ReplaceAll(r.Key.Value(), " ", "")
			if v.stripped == nil {
				v.stripped = map[event.Key]string{}
			}
			if len(v.stripped) < 4096 {
				v.stripped[r.Key] = st
			}
		}
		if st == name {
			dst = append(dst, r.Value)
		}
	}
	return dst
}

func (v *view) present(slot int) bool { return len(v.values(slot, false)) > 0 }

// lowerAll appends the lower-cased vals to dst, copying only the values that change.
func (v *view) lowerAll(vals, dst []string) []string {
	for _, x := range vals {
		if isLower(x) {
			dst = append(dst, x)
			continue
		}
		start := len(v.buf)
		v.buf = appendLower(v.buf, x)
		// The bytes are not written again before the next event; a string into
		// an older array stays valid after append grows buf.
		dst = append(dst, unsafe.String(unsafe.SliceData(v.buf[start:]), len(v.buf)-start)) // #nosec G103
	}
	return dst
}

// keywords returns every value of the event a keyword search reads: the message and
// each raw field.
func (v *view) keywords(low bool) (lows, orig []string) {
	if v.kwGen != v.gen {
		v.kwOrig = v.kwOrig[:0]
		if m := v.e.Str(event.Message); m != "" {
			v.kwOrig = append(v.kwOrig, m)
		}
		for i := range v.e.Raw {
			v.kwOrig = append(v.kwOrig, v.e.Raw[i].Value)
		}
		v.kwLow = v.lowerAll(v.kwOrig, v.kwLow[:0])
		v.kwGen = v.gen
	}
	if low {
		return v.kwLow, v.kwOrig
	}
	return v.kwOrig, v.kwOrig
}
