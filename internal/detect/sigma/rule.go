// Package sigma loads, validates, compiles and runs Sigma rules (specification
// v2.1.0): detection rules, correlation rules and meta filters.
//
// Loading (Load, ParseFile) turns YAML into a checked model: every attribute of the
// specification is parsed and validated, custom attributes are kept, and a rule the
// specification does not allow is rejected with its file, line and reason rather than
// half-loaded. Compiling (Compile) resolves the rule's fields once, through a
// logsource and field mapping kept as data, into matchers evaluated on
// event.Event without allocating.
package sigma

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Location is where a document starts.
type Location struct {
	Path string
	Line int
}

func (l Location) String() string {
	if l.Line > 0 {
		return fmt.Sprintf("%s:%d", l.Path, l.Line)
	}
	return l.Path
}

// Meta holds the attributes detection rules, correlation rules and filters share.
type Meta struct {
	Source      Location
	Title       string
	ID          string
	Name        string
	Taxonomy    string
	Related     []Related
	Status      string
	Description string
	License     string
	Author      string
	References  []string
	Date        string
	Modified    string
	Fields      []string
	// FalsePositives lists known benign causes.
	FalsePositives []string
	Level          string // "" when absent, else one of informational, low, medium, high, critical
	Tags           []Tag
	Scope          []string
	// Custom holds the attributes the specification does not define, as written.
	Custom map[string]any
}

// Related is a reference to another rule.
type Related struct {
	ID   string
	Type string // derived, obsolete, merged, renamed, similar
}

// Tag is a namespaced tag such as attack.t1059.001 or attack.execution.
type Tag struct {
	Namespace string
	Name      string
}

func (t Tag) String() string { return t.Namespace + "." + t.Name }

// LogSource says which logs a rule applies to.
type LogSource struct {
	Category   string
	Product    string
	Service    string
	Definition string
	// Extra holds other logsource attributes, as the specification allows.
	Extra map[string]string
}

func (l LogSource) String() string {
	var parts []string
	for _, p := range [][2]string{{"product", l.Product}, {"category", l.Category}, {"service", l.Service}} {
		if p[1] != "" {
			parts = append(parts, p[0]+"="+p[1])
		}
	}
	if len(parts) == 0 {
		return "any"
	}
	return strings.Join(parts, " ")
}

// Covers reports whether every attribute l sets is set to the same value in o: a
// filter with logsource l applies to rules with logsource o.
func (l LogSource) Covers(o LogSource) bool {
	return (l.Category == "" || l.Category == o.Category) &&
		(l.Product == "" || l.Product == o.Product) &&
		(l.Service == "" || l.Service == o.Service)
}

// Rule is a Sigma detection rule.
type Rule struct {
	Meta
	LogSource LogSource
	Detection Detection
}

// Statuses and levels the specification defines.
var (
	statuses     = []string{"stable", "test", "experimental", "deprecated", "unsupported"}
	levels       = []string{"informational", "low", "medium", "high", "critical"}
	relatedTypes = []string{"derived", "obsolete", "merged", "renamed", "similar"}

	uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	dateRE = regexp.MustCompile(`^\d{4}-(0[1-9]|1[012])-(0[1-9]|[12][0-9]|3[01])$`)
	// tagRE is the tag syntax: lower-case namespace, a dot, a lower-case name
	// (letters, digits, _, -, and dots for nested namespaces).
	tagRE = regexp.MustCompile(`^[a-z0-9_-]+\.[a-z0-9._-]+$`)
	// logsourceRE: lower case, '_' for spaces, '.' and '-' allowed.
	logsourceRE = regexp.MustCompile(`^[a-z0-9_.-]+$`)
)

func oneOf(v string, allowed []string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

// metaField parses one attribute shared by every document type into m, reporting
// whether key is one of them.
func (m *Meta) metaField(key string, k, v *yaml.Node) (bool, error) {
	var err error
	switch key {
	case "title":
		if m.Title, err = str(v, "title"); err == nil {
			switch {
			case strings.TrimSpace(m.Title) == "":
				err = errAt(v, "title is empty")
			case len(m.Title) > 256:
				err = errAt(v, "title is longer than 256 characters")
			}
		}
	case "id":
		if m.ID, err = str(v, "id"); err == nil && !uuidRE.MatchString(m.ID) {
			err = errAt(v, "id %q is not a UUID", m.ID)
		}
	case "name":
		if m.Name, err = str(v, "name"); err == nil && len(m.Name) > 256 {
			err = errAt(v, "name is longer than 256 characters")
		}
	case "taxonomy":
		m.Taxonomy, err = str(v, "taxonomy")
	case "related":
		m.Related, err = parseRelated(v)
	case "status":
		if m.Status, err = str(v, "status"); err == nil && !oneOf(m.Status, statuses) {
			err = errAt(v, "status %q is not one of %s", m.Status, strings.Join(statuses, ", "))
		}
	case "description":
		if m.Description, err = str(v, "description"); err == nil && len(m.Description) > 65535 {
			err = errAt(v, "description is longer than 65535 characters")
		}
	case "license":
		m.License, err = str(v, "license")
	case "author":
		m.Author, err = str(v, "author")
	case "references":
		m.References, err = strList(v, "references")
	case "date":
		m.Date, err = date(v, "date")
	case "modified":
		m.Modified, err = date(v, "modified")
	case "fields":
		m.Fields, err = strList(v, "fields")
	case "falsepositives":
		m.FalsePositives, err = strList(v, "falsepositives")
	case "level":
		if m.Level, err = str(v, "level"); err == nil && !oneOf(m.Level, levels) {
			err = errAt(v, "level %q is not one of %s", m.Level, strings.Join(levels, ", "))
		}
	case "tags":
		m.Tags, err = parseTags(v)
	case "scope":
		m.Scope, err = strList(v, "scope")
	default:
		return false, nil
	}
	return true, err
}

// custom keeps an attribute the specification does not define.
func (m *Meta) custom(key string, v *yaml.Node) {
	if m.Custom == nil {
		m.Custom = map[string]any{}
	}
	m.Custom[key] = toAny(v)
}

// date parses a YYYY-MM-DD date. YAML reads an unquoted 2024-01-31 as a timestamp;
// its text is what the rule author wrote.
func date(v *yaml.Node, what string) (string, error) {
	v = resolve(v)
	if v == nil || v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		return "", errAt(v, "%s must be a date, not %s", what, kindName(v))
	}
	if !dateRE.MatchString(v.Value) {
		return "", errAt(v, "%s %q is not a YYYY-MM-DD date", what, v.Value)
	}
	return v.Value, nil
}

func parseRelated(v *yaml.Node) ([]Related, error) {
	v = resolve(v)
	if v == nil || v.Kind != yaml.SequenceNode {
		return nil, errAt(v, "related must be a list, not %s", kindName(v))
	}
	out := make([]Related, 0, len(v.Content))
	for _, item := range v.Content {
		kv, err := mapping(item, "related item")
		if err != nil {
			return nil, err
		}
		var r Related
		for _, p := range kv {
			switch p[0].Value {
			case "id":
				if r.ID, err = str(p[1], "related id"); err == nil && !uuidRE.MatchString(r.ID) {
					err = errAt(p[1], "related id %q is not a UUID", r.ID)
				}
			case "type":
				if r.Type, err = str(p[1], "related type"); err == nil && !oneOf(r.Type, relatedTypes) {
					err = errAt(p[1], "related type %q is not one of %s", r.Type, strings.Join(relatedTypes, ", "))
				}
			}
			if err != nil {
				return nil, err
			}
		}
		if r.ID == "" || r.Type == "" {
			return nil, errAt(item, "related item needs both id and type")
		}
		out = append(out, r)
	}
	return out, nil
}

func parseTags(v *yaml.Node) ([]Tag, error) {
	list, err := strList(v, "tags")
	if err != nil {
		return nil, err
	}
	out := make([]Tag, 0, len(list))
	for _, t := range list {
		if !tagRE.MatchString(t) {
			return nil, errAt(v, "tag %q is not namespace.name in lower case", t)
		}
		ns, name, _ := strings.Cut(t, ".")
		out = append(out, Tag{Namespace: ns, Name: name})
	}
	return out, nil
}

func parseLogSource(v *yaml.Node, withDefinition bool) (LogSource, error) {
	var l LogSource
	kv, err := mapping(v, "logsource")
	if err != nil {
		return l, err
	}
	for _, p := range kv {
		key := p[0].Value
		if key == "definition" && withDefinition {
			if l.Definition, err = str(p[1], "logsource definition"); err != nil {
				return l, err
			}
			continue
		}
		val, err := str(p[1], "logsource "+key)
		if err != nil {
			return l, err
		}
		switch key {
		case "category", "product", "service":
			if !logsourceRE.MatchString(val) {
				return l, errAt(p[1], "logsource %s %q must be lower case without spaces", key, val)
			}
		}
		switch key {
		case "category":
			l.Category = val
		case "product":
			l.Product = val
		case "service":
			l.Service = val
		default:
			if l.Extra == nil {
				l.Extra = map[string]string{}
			}
			l.Extra[key] = val
		}
	}
	return l, nil
}

// parseHeader parses what detection rules and filters share: the common
// attributes, the logsource, and the document's own section (named section, e.g.
// "detection"), which it returns; other attributes are kept as custom ones.
func (m *Meta) parseHeader(doc *yaml.Node, what, section string) (LogSource, *yaml.Node, error) {
	var ls LogSource
	kv, err := mapping(doc, what)
	if err != nil {
		return ls, nil, err
	}
	var body *yaml.Node
	hasLogsource := false
	for _, p := range kv {
		key := p[0].Value
		ok, err := m.metaField(key, p[0], p[1])
		if err != nil {
			return ls, nil, err
		}
		if ok {
			continue
		}
		switch key {
		case "logsource":
			if ls, err = parseLogSource(p[1], true); err != nil {
				return ls, nil, err
			}
			hasLogsource = true
		case section:
			body = p[1]
		default:
			m.custom(key, p[1])
		}
	}
	switch {
	case m.Title == "":
		return ls, nil, errAt(doc, "no title: %s needs one", what)
	case !hasLogsource:
		return ls, nil, errAt(doc, "no logsource: %s needs one", what)
	case body == nil:
		return ls, nil, errAt(doc, "no %s: %s needs one", section, what)
	}
	return ls, body, nil
}

// parseRule parses a detection rule document.
func parseRule(doc *yaml.Node, src Location) (*Rule, error) {
	r := &Rule{Meta: Meta{Source: src}}
	ls, det, err := r.parseHeader(doc, "a rule", "detection")
	if err != nil {
		return nil, err
	}
	r.LogSource = ls
	d, err := parseDetection(det, "detection")
	if err != nil {
		return nil, err
	}
	r.Detection = *d
	return r, nil
}
