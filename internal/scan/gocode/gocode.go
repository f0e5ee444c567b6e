package gocode

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/tools/go/callgraph/vta"
	"golang.org/x/tools/go/packages"
	"golang.org/x/tools/go/ssa"
	"golang.org/x/tools/go/ssa/ssautil"

	"github.com/vigilsec/vigil/internal/scan"
)

// ID is the scanner's id.
const ID = "gocode"

// Options configure the scanner.
type Options struct {
	// Logger receives progress (per module); nil discards.
	Logger *slog.Logger
	// Tests analyses _test.go files too (never for hard-coded credentials).
	Tests bool
	// AllowDownload lets the go command fetch missing modules through
	// GOPROXY; by default it may not (GOPROXY=off): a module whose
	// dependencies are not in the module cache is reported as a Problem.
	AllowDownload bool
	// Env is added to the go command's environment.
	Env []string
	// Limits bound the taint analysis (zero fields: DefaultLimits).
	Limits Limits
}

// Scanner analyses the Go modules of a target.
type Scanner struct {
	opts       Options
	log        *slog.Logger
	inspect    func(*engine)    // tests: look at the engine after a module's analysis
	onAnalysis func(*fanalysis) // tests: look at each function's analysis
}

// New returns a scanner.
func New(opts Options) *Scanner {
	l := opts.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &Scanner{opts: opts, log: l}
}

// ID returns "gocode".
func (s *Scanner) ID() string { return ID }

// module is one go.mod of the target.
type module struct {
	rel  string // the go.mod's path relative to the target root
	dir  string // the module's directory (absolute)
	path string // the module path
}

// Scan analyses every module of t. A module that cannot be loaded (no go
// toolchain, missing dependencies, build errors) is reported through
// problem and the scan goes on with what could be loaded.
func (s *Scanner) Scan(ctx context.Context, t *scan.Target, emit func(scan.Finding), problem func(scan.Problem)) error {
	mods := findModules(t)
	_, lookErr := exec.LookPath("go")
	for _, m := range mods {
		if err := ctx.Err(); err != nil {
			return err
		}
		r := &moduleRun{s: s, t: t, m: m, problem: problem}
		r.scan(ctx, lookErr == nil)
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, f := range r.finish() {
			emit(f)
		}
	}
	return nil
}

// findModules returns the target's go.mod files outside vendor/ and
// testdata/ directories, by path.
func findModules(t *scan.Target) []module {
	var out []module
	for _, f := range t.Files {
		if path.Base(f.Path) != "go.mod" || skippedDir(path.Dir(f.Path)) {
			continue
		}
		m := module{rel: f.Path, dir: filepath.Dir(t.Abs(f))}
		if data, err := os.ReadFile(t.Abs(f)); err == nil {
			m.path = modfile.ModulePath(data)
		}
		if m.path == "" {
			m.path = path.Dir(f.Path)
		}
		out = append(out, m)
	}
	return out
}

// skippedDir: a directory inside vendor/ or testdata/ (relative, slash).
func skippedDir(dir string) bool {
	for _, c := range strings.Split(dir, "/") {
		if c == "vendor" || c == "testdata" {
			return true
		}
	}
	return false
}

// moduleRun is the scan of one module.
type moduleRun struct {
	s        *Scanner
	t        *scan.Target
	m        module
	problem  func(scan.Problem)
	findings []scan.Finding
}

func (r *moduleRun) report(format string, args ...any) {
	if r.problem != nil {
		r.problem(scan.Problem{Scanner: ID, Path: r.m.rel, Err: fmt.Sprintf("module %s: ", r.m.path) + fmt.Sprintf(format, args...)})
	}
}

func (r *moduleRun) env() []string {
	env := append(os.Environ(), "GOWORK=off", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if !r.s.opts.AllowDownload {
		env = append(env, "GOPROXY=off")
	}
	return append(env, r.s.opts.Env...)
}

func (r *moduleRun) scan(ctx context.Context, haveGo bool) {
	if !haveGo {
		r.report("go toolchain not found in PATH: not type-checked, only the syntax checks ran")
		r.syntaxOnly(nil)
		return
	}
	cfg := &packages.Config{
		Context: ctx,
		Mode:    packages.LoadSyntax | packages.NeedModule,
		Dir:     r.m.dir,
		Env:     r.env(),
		Tests:   r.s.opts.Tests,
	}
	r.s.log.DebugContext(ctx, "loading go module", "module", r.m.path, "dir", r.m.dir)
	pkgs, err := packages.Load(cfg, "./...")
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		msg := err.Error()
		if _, after, ok := strings.Cut(msg, "stderr: "); ok {
			msg = after
		}
		r.report("loading packages: %s", oneLine(msg))
		r.syntaxOnly(nil)
		return
	}
	if len(pkgs) == 0 {
		// go list failed as a whole (the go/packages driver then returns
		// nothing, without an error): ask it why.
		r.report("no packages loaded: %s", r.listError(ctx))
		r.syntaxOnly(nil)
		return
	}
	r.loadErrors(pkgs)
	r.crypto(pkgs)
	if err := r.taint(ctx, pkgs); err != nil && ctx.Err() == nil {
		r.report("%v", err)
	}
}

// listError runs go list in the module and returns the first line of what
// it says on failure.
func (r *moduleRun) listError(ctx context.Context) string {
	cmd := exec.CommandContext(ctx, "go", "list", "-e", "./...")
	cmd.Dir = r.m.dir
	cmd.Env = r.env()
	out, err := cmd.CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "go: downloading") {
			if err != nil || strings.HasPrefix(l, "go: ") {
				return oneLine(l)
			}
		}
	}
	if err != nil {
		return err.Error()
	}
	return "go list found no packages"
}

// loadErrors reports the packages that did not load, in one problem
// naming the first causes (go command errors before parse errors before
// type errors: a missing module shows as the first and causes the others).
func (r *moduleRun) loadErrors(pkgs []*packages.Package) {
	n := 0
	for _, p := range pkgs {
		if len(p.Errors) > 0 || p.IllTyped {
			n++
		}
	}
	if n == 0 {
		return
	}
	type cause struct {
		rank int
		text string
	}
	var causes []cause
	seen := map[string]bool{}
	packages.Visit(pkgs, nil, func(p *packages.Package) {
		for _, e := range p.Errors {
			text := errorText(e)
			if text == "" || seen[text] {
				continue
			}
			seen[text] = true
			rank := 3
			switch e.Kind {
			case packages.ListError:
				rank = 0
			case packages.ParseError:
				rank = 1
			case packages.TypeError:
				rank = 2
			}
			causes = append(causes, cause{rank, p.PkgPath + ": " + text})
		}
	})
	slices.SortStableFunc(causes, func(a, b cause) int { return a.rank - b.rank })
	var texts []string
	for _, c := range causes[:min(3, len(causes))] {
		texts = append(texts, c.text)
	}
	msg := fmt.Sprintf("%d of %d packages did not load (not analysed for injection): %s", n, len(pkgs), strings.Join(texts, "; "))
	if len(causes) > len(texts) {
		msg += fmt.Sprintf(" (+%d more errors)", len(causes)-len(texts))
	}
	r.report("%s", msg)
}

// errorText is the first meaningful line of a load error, with its file's
// base name.
func errorText(e packages.Error) string {
	msg := ""
	for _, l := range strings.Split(e.Msg, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(l, "-: "))
		if l != "" && !strings.HasPrefix(l, "# ") {
			msg = l
			break
		}
	}
	msg = strings.TrimSuffix(strings.TrimPrefix(msg, "./"), "; to add:")
	if msg == "" {
		return ""
	}
	if e.Pos != "" && e.Pos != "-" {
		return oneLine(filepath.Base(e.Pos) + ": " + msg)
	}
	return oneLine(msg)
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " ..."
	}
	if len(s) > 300 {
		s = s[:297] + "..."
	}
	return s
}

// taint builds SSA for the well-typed packages and runs the analysis.
func (r *moduleRun) taint(ctx context.Context, pkgs []*packages.Package) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.s.log.ErrorContext(ctx, "taint analysis panicked", "module", r.m.path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("analysing for injection: internal error: %v", p)
		}
	}()
	e, pos, runErr := analyse(ctx, pkgs, r.t.Root, r.s)
	if e == nil {
		return nil
	}
	r.findings = append(r.findings, taintFindings(e, pos, r.t.Repository)...)
	if len(e.partial) > 0 {
		names := make([]string, 0, len(e.partial))
		for fn := range e.partial {
			names = append(names, funcName(fn))
		}
		slices.Sort(names)
		msg := fmt.Sprintf("analysing for injection: %d functions too costly to analyse fully (flows through them may be missed): %s", len(names), strings.Join(names[:min(5, len(names))], ", "))
		if len(names) > 5 {
			msg += ", ..."
		}
		r.report("%s", msg)
	}
	if errors.Is(runErr, errBudget) {
		return fmt.Errorf("analysing for injection: %w after %d instructions (findings so far kept)", runErr, e.steps)
	}
	if runErr != nil && ctx.Err() == nil {
		return fmt.Errorf("analysing for injection: %w", runErr)
	}
	return nil
}

// analyse builds SSA for the well-typed packages (their dependencies
// without code), the VTA call graph, and runs the taint engine over the
// packages' functions. It returns a nil engine when no package is usable.
func analyse(ctx context.Context, pkgs []*packages.Package, root string, s *Scanner) (*engine, *positions, error) {
	var good []*packages.Package
	var files []*ast.File
	for _, p := range pkgs {
		if !p.IllTyped && p.Types != nil && p.TypesInfo != nil {
			good = append(good, p)
			files = append(files, p.Syntax...)
		}
	}
	if len(good) == 0 {
		return nil, nil, nil
	}
	prog, ssaPkgs := ssautil.Packages(good, ssa.InstantiateGenerics)
	prog.Build()
	inModule := map[*ssa.Package]bool{}
	for _, p := range ssaPkgs {
		if p != nil {
			inModule[p] = true
		}
	}
	all := ssautil.AllFunctions(prog)
	cg := vta.CallGraph(all, nil)
	var fns []*ssa.Function
	for fn := range all {
		if fn.Blocks == nil {
			continue
		}
		if p := fn.Package(); p != nil && !inModule[p] {
			continue
		}
		if !s.opts.Tests {
			if f := prog.Fset.File(fn.Pos()); f != nil && strings.HasSuffix(f.Name(), "_test.go") {
				continue
			}
		}
		fns = append(fns, fn)
	}
	e := newEngine(prog, cg, s.opts.Limits)
	e.onAnalysis = s.onAnalysis
	if err := ctx.Err(); err != nil {
		return e, newPositions(prog.Fset, root, files), err
	}
	runErr := e.run(ctx, fns)
	if s.inspect != nil {
		s.inspect(e)
	}
	return e, newPositions(prog.Fset, root, files), runErr
}

// taintFindings turns the engine's hits into findings.
func taintFindings(e *engine, pos *positions, repo string) []scan.Finding {
	hits := make([]*hit, 0, len(e.found))
	for _, h := range e.found {
		hits = append(hits, h)
	}
	slices.SortFunc(hits, func(a, b *hit) int {
		return cmp.Or(e.comparePos(a.sink.pos, b.sink.pos), e.comparePos(e.sources[a.src].pos, e.sources[b.src].pos), cmp.Compare(a.sink.rule.ID, b.sink.rule.ID))
	})
	out := make([]scan.Finding, 0, len(hits))
	for _, h := range hits {
		src := e.sources[h.src]
		rule := h.sink.rule
		srcLoc := pos.location(src.pos)
		sinkLoc := pos.location(h.sink.pos)
		srcText := srcLoc.Snippet
		if srcText == "" {
			srcText = "?"
		}
		if arg := pos.callArgText(src.pos); arg != "" {
			srcText += "(" + arg + ")"
		}
		sinkText := sinkLoc.Snippet
		trace := []scan.Location{srcLoc}
		steps := h.tr.list(e.lim.Trace)
		for _, p := range steps[min(1, len(steps)):] {
			if p == h.sink.pos {
				continue
			}
			trace = append(trace, pos.location(p))
		}
		trace = append(trace, sinkLoc)
		msg := fmt.Sprintf("%s from %s (%s:%d) reaches %s (%s:%d)", src.kind, srcText,
			path.Base(srcLoc.Path), srcLoc.StartLine, sinkText, path.Base(sinkLoc.Path), sinkLoc.StartLine)
		if n := len(trace) - 2; n > 0 {
			msg += fmt.Sprintf(" through %d call", n)
			if n > 1 {
				msg += "s"
			}
		}
		out = append(out, scan.Finding{
			RuleID:      rule.ID,
			Kind:        scan.KindCode,
			Severity:    rule.Severity,
			Title:       rule.Title,
			Message:     msg,
			Location:    sinkLoc,
			Remediation: rule.Remediation,
			References:  rule.References,
			Trace:       trace,
			Subject:     scan.Subject{Repository: repo},
			Key:         funcName(h.sink.instr.Parent()) + "|" + sinkText + "|" + src.kind + " " + srcText + "|" + funcName(src.fn),
		})
	}
	return out
}

// funcName names a function for keys and call paths: "pkg/path.Func",
// "pkg/path.Type.Method", closures "pkg/path.Func$1".
func funcName(fn *ssa.Function) string {
	if fn == nil {
		return ""
	}
	if o := fn.Origin(); o != nil {
		fn = o
	}
	if k := funcKey(fn); k != "" {
		return k
	}
	if p := fn.Parent(); p != nil {
		return funcName(p) + strings.TrimPrefix(fn.Name(), p.Name())
	}
	if fn.Pkg != nil {
		return fn.Pkg.Pkg.Path() + "." + fn.Name()
	}
	return fn.String()
}

// finish returns the module's findings, deduplicated and sorted, with
// fingerprints; findings of one rule and key in one file are numbered so
// their fingerprints differ.
func (r *moduleRun) finish() []scan.Finding {
	fs := r.findings
	slices.SortFunc(fs, func(a, b scan.Finding) int {
		return cmp.Or(strings.Compare(a.Location.Path, b.Location.Path), cmp.Compare(a.Location.StartLine, b.Location.StartLine),
			cmp.Compare(a.Location.StartCol, b.Location.StartCol), strings.Compare(a.RuleID, b.RuleID),
			strings.Compare(a.Message, b.Message))
	})
	fs = slices.CompactFunc(fs, func(a, b scan.Finding) bool {
		return a.RuleID == b.RuleID && a.Location == b.Location && a.Message == b.Message
	})
	seen := map[string]int{}
	for i := range fs {
		f := &fs[i]
		k := f.RuleID + "\x00" + f.Location.Path + "\x00" + f.Key
		seen[k]++
		if n := seen[k]; n > 1 {
			f.Key += fmt.Sprintf("#%d", n)
		}
		f.Fingerprint = f.ComputeFingerprint()
	}
	return fs
}

// syntaxOnly runs the syntax checks on the module's files, parsed without
// types (the module could not be loaded). files, when not nil, are the
// absolute file names to check.
func (r *moduleRun) syntaxOnly(files []string) {
	if files == nil {
		files = r.moduleFiles()
	}
	fset := token.NewFileSet()
	var asts []*ast.File
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			if r.problem != nil {
				r.problem(scan.Problem{Scanner: ID, Path: relPath(r.t.Root, name), Err: oneLine(fmt.Sprintf("parsing Go file: %v", err))})
			}
			if f == nil {
				continue
			}
		}
		asts = append(asts, f)
	}
	c := &checker{fset: fset, root: r.t.Root, repo: r.t.Repository}
	for _, f := range asts {
		r.findings = append(r.findings, c.file(f, nil)...)
	}
}

// moduleFiles lists the module's .go files from the target: under its
// directory, not in a nested module, vendor/ or testdata/.
func (r *moduleRun) moduleFiles() []string {
	dir := path.Dir(r.m.rel)
	nested := map[string]bool{}
	for _, f := range r.t.Files {
		if path.Base(f.Path) == "go.mod" && f.Path != r.m.rel {
			nested[path.Dir(f.Path)] = true
		}
	}
	var out []string
	for _, f := range r.t.Files {
		if !strings.HasSuffix(f.Path, ".go") || (!r.s.opts.Tests && strings.HasSuffix(f.Path, "_test.go")) {
			continue
		}
		if dir != "." && !strings.HasPrefix(f.Path, dir+"/") {
			continue
		}
		rest := f.Path
		if dir != "." {
			rest = strings.TrimPrefix(f.Path, dir+"/")
		}
		if skippedDir(path.Dir(rest)) {
			continue
		}
		inNested := false
		for d := path.Dir(f.Path); d != dir && d != "." && d != "/"; d = path.Dir(d) {
			if nested[d] {
				inNested = true
				break
			}
		}
		if !inNested {
			out = append(out, r.t.Abs(f))
		}
	}
	return out
}

func relPath(root, name string) string {
	if r, err := filepath.Rel(root, name); err == nil {
		return filepath.ToSlash(r)
	}
	return filepath.ToSlash(name)
}

var _ scan.Scanner = (*Scanner)(nil)
