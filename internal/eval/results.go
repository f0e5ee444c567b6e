package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
)

// MaxRecordBytes bounds one signal or incident (one JSONL line, or one element of
// the JSON document's arrays). Results are streamed: memory does not grow with the
// file beyond what the scorer keeps per signal.
const MaxRecordBytes = 16 << 20

// Incident is the shape eval reads for an incident (docs/TRUTH.md): a time range,
// the entities it is about, and the signals it groups.
type Incident struct {
	ID        string           `json:"id"`
	Start     time.Time        `json:"start"`
	End       time.Time        `json:"end"`
	Entities  []detect.Entity  `json:"entities,omitempty"`
	SignalIDs []string         `json:"signal_ids,omitempty"`
	Severity  *detect.Severity `json:"severity,omitempty"`
	Title     string           `json:"title,omitempty"`
}

// ResultsFormat is how a results file was written.
type ResultsFormat string

// Results formats: hunt's --output json document and --output jsonl.
const (
	ResultsJSON  ResultsFormat = "json"
	ResultsJSONL ResultsFormat = "jsonl"
)

// ResultsHandler receives what ReadResults finds, one record at a time. The
// pointers are only valid during the call.
type ResultsHandler struct {
	Signal   func(*detect.Signal) error
	Incident func(*Incident) error
}

var errTooLarge = errors.New("record larger than the limit")

// ReadResults streams hunt's results from r: either the JSON document
// ({"signals": [...], "incidents": [...], "summary": {...}}) or JSON lines, one
// signal per line; the form is recognised from the content. name is used in
// errors, which give the line (JSONL) or byte offset (document) of bad input.
func ReadResults(r io.Reader, name string, h ResultsHandler) (ResultsFormat, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	first, lineNo, tooLong, err := firstLine(br)
	if err != nil {
		return "", fmt.Errorf("reading results %s: %w", name, err)
	}
	if len(bytes.TrimSpace(first)) == 0 && !tooLong {
		return ResultsJSONL, nil // hunt --output jsonl writes nothing when nothing fired
	}
	if !tooLong && isSignalLine(first) {
		return ResultsJSONL, readJSONL(br, name, first, lineNo, h)
	}
	return ResultsJSON, readDocument(io.MultiReader(bytes.NewReader(first), br), name, h)
}

// firstLine returns the first non-blank line (or up to MaxRecordBytes of it, with
// tooLong set) and its 1-based number.
func firstLine(br *bufio.Reader) (line []byte, lineNo int, tooLong bool, err error) {
	for {
		lineNo++
		line, tooLong, err = readLine(br, nil)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, false, err
		}
		if tooLong || len(bytes.TrimSpace(line)) > 0 || err != nil {
			return line, lineNo, tooLong, nil
		}
	}
}

// readLine reads one line including its newline into buf; when the line exceeds
// MaxRecordBytes it returns what was read with tooLong set, leaving the rest unread.
func readLine(br *bufio.Reader, buf []byte) (line []byte, tooLong bool, err error) {
	buf = buf[:0]
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > MaxRecordBytes {
			return buf, true, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return buf, false, err
	}
}

// isSignalLine reports whether line is one complete JSON object that is not a
// results document (a compact document on one line is still a document).
func isSignalLine(line []byte) bool {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' || !json.Valid(line) {
		return false
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(line, &keys) != nil {
		return false
	}
	_, s := keys["signals"]
	_, i := keys["incidents"]
	return !s && !i
}

func readJSONL(br *bufio.Reader, name string, first []byte, lineNo int, h ResultsHandler) error {
	line := first
	var buf []byte
	for {
		if t := bytes.TrimSpace(line); len(t) > 0 {
			var s detect.Signal
			if err := json.Unmarshal(t, &s); err != nil {
				return fmt.Errorf("results %s:%d: %w", name, lineNo, err)
			}
			if err := checkSignal(&s); err != nil {
				return fmt.Errorf("results %s:%d: %w", name, lineNo, err)
			}
			if h.Signal != nil {
				if err := h.Signal(&s); err != nil {
					return fmt.Errorf("results %s:%d: %w", name, lineNo, err)
				}
			}
		}
		var tooLong bool
		var err error
		buf, tooLong, err = readLine(br, buf)
		lineNo++
		if tooLong {
			return fmt.Errorf("results %s:%d: line longer than %d bytes", name, lineNo, MaxRecordBytes)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading results %s: line %d: %w", name, lineNo, err)
		}
		if errors.Is(err, io.EOF) && len(buf) == 0 {
			return nil
		}
		line = buf
	}
}

func checkSignal(s *detect.Signal) error {
	if s.DetectorID == "" {
		return errors.New("signal without detector_id")
	}
	if s.Time.IsZero() {
		return fmt.Errorf("signal %q without time", s.ID)
	}
	return nil
}

func checkIncident(in *Incident) error {
	if in.ID == "" {
		return errors.New("incident without id")
	}
	if in.Start.IsZero() || in.End.IsZero() {
		return fmt.Errorf("incident %q: missing start or end", in.ID)
	}
	if in.End.Before(in.Start) {
		return fmt.Errorf("incident %q: end is before start", in.ID)
	}
	return nil
}

// boundedReader fails a read once more than MaxRecordBytes were read since mark,
// so that one huge value in the document cannot take unbounded memory.
type boundedReader struct {
	r          io.Reader
	n, markedN int64
}

func (b *boundedReader) mark() { b.markedN = b.n }

func (b *boundedReader) Read(p []byte) (int, error) {
	left := MaxRecordBytes + 1 - (b.n - b.markedN)
	if left <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

func readDocument(r io.Reader, name string, h ResultsHandler) error {
	br := &boundedReader{r: r}
	dec := json.NewDecoder(br)
	fail := func(what string, err error) error {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("results %s: near offset %d: %s: %w", name, dec.InputOffset(), what, err)
	}
	if err := expectDelim(dec, '{'); err != nil {
		return fail("want hunt's JSON document or JSON lines", err)
	}
	for dec.More() {
		br.mark()
		tok, err := dec.Token()
		if err != nil {
			return fail("reading a key", err)
		}
		key, _ := tok.(string)
		switch key {
		case "signals":
			if err := readArray(dec, br, func(i int) error {
				var s detect.Signal
				if err := dec.Decode(&s); err != nil {
					return fmt.Errorf("signals[%d]: %w", i, err)
				}
				if err := checkSignal(&s); err != nil {
					return fmt.Errorf("signals[%d]: %w", i, err)
				}
				if h.Signal != nil {
					return h.Signal(&s)
				}
				return nil
			}); err != nil {
				return fail("reading signals", err)
			}
		case "incidents":
			if err := readArray(dec, br, func(i int) error {
				var in Incident
				if err := dec.Decode(&in); err != nil {
					return fmt.Errorf("incidents[%d]: %w", i, err)
				}
				if err := checkIncident(&in); err != nil {
					return fmt.Errorf("incidents[%d]: %w", i, err)
				}
				if h.Incident != nil {
					return h.Incident(&in)
				}
				return nil
			}); err != nil {
				return fail("reading incidents", err)
			}
		default:
			if err := skipValue(dec, br); err != nil {
				return fail(fmt.Sprintf("value of %q", key), err)
			}
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return fail("end of the document", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fail("after the document", errors.New("unexpected data"))
	}
	return nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q, got %v", want, tok)
	}
	return nil
}

// readArray reads "[ elem, ... ]", calling each for every element (which decodes it).
// A null array is accepted as empty.
func readArray(dec *json.Decoder, br *boundedReader, each func(i int) error) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("want an array, got %v", tok)
	}
	for i := 0; dec.More(); i++ {
		br.mark()
		if err := each(i); err != nil {
			return err
		}
	}
	return expectDelim(dec, ']')
}

// skipValue reads one value token by token, keeping nothing.
func skipValue(dec *json.Decoder, br *boundedReader) error {
	depth := 0
	for {
		br.mark()
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			default:
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}
