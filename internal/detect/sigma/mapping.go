package sigma

import (
	"bytes"
	_ "embed"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed mapping.yaml
var defaultMappingYAML []byte

// Mapping routes Sigma logsources to events and Sigma field names to event fields.
// It is data: the default is embedded (mapping.yaml) and a user's file can replace
// entries.
type Mapping struct {
	LogSources []LogSourceMap `yaml:"logsources"`
}

// LogSourceMap is the routing of one logsource.
type LogSourceMap struct {
	LogSource LogSource `yaml:"-"`
	Variants  []Variant `yaml:"variants"`
}

// Variant is one kind of event a logsource covers.
type Variant struct {
	// Where: the event's field (each key) equals one of the values, without case.
	Where []WhereCond
	// Fields maps Sigma field names to event field names where they differ.
	Fields map[string]string
}

// WhereCond is one routing condition.
type WhereCond struct {
	Field  string
	Values []string
}

// DefaultMapping returns the embedded mapping.
func DefaultMapping() *Mapping {
	m, err := ParseMapping(defaultMappingYAML)
	if err != nil {
		panic(fmt.Sprintf("embedded sigma mapping: %v", err)) // a build defect, caught by tests
	}
	return m
}

// ParseMapping parses a mapping file.
func ParseMapping(data []byte) (*Mapping, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("parsing sigma mapping: %w", err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	top, err := mapping(root, "sigma mapping")
	if err != nil {
		return nil, fmt.Errorf("parsing sigma mapping: %w", err)
	}
	m := &Mapping{}
	for _, p := range top {
		if p[0].Value != "logsources" {
			return nil, fmt.Errorf("parsing sigma mapping: %w", errAt(p[0], "unknown key %q", p[0].Value))
		}
		list := resolve(p[1])
		if list == nil || list.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("parsing sigma mapping: %w", errAt(p[1], "logsources must be a list"))
		}
		for _, item := range list.Content {
			lm, err := parseLogSourceMap(item)
			if err != nil {
				return nil, fmt.Errorf("parsing sigma mapping: %w", err)
			}
			m.LogSources = append(m.LogSources, lm)
		}
	}
	return m, nil
}

func parseLogSourceMap(n *yaml.Node) (LogSourceMap, error) {
	var lm LogSourceMap
	kv, err := mapping(n, "logsource entry")
	if err != nil {
		return lm, err
	}
	for _, p := range kv {
		switch p[0].Value {
		case "logsource":
			if lm.LogSource, err = parseLogSource(p[1], false); err != nil {
				return lm, err
			}
		case "variants":
			list := resolve(p[1])
			if list == nil || list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
				return lm, errAt(p[1], "variants must be a non-empty list")
			}
			for _, vn := range list.Content {
				v, err := parseVariant(vn)
				if err != nil {
					return lm, err
				}
				lm.Variants = append(lm.Variants, v)
			}
		default:
			return lm, errAt(p[0], "unknown key %q", p[0].Value)
		}
	}
	if len(lm.Variants) == 0 {
		return lm, errAt(n, "logsource entry %s has no variants", lm.LogSource)
	}
	return lm, nil
}

func parseVariant(n *yaml.Node) (Variant, error) {
	var v Variant
	kv, err := mapping(n, "variant")
	if err != nil {
		return v, err
	}
	for _, p := range kv {
		switch p[0].Value {
		case "where":
			conds, err := mapping(p[1], "where")
			if err != nil {
				return v, err
			}
			for _, c := range conds {
				vals, err := strList(c[1], "where "+c[0].Value)
				if err != nil {
					return v, err
				}
				v.Where = append(v.Where, WhereCond{Field: c[0].Value, Values: vals})
			}
		case "fields":
			fields, err := mapping(p[1], "fields")
			if err != nil {
				return v, err
			}
			v.Fields = map[string]string{}
			for _, f := range fields {
				if v.Fields[f[0].Value], err = str(f[1], "field "+f[0].Value); err != nil {
					return v, err
				}
			}
		default:
			return v, errAt(p[0], "unknown key %q", p[0].Value)
		}
	}
	return v, nil
}

// Merge returns m with o's entries replacing those of the same logsource and the
// others appended.
func (m *Mapping) Merge(o *Mapping) *Mapping {
	out := &Mapping{LogSources: append([]LogSourceMap(nil), m.LogSources...)}
	for _, e := range o.LogSources {
		replaced := false
		for i := range out.LogSources {
			if sameLogSource(out.LogSources[i].LogSource, e.LogSource) {
				out.LogSources[i], replaced = e, true
			}
		}
		if !replaced {
			out.LogSources = append(out.LogSources, e)
		}
	}
	return out
}

func sameLogSource(a, b LogSource) bool {
	return a.Category == b.Category && a.Product == b.Product && a.Service == b.Service
}

// For returns the entry a rule with logsource l uses: same category and service, and
// the same product or none; nil when there is none.
func (m *Mapping) For(l LogSource) *LogSourceMap {
	var best *LogSourceMap
	for i := range m.LogSources {
		e := &m.LogSources[i]
		if e.LogSource.Category != l.Category || e.LogSource.Service != l.Service {
			continue
		}
		switch e.LogSource.Product {
		case l.Product:
			return e
		case "":
			if best == nil {
				best = e
			}
		}
	}
	return best
}

// field returns the event field a Sigma field reads in variant v.
func (v *Variant) field(name string) string {
	if f, ok := v.Fields[name]; ok {
		return f
	}
	return name
}

func (w WhereCond) String() string {
	return w.Field + "=" + strings.Join(w.Values, "|")
}
