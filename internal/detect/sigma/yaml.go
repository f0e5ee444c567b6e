package sigma

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// posErr is an error at a line of the rule file.
type posErr struct {
	line   int
	msg    string
	reason string // a Reason constant; "" is ReasonSchema
}

func (e *posErr) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// because gives err (a *posErr) a reason unless it has one.
func because(reason string, err error) error {
	var pe *posErr
	if errors.As(err, &pe) && pe.reason == "" {
		pe.reason = reason
	}
	return err
}

func errAt(n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &posErr{line: line, msg: fmt.Sprintf(format, args...)}
}

// resolve follows aliases (a YAML anchor reused with *name); a chain of aliases
// that does not end (hostile YAML) resolves to nil.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > 16 {
			return nil
		}
		n = n.Alias
	}
	return n
}

// isNull reports whether n is a YAML null (~, null or empty).
func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// mapping returns the key/value pairs of a mapping node, or an error naming what.
func mapping(n *yaml.Node, what string) ([][2]*yaml.Node, error) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, errAt(n, "%s must be a map, not %s", what, kindName(n))
	}
	out := make([][2]*yaml.Node, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, [2]*yaml.Node{resolve(n.Content[i]), resolve(n.Content[i+1])})
	}
	return out, nil
}

// str returns a scalar node's text; what names the attribute in errors.
func str(n *yaml.Node, what string) (string, error) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", errAt(n, "%s must be a string, not %s", what, kindName(n))
	}
	return n.Value, nil
}

// strList returns a sequence of scalars (or a single scalar, as a list of one).
func strList(n *yaml.Node, what string) ([]string, error) {
	n = resolve(n)
	if n != nil && n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []string{n.Value}, nil
	}
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil, errAt(n, "%s must be a list of strings, not %s", what, kindName(n))
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		s, err := str(c, what+" item")
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// kindName describes a node for error messages.
func kindName(n *yaml.Node) string {
	n = resolve(n)
	switch {
	case n == nil:
		return "missing"
	case n.Kind == yaml.MappingNode:
		return "a map"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Tag == "!!null":
		return "null"
	case n.Tag == "!!str":
		return "a string"
	case n.Tag == "!!int", n.Tag == "!!float":
		return "a number"
	case n.Tag == "!!bool":
		return "a boolean"
	}
	return strings.TrimPrefix(n.Tag, "!!")
}

// maxCustomDepth bounds the nesting of custom attributes kept: YAML aliases can
// make a node tree cyclic.
const maxCustomDepth = 32

// toAny converts a node to plain Go values (map[string]any, []any, string, int,
// float64, bool, nil) for custom attributes kept as written; nesting deeper than
// maxCustomDepth is cut.
func toAny(n *yaml.Node) any { return toAnyDepth(n, 0) }

func toAnyDepth(n *yaml.Node, depth int) any {
	n = resolve(n)
	if n == nil || depth > maxCustomDepth {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := resolve(n.Content[i]); k != nil {
				m[k.Value] = toAnyDepth(n.Content[i+1], depth+1)
			}
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			s = append(s, toAnyDepth(c, depth+1))
		}
		return s
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return n.Value
		}
		return v
	}
	return nil
}
