// Package triage turns an incident into what an analyst needs to decide on it.
// It is the data-driven half of the triage agent (issue 7, part 2):
//
//   - Gather(ctx, store, incident, GatherOptions) Dossier: for the incident's
//     leading users, hosts and addresses, the signals on them in a window around
//     the incident (24 h each side by default) that are not the incident's;
//     other incidents sharing those entities; first-seen facts from the
//     behavior.first_seen signals in the window; per rule of the incident, how
//     many distinct entities it fired on in the window (a rule that fires
//     everywhere is weak evidence); the evidence events of its strongest signals.
//   - BlastRadius(ctx, store, incident, BlastOptions) Blast: what the incident's
//     users and hosts reached in the store's last 14 days (the hosts a user was
//     named with in a signal, the users named with a host), with criticality and
//     privilege from the caller.
//   - Steps(incident, dossier, playbooks) []Step: the next investigation steps
//     from the playbook of each technique, in the order the attack progressed,
//     then tactic fallbacks, placeholders filled, deduplicated.
//
// Playbooks are data: YAML files embedded in the binary (playbooks/*.yaml),
// which a directory of the caller's files can override per technique or tactic
// (LoadPlaybooks). Everything reads the store and event times only (no wall
// clock); every list is bounded and in a deterministic order.
//
// What the store cannot say is not guessed: the blast radius only knows the
// logons that produced signals, and an incident whose SignalIDs were capped by
// the correlator (SignalCount > len(SignalIDs)) may see its own omitted repeats
// among the "during" signals of the dossier.
package triage

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsec/vigil/internal/attack"
	"github.com/vigilsec/vigil/internal/enrich/listfile"
)

//go:embed playbooks/*.yaml
var builtinFS embed.FS

// Bounds on playbook files, which may come from the caller.
const (
	MaxPlaybooksPerFile = 2_000
	MaxStepsPerPlaybook = 20
	MaxStepText         = 600 // bytes of a title, look_at or benign_if
	MaxPlaybookFiles    = 1_000
	MaxPlaybookBytes    = 4 << 20 // one playbook file
)

// StepTemplate is one investigation step as written in a playbook. LookAt and
// BenignIf may hold placeholders ({user}, {host}, ...; see Placeholders) that
// Steps fills with the incident's entities.
type StepTemplate struct {
	Title    string `json:"title"`     // short imperative title
	LookAt   string `json:"look_at"`   // data source and query hint
	BenignIf string `json:"benign_if"` // what would make it benign
}

// Playbook is the steps for one ATT&CK technique or, as a fallback, one tactic.
type Playbook struct {
	Technique string         `json:"technique,omitempty"` // "T1110.003"
	Tactic    string         `json:"tactic,omitempty"`    // short name, "credential-access"
	Steps     []StepTemplate `json:"steps"`
	Source    string         `json:"source"` // file:line where it was defined
}

// Key is the technique id or tactic short name the playbook is for.
func (p *Playbook) Key() string {
	if p.Technique != "" {
		return p.Technique
	}
	return p.Tactic
}

// Playbooks is a set of playbooks: at most one per technique and one per tactic.
// It is immutable once built and safe for concurrent use.
type Playbooks struct {
	techniques map[string]*Playbook
	tactics    map[string]*Playbook
}

// Placeholders are the names a step may use in braces. The singular ones take
// the incident's leading entity of that kind; the plural ones list up to
// MaxListed of them; first_seen, last_seen and incident describe the incident.
var Placeholders = []string{
	"user", "users", "host", "hosts", "ip", "ips", "domain", "domains",
	"process", "file", "hash", "url", "principal", "workload",
	"first_seen", "last_seen", "incident",
}

var builtin = sync.OnceValues(func() (*Playbooks, error) {
	return parseFS(builtinFS, "playbooks")
})

// BuiltinPlaybooks returns the playbooks shipped in the binary.
func BuiltinPlaybooks() (*Playbooks, error) { return builtin() }

// LoadPlaybooks returns the built-in playbooks with those of the *.yaml and
// *.yml files in dir laid over them: a playbook in dir replaces the built-in
// one for the same technique or tactic. An empty dir gives the built-in set.
// Any error in any file fails the load and names the file and line.
func LoadPlaybooks(dir string) (*Playbooks, error) {
	if dir == "" {
		return builtin()
	}
	ps, err := LoadPlaybooksFS(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("loading playbooks from %s: %w", dir, err)
	}
	return ps, nil
}

// LoadPlaybooksFS is LoadPlaybooks for the top directory of fsys.
func LoadPlaybooksFS(fsys fs.FS) (*Playbooks, error) {
	base, err := builtin()
	if err != nil {
		return nil, err
	}
	over, err := parseFS(fsys, ".")
	if err != nil {
		return nil, err
	}
	out := &Playbooks{techniques: maps.Clone(base.techniques), tactics: maps.Clone(base.tactics)}
	for k, p := range over.techniques {
		out.techniques[k] = p
	}
	for k, p := range over.tactics {
		out.tactics[k] = p
	}
	return out, nil
}

// parseFS reads every *.yaml/*.yml file directly in dir of fsys, in name order.
// Two playbooks for the same key anywhere in the set are an error.
func parseFS(fsys fs.FS, dir string) (*Playbooks, error) {
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("listing playbooks: %w", err)
	}
	out := &Playbooks{techniques: map[string]*Playbook{}, tactics: map[string]*Playbook{}}
	n := 0
	for _, e := range ents {
		ext := path.Ext(e.Name())
		if e.IsDir() || ext != ".yaml" && ext != ".yml" {
			continue
		}
		if n++; n > MaxPlaybookFiles {
			return nil, fmt.Errorf("more than %d playbook files", MaxPlaybookFiles)
		}
		data, err := readBounded(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		pbs, err := ParsePlaybooks(data, filepath.ToSlash(e.Name()))
		if err != nil {
			return nil, err
		}
		for _, p := range pbs {
			m := out.techniques
			if p.Tactic != "" {
				m = out.tactics
			}
			if prev := m[p.Key()]; prev != nil {
				return nil, fmt.Errorf("%s: playbook for %s already defined at %s", p.Source, p.Key(), prev.Source)
			}
			m[p.Key()] = p
		}
	}
	return out, nil
}

// readBounded reads a file of at most MaxPlaybookBytes.
func readBounded(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("opening playbook file: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxPlaybookBytes+1))
	_ = f.Close() // read-only: the read error is the one that matters
	if err != nil {
		return nil, fmt.Errorf("reading playbook file %s: %w", name, err)
	}
	if len(data) > MaxPlaybookBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, MaxPlaybookBytes)
	}
	return data, nil
}

// ParsePlaybooks parses one playbook file:
//
//	playbooks:
//	  - technique: T1110.003      # or tactic: credential-access
//	    steps:
//	      - title: ...
//	        look_at: ...
//	        benign_if: ...
//
// Keys are strict, anchors and aliases are refused, every step needs all three
// texts, placeholders must be known, and a technique or tactic must exist in the
// embedded ATT&CK table. Errors name file:line. file only labels messages.
func ParsePlaybooks(data []byte, file string) ([]*Playbook, error) {
	items, err := listfile.YAMLItems(bytes.NewReader(data), file, listfile.YAMLSpec{Key: "playbooks", Noun: "playbooks", MaxItems: MaxPlaybooksPerFile})
	if err != nil {
		if strings.HasPrefix(err.Error(), file+":") {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	out := make([]*Playbook, 0, len(items))
	seen := map[string]string{}
	for _, it := range items {
		p, line, err := parsePlaybook(it, file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", listfile.Place(file, line), err)
		}
		if prev, dup := seen[p.Key()]; dup {
			return nil, fmt.Errorf("%s: playbook for %s already defined at %s", p.Source, p.Key(), prev)
		}
		seen[p.Key()] = p.Source
		out = append(out, p)
	}
	return out, nil
}

func parsePlaybook(n *yaml.Node, file string) (*Playbook, int, error) {
	p := &Playbook{Source: listfile.Place(file, n.Line)}
	var stepsNode *yaml.Node
	line, err := listfile.Fields(n, []string{"technique", "tactic", "steps"}, func(key string, v *yaml.Node) error {
		switch key {
		case "technique":
			s, err := listfile.Scalar(key, v)
			if err != nil {
				return err
			}
			te, ok := attack.LookupTechnique(s)
			if !ok {
				return fmt.Errorf("technique %q is not an ATT&CK Enterprise technique id", s)
			}
			p.Technique = te.ID
		case "tactic":
			s, err := listfile.Scalar(key, v)
			if err != nil {
				return err
			}
			ta, ok := attack.LookupTactic(s)
			if !ok {
				return fmt.Errorf("tactic %q is not an ATT&CK Enterprise tactic", s)
			}
			p.Tactic = ta.ShortName
		case "steps":
			stepsNode = v
		}
		return nil
	})
	if err != nil {
		return nil, line, err
	}
	switch {
	case p.Technique == "" && p.Tactic == "":
		return nil, n.Line, errors.New("playbook names neither a technique nor a tactic")
	case p.Technique != "" && p.Tactic != "":
		return nil, n.Line, errors.New("playbook names both a technique and a tactic")
	case stepsNode == nil:
		return nil, n.Line, errors.New("playbook has no steps")
	}
	if stepsNode.Kind != yaml.SequenceNode {
		return nil, stepsNode.Line, errors.New("steps is not a list")
	}
	if len(stepsNode.Content) == 0 {
		return nil, stepsNode.Line, errors.New("playbook has no steps")
	}
	if len(stepsNode.Content) > MaxStepsPerPlaybook {
		return nil, stepsNode.Line, fmt.Errorf("more than %d steps", MaxStepsPerPlaybook)
	}
	for _, sn := range stepsNode.Content {
		st, line, err := parseStep(sn)
		if err != nil {
			return nil, line, err
		}
		p.Steps = append(p.Steps, st)
	}
	return p, n.Line, nil
}

func parseStep(n *yaml.Node) (StepTemplate, int, error) {
	var st StepTemplate
	line, err := listfile.Fields(n, []string{"title", "look_at", "benign_if"}, func(key string, v *yaml.Node) error {
		s, err := listfile.Scalar(key, v)
		if err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if len(s) > MaxStepText {
			return fmt.Errorf("%s longer than %d bytes", key, MaxStepText)
		}
		if err := checkPlaceholders(s); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		switch key {
		case "title":
			st.Title = s
		case "look_at":
			st.LookAt = s
		case "benign_if":
			st.BenignIf = s
		}
		return nil
	})
	if err != nil {
		return st, line, err
	}
	for _, f := range []struct{ name, v string }{{"title", st.Title}, {"look_at", st.LookAt}, {"benign_if", st.BenignIf}} {
		if f.v == "" {
			return st, n.Line, fmt.Errorf("step has no %s", f.name)
		}
	}
	return st, n.Line, nil
}

// checkPlaceholders reports an unknown or unclosed {name} in s.
func checkPlaceholders(s string) error {
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			if strings.IndexByte(s, '}') >= 0 {
				return errors.New("'}' without '{'")
			}
			return nil
		}
		if strings.IndexByte(s[:i], '}') >= 0 {
			return errors.New("'}' without '{'")
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return errors.New("'{' without '}'")
		}
		name := s[i+1 : i+j]
		if !slices.Contains(Placeholders, name) {
			return fmt.Errorf("unknown placeholder {%s} (known: %s)", name, strings.Join(Placeholders, ", "))
		}
		s = s[i+j+1:]
	}
}

// ForTechnique returns the playbook of a technique id, or of its parent when the
// sub-technique has none.
func (ps *Playbooks) ForTechnique(id string) (*Playbook, bool) {
	id = strings.ToUpper(strings.TrimSpace(id))
	if p := ps.techniques[id]; p != nil {
		return p, true
	}
	if parent, _, ok := strings.Cut(id, "."); ok {
		if p := ps.techniques[parent]; p != nil {
			return p, true
		}
	}
	return nil, false
}

// ForTactic returns the fallback playbook of a tactic (id, short name or name).
func (ps *Playbooks) ForTactic(tactic string) (*Playbook, bool) {
	ta, ok := attack.LookupTactic(tactic)
	if !ok {
		return nil, false
	}
	p := ps.tactics[ta.ShortName]
	return p, p != nil
}

// Techniques returns the technique ids that have a playbook, sorted.
func (ps *Playbooks) Techniques() []string {
	out := make([]string, 0, len(ps.techniques))
	for k := range ps.techniques {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TacticsCovered returns the tactic short names that have a fallback playbook, sorted.
func (ps *Playbooks) TacticsCovered() []string {
	out := make([]string, 0, len(ps.tactics))
	for k := range ps.tactics {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
