package sigma

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Collection is what loading rule files yields: the documents accepted, and every
// document rejected with its reason.
type Collection struct {
	Rules        []*Rule
	Correlations []*Correlation
	Filters      []*Filter
	Rejected     []*LoadError
	Files        int
}

// LoadError is a document that could not be loaded.
type LoadError struct {
	Source Location
	Title  string // when known
	Reason string // a short category, for counts: see the Reason constants
	Err    error
}

// Reasons a document is rejected.
const (
	ReasonYAML        = "yaml"        // not valid YAML
	ReasonSchema      = "schema"      // an attribute is missing or malformed
	ReasonDetection   = "detection"   // a search or value is malformed
	ReasonCondition   = "condition"   // the condition does not parse or names unknown searches
	ReasonModifier    = "modifier"    // an unknown modifier or a combination the specification forbids
	ReasonPlaceholder = "placeholder" // an expand placeholder without a configured value
	ReasonReference   = "reference"   // a correlation or filter names rules that are not loaded
	ReasonDuplicate   = "duplicate"   // an id or name already taken
	ReasonUnsupported = "unsupported" // valid Sigma the engine cannot evaluate (with the reason)
	ReasonLegacy      = "legacy"      // Sigma 1 syntax removed in Sigma 2 (aggregations, collections)
)

func (e *LoadError) Error() string {
	return fmt.Sprintf("%s: %s", e.Source, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }

// maxRuleFile bounds a rule file; rules are a few KB.
const maxRuleFile = 4 << 20

// Load reads rule files and directories (recursively, *.yml and *.yaml) in path
// order. Documents are rejected one by one; an I/O error on a path is returned.
func Load(paths ...string) (*Collection, error) { return LoadFS(nil, paths...) }

// LoadFS is Load with the rules in fsys read first (every *.yml and *.yaml, walked
// in lexical order, named "builtin:" + their path): rule packs shipped in the binary.
func LoadFS(fsys fs.FS, paths ...string) (*Collection, error) {
	c := &Collection{}
	if fsys != nil {
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || (!strings.HasSuffix(p, ".yml") && !strings.HasSuffix(p, ".yaml")) {
				return err
			}
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			c.Files++
			c.Add("builtin:"+p, data)
			return nil
		})
		if err != nil {
			return c, fmt.Errorf("reading built-in rules: %w", err)
		}
	}
	for _, p := range paths {
		files, err := ruleFiles(p)
		if err != nil {
			return c, err
		}
		for _, f := range files {
			data, err := readLimited(f)
			if err != nil {
				return c, err
			}
			c.Files++
			c.Add(f, data)
		}
	}
	c.Link()
	return c, nil
}

func ruleFiles(root string) ([]string, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	if !st.IsDir() {
		return []string{root}, nil
	}
	var files []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := strings.ToLower(filepath.Ext(p)); ext == ".yml" || ext == ".yaml" {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading rules under %s: %w", root, err)
	}
	sort.Strings(files)
	return files, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path) // #nosec G304 -- the user names the rule files
	if err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRuleFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxRuleFile {
		return nil, fmt.Errorf("reading %s: larger than %d bytes: not a rule file", path, maxRuleFile)
	}
	return data, nil
}

// Add parses the documents of one file (named path in errors) into c. Call Link
// after the last Add (Load does).
func (c *Collection) Add(path string, data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			// The decoder cannot resynchronise after a syntax error: the rest of
			// the file is lost with this document.
			c.reject(&LoadError{Source: Location{Path: path}, Reason: ReasonYAML, Err: err})
			return
		}
		root := &doc
		if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
			root = root.Content[0]
		}
		if isNull(root) {
			continue // an empty document (a trailing ---)
		}
		c.addDoc(root, Location{Path: path, Line: root.Line})
	}
}

// addDoc classifies and parses one document.
func (c *Collection) addDoc(root *yaml.Node, src Location) {
	kind := "rule"
	var title string
	if root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			switch root.Content[i].Value {
			case "correlation":
				kind = "correlation"
			case "filter":
				if kind == "rule" {
					kind = "filter"
				}
			case "action":
				kind = "collection"
			case "title":
				title = root.Content[i+1].Value
			}
		}
	}
	var err error
	switch kind {
	case "correlation":
		var r *Correlation
		if r, err = parseCorrelation(root, src); err == nil {
			c.Correlations = append(c.Correlations, r)
		}
	case "filter":
		var f *Filter
		if f, err = parseFilter(root, src); err == nil {
			c.Filters = append(c.Filters, f)
		}
	case "collection":
		c.reject(&LoadError{Source: src, Title: title, Reason: ReasonLegacy,
			Err: errors.New("rule collections (action: global/reset/repeat) were removed in Sigma 2")})
		return
	default:
		var r *Rule
		if r, err = parseRule(root, src); err == nil {
			c.Rules = append(c.Rules, r)
		}
	}
	if err != nil {
		c.reject(&LoadError{Source: src, Title: title, Reason: reasonOf(err), Err: err})
	}
}

// reasonOf returns the reason a parse error carries.
func reasonOf(err error) string {
	var pe *posErr
	if errors.As(err, &pe) && pe.reason != "" {
		return pe.reason
	}
	return ReasonSchema
}

func (c *Collection) reject(e *LoadError) { c.Rejected = append(c.Rejected, e) }

// Link checks references across documents: ids and names are unique, correlations
// and filters name loaded rules. Offending documents move to Rejected.
func (c *Collection) Link() {
	ids := map[string]Location{}
	names := map[string]Location{}
	dup := func(m Meta) error {
		if m.ID != "" {
			if prev, ok := ids[strings.ToLower(m.ID)]; ok {
				return fmt.Errorf("id %s is already used by %s", m.ID, prev)
			}
			ids[strings.ToLower(m.ID)] = m.Source
		}
		if m.Name != "" {
			if prev, ok := names[m.Name]; ok {
				return fmt.Errorf("name %q is already used by %s", m.Name, prev)
			}
			names[m.Name] = m.Source
		}
		return nil
	}
	rules := c.Rules[:0]
	for _, r := range c.Rules {
		if err := dup(r.Meta); err != nil {
			c.reject(&LoadError{Source: r.Source, Title: r.Title, Reason: ReasonDuplicate, Err: err})
			continue
		}
		rules = append(rules, r)
	}
	c.Rules = rules
	corrs := c.Correlations[:0]
	for _, r := range c.Correlations {
		if err := dup(r.Meta); err != nil {
			c.reject(&LoadError{Source: r.Source, Title: r.Title, Reason: ReasonDuplicate, Err: err})
			continue
		}
		corrs = append(corrs, r)
	}
	c.Correlations = corrs
	known := func(ref string) bool {
		_, a := ids[strings.ToLower(ref)]
		_, b := names[ref]
		return a || b
	}
	corrs = c.Correlations[:0]
	for _, r := range c.Correlations {
		var missing []string
		for _, ref := range r.Rules {
			if !known(ref) {
				missing = append(missing, ref)
			}
		}
		if missing != nil {
			c.reject(&LoadError{Source: r.Source, Title: r.Title, Reason: ReasonReference,
				Err: fmt.Errorf("correlation refers to rules that are not loaded: %s", strings.Join(missing, ", "))})
			continue
		}
		corrs = append(corrs, r)
	}
	c.Correlations = corrs
}

// RejectedByReason counts the rejected documents per reason.
func (c *Collection) RejectedByReason() map[string]int {
	m := map[string]int{}
	for _, e := range c.Rejected {
		m[e.Reason]++
	}
	return m
}
