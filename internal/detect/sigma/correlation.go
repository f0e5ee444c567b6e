package sigma

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// CorrelationType is the kind of a correlation rule.
type CorrelationType string

// Correlation types of the specification.
const (
	EventCount      CorrelationType = "event_count"
	ValueCount      CorrelationType = "value_count"
	Temporal        CorrelationType = "temporal"
	TemporalOrdered CorrelationType = "temporal_ordered"
	ValueSum        CorrelationType = "value_sum"
	ValueAvg        CorrelationType = "value_avg"
	ValuePercentile CorrelationType = "value_percentile"
)

var correlationTypes = []string{
	string(EventCount), string(ValueCount), string(Temporal), string(TemporalOrdered),
	string(ValueSum), string(ValueAvg), string(ValuePercentile),
}

// Correlation is a Sigma correlation rule.
type Correlation struct {
	Meta
	Type CorrelationType
	// Rules are the ids or names of the rules (or correlations) correlated, in order.
	Rules []string
	// GroupBy lists the fields (or aliases) whose values must be equal.
	GroupBy []string
	// Aliases maps an alias to, per rule id or name, the field it stands for.
	Aliases  map[string]map[string]string
	Timespan time.Duration
	// Condition: the count, distinct count, sum, average or percentile must meet
	// every bound given.
	Condition CorrelationCondition
	// Generate says the correlated rules also raise their own signals.
	Generate bool
}

// CorrelationCondition holds the bounds of a correlation's condition. A nil bound is
// not checked.
type CorrelationCondition struct {
	Gt, Gte, Lt, Lte, Eq, Neq *float64
	// Fields are the fields counted (value_count) or aggregated (value_*).
	Fields []string
}

// Holds reports whether v meets every bound.
func (c CorrelationCondition) Holds(v float64) bool {
	return (c.Gt == nil || v > *c.Gt) && (c.Gte == nil || v >= *c.Gte) &&
		(c.Lt == nil || v < *c.Lt) && (c.Lte == nil || v <= *c.Lte) &&
		(c.Eq == nil || v == *c.Eq) && (c.Neq == nil || v != *c.Neq)
}

func (c CorrelationCondition) String() string {
	var parts []string
	for _, b := range []struct {
		op string
		v  *float64
	}{{"gt", c.Gt}, {"gte", c.Gte}, {"lt", c.Lt}, {"lte", c.Lte}, {"eq", c.Eq}, {"neq", c.Neq}} {
		if b.v != nil {
			parts = append(parts, b.op+" "+strconv.FormatFloat(*b.v, 'f', -1, 64))
		}
	}
	if len(c.Fields) > 0 {
		parts = append(parts, "field "+strings.Join(c.Fields, ","))
	}
	return strings.Join(parts, ", ")
}

var timespanRE = regexp.MustCompile(`^([0-9]+)([smhdwMy])$`)

// ParseTimespan parses a correlation timespan: a number and one of s, m, h, d (and
// w, M, y, which pySigma also accepts).
func ParseTimespan(s string) (time.Duration, error) {
	m := timespanRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("timespan %q is not a number followed by s, m, h or d", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n <= 0 || n > 100000 {
		return 0, fmt.Errorf("timespan %q is out of range", s)
	}
	unit := map[string]time.Duration{
		"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour,
		"w": 7 * 24 * time.Hour, "M": 30 * 24 * time.Hour, "y": 365 * 24 * time.Hour,
	}[m[2]]
	return time.Duration(n) * unit, nil
}

// parseCorrelation parses a correlation rule document.
func parseCorrelation(doc *yaml.Node, src Location) (*Correlation, error) {
	kv, err := mapping(doc, "a correlation rule")
	if err != nil {
		return nil, err
	}
	c := &Correlation{Meta: Meta{Source: src}}
	var body *yaml.Node
	for _, p := range kv {
		key := p[0].Value
		ok, err := c.metaField(key, p[0], p[1])
		if err != nil {
			return nil, err
		}
		if ok {
			continue
		}
		switch key {
		case "correlation":
			body = p[1]
		case "generate":
			v := resolve(p[1])
			if v == nil || v.Tag != "!!bool" {
				return nil, errAt(v, "generate must be true or false")
			}
			c.Generate = strings.EqualFold(v.Value, "true")
		default:
			c.custom(key, p[1])
		}
	}
	if c.Title == "" {
		return nil, errAt(doc, "no title: a correlation rule needs one")
	}
	if body == nil {
		return nil, errAt(doc, "no correlation section")
	}
	if err := c.parseBody(body); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Correlation) parseBody(body *yaml.Node) error {
	kv, err := mapping(body, "correlation")
	if err != nil {
		return err
	}
	var hasCond, hasTimespan bool
	for _, p := range kv {
		switch p[0].Value {
		case "type":
			t, err := str(p[1], "correlation type")
			if err != nil {
				return err
			}
			if !oneOf(t, correlationTypes) {
				return errAt(p[1], "correlation type %q is not one of %s", t, strings.Join(correlationTypes, ", "))
			}
			c.Type = CorrelationType(t)
		case "rules":
			if c.Rules, err = strList(p[1], "correlation rules"); err != nil {
				return err
			}
		case "group-by":
			if c.GroupBy, err = strList(p[1], "group-by"); err != nil {
				return err
			}
		case "timespan", "timeframe":
			s, err := str(p[1], "timespan")
			if err != nil {
				return err
			}
			if c.Timespan, err = ParseTimespan(s); err != nil {
				return errAt(p[1], "%v", err)
			}
			hasTimespan = true
		case "condition":
			if err := c.parseCondition(p[1]); err != nil {
				return err
			}
			hasCond = true
		case "aliases":
			if err := c.parseAliases(p[1]); err != nil {
				return err
			}
		default:
			return errAt(p[0], "unknown correlation attribute %q", p[0].Value)
		}
	}
	switch {
	case c.Type == "":
		return errAt(body, "correlation has no type")
	case len(c.Rules) == 0:
		return errAt(body, "correlation refers to no rules")
	case !hasTimespan:
		return errAt(body, "correlation has no timespan")
	}
	switch c.Type {
	case Temporal, TemporalOrdered:
		if !hasCond { // default: every referred rule must match
			n := float64(len(c.Rules))
			c.Condition.Gte = &n
		}
		if c.Type == TemporalOrdered && len(c.Rules) < 2 {
			return errAt(body, "temporal_ordered needs at least two rules")
		}
	default:
		if !hasCond {
			return errAt(body, "%s needs a condition", c.Type)
		}
	}
	switch c.Type {
	case ValueCount, ValueSum, ValueAvg, ValuePercentile:
		if len(c.Condition.Fields) == 0 {
			return errAt(body, "%s needs a field in its condition", c.Type)
		}
	}
	for alias, m := range c.Aliases {
		for ref := range m {
			if !oneOf(ref, c.Rules) {
				return errAt(body, "alias %q names rule %q, which the correlation does not refer to", alias, ref)
			}
		}
	}
	return nil
}

func (c *Correlation) parseCondition(n *yaml.Node) error {
	kv, err := mapping(n, "correlation condition")
	if err != nil {
		return err
	}
	bounds := 0
	for _, p := range kv {
		op := p[0].Value
		if op == "field" {
			if c.Condition.Fields, err = strList(p[1], "condition field"); err != nil {
				return err
			}
			continue
		}
		s, err := str(p[1], "condition "+op)
		if err != nil {
			return err
		}
		v, perr := strconv.ParseFloat(s, 64)
		if perr != nil {
			return errAt(p[1], "condition %s: %q is not a number", op, s)
		}
		switch op {
		case "gt":
			c.Condition.Gt = &v
		case "gte":
			c.Condition.Gte = &v
		case "lt":
			c.Condition.Lt = &v
		case "lte":
			c.Condition.Lte = &v
		case "eq":
			c.Condition.Eq = &v
		case "neq":
			c.Condition.Neq = &v
		default:
			return errAt(p[0], "condition operator %q is not one of gt, gte, lt, lte, eq, neq", op)
		}
		bounds++
	}
	if bounds == 0 {
		return errAt(n, "correlation condition has no bound (gt, gte, lt, lte, eq or neq)")
	}
	return nil
}

func (c *Correlation) parseAliases(n *yaml.Node) error {
	kv, err := mapping(n, "aliases")
	if err != nil {
		return err
	}
	c.Aliases = map[string]map[string]string{}
	for _, p := range kv {
		inner, err := mapping(p[1], "alias "+p[0].Value)
		if err != nil {
			return err
		}
		m := map[string]string{}
		for _, q := range inner {
			if m[q[0].Value], err = str(q[1], "alias field"); err != nil {
				return err
			}
		}
		c.Aliases[p[0].Value] = m
	}
	return nil
}
