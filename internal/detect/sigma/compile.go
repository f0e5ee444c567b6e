package sigma

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// Options configures Compile.
type Options struct {
	// Mapping routes logsources and renames fields; nil is DefaultMapping().
	Mapping *Mapping
	// Placeholders gives the values of %name% placeholders (expand modifier). A rule
	// using a placeholder without values is rejected, as the specification demands.
	Placeholders map[string][]string
}

// Ruleset is a compiled collection of rules, ready to evaluate events. It is
// read-only once built: evaluate with one Matcher per goroutine.
type Ruleset struct {
	rules  []*compiledRule
	fields []event.Accessor // by slot
	slotOf map[string]int

	// Dispatch: rules by (lower-cased Channel, EventID), by Channel alone, and
	// the rest, checked on every event.
	byChanEID map[string]*bucket
	byChan    map[string]*bucket
	// byField indexes rules routed by an ECS field (event.dataset, event.module).
	byField []fieldIndex
	generic bucket

	pre prefilter

	chanSlot, eidSlot int

	// Rejected holds the rules that could not be compiled, with their reasons.
	Rejected []*LoadError
	// Unrouted holds loaded rules whose logsource has no mapping entry: they are
	// valid but no event reaches them.
	Unrouted []*Rule
	// Loaded counts the rules compiled (a rule with several logsource variants
	// counts once).
	Loaded int
}

// bucket is a dispatch list: rules, and the automata of their guard literals.
type bucket struct {
	rules []int
	autos []int32
}

func (b *bucket) add(idx int) { b.rules = append(b.rules, idx) }

// compiledRule is one rule in one logsource variant.
type compiledRule struct {
	rule     *Rule
	where    []whereCheck
	cond     node
	searches []*searchNode // for explanations, in rule order

	// guarded: the rule can only match when one of its guard literals (in the
	// automata guardAutos) was found in the event.
	guarded    bool
	guardAutos []int32
}

// whereCheck is a routing condition left after dispatch: the slot's value equals one
// of values (lower-cased).
type whereCheck struct {
	slot   int
	values []string
}

// Compile builds a Ruleset from the rules and filters of c.
func Compile(c *Collection, opts Options) (*Ruleset, error) {
	m := opts.Mapping
	if m == nil {
		m = DefaultMapping()
	}
	rs := &Ruleset{
		slotOf:    map[string]int{},
		byChanEID: map[string]*bucket{},
		byChan:    map[string]*bucket{},
	}
	rs.chanSlot = rs.slot("Channel")
	rs.eidSlot = rs.slot("EventID")
	for _, r := range c.Rules {
		entry := m.For(r.LogSource)
		if entry == nil {
			rs.Unrouted = append(rs.Unrouted, r)
			continue
		}
		var filters []*Filter
		for _, f := range c.Filters {
			if f.Applies(r) {
				filters = append(filters, f)
			}
		}
		var compiled []*compiledRule
		var err error
		for i := range entry.Variants {
			var cr *compiledRule
			if cr, err = rs.compileRule(r, &entry.Variants[i], filters, opts); err != nil {
				break
			}
			compiled = append(compiled, cr)
		}
		if err != nil {
			reason := ReasonUnsupported
			if errors.Is(err, errPlaceholder) {
				reason = ReasonPlaceholder
			}
			rs.Rejected = append(rs.Rejected, &LoadError{Source: r.Source, Title: r.Title, Reason: reason, Err: err})
			continue
		}
		rs.Loaded++
		for i, cr := range compiled {
			rs.register(cr, &entry.Variants[i])
		}
	}
	rs.prepare()
	for _, b := range rs.buckets() {
		for _, idx := range b.rules {
			for _, a := range rs.rules[idx].guardAutos {
				b.autos = appendUnique(b.autos, a)
			}
		}
	}
	return rs, nil
}

// buckets lists every dispatch bucket.
func (rs *Ruleset) buckets() []*bucket {
	out := []*bucket{&rs.generic}
	for _, fi := range rs.byField {
		for _, b := range fi.m {
			out = append(out, b)
		}
	}
	for _, b := range rs.byChanEID {
		out = append(out, b)
	}
	for _, b := range rs.byChan {
		out = append(out, b)
	}
	return out
}

// slot returns the field slot of an event field name, adding it.
func (rs *Ruleset) slot(name string) int {
	if s, ok := rs.slotOf[name]; ok {
		return s
	}
	s := len(rs.fields)
	rs.slotOf[name] = s
	rs.fields = append(rs.fields, event.Lookup(name))
	return s
}

// register adds a compiled rule to the dispatch tables.
func (rs *Ruleset) register(cr *compiledRule, v *Variant) {
	idx := len(rs.rules)
	rs.rules = append(rs.rules, cr)
	var chans, eids []string
	for _, w := range v.Where {
		switch w.Field {
		case "Channel":
			chans = w.Values
		case "EventID":
			eids = w.Values
		default:
			cr.where = append(cr.where, whereCheck{slot: rs.slot(w.Field), values: lowerAll(w.Values)})
		}
	}
	switch {
	case chans != nil && eids != nil:
		for _, c := range chans {
			for _, e := range eids {
				getBucket(rs.byChanEID, lower(c)+"\x00"+e).add(idx)
			}
		}
	case chans != nil:
		for _, c := range chans {
			getBucket(rs.byChan, lower(c)).add(idx)
		}
	default:
		if eids != nil {
			cr.where = append(cr.where, whereCheck{slot: rs.eidSlot, values: eids})
		}
		for _, w := range v.Where {
			if fi := rs.fieldIndex(w.Field); fi != nil {
				for _, val := range w.Values {
					getBucket(fi.m, lower(val)).add(idx)
				}
				return
			}
		}
		rs.generic.add(idx)
	}
}

// fieldIndex is the dispatch index of rules routed by one ECS field's value.
type fieldIndex struct {
	slot int
	m    map[string]*bucket
}

// indexedFields are the routing fields with an index of their own, in the order an
// event's buckets are looked up.
var indexedFields = []string{"event.dataset", "event.module"}

// fieldIndex returns the index of field, nil when the field is not indexed.
func (rs *Ruleset) fieldIndex(field string) *fieldIndex {
	pos := -1
	for i, f := range indexedFields {
		if f == field {
			pos = i
		}
	}
	if pos < 0 {
		return nil
	}
	for len(rs.byField) <= pos {
		f := indexedFields[len(rs.byField)]
		rs.byField = append(rs.byField, fieldIndex{slot: rs.slot(f), m: map[string]*bucket{}})
	}
	return &rs.byField[pos]
}

func getBucket(m map[string]*bucket, k string) *bucket {
	b, ok := m[k]
	if !ok {
		b = &bucket{}
		m[k] = b
	}
	return b
}

func lowerAll(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = lower(v)
	}
	return out
}

// compiler compiles one rule in one variant.
type compiler struct {
	rs       *Ruleset
	variant  *Variant
	opts     Options
	searches map[string]*searchNode
}

func (rs *Ruleset) compileRule(r *Rule, v *Variant, filters []*Filter, opts Options) (*compiledRule, error) {
	c := &compiler{rs: rs, variant: v, opts: opts, searches: map[string]*searchNode{}}
	cr := &compiledRule{rule: r}
	cond, err := c.detection(&r.Detection, "")
	if err != nil {
		return nil, err
	}
	for _, s := range r.Detection.Searches {
		cr.searches = append(cr.searches, c.searches[s.Name])
	}
	if len(filters) > 0 {
		all := andNode{cond}
		for i, f := range filters {
			fc, err := c.detection(&f.Detection, fmt.Sprintf("filter%d:", i))
			if err != nil {
				return nil, fmt.Errorf("filter %q (%s): %w", f.Title, f.Source, err)
			}
			all = append(all, fc)
		}
		cond = all
	}
	cr.cond = cond
	return cr, nil
}

// detection compiles a detection section; prefix keeps a filter's searches apart
// from the rule's.
func (c *compiler) detection(d *Detection, prefix string) (node, error) {
	for _, s := range d.Searches {
		sn, err := c.search(s)
		if err != nil {
			return nil, err
		}
		c.searches[prefix+s.Name] = sn
	}
	var conds orNode
	for _, e := range d.Conditions {
		n, err := c.expr(e, prefix)
		if err != nil {
			return nil, err
		}
		conds = append(conds, n)
	}
	if len(conds) == 1 {
		return conds[0], nil
	}
	return conds, nil
}

func (c *compiler) expr(e Expr, prefix string) (node, error) {
	switch e := e.(type) {
	case Ident:
		return c.searches[prefix+e.Name], nil
	case Not:
		x, err := c.expr(e.X, prefix)
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case And:
		var out andNode
		for _, x := range e.X {
			n, err := c.expr(x, prefix)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return out, nil
	case Or:
		var out orNode
		for _, x := range e.X {
			n, err := c.expr(x, prefix)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return out, nil
	case Of:
		var xs []node
		for _, name := range e.Names {
			xs = append(xs, c.searches[prefix+name])
		}
		if e.All {
			return andNode(xs), nil
		}
		return orNode(xs), nil
	}
	return nil, fmt.Errorf("condition: unknown expression %T", e)
}

func (c *compiler) search(s *Search) (*searchNode, error) {
	sn := &searchNode{name: s.Name}
	for _, g := range s.Groups {
		var group []*cond
		for _, fm := range g {
			cd, err := c.fieldMatch(fm)
			if err != nil {
				return nil, fmt.Errorf("search %q, %s: %w", s.Name, describe(fm), err)
			}
			group = append(group, cd)
		}
		// AND is order-free: cheap conditions first, so a group usually fails
		// before a regular expression runs.
		sort.SliceStable(group, func(i, j int) bool { return group[i].cost() < group[j].cost() })
		sn.groups = append(sn.groups, group)
	}
	return sn, nil
}

func describe(fm *FieldMatch) string {
	name := fm.Field
	for _, m := range fm.Modifiers {
		name += "|" + m.String()
	}
	if fm.Field == "" && len(fm.Modifiers) == 0 {
		return "keywords"
	}
	return name
}

var errPlaceholder = errors.New("placeholder without a configured value")

// fieldMatch compiles one field match into a condition.
func (c *compiler) fieldMatch(fm *FieldMatch) (*cond, error) {
	cd := &cond{field: fm.Field, slot: -1, all: fm.Has(ModAll), neg: fm.Has(ModNeq), cased: fm.Has(ModCased)}
	if fm.Field != "" {
		cd.slot = c.rs.slot(c.variant.field(fm.Field))
	} else {
		cd.kind = cKeyword
	}
	switch {
	case fm.Has(ModExists):
		cd.kind, cd.exists = cExists, fm.Values[0].Text == "true"
		return cd, nil
	case len(fm.Values) == 1 && fm.Values[0].Kind == ValueNull:
		if cd.kind == cKeyword {
			return nil, errors.New("null is not a keyword")
		}
		cd.kind = cNull
		return cd, nil
	case fm.Has(ModFieldRef):
		cd.kind = cFieldRef
		for _, v := range fm.Values {
			cd.refSlots = append(cd.refSlots, c.rs.slot(c.variant.field(v.Text)))
		}
		cd.pos = position(fm)
		return cd, nil
	case fm.Has(ModCIDR):
		cd.kind = cCIDR
		for _, v := range fm.Values {
			p, err := netip.ParsePrefix(strings.TrimSpace(v.Text))
			if err != nil {
				return nil, fmt.Errorf("cidr: %w", err)
			}
			cd.prefixes = append(cd.prefixes, p.Masked())
		}
		return cd, nil
	case fm.Has(ModRe):
		cd.kind = cRegex
		flags := ""
		if fm.Has(ModReI) {
			flags += "i"
		}
		if fm.Has(ModReM) {
			flags += "m"
		}
		if fm.Has(ModReS) {
			flags += "s"
		}
		for _, v := range fm.Values {
			expr := v.Text
			if flags != "" {
				expr = "(?" + flags + ")" + expr
			}
			re, err := regexp.Compile(expr)
			if err != nil {
				return nil, fmt.Errorf("re: %w", err)
			}
			cd.res = append(cd.res, re)
		}
		return cd, nil
	}
	if op, ok := cmpOf(fm); ok || timePartOf(fm) != 0 {
		cd.kind, cd.op, cd.timePart = cNumCmp, op, timePartOf(fm)
		if cd.timePart != 0 {
			cd.kind = cTimePart
		}
		for _, v := range fm.Values {
			n, err := strconv.ParseFloat(v.Text, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a number", v.Text)
			}
			cd.nums = append(cd.nums, n)
		}
		return cd, nil
	}
	// A string match, after the value transformations.
	if cd.kind != cKeyword {
		cd.kind = cString
	}
	for _, v := range fm.Values {
		texts := []string{v.Text}
		var err error
		if fm.Has(ModExpand) {
			if texts, err = c.expand(v.Text); err != nil {
				return nil, err
			}
		}
		for _, t := range texts {
			ms, err := stringMatchers(fm, t)
			if err != nil {
				return nil, err
			}
			if len(ms) > 0 && ms[0].cased {
				cd.cased = true // encoded values compare with the values as written
			}
			if cd.all {
				// all: every value must match; a value expanding into variants
				// (windash, base64offset) matches when any variant does.
				cd.groups = append(cd.groups, len(cd.strs))
			}
			cd.strs = append(cd.strs, ms...)
		}
	}
	if cd.all {
		cd.groups = append(cd.groups, len(cd.strs))
	}
	return cd, nil
}

// position returns the positional modifier of fm (contains, startswith, endswith) or 0.
func position(fm *FieldMatch) Modifier {
	for _, m := range []Modifier{ModContains, ModStartsWith, ModEndsWith} {
		if fm.Has(m) {
			return m
		}
	}
	return 0
}

// stringMatchers applies the transformation modifiers in their order to one value
// and returns the matchers of its variants.
func stringMatchers(fm *FieldMatch, text string) ([]strMatcher, error) {
	// Encoding modifiers work on the plain text; wildcards stay wildcards
	// otherwise.
	encoded := false
	vals := []string{text}
	var err error
	for _, m := range fm.Modifiers {
		switch m {
		case ModWindash:
			var out []string
			for _, v := range vals {
				w, err := windash(v)
				if err != nil {
					return nil, err
				}
				out = append(out, w...)
			}
			vals = out
		case ModUTF16LE, ModWide:
			vals = mapStrings(vals, func(s string) string { return utf16le(plain(parseSigmaString(s))) })
			encoded = true
		case ModUTF16BE:
			vals = mapStrings(vals, func(s string) string { return utf16be(plain(parseSigmaString(s))) })
			encoded = true
		case ModUTF16:
			vals = mapStrings(vals, func(s string) string { return "\xff\xfe" + utf16le(plain(parseSigmaString(s))) })
			encoded = true
		case ModBase64:
			vals = mapStrings(vals, func(s string) string {
				if !encoded {
					s = plain(parseSigmaString(s))
				}
				return base64.StdEncoding.EncodeToString([]byte(s))
			})
			encoded = true
		case ModBase64Offset:
			var out []string
			for _, v := range vals {
				if !encoded {
					v = plain(parseSigmaString(v))
				}
				out = append(out, base64Offsets(v)...)
			}
			vals = out
			encoded = true
		}
	}
	if err != nil {
		return nil, err
	}
	pos := position(fm)
	if fm.Field == "" && pos == 0 {
		// A keyword is searched anywhere in the event's text, as full-text
		// search backends do.
		pos = ModContains
	}
	out := make([]strMatcher, 0, len(vals))
	for _, v := range vals {
		var ps []piece
		if encoded {
			ps = []piece{{lit: v}} // encoded text has no wildcards
		} else {
			ps = parseSigmaString(v)
		}
		switch pos {
		case ModContains:
			ps = append(append([]piece{{wild: '*'}}, ps...), piece{wild: '*'})
		case ModStartsWith:
			ps = append(ps, piece{wild: '*'})
		case ModEndsWith:
			ps = append([]piece{{wild: '*'}}, ps...)
		}
		ps = squashStars(ps)
		// Encoded values are matched as written: base64 is case-sensitive.
		out = append(out, newStrMatcher(ps, fm.Has(ModCased) || encoded))
	}
	return out, nil
}

func squashStars(ps []piece) []piece {
	out := ps[:0:0]
	for _, p := range ps {
		if p.wild == '*' && len(out) > 0 && out[len(out)-1].wild == '*' {
			continue
		}
		if p.wild == 0 && p.lit == "" {
			continue
		}
		out = append(out, p)
	}
	return out
}

func mapStrings(vs []string, f func(string) string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = f(v)
	}
	return out
}

// expand replaces %name% placeholders with their configured values (every
// combination when a value has several). \% is a plain percent sign.
func (c *compiler) expand(text string) ([]string, error) {
	out := []string{""}
	for i := 0; i < len(text); {
		switch {
		case text[i] == '\\' && i+1 < len(text) && text[i+1] == '%':
			out = appendAll(out, "%")
			i += 2
		case text[i] == '%':
			j := strings.IndexByte(text[i+1:], '%')
			if j < 0 {
				out = appendAll(out, text[i:])
				i = len(text)
				continue
			}
			name := text[i+1 : i+1+j]
			vals, ok := c.opts.Placeholders[name]
			if !ok || len(vals) == 0 {
				return nil, fmt.Errorf("%w: %%%s%%", errPlaceholder, name)
			}
			var next []string
			for _, o := range out {
				for _, v := range vals {
					next = append(next, o+v)
				}
			}
			if len(next) > 4096 {
				return nil, fmt.Errorf("placeholders expand to more than 4096 values")
			}
			out = next
			i += j + 2
		default:
			j := i + 1
			for j < len(text) && text[j] != '%' && text[j] != '\\' {
				j++
			}
			out = appendAll(out, text[i:j])
			i = j
		}
	}
	return out, nil
}

func appendAll(out []string, s string) []string {
	for i := range out {
		out[i] += s
	}
	return out
}

// cmpOf returns the comparison a numeric modifier asks for.
func cmpOf(fm *FieldMatch) (cmpOp, bool) {
	switch {
	case fm.Has(ModLt):
		return opLt, true
	case fm.Has(ModLte):
		return opLte, true
	case fm.Has(ModGt):
		return opGt, true
	case fm.Has(ModGte):
		return opGte, true
	}
	return opEq, false
}

func timePartOf(fm *FieldMatch) Modifier {
	for _, m := range []Modifier{ModMinute, ModHour, ModDay, ModWeek, ModMonth, ModYear} {
		if fm.Has(m) {
			return m
		}
	}
	return 0
}
