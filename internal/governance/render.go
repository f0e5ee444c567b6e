package governance

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// WriteJSON writes the report as one indented JSON document.
func WriteJSON(w io.Writer, r *BiasReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing bias report: %w", err)
	}
	return nil
}

// WriteTable writes the report for people: the totals, each dimension's groups
// with their rates and overall rate ratios, then the flagged disparities. The
// per-detector cells that are not flagged are in the JSON only.
func WriteTable(w io.Writer, r *BiasReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Users\t%d (%d unknown to the directory, %d without activity)\n", r.Users, r.UnknownUsers, r.UsersWithoutActivity)
	fmt.Fprintf(tw, "Events\t%d\n", r.Events)
	fmt.Fprintf(tw, "Signals\t%d attributed to users, %d naming no user\n", r.Signals, r.UnattributedSignals)
	fmt.Fprintf(tw, "Incidents\t%d attributed to users, %d naming no user\n", r.Incidents, r.UnattributedIncidents)
	if r.NegativeActivity > 0 {
		fmt.Fprintf(tw, "Negative activity entries (taken as 0)\t%d\n", r.NegativeActivity)
	}
	fmt.Fprintf(tw, "Test\texact conditional binomial (Poisson rates), two-sided; Benjamini-Hochberg over %d cells at q <= %s\n", r.Tests, num(r.Options.Alpha))
	fmt.Fprintf(tw, "Disparity\trate ratio >= %s or <= %s; groups under %d users not tested\n",
		num(r.Options.RatioThreshold), num(1/r.Options.RatioThreshold), r.Options.MinGroupUsers)
	for _, d := range r.Dimensions {
		fmt.Fprintf(tw, "\n%s\tUSERS\tEVENTS\tSIGNALS\tPER 10K\tRATIO\tQ\tINCIDENTS\tPER 10K\tRATIO\tQ\tFLAGS\n", upper(d.Name))
		for _, g := range d.Groups {
			flags := 0
			for _, c := range g.Cells {
				if c.Flagged {
					flags++
				}
			}
			fl := strconv.Itoa(flags)
			if !g.Tested {
				fl = "small group"
			}
			sc, ic := g.Cells[0], g.Cells[1]
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", g.Name, g.Users, g.Events,
				g.Signals, rate(g.SignalRate), ratio(sc), qval(sc.Q),
				g.Incidents, rate(g.IncidentRate), ratio(ic), qval(ic.Q), fl)
		}
	}
	if len(r.Flags) == 0 {
		fmt.Fprintln(tw, "\nNo disparity flagged.")
	} else {
		fmt.Fprintln(tw, "\nDIMENSION\tGROUP\tMEASURE\tDETECTOR\tDIRECTION\tCOUNT\tEXPECTED\tRATIO\tP\tQ")
		for _, f := range r.Flags {
			rr := "inf"
			if f.RateRatio != nil {
				rr = num(*f.RateRatio)
			}
			det := f.Detector
			if det == "" {
				det = "(all)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", f.Dimension, f.Group, f.Measure, det, f.Direction,
				f.Count, num(f.Expected), rr, pval(f.P), pval(f.Q))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing bias table: %w", err)
	}
	return nil
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		case c == '_':
			b[i] = ' '
		}
	}
	return string(b)
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func pval(v float64) string {
	if v < 0.001 {
		return strconv.FormatFloat(v, 'e', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

func rate(v *float64) string {
	if v == nil {
		return "-"
	}
	return num(*v)
}

func qval(v *float64) string {
	if v == nil {
		return "-"
	}
	return pval(*v)
}

func ratio(c Cell) string {
	switch {
	case c.RatioInfinite:
		return "inf"
	case c.RateRatio == nil:
		return "-"
	}
	return num(*c.RateRatio)
}
