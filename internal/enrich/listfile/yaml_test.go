package listfile

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var (
	bare    = YAMLSpec{Noun: "assets", MaxItems: 3}
	wrapped = YAMLSpec{Key: "identities", Noun: "identities", MaxItems: 3}
)

func TestYAMLItems(t *testing.T) {
	for _, tt := range []struct {
		name, file, in string
		spec           YAMLSpec
		lines          []int // of the items
		err            string
	}{
		{name: "list", in: "- a: 1\n- x\n", spec: bare, lines: []int{1, 2}},
		{name: "flow list", in: "[{a: 1}, {b: 2}, 3]\n", spec: bare, lines: []int{1, 1, 1}},
		{name: "empty file", in: "", spec: bare},
		{name: "comment only", in: "# nothing\n", spec: bare},
		{name: "null top level", in: "~\n", spec: bare},
		{name: "empty list", in: "[]\n", spec: bare},
		{name: "bare list where a key is allowed", in: "- a\n", spec: wrapped, lines: []int{1}},
		{name: "list under the key", in: "identities:\n  - a\n  - b\n", spec: wrapped, lines: []int{2, 3}},
		{name: "null under the key", in: "identities:\n", spec: wrapped},
		{name: "mapping without a key", file: "m.yaml", in: "host: x\n", spec: bare, err: "m.yaml:1: top level is not a list of assets"},
		{name: "scalar", in: "hello\n", spec: wrapped, err: "line 1: top level is not a list of identities (or identities: holding one)"},
		{name: "key holding a mapping", in: "identities: {user: a}\n", spec: wrapped, err: "line 1: top level is not a list of identities (or identities: holding one)"},
		{name: "other key", in: "identities: []\nusers: []\n", spec: wrapped, err: `line 2: top-level key "users" is not identities`},
		{name: "key repeated", in: "identities: []\nidentities: []\n", spec: wrapped, err: "line 2: key identities repeated"},
		{name: "no key", in: "{}\n", spec: wrapped, err: "line 1: no identities key"},
		{name: "anchored top level", file: "a.yaml", in: "&x\n- a\n", spec: bare, err: "a.yaml:1: anchors and aliases are not supported"},
		{name: "anchored list under the key", in: "identities: &x\n  - a\n", spec: wrapped, err: "line 1: anchors and aliases are not supported"},
		{name: "two documents", file: "two.yaml", in: "- a\n---\n- b\n", spec: bare, err: "two.yaml:2: more than one yaml document"},
		{name: "not yaml", in: "- a: [\n", spec: bare, err: "parsing yaml: "},
		{name: "too many items", in: "[1, 2, 3, 4]\n", spec: bare, err: "more than 3 assets"},
		{name: "too large", in: strings.Repeat("#", MaxYAMLBytes+1), spec: bare, err: fmt.Sprintf("yaml larger than %d bytes", MaxYAMLBytes)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			items, err := YAMLItems(strings.NewReader(tt.in), tt.file, tt.spec)
			if tt.err != "" || err != nil {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) || tt.err == "" {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			var lines []int
			for _, it := range items {
				lines = append(lines, it.Line)
			}
			if !slices.Equal(lines, tt.lines) {
				t.Errorf("item lines %v, want %v", lines, tt.lines)
			}
		})
	}
}

func TestYAMLItemsReaderError(t *testing.T) {
	_, err := YAMLItems(&failingReader{strings.NewReader("- a\n")}, "", bare)
	if !errors.Is(err, errDisk) || !strings.HasPrefix(err.Error(), "reading yaml: ") {
		t.Fatalf("error %v, want reading yaml wrapping %v", err, errDisk)
	}
}

// record is what testFields makes of an item: scalars by key, and the list l.
type record struct {
	kv map[string]string
	l  []string
}

var testColumns = []string{"a", "b", "l"}

func testFields(n *yaml.Node) (record, int, error) {
	r := record{kv: map[string]string{}}
	line, err := Fields(n, testColumns, func(key string, v *yaml.Node) error {
		if key == "l" {
			l, err := List(key, v, 2)
			r.l = l
			return err
		}
		s, err := Scalar(key, v)
		if s == "bad" {
			return errors.New("bad value")
		}
		r.kv[key] = s
		return err
	})
	return r, line, err
}

func TestFields(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		kv       map[string]string
		l        []string
		line     int
		err      string
	}{
		{name: "scalars and a list", in: "- a: x\n  b: 2\n  l: [p, q]\n", kv: map[string]string{"a": "x", "b": "2"}, l: []string{"p", "q"}, line: 1},
		{name: "nulls", in: "- a: ~\n  b:\n  l: [null, p]\n", kv: map[string]string{"a": "", "b": ""}, l: []string{"p"}, line: 1},
		{name: "empty, not null, list item", in: "- l: [~, \"\"]\n", kv: map[string]string{}, l: []string{""}, line: 1},
		{name: "list as a string", in: "- l: p;q\n", kv: map[string]string{}, l: []string{"p", "q"}, line: 1},
		{name: "null list", in: "- l: ~\n", kv: map[string]string{}, line: 1},
		{name: "empty list string", in: "- l: ''\n", kv: map[string]string{}, line: 1},
		{name: "not a mapping", in: "- x\n", line: 1, err: "item is not a mapping"},
		{name: "anchored item", in: "- &x {a: 1}\n", line: 1, err: "anchors and aliases are not supported"},
		{name: "alias item", in: "- &x {a: 1}\n- *x\n", line: 2, err: "anchors and aliases are not supported"},
		{name: "key not a string", in: "- [a]: 1\n", line: 1, err: "key is not a string"},
		{name: "unknown key at its line", in: "- a: 1\n  c: 2\n", line: 2, err: `unknown key "c" (known: a, b, l)`},
		{name: "repeated key at its line", in: "- a: 1\n  a: 2\n", line: 2, err: `key "a" repeated`},
		{name: "anchored value at its line", in: "- b: 1\n  a: &v 2\n", line: 2, err: "anchors and aliases are not supported"},
		{name: "mapping for a scalar", in: "- a:\n    x: 1\n", line: 2, err: "a is not a single value"},
		{name: "fn error at the value's line", in: "- a: 1\n  b:\n    bad\n", line: 3, err: "bad value"},
		{name: "list too long", in: "- l: [1, 2, 3]\n", line: 1, err: "l has more than 2 items"},
		{name: "list of lists", in: "- l:\n  - [x]\n", line: 2, err: "l item at line 2 is not a single value"},
		{name: "anchored list item", in: "- l: [&y x]\n", line: 1, err: "l item at line 1 is not a single value"},
		{name: "list as a mapping", in: "- l: {x: 1}\n", line: 1, err: "l is not a list"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			items, err := YAMLItems(strings.NewReader(tt.in), "", bare)
			if err != nil {
				t.Fatal(err)
			}
			it := items[len(items)-1]
			r, line, err := testFields(it)
			if line != tt.line {
				t.Errorf("line %d, want %d", line, tt.line)
			}
			if tt.err != "" || err != nil {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if !maps(r.kv, tt.kv) || !slices.Equal(r.l, tt.l) {
				t.Errorf("got %v %q, want %v %q", r.kv, r.l, tt.kv, tt.l)
			}
		})
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func FuzzYAML(f *testing.F) {
	f.Add("- a: x\n  b: 2\n  l: [p, q]\n- a: ~\n  l: [~, p]\n- x\n", false)
	f.Add("identities:\n  - {a: 1, l: p;q}\n  - &x {b: 2}\n  - *x\n", true)
	f.Add("- a: 1\n---\n- b: 2\n", false)
	f.Add("a: &a [1, *a]\n", true)
	f.Fuzz(func(t *testing.T, in string, key bool) {
		spec := bare
		if key {
			spec = wrapped
		}
		items, err := YAMLItems(strings.NewReader(in), "f.yaml", spec)
		if err != nil {
			if items != nil {
				t.Fatal("items with an error")
			}
			return
		}
		if len(items) > spec.MaxItems {
			t.Fatalf("%d items past the cap of %d", len(items), spec.MaxItems)
		}
		for _, it := range items {
			r, line, err := testFields(it)
			if line < 1 {
				t.Fatalf("item without a line: %v", err)
			}
			if err != nil {
				continue
			}
			if len(r.l) > 2 {
				t.Fatalf("list of %d past the cap of 2", len(r.l))
			}
			for k := range r.kv {
				if !slices.Contains(testColumns, k) {
					t.Fatalf("unknown key %q accepted", k)
				}
			}
		}
	})
}
