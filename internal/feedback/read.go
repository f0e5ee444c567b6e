package feedback

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/vigilsec/vigil/internal/store"
)

// MaxLine bounds one verdict's JSON line.
const MaxLine = 64 << 10

// LineError is one rejected line of a verdicts file.
type LineError struct {
	File   string
	Line   int
	Reason string
}

func (e LineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason) }

// Read reads verdicts as JSON lines (store.Feedback documents, as `vigil
// feedback` and the API write them). Blank lines and lines starting with # are
// skipped; a line that is not a valid verdict is rejected with its place and
// reason and the others still load. The error is for the reader itself failing.
func Read(r io.Reader, name string) ([]store.Feedback, []LineError, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	var out []store.Feedback
	var rejected []LineError
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var fb store.Feedback
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&fb); err != nil {
			rejected = append(rejected, LineError{File: name, Line: n, Reason: "not a verdict: " + err.Error()})
			continue
		}
		if dec.More() {
			rejected = append(rejected, LineError{File: name, Line: n, Reason: "more than one JSON value on the line"})
			continue
		}
		if err := fb.Validate(); err != nil {
			rejected = append(rejected, LineError{File: name, Line: n, Reason: err.Error()})
			continue
		}
		out = append(out, fb)
	}
	if err := sc.Err(); err != nil {
		return out, rejected, fmt.Errorf("reading %s: %w", name, err)
	}
	return out, rejected, nil
}
