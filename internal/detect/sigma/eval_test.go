package sigma

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/vigilsec/vigil/internal/event"
)

// testMapping routes logsource product "test" to every event.
var testMapping = &Mapping{LogSources: []LogSourceMap{{
	LogSource: LogSource{Product: "test"},
	Variants:  []Variant{{Fields: map[string]string{"Renamed": "Original"}}},
}}}

// compileOne compiles one rule (its detection section given) for product test.
func compileOne(t *testing.T, detection string, opts Options) (*Ruleset, *Collection) {
	t.Helper()
	doc := "title: T\nid: 929a690e-bef0-4204-a928-ef5e620d6fcc\nlogsource:\n    product: test\ndetection:\n" + detection
	var c Collection
	c.Add("t.yml", []byte(doc))
	c.Link()
	if len(c.Rejected) > 0 {
		t.Fatalf("%v", c.Rejected[0])
	}
	if opts.Mapping == nil {
		opts.Mapping = testMapping
	}
	rs, err := Compile(&c, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rs, &c
}

// ev builds an event from name=value pairs (raw fields; a name may repeat).
func ev(pairs ...string) *event.Event {
	e := &event.Event{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if event.Lookup(pairs[i]).IsECS() {
			event.Set(e, pairs[i], pairs[i+1])
			continue
		}
		e.AddRaw(event.MakeKey(pairs[i]), pairs[i+1])
	}
	return e
}

func matches(rs *Ruleset, e *event.Event) bool {
	hit := false
	rs.NewMatcher().Match(e, func(*Hit) { hit = true })
	return hit
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func utf16leBytes(s string) string {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return string(b)
}

func TestModifiers(t *testing.T) {
	psEnc := b64(utf16leBytes("$x = 1; IEX (New-Object Net.WebClient)"))
	cases := []struct {
		name, sel string
		ev        *event.Event
		want      bool
	}{
		{"equal ignores case", "A: 'Foo'", ev("A", "fOO"), true},
		{"equal is whole value", "A: 'Foo'", ev("A", "Foobar"), false},
		{"number", "A: 4688", ev("A", "4688"), true},
		{"cased", "A|cased: 'Foo'", ev("A", "foo"), false},
		{"cased match", "A|cased: 'Foo'", ev("A", "Foo"), true},
		{"wildcards", "A: 'f*o?r'", ev("A", "FOOBAR"), false},
		{"wildcards match", "A: 'f*b?r'", ev("A", "FOOBAR"), true},
		{"question mark is one rune", "A: 'caf?'", ev("A", "café"), true},
		{"escaped star", `A: 'a\*b'`, ev("A", "a*b"), true},
		{"escaped star is literal", `A: 'a\*b'`, ev("A", "axxb"), false},
		{"backslash then wildcard", `A: 'C:\Windows\\*'`, ev("A", `c:\windows\system32`), true},
		{"backslash star is a literal star", `A: 'C:\Windows\*'`, ev("A", `c:\windows\system32`), false},
		{"single backslash kept", `A: 'C:\Windows\System32'`, ev("A", `c:\windows\system32`), true},
		{"three backslashes", `A: 'a\\\*'`, ev("A", `a\*`), true},
		{"double backslash is one", `A: 'C:\\Windows'`, ev("A", `C:\Windows`), true},
		{"contains", "A|contains: 'mimi'", ev("A", "x MIMIKATZ y"), true},
		{"startswith", "A|startswith: 'mimi'", ev("A", "x mimikatz"), false},
		{"endswith", `A|endswith: '\cmd.exe'`, ev("A", `C:\Windows\System32\CMD.EXE`), true},
		{"list is or", "A:\n            - x\n            - y", ev("A", "y"), true},
		{"all is and", "A|contains|all:\n            - x\n            - y", ev("A", "..x.."), false},
		{"all matches", "A|contains|all:\n            - x\n            - y", ev("A", "..x..y"), true},
		{"all across values", "A|contains|all:\n            - x\n            - y", ev("A", "x", "A", "y"), true},
		{"repeated field any value", "A: y", ev("A", "x", "A", "y"), true},
		{"exists", "A|exists: true", ev("A", ""), true},
		{"exists absent", "A|exists: true", ev("B", "x"), false},
		{"not exists", "A|exists: false", ev("B", "x"), true},
		{"null absent", "A: null", ev("B", "x"), true},
		{"null empty", "A: null", ev("A", ""), true},
		{"null present", "A: null", ev("A", "x"), false},
		{"empty string", "A: ''", ev("A", ""), true},
		{"neq", "A|neq: x", ev("A", "y"), true},
		{"neq same", "A|neq: x", ev("A", "X"), false},
		{"windash slash", "A|windash|contains: ' -enc '", ev("A", "powershell /enc abc"), true},
		{"windash en dash", "A|windash|contains: ' -enc '", ev("A", "powershell \u2013enc abc"), true},
		{"windash keeps hyphen in words", "A|windash|contains: 'x-y'", ev("A", "x/y"), false},
		{"re", "A|re: '^a.c$'", ev("A", "abc"), true},
		{"re cased", "A|re: '^a.c$'", ev("A", "ABC"), false},
		{"re i", "A|re|i: '^a.c$'", ev("A", "ABC"), true},
		{"re m", "A|re|m: '^b$'", ev("A", "a\nb\nc"), true},
		{"re without m", "A|re: '^b$'", ev("A", "a\nb\nc"), false},
		{"re s", "A|re|s: 'a.b'", ev("A", "a\nb"), true},
		{"re without s", "A|re: 'a.b'", ev("A", "a\nb"), false},
		{"base64", "A|base64: 'http://'", ev("A", b64("http://")), true},
		{"base64 contains", "A|base64|contains: 'http://'", ev("A", "x"+b64("http://")+"y"), true},
		{"base64offset 0", "A|base64offset|contains: 'http://'", ev("A", b64("http://evil")), true},
		{"base64offset 1", "A|base64offset|contains: 'http://'", ev("A", b64("ahttp://evil")), true},
		{"base64offset 2", "A|base64offset|contains: 'http://'", ev("A", b64("abhttp://evil")), true},
		{"base64offset absent", "A|base64offset|contains: 'http://'", ev("A", b64("https://evil")), false},
		{"utf16le base64offset", "A|utf16le|base64offset|contains: 'IEX ('", ev("A", "powershell -enc "+psEnc), true},
		{"wide base64offset", "A|wide|base64offset|contains: 'New-Object'", ev("A", psEnc), true},
		{"base64 is cased", "A|base64: 'abc'", ev("A", strings.ToLower(b64("abc"))), false},
		{"lt", "A|lt: 10", ev("A", "9"), true},
		{"lt equal", "A|lt: 10", ev("A", "10"), false},
		{"lte", "A|lte: 10", ev("A", "10"), true},
		{"gt", "A|gt: 10", ev("A", "10.5"), true},
		{"gte", "A|gte: 10", ev("A", "9"), false},
		{"gt not a number", "A|gt: 10", ev("A", "many"), false},
		{"cidr v4", "A|cidr: 10.0.0.0/8", ev("A", "10.1.2.3"), true},
		{"cidr v4 out", "A|cidr: 10.0.0.0/8", ev("A", "11.1.2.3"), false},
		{"cidr v6", "A|cidr: 'fe80::/10'", ev("A", "fe80::1"), true},
		{"cidr mapped v4", "A|cidr: 192.168.0.0/16", ev("A", "::ffff:192.168.1.1"), true},
		{"hour", "T|hour: 3", ev("T", "2024-01-01T03:15:00Z"), true},
		{"hour gte", "T|hour|gte: 22", ev("T", "2024-01-01 23:15:00.123"), true},
		{"minute", "T|minute: 15", ev("T", "2024-01-01T03:15:00Z"), true},
		{"day", "T|day: 1", ev("T", "2024-01-01T03:15:00Z"), true},
		{"week", "T|week: 1", ev("T", "2024-01-01T03:15:00Z"), true},
		{"month", "T|month: 2", ev("T", "2024-01-01T03:15:00Z"), false},
		{"year", "T|year: 2024", ev("T", "2024-01-01T03:15:00Z"), true},
		{"fieldref", "A|fieldref: B", ev("A", "X", "B", "x"), true},
		{"fieldref differs", "A|fieldref: B", ev("A", "x", "B", "y"), false},
		{"fieldref cased", "A|fieldref|cased: B", ev("A", "X", "B", "x"), false},
		{"fieldref neq", "A|fieldref|neq: B", ev("A", "x", "B", "y"), true},
		{"fieldref endswith", "A|fieldref|endswith: B", ev("A", `c:\x\evil.exe`, "B", "EVIL.exe"), true},
		{"field rename", "Renamed: x", ev("Original", "x"), true},
		{"spaced producer name", "ThreatName: x", ev("Threat Name", "x"), true},
		{"ecs field", "process.executable|endswith: 'cmd.exe'", ev("process.executable", `C:\cmd.exe`), true},
		{"and across fields", "A: x\n        B: y", ev("A", "x", "B", "z"), false},
		{"unicode lower", "A: 'ÉCOLE'", ev("A", "école"), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs, _ := compileOne(t, "    sel:\n        "+tc.sel+"\n    condition: sel\n", Options{})
			if got := matches(rs, tc.ev); got != tc.want {
				t.Errorf("%s on %v: got %v, want %v", tc.sel, tc.ev.Raw, got, tc.want)
			}
		})
	}
}

func TestKeywordsAndConditions(t *testing.T) {
	cases := []struct {
		name, det string
		ev        *event.Event
		want      bool
	}{
		{"keyword contains", "    kw:\n        - 'evil'\n    condition: kw\n", ev("A", "some EVIL thing"), true},
		{"keyword any field", "    kw:\n        - 'evil'\n    condition: kw\n", ev("A", "x", "B", "evil"), true},
		{"keyword message", "    kw:\n        - 'evil'\n    condition: kw\n", ev("message", "an evil line"), true},
		{"keyword none", "    kw:\n        - 'evil'\n    condition: kw\n", ev("A", "good"), false},
		{"keywords all", "    kw:\n        '|all':\n            - 'a1'\n            - 'b2'\n    condition: kw\n", ev("A", "a1", "B", "b2"), true},
		{"keywords all missing", "    kw:\n        '|all':\n            - 'a1'\n            - 'b2'\n    condition: kw\n", ev("A", "a1"), false},
		{"not", "    s:\n        A: x\n    f:\n        B: y\n    condition: s and not f\n", ev("A", "x", "B", "y"), false},
		{"not holds", "    s:\n        A: x\n    f:\n        B: y\n    condition: s and not f\n", ev("A", "x", "B", "z"), true},
		{"1 of", "    s1:\n        A: x\n    s2:\n        A: y\n    condition: 1 of s*\n", ev("A", "y"), true},
		{"all of", "    s1:\n        A: x\n    s2:\n        B: y\n    condition: all of s*\n", ev("A", "x"), false},
		{"all of holds", "    s1:\n        A: x\n    s2:\n        B: y\n    condition: all of s*\n", ev("A", "x", "B", "y"), true},
		{"them skips _", "    s1:\n        A: x\n    _f:\n        B: y\n    condition: all of them\n", ev("A", "x"), true},
		{"parens", "    a:\n        A: 1\n    b:\n        B: 1\n    c:\n        C: 1\n    condition: a and (b or c)\n", ev("A", "1", "C", "1"), true},
		{"precedence", "    a:\n        A: 1\n    b:\n        B: 1\n    c:\n        C: 1\n    condition: a or b and c\n", ev("A", "1"), true},
		{"condition list", "    a:\n        A: 1\n    b:\n        B: 1\n    condition:\n        - a\n        - b\n", ev("B", "1"), true},
		{"list of maps", "    s:\n        - A: 1\n        - B: 1\n    condition: s\n", ev("B", "1"), true},
		{"list of maps and", "    s:\n        - A: 1\n          C: 1\n        - B: 1\n    condition: s\n", ev("A", "1"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs, _ := compileOne(t, tc.det, Options{})
			if got := matches(rs, tc.ev); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPlaceholders(t *testing.T) {
	det := "    sel:\n        A|expand: '%admins%'\n        B|expand: 'x\\%y'\n    condition: sel\n"
	rs, _ := compileOne(t, det, Options{Placeholders: map[string][]string{"admins": {"alice", "bob*"}}})
	if !matches(rs, ev("A", "bobby", "B", "x%y")) || matches(rs, ev("A", "carol", "B", "x%y")) {
		t.Error("expand")
	}
	rs, _ = compileOne(t, det, Options{})
	if rs.Loaded != 0 || len(rs.Rejected) != 1 || rs.Rejected[0].Reason != ReasonPlaceholder ||
		!strings.Contains(rs.Rejected[0].Error(), "%admins%") {
		t.Errorf("missing placeholder: loaded %d, rejected %v", rs.Loaded, rs.Rejected)
	}
}

func TestFilterAndExplanation(t *testing.T) {
	rule := "title: T\nid: 929a690e-bef0-4204-a928-ef5e620d6fcc\nlogsource:\n    product: test\n    service: s\n" +
		"detection:\n    sel:\n        Image|endswith: '\\cmd.exe'\n        User|exists: true\n    condition: sel\n"
	filter := "title: F\nlogsource:\n    product: test\nfilter:\n    rules:\n        - 929a690e-bef0-4204-a928-ef5e620d6fcc\n" +
		"    admins:\n        User|startswith: 'adm_'\n    condition: not admins\n"
	var c Collection
	c.Add("r.yml", []byte(rule))
	c.Add("mf_f.yml", []byte(filter))
	c.Link()
	m := &Mapping{LogSources: []LogSourceMap{{LogSource: LogSource{Product: "test", Service: "s"}, Variants: []Variant{{}}}}}
	rs, err := Compile(&c, Options{Mapping: m})
	if err != nil || rs.Loaded != 1 {
		t.Fatalf("%v %v", err, rs.Rejected)
	}
	if matches(rs, ev("Image", `C:\cmd.exe`, "User", "adm_bob")) {
		t.Error("the filter did not remove an admin's match")
	}
	var hit *Hit
	rs.NewMatcher().Match(ev("Image", `C:\CMD.exe`, "User", "bob"), func(h *Hit) {
		cp := *h
		hit = &cp
	})
	if hit == nil {
		t.Fatal("no match")
	}
	if len(hit.Searches) != 1 || hit.Searches[0].Name != "sel" ||
		hit.Searches[0].Fields[0] != (FieldHit{Field: "Image", Value: `C:\CMD.exe`}) {
		t.Errorf("explanation %+v", hit.Searches)
	}
}

func TestRouting(t *testing.T) {
	var c Collection
	c.Add("r.yml", []byte("title: T\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    sel:\n        Image|endswith: '\\whoami.exe'\n    condition: sel\n"))
	c.Link()
	rs, err := Compile(&c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sysmon := ev("Channel", "Microsoft-Windows-Sysmon/Operational", "EventID", "1", "Image", `C:\whoami.exe`)
	security := ev("Channel", "Security", "EventID", "4688", "NewProcessName", `C:\whoami.exe`)
	other := ev("Channel", "Microsoft-Windows-Sysmon/Operational", "EventID", "3", "Image", `C:\whoami.exe`)
	if !matches(rs, sysmon) || !matches(rs, security) || matches(rs, other) {
		t.Errorf("sysmon %v, 4688 %v, sysmon 3 %v", matches(rs, sysmon), matches(rs, security), matches(rs, other))
	}
	if _, err := ParseMapping([]byte("logsources:\n  - logsource: {product: x}\n    variants: []\n")); err == nil {
		t.Error("a mapping entry without variants was accepted")
	}
}
