package attack

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite attack.json and LICENSE-ATTACK.txt from the corpus")

// corpusTechnique is one technique as enterprise-attack-compact.json holds it.
type corpusTechnique struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Tactics      []string `json:"tactics"`
	Subtechnique bool     `json:"subtechnique"`
	Deprecated   bool     `json:"deprecated"`
	Platforms    []string `json:"platforms"`
}

type corpusTable struct {
	Source     string            `json:"source"`
	Notice     string            `json:"notice"`
	Tactics    []Tactic          `json:"tactics"`
	Techniques []corpusTechnique `json:"techniques"`
}

// generate derives the embedded table from the corpus file: tactics in kill-chain
// order, techniques sorted by id without platforms or the redundant subtechnique
// flag (the id says it), MITRE's notice kept and the license file named. Output
// is one technique per line so regenerations diff well.
func generate(src []byte) ([]byte, error) {
	var c corpusTable
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decoding ATT&CK corpus: %w", err)
	}
	if c.Notice == "" {
		return nil, fmt.Errorf("decoding ATT&CK corpus: no MITRE notice")
	}
	slices.SortFunc(c.Tactics, func(a, b Tactic) int { return a.Order - b.Order })
	slices.SortFunc(c.Techniques, func(a, b corpusTechnique) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	var b bytes.Buffer
	head := func(k string, v any) error {
		j, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", k, err)
		}
		fmt.Fprintf(&b, " %q: %s,\n", k, j)
		return nil
	}
	b.WriteString("{\n")
	for _, kv := range []struct {
		k string
		v any
	}{{"source", c.Source}, {"notice", c.Notice}, {"license", "LICENSE-ATTACK.txt"}} {
		if err := head(kv.k, kv.v); err != nil {
			return nil, err
		}
	}
	b.WriteString(" \"tactics\": [\n")
	for i, t := range c.Tactics {
		j, err := json.Marshal(t)
		if err != nil {
			return nil, fmt.Errorf("encoding tactic %s: %w", t.ID, err)
		}
		b.WriteString("  ")
		b.Write(j)
		if i < len(c.Tactics)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(" ],\n \"techniques\": [\n")
	for i, t := range c.Techniques {
		j, err := json.Marshal(fileTechn{ID: t.ID, Name: t.Name, Tactics: t.Tactics, Deprecated: t.Deprecated})
		if err != nil {
			return nil, fmt.Errorf("encoding technique %s: %w", t.ID, err)
		}
		b.WriteString("  ")
		b.Write(j)
		if i < len(c.Techniques)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(" ]\n}\n")
	if _, err := parseTable(b.Bytes()); err != nil {
		return nil, fmt.Errorf("checking generated table: %w", err)
	}
	return b.Bytes(), nil
}

// corpus returns a path under ../shared/corpora, skipping (or failing, when
// VIGIL_REQUIRE_CORPORA=1) when it is missing.
func corpus(t testing.TB, rel string) string {
	t.Helper()
	p := "../../../shared/corpora/" + rel
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("VIGIL_REQUIRE_CORPORA") == "1" {
			t.Fatalf("corpus %s missing: %v", rel, err)
		}
		t.Skipf("corpus %s missing: %v", rel, err)
	}
	return p
}

// TestEmbeddedMatchesCorpus checks that attack.json and LICENSE-ATTACK.txt are
// exactly what the generator derives from the corpus; with -update it rewrites
// them (this is what `go generate` runs).
func TestEmbeddedMatchesCorpus(t *testing.T) {
	dir := corpus(t, "attack")
	src, err := os.ReadFile(dir + "/enterprise-attack-compact.json")
	if err != nil {
		t.Fatal(err)
	}
	lic, err := os.ReadFile(dir + "/LICENSE.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := generate(src)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("attack.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("LICENSE-ATTACK.txt", lic, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(got, tableJSON) {
		t.Errorf("attack.json differs from what the generator derives from the corpus; run go generate ./internal/attack")
	}
	shipped, err := os.ReadFile("LICENSE-ATTACK.txt")
	if err != nil || !bytes.Equal(shipped, lic) {
		t.Errorf("LICENSE-ATTACK.txt differs from the corpus LICENSE.txt (%v)", err)
	}

	// Counts and content against the corpus itself.
	var c corpusTable
	if err := json.Unmarshal(src, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Tactics) != 14 || len(Tactics()) != len(c.Tactics) {
		t.Errorf("tactics: corpus %d, embedded %d, want 14", len(c.Tactics), len(Tactics()))
	}
	if len(c.Techniques) != 835 || len(TechniqueIDs()) != len(c.Techniques) {
		t.Errorf("techniques: corpus %d, embedded %d, want 835", len(c.Techniques), len(TechniqueIDs()))
	}
	for _, ct := range c.Techniques {
		te, ok := LookupTechnique(ct.ID)
		if !ok {
			t.Errorf("%s missing", ct.ID)
			continue
		}
		if te.Name != ct.Name || te.Deprecated != ct.Deprecated || (te.Parent != "") != ct.Subtechnique ||
			!sameSet(te.Tactics, ct.Tactics) {
			t.Errorf("%s: embedded %+v, corpus %+v", ct.ID, te, ct)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
