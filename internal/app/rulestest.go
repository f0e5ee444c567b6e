package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/detect/sigma"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/ingest/files"
	"github.com/vigilsec/vigil/internal/pipeline"
)

const rulesTestHelp = `
Run Sigma rule unit tests, as promtool test rules does for Prometheus: each test
feeds events to the rules and checks which fire. A test file (YAML):

  rules:                      # rule files or directories, relative to this file
    - rules/
  tests:
    - name: whoami run by sysmon
      logs: [samples/whoami.evtx]    # log files in any format vigil decodes
      events:                        # and/or inline events: raw fields, ECS names
        - {"@timestamp": "2024-05-01T10:00:00Z", Channel: Microsoft-Windows-Sysmon/Operational,
           EventID: 1, Image: 'C:\Windows\System32\whoami.exe'}
      expect:
        - rule: 929a690e-bef0-4204-a928-ef5e620d6fcc   # id, name or title
          count: 1                                     # exact hits; default at least one
      absent: [some_other_rule]      # rules that must not fire

Each test passes or fails with the reason; exit status 1 when one fails.
`

type rulesTestFile struct {
	Rules []string        `yaml:"rules"`
	Tests []rulesTestCase `yaml:"tests"`
}

type rulesTestCase struct {
	Name   string           `yaml:"name"`
	Logs   []string         `yaml:"logs"`
	Events []map[string]any `yaml:"events"`
	Expect []struct {
		Rule  string `yaml:"rule"`
		Count *int   `yaml:"count"`
	} `yaml:"expect"`
	Absent []string `yaml:"absent"`
}

func runRulesTest(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "rules test", "FILE...", rulesTestHelp)
	var o sigmaOptions
	o.registerCompile(fs)
	paths, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		fs.Usage()
		return &ExitError{Code: ExitUsage, Err: errors.New("no FILE given")}
	}
	failed, total := 0, 0
	for _, p := range paths {
		f, n, err := runRulesTestFile(ctx, env, p, o)
		if err != nil {
			return err
		}
		failed += f
		total += n
	}
	fmt.Fprintf(env.Stdout, "%d tests, %d passed, %d failed\n", total, total-failed, failed)
	if failed > 0 {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%d of %d tests failed", failed, total)}
	}
	return nil
}

func runRulesTestFile(ctx context.Context, env Env, path string, o sigmaOptions) (failed, total int, err error) {
	data, err := readSmallFile(path)
	if err != nil {
		return 0, 0, &ExitError{Code: ExitUsage, Err: err}
	}
	var tf rulesTestFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&tf); err != nil {
		return 0, 0, &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s: %w", path, err)}
	}
	if len(tf.Rules) == 0 || len(tf.Tests) == 0 {
		return 0, 0, &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s: needs rules and tests", path)}
	}
	dir := filepath.Dir(path)
	var rulePaths []string
	for _, r := range tf.Rules {
		rulePaths = append(rulePaths, relTo(dir, r))
	}
	l, err := loadSigma(rulePaths, o)
	if err != nil {
		return 0, 0, err
	}
	if rej := l.rejected(); len(rej) > 0 {
		l.writeSummary(env.Stdout, -1)
		return 0, 0, &ExitError{Code: ExitFailure, Err: fmt.Errorf("%s: %d rules rejected", path, len(rej))}
	}
	for i, tc := range tf.Tests {
		name := tc.Name
		if name == "" {
			name = "test " + strconv.Itoa(i+1)
		}
		total++
		problems, err := runRulesTestCase(ctx, dir, l, tc)
		if err != nil {
			problems = append(problems, err.Error())
		}
		if len(problems) == 0 {
			fmt.Fprintf(env.Stdout, "PASS %s: %s\n", path, name)
			continue
		}
		failed++
		fmt.Fprintf(env.Stdout, "FAIL %s: %s\n", path, name)
		for _, p := range problems {
			fmt.Fprintf(env.Stdout, "     %s\n", p)
		}
	}
	return failed, total, nil
}

func relTo(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// runRulesTestCase feeds one test's events to the rules (correlations included, with
// state of their own) and returns what differs from its expectations.
func runRulesTestCase(ctx context.Context, dir string, l *sigmaLoad, tc rulesTestCase) ([]string, error) {
	ce, err := sigma.NewCorrelationEngine(l.collection, l.ruleset, sigma.CorrelationOptions{Mapping: l.mapping, Lateness: -1})
	if err != nil {
		return nil, err
	}
	d := sigma.NewDetector(l.ruleset).WithCorrelations(ce)
	hits := map[string]int{} // by rule id (or name), from signals
	titles := map[string]string{}
	emit := func(s detect.Signal) {
		hits[s.RuleID]++
		titles[s.RuleID] = s.Title
	}
	batch := make([]*event.Event, 1)
	count := func(e *event.Event) {
		batch[0] = e
		_ = d.Detect(ctx, batch, emit) // the Sigma detector fails only on a cancelled context
	}
	var problems []string
	for i, fields := range tc.Events {
		e, err := inlineEvent(fields)
		if err != nil {
			problems = append(problems, fmt.Sprintf("event %d: %v", i+1, err))
			continue
		}
		count(e)
	}
	if len(tc.Logs) > 0 {
		var paths []string
		for _, lg := range tc.Logs {
			paths = append(paths, relTo(dir, lg))
		}
		rejected, err := matchLogs(ctx, paths, count)
		if err != nil {
			return nil, err
		}
		if rejected > 0 {
			problems = append(problems, fmt.Sprintf("%d log records could not be decoded", rejected))
		}
	}
	d.Flush(emit)
	fired := func(ref string) int {
		n := 0
		for id, c := range hits {
			if id == ref || titles[id] == ref || l.names[ref] == id {
				n += c
			}
		}
		return n
	}
	for _, x := range tc.Expect {
		n := fired(x.Rule)
		switch {
		case x.Count != nil && n != *x.Count:
			problems = append(problems, fmt.Sprintf("rule %s fired %d times, want %d", x.Rule, n, *x.Count))
		case x.Count == nil && n == 0:
			problems = append(problems, fmt.Sprintf("rule %s did not fire", x.Rule))
		}
	}
	for _, ref := range tc.Absent {
		if n := fired(ref); n > 0 {
			problems = append(problems, fmt.Sprintf("rule %s fired %d times, want none", ref, n))
		}
	}
	if len(problems) > 0 && len(hits) > 0 {
		var seen []string
		for id, c := range hits {
			seen = append(seen, fmt.Sprintf("%s (%s) x%d", titles[id], id, c))
		}
		sort.Strings(seen)
		problems = append(problems, "rules that fired: "+strings.Join(seen, "; "))
	}
	return problems, nil
}

// matchLogs decodes log files (formats detected) and passes every event to fn.
func matchLogs(ctx context.Context, paths []string, fn func(*event.Event)) (int64, error) {
	list, errs := files.Expand(paths)
	if len(errs) > 0 {
		return 0, &ExitError{Code: ExitUsage, Err: errors.Join(errs...)}
	}
	engine, err := detect.NewEngine(nil, detect.EngineOptions{})
	if err != nil {
		return 0, err
	}
	p, err := pipeline.New(pipeline.Options{
		Registry: formats.Default(), Engine: engine, DecodeWorkers: 1, DetectWorkers: 1,
		MaxDecompressed: files.DefaultMaxDecompressed,
		Limits:          decode.Limits{MaxLine: decode.DefaultMaxLine, MaxRecord: decode.DefaultMaxRecord},
		OnBatch: func(b *pipeline.Batch) error {
			for _, e := range b.Events {
				fn(e)
			}
			return nil
		},
	})
	if err != nil {
		return 0, err
	}
	sources := make(chan pipeline.Source, len(list))
	for _, f := range list {
		sources <- pipeline.FileSource(f, files.DefaultMaxDecompressed)
	}
	close(sources)
	st, err := p.Run(ctx, sources)
	if err != nil {
		return 0, err
	}
	return st.Rejected, nil
}

// inlineEvent builds an event from a test's field map: "@timestamp" sets the time
// (RFC 3339), ECS names set the typed core, other names are the producer's raw
// fields; a list gives a field several values.
func inlineEvent(fields map[string]any) (*event.Event, error) {
	e := &event.Event{}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := fields[k]
		if k == "@timestamp" {
			s := fmt.Sprint(v)
			if t, ok := v.(time.Time); ok {
				e.Timestamp = t
				continue
			}
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, fmt.Errorf("@timestamp %q: %w", s, err)
			}
			e.Timestamp = t
			continue
		}
		vals, ok := v.([]any)
		if !ok {
			vals = []any{v}
		}
		for _, x := range vals {
			if x == nil {
				continue
			}
			if _, isMap := x.(map[string]any); isMap {
				return nil, fmt.Errorf("field %s: nested objects are not supported; use dotted names", k)
			}
			s := fmt.Sprint(x)
			if event.Lookup(k).IsECS() {
				event.Set(e, k, s)
			} else {
				e.AddRaw(event.MakeKey(k), s)
			}
		}
	}
	return e, nil
}
