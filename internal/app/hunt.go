package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/detect/behavior"
	"github.com/vigilsec/vigil/internal/detect/sigma"
	"github.com/vigilsec/vigil/internal/enrich/assets"
	"github.com/vigilsec/vigil/internal/escalate"
	"github.com/vigilsec/vigil/internal/explain"
	"github.com/vigilsec/vigil/internal/ingest/files"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/report"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/triage"
)

// runOptions are the flags hunt and decode share.
type runOptions struct {
	format          string
	strict          bool
	workers         int
	maxLine         int
	maxRecord       int
	maxDecompressed int64
	progress        string
	logLevel        string
	quiet           bool
	year            int
	sinceFlag       string
	untilFlag       string
	since, until    time.Time // parsed from the flags

	// detectors run besides the built-in ones (Sigma rules given with --rules).
	detectors []detect.Detector
}

func (o *runOptions) register(fs interface {
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
	IntVar(*int, string, int, string)
	Int64Var(*int64, string, int64, string)
}) {
	fs.StringVar(&o.format, "format", "", "decode every file as this format id instead of detecting it (see vigil formats)")
	fs.BoolVar(&o.strict, "strict", false, "fail at the first rejected record or unreadable file instead of counting and going on")
	fs.IntVar(&o.workers, "workers", 0, "decode and detection workers (default: number of CPUs)")
	fs.IntVar(&o.maxLine, "max-line", decode.DefaultMaxLine, "longest accepted line in bytes; longer lines are rejected")
	fs.IntVar(&o.maxRecord, "max-record", decode.DefaultMaxRecord, "largest accepted multi-line record in bytes")
	fs.Int64Var(&o.maxDecompressed, "max-decompressed", files.DefaultMaxDecompressed, "largest size one compressed stream may expand to, in bytes")
	fs.StringVar(&o.progress, "progress", "auto", "progress line on stderr: auto (when stderr is a terminal), always, never")
	fs.StringVar(&o.logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	fs.BoolVar(&o.quiet, "quiet", false, "do not print the summary")
	fs.StringVar(&o.sinceFlag, "since", "", "analyse only events at or after this event time (RFC 3339, or YYYY-MM-DD in UTC); the others are counted and dropped")
	fs.StringVar(&o.untilFlag, "until", "", "analyse only events before this event time (RFC 3339, or YYYY-MM-DD in UTC)")
	fs.IntVar(&o.year, "year", 0, "year of timestamps that carry none (traditional syslog); default: inferred from full dates in the file, else the file's modification time")
}

func (o *runOptions) validate() error {
	switch o.progress {
	case "auto", "always", "never":
	default:
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--progress: want auto, always or never, got %q", o.progress)}
	}
	if o.year != 0 && (o.year < 1970 || o.year > 2199) {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--year %d: want a year from 1970 to 2199", o.year)}
	}
	var err error
	if o.since, err = parseEventTime("--since", o.sinceFlag); err != nil {
		return err
	}
	if o.until, err = parseEventTime("--until", o.untilFlag); err != nil {
		return err
	}
	if !o.since.IsZero() && !o.until.IsZero() && !o.since.Before(o.until) {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--since %s is not before --until %s", o.sinceFlag, o.untilFlag)}
	}
	if o.maxLine <= 0 || o.maxRecord <= 0 || o.maxDecompressed <= 0 {
		return &ExitError{Code: ExitUsage, Err: errors.New("--max-line, --max-record and --max-decompressed must be positive")}
	}
	return nil
}

const huntHelp = `
Analyse log files and directories (recursively, formats mixed, gzip/bzip2/zip read
transparently): every record is decoded into a normalized event and run through
every detector: the Sigma rules, and the behavioral models, which learn what is
normal from the input itself and report deviations (they run over all events in
event-time order once the input is read, so the same input always gives the same
signals). Signals go to stdout; a summary of what was read, decoded and rejected
(with reasons) goes to stderr.

Bad records do not stop the run: each is counted by format and reason, and the
first examples are shown with file, line or offset. --strict stops at the first.

Exit status: 0 when the run completed (whatever it found), 1 when it failed
(--strict met bad input, output or store failed), 2 for bad flags or paths.

Examples:
  vigil hunt /var/log/auth.log
  vigil hunt ./evtx ./zeek --output jsonl > signals.jsonl
  vigil hunt --format zeek-tsv conn.log.gz
  vigil hunt --data-dir ~/.vigil ./logs
  vigil hunt --rules ./sigma/rules --rules ./my-rules ./evtx
  vigil hunt --identities people.csv --geoip /usr/share/GeoIP ./logs
`

func runHunt(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "hunt", "PATH...", huntHelp)
	var o runOptions
	o.register(fs)
	var so sigmaOptions
	so.register(fs)
	var bo behaviorOptions
	bo.register(fs)
	output := fs.String("output", "", "output format: table, json, jsonl, ocsf (OCSF 1.3 Incident and Detection Findings as JSON lines) (default: table on a terminal, else jsonl)")
	var intelFeeds []string
	fs.Func("intel", "threat-intelligence feed (plain list, CSV, STIX 2.1 bundle or MISP event JSON; repeatable): events naming an indicator raise an ioc signal", func(v string) error {
		intelFeeds = append(intelFeeds, v)
		return nil
	})
	var feedbackFiles []string
	fs.Func("feedback", "analysts' verdicts as JSON lines (repeatable; with --data-dir the stored ones apply too): false-positive and benign verdicts with a scope suppress signals, and every verdict updates its rules' precision, which weighs risk", func(v string) error {
		feedbackFiles = append(feedbackFiles, v)
		return nil
	})
	playbooksDir := fs.String("playbooks", "", "a directory of triage playbooks (YAML) over the built-in ones: the next steps each incident lists")
	escalatePath := fs.String("escalate", "", "escalation policies (YAML): incidents this run created or changed that match a policy are queued in --data-dir's outbox and delivered (review queue, signed webhook, Slack, PagerDuty, email, syslog CEF); failed deliveries are retried by the next run")
	activityPath := fs.String("activity", "", "write each user's event count (JSON: user to events) to this file: the activity vigil report bias normalises rates by")
	assetsPath := fs.String("assets", "", "asset inventory (CSV or YAML: host, fqdn, ips, owner, business_unit, criticality, tags, region): incidents on critical assets rank higher")
	minRisk := fs.Float64("min-risk", 10, "report incidents (signals joined through shared users, hosts, addresses) of at least this risk, 0-100, in table, json and ocsf output (0: every incident)")
	topEntities := fs.Int("top-entities", 10, "list this many of the riskiest users, hosts, workloads and cloud principals, each with what made it risky, in table and json output (0: none)")
	dataDir := fs.String("data-dir", "", "also store signals, their evidence events and an audit entry in the embedded store in this directory")
	posturePath := fs.String("posture", "", "vigil scan's posture file: incidents on workloads and images with critical pre-production findings rank higher (default: the --data-dir's, when vigil scan --data-dir recorded one)")
	paths, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	if len(paths) == 0 {
		fs.Usage()
		return &ExitError{Code: ExitUsage, Err: errors.New("no PATH given")}
	}
	var policies *escalate.Policies
	if *escalatePath != "" {
		if *dataDir == "" {
			return &ExitError{Code: ExitUsage, Err: errors.New("--escalate needs --data-dir (the outbox that keeps notifications until they are delivered)")}
		}
		if policies, err = escalate.Load(*escalatePath); err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--escalate: %w", err)}
		}
	}
	var sigmaDet *sigma.Detector
	if len(so.rules) > 0 || so.builtin {
		l, err := loadSigma(so.rules, so)
		if err != nil {
			return err
		}
		if !o.quiet {
			l.writeSummary(env.Stderr, 10)
		}
		if n := len(l.rejected()); n > 0 && o.strict {
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("--strict: %d Sigma documents rejected", n)}
		}
		sigmaDet = l.detector().Ordered() // correlations in event-time order: the same signals every run
		o.detectors = append(o.detectors, sigmaDet)
	} else if so.mapping != "" || so.placeholders != "" {
		return &ExitError{Code: ExitUsage, Err: errors.New("--sigma-mapping and --placeholders need Sigma rules (--rules, or the built-in pack)")}
	}
	of := report.JSONL
	if *output == "" && env.StdoutTTY {
		of = report.Table
	} else if *output != "" {
		if of, err = report.ParseFormat(*output); err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
	}

	if bo.identities != "" {
		if bo.dir, err = loadIdentities(bo.identities, env.Stderr); err != nil {
			return err
		}
	}
	var inventory *assets.Inventory
	if *assetsPath != "" {
		if inventory, err = loadAssets(*assetsPath, env.Stderr); err != nil {
			return err
		}
	}
	postureOf, err := postureContext(*posturePath, *dataDir)
	if err != nil {
		return err
	}
	if len(intelFeeds) > 0 {
		det, err := loadIntel(intelFeeds, env.Stderr, o.quiet)
		if err != nil {
			return err
		}
		o.detectors = append(o.detectors, det)
	}
	resolver := huntResolver(inventory)
	o.detectors = append(o.detectors, bindingLearner{resolver})
	var activity activityCounter
	if *activityPath != "" {
		activity = newActivityCounter()
		o.detectors = append(o.detectors, activity)
	}
	var beh *behavior.Engine
	if bo.enabled {
		log, err := newLogger(env.Stderr, o.logLevel)
		if err != nil {
			return err
		}
		var closeBeh func()
		if beh, closeBeh, err = buildBehavior(bo, log, env.Stderr); err != nil {
			return err
		}
		defer closeBeh()
		o.detectors = append(o.detectors, beh.Collector())
	} else if bo.geoip != "" || bo.egress != "" {
		return &ExitError{Code: ExitUsage, Err: errors.New("--geoip and --egress need the behavioral models (--behavior)")}
	}

	var sink *storeSink
	var sinkStore store.Store
	if *dataDir != "" {
		if sink, err = openStoreSink(ctx, *dataDir); err != nil {
			return err
		}
		defer sink.close()
		sinkStore = sink.st
		if beh != nil {
			if err := restoreBehavior(ctx, sink.st, beh); err != nil {
				return &ExitError{Code: ExitFailure, Err: err}
			}
		}
	}
	verdictList, err := readVerdicts(ctx, feedbackFiles, sinkStore, env.Stderr)
	if err != nil {
		return err
	}
	// Verdicts given since the last run teach the models what is normal before
	// they see this run's events.
	if n := markNormal(ctx, verdictList, sinkStore, beh); n > 0 && !o.quiet {
		fmt.Fprintf(env.Stderr, "vigil: %d baselines marked normal by analysts' verdicts\n", n)
	}
	var signals []detect.Signal // appended from the pipeline's single sink goroutine
	st, err := execute(ctx, env, o, paths, func(po *pipeline.Options) {
		po.OnSignal = func(d pipeline.Detection) error {
			signals = append(signals, d.Signal)
			if sink != nil {
				return sink.add(ctx, d)
			}
			return nil
		}
	})
	if sigmaDet != nil && st != nil && err == nil {
		// Correlation windows still open at the end of the input are decided now.
		sigmaDet.Flush(func(s detect.Signal) {
			signals = append(signals, s)
			st.Signals++
			if sink != nil && err == nil {
				err = sink.add(ctx, pipeline.Detection{Signal: s})
			}
		})
	}
	if beh != nil && st != nil && err == nil {
		// The behavioral models run over the whole input in event-time order.
		err = beh.Finish(ctx, func(s detect.Signal) {
			signals = append(signals, s)
			st.Signals++
			if sink != nil && err == nil {
				err = sink.add(ctx, pipeline.Detection{Signal: s})
			}
		})
		if sink != nil && err == nil {
			err = saveBehavior(ctx, sink.st, beh)
		}
		if n := beh.Stale(); n > 0 && !o.quiet {
			fmt.Fprintf(env.Stderr, "vigil: %d events are older than the behavioral state saved in --data-dir and were not learned again\n", n)
		}
	}
	if st != nil {
		report.SortSignals(signals)
		report.ProductVersion = Version
		var stStore store.Store
		var known map[string]bool
		if sink != nil && err == nil {
			if ferr := sink.flush(ctx); ferr != nil {
				err = ferr
			} else {
				stStore, known = sink.st, sink.known
			}
		}
		verd := buildVerdicts(ctx, verdictList, stStore, signals, env.Stderr, o.quiet)
		signals = verd.apply(signals)
		corr, cerr := correlateRun(ctx, stStore, known, signals, *minRisk, *topEntities, correlate.Options{
			Context: businessContext(inventory, bo.dir), Resolve: entityResolver(resolver, bo.dir), Precision: verd.precision(),
			Posture: postureOf})
		err = errors.Join(err, cerr)
		if *activityPath != "" {
			if aerr := writeActivity(*activityPath, activity.snapshot()); aerr != nil {
				err = errors.Join(err, aerr)
			}
		}
		if policies != nil && stStore != nil && cerr == nil {
			log, lerr := newLogger(env.Stderr, o.logLevel)
			if lerr != nil {
				return errors.Join(err, lerr)
			}
			queued, sent, eerr := escalateRun(ctx, stStore, policies, corr.updated, businessContext(inventory, bo.dir), log)
			err = errors.Join(err, eerr)
			if !o.quiet {
				fmt.Fprintf(env.Stderr, "vigil: escalation: %d notifications queued, %d handled now (failures retry on the next run)\n", queued, sent)
			}
		}
		if verd != nil && !o.quiet {
			fmt.Fprintf(env.Stderr, "vigil: %d analysts' verdicts applied (%d could not be): %d signals suppressed, %d rules' precision estimated\n",
				verd.loaded, verd.unusable, verd.suppressed, len(verd.book.Posteriors()))
		}
		if sink != nil {
			sink.incidents = &corr
			if serr := sink.finish(ctx, paths, st, err); serr != nil {
				err = errors.Join(err, serr)
			}
		}
		steps, serr := nextSteps(ctx, *playbooksDir, stStore, corr.incidents, signals)
		if serr != nil {
			return errors.Join(err, serr)
		}
		run := report.Run{Signals: signals, Incidents: corr.incidents, EntityRisk: report.EntityRisk(corr.entities, signals), NextSteps: steps, Stats: st,
			Context: explain.Context(businessContext(inventory, bo.dir))}
		vm, verr := triage.BuiltinVerdictModel()
		if verr != nil {
			return errors.Join(err, verr)
		}
		run.Verdicts = vm
		if werr := report.WriteRun(env.Stdout, of, run); werr != nil {
			return errors.Join(err, werr)
		}
		if !o.quiet && corr.skipped > 0 {
			fmt.Fprintf(env.Stderr, "vigil: %d signals were stored by an earlier run and already correlated; incidents list what this run changed\n", corr.skipped)
		}
		if !o.quiet && of != report.JSON {
			if werr := report.WriteSummary(env.Stderr, st); werr != nil {
				return errors.Join(err, werr)
			}
		}
	}
	return err
}

const decodeHelp = `
Decode log files into normalized events and print them as ECS JSON, one per line,
with the producer's own fields under "raw" and provenance under "vigil.origin".
No detection runs. Useful to see what detectors will see, and to check a format.
`

func runDecode(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "decode", "PATH...", decodeHelp)
	var o runOptions
	o.register(fs)
	paths, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	if len(paths) == 0 {
		fs.Usage()
		return &ExitError{Code: ExitUsage, Err: errors.New("no PATH given")}
	}
	if o.workers == 0 {
		o.workers = 1 // one worker keeps the output in file order
	}
	out := bufio.NewWriterSize(env.Stdout, 256<<10)
	var buf []byte
	st, err := execute(ctx, env, o, paths, func(po *pipeline.Options) {
		po.DetectWorkers = 1
		po.OnBatch = func(b *pipeline.Batch) error {
			for _, e := range b.Events {
				buf = e.AppendJSON(buf[:0])
				buf = append(buf, '\n')
				if _, err := out.Write(buf); err != nil {
					return fmt.Errorf("writing event: %w", err)
				}
			}
			return nil
		}
	})
	if ferr := out.Flush(); ferr != nil {
		err = errors.Join(err, fmt.Errorf("writing events: %w", ferr))
	}
	if st != nil && !o.quiet {
		if werr := report.WriteSummary(env.Stderr, st); werr != nil {
			return errors.Join(err, werr)
		}
	}
	return err
}

// parseEventTime reads an event-time bound: RFC 3339 (with or without
// fractional seconds) or a UTC date; "" is no bound.
func parseEventTime(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s %q: want RFC 3339 (2026-03-09T00:00:00Z) or a date (2026-03-09)", flag, v)}
}

// execute expands paths and runs them through a pipeline configured by o and then
// by customize. It returns the stats (nil when nothing ran) and the run's error.
func execute(ctx context.Context, env Env, o runOptions, paths []string, customize func(*pipeline.Options)) (*pipeline.Stats, error) {
	log, err := newLogger(env.Stderr, o.logLevel)
	if err != nil {
		return nil, err
	}
	list, errs := files.Expand(paths)
	for _, e := range errs {
		fmt.Fprintf(env.Stderr, "vigil: %v\n", e)
	}
	if len(errs) > 0 && (o.strict || len(list) == 0) {
		return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("reading paths: %w", errors.Join(errs...))}
	}
	engine, err := detect.NewEngine(append(env.detectorList(), o.detectors...), detect.EngineOptions{Logger: log})
	if err != nil {
		return nil, err
	}
	po := pipeline.Options{
		Registry: formats.Default(), Engine: engine, Format: o.format, Strict: o.strict,
		DecodeWorkers: o.workers, DetectWorkers: o.workers, MaxDecompressed: o.maxDecompressed, Year: o.year,
		Since: o.since, Until: o.until,
		Limits: decode.Limits{MaxLine: o.maxLine, MaxRecord: o.maxRecord}, Logger: log,
	}
	customize(&po)
	p, err := pipeline.New(po)
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sources := make(chan pipeline.Source)
	go func() {
		defer close(sources)
		for _, f := range list {
			select {
			case sources <- pipeline.FileSource(f, o.maxDecompressed):
			case <-ctx.Done():
				return
			}
		}
	}()
	showProgress := o.progress == "always" || (o.progress == "auto" && env.StderrTTY)
	var stopProgress func()
	if showProgress {
		stopProgress = startProgress(env.Stderr, p.Progress(), int64(len(list)))
	}
	st, err := p.Run(ctx, sources)
	if stopProgress != nil {
		stopProgress()
	}
	return st, err
}

// startProgress redraws one status line on w until the returned func is called.
func startProgress(w io.Writer, pr *pipeline.Progress, total int64) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	draw := func(final bool) {
		el := time.Since(start).Seconds()
		ev := pr.Events.Load()
		rate := 0.0
		if el > 0 {
			rate = float64(ev) / el
		}
		frac := 0.0
		if total > 0 {
			frac = float64(pr.SourcesDone.Load()) / float64(total)
		}
		const width = 24
		filled := int(frac * width)
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = '.'
			if i < filled {
				bar[i] = '#'
			}
		}
		fmt.Fprintf(w, "\r[%s] %d/%d files  %d events  %d rejected  %.1f MB  %.0f ev/s  %d signals\x1b[K",
			bar, pr.SourcesDone.Load(), total, ev, pr.Rejected.Load(), float64(pr.Bytes.Load())/1e6, rate, pr.Signals.Load())
		if final {
			fmt.Fprint(w, "\n")
		}
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				draw(true)
				return
			case <-t.C:
				draw(false)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func runFormats(_ context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "formats", "", "List the log formats Vigil decodes. Formats are detected from content; --format forces one.")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, f := range formats.Default().Formats() {
		if _, err := fmt.Fprintf(env.Stdout, "%-20s %s\n", f.ID, f.Description); err != nil {
			return err
		}
	}
	return nil
}

// detectors is the one explicit list of detectors hunt and serve run.
// Sigma and behavioral detectors register here as they land.
func detectors() []detect.Detector {
	return nil
}
