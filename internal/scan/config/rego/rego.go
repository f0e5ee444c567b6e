// Package rego runs users' Rego policies over configuration documents with
// OPA.
//
// # Convention
//
// Every .rego file under the policy directories is loaded once (files
// ending in _test.rego are policy tests and are left out). Policies may be
// in any package (conftest's `package main` works unchanged). In each
// package, the rules named deny, warn (and conftest's deny_<name> and
// warn_<name>) are the checks: each value they produce is a finding. A value
// is either a string (the message) or an object:
//
//	{"msg": "...", "severity": "high", "id": "ACME-001", "title": "...",
//	 "remediation": "...", "references": ["..."], "line": 12,
//	 "resource": "aws_s3_bucket.logs"}
//
// All fields but msg are optional. The finding's line is line, or the
// block of the Terraform resource named by resource, or the Kubernetes
// object's first line (0 for Dockerfiles and Terraform otherwise). The finding's rule id is id, or the
// rule's path without "data." (main.deny); its severity is severity, or
// medium for deny and low for warn. A rule that is simply true (deny if
// {...}) is one finding whose message is the rule's path.
//
// input is one document, with input.input_kind saying what it is:
//
//   - "kubernetes": one Kubernetes object as its JSON (List items one by one);
//   - "dockerfile": {"stages": [{"from": "golang:1.22", "name": "build",
//     "from_stage": "" (the earlier stage FROM names, if it does), "line": 1,
//     "instructions": [{"cmd": "RUN", "args": ["..."], "flags": {...},
//     "json": false, "line": 3, "end_line": 4, "heredocs": [...]}]}],
//     "args": [the ARG instructions before the first FROM]};
//   - "terraform": one .tf file, {"resource": {type: {name: attrs}},
//     "data": {...}}, attribute values evaluated as Vigil's checks evaluate
//     them (variable defaults and locals resolved; unknown values null;
//     nested blocks as lists of objects).
//
// Policies run with OPA's built-ins except those reaching the network
// (http.send, net.lookup_ip_addr): a scan reads files and nothing else.
package rego

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/vigilsec/vigil/internal/scan"
)

// Result is one value a deny or warn rule produced for a document.
type Result struct {
	// Rule is the rule's path without "data." (main.deny).
	Rule string
	// Warn is true for warn rules.
	Warn        bool
	ID          string // the policy's id, or Rule
	Msg         string
	Title       string
	Remediation string
	References  []string
	Severity    scan.Severity // medium for deny and low for warn when the policy says nothing
	Line        int           // 0 unless the policy names one
	// Resource is a Terraform resource address the policy names
	// (aws_s3_bucket.logs): the finding points at its block.
	Resource string
}

// Engine evaluates a set of compiled policies; it is safe for concurrent
// use.
type Engine struct {
	files int
	rules []string // data.main.deny, ...
	query rego.PreparedEvalQuery
}

// ruleName matches the names of check rules.
var ruleName = regexp.MustCompile(`^(deny|warn)(_[A-Za-z0-9_]+)?$`)

// Load compiles every .rego file under dirs and prepares the query over
// their deny and warn rules. A file that does not parse or compile is an
// error naming it and the line. With no rules found, the engine is empty
// (Eval returns nothing).
func Load(ctx context.Context, dirs []string) (*Engine, error) {
	modules := map[string]*ast.Module{}
	for _, dir := range dirs {
		if err := loadDir(dir, modules); err != nil {
			return nil, fmt.Errorf("loading policies from %s: %w", dir, err)
		}
	}
	e := &Engine{files: len(modules)}
	if len(modules) == 0 {
		return e, nil
	}
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = slices.DeleteFunc(slices.Clone(caps.Builtins), func(b *ast.Builtin) bool {
		return b.Name == "http.send" || b.Name == "net.lookup_ip_addr"
	})
	compiler := ast.NewCompiler().WithCapabilities(caps)
	compiler.Compile(modules)
	if compiler.Failed() {
		return nil, fmt.Errorf("compiling policies: %w", compileError(compiler.Errors))
	}

	seen := map[string]bool{}
	for _, path := range slices.Sorted(maps.Keys(modules)) {
		m := modules[path]
		for _, r := range m.Rules {
			ref := r.Head.Ref()
			if len(ref) != 1 {
				continue
			}
			name, ok := ref[0].Value.(ast.Var)
			if !ok || !ruleName.MatchString(string(name)) {
				continue
			}
			full := m.Package.Path.Append(ast.StringTerm(string(name))).String()
			if !seen[full] {
				seen[full] = true
				e.rules = append(e.rules, full)
			}
		}
	}
	slices.Sort(e.rules)
	if len(e.rules) == 0 {
		return e, nil
	}
	var q strings.Builder
	for i, r := range e.rules {
		if i > 0 {
			q.WriteString("; ")
		}
		// a comprehension is always defined: an undefined rule gives []
		fmt.Fprintf(&q, "r%d := [v | v := %s]", i, r)
	}
	pq, err := rego.New(rego.Query(q.String()), rego.Compiler(compiler)).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("preparing the policy query: %w", err)
	}
	e.query = pq
	return e, nil
}

// loadDir parses the .rego files under dir (not following links out of it)
// into modules, keyed by their path.
func loadDir(dir string, modules map[string]*ast.Module) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer func() { _ = root.Close() }() // read-only: nothing to flush
	fsys := root.FS()
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".rego") || strings.HasSuffix(p, "_test.rego") {
			return nil
		}
		name := filepath.Join(dir, filepath.FromSlash(p))
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("reading policy %s: %w", name, err)
		}
		m, err := parseModule(name, string(src))
		if err != nil {
			return err
		}
		modules[name] = m
		return nil
	})
}

// parseModule parses a policy in Rego v1, or in v0 syntax when v1 fails and
// v0 succeeds (older policies: deny[msg] { ... }).
func parseModule(path, src string) (*ast.Module, error) {
	m, err := ast.ParseModuleWithOpts(path, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err == nil {
		return m, nil
	}
	if m0, err0 := ast.ParseModuleWithOpts(path, src, ast.ParserOptions{RegoVersion: ast.RegoV0}); err0 == nil {
		return m0, nil
	}
	return nil, fmt.Errorf("parsing policy: %w", compileError(err))
}

// compileError formats OPA's errors as "file:line: message" lines.
func compileError(err error) error {
	var errs ast.Errors
	if !errors.As(err, &errs) {
		return err
	}
	var lines []string
	for _, e := range errs {
		if e.Location != nil {
			lines = append(lines, fmt.Sprintf("%s:%d: %s", e.Location.File, e.Location.Row, e.Message))
		} else {
			lines = append(lines, e.Message)
		}
	}
	return errors.New(strings.Join(lines, "; "))
}

// Files returns the number of policy files loaded.
func (e *Engine) Files() int { return e.files }

// Rules returns the deny and warn rules found (data.main.deny, ...).
func (e *Engine) Rules() []string { return slices.Clone(e.rules) }

// Eval evaluates the rules over one document (plain data: maps, slices,
// strings, numbers, booleans) and returns their results, in rule order.
func (e *Engine) Eval(ctx context.Context, input map[string]any) ([]Result, error) {
	if len(e.rules) == 0 {
		return nil, nil
	}
	// converting the input here and passing it parsed is about twice as
	// fast as EvalInput (BenchmarkRegoPerDocument)
	v, err := ast.InterfaceToValue(input)
	if err != nil {
		return nil, fmt.Errorf("converting policy input: %w", err)
	}
	rs, err := e.query.Eval(ctx, rego.EvalParsedInput(v))
	if err != nil {
		return nil, fmt.Errorf("evaluating policies: %w", err)
	}
	if len(rs) == 0 {
		return nil, nil
	}
	var out []Result
	for i, r := range e.rules {
		vals, _ := rs[0].Bindings[fmt.Sprintf("r%d", i)].([]any)
		short := strings.TrimPrefix(r, "data.")
		warn := strings.HasPrefix(short[strings.LastIndexByte(short, '.')+1:], "warn")
		for _, v := range vals {
			out = append(out, results(short, warn, v)...)
		}
	}
	return out, nil
}

// results turns a rule's value into results: a set or array gives one per
// element, a string or object one, true one.
func results(rule string, warn bool, v any) []Result {
	base := Result{Rule: rule, Warn: warn, ID: rule, Severity: scan.SeverityMedium}
	if warn {
		base.Severity = scan.SeverityLow
	}
	switch x := v.(type) {
	case []any:
		var out []Result
		for _, e := range x {
			if r, ok := one(base, e); ok {
				out = append(out, r)
			}
		}
		return out
	case bool:
		if x {
			base.Msg = rule
			return []Result{base}
		}
		return nil
	}
	if r, ok := one(base, v); ok {
		return []Result{r}
	}
	return nil
}

func one(r Result, v any) (Result, bool) {
	switch x := v.(type) {
	case string:
		r.Msg = x
		return r, true
	case map[string]any:
		r.Msg, _ = x["msg"].(string)
		if s, ok := x["id"].(string); ok && s != "" {
			r.ID = s
		}
		r.Title, _ = x["title"].(string)
		r.Remediation, _ = x["remediation"].(string)
		r.Resource, _ = x["resource"].(string)
		if s, ok := x["severity"].(string); ok {
			if sev, err := scan.ParseSeverity(s); err == nil && sev != scan.SeverityUnknown {
				r.Severity = sev
			}
		}
		if refs, ok := x["references"].([]any); ok {
			for _, ref := range refs {
				if s, ok := ref.(string); ok {
					r.References = append(r.References, s)
				}
			}
		}
		switch l := x["line"].(type) {
		case float64:
			r.Line = int(l)
		case int64:
			r.Line = int(l)
		case int:
			r.Line = l
		case interface{ Int64() (int64, error) }:
			if n, err := l.Int64(); err == nil {
				r.Line = int(n)
			}
		}
		if r.Msg == "" {
			r.Msg = r.Title
		}
		if r.Msg == "" {
			r.Msg = r.Rule
		}
		return r, true
	}
	return r, false
}
