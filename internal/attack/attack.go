// Package attack owns the MITRE ATT&CK Enterprise table shipped inside the Vigil
// binary: the 14 tactics in kill-chain order and the 835 techniques and
// sub-techniques with their tactics, parent and deprecation flag, plus a
// kill-chain progression measure used by correlation.
//
// Data: attack.json is derived data, generated from
// ../shared/corpora/attack/enterprise-attack-compact.json (mitre/cti) by
// `go generate` (which runs TestEmbeddedMatchesCorpus with -update; that test
// also fails when the committed file differs from what the generator would
// write). It keeps MITRE's notice; LICENSE-ATTACK.txt carries MITRE's license,
// which requires the copyright designation and license on every copy.
//
// Memory: the table is parsed once on first use (835 techniques, about 130 KB
// of heap, measured by TestTableHeap); lookups are map reads and allocate only
// the returned tactic slice copy.
//
// Progression: see [Progression]. It scores how far an ordered sequence of
// tactics advances along the kill chain, weighing a rising sequence above the
// same tactics seen out of order.
//
// It does not map data sources, groups, software or mitigations, does not know
// the Mobile or ICS matrices, and does not update itself: a new ATT&CK release
// means regenerating attack.json from a new corpus.
package attack

//go:generate go test . -run TestEmbeddedMatchesCorpus -update

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

//go:embed attack.json
var tableJSON []byte

// TacticCount is the number of Enterprise tactics (the kill-chain length).
const TacticCount = 14

// Tactic is one ATT&CK Enterprise tactic.
type Tactic struct {
	ID        string `json:"id"`        // "TA0006"
	ShortName string `json:"shortname"` // "credential-access", the kill_chain_phases name
	Name      string `json:"name"`      // "Credential Access"
	Order     int    `json:"order"`     // 1 (reconnaissance) .. 14 (impact)
}

// Technique is one ATT&CK technique or sub-technique.
type Technique struct {
	ID         string   // "T1003" or "T1003.001"
	Name       string   // "OS Credential Dumping"
	Tactics    []string // tactic short names, in kill-chain order
	Parent     string   // "T1003" for a sub-technique, "" otherwise
	Deprecated bool     // revoked or deprecated in this ATT&CK release
}

// fileTable is the on-disk (embedded) form written by the generator.
type fileTable struct {
	Source     string      `json:"source"`
	Notice     string      `json:"notice"`
	License    string      `json:"license"`
	Tactics    []Tactic    `json:"tactics"`
	Techniques []fileTechn `json:"techniques"`
}

type fileTechn struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Tactics    []string `json:"tactics"`
	Deprecated bool     `json:"deprecated,omitempty"`
}

type table struct {
	source, notice string
	tactics        []Tactic       // kill-chain order
	tacticKey      map[string]int // normalised id/shortname/name -> index in tactics
	techniques     map[string]*Technique
	ids            []string // sorted technique ids
}

var load = sync.OnceValue(func() *table {
	t, err := parseTable(tableJSON)
	if err != nil {
		// The embedded file is build-time data checked by the tests; a bad one is a
		// broken build, not hostile input.
		panic(fmt.Sprintf("attack: loading embedded table: %v", err))
	}
	return t
})

func parseTable(b []byte) (*table, error) {
	var f fileTable
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decoding ATT&CK table: %w", err)
	}
	if len(f.Tactics) != TacticCount {
		return nil, fmt.Errorf("decoding ATT&CK table: %d tactics, want %d", len(f.Tactics), TacticCount)
	}
	t := &table{source: f.Source, notice: f.Notice, tacticKey: map[string]int{}, techniques: make(map[string]*Technique, len(f.Techniques))}
	t.tactics = slices.Clone(f.Tactics)
	slices.SortFunc(t.tactics, func(a, b Tactic) int { return a.Order - b.Order })
	for i, ta := range t.tactics {
		if ta.Order != i+1 {
			return nil, fmt.Errorf("decoding ATT&CK table: tactic %s has order %d, want %d", ta.ID, ta.Order, i+1)
		}
		for _, k := range []string{ta.ID, ta.ShortName, ta.Name} {
			t.tacticKey[normTactic(k)] = i
		}
	}
	for _, ft := range f.Techniques {
		if !validTechniqueID(ft.ID) {
			return nil, fmt.Errorf("decoding ATT&CK table: malformed technique id %q", ft.ID)
		}
		if _, dup := t.techniques[ft.ID]; dup {
			return nil, fmt.Errorf("decoding ATT&CK table: duplicate technique %s", ft.ID)
		}
		te := &Technique{ID: ft.ID, Name: ft.Name, Deprecated: ft.Deprecated}
		if p, _, ok := strings.Cut(ft.ID, "."); ok {
			te.Parent = p
		}
		for _, s := range ft.Tactics {
			i, ok := t.tacticKey[normTactic(s)]
			if !ok {
				return nil, fmt.Errorf("decoding ATT&CK table: technique %s names unknown tactic %q", ft.ID, s)
			}
			te.Tactics = append(te.Tactics, t.tactics[i].ShortName)
		}
		slices.SortFunc(te.Tactics, func(a, b string) int { return t.tacticKey[a] - t.tacticKey[b] })
		t.techniques[ft.ID] = te
		t.ids = append(t.ids, ft.ID)
	}
	slices.Sort(t.ids)
	for _, id := range t.ids {
		if p := t.techniques[id].Parent; p != "" && t.techniques[p] == nil {
			return nil, fmt.Errorf("decoding ATT&CK table: sub-technique %s has no parent %s", id, p)
		}
	}
	return t, nil
}

// normTactic folds case and treats '_', ' ' and '-' alike, so "Credential Access",
// "credential_access" and "credential-access" are one key.
func normTactic(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.Map(func(r rune) rune {
		if r == '_' || r == ' ' {
			return '-'
		}
		return r
	}, s)
}

// validTechniqueID reports whether s is T followed by 4 digits, optionally
// followed by '.' and 3 digits.
func validTechniqueID(s string) bool {
	if len(s) != 5 && len(s) != 9 || s[0] != 'T' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if i == 5 {
			if c != '.' {
				return false
			}
			continue
		}
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Source names the ATT&CK release the embedded table was generated from.
func Source() string { return load().source }

// Notice is MITRE's copyright notice, to be reproduced with any copy of the data.
func Notice() string { return load().notice }

// Tactics returns the 14 Enterprise tactics in kill-chain order.
func Tactics() []Tactic { return slices.Clone(load().tactics) }

// LookupTactic looks a tactic up by id ("TA0006"), short name ("credential-access") or
// name ("Credential Access"), case-insensitively and with '_' or ' ' accepted
// for '-'. ok is false for anything else.
func LookupTactic(s string) (Tactic, bool) {
	t := load()
	i, ok := t.tacticKey[normTactic(s)]
	if !ok {
		return Tactic{}, false
	}
	return t.tactics[i], true
}

// LookupTechnique returns the technique or sub-technique with the given id
// ("T1003", "T1003.001"; surrounding space and a lower-case t are accepted).
// ok is false for malformed or unknown ids.
func LookupTechnique(id string) (Technique, bool) {
	id = strings.ToUpper(strings.TrimSpace(id))
	if !validTechniqueID(id) {
		return Technique{}, false
	}
	te := load().techniques[id]
	if te == nil {
		return Technique{}, false
	}
	c := *te
	c.Tactics = slices.Clone(te.Tactics)
	return c, true
}

// TechniqueIDs returns every technique and sub-technique id, sorted.
func TechniqueIDs() []string { return slices.Clone(load().ids) }

// TacticsOf returns the tactics of a technique in kill-chain order. An unknown
// sub-technique of a known parent (a newer ATT&CK release than the table) falls
// back to its parent's tactics. It returns nil for malformed or unknown ids.
func TacticsOf(techniqueID string) []Tactic {
	id := strings.ToUpper(strings.TrimSpace(techniqueID))
	if !validTechniqueID(id) {
		return nil
	}
	t := load()
	te := t.techniques[id]
	if te == nil {
		p, _, ok := strings.Cut(id, ".")
		if !ok || t.techniques[p] == nil {
			return nil
		}
		te = t.techniques[p]
	}
	out := make([]Tactic, 0, len(te.Tactics))
	for _, s := range te.Tactics {
		out = append(out, t.tactics[t.tacticKey[s]])
	}
	return out
}
