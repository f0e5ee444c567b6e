package scan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// A baseline file lists findings a team has accepted (known, triaged, or
// waiting for a fix): a scan with --baseline leaves them out, so a CI gate
// fails only on new ones. Findings are matched by fingerprint, which does not
// depend on line numbers.
const baselineVersion = 1

// maxBaseline bounds a baseline file.
const maxBaseline = 64 << 20

// Baseline is a baseline file's content.
type Baseline struct {
	Version  int             `json:"version"`
	Created  time.Time       `json:"created,omitzero"`
	Accepted []BaselineEntry `json:"accepted"`
	index    map[string]bool
}

// BaselineEntry is one accepted finding; the rule, path and title are for
// people reading the file.
type BaselineEntry struct {
	Fingerprint string `json:"fingerprint"`
	RuleID      string `json:"rule_id,omitempty"`
	Path        string `json:"path,omitempty"`
	Title       string `json:"title,omitempty"`
	Reason      string `json:"reason,omitempty"`
	// Until, when set, ends the acceptance: the finding counts again after it.
	Until time.Time `json:"until,omitzero"`
}

// ReadBaseline reads a baseline file, strictly (unknown keys are errors).
func ReadBaseline(r io.Reader) (*Baseline, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxBaseline+1))
	if err != nil {
		return nil, fmt.Errorf("reading the baseline: %w", err)
	}
	if len(data) > maxBaseline {
		return nil, fmt.Errorf("reading the baseline: larger than %d bytes", maxBaseline)
	}
	var b Baseline
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("reading the baseline: %w", err)
	}
	if b.Version != baselineVersion {
		return nil, fmt.Errorf("reading the baseline: version %d, this build reads %d", b.Version, baselineVersion)
	}
	for i, e := range b.Accepted {
		if e.Fingerprint == "" {
			return nil, fmt.Errorf("reading the baseline: entry %d has no fingerprint", i)
		}
	}
	return &b, nil
}

// ReadBaselineFile reads a baseline file by path.
func ReadBaselineFile(path string) (*Baseline, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the baseline: %w", err)
	}
	defer f.Close()
	b, err := ReadBaseline(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// Accepts reports whether the baseline accepts f at time now.
func (b *Baseline) Accepts(f *Finding, now time.Time) bool {
	if b == nil {
		return false
	}
	if b.index == nil {
		b.index = map[string]bool{}
		for _, e := range b.Accepted {
			if e.Until.IsZero() || now.Before(e.Until) {
				b.index[e.Fingerprint] = true
			}
		}
	}
	fp := f.Fingerprint
	if fp == "" {
		fp = f.ComputeFingerprint()
	}
	return b.index[fp]
}

// Apply leaves the findings the baseline accepts out of the report and
// counts them.
func (r *Report) Apply(b *Baseline, now time.Time) {
	if b == nil {
		return
	}
	kept := r.Findings[:0]
	for i := range r.Findings {
		if b.Accepts(&r.Findings[i], now) {
			r.Baselined++
			continue
		}
		kept = append(kept, r.Findings[i])
	}
	r.Findings = kept
}

// NewBaseline accepts every finding of the report.
func NewBaseline(r *Report, created time.Time) *Baseline {
	b := &Baseline{Version: baselineVersion, Created: created.UTC(), Accepted: []BaselineEntry{}}
	seen := map[string]bool{}
	for i := range r.Findings {
		f := &r.Findings[i]
		fp := f.Fingerprint
		if fp == "" {
			fp = f.ComputeFingerprint()
		}
		if seen[fp] {
			continue
		}
		seen[fp] = true
		b.Accepted = append(b.Accepted, BaselineEntry{Fingerprint: fp, RuleID: f.RuleID, Path: f.Location.Path, Title: f.Title})
	}
	slices.SortFunc(b.Accepted, func(x, y BaselineEntry) int {
		if c := strings.Compare(x.Path, y.Path); c != 0 {
			return c
		}
		if c := strings.Compare(x.RuleID, y.RuleID); c != 0 {
			return c
		}
		return strings.Compare(x.Fingerprint, y.Fingerprint)
	})
	return b
}

// Write writes the baseline as indented JSON.
func (b *Baseline) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(b); err != nil {
		return fmt.Errorf("writing the baseline: %w", err)
	}
	return nil
}
