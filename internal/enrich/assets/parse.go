package assets

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// RowError is one rejected row or YAML item.
type RowError struct {
	File   string // "" when read from a reader without a name
	Line   int
	Reason string
}

func (e RowError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
}

// Limits on one inventory file.
const (
	MaxRows      = 5_000_000
	MaxYAMLBytes = 64 << 20 // a YAML file is read whole
)

// Columns are the CSV columns and YAML keys an inventory knows; only host or
// fqdn is required.
var Columns = []string{"host", "fqdn", "ips", "owner", "business_unit", "criticality", "tags", "region"}

// Load reads an inventory file, CSV or YAML by its extension (.csv; .yaml, .yml).
// The error is for a file that cannot be used at all; rejected rows come back
// with the inventory.
func Load(path string) (*Inventory, []RowError, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("opening asset inventory: %w", err)
	}
	defer f.Close()
	var (
		inv *Inventory
		rej []RowError
	)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		inv, rej, err = ReadCSV(f, path)
	case ".yaml", ".yml":
		inv, rej, err = ReadYAML(f, path)
	default:
		return nil, nil, fmt.Errorf("reading asset inventory %s: extension is not .csv, .yaml or .yml", path)
	}
	if err != nil {
		return nil, rej, fmt.Errorf("reading asset inventory %s: %w", path, err)
	}
	return inv, rej, nil
}

func place(file string, line int) string {
	if file == "" {
		return fmt.Sprintf("line %d", line)
	}
	return fmt.Sprintf("%s:%d", file, line)
}

// ReadCSV parses an inventory CSV with a header row naming its columns in any
// order (see Columns). Lists (ips, tags) are separated by ";". name labels the
// rows' places in errors. It fails on a missing or unusable header; bad rows are
// returned as RowErrors and skipped.
func ReadCSV(r io.Reader, name string) (*Inventory, []RowError, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("reading header: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := col[h]; dup {
			return nil, nil, fmt.Errorf("header: column %q repeated", h)
		}
		if !isColumn(h) {
			return nil, nil, fmt.Errorf("header: unknown column %q (known: %s)", h, strings.Join(Columns, ", "))
		}
		col[h] = i
	}
	_, hasHost := col["host"]
	_, hasFQDN := col["fqdn"]
	if !hasHost && !hasFQDN {
		return nil, nil, errors.New(`header: no "host" or "fqdn" column`)
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	list := func(rec []string, name string) []string {
		v := strings.TrimSpace(get(rec, name))
		if v == "" {
			return nil
		}
		return strings.Split(v, ";")
	}
	b := newBuilder(name)
	var rejected []RowError
	for rows := 0; ; rows++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				rejected = append(rejected, RowError{File: name, Line: pe.Line, Reason: pe.Err.Error()})
				continue
			}
			return b.finish(), rejected, fmt.Errorf("reading row %d: %w", rows+2, err)
		}
		line, _ := cr.FieldPos(0)
		if rows >= MaxRows {
			return b.finish(), rejected, fmt.Errorf("more than %d rows", MaxRows)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		raw := rawAsset{
			Host: get(rec, "host"), FQDN: get(rec, "fqdn"), Owner: get(rec, "owner"), BusinessUnit: get(rec, "business_unit"),
			Criticality: get(rec, "criticality"), Region: get(rec, "region"), IPs: list(rec, "ips"), Tags: list(rec, "tags"),
		}
		if err := b.add(raw, place(name, line)); err != nil {
			rejected = append(rejected, RowError{File: name, Line: line, Reason: err.Error()})
		}
	}
	return b.finish(), rejected, nil
}

func isColumn(h string) bool {
	for _, c := range Columns {
		if c == h {
			return true
		}
	}
	return false
}

// ReadYAML parses an inventory YAML file: a sequence of mappings with the keys of
// Columns; ips and tags are sequences of strings (a single string is taken as a
// ";"-separated list, like the CSV). Keys are strict: an unknown or repeated key
// rejects its item with the line. A file that is not YAML, or whose top level is
// not a sequence, is an error; a bad item is a RowError and the rest loads.
// Aliases and anchors are refused (no expansion bombs).
func ReadYAML(r io.Reader, name string) (*Inventory, []RowError, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxYAMLBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading yaml: %w", err)
	}
	if len(data) > MaxYAMLBytes {
		return nil, nil, fmt.Errorf("yaml larger than %d bytes", MaxYAMLBytes)
	}
	b := newBuilder(name)
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return b.finish(), nil, nil // empty file: no assets
		}
		return nil, nil, fmt.Errorf("parsing yaml: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("%s: more than one yaml document", place(name, extra.Line))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return b.finish(), nil, nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return b.finish(), nil, nil
	}
	if root.Kind != yaml.SequenceNode {
		return nil, nil, fmt.Errorf("%s: top level is not a list of assets", place(name, root.Line))
	}
	if len(root.Content) > MaxRows {
		return nil, nil, fmt.Errorf("more than %d assets", MaxRows)
	}
	var rejected []RowError
	for _, item := range root.Content {
		raw, line, err := yamlItem(item)
		if err == nil {
			err = b.add(raw, place(name, item.Line))
		}
		if err != nil {
			rejected = append(rejected, RowError{File: name, Line: line, Reason: err.Error()})
		}
	}
	return b.finish(), rejected, nil
}

// yamlItem converts one list item; the line is the item's, or the offending key's.
func yamlItem(n *yaml.Node) (rawAsset, int, error) {
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		return rawAsset{}, n.Line, errors.New("anchors and aliases are not supported")
	}
	if n.Kind != yaml.MappingNode {
		return rawAsset{}, n.Line, errors.New("item is not a mapping")
	}
	var r rawAsset
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return rawAsset{}, k.Line, errors.New("key is not a string")
		}
		key := k.Value
		if !isColumn(key) {
			return rawAsset{}, k.Line, fmt.Errorf("unknown key %q (known: %s)", key, strings.Join(Columns, ", "))
		}
		if seen[key] {
			return rawAsset{}, k.Line, fmt.Errorf("key %q repeated", key)
		}
		seen[key] = true
		if v.Anchor != "" || v.Kind == yaml.AliasNode {
			return rawAsset{}, v.Line, errors.New("anchors and aliases are not supported")
		}
		if key == "ips" || key == "tags" {
			l, err := yamlList(key, v)
			if err != nil {
				return rawAsset{}, v.Line, err
			}
			if key == "ips" {
				r.IPs = l
			} else {
				r.Tags = l
			}
			continue
		}
		s, err := yamlScalar(key, v)
		if err != nil {
			return rawAsset{}, v.Line, err
		}
		switch key {
		case "host":
			r.Host = s
		case "fqdn":
			r.FQDN = s
		case "owner":
			r.Owner = s
		case "business_unit":
			r.BusinessUnit = s
		case "criticality":
			r.Criticality = s
		case "region":
			r.Region = s
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
		if len(v.Content) > MaxListItems {
			return nil, fmt.Errorf("%s has more than %d items", key, MaxListItems)
		}
		out := make([]string, 0, len(v.Content))
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode || e.Anchor != "" {
				return nil, fmt.Errorf("%s item at line %d is not a single value", key, e.Line)
			}
			out = append(out, e.Value)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s is not a list", key)
}
