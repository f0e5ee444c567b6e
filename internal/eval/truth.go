// Package eval scores what Vigil detected (signals, and incidents once the
// correlator emits them) against a ground-truth file that lists the attack
// campaigns and known benign episodes of a dataset. The file format is documented
// in docs/TRUTH.md; the simulator writes it, and any labelled dataset can.
package eval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/detect"
)

// TruthVersion is the ground-truth format version this package reads.
const TruthVersion = 1

// MaxTruthBytes bounds the size of a ground-truth file; it is read whole.
const MaxTruthBytes = 256 << 20

// Truth is a dataset's ground truth.
type Truth struct {
	Version   int         `json:"version"`
	Generator string      `json:"generator,omitempty"`
	Seed      json.Number `json:"seed,omitempty"` // any JSON number
	Start     time.Time   `json:"start"`
	End       time.Time   `json:"end"`
	Campaigns []Episode   `json:"campaigns"`
	Benign    []Episode   `json:"benign,omitempty"`
}

// Episode is one labelled story in the data: an attack campaign or a benign
// episode. Campaigns carry a Name and Techniques; benign episodes a Kind.
type Episode struct {
	ID         string       `json:"id"`
	Name       string       `json:"name,omitempty"`
	Kind       string       `json:"kind,omitempty"`
	Summary    string       `json:"description,omitempty"`
	Start      time.Time    `json:"start"`
	End        time.Time    `json:"end"`
	Techniques []string     `json:"techniques,omitempty"`
	Entities   []Entity     `json:"entities"`
	Events     []TruthEvent `json:"events,omitempty"`
}

// Entity is an entity of an episode. Aliases are other names the same entity goes by
// in the data (CORP\alice and alice.smith@okta for alice@corp.example, a host's
// short name or address); a signal naming any of them counts as naming the entity.
type Entity struct {
	Kind    detect.EntityKind `json:"kind"`
	Value   string            `json:"value"`
	Aliases []string          `json:"aliases,omitempty"`
}

// TruthEvent locates one labelled event: File relative to the dataset directory,
// Offset the byte offset of the record in the decompressed file (what Vigil puts
// in signal evidence), Line its 1-based line when the format is line-based.
type TruthEvent struct {
	ID        string    `json:"id,omitempty"` // the event id, when the producer knows it
	File      string    `json:"file"`
	Offset    int64     `json:"offset"`
	Line      int64     `json:"line,omitempty"`
	Time      time.Time `json:"time,omitzero"`
	Technique string    `json:"technique,omitempty"`
}

// ReadTruth reads and validates a ground-truth file. name is used in errors, which
// give the line and column of a syntax or type error.
func ReadTruth(r io.Reader, name string) (*Truth, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxTruthBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading ground truth %s: %w", name, err)
	}
	if len(data) > MaxTruthBytes {
		return nil, fmt.Errorf("ground truth %s: larger than %d bytes", name, MaxTruthBytes)
	}
	return ParseTruth(data, name)
}

// ParseTruth parses and validates a ground-truth document.
func ParseTruth(data []byte, name string) (*Truth, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var t Truth
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("ground truth %s: %s: %w", name, jsonPosition(data, err, dec.InputOffset()), err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("ground truth %s: %s: data after the document", name, position(data, dec.InputOffset()))
	}
	if err := t.validate(); err != nil {
		return nil, fmt.Errorf("ground truth %s: %w", name, err)
	}
	return &t, nil
}

func (t *Truth) validate() error {
	if t.Version != TruthVersion {
		return fmt.Errorf("version %d: this Vigil reads version %d", t.Version, TruthVersion)
	}
	if !t.Start.IsZero() && !t.End.IsZero() && t.End.Before(t.Start) {
		return errors.New("end is before start")
	}
	ids := map[string]bool{}
	check := func(what string, i int, e *Episode) error {
		where := fmt.Sprintf("%s[%d]", what, i)
		if strings.TrimSpace(e.ID) == "" {
			return fmt.Errorf("%s: missing id", where)
		}
		where += fmt.Sprintf(" (id %q)", e.ID)
		if ids[e.ID] {
			return fmt.Errorf("%s: duplicate id", where)
		}
		ids[e.ID] = true
		if e.Start.IsZero() || e.End.IsZero() {
			return fmt.Errorf("%s: missing start or end", where)
		}
		if e.End.Before(e.Start) {
			return fmt.Errorf("%s: end is before start", where)
		}
		for j, en := range e.Entities {
			if strings.TrimSpace(string(en.Kind)) == "" || strings.TrimSpace(en.Value) == "" {
				return fmt.Errorf("%s: entities[%d]: kind and value are required", where, j)
			}
			for k, a := range en.Aliases {
				if strings.TrimSpace(a) == "" {
					return fmt.Errorf("%s: entities[%d]: aliases[%d] is empty", where, j, k)
				}
			}
		}
		for j, ev := range e.Events {
			if strings.TrimSpace(ev.File) == "" {
				return fmt.Errorf("%s: events[%d]: missing file", where, j)
			}
			if ev.Offset < 0 {
				return fmt.Errorf("%s: events[%d]: negative offset %d", where, j, ev.Offset)
			}
		}
		return nil
	}
	for i := range t.Campaigns {
		if err := check("campaigns", i, &t.Campaigns[i]); err != nil {
			return err
		}
	}
	for i := range t.Benign {
		if err := check("benign", i, &t.Benign[i]); err != nil {
			return err
		}
	}
	return nil
}

// jsonPosition names where in data a decoding error happened, as "line L, column C
// (offset O)".
func jsonPosition(data []byte, err error, fallback int64) string {
	off := fallback
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	return position(data, off)
}

func position(data []byte, off int64) string {
	if off < 0 {
		off = 0
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := int64(len(before)) - int64(bytes.LastIndexByte(before, '\n'))
	return fmt.Sprintf("line %d, column %d (offset %d)", line, col, off)
}
