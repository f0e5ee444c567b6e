package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsec/vigil/internal/detect/sigma"
	"github.com/vigilsec/vigil/internal/rulepack"
)

// sigmaOptions are the flags that load Sigma rules (hunt, rules check, rules test).
type sigmaOptions struct {
	rules        []string
	builtin      bool   // load the rule pack shipped in the binary first
	minLevel     string // drop rules and correlations below this level
	mapping      string
	placeholders string
	// corrLateness is how far behind the newest event time a Sigma correlation
	// group may fall before it closes (serve); 0: never by time (hunt, whose
	// files may interleave periods)
	corrLateness time.Duration
}

func (o *sigmaOptions) register(fs interface {
	Func(string, string, func(string) error)
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
}) {
	fs.Func("rules", "Sigma rule file or directory (repeatable); rules are validated and compiled before the run", func(s string) error {
		o.rules = append(o.rules, s)
		return nil
	})
	fs.BoolVar(&o.builtin, "builtin-rules", true, "run the Sigma rule pack shipped in the binary (vigil rules check --builtin lists it); rules from --rules are added to it")
	fs.StringVar(&o.minLevel, "min-level", "", "run only Sigma rules and correlations of this level or above: informational, low, medium, high, critical (rules a kept correlation uses are kept)")
	o.registerCompile(fs)
}

// registerCompile registers the flags that change how rules compile.
func (o *sigmaOptions) registerCompile(fs interface {
	StringVar(*string, string, string, string)
}) {
	fs.StringVar(&o.mapping, "sigma-mapping", "", "YAML file of Sigma logsource routes and field names replacing or adding to the embedded mapping")
	fs.StringVar(&o.placeholders, "placeholders", "", "YAML file of values for Sigma %placeholders% (name: [values]); rules using an unset one are rejected")
}

// sigmaLoad is what loading rules produced.
type sigmaLoad struct {
	collection   *sigma.Collection
	ruleset      *sigma.Ruleset
	correlations *sigma.CorrelationEngine
	mapping      *sigma.Mapping    // nil: the default
	names        map[string]string // rule and correlation name -> the id signals carry
	corrOpts     sigma.CorrelationOptions
}

// loadSigma loads and compiles the rules named by o. A path that cannot be read is
// an error; rules that do not validate or compile are counted in the result.
func loadSigma(paths []string, o sigmaOptions) (*sigmaLoad, error) {
	var pack fs.FS
	if o.builtin {
		pack = rulepack.FS()
	}
	c, err := sigma.LoadFS(pack, paths...)
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	if o.minLevel != "" {
		if err := keepLevel(c, o.minLevel); err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: err}
		}
	}
	opts := sigma.Options{}
	if o.mapping != "" {
		data, err := readSmallFile(o.mapping)
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--sigma-mapping: %w", err)}
		}
		m, err := sigma.ParseMapping(data)
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--sigma-mapping %s: %w", o.mapping, err)}
		}
		opts.Mapping = sigma.DefaultMapping().Merge(m)
	}
	if o.placeholders != "" {
		data, err := readSmallFile(o.placeholders)
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--placeholders: %w", err)}
		}
		if err := yaml.Unmarshal(data, &opts.Placeholders); err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--placeholders %s: want name: [values]: %w", o.placeholders, err)}
		}
	}
	rs, err := sigma.Compile(c, opts)
	if err != nil {
		return nil, err
	}
	// Files of different periods may be hunted at once: their event times
	// interleave, so groups are never expired by time, only by the group bound.
	lateness := o.corrLateness
	if lateness <= 0 {
		lateness = -1
	}
	corrOpts := sigma.CorrelationOptions{Mapping: opts.Mapping, Lateness: lateness}
	ce, err := sigma.NewCorrelationEngine(c, rs, corrOpts)
	if err != nil {
		return nil, err
	}
	l := &sigmaLoad{collection: c, ruleset: rs, correlations: ce, mapping: opts.Mapping, names: map[string]string{}, corrOpts: corrOpts}
	for _, r := range c.Rules {
		if r.Name != "" {
			l.names[r.Name] = sigma.RuleRef(r)
		}
	}
	for _, r := range c.Correlations {
		if r.Name != "" && r.ID != "" {
			l.names[r.Name] = r.ID
		}
	}
	return l, nil
}

// levelRank orders Sigma levels; a rule without a level ranks as informational.
var levelRank = map[string]int{"": 0, "informational": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

// keepLevel drops the rules and correlations of c below level min, except the ones
// a kept correlation uses (directly or through a chain), which it needs as input.
func keepLevel(c *sigma.Collection, min string) error {
	lim, ok := levelRank[strings.ToLower(min)]
	if !ok || min == "" {
		return fmt.Errorf("--min-level %q: want informational, low, medium, high or critical", min)
	}
	needed := map[string]bool{}
	var need func(refs []string)
	byRef := map[string]*sigma.Correlation{}
	for _, r := range c.Correlations {
		byRef[r.ID], byRef[r.Name] = r, r
	}
	need = func(refs []string) {
		for _, ref := range refs {
			if ref == "" || needed[ref] {
				continue
			}
			needed[ref] = true
			if cr := byRef[ref]; cr != nil {
				needed[cr.ID], needed[cr.Name] = true, true
				need(cr.Rules)
			}
		}
	}
	for _, r := range c.Correlations {
		if levelRank[r.Level] >= lim {
			need(r.Rules)
		}
	}
	keep := func(m sigma.Meta) bool {
		return levelRank[m.Level] >= lim || (m.ID != "" && needed[m.ID]) || (m.Name != "" && needed[m.Name])
	}
	rules := c.Rules[:0]
	for _, r := range c.Rules {
		if keep(r.Meta) {
			rules = append(rules, r)
		}
	}
	c.Rules = rules
	corrs := c.Correlations[:0]
	for _, r := range c.Correlations {
		if keep(r.Meta) {
			corrs = append(corrs, r)
		}
	}
	c.Correlations = corrs
	return nil
}

// detector returns the Sigma detector of the loaded rules, correlations included.
func (l *sigmaLoad) detector() *sigma.Detector {
	return sigma.NewDetector(l.ruleset).WithCorrelations(l.correlations)
}

// freshDetector is a detector over the same compiled rules with correlation
// state of its own (a cluster partition's).
func (l *sigmaLoad) freshDetector() (*sigma.Detector, error) {
	ce, err := sigma.NewCorrelationEngine(l.collection, l.ruleset, l.corrOpts)
	if err != nil {
		return nil, err
	}
	return sigma.NewDetector(l.ruleset).WithCorrelations(ce), nil
}

func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path) // #nosec G304 G703 -- the user names the file
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 16<<20+1))
	if err != nil {
		return nil, err
	}
	if len(data) > 16<<20 {
		return nil, fmt.Errorf("%s: larger than 16 MiB", path)
	}
	return data, nil
}

// rejected lists every document that did not load or compile.
func (l *sigmaLoad) rejected() []*sigma.LoadError {
	out := append([]*sigma.LoadError(nil), l.collection.Rejected...)
	out = append(out, l.ruleset.Rejected...)
	return append(out, l.correlations.Rejected...)
}

// writeSummary prints what loading rules gave: counts, reasons, and up to max
// rejections (all when max < 0).
func (l *sigmaLoad) writeSummary(w io.Writer, max int) {
	c, rs := l.collection, l.ruleset
	rej := l.rejected()
	fmt.Fprintf(w, "sigma: %d files, %d rules compiled, %d correlations, %d filters, %d rejected, %d without a log source mapping\n",
		c.Files, rs.Loaded, len(c.Correlations)-len(l.correlations.Rejected), len(c.Filters), len(rej), len(rs.Unrouted))
	if len(rej) > 0 {
		by := map[string]int{}
		for _, e := range rej {
			by[e.Reason]++
		}
		reasons := make([]string, 0, len(by))
		for r, n := range by {
			reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
		}
		sort.Strings(reasons)
		fmt.Fprintf(w, "  rejected by reason: %s\n", strings.Join(reasons, ", "))
	}
	for i, e := range rej {
		if max >= 0 && i >= max {
			fmt.Fprintf(w, "  ... %d more (vigil rules check lists them all)\n", len(rej)-max)
			break
		}
		fmt.Fprintf(w, "  %s: %s\n", e.Reason, e)
	}
	if len(rs.Unrouted) > 0 && max < 0 {
		by := map[string]int{}
		for _, r := range rs.Unrouted {
			by[r.LogSource.String()]++
		}
		keys := make([]string, 0, len(by))
		for k := range by {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "  log sources without a mapping (rules loaded, no event reaches them):\n")
		for _, k := range keys {
			fmt.Fprintf(w, "    %-55s %d\n", k, by[k])
		}
	}
}

const rulesHelp = `
Work with Sigma rules.

  vigil rules check PATH...   validate and compile rules; list every rejection with
                              its file, line and reason (exit 1 when any is rejected)
  vigil rules test FILE...    run rule unit tests (see "vigil rules test --help")
`

func runRules(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(env.Stdout, strings.TrimLeft(rulesHelp, "\n"))
		if len(args) == 0 {
			return &ExitError{Code: ExitUsage, Err: errors.New("no subcommand: want check or test")}
		}
		return nil
	}
	switch args[0] {
	case "check":
		return runRulesCheck(ctx, env, args[1:])
	case "test":
		return runRulesTest(ctx, env, args[1:])
	}
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf("unknown subcommand %q: want check or test", args[0])}
}

const rulesCheckHelp = `
Validate Sigma rules, correlation rules and meta filters against the Sigma 2.1
specification and compile them. Every rejected document is listed with its file,
line and reason; rules whose log source has no mapping are counted by log source.
Exit status 1 when a document is rejected.
`

func runRulesCheck(_ context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "rules check", "PATH...", rulesCheckHelp)
	var o sigmaOptions
	fs.BoolVar(&o.builtin, "builtin", false, "check the rule pack shipped in the binary (with the PATHs, if any)")
	o.registerCompile(fs)
	paths, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 && !o.builtin {
		fs.Usage()
		return &ExitError{Code: ExitUsage, Err: errors.New("no PATH given (or --builtin)")}
	}
	l, err := loadSigma(paths, o)
	if err != nil {
		return err
	}
	l.writeSummary(env.Stdout, -1)
	if n := len(l.rejected()); n > 0 {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%d documents rejected", n)}
	}
	return nil
}
