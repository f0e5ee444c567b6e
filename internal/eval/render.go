package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the report as one indented JSON document.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing evaluation: %w", err)
	}
	return nil
}

func seconds(p *float64) string {
	if p == nil {
		return "-"
	}
	return (time.Duration(*p) * time.Second).String()
}

// WriteTable writes the report for people.
func WriteTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Campaign recall (incident overlaps range ±%s and shares an entity)\t%s\n", time.Duration(r.SlackSeconds*float64(time.Second)), r.CampaignRecall)
	fmt.Fprintf(tw, "Evidence recall (incident cites a campaign event)\t%s\n", r.EvidenceRecall)
	fmt.Fprintf(tw, "Incident precision\t%s\n", r.IncidentPrecision)
	fmt.Fprintf(tw, "Incidents matching only benign episodes\t%d\n", r.BenignIncidents)
	fmt.Fprintf(tw, "Incidents matching nothing labelled\t%d\n", r.UnmatchedIncidents)
	red := "-"
	if r.ReductionRatio != nil {
		red = fmt.Sprintf("%.2f (%d signals, %d incidents)", *r.ReductionRatio, r.Signals, r.Incidents)
	}
	if r.IncidentsFromSignals {
		red += "; no incidents in the results: each signal counted as one incident"
	}
	fmt.Fprintf(tw, "Signals-to-incidents reduction\t%s\n", red)
	fmt.Fprintf(tw, "Median time to detect\t%s\n", seconds(r.MedianTTDSeconds))
	fmt.Fprintf(tw, "Technique coverage (evidence)\t%s\n", r.TechniqueCoverage)

	fmt.Fprintln(tw, "\nCAMPAIGN\tNAME\tDETECTED\tBY EVIDENCE\tTIME TO DETECT\tINCIDENTS\tSIGNALS")
	for _, c := range r.Campaigns {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%s\t%d\t%d\n", c.ID, c.Name, c.Detected, c.EvidenceDetected, seconds(c.TTDSeconds), c.Incidents, c.Signals)
	}
	if len(r.Detectors) > 0 {
		fmt.Fprintln(tw, "\nDETECTOR\tRULE\tSIGNALS\tBENIGN\tPRECISION\tRECALL\tCAMPAIGNS")
		for _, d := range r.Detectors {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", d.Detector, d.Rule, d.Signals, d.Benign, d.Precision, d.Recall, strings.Join(d.Campaigns, ","))
		}
	}
	if len(r.Techniques) > 0 {
		fmt.Fprintln(tw, "\nTECHNIQUE\tCOVERAGE")
		for _, t := range r.Techniques {
			fmt.Fprintf(tw, "%s\t%s\n", t.Technique, t.Coverage)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing evaluation: %w", err)
	}
	return nil
}
