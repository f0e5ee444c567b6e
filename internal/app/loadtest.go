package app

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/internal/loadgen"
)

const loadtestHelp = `
Offer a load to a running vigil serve's HTTP ingest from this process and
report what the server made of it, from its /metrics: records accepted and
processed per second, the event-to-signal latency (p50, p99), resident memory
and the write-ahead log backlog. The records are Windows Sysmon/Security
events (evtx_dump JSON) and Linux sshd syslog lines with event times of now; a
fraction (--match) deletes shadow copies, which a rule of the built-in Sigma
pack signals, so latency is observed. Exits 1 when --min-rate or --max-p99 is
missed, so it can gate.

  vigil loadtest --target http://127.0.0.1:8088 --token T \
      --metrics http://127.0.0.1:8080/metrics --metrics-token M --rate 120000 --duration 60s

With --spawn it starts vigil serve itself in a child process (a temporary
data directory, loopback ports, an ingest and a viewer token made with vigil
users/tokens), offers the load, stops it with SIGTERM and reports:

  vigil loadtest --spawn --rate 100000 --duration 60s
`

// loadtestOptions are loadtest's flags.
type loadtestOptions struct {
	load         loadgen.Options
	metrics      string
	metricsToken string
	drain        time.Duration
	minRate      float64
	maxP99       time.Duration
	output       string
	spawn        bool
	serveArgs    []string
	keep         bool

	// command builds a vigil child process; nil: this executable. Tests run
	// the test binary (TestMain) instead.
	command func(ctx context.Context, args ...string) *exec.Cmd
}

func runLoadtest(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "loadtest", "", loadtestHelp)
	o := loadtestOptions{load: loadgen.DefaultOptions()}
	fs.StringVar(&o.load.Target, "target", "", "base URL of the ingest listener (http://127.0.0.1:8088); not with --spawn")
	fs.StringVar(&o.load.Token, "token", "", "ingest token (vigil tokens create --scope ingest); not with --spawn")
	fs.StringVar(&o.metrics, "metrics", "", "the server's /metrics URL (http://127.0.0.1:8080/metrics); not with --spawn")
	fs.StringVar(&o.metricsToken, "metrics-token", "", "api token with the viewer role for /metrics; not with --spawn")
	fs.IntVar(&o.load.Rate, "rate", 100000, "records per second offered")
	fs.DurationVar(&o.load.Duration, "duration", 60*time.Second, "how long the load is offered")
	fs.IntVar(&o.load.Clients, "clients", 4, "concurrent HTTP clients (keep-alive connections)")
	fs.IntVar(&o.load.Batch, "batch", 1000, "records per request")
	fs.BoolVar(&o.load.Gzip, "gzip", false, "gzip request bodies")
	fs.Float64Var(&o.load.Match, "match", o.load.Match, "fraction of records matching a built-in Sigma rule (0..1)")
	fs.Float64Var(&o.load.SyslogFraction, "syslog", o.load.SyslogFraction, "fraction of batches of Linux sshd syslog instead of Windows events (0..1)")
	fs.DurationVar(&o.drain, "drain", 60*time.Second, "after the load, how long to wait for the server to process what it accepted")
	fs.Float64Var(&o.minRate, "min-rate", 100000, "target: records/s accepted and processed while the load ran")
	fs.DurationVar(&o.maxP99, "max-p99", 200*time.Millisecond, "target: p99 event-to-signal latency")
	fs.StringVar(&o.output, "output", "table", "report format: table or json")
	fs.BoolVar(&o.spawn, "spawn", false, "start vigil serve in a child process with a temporary data directory and test it")
	fs.Func("serve-arg", "with --spawn: an argument added to vigil serve's (repeatable: --serve-arg=--behavior=false)", func(v string) error {
		o.serveArgs = append(o.serveArgs, v)
		return nil
	})
	fs.BoolVar(&o.keep, "keep", false, "with --spawn: keep the temporary data directory (its path is printed)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	return loadtest(ctx, env, o)
}

func loadtest(ctx context.Context, env Env, o loadtestOptions) error {
	if o.output != "table" && o.output != "json" {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--output %q: want table or json", o.output)}
	}
	if o.spawn {
		if o.load.Target != "" || o.load.Token != "" || o.metrics != "" || o.metricsToken != "" {
			return &ExitError{Code: ExitUsage, Err: errors.New("--spawn makes its own server: --target, --token, --metrics and --metrics-token go without it")}
		}
		srv, err := spawnServe(ctx, env, o)
		if err != nil {
			return err
		}
		defer srv.stop(env.Stderr)
		o.load.Target, o.load.Token = "http://"+srv.ingestAddr, srv.ingestToken
		o.metrics, o.metricsToken = "http://"+srv.httpAddr+"/metrics", srv.metricsToken
	} else if len(o.serveArgs) > 0 || o.keep {
		return &ExitError{Code: ExitUsage, Err: errors.New("--serve-arg and --keep go with --spawn")}
	}
	if o.metrics == "" {
		return &ExitError{Code: ExitUsage, Err: errors.New("--metrics is required (or --spawn)")}
	}
	if err := o.load.Validate(); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	o.load.Logger, _ = newLogger(env.Stderr, "info")
	loadAvg := loadAverage()
	rep, err := loadgen.Measure(ctx, loadgen.MeasureOptions{Load: o.load, Metrics: &loadgen.Scraper{URL: o.metrics, Token: o.metricsToken}, Drain: o.drain})
	if err != nil {
		return fmt.Errorf("running the load: %w", err)
	}
	rep.LoadAverage = loadAvg
	if o.output == "json" {
		err = rep.WriteJSON(env.Stdout)
	} else {
		err = rep.WriteTable(env.Stdout)
	}
	if err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	if miss := rep.Check(loadgen.Targets{MinRate: o.minRate, MaxP99: o.maxP99}); len(miss) > 0 {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("targets missed: %s", strings.Join(miss, "; "))}
	}
	return nil
}

// loadAverage is /proc/loadavg's first three figures ("" elsewhere).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// spawned is a vigil serve child process.
type spawned struct {
	cmd                       *exec.Cmd
	dir                       string
	keep                      bool
	httpAddr, ingestAddr      string
	ingestToken, metricsToken string
	done                      chan error
	logs                      *tailBuffer
}

// serveBanner is the line serve prints once it listens.
var serveBanner = regexp.MustCompile(`serving the console and API on https?://(\S+?), ingest on (\S+)`)

func spawnServe(ctx context.Context, env Env, o loadtestOptions) (_ *spawned, err error) {
	command := o.command
	if command == nil {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding this executable: %w", err)
		}
		command = func(ctx context.Context, args ...string) *exec.Cmd { return exec.CommandContext(ctx, exe, args...) } //nolint:gosec // this executable, our own arguments
	}
	dir, err := os.MkdirTemp("", "vigil-loadtest-")
	if err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	s := &spawned{dir: dir, keep: o.keep, logs: &tailBuffer{max: 8 << 10}}
	defer func() {
		if err != nil && !o.keep {
			_ = os.RemoveAll(dir)
		}
	}()
	if o.keep {
		fmt.Fprintf(env.Stderr, "vigil loadtest: data directory %s\n", dir)
	}
	run := func(stdin string, args ...string) (string, error) {
		c := command(ctx, args...)
		c.Stdin = strings.NewReader(stdin)
		var out, errb strings.Builder
		c.Stdout, c.Stderr = &out, &errb
		if err := c.Run(); err != nil {
			return "", fmt.Errorf("running vigil %s: %w: %s", strings.Join(args[:2], " "), err, strings.TrimSpace(errb.String()))
		}
		return strings.TrimSpace(out.String()), nil
	}
	pw := make([]byte, 18)
	_, _ = rand.Read(pw)
	if _, err := run(hex.EncodeToString(pw)+"\n", "users", "add", "--data-dir", dir, "--name", "admin", "--role", "admin", "--password-stdin"); err != nil {
		return nil, err
	}
	if s.ingestToken, err = run("", "tokens", "create", "--data-dir", dir, "--name", "loadtest", "--scope", "ingest"); err != nil {
		return nil, err
	}
	if s.metricsToken, err = run("", "tokens", "create", "--data-dir", dir, "--name", "loadtest-metrics", "--scope", "api", "--role", "viewer"); err != nil {
		return nil, err
	}
	if s.ingestToken == "" || s.metricsToken == "" || strings.ContainsAny(s.ingestToken+s.metricsToken, " \n") {
		return nil, errors.New("vigil tokens create printed no single token")
	}
	args := append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--ingest-listen", "127.0.0.1:0", "--log-level", "warn"}, o.serveArgs...)
	// The child outlives ctx's cancellation only until stop sends SIGTERM.
	s.cmd = command(context.WithoutCancel(ctx), args...)
	s.cmd.Stdout = io.Discard
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("starting vigil serve: %w", err)
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting vigil serve: %w", err)
	}
	s.done = make(chan error, 1)
	banner := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if m := serveBanner.FindStringSubmatch(line); m != nil {
				select {
				case banner <- m[1:]:
				default:
				}
				continue
			}
			s.logs.WriteLine(line)
		}
		_, _ = io.Copy(io.Discard, stderr)
		s.done <- s.cmd.Wait()
	}()
	select {
	case m := <-banner:
		s.httpAddr, s.ingestAddr = m[0], m[1]
	case err := <-s.done:
		s.done <- err
		return nil, fmt.Errorf("vigil serve exited before listening: %w: %s", err, s.logs.String())
	case <-time.After(60 * time.Second):
		s.stop(env.Stderr)
		return nil, fmt.Errorf("vigil serve did not listen within 60 s: %s", s.logs.String())
	case <-ctx.Done():
		s.stop(env.Stderr)
		return nil, ctx.Err()
	}
	if err := waitReady(ctx, "http://"+s.httpAddr+"/readyz", 30*time.Second); err != nil {
		s.stop(env.Stderr)
		return nil, err
	}
	fmt.Fprintf(env.Stderr, "vigil loadtest: spawned vigil serve (pid %d): API on %s, ingest on %s\n", s.cmd.Process.Pid, s.httpAddr, s.ingestAddr)
	return s, nil
}

func waitReady(ctx context.Context, u string, within time.Duration) error {
	deadline := time.Now().Add(within)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("vigil serve not ready at %s within %s", u, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends the child with SIGTERM (SIGKILL after 30 s) and removes its data
// directory unless kept.
func (s *spawned) stop(w io.Writer) {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-s.done:
			if err != nil {
				fmt.Fprintf(w, "vigil loadtest: vigil serve exited: %v: %s\n", err, s.logs.String())
			}
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			if err := <-s.done; err == nil {
				fmt.Fprintln(w, "vigil loadtest: vigil serve exited cleanly after all")
			}
			fmt.Fprintf(w, "vigil loadtest: vigil serve did not stop within 30 s of SIGTERM: killed\n")
		}
		s.cmd = nil
	}
	if !s.keep {
		_ = os.RemoveAll(s.dir)
	}
}

// tailBuffer keeps the last max bytes of a child's log lines.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) WriteLine(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(append(t.b, line...), '\n')
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
