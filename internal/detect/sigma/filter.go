package sigma

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// Filter is a Sigma meta filter (an mf_ file): a detection section attached to the
// rules it names (or to every rule, with rules: any) whose logsource it covers.
//
// As in pySigma, the reference implementation, a filter's condition is AND-ed to the
// rule's: a filter that removes matches says so with not, e.g.
// "condition: not selection".
type Filter struct {
	Meta
	LogSource LogSource
	// Rules are the ids or names of the rules filtered; nil with Any.
	Rules []string
	Any   bool
	// Detection holds the filter's searches and condition.
	Detection Detection
}

// Applies reports whether f filters rule r.
func (f *Filter) Applies(r *Rule) bool {
	if !f.LogSource.Covers(r.LogSource) {
		return false
	}
	if f.Any {
		return true
	}
	for _, ref := range f.Rules {
		if ref == r.ID || (r.Name != "" && ref == r.Name) || (r.ID != "" && strings.EqualFold(ref, r.ID)) {
			return true
		}
	}
	return false
}

func parseFilter(doc *yaml.Node, src Location) (*Filter, error) {
	f := &Filter{Meta: Meta{Source: src}}
	ls, body, err := f.parseHeader(doc, "a filter", "filter")
	if err != nil {
		return nil, err
	}
	f.LogSource = ls
	// The filter section is a detection section plus "rules".
	kvb, err := mapping(body, "filter")
	if err != nil {
		return nil, err
	}
	det := &yaml.Node{Kind: yaml.MappingNode, Line: body.Line, Column: body.Column}
	hasRules := false
	for _, p := range kvb {
		if p[0].Value == "rules" {
			hasRules = true
			v := resolve(p[1])
			if v != nil && v.Kind == yaml.ScalarNode && strings.EqualFold(v.Value, "any") {
				f.Any = true
				continue
			}
			if f.Rules, err = strList(p[1], "filter rules"); err != nil {
				return nil, err
			}
			if len(f.Rules) == 0 {
				return nil, errAt(p[1], "filter rules is empty")
			}
			continue
		}
		det.Content = append(det.Content, p[0], p[1])
	}
	if !hasRules {
		return nil, errAt(body, "filter names no rules (a list of ids or names, or any)")
	}
	d, err := parseDetection(det, "filter")
	if err != nil {
		return nil, err
	}
	f.Detection = *d
	return f, nil
}
