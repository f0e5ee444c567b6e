package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/eval"
	"github.com/vigilsec/vigil/internal/ingest/replay"
	"github.com/vigilsec/vigil/internal/sim"
)

const demoHelp = `
See Vigil work in one command, with nothing to configure: it simulates an
organisation (users, hosts, their Windows, Linux, network, Kubernetes, cloud and
identity-provider logs) with attack campaigns, starts the service (embedded
store, the console on --listen) and streams the organisation's logs into it in
accelerated time: the quiet days first, so the behavioral models learn what is
normal, then the days of the attacks at --speed. Incidents appear in the
console within a minute. Sign in with the user and password printed at start.

  vigil demo                         # then open http://127.0.0.1:8080
  vigil demo --listen 127.0.0.1:9000 --users 100 --speed 1800
`

func runDemo(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "demo", "", demoHelp)
	listen := fs.String("listen", "127.0.0.1:8080", "address of the console")
	dataDir := fs.String("data-dir", "", "keep the demo's store here (default: a temporary directory, removed at exit)")
	users := fs.Int("users", 60, "people in the simulated organisation")
	days := fs.Int("days", 6, "days simulated")
	seed := fs.Uint64("seed", 1, "simulation seed")
	speed := fs.Float64("speed", 3600, "seconds of event time streamed per second once the attacks begin")
	password := fs.String("password", "", "the demo user's password (default: generated and printed)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *speed <= 0 {
		return &ExitError{Code: ExitUsage, Err: errors.New("--speed must be positive")}
	}
	dir := *dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "vigil-demo-")
		if err != nil {
			return fmt.Errorf("creating the demo's directory: %w", err)
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		dir = tmp
	}
	simDir := filepath.Join(dir, "simulation")
	fmt.Fprintf(env.Stderr, "vigil demo: simulating %d people over %d days...\n", *users, *days)
	if _, err := sim.Run(sim.Config{Seed: *seed, Users: *users, Days: *days, Out: simDir}); err != nil {
		return fmt.Errorf("simulating: %w", err)
	}
	recs, st, err := replay.Load(ctx, simDir, formats.Default())
	if err != nil {
		return err
	}
	if len(st.Unreadable) > 0 {
		return fmt.Errorf("reading the simulation: %v", st.Unreadable)
	}
	attacksFrom, err := firstCampaign(filepath.Join(simDir, "truth.json"))
	if err != nil {
		return err
	}
	pw := *password
	if pw == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		pw = base64.RawURLEncoding.EncodeToString(b)
	}

	o := serveOptions{dataDir: filepath.Join(dir, "service"), listen: *listen, lateness: 10 * time.Second,
		checkpoint: 10 * time.Second, maxBacklog: 1 << 30, logLevel: "warn"}
	o.sigma.builtin = true
	o.behavior.enabled = true
	o.behavior.identities = filepath.Join(simDir, "identities.csv")
	o.quiet = true
	started := make(chan *service, 1)
	o.ready = func(s *service) { started <- s }
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, env, o) }()
	var svc *service
	select {
	case svc = <-started:
	case err := <-done:
		return err
	}
	if _, err := svc.auth.AddUser(ctx, "demo", pw, auth.RoleAnalyst); err != nil && !errors.Is(err, auth.ErrExists) {
		cancel()
		return errors.Join(fmt.Errorf("creating the demo user: %w", err), <-done)
	}
	fmt.Fprintf(env.Stderr, "vigil demo: the console is on http://%s — sign in as demo / %s\n", svc.httpAddr, pw)
	fmt.Fprintf(env.Stderr, "vigil demo: streaming %d records: the quiet days at full speed, then the attacks from %s at %.0fx\n",
		len(recs), attacksFrom.Format(time.DateTime), *speed)

	// The quiet days as fast as the service takes them, the rest paced.
	split, _ := slices.BinarySearchFunc(recs, attacksFrom.Add(-time.Hour), func(r replay.Timed, t time.Time) int { return r.Time.Compare(t) })
	play := func() error {
		if err := replay.Play(ctx, recs[:split], svc.wal, replay.PlayOptions{}); err != nil {
			return err
		}
		last := time.Now()
		return replay.Play(ctx, recs[split:], svc.wal, replay.PlayOptions{Speed: *speed, Progress: func(sent int, at time.Time) {
			if time.Since(last) >= 15*time.Second {
				last = time.Now()
				fmt.Fprintf(env.Stderr, "vigil demo: event time %s, %d signals, %d incident updates so far\n", at.Format(time.DateTime), svc.proc.Stats().Signals, svc.proc.Stats().Incidents)
			}
		}})
	}
	perr := play()
	if perr == nil {
		fmt.Fprintf(env.Stderr, "vigil demo: the whole simulation is in; the service keeps running until you stop it (Ctrl-C)\n")
	} else if !errors.Is(perr, context.Canceled) {
		cancel()
		return errors.Join(perr, <-done)
	}
	return <-done
}

// firstCampaign is when the earliest attack campaign of a simulation starts.
func firstCampaign(truthPath string) (time.Time, error) {
	f, err := os.Open(truthPath) // #nosec G304 -- the simulation the demo wrote
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the simulation's truth: %w", err)
	}
	defer f.Close()
	tr, err := eval.ReadTruth(f, truthPath)
	if err != nil {
		return time.Time{}, err
	}
	first := tr.End
	for _, c := range tr.Campaigns {
		if c.Start.Before(first) {
			first = c.Start
		}
	}
	return first, nil
}
