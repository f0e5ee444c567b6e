package decode

import (
	"fmt"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/event"
)

func rawText(e *event.Event) string {
	var b strings.Builder
	for _, r := range e.Raw {
		fmt.Fprintf(&b, "%s=%s;", r.Key.Value(), r.Value)
	}
	return b.String()
}

func TestFlatten(t *testing.T) {
	var f Flattener
	var p fastjson.Parser
	docs := []string{
		`{"a":1,"b":{"c":"x","d":[true,false,null]},"e":null,"f":[{"g":"y"},{"g":"z"}]}`,
		`{"a":2,"extra":"q","b":{"c":"\u00e9","d":[]},"f":[]}`, // shifted shape: positional cache resynchronises
		`{"a":3,"b":{"c":"w"}}`,
	}
	want := []string{
		"a=1;b.c=x;b.d=true;b.d=false;f.g=y;f.g=z;",
		"a=2;extra=q;b.c=é;",
		"a=3;b.c=w;",
	}
	for i, doc := range docs {
		v, err := p.Parse(doc)
		if err != nil {
			t.Fatal(err)
		}
		var e event.Event
		f.Begin()
		f.Flatten(&e, "", v)
		if got := rawText(&e); got != want[i] {
			t.Errorf("doc %d: got %s, want %s", i, got, want[i])
		}
		if f.Clipped() {
			t.Errorf("doc %d: clipped without limits", i)
		}
	}
}

func TestFlattenLimited(t *testing.T) {
	var f Flattener
	var p fastjson.Parser
	v, err := p.Parse(`{"x":"abcdé","n":12345,"managedFields":{"m":1},"y":{"managedFields":[1],"z":"ok"},"w":"late"}`)
	if err != nil {
		t.Fatal(err)
	}
	var e event.Event
	f.Begin()
	f.FlattenLimited(&e, []byte("obj"), v, Limit{MaxLeaves: 3, MaxValue: 5, Skip: "managedFields"})
	// "abcdé" is 6 bytes: clipping at 5 would split é, so it keeps "abcd".
	if got, want := rawText(&e), "obj.x=abcd;obj.n=12345;obj.y.z=ok;"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if !f.Clipped() || f.Last() != "ok" {
		t.Errorf("clipped=%v last=%q", f.Clipped(), f.Last())
	}
	f.Begin()
	if f.Clipped() {
		t.Error("Begin does not clear Clipped")
	}
}
