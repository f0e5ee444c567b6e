package listfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxYAMLBytes bounds a YAML file, which is read whole.
const MaxYAMLBytes = 64 << 20

// YAMLSpec is the top level a YAML list file may have.
type YAMLSpec struct {
	// Key, when set, lets the top level be a mapping whose only key, Key,
	// holds the list (identities: [...]) besides the bare list.
	Key      string
	Noun     string // what the items are, plural, for messages ("assets")
	MaxItems int    // items in the list; more is an error
}

// YAMLItems reads a YAML file whose top level is a list (or, with spec.Key, a
// mapping holding one) and returns its items for the caller to convert, e.g.
// with Fields. An empty file, an empty document and a null list give no items.
// The error is for a file that cannot be used: larger than MaxYAMLBytes, not
// YAML, more than one document, an anchored or aliased top level, a top level
// of another shape, or more than spec.MaxItems items. file labels places.
func YAMLItems(r io.Reader, file string, spec YAMLSpec) ([]*yaml.Node, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxYAMLBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading yaml: %w", err)
	}
	if len(data) > MaxYAMLBytes {
		return nil, fmt.Errorf("yaml larger than %d bytes", MaxYAMLBytes)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("parsing yaml: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: more than one yaml document", Place(file, extra.Line))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, nil
		}
		root = root.Content[0]
	}
	if anchored(root) {
		return nil, fmt.Errorf("%s: anchors and aliases are not supported", Place(file, root.Line))
	}
	if isNull(root) {
		return nil, nil
	}
	if spec.Key != "" && root.Kind == yaml.MappingNode {
		var list *yaml.Node
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := root.Content[i], root.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Value != spec.Key {
				return nil, fmt.Errorf("%s: top-level key %q is not %s", Place(file, k.Line), k.Value, spec.Key)
			}
			if list != nil {
				return nil, fmt.Errorf("%s: key %s repeated", Place(file, k.Line), spec.Key)
			}
			if anchored(v) {
				return nil, fmt.Errorf("%s: anchors and aliases are not supported", Place(file, v.Line))
			}
			list = v
		}
		if list == nil {
			return nil, fmt.Errorf("%s: no %s key", Place(file, root.Line), spec.Key)
		}
		if isNull(list) {
			return nil, nil
		}
		root = list
	}
	if root.Kind != yaml.SequenceNode {
		if spec.Key != "" {
			return nil, fmt.Errorf("%s: top level is not a list of %s (or %s: holding one)", Place(file, root.Line), spec.Noun, spec.Key)
		}
		return nil, fmt.Errorf("%s: top level is not a list of %s", Place(file, root.Line), spec.Noun)
	}
	if len(root.Content) > spec.MaxItems {
		return nil, fmt.Errorf("more than %d %s", spec.MaxItems, spec.Noun)
	}
	return root.Content, nil
}

// Fields walks the mapping item n, calling fn for each key with its value. Keys
// are strict: a key that is not a string, not in columns, or repeated rejects
// the item, as do an anchor or alias on the item or a value. The line is the
// item's, or that of the offending key or value (fn's errors take the value's).
func Fields(n *yaml.Node, columns []string, fn func(key string, v *yaml.Node) error) (int, error) {
	if anchored(n) {
		return n.Line, errors.New("anchors and aliases are not supported")
	}
	if n.Kind != yaml.MappingNode {
		return n.Line, errors.New("item is not a mapping")
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return k.Line, errors.New("key is not a string")
		}
		key := k.Value
		if !known(columns, key) {
			return k.Line, fmt.Errorf("unknown key %q (known: %s)", key, strings.Join(columns, ", "))
		}
		if seen[key] {
			return k.Line, fmt.Errorf("key %q repeated", key)
		}
		seen[key] = true
		if anchored(v) {
			return v.Line, errors.New("anchors and aliases are not supported")
		}
		if err := fn(key, v); err != nil {
			return v.Line, err
		}
	}
	return n.Line, nil
}

// Scalar returns the single value v of key; null is "".
func Scalar(key string, v *yaml.Node) (string, error) {
	if v.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("%s is not a single value", key)
	}
	if isNull(v) {
		return "", nil
	}
	return v.Value, nil
}

// List returns the list v of key: a sequence of single values (null items are
// left out), or one string separated by ";" as in the CSV; null or "" is nil.
// More than maxItems items is an error.
func List(key string, v *yaml.Node, maxItems int) ([]string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		if isNull(v) || v.Value == "" {
			return nil, nil
		}
		return strings.Split(v.Value, ";"), nil
	case yaml.SequenceNode:
		if len(v.Content) > maxItems {
			return nil, fmt.Errorf("%s has more than %d items", key, maxItems)
		}
		out := make([]string, 0, len(v.Content))
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode || e.Anchor != "" {
				return nil, fmt.Errorf("%s item at line %d is not a single value", key, e.Line)
			}
			if isNull(e) {
				continue
			}
			out = append(out, e.Value)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s is not a list", key)
}

func anchored(n *yaml.Node) bool { return n.Anchor != "" || n.Kind == yaml.AliasNode }

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }
