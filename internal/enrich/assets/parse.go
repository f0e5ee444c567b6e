package assets

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsec/vigil/internal/enrich/listfile"
)

// RowError is one rejected row or YAML item, at its place (file:line).
type RowError = listfile.RowError

// Limits on one inventory file.
const (
	MaxRows      = 5_000_000
	MaxYAMLBytes = listfile.MaxYAMLBytes // a YAML file is read whole
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

// ReadCSV parses an inventory CSV with a header row naming its columns in any
// order (see Columns). Lists (ips, tags) are separated by ";". name labels the
// rows' places in errors. It fails on a missing or unusable header; bad rows are
// returned as RowErrors and skipped.
func ReadCSV(r io.Reader, name string) (*Inventory, []RowError, error) {
	c, err := listfile.OpenCSV(r, name, listfile.CSVSpec{Columns: Columns, Required: []string{"host", "fqdn"}, MaxRows: MaxRows})
	if err != nil {
		return nil, nil, err
	}
	b := newBuilder(name)
	rejected, err := c.Each(func(row listfile.Row) error {
		if row.Blank() {
			return nil
		}
		raw := rawAsset{
			Host: row.Get("host"), FQDN: row.Get("fqdn"), Owner: row.Get("owner"), BusinessUnit: row.Get("business_unit"),
			Criticality: row.Get("criticality"), Region: row.Get("region"), IPs: row.List("ips"), Tags: row.List("tags"),
		}
		return b.add(raw, listfile.Place(name, row.Line))
	})
	return b.finish(), rejected, err
}

// ReadYAML parses an inventory YAML file: a sequence of mappings with the keys of
// Columns; ips and tags are sequences of strings (a single string is taken as a
// ";"-separated list, like the CSV; null items are left out). Keys are strict: an
// unknown or repeated key rejects its item with the line. A file that is not
// YAML, or whose top level is not a sequence, is an error; a bad item is a
// RowError and the rest loads. Aliases and anchors are refused (no expansion
// bombs).
func ReadYAML(r io.Reader, name string) (*Inventory, []RowError, error) {
	items, err := listfile.YAMLItems(r, name, listfile.YAMLSpec{Noun: "assets", MaxItems: MaxRows})
	if err != nil {
		return nil, nil, err
	}
	b := newBuilder(name)
	var rejected []RowError
	for _, item := range items {
		raw, line, err := yamlItem(item)
		if err == nil {
			err = b.add(raw, listfile.Place(name, item.Line))
		}
		if err != nil {
			rejected = append(rejected, RowError{File: name, Line: line, Reason: err.Error()})
		}
	}
	return b.finish(), rejected, nil
}

// yamlItem converts one list item; the line is the item's, or the offending key's.
func yamlItem(n *yaml.Node) (rawAsset, int, error) {
	var r rawAsset
	line, err := listfile.Fields(n, Columns, func(key string, v *yaml.Node) error {
		if key == "ips" || key == "tags" {
			l, err := listfile.List(key, v, MaxListItems)
			if key == "ips" {
				r.IPs = l
			} else {
				r.Tags = l
			}
			return err
		}
		s, err := listfile.Scalar(key, v)
		if err != nil {
			return err
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
		return nil
	})
	if err != nil {
		return rawAsset{}, line, err
	}
	return r, line, nil
}
