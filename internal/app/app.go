// Package app wires Vigil's components into the commands the binary offers, and
// owns their lifecycle. cmd/vigil only calls Main.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/vigilsec/vigil/internal/detect"
)

// Version is set at build time with -ldflags "-X github.com/vigilsec/vigil/internal/app.Version=v1.2.3".
var Version = "dev"

// Env is what a command may touch of the process: its streams and whether they are
// terminals. Tests pass buffers.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	StdoutTTY      bool
	StderrTTY      bool

	// detectors replaces the built-in detector list; tests use it.
	detectors func() []detect.Detector
}

func (e Env) detectorList() []detect.Detector {
	if e.detectors != nil {
		return e.detectors()
	}
	return detectors()
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env Env, args []string) error
}

func commands() []command {
	return []command{
		{"demo", "See Vigil work: a simulated organisation with attacks streamed into the service and its console (no configuration)", runDemo},
		{"hunt", "Analyse log files and directories with every detector; print signals and a summary", runHunt},
		{"serve", "Run the service: streaming ingestion (HTTP, HEC, _bulk, syslog, tail), detection, the REST API and the web console", runServe},
		{"scan", "Pre-production analysis: vulnerable dependencies, Kubernetes/Dockerfile/Terraform misconfigurations, Go injection flaws, secrets; table, JSON, SARIF", runScan},
		{"vulndb", "Keep the offline OSV vulnerability database vigil scan uses: import, stats", runVulndb},
		{"rules", "Validate Sigma rules (check) and run rule unit tests (test)", runRules},
		{"eval", "Score hunt's results against a dataset's ground-truth file", runEval},
		{"feedback", "Record analysts' verdicts (suppressions with scope and expiry, rule precision) and list them", runFeedback},
		{"report", "Governance reports: signal and incident rates per department, role, region and peer group (bias)", runReport},
		{"assist", "The optional LLM assistant: an incident's narrative, or answers about it (entities pseudonymised, egress controlled)", runAssist},
		{"models", "The model registry: detectors and models with their versions and what each learned", runModels},
		{"users", "Manage the console's local users: add, list, passwd, role, del", runUsers},
		{"tokens", "Manage API and ingest tokens: create (shown once), list, revoke", runTokens},
		{"cluster", "Look at a cluster of serve nodes through its bus: members, partition owners, backlog", runCluster},
		{"decode", "Decode log files into normalized ECS events (JSON lines), without detection", runDecode},
		{"loadtest", "Offer a load to vigil serve's HTTP ingest from this process; report rate, event-to-signal latency, memory", runLoadtest},
		{"simulate", "Generate a synthetic enterprise's logs with labelled attack campaigns and truth.json", runSimulate},
		{"formats", "List the log formats Vigil decodes and how each is recognised", runFormats},
		{"version", "Print the version", runVersion},
	}
}

// ExitError carries a specific exit code.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // a run failed (strict mode, output or store failure)
	ExitUsage   = 2 // bad flags or arguments
)

// Main runs the command line args (without the program name) and returns the
// process exit code.
func Main(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			return Main(ctx, env, []string{args[1], "--help"})
		}
		usage(env.Stdout)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		switch {
		case err == nil:
			return ExitOK
		case errors.Is(err, flag.ErrHelp):
			return ExitOK
		}
		fmt.Fprintf(env.Stderr, "vigil %s: %v\n", c.name, err)
		var ee *ExitError
		if errors.As(err, &ee) {
			return ee.Code
		}
		return ExitFailure
	}
	fmt.Fprintf(env.Stderr, "vigil: unknown command %q\n\n", args[0])
	usage(env.Stderr)
	return ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Vigil: security analytics over the logs you already have.

Usage:
  vigil <command> [flags] [arguments]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run "vigil <command> --help" for a command's flags.
`)
}

// newFlagSet builds a command's flag set with a usage text that lists the flags.
func newFlagSet(env Env, name, argsUsage, description string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: vigil %s [flags] %s\n\n%s\n\nFlags:\n", name, argsUsage, strings.TrimSpace(description))
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses flags that may be interleaved with positional arguments
// (vigil hunt DIR --output json), which the standard flag package does not allow.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &ExitError{Code: ExitUsage, Err: err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("parsing --log-level: %w", err)}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func runVersion(_ context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "version", "", "Print Vigil's version and the Go toolchain it was built with.")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	_, err := fmt.Fprintf(env.Stdout, "vigil %s (%s)\n", Version, goVersion)
	return err
}

// IsTerminal reports whether f is a terminal; used by cmd/vigil to fill Env.
func IsTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
