package decode

import (
	"bytes"

	"github.com/valyala/fastjson"
)

// Format describes one decoder: its stable id, how to recognise its content, and
// how to make a decoder. Each decoder package exports its Formats; decode/formats
// holds the one explicit list.
type Format struct {
	ID          string // stable id: "evtx", "zeek-tsv", "winlog-json", ...
	Description string
	// Sniff scores how surely head (the first bytes of the decompressed stream, up to
	// SniffSize) is this format: 0 means no; 100 means certain (magic bytes); structural
	// matches on distinctive keys score 60-90; generic shapes score lower.
	Sniff func(head []byte) int
	New   func() Decoder
}

// SniffSize is how many bytes of a stream are given to Sniff.
const SniffSize = 64 << 10

// FirstJSON parses the first JSON object in head, skipping whitespace, a byte-order
// mark and an opening '[' of a top-level array. It returns nil when head does not
// start with a complete, valid object (a truncated head yields nil too).
func FirstJSON(head []byte) *fastjson.Value {
	b := trimSpace(head)
	if len(b) > 0 && b[0] == '[' {
		b = trimSpace(b[1:])
	}
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	end := objectEnd(b)
	if end < 0 {
		return nil
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(b[:end])
	if err != nil {
		return nil
	}
	return v
}

// objectEnd returns the index just past the object starting at b[0], or -1.
func objectEnd(b []byte) int {
	var s ObjectScanner
	n := s.Scan(b)
	if s.Depth != 0 || n == 0 {
		return -1
	}
	return n
}

// HasPrefixFold reports whether b starts with prefix, ignoring ASCII case.
func HasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}
