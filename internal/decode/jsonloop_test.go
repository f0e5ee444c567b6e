package decode

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/event"
)

type loopSink struct {
	e       event.Event
	rejects []*RecordError
}

func (s *loopSink) Alloc() *event.Event     { s.e.Reset(); return &s.e }
func (s *loopSink) Emit(*event.Event)       {}
func (s *loopSink) Reject(err *RecordError) { s.rejects = append(s.rejects, err) }

func TestJSONLoop(t *testing.T) {
	in := "{\"a\":1}\n{\"a\":tru}\nnot json\n{\"a\":3}\n"
	l := JSONLoop{Format: "x", What: "thing", Shift: 100}
	s := &loopSink{}
	var got []int64
	err := l.Run(context.Background(), Input{R: strings.NewReader(in), Source: "src"}, s,
		func(rec JSONRecord, v *fastjson.Value) error {
			got = append(got, int64(v.GetInt("a")), rec.Offset, rec.Line)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{1, 100, 1, 3, 127, 4}; !equalInts(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	if len(s.rejects) != 2 || s.rejects[0].Reason != ReasonMalformed || s.rejects[0].Line != 2 ||
		s.rejects[0].Offset != 108 || !strings.Contains(s.rejects[0].Error(), "parsing thing: ") ||
		s.rejects[1].Line != 3 || s.rejects[1].Format != "x" || s.rejects[1].Source != "src" {
		t.Errorf("rejects %v", s.rejects)
	}

	stop := errors.New("stop here")
	err = l.Run(context.Background(), Input{R: strings.NewReader(in)}, s,
		func(JSONRecord, *fastjson.Value) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("fn error not returned: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Run(ctx, Input{R: strings.NewReader(in)}, s, func(JSONRecord, *fastjson.Value) error {
		t.Error("called after cancel")
		return nil
	}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run returned %v", err)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestObjectScannerChunks(t *testing.T) {
	doc := `{"a":"x\"}\\","b":[1,{"c":"]}"}],"d":"\\\\"}` + ` tail`
	end := len(doc) - len(" tail")
	// Every split into two chunks finds the same end.
	for cut := 0; cut <= len(doc); cut++ {
		var s ObjectScanner
		n := s.Scan([]byte(doc[:cut]))
		if s.Depth != 0 || n == 0 {
			n = cut + s.Scan([]byte(doc[cut:]))
		}
		if n != end || s.Depth != 0 {
			t.Fatalf("cut %d: end %d depth %d, want %d", cut, n, s.Depth, end)
		}
	}
	// Byte by byte.
	var s ObjectScanner
	for i := 0; i < len(doc); i++ {
		if s.Scan([]byte{doc[i]}) == 1 && s.Depth == 0 {
			if i+1 != end {
				t.Fatalf("byte by byte: end %d, want %d", i+1, end)
			}
			return
		}
	}
	t.Fatal("byte by byte: no end found")
}
