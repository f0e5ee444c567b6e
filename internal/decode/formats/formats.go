// Package formats is the one explicit list of Vigil's decoders, and recognises the
// format of a stream from its content.
package formats

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/vigilsec/vigil/internal/decode"
)

// Registry holds the known formats.
type Registry struct {
	formats []decode.Format
	byID    map[string]decode.Format
}

// New builds a registry over formats; ids must be unique.
func New(formats []decode.Format) (*Registry, error) {
	r := &Registry{byID: make(map[string]decode.Format, len(formats))}
	for _, f := range formats {
		if f.ID == "" || f.Sniff == nil || f.New == nil {
			return nil, fmt.Errorf("registering format %q: id, Sniff and New are required", f.ID)
		}
		if _, dup := r.byID[f.ID]; dup {
			return nil, fmt.Errorf("registering format %q: duplicate id", f.ID)
		}
		r.byID[f.ID] = f
		r.formats = append(r.formats, f)
	}
	return r, nil
}

// Default returns the registry of every built-in decoder.
func Default() *Registry {
	r, err := New(builtin())
	if err != nil {
		panic(err) // the built-in list is static; a duplicate is a programming error caught by tests
	}
	return r
}

// Formats lists the registered formats sorted by id.
func (r *Registry) Formats() []decode.Format {
	out := slices.Clone(r.formats)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Get returns the format with the given id.
func (r *Registry) Get(id string) (decode.Format, error) {
	f, ok := r.byID[id]
	if !ok {
		ids := make([]string, 0, len(r.formats))
		for _, f := range r.Formats() {
			ids = append(ids, f.ID)
		}
		return decode.Format{}, fmt.Errorf("unknown format %q (known: %s)", id, strings.Join(ids, ", "))
	}
	return f, nil
}

// Detection is the outcome of sniffing a stream.
type Detection struct {
	Format decode.Format
	Score  int
	// RunnerUp is the next best format and its score, to explain close calls.
	RunnerUp      string
	RunnerUpScore int
}

// ErrUnknownFormat is returned by Detect when no decoder recognises the content.
var ErrUnknownFormat = fmt.Errorf("unrecognized format")

// Detect picks the format whose sniffer scores head highest. Ties go to the format
// registered first, so the result is deterministic.
func (r *Registry) Detect(head []byte) (Detection, error) {
	var best Detection
	for _, f := range r.formats {
		s := safeSniff(f, head)
		switch {
		case s > best.Score:
			if best.Score > 0 {
				best.RunnerUp, best.RunnerUpScore = best.Format.ID, best.Score
			}
			best.Format, best.Score = f, s
		case s > best.RunnerUpScore:
			best.RunnerUp, best.RunnerUpScore = f.ID, s
		}
	}
	if best.Score <= 0 {
		return Detection{}, ErrUnknownFormat
	}
	return best, nil
}

// safeSniff runs a sniffer, treating a panic as "not this format": sniffers see
// hostile bytes, and one bad sniffer must not stop a run.
func safeSniff(f decode.Format, head []byte) (score int) {
	defer func() {
		if recover() != nil {
			score = 0
		}
	}()
	s := f.Sniff(head)
	return max(0, min(s, 100))
}
