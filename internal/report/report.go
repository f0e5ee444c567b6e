// Package report renders a run's results for people and for programs: signals as
// an aligned table, one JSON document, or JSON lines; and the run summary (what was
// read, decoded, rejected and why, and how fast).
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/explain"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/triage"
)

// Format is an output format.
type Format string

// Output formats.
const (
	Table Format = "table"
	JSON  Format = "json"
	JSONL Format = "jsonl"
	// OCSFL is OCSF 1.3 findings as JSON lines: incidents as Incident Findings
	// (2005), signals as Detection Findings (2004).
	OCSFL Format = "ocsf"
)

// ParseFormat validates an output format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Table, JSON, JSONL, OCSFL:
		return f, nil
	}
	return "", fmt.Errorf("unknown output format %q (want table, json, jsonl or ocsf)", s)
}

// SortSignals orders signals by event time, then severity (highest first), then id,
// so output is the same on every run over the same data.
func SortSignals(s []detect.Signal) {
	slices.SortFunc(s, func(a, b detect.Signal) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if a.Severity != b.Severity {
			return int(b.Severity) - int(a.Severity)
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// IncidentOut is an incident as results carry it: the incident with its time range
// also as start and end (the shape vigil eval reads).
type IncidentOut struct {
	correlate.Incident
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Why is one line on what raised the incident: its strongest distinct signals.
	Why string `json:"why"`
	// NextSteps are what to look at next, from the playbooks of its techniques.
	NextSteps []triage.Step `json:"next_steps,omitempty"`
	// Explanation says why, in structure and in plain language (JSON output).
	Explanation *explain.Incident `json:"explanation,omitempty"`
	// Suggested is the triage agent's suggested verdict, never acted on.
	Suggested *triage.Suggestion `json:"suggested_verdict,omitempty"`
}

// SortIncidents ranks incidents by risk (highest first), then first seen, then id.
func SortIncidents(incs []correlate.Incident) {
	slices.SortStableFunc(incs, func(a, b correlate.Incident) int {
		if a.Risk != b.Risk {
			if a.Risk > b.Risk {
				return -1
			}
			return 1
		}
		if c := a.FirstSeen.Compare(b.FirstSeen); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// Run is what a hunt found.
type Run struct {
	Signals    []detect.Signal
	Incidents  []correlate.Incident // ranked by risk
	EntityRisk []EntityRiskOut      // the riskiest entities, riskiest first
	// NextSteps are the triage playbooks' steps per incident id.
	NextSteps map[string][]triage.Step
	// Context is what the business knows of an entity, for the explanations
	// (nil: nothing).
	Context explain.Context
	// Verdicts suggests a verdict per incident (nil: none).
	Verdicts *triage.VerdictModel
	Stats    *pipeline.Stats // nil: no summary
}

// Results writes signals and incidents in format f: JSON puts both and the summary
// in one document; the table lists the incidents ranked by risk, then the
// signals; JSON lines carry the signals only (one per line, as vigil eval and
// other tools read them).
func Results(w io.Writer, f Format, signals []detect.Signal, incidents []correlate.Incident, st *pipeline.Stats) error {
	return WriteRun(w, f, Run{Signals: signals, Incidents: incidents, Stats: st})
}

// WriteRun writes a run in format f: JSON puts signals, incidents, the
// riskiest entities and the summary in one document; the table lists the
// incidents ranked by risk, the riskiest entities, then the signals; JSON
// lines carry the signals only; OCSF the incidents and signals as findings.
func WriteRun(w io.Writer, f Format, run Run) error {
	signals, incidents, st := run.Signals, run.Incidents, run.Stats
	byID := make(map[string]*detect.Signal, len(signals))
	for i := range signals {
		byID[signals[i].ID] = &signals[i]
	}
	outs := make([]IncidentOut, len(incidents))
	for i, inc := range incidents {
		outs[i] = IncidentOut{Incident: inc, Start: inc.FirstSeen, End: inc.LastSeen, Why: why(inc, byID), NextSteps: run.NextSteps[inc.ID]}
		if f != JSON && run.Verdicts == nil {
			continue
		}
		// The incident's own signals: both read only those, and indexing all
		// of the run's signals for every incident would cost incidents x signals.
		own := make([]detect.Signal, 0, len(inc.SignalIDs))
		for _, id := range inc.SignalIDs {
			if s := byID[id]; s != nil {
				own = append(own, *s)
			}
		}
		if f == JSON {
			ex := explain.Explain(inc, own, run.Context)
			outs[i].Explanation = &ex
		}
		if run.Verdicts != nil {
			sg := run.Verdicts.Suggest(inc, own)
			outs[i].Suggested = &sg
		}
	}
	switch f {
	case OCSFL:
		return writeOCSF(w, signals, outs, byID)
	case JSON:
		doc := struct {
			Signals    []detect.Signal `json:"signals"`
			Incidents  []IncidentOut   `json:"incidents"`
			EntityRisk []EntityRiskOut `json:"entity_risk"`
			Summary    *Summary        `json:"summary,omitempty"`
		}{Signals: signals, Incidents: outs, EntityRisk: run.EntityRisk}
		if doc.EntityRisk == nil {
			doc.EntityRisk = []EntityRiskOut{}
		}
		if doc.Signals == nil {
			doc.Signals = []detect.Signal{}
		}
		if st != nil {
			doc.Summary = NewSummary(st)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return fmt.Errorf("writing results: %w", err)
		}
		return nil
	case Table:
		if err := incidentTable(w, outs); err != nil {
			return err
		}
		if err := nextStepsTable(w, outs); err != nil {
			return err
		}
		if err := entityRiskTable(w, run.EntityRisk); err != nil {
			return err
		}
	}
	return writeSignals(w, f, signals)
}

// why names an incident's strongest distinct signals (by severity, then time).
func why(inc correlate.Incident, byID map[string]*detect.Signal) string {
	var sigs []*detect.Signal
	seen := map[string]bool{}
	for _, id := range inc.SignalIDs {
		s := byID[id]
		if s == nil || seen[s.DetectorID+"/"+s.RuleID+"/"+s.Title] {
			continue
		}
		seen[s.DetectorID+"/"+s.RuleID+"/"+s.Title] = true
		sigs = append(sigs, s)
	}
	slices.SortStableFunc(sigs, func(a, b *detect.Signal) int { return int(b.Severity) - int(a.Severity) })
	var parts []string
	for i, s := range sigs {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(sigs)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", s.Title, s.Severity))
	}
	return strings.Join(parts, "; ")
}

func incidentTable(w io.Writer, incs []IncidentOut) error {
	if len(incs) == 0 {
		_, err := fmt.Fprintln(w, "No incidents.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RISK\tSEVERITY\tFIRST SEEN\tINCIDENT\tSUGGESTED\tWHY")
	for _, in := range incs {
		sug := "-"
		if in.Suggested != nil {
			sug = fmt.Sprintf("%s %.0f%%", strings.TrimSuffix(strings.ReplaceAll(in.Suggested.Verdict, "_positive", ""), "_"), 100*in.Suggested.Confidence)
		}
		fmt.Fprintf(tw, "%.0f\t%s\t%s\t%s\t%s\t%s\n", in.Risk, in.Severity, in.FirstSeen.UTC().Format(time.RFC3339),
			oneLine(in.Title, 90), sug, oneLine(in.Why, 120))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	_, err := fmt.Fprintln(w)
	return err
}

// nextStepsTable lists the first steps for the riskiest incident.
func nextStepsTable(w io.Writer, incs []IncidentOut) error {
	if len(incs) == 0 || len(incs[0].NextSteps) == 0 {
		return nil
	}
	in := incs[0]
	fmt.Fprintf(w, "Next steps for %s (%s):\n", in.ID, oneLine(in.Title, 80))
	for i, st := range in.NextSteps {
		if i == 5 {
			fmt.Fprintf(w, "  ... %d more in --output json\n", len(in.NextSteps)-5)
			break
		}
		fmt.Fprintf(w, "  %d. %s: %s\n", i+1, oneLine(st.Title, 80), oneLine(st.LookAt, 140))
	}
	_, err := fmt.Fprintln(w)
	return err
}

// writeSignals writes signals as JSON lines or, for the table, as aligned rows.
func writeSignals(w io.Writer, f Format, signals []detect.Signal) error {
	if f != JSONL {
		return signalTable(w, signals)
	}
	enc := json.NewEncoder(w)
	for i := range signals {
		if err := enc.Encode(&signals[i]); err != nil {
			return fmt.Errorf("writing signal: %w", err)
		}
	}
	return nil
}

func signalTable(w io.Writer, signals []detect.Signal) error {
	if len(signals) == 0 {
		_, err := fmt.Fprintln(w, "No signals.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSEVERITY\tDETECTOR\tTITLE\tENTITIES")
	for _, s := range signals {
		var ents []string
		for _, e := range s.Entities {
			ents = append(ents, string(e.Kind)+":"+e.Value)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Time.UTC().Format(time.RFC3339), s.Severity,
			s.DetectorID, oneLine(s.Title, 80), oneLine(strings.Join(ents, " "), 80))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	return nil
}

// Summary is the machine-readable form of a run summary.
type Summary struct {
	Sources          int64                    `json:"sources"`
	Streams          int64                    `json:"streams"`
	Events           int64                    `json:"events"`
	Rejected         int64                    `json:"rejected"`
	Signals          int64                    `json:"signals"`
	EventsByFormat   map[string]int64         `json:"events_by_format"`
	StreamsByFormat  map[string]int64         `json:"streams_by_format"`
	RejectedByReason map[string]int64         `json:"rejected_by_reason"`
	RejectExamples   map[string][]string      `json:"reject_examples,omitempty"`
	SkippedByReason  map[string]int64         `json:"skipped_by_reason"`
	Skipped          []pipeline.SkippedStream `json:"skipped,omitempty"`
	PerStream        []pipeline.StreamStat    `json:"streams_decoded,omitempty"`
	ElapsedSeconds   float64                  `json:"elapsed_seconds"`
	EventsPerSecond  float64                  `json:"events_per_second"`
}

// NewSummary builds the summary of a run.
func NewSummary(st *pipeline.Stats) *Summary {
	return &Summary{
		Sources: st.Sources, Streams: st.Streams, Events: st.Events, Rejected: st.Rejected,
		Signals: st.Signals, EventsByFormat: st.EventsByFormat, StreamsByFormat: st.StreamsByFormat,
		RejectedByReason: st.RejectedByReason, RejectExamples: st.Examples,
		SkippedByReason: st.SkippedByReason, Skipped: st.Skipped, PerStream: st.PerStream,
		ElapsedSeconds: st.Elapsed.Seconds(), EventsPerSecond: st.EventsPerSecond(),
	}
}

// WriteSummary writes the run summary for people: totals, events by format,
// rejected records by reason with examples, and skipped streams.
func WriteSummary(w io.Writer, st *pipeline.Stats) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Summary: %d events from %d streams in %d sources, %d rejected records, %d skipped streams, %d signals\n",
		st.Events, st.Streams-int64(len(st.Skipped)), st.Sources, st.Rejected, len(st.Skipped), st.Signals)
	if st.OutOfRange > 0 {
		fmt.Fprintf(tw, "%d more events decoded outside --since/--until and not analysed\n", st.OutOfRange)
	}
	fmt.Fprintf(tw, "Elapsed %s, %.0f events/s\n", st.Elapsed.Round(time.Millisecond), st.EventsPerSecond())
	if len(st.EventsByFormat) > 0 {
		fmt.Fprintln(tw, "\nFORMAT\tSTREAMS\tEVENTS")
		for _, k := range slices.Sorted(maps.Keys(st.EventsByFormat)) {
			fmt.Fprintf(tw, "%s\t%d\t%d\n", k, st.StreamsByFormat[k], st.EventsByFormat[k])
		}
	}
	if len(st.RejectedByReason) > 0 {
		fmt.Fprintln(tw, "\nREJECTED (format/reason)\tRECORDS\tFIRST EXAMPLE")
		for _, k := range slices.Sorted(maps.Keys(st.RejectedByReason)) {
			ex := ""
			if e := st.Examples[k]; len(e) > 0 {
				ex = oneLine(e[0], 140)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\n", k, st.RejectedByReason[k], ex)
		}
	}
	if len(st.SkippedByReason) > 0 {
		fmt.Fprintln(tw, "\nSKIPPED STREAMS (reason)\tCOUNT")
		for _, k := range slices.Sorted(maps.Keys(st.SkippedByReason)) {
			fmt.Fprintf(tw, "%s\t%d\n", k, st.SkippedByReason[k])
		}
		const maxListed = 20
		for i, s := range st.Skipped {
			if i == maxListed {
				fmt.Fprintf(tw, "  ... and %d more (see --output json)\n", len(st.Skipped)-maxListed)
				break
			}
			fmt.Fprintf(tw, "  %s: %s\n", s.Reason, s.Name)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing summary: %w", err)
	}
	return nil
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		return s[:max-3] + "..."
	}
	return s
}
