package identity

import (
	"fmt"
	"io"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsec/vigil/internal/enrich/listfile"
)

// Limits on YAML input.
const (
	MaxYAMLBytes = listfile.MaxYAMLBytes // a YAML file is read whole
	MaxAliases   = 10_000                // names one person may have
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
	items, err := listfile.YAMLItems(r, "", listfile.YAMLSpec{Key: "identities", Noun: "identities", MaxItems: MaxRows})
	if err != nil {
		return nil, nil, err
	}
	b := newBuilder()
	var rejected []RowError
	for _, item := range items {
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
	var r rawPerson
	line, err := listfile.Fields(n, Columns, func(key string, v *yaml.Node) error {
		if key == "aliases" {
			l, err := listfile.List(key, v, MaxAliases)
			r.Aliases = l
			return err
		}
		s, err := listfile.Scalar(key, v)
		if err != nil {
			return err
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
				return fmt.Errorf("%s %q is not true or false", key, s)
			}
			if key == "privileged" {
				r.Privileged = s
			} else {
				r.Disabled = s
			}
		}
		return nil
	})
	if err != nil {
		return rawPerson{}, line, err
	}
	return r, line, nil
}
