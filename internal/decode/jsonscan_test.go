package decode

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/event"
)

// checkFlattenJSON asserts that FlattenJSON accepts doc exactly when fastjson parses
// it and then adds the same raw fields as Flatten, and that Top agrees with Get.
func checkFlattenJSON(t *testing.T, doc []byte) {
	t.Helper()
	var p fastjson.Parser
	var fa, fb Flattener
	var ea, eb event.Event
	v, perr := p.ParseBytes(doc)
	err := fb.FlattenJSON(&eb, "", doc)
	if (perr == nil) != (err == nil) {
		t.Fatalf("%q: fastjson error %v, FlattenJSON error %v", doc, perr, err)
	}
	if perr != nil {
		return
	}
	fa.Flatten(&ea, "", v)
	if a, b := rawText(&ea), rawText(&eb); a != b || ea.RawTruncated != eb.RawTruncated {
		t.Fatalf("%q:\nFlatten     %s\nFlattenJSON %s", doc, a, b)
	}
	checkFlattenRules(t, doc, v)
	o, err := v.Object()
	if err != nil {
		if len(fb.top) != 0 {
			t.Fatalf("%q: top members of a non-object", doc)
		}
		return
	}
	// Values read before any other access, as decoders read them: fresh parses.
	fresh := func(k ...string) *fastjson.Value {
		var p fastjson.Parser
		v, err := p.ParseBytes(doc)
		if err != nil {
			t.Fatal(err)
		}
		return v.Get(k...)
	}
	o.Visit(func(kb []byte, _ *fastjson.Value) {
		k := string(kb)
		m := fb.Top(k)
		if got, w := fb.TopText(m), fa.Text(fresh(k)); got != w {
			t.Fatalf("%q: TopText(%q) = %q, want %q", doc, k, got, w)
		}
		if got, w := fb.TopString(k), fresh().GetStringBytes(k); !bytes.Equal(got, w) || (got == nil) != (w == nil) {
			t.Fatalf("%q: TopString(%q) = %q, want %q", doc, k, got, w)
		}
		if tv := fb.TopValue(k); tv == nil || fa.Text(tv) != fa.Text(fresh(k)) {
			t.Fatalf("%q: TopValue(%q) differs", doc, k)
		}
	})
}

// testMapper exercises every FieldRule feature, chosen by the name's last letter.
func testMapper(name []byte) FieldRule {
	if len(name) == 0 {
		return FieldRule{}
	}
	switch name[len(name)-1] {
	case 'a':
		return FieldRule{Mark: 1}
	case 'b':
		return FieldRule{Mark: 2, Drop: true}
	case 'c':
		return FieldRule{Key: event.MakeKey("renamed"), Mark: 3}
	case 'd':
		return FieldRule{Transform: func(dst, v []byte) []byte { return append(append(dst, '<'), v...) }, Mark: 4}
	case 's':
		return FieldRule{Stop: true}
	}
	return FieldRule{}
}

// checkFlattenRules asserts that the tree walk and FlattenJSON apply a Mapper's rules
// alike: same raw fields, same marks (with array elements numbered alike), same Stop.
func checkFlattenRules(t *testing.T, doc []byte, v *fastjson.Value) {
	t.Helper()
	fa, fb := Flattener{Map: testMapper}, Flattener{Map: testMapper}
	var ea, eb event.Event
	for range 2 { // the second time through the positional cache
		ea.Reset()
		eb.Reset()
		fa.Begin()
		fb.Begin()
		fa.Flatten(&ea, "", v)
		if err := fb.FlattenJSON(&eb, "", doc); err != nil {
			t.Fatal(err)
		}
		if a, b := rawText(&ea), rawText(&eb); a != b {
			t.Fatalf("%q with rules:\nFlatten     %s\nFlattenJSON %s", doc, a, b)
		}
		if a, b := fmt.Sprint(fa.Marks), fmt.Sprint(fb.Marks); a != b || fa.Stopped() != fb.Stopped() {
			t.Fatalf("%q marks:\nFlatten     %s %v\nFlattenJSON %s %v", doc, a, fa.Stopped(), b, fb.Stopped())
		}
	}
}

func TestFlattenRules(t *testing.T) {
	var f Flattener
	f.Map = testMapper
	var e event.Event
	doc := `{"a":"1","xb":2,"c":true,"d":"v","s":null,"t":[{"a":"x","xb":"y"},{"a":"z"}],"os":1}`
	if err := f.FlattenJSON(&e, "", []byte(doc)); err != nil {
		t.Fatal(err)
	}
	if got, want := rawText(&e), `a=1;renamed=true;d=<v;t.a=x;t.a=z;os=1;`; got != want {
		t.Errorf("raw %s, want %s", got, want)
	}
	want := `[{1 1 0 1} {2 2 0 2} {3 3 0 true} {4 1 0 <v} {1 1 1 x} {2 1 1 y} {1 1 2 z}]`
	if got := fmt.Sprint(f.Marks); got != want {
		t.Errorf("marks %s, want %s", got, want)
	}
	if !f.Stopped() {
		t.Error("Stop rule of os not reported")
	}
	if m, ok := f.Mark(2); !ok || m.Value != "2" || m.Kind != KindNumber {
		t.Errorf("Mark(2) = %v %v", m, ok)
	}
	f.Begin()
	if len(f.Marks) != 0 || f.Stopped() {
		t.Error("Begin keeps marks or Stop")
	}
}

var flattenJSONSeeds = []string{
	`{}`, `[]`, `{"a":1}`, ` {"a" : [ 1 , 2 ] } `, `{"a":{"b":{"c":"d"}},"e":[{"f":null},{"f":true}],"g":false}`,
	`{"k\"ey":"v\\al\u00e9\ud83d\ude00","\u0041":"\/\b\f\n\r\t","x":"\u12","y":"\uZZZZ","z":"\ud83dx"}`,
	`{"n":-1.5e+10,"m":NaN,"i":-inf,"j":+Inf,"q":nan,"r":-,"s":1-2}`,
	`{"":1,"":{"":"x"}}`, `{"a":1,"a":2}`, `"str"`, `12`, `null`, `true`,
	`{"a":1,}`, `{"a":}`, `{"a" 1}`, `{a:1}`, `[1,]`, `[1 2]`, `{"a":tru}`, `{"a":"x`, `{"a":1} x`, `{"a":nul}`,
	`{"a":[[[[[[[[[[[[[[[[[[[["deep", {"k":"v\n"}]]]]]]]]]]]]]]]]]]]}`,
	`{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{"k":{"l":{"m":{"n":{"o":{"p":{"q":"x\\y","r":[1, 2]}}}}}}}}}}}}}}}}}`,
	"{\"a\":\"\x01\"}", "{\"a\":1\x0b}", "\ufeff{}",
	`{"@timestamp":{"x":1},"t":["a"],"u":"\\"}`,
}

func TestFlattenJSONMatchesFlatten(t *testing.T) {
	for _, s := range flattenJSONSeeds {
		checkFlattenJSON(t, []byte(s))
	}
	checkFlattenJSON(t, []byte(strings.Repeat("[", 299)+strings.Repeat("]", 299)))
	checkFlattenJSON(t, []byte(strings.Repeat("[", 300)+strings.Repeat("]", 300)))
	checkFlattenJSON(t, []byte(`{"a":`+strings.Repeat("[", 301)+strings.Repeat("]", 301)+`}`))
}

func FuzzFlattenJSON(f *testing.F) {
	for _, s := range flattenJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		checkFlattenJSON(t, doc)
	})
}

// benchFlatten compares the tree path (parse + Flatten) with FlattenJSON on a
// decoder's NDJSON fixture.
func benchFlatten(b *testing.B, path string, text bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Skip(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	var p fastjson.Parser
	var f Flattener
	var e event.Event
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range lines {
			e.Reset()
			f.Begin()
			if text {
				if err := f.FlattenJSON(&e, "", l); err != nil {
					b.Fatal(err)
				}
			} else {
				v, err := p.ParseBytes(l)
				if err != nil {
					b.Fatal(err)
				}
				f.Flatten(&e, "", v)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkFlattenTreeOkta(b *testing.B) { benchFlatten(b, "okta/testdata/okta.jsonl", false) }
func BenchmarkFlattenJSONOkta(b *testing.B) { benchFlatten(b, "okta/testdata/okta.jsonl", true) }
func BenchmarkFlattenTreeECS(b *testing.B)  { benchFlatten(b, "ecsjson/testdata/ecs.ndjson", false) }
func BenchmarkFlattenJSONECS(b *testing.B)  { benchFlatten(b, "ecsjson/testdata/ecs.ndjson", true) }

func TestFlattenJSONTopMembersBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range maxTopMembers + 10 {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	b.WriteString(`"last":"x"}`)
	var f Flattener
	var e event.Event
	if err := f.FlattenJSON(&e, "", []byte(b.String())); err != nil {
		t.Fatal(err)
	}
	if len(f.top) != maxTopMembers || f.Top("k0").Kind != KindNumber || f.Top("last").Kind != KindNone {
		t.Fatalf("%d members noted; k0 %v, last %v", len(f.top), f.Top("k0").Kind, f.Top("last").Kind)
	}
	if len(e.Raw) != event.MaxRawFields || !e.RawTruncated {
		t.Fatalf("%d raw fields, truncated %v", len(e.Raw), e.RawTruncated)
	}
}

// FuzzJSONStrings checks the vectorised string readers against the byte-by-byte
// ones: where a string ends, whether it holds escapes, and its unescaped text.
func FuzzJSONStrings(f *testing.F) {
	for _, s := range []string{`abc"`, `a\"b"`, `a\\"`, `a\\\"b"x`, `\u00e9\n\t"`, `\ud83d\ude00"`, `\x"`, `abc`, `a\`, `\\\\\\"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for i := 0; i <= len(b) && i < 4; i++ {
			ge, gesc, gok := stringEnd(b, i)
			we, wesc, wok := stringEndRef(b, i)
			if gok != wok || (gok && (ge != we || gesc != wesc)) {
				t.Fatalf("stringEnd(%q, %d) = %d %v %v, want %d %v %v", b, i, ge, gesc, gok, we, wesc, wok)
			}
		}
		if g, w := unescapeJSON([]byte("x"), b), unescapeJSONSlow([]byte("x"), b); !bytes.Equal(g, w) {
			t.Fatalf("unescapeJSON(%q) = %q, want %q", b, g, w)
		}
	})
}

// stringEndRef is stringEnd byte by byte, the reference FuzzJSONStrings checks
// stringEnd against.
func stringEndRef(b []byte, i int) (end int, esc, ok bool) {
	start := i
	for i < len(b) {
		switch b[i] {
		case '"':
			return i + 1, bytes.IndexByte(b[start:i], '\\') >= 0, true
		case '\\':
			i += 2
			continue
		}
		i++
	}
	return len(b), bytes.IndexByte(b[start:min(i, len(b))], '\\') >= 0, false
}
