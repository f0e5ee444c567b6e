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
