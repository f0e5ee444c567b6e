package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/sim"
)

const simulateHelp = `
Generate a synthetic enterprise's logs with labelled attack campaigns, in the formats
Vigil reads: Windows Security and Sysmon (evtx_dump JSON), Linux auth syslog, Zeek
conn/dns/http/ssl, Kubernetes audit, AWS CloudTrail, Okta System Log and Entra ID
sign-ins; plus DIR/truth.json, the ground truth vigil eval scores against (format:
docs/TRUTH.md). The same seed, flags and organisation file give byte-identical output.

The organisation file (--config, YAML) sets what flags do not: offices (time zone,
country), departments, host counts, which campaigns run, the attack-free warm-up.
Flags given on the command line win over it. Campaign kinds: %s.

Examples:
  vigil simulate --seed 1 --users 200 --days 14 --out sim
  vigil simulate --config org.yaml --campaigns spray,ransomware --out sim
`

func runSimulate(_ context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "simulate", "", fmt.Sprintf(simulateHelp, strings.Join(sim.CampaignKinds(), ", ")))
	seed := fs.Uint64("seed", 1, "random seed")
	users := fs.Int("users", 200, "number of users (5..100000)")
	days := fs.Int("days", 14, "number of days (1..366)")
	start := fs.String("start", sim.DefaultStart.Format("2006-01-02"), "first simulated day (UTC, YYYY-MM-DD)")
	out := fs.String("out", "", "output directory (required)")
	config := fs.String("config", "", "organisation file (YAML; see above)")
	servers := fs.Int("servers", 0, "Windows member servers (default: users/40, at least 3)")
	linux := fs.Int("linux", 0, "Linux servers (default: users/50, at least 2)")
	dcs := fs.Int("dcs", 0, "domain controllers (default 2)")
	campaigns := fs.String("campaigns", "", "comma-separated campaign kinds to inject (default: all; none: benign activity only)")
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
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var of sim.OrgFile
	if *config != "" {
		f, err := os.Open(*config) // #nosec G304 -- the user names the file
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--config: %w", err)}
		}
		of, err = sim.ParseOrgFile(f)
		f.Close()
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--config %s: %w", *config, err)}
		}
	}
	// The file fills what no flag set.
	if !set["seed"] && of.Seed != nil {
		*seed = *of.Seed
	}
	if !set["users"] && of.Users != 0 {
		*users = of.Users
	}
	if !set["days"] && of.Days != 0 {
		*days = of.Days
	}
	if !set["start"] && of.Start != "" {
		*start = of.Start
	}
	hosts := of.Hosts
	for _, h := range []struct {
		name string
		v    int
		dst  *int
		max  int
	}{{"servers", *servers, &hosts.Servers, 240}, {"linux", *linux, &hosts.Linux, 240}, {"dcs", *dcs, &hosts.DomainControllers, 20}} {
		if !set[h.name] {
			continue
		}
		if h.v < 1 || h.v > h.max {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--%s must be between 1 and %d, got %d", h.name, h.max, h.v)}
		}
		*h.dst = h.v
	}
	kinds := of.Campaigns
	noCampaigns := set["campaigns"] && strings.TrimSpace(*campaigns) == "none"
	if set["campaigns"] && !noCampaigns {
		kinds = nil
		known := sim.CampaignKinds()
		for _, k := range strings.Split(*campaigns, ",") {
			k = strings.TrimSpace(k)
			if k == "" {
				continue
			}
			if !slices.Contains(known, k) {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--campaigns: unknown kind %q (known: %s)", k, strings.Join(known, ", "))}
			}
			kinds = append(kinds, k)
		}
		if len(kinds) == 0 {
			return &ExitError{Code: ExitUsage, Err: errors.New("--campaigns: no kind given")}
		}
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
	stats, err := sim.Run(sim.Config{Seed: *seed, Users: *users, Days: *days, Start: st, Out: *out,
		Hosts: hosts, Offices: of.Offices, Departments: of.Departments, Campaigns: kinds, NoCampaigns: noCampaigns, Warmup: of.Warmup})
	if err != nil {
		return fmt.Errorf("simulating: %w", err)
	}
	_, err = fmt.Fprintf(env.Stderr, "simulated %d events into %s (ground truth: %s)\n", stats.Events, *out, stats.TruthPath)
	return err
}
