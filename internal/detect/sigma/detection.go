package sigma

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Detection is a rule's detection section: named searches and the conditions over
// them (several conditions are linked with OR).
type Detection struct {
	Searches   []*Search // in file order
	Conditions []Expr
	// ConditionText holds the conditions as written.
	ConditionText []string
}

// Search returns the search named name, or nil.
func (d *Detection) Search(name string) *Search {
	for _, s := range d.Searches {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Search is a search identifier: an OR of groups, each group an AND of field
// matches. A map is one group; a list of maps is one group per map; a list of
// keywords is one group holding one keyword match (Field "").
type Search struct {
	Name   string
	Line   int
	Groups [][]*FieldMatch
}

// FieldMatch is one "Field|mod|mod: values" item. Values are OR-linked, or AND-linked
// with the all modifier. Field is "" for a keyword search over the whole event.
type FieldMatch struct {
	Field     string
	Modifiers []Modifier
	Values    []Value
	Line      int
}

// Has reports whether m carries modifier mod.
func (m *FieldMatch) Has(mod Modifier) bool {
	for _, x := range m.Modifiers {
		if x == mod {
			return true
		}
	}
	return false
}

// ValueKind is the YAML type of a value as the rule wrote it.
type ValueKind uint8

// Value kinds.
const (
	ValueString ValueKind = iota
	ValueNumber
	ValueBool
	ValueNull
)

// Value is one value of a field match, with its text as written.
type Value struct {
	Kind ValueKind
	Text string
}

func (v Value) String() string {
	if v.Kind == ValueNull {
		return "null"
	}
	return v.Text
}

// Modifier is a value modifier of the specification's appendix.
type Modifier uint8

// Modifiers.
const (
	ModContains Modifier = iota + 1
	ModStartsWith
	ModEndsWith
	ModAll
	ModExists
	ModCased
	ModNeq
	ModWindash
	ModRe
	ModReI // re sub-modifier i: case-insensitive
	ModReM // re sub-modifier m: multi-line
	ModReS // re sub-modifier s: dot matches newline
	ModBase64
	ModBase64Offset
	ModUTF16LE
	ModUTF16BE
	ModUTF16
	ModWide
	ModLt
	ModLte
	ModGt
	ModGte
	ModMinute
	ModHour
	ModDay
	ModWeek
	ModMonth
	ModYear
	ModCIDR
	ModExpand
	ModFieldRef
)

var modifierNames = map[string]Modifier{
	"contains": ModContains, "startswith": ModStartsWith, "endswith": ModEndsWith, "all": ModAll,
	"exists": ModExists, "cased": ModCased, "neq": ModNeq, "windash": ModWindash, "re": ModRe,
	"i": ModReI, "m": ModReM, "s": ModReS, "base64": ModBase64, "base64offset": ModBase64Offset,
	"utf16le": ModUTF16LE, "utf16be": ModUTF16BE, "utf16": ModUTF16, "wide": ModWide,
	"lt": ModLt, "lte": ModLte, "gt": ModGt, "gte": ModGte,
	"minute": ModMinute, "hour": ModHour, "day": ModDay, "week": ModWeek, "month": ModMonth, "year": ModYear,
	"cidr": ModCIDR, "expand": ModExpand, "fieldref": ModFieldRef,
}

func (m Modifier) String() string {
	for k, v := range modifierNames {
		if v == m {
			return k
		}
	}
	return fmt.Sprintf("modifier(%d)", m)
}

// parseDetection parses a detection section (or a filter's, what naming it).
func parseDetection(n *yaml.Node, what string) (*Detection, error) {
	kv, err := mapping(n, what)
	if err != nil {
		return nil, err
	}
	d := &Detection{}
	var cond *yaml.Node
	for _, p := range kv {
		name := p[0].Value
		switch name {
		case "condition":
			cond = p[1]
			continue
		case "timeframe":
			return nil, because(ReasonLegacy, errAt(p[0], "timeframe belongs to Sigma 1 aggregations, removed in Sigma 2: use a correlation rule"))
		}
		if name == "" {
			return nil, errAt(p[0], "empty search identifier")
		}
		if d.Search(name) != nil {
			return nil, errAt(p[0], "search identifier %q defined twice", name)
		}
		s, err := parseSearch(name, p[0], p[1])
		if err != nil {
			return nil, because(ReasonDetection, err)
		}
		d.Searches = append(d.Searches, s)
	}
	if cond == nil {
		return nil, errAt(n, "%s has no condition", what)
	}
	texts, err := strList(cond, "condition")
	if err != nil {
		return nil, err
	}
	if len(texts) == 0 {
		return nil, errAt(cond, "condition is empty")
	}
	names := make([]string, len(d.Searches))
	for i, s := range d.Searches {
		names[i] = s.Name
	}
	for _, t := range texts {
		e, err := ParseCondition(t, names)
		if err != nil {
			reason := ReasonCondition
			if errors.Is(err, errAggregation) {
				reason = ReasonLegacy
			}
			return nil, because(reason, errAt(cond, "condition %q: %v", t, err))
		}
		d.Conditions = append(d.Conditions, e)
		d.ConditionText = append(d.ConditionText, t)
	}
	return d, nil
}

// parseSearch parses one search identifier's definition.
func parseSearch(name string, k, v *yaml.Node) (*Search, error) {
	s := &Search{Name: name, Line: k.Line}
	v = resolve(v)
	switch {
	case v == nil || isNull(v):
		return nil, errAt(k, "search %q is empty", name)
	case v.Kind == yaml.MappingNode:
		g, err := parseMap(name, v)
		if err != nil {
			return nil, err
		}
		s.Groups = [][]*FieldMatch{g}
	case v.Kind == yaml.SequenceNode:
		if len(v.Content) == 0 {
			return nil, errAt(v, "search %q is an empty list", name)
		}
		var keywords []Value
		for _, item := range v.Content {
			item = resolve(item)
			switch item.Kind {
			case yaml.MappingNode:
				if keywords != nil {
					return nil, errAt(item, "search %q mixes keywords and maps in one list", name)
				}
				g, err := parseMap(name, item)
				if err != nil {
					return nil, err
				}
				s.Groups = append(s.Groups, g)
			case yaml.ScalarNode:
				if s.Groups != nil {
					return nil, errAt(item, "search %q mixes keywords and maps in one list", name)
				}
				val := scalarValue(item)
				if val.Kind == ValueNull {
					return nil, errAt(item, "search %q: null is not a keyword", name)
				}
				keywords = append(keywords, val)
			default:
				return nil, errAt(item, "search %q: a list holds keywords or maps, not %s", name, kindName(item))
			}
		}
		if keywords != nil {
			s.Groups = [][]*FieldMatch{{{Values: keywords, Line: v.Line}}}
		}
	default:
		return nil, errAt(v, "search %q must be a map or a list, not %s", name, kindName(v))
	}
	return s, nil
}

// parseMap parses one map of field matches (AND-linked).
func parseMap(search string, v *yaml.Node) ([]*FieldMatch, error) {
	kv, err := mapping(v, "search "+search)
	if err != nil {
		return nil, err
	}
	if len(kv) == 0 {
		return nil, errAt(v, "search %q has an empty map", search)
	}
	group := make([]*FieldMatch, 0, len(kv))
	for _, p := range kv {
		m, err := parseFieldMatch(search, p[0], p[1])
		if err != nil {
			return nil, err
		}
		group = append(group, m)
	}
	return group, nil
}

// parseFieldMatch parses "Field|mod|mod: value(s)".
func parseFieldMatch(search string, k, v *yaml.Node) (*FieldMatch, error) {
	parts := strings.Split(k.Value, "|")
	m := &FieldMatch{Field: parts[0], Line: k.Line}
	for _, name := range parts[1:] {
		mod, ok := modifierNames[name]
		if !ok {
			return nil, because(ReasonModifier, errAt(k, "search %q: unknown modifier %q", search, name))
		}
		m.Modifiers = append(m.Modifiers, mod)
	}
	v = resolve(v)
	switch {
	case v == nil:
		return nil, errAt(k, "search %q: %q has no value", search, k.Value)
	case v.Kind == yaml.ScalarNode:
		m.Values = []Value{scalarValue(v)}
	case v.Kind == yaml.SequenceNode:
		if len(v.Content) == 0 {
			return nil, errAt(v, "search %q: %q has an empty list of values", search, k.Value)
		}
		for _, item := range v.Content {
			item = resolve(item)
			if item.Kind != yaml.ScalarNode {
				return nil, errAt(item, "search %q: values of %q must be strings or numbers, not %s", search, k.Value, kindName(item))
			}
			m.Values = append(m.Values, scalarValue(item))
		}
		if len(m.Values) > 1 {
			for _, x := range m.Values {
				if x.Kind == ValueNull {
					return nil, errAt(v, "search %q: null cannot be part of a list of values (%q); use its own search", search, k.Value)
				}
			}
		}
	default:
		return nil, errAt(v, "search %q: the value of %q must be a value or a list of values, not %s", search, k.Value, kindName(v))
	}
	if err := checkModifiers(m); err != nil {
		return nil, because(ReasonModifier, errAt(k, "search %q: %q: %v", search, k.Value, err))
	}
	return m, nil
}

// scalarValue converts a YAML scalar to a Value.
func scalarValue(n *yaml.Node) Value {
	switch n.Tag {
	case "!!null":
		return Value{Kind: ValueNull}
	case "!!int", "!!float":
		return Value{Kind: ValueNumber, Text: n.Value}
	case "!!bool":
		return Value{Kind: ValueBool, Text: strings.ToLower(n.Value)}
	}
	return Value{Kind: ValueString, Text: n.Value}
}

// checkModifiers rejects modifier chains the specification does not allow.
func checkModifiers(m *FieldMatch) error {
	var pos, re, cmp, timePart int
	seen := map[Modifier]bool{}
	for _, mod := range m.Modifiers {
		if seen[mod] {
			return fmt.Errorf("modifier %s given twice", mod)
		}
		seen[mod] = true
		switch mod {
		case ModContains, ModStartsWith, ModEndsWith:
			pos++
		case ModRe:
			re++
		case ModLt, ModLte, ModGt, ModGte:
			cmp++
		case ModMinute, ModHour, ModDay, ModWeek, ModMonth, ModYear:
			timePart++
		case ModReI, ModReM, ModReS:
			if !seen[ModRe] {
				return fmt.Errorf("modifier %s only follows re", mod)
			}
		}
	}
	if pos > 1 {
		return fmt.Errorf("contains, startswith and endswith exclude each other")
	}
	if cmp > 1 {
		return fmt.Errorf("only one of lt, lte, gt, gte")
	}
	if timePart > 1 {
		return fmt.Errorf("only one of minute, hour, day, week, month, year")
	}
	if re > 0 && (pos > 0 || seen[ModWindash] || seen[ModBase64] || seen[ModBase64Offset] || cmp > 0 || seen[ModCIDR]) {
		return fmt.Errorf("re cannot be combined with string or numeric modifiers")
	}
	if seen[ModBase64] && seen[ModBase64Offset] {
		return fmt.Errorf("base64 and base64offset exclude each other")
	}
	if seen[ModAll] && len(m.Values) < 2 {
		return fmt.Errorf("all needs a list of values (the specification forbids it on a single value)")
	}
	if seen[ModExists] {
		if len(m.Modifiers) != 1 {
			return fmt.Errorf("exists cannot be combined with other modifiers")
		}
		if len(m.Values) != 1 || m.Values[0].Kind != ValueBool {
			return fmt.Errorf("exists takes true or false")
		}
	}
	for _, v := range m.Values {
		switch {
		case cmp > 0 && v.Kind != ValueNumber:
			return fmt.Errorf("%s compares numbers, not %q", m.Modifiers[len(m.Modifiers)-1], v.Text)
		case v.Kind == ValueNull && len(m.Modifiers) > 0 && !(len(m.Modifiers) == 1 && seen[ModNeq]):
			return fmt.Errorf("null takes no modifier")
		}
	}
	if seen[ModFieldRef] {
		for _, v := range m.Values {
			if v.Kind != ValueString || v.Text == "" {
				return fmt.Errorf("fieldref takes field names")
			}
		}
	}
	return nil
}
