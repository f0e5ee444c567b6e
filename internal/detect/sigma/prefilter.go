package sigma

import "regexp/syntax"

// The literal prefilter: every literal of every string matcher (the text of an
// exact, startswith, endswith or contains value, and the longest literal run of a
// wildcard pattern) is registered per field. Per event, each field that rules look
// at is scanned once with an Aho-Corasick automaton of its literals, which records
// for each literal found whether it was found anywhere, at the start, at the end, or
// as the whole value. String conditions then test these flags instead of searching,
// and a rule is evaluated only when one of its guard literals was found (a guard is
// a set of literals one of which any match of the rule must contain).

// Occurrence flags of a literal in a field's values.
const (
	fContains uint8 = 1 << iota
	fPrefix
	fSuffix
	fExact
)

// litKey identifies a literal: the automaton (field slot and case handling) and text.
type litKey struct {
	auto int
	s    string
}

// prefilter holds the literal tables of a Ruleset.
type prefilter struct {
	ids     map[litKey]int32
	autoOf  map[int]int // automaton key (slot*2 + cased) -> index in autos
	autos   []*acAuto
	litAuto []int32      // literal -> automaton index
	text    []string     // literal -> its text
	rules   [][]ruleNeed // literal -> rules it guards
}

// acAuto is the automaton of one field slot, lower-cased or as written.
type acAuto struct {
	slot   int
	cased  bool
	lits   []string
	global []int32 // local id -> literal id
	ac     *acAutomaton
}

type ruleNeed struct {
	rule int32
	need uint8
}

// guardEntry is one literal of a guard with the occurrence it needs.
type guardEntry struct {
	lit  int32
	need uint8
}

// literal returns the id of a literal of a slot, adding it.
func (p *prefilter) literal(slot int, cased bool, s string) int32 {
	key := slot * 2
	if cased {
		key++
	}
	ai, ok := p.autoOf[key]
	if !ok {
		ai = len(p.autos)
		p.autoOf[key] = ai
		p.autos = append(p.autos, &acAuto{slot: slot, cased: cased})
	}
	k := litKey{auto: ai, s: s}
	if id, ok := p.ids[k]; ok {
		return id
	}
	id := int32(len(p.litAuto))
	p.ids[k] = id
	p.litAuto = append(p.litAuto, int32(ai))
	p.text = append(p.text, s)
	p.rules = append(p.rules, nil)
	a := p.autos[ai]
	a.lits = append(a.lits, s)
	a.global = append(a.global, id)
	return id
}

// build compiles the automata once every literal is known.
func (p *prefilter) build() {
	for _, a := range p.autos {
		a.ac = buildAC(a.lits)
	}
}

// prepare assigns literals to the string matchers of every compiled rule, computes
// each rule's guard, and indexes rules by guard literal.
func (rs *Ruleset) prepare() {
	p := &rs.pre
	p.ids = map[litKey]int32{}
	p.autoOf = map[int]int{}
	for _, cr := range rs.rules {
		walkConds(cr.cond, func(c *cond) {
			if c.kind == cRegex {
				c.auto = -1
				c.reLits = make([]int32, len(c.res))
				for i, re := range c.res {
					c.reLits[i] = -1
					if lit := regexLiteral(re.String()); lit != "" {
						// Every match contains lit; the lower-cased value then
						// contains it lower-cased, whatever the regex's flags.
						c.reLits[i] = p.literal(c.slot, false, lower(lit))
						c.auto = p.litAuto[c.reLits[i]]
					}
				}
				return
			}
			if c.kind != cString || c.slot < 0 {
				return
			}
			c.fast = true
			for i := range c.strs {
				m := &c.strs[i]
				m.lit = -1
				lit, need := m.literal()
				if lit != "" {
					m.lit, m.need = p.literal(c.slot, c.cased, lit), need
					m.auto = p.litAuto[m.lit]
				}
			}
			if len(c.strs) > 0 {
				c.auto = -1
				for _, m := range c.strs {
					if m.lit >= 0 {
						c.auto = p.litAuto[m.lit]
						break
					}
				}
			}
		})
	}
	p.build()
	for idx, cr := range rs.rules {
		g, ok := p.guardOf(cr.cond)
		if !ok || len(g) == 0 {
			continue
		}
		cr.guarded = true
		for _, e := range g {
			p.rules[e.lit] = append(p.rules[e.lit], ruleNeed{rule: int32(idx), need: e.need})
			cr.guardAutos = appendUnique(cr.guardAutos, p.litAuto[e.lit])
		}
	}
}

func appendUnique(s []int32, v int32) []int32 {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// literal returns the literal a matcher's every match contains and the occurrence
// it needs; "" when it has none (empty values, a lone *).
func (m *strMatcher) literal() (string, uint8) {
	switch m.kind {
	case strExact:
		return m.s, fExact
	case strPrefix:
		return m.s, fPrefix
	case strSuffix:
		return m.s, fSuffix
	case strContains:
		return m.s, fContains
	case strGlob:
		best := ""
		for _, p := range m.glob {
			if p.wild == 0 && len(p.lit) > len(best) {
				best = p.lit
			}
		}
		return best, fContains
	}
	return "", 0
}

// walkConds calls fn for every condition under n.
func walkConds(n node, fn func(*cond)) {
	switch n := n.(type) {
	case andNode:
		for _, x := range n {
			walkConds(x, fn)
		}
	case orNode:
		for _, x := range n {
			walkConds(x, fn)
		}
	case notNode:
		walkConds(n.x, fn)
	case *searchNode:
		for _, g := range n.groups {
			for _, c := range g {
				fn(c)
			}
		}
	}
}

// guardOf returns literals one of which every match of n contains (ok false when n
// can match without any literal).
func (p *prefilter) guardOf(n node) ([]guardEntry, bool) {
	switch n := n.(type) {
	case andNode:
		return p.bestGuard(len(n), func(i int) ([]guardEntry, bool) { return p.guardOf(n[i]) })
	case orNode:
		var all []guardEntry
		for _, x := range n {
			g, ok := p.guardOf(x)
			if !ok {
				return nil, false
			}
			all = append(all, g...)
		}
		return all, len(all) > 0
	case *searchNode:
		var all []guardEntry
		for _, grp := range n.groups {
			g, ok := p.bestGuard(len(grp), func(i int) ([]guardEntry, bool) { return condGuard(grp[i]) })
			if !ok {
				return nil, false
			}
			all = append(all, g...)
		}
		return all, len(all) > 0
	}
	return nil, false // not: matches on absence
}

// bestGuard picks, among n alternatives that must all hold, the guard most likely
// to be selective: the one whose shortest literal is longest, then the smallest.
func (p *prefilter) bestGuard(n int, get func(int) ([]guardEntry, bool)) ([]guardEntry, bool) {
	var best []guardEntry
	bestScore := -1
	for i := 0; i < n; i++ {
		g, ok := get(i)
		if !ok || len(g) == 0 {
			continue
		}
		shortest := 1 << 20
		for _, e := range g {
			shortest = min(shortest, len(p.text[e.lit]))
		}
		if score := shortest*1000 - min(len(g), 999); score > bestScore {
			best, bestScore = g, score
		}
	}
	return best, best != nil
}

// regexLiteral returns a literal every match of the regular expression contains
// (the longest found), or "".
func regexLiteral(expr string) string {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return ""
	}
	return requiredLiteral(re.Simplify())
}

func requiredLiteral(re *syntax.Regexp) string {
	switch re.Op {
	case syntax.OpLiteral:
		return string(re.Rune)
	case syntax.OpCapture, syntax.OpPlus:
		return requiredLiteral(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredLiteral(re.Sub[0])
		}
	case syntax.OpConcat:
		best := ""
		for _, sub := range re.Sub {
			if l := requiredLiteral(sub); len(l) > len(best) {
				best = l
			}
		}
		return best
	}
	return ""
}

// condGuard is the guard of one condition: the literals of its matchers, when every
// matcher has one and the condition is not negated.
func condGuard(c *cond) ([]guardEntry, bool) {
	if c.kind == cRegex && !c.neg && len(c.reLits) > 0 {
		out := make([]guardEntry, 0, len(c.reLits))
		for _, l := range c.reLits {
			if l < 0 {
				return nil, false
			}
			out = append(out, guardEntry{lit: l, need: fContains})
		}
		return out, true
	}
	if c.kind != cString || c.neg || c.slot < 0 || len(c.strs) == 0 {
		return nil, false
	}
	strs := c.strs
	if c.all && len(c.groups) >= 2 {
		strs = c.strs[c.groups[0]:c.groups[1]] // any value of the first group
	}
	out := make([]guardEntry, 0, len(strs))
	for _, m := range strs {
		if m.lit < 0 {
			return nil, false
		}
		need := m.need
		if m.kind == strGlob {
			need = fContains
		}
		out = append(out, guardEntry{lit: m.lit, need: need})
	}
	return out, true
}
