package identity

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Limits on YAML input.
const (
	MaxYAMLBytes = 64 << 20 // a YAML file is read whole
	MaxAliases   = 10_000   // names one person may have
)

// ReadYAML parses a directory YAML file: a list of people, or a mapping whose
// only key, identities, holds that list. Each person is a mapping with the keys
// of Columns:
//
//	identities:
//	  - user: alice@corp.example
//	    aliases: [CORP\alice, alice.smith]   # or "CORP\alice;alice.smith"
//	    department: Finance
//	    role: staff
//	    peer_group: finance-payments
//	    privileged: false
//
// Keys are strict: an unknown or repeated key rejects its item with the key's
// line. A file that is not YAML, or whose top level is neither form, is an
// error; a bad item is a RowError and the rest loads. Anchors and aliases are
// refused (no expansion bombs). An empty file gives an empty directory.
func ReadYAML(r io.Reader) (*Directory, []RowError, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxYAMLBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading yaml: %w", err)
	}
	if len(data) > MaxYAMLBytes {
		return nil, nil, fmt.Errorf("yaml larger than %d bytes", MaxYAMLBytes)
	}
	b := newBuilder()
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return b.finish(), nil, nil
		}
		return nil, nil, fmt.Errorf("parsing yaml: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("line %d: more than one yaml document", extra.Line)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return b.finish(), nil, nil
		}
		root = root.Content[0]
	}
	if root.Anchor != "" || root.Kind == yaml.AliasNode {
		return nil, nil, fmt.Errorf("line %d: anchors and aliases are not supported", root.Line)
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return b.finish(), nil, nil
	}
	if root.Kind == yaml.MappingNode {
		var list *yaml.Node
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := root.Content[i], root.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Value != "identities" {
				return nil, nil, fmt.Errorf("line %d: top-level key %q is not identities", k.Line, k.Value)
			}
			if list != nil {
				return nil, nil, fmt.Errorf("line %d: key identities repeated", k.Line)
			}
			if v.Anchor != "" || v.Kind == yaml.AliasNode {
				return nil, nil, fmt.Errorf("line %d: anchors and aliases are not supported", v.Line)
			}
			list = v
		}
		if list == nil {
			return nil, nil, fmt.Errorf("line %d: no identities key", root.Line)
		}
		if list.Kind == yaml.ScalarNode && list.Tag == "!!null" {
			return b.finish(), nil, nil
		}
		root = list
	}
	if root.Kind != yaml.SequenceNode {
		return nil, nil, fmt.Errorf("line %d: top level is not a list of identities (or identities: holding one)", root.Line)
	}
	if len(root.Content) > MaxRows {
		return nil, nil, fmt.Errorf("more than %d identities", MaxRows)
	}
	var rejected []RowError
	for _, item := range root.Content {
		raw, line, err := yamlItem(item)
		var p Person
		if err == nil {
			p, err = raw.person()
		}
		if err != nil {
			rejected = append(rejected, RowError{Line: line, Reason: err.Error()})
			continue
		}
		if _, reason := b.add(p, nil); reason != "" {
			rejected = append(rejected, RowError{Line: item.Line, Reason: reason})
		}
	}
	d := b.finish()
	d.resolveManagers()
	return d, rejected, nil
}

// yamlItem converts one list item; the line is the item's, or the offending key's.
func yamlItem(n *yaml.Node) (rawPerson, int, error) {
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		return rawPerson{}, n.Line, errors.New("anchors and aliases are not supported")
	}
	if n.Kind != yaml.MappingNode {
		return rawPerson{}, n.Line, errors.New("item is not a mapping")
	}
	var r rawPerson
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return rawPerson{}, k.Line, errors.New("key is not a string")
		}
		key := k.Value
		if !contains(Columns, key) {
			return rawPerson{}, k.Line, fmt.Errorf("unknown key %q (known: %s)", key, strings.Join(Columns, ", "))
		}
		if seen[key] {
			return rawPerson{}, k.Line, fmt.Errorf("key %q repeated", key)
		}
		seen[key] = true
		if v.Anchor != "" || v.Kind == yaml.AliasNode {
			return rawPerson{}, v.Line, errors.New("anchors and aliases are not supported")
		}
		if key == "aliases" {
			l, err := yamlList(key, v)
			if err != nil {
				return rawPerson{}, v.Line, err
			}
			r.Aliases = l
			continue
		}
		s, err := yamlScalar(key, v)
		if err != nil {
			return rawPerson{}, v.Line, err
		}
		switch key {
		case "user":
			r.User = s
		case "email":
			r.Email = s
		case "department":
			r.Department = s
		case "role":
			r.Role = s
		case "manager":
			r.Manager = s
		case "office":
			r.Office = s
		case "peer_group":
			r.PeerGroup = s
		case "privileged", "disabled":
			if _, err := strconv.ParseBool(s); s != "" && (err != nil || v.Tag != "!!bool" && v.Tag != "!!str") {
				return rawPerson{}, v.Line, fmt.Errorf("%s %q is not true or false", key, s)
			}
			if key == "privileged" {
				r.Privileged = s
			} else {
				r.Disabled = s
			}
		}
	}
	return r, n.Line, nil
}

func yamlScalar(key string, v *yaml.Node) (string, error) {
	if v.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("%s is not a single value", key)
	}
	if v.Tag == "!!null" {
		return "", nil
	}
	return v.Value, nil
}

func yamlList(key string, v *yaml.Node) ([]string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" || v.Value == "" {
			return nil, nil
		}
		return strings.Split(v.Value, ";"), nil
	case yaml.SequenceNode:
		if len(v.Content) > MaxAliases {
			return nil, fmt.Errorf("%s has more than %d items", key, MaxAliases)
		}
		out := make([]string, 0, len(v.Content))
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode || e.Anchor != "" {
				return nil, fmt.Errorf("%s item at line %d is not a single value", key, e.Line)
			}
			if e.Tag == "!!null" {
				continue
			}
			out = append(out, e.Value)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s is not a list", key)
}
