package app

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/eval"
	"github.com/vigilsec/vigil/internal/report"
)

const evalHelp = `
Score what vigil hunt produced against a dataset's ground-truth file (format in
docs/TRUTH.md): campaign recall (an incident overlapping a campaign's time range,
within --slack, and sharing an entity with it; and the stricter recall by evidence),
incident precision, the signals-to-incidents reduction, time to detect, per-detector
(and per Sigma rule) precision and recall, and ATT&CK technique coverage.

RESULTS is hunt's --output json or --output jsonl file, or - for stdin. Without
incidents in the results (the correlator is not there yet), each signal counts as
one incident.

Exit status: 0 when scored, 1 when a file could not be read or parsed, 2 for bad
flags or arguments.

Example:
  vigil hunt --output jsonl DIR > signals.jsonl
  vigil eval --truth DIR/truth.json signals.jsonl
`

func runEval(_ context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "eval", "RESULTS", evalHelp)
	truthPath := fs.String("truth", "", "ground-truth file (required)")
	slack := fs.Duration("slack", eval.DefaultSlack, "how far outside a campaign's time range an incident may be and still overlap it")
	output := fs.String("output", "table", "output format: table or json")
	label := fs.Float64("label", 0, "feedback experiment: label this fraction (0-1) of the incidents from the truth as an analyst would, apply the verdicts, correlate the signals again and report false-positive incidents on the rest and campaign recall, before and after (needs the results' signals)")
	labelSeed := fs.Uint64("label-seed", 1, "which incidents --label picks")
	labelStrategy := fs.String("label-strategy", "random", "which incidents --label picks: random, or clusters (one of each recurring pattern of rules, the most frequent first)")
	minRisk := fs.Float64("min-risk", 10, "with --label: the risk at which an incident is reported (as hunt's --min-risk)")
	identities := fs.String("identities", "", "with --label: the identity directory hunt used, so incidents join the same way")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *truthPath == "":
		return &ExitError{Code: ExitUsage, Err: errors.New("--truth is required")}
	case len(pos) != 1:
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("want one RESULTS file (or -), got %d arguments", len(pos))}
	case *slack < 0:
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--slack %s: must not be negative", *slack)}
	case *output != "table" && *output != "json":
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--output %q: want table or json", *output)}
	case *label < 0 || *label > 1:
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--label %v: want a fraction between 0 and 1", *label)}
	}
	tf, err := os.Open(*truthPath)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("opening ground truth: %w", err)}
	}
	truth, err := eval.ReadTruth(tf, *truthPath)
	tf.Close()
	if err != nil {
		return err
	}
	in := env.Stdin
	name := pos[0]
	if name == "-" {
		name = "stdin"
		if in == nil {
			return &ExitError{Code: ExitUsage, Err: errors.New("no stdin")}
		}
	} else {
		f, err := os.Open(name) // #nosec G703 -- the operator names the file
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("opening results: %w", err)}
		}
		defer f.Close()
		in = f
	}
	sc := eval.NewScorer(truth, *slack)
	var signals []detect.Signal
	if _, err := eval.ReadResults(in, name, eval.ResultsHandler{
		Signal: func(s *detect.Signal) error {
			sc.AddSignal(s)
			if *label > 0 {
				signals = append(signals, *s)
			}
			return nil
		},
		Incident: func(i *eval.Incident) error { sc.AddIncident(i); return nil },
	}); err != nil {
		return err
	}
	if *label > 0 {
		opts := correlate.Options{}
		if *identities != "" {
			dir, err := loadIdentities(*identities, env.Stderr)
			if err != nil {
				return err
			}
			opts.Resolve, opts.Context = entityResolver(nil, dir), businessContext(nil, dir)
		} else {
			opts.Resolve = entityResolver(nil, nil)
		}
		report.SortSignals(signals)
		if *labelStrategy != "random" && *labelStrategy != "clusters" {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--label-strategy %q: want random or clusters", *labelStrategy)}
		}
		run, err := labelExperiment(signals, truth, labelOptions{fraction: *label, seed: *labelSeed, strategy: *labelStrategy, minRisk: *minRisk, slack: *slack, corr: opts})
		if err != nil {
			return &ExitError{Code: ExitFailure, Err: err}
		}
		return writeLabelRun(env.Stdout, run, *output == "json")
	}
	rep := sc.Report()
	if *output == "json" {
		return eval.WriteJSON(env.Stdout, rep)
	}
	return eval.WriteTable(env.Stdout, rep)
}
