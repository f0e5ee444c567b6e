package scan

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Report is one scan's outcome: its findings (sorted), what the baseline
// accepted, and the files the scanners could not use.
type Report struct {
	Tool       string    `json:"tool"`
	Version    string    `json:"version"`
	Root       string    `json:"root"`
	Repository string    `json:"repository,omitempty"`
	Files      int       `json:"files"`
	Scanners   []string  `json:"scanners"`
	Findings   []Finding `json:"findings"`
	// Baselined counts the findings a baseline file accepted (left out of
	// Findings).
	Baselined int       `json:"baselined,omitempty"`
	Problems  []Problem `json:"problems,omitempty"`
}

// Sort orders findings by severity (highest first), then path, line, rule
// and key, and fills every fingerprint.
func (r *Report) Sort() {
	for i := range r.Findings {
		if r.Findings[i].Fingerprint == "" {
			r.Findings[i].Fingerprint = r.Findings[i].ComputeFingerprint()
		}
	}
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), strings.Compare(a.Location.Path, b.Location.Path),
			cmp.Compare(a.Location.StartLine, b.Location.StartLine), strings.Compare(a.RuleID, b.RuleID),
			strings.Compare(a.Key, b.Key), strings.Compare(a.Fingerprint, b.Fingerprint))
	})
	slices.SortStableFunc(r.Problems, func(a, b Problem) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), strings.Compare(a.Scanner, b.Scanner))
	})
}

// Counts returns the number of findings per severity.
func (r *Report) Counts() map[Severity]int {
	out := map[Severity]int{}
	for _, f := range r.Findings {
		out[f.Severity]++
	}
	return out
}

// AtLeast reports how many findings are at or above min.
func (r *Report) AtLeast(minSev Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity >= minSev {
			n++
		}
	}
	return n
}

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing the JSON report: %w", err)
	}
	return nil
}

// WriteTable writes the findings as an aligned table, then a summary line.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(r.Findings) > 0 {
		fmt.Fprintln(tw, "SEVERITY\tKIND\tRULE\tLOCATION\tFINDING")
	}
	for _, f := range r.Findings {
		what := f.Title
		if f.Message != "" {
			what = f.Message
		}
		if f.Vuln != nil && f.Vuln.Reachable != nil {
			// first, so the cut at the end of the line keeps it
			if *f.Vuln.Reachable {
				what = "[called] " + what
			} else {
				what = "[not called] " + what
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", strings.ToUpper(f.Severity.String()), f.Kind, f.RuleID, f.Location, oneLine(what, 140))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the table: %w", err)
	}
	c := r.Counts()
	fmt.Fprintf(w, "\n%d findings (%d critical, %d high, %d medium, %d low, %d unknown) in %d files",
		len(r.Findings), c[SeverityCritical], c[SeverityHigh], c[SeverityMedium], c[SeverityLow], c[SeverityUnknown], r.Files)
	if r.Baselined > 0 {
		fmt.Fprintf(w, "; %d accepted by the baseline", r.Baselined)
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(w, "; %d files could not be analysed (--format json lists them)", len(r.Problems))
	}
	_, err := fmt.Fprintln(w)
	return err
}

// oneLine folds s onto one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
