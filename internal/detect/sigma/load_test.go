package sigma

import (
	"os"
	"strings"
	"testing"
)

const goodRule = `title: Whoami Execution
id: 929a690e-bef0-4204-a928-ef5e620d6fcc
name: whoami_exec
related:
    - id: 08fbc97d-0a2f-491c-ae21-8ffcfd3174e9
      type: derived
status: test
description: Detects whoami.exe
references:
    - https://example.org/a
author: Someone
date: 2019-10-23
modified: 2023-04-14
tags:
    - attack.discovery
    - attack.t1033
logsource:
    category: process_creation
    product: windows
    definition: Sysmon or 4688 with command line
detection:
    selection:
        Image|endswith: '\whoami.exe'
        EventID:
            - 1
            - 4688
    filter_main:
        User: null
    keywords:
        - 'whoami /all'
    condition: selection and not 1 of filter_* or keywords
fields:
    - CommandLine
falsepositives:
    - Admin scripts
level: high
x-custom:
    owner: soc
`

func TestParseRule(t *testing.T) {
	var c Collection
	c.Add("good.yml", []byte(goodRule))
	c.Link()
	if len(c.Rejected) > 0 {
		t.Fatal(c.Rejected[0])
	}
	r := c.Rules[0]
	if r.Title != "Whoami Execution" || r.Name != "whoami_exec" || r.Level != "high" || r.Status != "test" ||
		r.Date != "2019-10-23" || r.Modified != "2023-04-14" || len(r.Related) != 1 || r.Related[0].Type != "derived" {
		t.Errorf("meta: %+v", r.Meta)
	}
	if len(r.Tags) != 2 || r.Tags[1].String() != "attack.t1033" || r.Tags[1].Namespace != "attack" {
		t.Errorf("tags %v", r.Tags)
	}
	if r.LogSource.Category != "process_creation" || r.LogSource.Product != "windows" || r.LogSource.Definition == "" {
		t.Errorf("logsource %+v", r.LogSource)
	}
	if r.Custom["x-custom"].(map[string]any)["owner"] != "soc" {
		t.Errorf("custom %v", r.Custom)
	}
	sel := r.Detection.Search("selection")
	if len(sel.Groups) != 1 || len(sel.Groups[0]) != 2 {
		t.Fatalf("selection %+v", sel)
	}
	img, eid := sel.Groups[0][0], sel.Groups[0][1]
	if img.Field != "Image" || !img.Has(ModEndsWith) || img.Values[0].Text != `\whoami.exe` {
		t.Errorf("image %+v", img)
	}
	if eid.Values[1] != (Value{Kind: ValueNumber, Text: "4688"}) {
		t.Errorf("event id %+v", eid.Values)
	}
	if f := r.Detection.Search("filter_main").Groups[0][0]; f.Values[0].Kind != ValueNull {
		t.Errorf("null %+v", f)
	}
	if k := r.Detection.Search("keywords").Groups[0][0]; k.Field != "" || k.Values[0].Text != "whoami /all" {
		t.Errorf("keywords %+v", k)
	}
	if got := r.Detection.Conditions[0].String(); got != "(selection and (not 1 of filter_*)) or keywords" {
		t.Errorf("condition %s", got)
	}
}

func TestRejects(t *testing.T) {
	base := "title: T\nlogsource:\n    product: windows\ndetection:\n    sel:\n        A: b\n    condition: sel\n"
	cases := []struct {
		name, doc, reason, msg string
	}{
		{"no title", strings.Replace(base, "title: T\n", "", 1), ReasonSchema, "no title"},
		{"long title", strings.Replace(base, "T\n", strings.Repeat("x", 257)+"\n", 1), ReasonSchema, "256"},
		{"bad id", base + "id: 1234\n", ReasonSchema, "not a UUID"},
		{"bad status", base + "status: final\n", ReasonSchema, "status"},
		{"bad level", base + "level: severe\n", ReasonSchema, "level"},
		{"bad date", base + "date: 2020/01/02\n", ReasonSchema, "YYYY-MM-DD"},
		{"bad tag", base + "tags:\n    - Attack.T1234\n", ReasonSchema, "tag"},
		{"bad related", base + "related:\n    - id: 929a690e-bef0-4204-a928-ef5e620d6fcc\n      type: cousin\n", ReasonSchema, "related type"},
		{"no logsource", "title: T\ndetection:\n    sel:\n        A: b\n    condition: sel\n", ReasonSchema, "no logsource"},
		{"logsource case", strings.Replace(base, "product: windows", "product: Windows", 1), ReasonSchema, "lower case"},
		{"no detection", "title: T\nlogsource:\n    product: windows\n", ReasonSchema, "no detection"},
		{"no condition", strings.Replace(base, "    condition: sel\n", "", 1), ReasonSchema, "no condition"},
		{"undefined search", strings.Replace(base, "condition: sel", "condition: sel and other", 1), ReasonCondition, `"other" is not defined`},
		{"bad parens", strings.Replace(base, "condition: sel", "condition: (sel", 1), ReasonCondition, "missing )"},
		{"of nothing", strings.Replace(base, "condition: sel", "condition: 1 of filter*", 1), ReasonCondition, "matches no search"},
		{"2 of", strings.Replace(base, "condition: sel", "condition: 2 of sel*", 1), ReasonCondition, "only 1 of and all of"},
		{"aggregation", strings.Replace(base, "condition: sel", "condition: sel | count() > 5", 1), ReasonLegacy, "correlation rule"},
		{"timeframe", strings.Replace(base, "    condition", "    timeframe: 5m\n    condition", 1), ReasonLegacy, "timeframe"},
		{"unknown modifier", strings.Replace(base, "A: b", "A|sortof: b", 1), ReasonModifier, "unknown modifier"},
		{"all single", strings.Replace(base, "A: b", "A|all: b", 1), ReasonModifier, "all needs a list"},
		{"two positions", strings.Replace(base, "A: b", "A|contains|endswith: b", 1), ReasonModifier, "exclude each other"},
		{"re and contains", strings.Replace(base, "A: b", "A|re|contains: b", 1), ReasonModifier, "re cannot"},
		{"i without re", strings.Replace(base, "A: b", "A|i: b", 1), ReasonModifier, "only follows re"},
		{"gt string", strings.Replace(base, "A: b", "A|gt: b", 1), ReasonModifier, "compares numbers"},
		{"exists value", strings.Replace(base, "A: b", "A|exists: yes please", 1), ReasonModifier, "exists takes"},
		{"null in list", strings.Replace(base, "A: b", "A:\n            - ''\n            - null", 1), ReasonDetection, "null cannot be part of a list"},
		{"mixed list", strings.Replace(base, "        A: b", "        - kw\n        - A: b", 1), ReasonDetection, "mixes keywords and maps"},
		{"empty search", strings.Replace(base, "        A: b\n", "", 1), ReasonDetection, "empty"},
		{"nested value", strings.Replace(base, "A: b", "A:\n            x: y", 1), ReasonDetection, "must be a value or a list"},
		{"collection", base + "action: global\n", ReasonLegacy, "collections"},
		{"yaml", "title: [unclosed\n", ReasonYAML, "yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c Collection
			c.Add("x.yml", []byte(tc.doc))
			c.Link()
			if len(c.Rejected) != 1 {
				t.Fatalf("%d rejected, %d rules loaded", len(c.Rejected), len(c.Rules))
			}
			e := c.Rejected[0]
			if e.Reason != tc.reason || !strings.Contains(e.Error(), tc.msg) || !strings.HasPrefix(e.Error(), "x.yml") {
				t.Errorf("got %s (%s), want reason %s with %q", e, e.Reason, tc.reason, tc.msg)
			}
		})
	}
}

func TestDuplicatesAndReferences(t *testing.T) {
	rule := func(id, name string) string {
		return "title: R\nid: " + id + "\nname: " + name + "\nlogsource:\n    product: windows\ndetection:\n    sel:\n        A: b\n    condition: sel\n"
	}
	var c Collection
	c.Add("a.yml", []byte(rule("929a690e-bef0-4204-a928-ef5e620d6fcc", "one")+"---\n"+rule("929a690e-bef0-4204-a928-ef5e620d6fcc", "two")))
	c.Add("b.yml", []byte(`title: C
correlation:
    type: event_count
    rules:
        - one
        - missing_rule
    group-by:
        - User
    timespan: 5m
    condition:
        gte: 3
`))
	c.Link()
	if len(c.Rules) != 1 || len(c.Rejected) != 2 {
		t.Fatalf("%d rules, rejected %v", len(c.Rules), c.Rejected)
	}
	if c.Rejected[0].Reason != ReasonDuplicate || c.Rejected[1].Reason != ReasonReference ||
		!strings.Contains(c.Rejected[1].Error(), "missing_rule") {
		t.Errorf("rejected %v %v", c.Rejected[0], c.Rejected[1])
	}
}

func TestSpecExamples(t *testing.T) {
	dir := corpus(t, "sigma-spec/tests/schema")
	files, err := ruleFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var rules, filters, refs int
	for _, f := range files { // one by one: the examples share ids
		c, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		rules += len(c.Rules)
		filters += len(c.Filters)
		// The correlation examples refer to rules they do not define: that is
		// the only reason allowed.
		for _, e := range c.Rejected {
			if e.Reason != ReasonReference {
				t.Errorf("%v (%s)", e, e.Reason)
			}
			refs++
		}
	}
	if rules != 2 || filters != 2 || refs != 8 {
		t.Errorf("%d rules, %d filters, %d correlations with unknown references", rules, filters, refs)
	}
}

// corpus returns a path under ../shared/corpora, skipping (or failing, when
// VIGIL_REQUIRE_CORPORA=1) when it is missing.
func corpus(t testing.TB, rel string) string {
	t.Helper()
	p := "../../../../shared/corpora/" + rel
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("VIGIL_REQUIRE_CORPORA") == "1" {
			t.Fatalf("corpus %s missing: %v", rel, err)
		}
		t.Skipf("corpus %s missing: %v", rel, err)
	}
	return p
}

func TestSigmaHQCorpusLoads(t *testing.T) {
	for _, dir := range []string{"rules", "rules-emerging-threats", "rules-threat-hunting", "rules-compliance", "rules-placeholder"} {
		c, err := Load(corpus(t, "sigma/"+dir))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d files, %d rules, %d correlations, %d filters, %d rejected %v",
			dir, c.Files, len(c.Rules), len(c.Correlations), len(c.Filters), len(c.Rejected), c.RejectedByReason())
		for _, e := range c.Rejected {
			t.Errorf("%s: %v", e.Reason, e)
		}
		if c.Files < 3 || len(c.Rules) == 0 {
			t.Errorf("%s: %d files, %d rules", dir, c.Files, len(c.Rules))
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(goodRule))
	f.Add([]byte("title: C\ncorrelation:\n    type: temporal\n    rules: [a, b]\n    group-by: [U]\n    timespan: 1h\n"))
	f.Add([]byte("title: F\nlogsource: {product: windows}\nfilter:\n    rules: any\n    sel: {A: b}\n    condition: not sel\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Collection
		c.Add("fuzz.yml", data)
		c.Link()
		for _, e := range c.Rejected {
			if e.Error() == "" || e.Reason == "" {
				t.Fatal("rejection without a reason")
			}
		}
	})
}

func FuzzParseCondition(f *testing.F) {
	for _, s := range []string{"sel", "a and not (b or c)", "1 of sel* and not all of filter_*", "all of them", "((a))", "a |", "not not a", "(a", "a or", "2 of x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cond string) {
		e, err := ParseCondition(cond, []string{"a", "b", "c", "sel", "sel2", "filter_x", "_hidden"})
		if err == nil && e == nil {
			t.Fatal("no expression and no error")
		}
		if err == nil {
			if _, err := ParseCondition(e.String(), []string{"a", "b", "c", "sel", "sel2", "filter_x", "_hidden"}); err != nil {
				t.Fatalf("%q parses to %q, which does not parse: %v", cond, e, err)
			}
		}
	})
}

func FuzzParseMapping(f *testing.F) {
	f.Add(defaultMappingYAML)
	f.Add([]byte("logsources:\n  - logsource: {product: x}\n    variants: [{where: {A: [1, 2]}, fields: {B: C}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMapping(data)
		if err == nil && m == nil {
			t.Fatal("no mapping and no error")
		}
	})
}
