package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/eval"
	"github.com/vigilsec/vigil/internal/governance"
)

const reportHelp = `
Reports on what Vigil found, for governance.

  vigil report bias --identities people.csv --activity activity.json results.json

bias: signal and incident rates per department, role, region (office) and peer
group, normalised by each group's activity (events, from hunt --activity), per
detector; a group is flagged when its rate is at least --ratio times the rest of
the organisation's (or at most 1/--ratio) and the difference is significant
(exact conditional binomial test, Benjamini-Hochberg across every group and
detector at --alpha). Groups under --min-users are reported, never flagged.
RESULTS is hunt's --output json (or jsonl) file.
`

func runReport(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(env.Stdout, strings.TrimLeft(reportHelp, "\n"))
		if len(args) == 0 {
			return &ExitError{Code: ExitUsage, Err: errors.New("no subcommand: want bias")}
		}
		return nil
	}
	if args[0] != "bias" {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("unknown subcommand %q: want bias", args[0])}
	}
	return runReportBias(ctx, env, args[1:])
}

func runReportBias(_ context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "report bias", "RESULTS", reportHelp)
	identities := fs.String("identities", "", "identity directory (CSV, YAML or LDIF): who is in which department, role, office, peer group (required)")
	activityPath := fs.String("activity", "", "per-user event counts, as hunt --activity writes them (required)")
	output := fs.String("output", "table", "table or json")
	def := governance.DefaultOptions()
	ratio := fs.Float64("ratio", def.RatioThreshold, "flag a group whose rate is at least this many times the rest's (or at most its inverse)")
	alpha := fs.Float64("alpha", def.Alpha, "false discovery rate (Benjamini-Hochberg) for the flags")
	minUsers := fs.Int("min-users", def.MinGroupUsers, "smallest group that can be flagged")
	byRule := fs.Bool("by-rule", false, "test each rule, not each detector")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *identities == "" || *activityPath == "":
		return &ExitError{Code: ExitUsage, Err: errors.New("--identities and --activity are required")}
	case len(pos) != 1:
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("want one RESULTS file, got %d arguments", len(pos))}
	case *output != "table" && *output != "json":
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--output %q: want table or json", *output)}
	}
	opts := governance.Options{RatioThreshold: *ratio, Alpha: *alpha, MinGroupUsers: *minUsers, ByRule: *byRule}
	if err := opts.Validate(); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	dir, err := loadIdentities(*identities, env.Stderr)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(*activityPath)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--activity: %w", err)}
	}
	var activity map[string]int64
	if err := json.Unmarshal(b, &activity); err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--activity %s: not a JSON object of user to events: %w", *activityPath, err)}
	}
	f, err := os.Open(pos[0]) // #nosec G703 -- the operator names the file
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("opening results: %w", err)}
	}
	defer f.Close()
	in := governance.BiasInput{Lookup: governance.DirectoryLookup(dir), Activity: activity, Options: opts}
	if _, err := eval.ReadResults(f, pos[0], eval.ResultsHandler{
		Signal: func(s *detect.Signal) error { in.Signals = append(in.Signals, *s); return nil },
		Incident: func(i *eval.Incident) error {
			in.Incidents = append(in.Incidents, correlate.Incident{ID: i.ID, FirstSeen: i.Start, LastSeen: i.End, Entities: i.Entities, SignalIDs: i.SignalIDs})
			return nil
		},
	}); err != nil {
		return err
	}
	rep := governance.Bias(in)
	if *output == "json" {
		return governance.WriteJSON(env.Stdout, &rep)
	}
	return governance.WriteTable(env.Stdout, &rep)
}
