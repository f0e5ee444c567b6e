package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/internal/sim"
)

func runSimulate(_ context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "simulate", "", `Generate a synthetic enterprise's logs (Windows Security and Sysmon as evtx_dump JSON,
Linux auth syslog, Zeek conn and dns) with injected attack campaigns, plus DIR/truth.json.
The same seed and flags give byte-identical output.`)
	seed := fs.Uint64("seed", 1, "random seed")
	users := fs.Int("users", 200, "number of users (5..100000)")
	days := fs.Int("days", 14, "number of days (1..366)")
	start := fs.String("start", sim.DefaultStart.Format("2006-01-02"), "first simulated day (UTC, YYYY-MM-DD)")
	out := fs.String("out", "", "output directory (required)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("unexpected arguments %q", pos)}
	}
	if *out == "" {
		return &ExitError{Code: ExitUsage, Err: errors.New("--out is required")}
	}
	if *users < 5 || *users > 100000 {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--users must be between 5 and 100000, got %d", *users)}
	}
	if *days < 1 || *days > 366 {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--days must be between 1 and 366, got %d", *days)}
	}
	st, err := time.Parse("2006-01-02", *start)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("parsing --start: %w", err)}
	}
	stats, err := sim.Run(sim.Config{Seed: *seed, Users: *users, Days: *days, Start: st, Out: *out})
	if err != nil {
		return fmt.Errorf("simulating: %w", err)
	}
	_, err = fmt.Fprintf(env.Stderr, "simulated %d events into %s\n", stats.Events, *out)
	return err
}
