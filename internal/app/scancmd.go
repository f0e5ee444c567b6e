package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/enrich/posture"
	"github.com/vigilsec/vigil/internal/scan"
	"github.com/vigilsec/vigil/internal/scan/config"
	"github.com/vigilsec/vigil/internal/scan/deps"
	"github.com/vigilsec/vigil/internal/scan/gocode"
	"github.com/vigilsec/vigil/internal/scan/secrets"
	"github.com/vigilsec/vigil/internal/vulndb"
)

const scanHelp = `
Analyse a repository, a directory of manifests or an SBOM before anything runs:
vulnerable dependencies (lockfiles and SBOMs against the OSV database that
vigil vulndb import keeps offline), misconfigurations (Kubernetes, Dockerfiles,
Terraform; your own Rego policies with --policy), injection flaws in Go code
by taint tracking (and whether the code reaches a vulnerable dependency's
functions), and secrets in files (and git history with --history).

  vigil vulndb import --data-dir /var/lib/vigil osv-go.zip
  vigil scan --data-dir /var/lib/vigil --fail-on high .
  vigil scan --format sarif --output vigil.sarif .      (GitHub code scanning)

Exit status: 0, or 1 when a finding at or above --fail-on remains after the
baseline (--baseline); 2 for bad flags; 3 when the scan itself failed.

With --data-dir the findings about workloads, images and this repository are
recorded as posture (posture.json): vigil hunt and serve then raise the risk
of incidents on those workloads and say why. --image and --workload name what
this repository builds and runs, so its dependency, code and secret findings
count for them too.
`

// ExitScan is vigil scan's exit status when the scan itself failed.
const ExitScan = 3

type scanOptions struct {
	format, output      string
	failOn              string
	baseline, writeBase string
	dataDir, vulndb     string
	scanners            string
	policies            []string
	history             bool
	reachability        bool
	skip                []string
	repository          string
	images, workloads   []string
	logLevel            string
	now                 func() time.Time
}

func runScan(ctx context.Context, env Env, args []string) error {
	o := scanOptions{now: time.Now}
	fs := newFlagSet(env, "scan", "PATH", scanHelp)
	fs.StringVar(&o.format, "format", "table", "output: table, json or sarif")
	fs.StringVar(&o.output, "output", "", "write the report to this file instead of standard output")
	fs.StringVar(&o.failOn, "fail-on", "", "exit 1 when a finding of this severity or higher remains: low, medium, high, critical")
	fs.StringVar(&o.baseline, "baseline", "", "a baseline file (vigil scan --write-baseline): the findings it accepts are left out")
	fs.StringVar(&o.writeBase, "write-baseline", "", "write a baseline accepting every finding of this scan to this file")
	fs.StringVar(&o.dataDir, "data-dir", "", "Vigil's data directory: its vulnerability database (vigil vulndb import) and where the posture is recorded")
	fs.StringVar(&o.vulndb, "vulndb", "", "the vulnerability database directory (default: the --data-dir's vulndb)")
	fs.StringVar(&o.scanners, "scanners", "deps,config,gocode,secrets", "the scanners to run, comma-separated: deps, config, gocode, secrets")
	fs.Func("policy", "a directory of Rego policies (repeatable): their deny and warn rules run over every Kubernetes object, Dockerfile and Terraform file", func(v string) error {
		o.policies = append(o.policies, v)
		return nil
	})
	fs.BoolVar(&o.history, "history", false, "look for secrets in the git history too (needs git)")
	fs.BoolVar(&o.reachability, "reachability", true, "for Go modules, check whether the code calls the vulnerable functions of its dependencies (needs the go toolchain)")
	fs.Func("skip", "a directory name not to enter anywhere (repeatable; .git is always skipped)", func(v string) error {
		o.skip = append(o.skip, v)
		return nil
	})
	fs.StringVar(&o.repository, "repository", "", "the repository's name in reports and posture (default: the directory's name)")
	fs.Func("image", "a container image this repository builds (repeatable): its dependency, code and secret findings count for the image at runtime", func(v string) error {
		o.images = append(o.images, v)
		return nil
	})
	fs.Func("workload", "a Kubernetes workload (namespace/Kind/name) running this repository's code (repeatable)", func(v string) error {
		if strings.Count(v, "/") != 2 {
			return fmt.Errorf("want namespace/Kind/name, got %q", v)
		}
		o.workloads = append(o.workloads, v)
		return nil
	})
	fs.StringVar(&o.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	paths, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(paths) != 1 {
		return &ExitError{Code: ExitUsage, Err: errors.New("vigil scan takes one path")}
	}
	switch o.format {
	case "table", "json", "sarif":
	default:
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--format %q: want table, json or sarif", o.format)}
	}
	failOn := scan.SeverityUnknown
	if o.failOn != "" {
		if failOn, err = scan.ParseSeverity(o.failOn); err != nil || failOn == scan.SeverityUnknown {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--fail-on: %w", cmpErr(err, "want low, medium, high or critical"))}
		}
	}
	var base *scan.Baseline
	if o.baseline != "" {
		if base, err = scan.ReadBaselineFile(o.baseline); err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
	}
	log, err := newLogger(env.Stderr, o.logLevel)
	if err != nil {
		return err
	}
	names := strings.Split(o.scanners, ",")
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	scanners, closeScanners, err := buildScanners(ctx, o, names, log, env.Stderr)
	if err != nil {
		return err
	}
	defer closeScanners()

	started := o.now()
	var problems []scan.Problem
	target, err := scan.Walk(paths[0], scan.WalkOptions{Skip: o.skip}, func(p scan.Problem) { problems = append(problems, p) })
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	if o.repository != "" {
		target.Repository = o.repository
	}
	rep := &scan.Report{Tool: "vigil", Version: Version, Root: target.Root, Repository: target.Repository, Files: len(target.Files)}
	var failed error
	for _, s := range scanners {
		rep.Scanners = append(rep.Scanners, s.ID())
		err := s.Scan(ctx, target, func(f scan.Finding) { rep.Findings = append(rep.Findings, f) },
			func(p scan.Problem) { problems = append(problems, p) })
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// one scanner failing does not lose the others' findings
			failed = errors.Join(failed, fmt.Errorf("scanner %s: %w", s.ID(), err))
			log.ErrorContext(ctx, "scanner failed", "scanner", s.ID(), "err", err)
		}
	}
	if o.reachability && slices.Contains(names, deps.ID) {
		// needs the go toolchain; what it cannot decide stays unknown
		reachability(ctx, target, rep.Findings, func(p scan.Problem) { problems = append(problems, p) }, log)
	}
	rep.Problems = problems
	rep.Sort()
	log.InfoContext(ctx, "scanned", "root", target.Root, "files", len(target.Files), "findings", len(rep.Findings), "took", o.now().Sub(started))

	if o.dataDir != "" {
		// posture before the baseline: accepted findings are still true of
		// the workloads at runtime
		if err := recordPosture(o, rep); err != nil {
			return err
		}
	}
	if o.writeBase != "" {
		if err := writeBaselineFile(o.writeBase, scan.NewBaseline(rep, o.now())); err != nil {
			return err
		}
	}
	rep.Apply(base, o.now())

	out := env.Stdout
	var file *os.File
	if o.output != "" {
		if file, err = os.Create(o.output); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
		out = file
	}
	switch o.format {
	case "json":
		err = rep.WriteJSON(out)
	case "sarif":
		err = rep.WriteSARIF(out)
	default:
		err = rep.WriteTable(out)
	}
	if file != nil {
		err = errors.Join(err, file.Close())
	}
	if err != nil {
		return err
	}
	if failed != nil {
		return &ExitError{Code: ExitScan, Err: failed}
	}
	if failOn != scan.SeverityUnknown {
		if n := rep.AtLeast(failOn); n > 0 {
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%d findings at or above %s", n, failOn)}
		}
	}
	return nil
}

func cmpErr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}

func writeBaselineFile(path string, b *scan.Baseline) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing the baseline: %w", err)
	}
	err = b.Write(f)
	return errors.Join(err, f.Close())
}

// recordPosture merges the scan's posture into the data directory's file.
func recordPosture(o scanOptions, rep *scan.Report) error {
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return fmt.Errorf("recording the posture: %w", err)
	}
	path := filepath.Join(o.dataDir, posture.FileName)
	f, err := posture.Read(path)
	if err != nil {
		return err
	}
	f.Put(postureOf(rep, o.images, o.workloads, o.now()))
	return f.Write(path)
}

// postureOf keys a report's findings by what runs: configuration findings by
// the workload and image they name; dependency, code and secret findings by
// the repository and the images and workloads the user says it builds.
func postureOf(rep *scan.Report, images, workloads []string, at time.Time) posture.Scan {
	subjects := map[[2]string]*posture.Subject{}
	var order [][2]string
	add := func(kind, value string, f *scan.Finding) {
		if value == "" {
			return
		}
		k := [2]string{kind, value}
		s := subjects[k]
		if s == nil {
			s = &posture.Subject{Kind: kind, Value: value}
			subjects[k] = s
			order = append(order, k)
		}
		sev := f.Severity
		if sev == scan.SeverityUnknown {
			sev = scan.SeverityMedium // a known vulnerability without a score (Go's records have none)
		}
		pf := posture.Finding{RuleID: f.RuleID, Kind: string(f.Kind), Severity: sev.String(), Title: f.Title}
		if f.Vuln != nil {
			pf.Reachable = f.Vuln.Reachable
		}
		if !slices.ContainsFunc(s.Findings, func(x posture.Finding) bool { return x.RuleID == pf.RuleID }) {
			s.Findings = append(s.Findings, pf)
		}
	}
	for i := range rep.Findings {
		f := &rep.Findings[i]
		if f.Severity == scan.SeverityUnknown && f.Kind != scan.KindDependency {
			continue
		}
		add(posture.KindWorkload, f.Subject.Workload, f)
		add(posture.KindImage, f.Subject.Image, f)
		if f.Kind != scan.KindConfig {
			add(posture.KindRepository, cmp.Or(f.Subject.Repository, rep.Repository), f)
			for _, img := range images {
				add(posture.KindImage, img, f)
			}
			for _, w := range workloads {
				add(posture.KindWorkload, w, f)
			}
		}
	}
	out := posture.Scan{Root: rep.Root, Repository: rep.Repository, At: at.UTC()}
	slices.SortFunc(order, func(a, b [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) })
	for _, k := range order {
		out.Subjects = append(out.Subjects, *subjects[k])
	}
	return out
}

// reachability decides, for each Go dependency finding whose advisory names
// vulnerable functions, whether the module's code calls one (govulncheck's
// symbol level): Vuln.Reachable, a call path in Vuln.Trace, and the message
// says so. A module that does not load is a problem and its findings stay
// undecided.
func reachability(ctx context.Context, t *scan.Target, findings []scan.Finding, problem func(scan.Problem), log *slog.Logger) {
	byModule := map[string][]int{}
	var modules []string
	for i := range findings {
		f := &findings[i]
		if f.Kind != scan.KindDependency || f.Package == nil || f.Package.Ecosystem != "Go" || f.Vuln == nil ||
			len(f.Vuln.Symbols) == 0 || path.Base(f.Location.Path) != "go.mod" {
			continue
		}
		dir := path.Dir(f.Location.Path)
		if byModule[dir] == nil {
			modules = append(modules, dir)
		}
		byModule[dir] = append(byModule[dir], i)
	}
	slices.Sort(modules)
	for _, dir := range modules {
		var symbols []string
		for _, i := range byModule[dir] {
			symbols = append(symbols, findings[i].Vuln.Symbols...)
		}
		slices.Sort(symbols)
		symbols = slices.Compact(symbols)
		started := time.Now()
		calls, err := gocode.Reachable(ctx, filepath.Join(t.Root, filepath.FromSlash(dir)), symbols)
		if err != nil {
			problem(scan.Problem{Scanner: "reachability", Path: path.Join(dir, "go.mod"), Err: err.Error()})
			continue
		}
		log.InfoContext(ctx, "reachability", "module", dir, "symbols", len(symbols), "reached", len(calls), "took", time.Since(started))
		for _, i := range byModule[dir] {
			v := findings[i].Vuln
			reached := false
			for _, sym := range v.Symbols {
				if trace, ok := calls[sym]; ok {
					reached, v.Trace = true, trace
					break
				}
			}
			v.Reachable = &reached
			if reached {
				findings[i].Message += "; the code calls it: " + strings.Join(v.Trace, " → ")
			} else {
				findings[i].Message += "; the code does not call its vulnerable functions"
			}
		}
	}
}

// buildScanners builds the scanners named (in a fixed order) and returns a
// func releasing what they opened.
func buildScanners(ctx context.Context, o scanOptions, names []string, log *slog.Logger, stderr io.Writer) ([]scan.Scanner, func(), error) {
	known := []string{deps.ID, config.ID, gocode.ID, secrets.ID}
	for _, n := range names {
		if !slices.Contains(known, n) {
			return nil, nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--scanners: unknown scanner %q (want %s)", n, strings.Join(known, ", "))}
		}
	}
	var out []scan.Scanner
	closers := func() {}
	if slices.Contains(names, deps.ID) {
		var db *vulndb.DB
		dir, derr := vulndbDir(o.vulndb, o.dataDir)
		if derr == nil {
			d, err := vulndb.Open(dir)
			switch {
			case err == nil:
				db = d
				closers = func() { _ = d.Close() }
			case errors.Is(err, vulndb.ErrNoDatabase):
				fmt.Fprintf(stderr, "vigil scan: no vulnerability database in %s (vigil vulndb import fills it): dependencies are listed but not matched\n", dir)
			default:
				return nil, nil, fmt.Errorf("opening the vulnerability database %s: %w", dir, err)
			}
		} else {
			fmt.Fprintln(stderr, "vigil scan: no vulnerability database (give --data-dir or --vulndb after vigil vulndb import): dependencies are not matched")
		}
		s, err := deps.New(deps.Options{DB: db, Logger: log})
		if err != nil {
			closers()
			return nil, nil, err
		}
		out = append(out, s)
	}
	if slices.Contains(names, config.ID) {
		s, err := config.New(ctx, config.Options{Logger: log, PolicyDirs: o.policies})
		if err != nil {
			closers()
			return nil, nil, &ExitError{Code: ExitUsage, Err: err}
		}
		out = append(out, s)
	}
	if slices.Contains(names, gocode.ID) {
		out = append(out, gocode.New(gocode.Options{Logger: log}))
	}
	if slices.Contains(names, secrets.ID) {
		out = append(out, secrets.New(secrets.Options{Logger: log, History: o.history, SkipDirs: o.skip}))
	}
	return out, closers, nil
}
