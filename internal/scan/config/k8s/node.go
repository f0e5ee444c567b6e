package k8s

import (
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// resolve follows aliases (a bounded number of hops: a cycle ends as nil).
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > 32 {
			return nil
		}
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return resolve(n.Content[0])
	}
	return n
}

// get returns the value of key in mapping n (nil when n is not a mapping or
// has no such key), looking through merge keys (<<: *base).
func get(n *yaml.Node, key string) *yaml.Node {
	_, v := getKV(n, key)
	return v
}

// getKV returns the key and value nodes of key in mapping n.
func getKV(n *yaml.Node, key string) (k, v *yaml.Node) {
	return getKVDepth(n, key, 0)
}

func getKVDepth(n *yaml.Node, key string, depth int) (k, v *yaml.Node) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode || depth > 8 {
		return nil, nil
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn := resolve(n.Content[i])
		if kn == nil || kn.Kind != yaml.ScalarNode {
			continue
		}
		if kn.Value == key {
			return kn, resolve(n.Content[i+1])
		}
		if kn.Value == "<<" && kn.Tag == "!!merge" {
			merges = append(merges, n.Content[i+1])
		}
	}
	for _, m := range merges {
		m = resolve(m)
		if m == nil {
			continue
		}
		switch m.Kind {
		case yaml.MappingNode:
			if k, v := getKVDepth(m, key, depth+1); v != nil {
				return k, v
			}
		case yaml.SequenceNode:
			for _, e := range m.Content {
				if k, v := getKVDepth(e, key, depth+1); v != nil {
					return k, v
				}
			}
		}
	}
	return nil, nil
}

// path walks keys from n.
func path(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n = get(n, k); n == nil {
			return nil
		}
	}
	return n
}

// scalar returns a scalar's value ("" for anything else).
func scalar(n *yaml.Node) string {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

// boolean reads a boolean as the API server would: Kubernetes decodes YAML
// 1.1, where an unquoted yes/on/y are true too. set is false when the node is
// absent or not a boolean.
func boolean(n *yaml.Node) (val, set bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return false, false
	}
	quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
	switch strings.ToLower(n.Value) {
	case "true":
		return true, !quoted
	case "false":
		return false, !quoted
	case "yes", "on", "y":
		return true, !quoted
	case "no", "off", "n":
		return false, !quoted
	}
	return false, false
}

// isTrue reports whether n is set to true.
func isTrue(n *yaml.Node) bool {
	v, set := boolean(n)
	return set && v
}

// integer reads an integer scalar.
func integer(n *yaml.Node) (int64, bool) {
	s := scalar(n)
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != float64(int64(f)) {
			return 0, false
		}
		return int64(f), true
	}
	return v, true
}

// items returns a sequence's elements (resolved), nil for anything else.
func items(n *yaml.Node) []*yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]*yaml.Node, 0, len(n.Content))
	for _, c := range n.Content {
		if c = resolve(c); c != nil {
			out = append(out, c)
		}
	}
	return out
}

// stringList returns the scalar elements of a sequence.
func stringList(n *yaml.Node) []string {
	var out []string
	for _, c := range items(n) {
		if c.Kind == yaml.ScalarNode {
			out = append(out, c.Value)
		}
	}
	return out
}

// line returns n's line, or def when n is nil.
func line(n *yaml.Node, def int) int {
	if n == nil || n.Line == 0 {
		return def
	}
	return n.Line
}

// Value converts a node to plain data (map[string]any, []any, string,
// int64, float64, bool, nil), as a JSON decoder would give it: what Rego
// policies see as input. Non-string keys are written as their text.
func Value(n *yaml.Node) any {
	return value(n, 0)
}

func value(n *yaml.Node, depth int) any {
	n = resolve(n)
	if n == nil || depth > 1000 {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := resolve(n.Content[i])
			if k == nil {
				continue
			}
			if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag == "!!merge" {
				// merged keys are defaults: keys of the mapping itself win
				mergeInto(m, value(n.Content[i+1], depth+1))
				continue
			}
			key := k.Value
			if k.Kind != yaml.ScalarNode {
				key = ""
			}
			m[key] = value(n.Content[i+1], depth+1)
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			s = append(s, value(c, depth+1))
		}
		return s
	case yaml.ScalarNode:
		return scalarValue(n)
	}
	return nil
}

func mergeInto(m map[string]any, v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if _, ok := m[k]; !ok {
				m[k] = x
			}
		}
	case []any:
		for _, e := range v {
			mergeInto(m, e)
		}
	}
}

func scalarValue(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		if v, err := strconv.ParseBool(n.Value); err == nil {
			return v
		}
	case "!!int":
		if v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return v
		}
	case "!!float":
		if v, err := strconv.ParseFloat(n.Value, 64); err == nil && !isInfOrNaN(v) {
			return v
		}
	}
	return n.Value
}

func isInfOrNaN(f float64) bool { return f != f || f > 1e308 || f < -1e308 }
