package gocode

import (
	"cmp"
	"context"
	"fmt"
	"go/types"
	"slices"
	"strings"

	"golang.org/x/tools/go/callgraph"
	"golang.org/x/tools/go/callgraph/cha"
	"golang.org/x/tools/go/callgraph/vta"
	"golang.org/x/tools/go/packages"
	"golang.org/x/tools/go/ssa"
	"golang.org/x/tools/go/ssa/ssautil"
)

// Reachable reports which of symbols the Go module in moduleDir can call,
// like govulncheck's symbol level, with the scanner's default options (no
// downloads). See (*Scanner).Reachable.
func Reachable(ctx context.Context, moduleDir string, symbols []string) (map[string][]string, error) {
	return New(Options{}).Reachable(ctx, moduleDir, symbols)
}

// Reachable reports which of symbols the Go module in moduleDir can call.
// Symbols are package-qualified as OSV Go records list them under
// affected[].ecosystem_specific.imports[] ({path, symbols}):
// "golang.org/x/net/html.Parse", and "golang.org/x/net/http2.Framer.ReadFrame"
// for a method (of the type or its pointer).
//
// The entries are the main functions of the module's main packages, or,
// when it has none, every exported function and method of its packages;
// package initialisers always. Calls through interfaces and function values
// follow a VTA call graph (refined from CHA over what the entries reach), so
// an interface method counts as called only for the types that flow to the
// call. For each symbol called, the result holds a shortest call path from
// an entry to it (function names, "pkg/path.Func", "pkg/path.Type.Method");
// symbols not called are absent.
//
// The whole program is loaded from source (dependencies too: a vulnerable
// symbol may be called from another dependency), once the import graph shows
// that a symbol's package is imported at all. A package that does not load
// is an error: reachability in a partial program would be a guess.
func (s *Scanner) Reachable(ctx context.Context, moduleDir string, symbols []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(symbols) == 0 {
		return out, nil
	}
	r := &moduleRun{s: s, m: module{dir: moduleDir}}
	// A cheap first look: the import graph only.
	cfg := &packages.Config{Context: ctx, Mode: packages.NeedName | packages.NeedImports | packages.NeedDeps, Dir: moduleDir, Env: r.env(), Tests: s.opts.Tests}
	graph, err := packages.Load(cfg, "./...")
	if err != nil {
		return nil, fmt.Errorf("listing packages of %s: %w", moduleDir, err)
	}
	imported := map[string]bool{}
	var loadErrs []string
	packages.Visit(graph, nil, func(p *packages.Package) {
		imported[p.PkgPath] = true
		for _, e := range p.Errors {
			if len(loadErrs) < 3 {
				loadErrs = append(loadErrs, p.PkgPath+": "+errorText(e))
			}
		}
	})
	if len(loadErrs) > 0 {
		return nil, fmt.Errorf("listing packages of %s: %s", moduleDir, strings.Join(loadErrs, "; "))
	}
	var wanted []string
	for _, sym := range symbols {
		for _, c := range splitSymbol(sym) {
			if imported[c.pkg] {
				wanted = append(wanted, sym)
				break
			}
		}
	}
	if len(wanted) == 0 {
		return out, nil
	}

	cfg.Mode = packages.LoadAllSyntax | packages.NeedModule
	pkgs, err := packages.Load(cfg, "./...")
	if err != nil {
		return nil, fmt.Errorf("loading packages of %s: %w", moduleDir, err)
	}
	packages.Visit(pkgs, nil, func(p *packages.Package) {
		for _, e := range p.Errors {
			if len(loadErrs) < 3 {
				loadErrs = append(loadErrs, p.PkgPath+": "+errorText(e))
			}
		}
	})
	if len(loadErrs) > 0 {
		return nil, fmt.Errorf("loading packages of %s: %s", moduleDir, strings.Join(loadErrs, "; "))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	prog, roots := ssautil.AllPackages(pkgs, ssa.InstantiateGenerics)
	prog.Build()

	entries := reachEntries(prog, roots)
	if len(entries) == 0 {
		return out, nil
	}
	initial := cha.CallGraph(prog)
	cg := vta.CallGraph(forwardSlice(entries, initial), initial)
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	targets := map[*ssa.Function][]string{}
	for _, sym := range wanted {
		for _, fn := range symbolFuncs(prog, sym) {
			targets[fn] = append(targets[fn], sym)
		}
	}
	if len(targets) == 0 {
		return out, nil
	}
	for sym, p := range shortestPaths(cg, entries, targets) {
		out[sym] = p
	}
	return out, nil
}

// symbolCand is one way to read a symbol: a package path and a name
// ("Func", or "Type.Method").
type symbolCand struct {
	pkg, name string
}

// splitSymbol lists the readings of a symbol: the package path ends at one
// of the dots after the last slash ("gopkg.in/yaml.v3.Unmarshal" has two).
func splitSymbol(sym string) []symbolCand {
	var out []symbolCand
	start := strings.LastIndexByte(sym, '/') + 1
	for i := start; i < len(sym); i++ {
		if sym[i] == '.' && i > 0 && i < len(sym)-1 {
			out = append(out, symbolCand{pkg: sym[:i], name: sym[i+1:]})
		}
	}
	return out
}

// symbolFuncs returns the program's functions a symbol names: a package
// function, or the method of a named type (value or pointer receiver).
func symbolFuncs(prog *ssa.Program, sym string) []*ssa.Function {
	var out []*ssa.Function
	for _, c := range splitSymbol(sym) {
		p := prog.ImportedPackage(c.pkg)
		if p == nil {
			continue
		}
		typ, meth, isMethod := strings.Cut(c.name, ".")
		if !isMethod {
			if fn, ok := p.Members[c.name].(*ssa.Function); ok {
				out = append(out, fn)
			}
			continue
		}
		tn, ok := p.Members[typ].(*ssa.Type)
		if !ok {
			continue
		}
		for _, t := range []types.Type{tn.Type(), types.NewPointer(tn.Type())} {
			ms := prog.MethodSets.MethodSet(t)
			if sel := ms.Lookup(p.Pkg, meth); sel != nil {
				if fn := prog.MethodValue(sel); fn != nil && !slices.Contains(out, fn) {
					out = append(out, fn)
				}
			}
		}
	}
	return out
}

// reachEntries: the module's main functions, or its exported functions and
// methods when it has no main package; package initialisers always.
func reachEntries(prog *ssa.Program, roots []*ssa.Package) []*ssa.Function {
	var mains, exported, inits []*ssa.Function
	for _, p := range roots {
		if p == nil {
			continue
		}
		if f := p.Func("init"); f != nil {
			inits = append(inits, f)
		}
		if p.Pkg.Name() == "main" {
			if f := p.Func("main"); f != nil {
				mains = append(mains, f)
			}
			continue
		}
		for name, m := range p.Members {
			switch m := m.(type) {
			case *ssa.Function:
				if obj := m.Object(); obj != nil && obj.Exported() && name != "init" {
					exported = append(exported, m)
				}
			case *ssa.Type:
				if !m.Object().Exported() {
					continue
				}
				for _, t := range []types.Type{m.Type(), types.NewPointer(m.Type())} {
					if _, isIface := t.Underlying().(*types.Interface); isIface {
						continue
					}
					ms := prog.MethodSets.MethodSet(t)
					for sel := range ms.Methods() {
						if sel.Obj().Exported() {
							if fn := prog.MethodValue(sel); fn != nil && !slices.Contains(exported, fn) {
								exported = append(exported, fn)
							}
						}
					}
				}
			}
		}
	}
	entries := mains
	if len(entries) == 0 {
		entries = exported
	}
	entries = append(entries, inits...)
	slices.SortFunc(entries, func(a, b *ssa.Function) int { return strings.Compare(funcName(a), funcName(b)) })
	return slices.Compact(entries)
}

// forwardSlice returns the functions reachable from entries in g.
func forwardSlice(entries []*ssa.Function, g *callgraph.Graph) map[*ssa.Function]bool {
	seen := map[*ssa.Function]bool{}
	queue := slices.Clone(entries)
	for _, e := range entries {
		seen[e] = true
	}
	for len(queue) > 0 {
		fn := queue[0]
		queue = queue[1:]
		n := g.Nodes[fn]
		if n == nil {
			continue
		}
		for _, ed := range n.Out {
			if c := ed.Callee.Func; !seen[c] {
				seen[c] = true
				queue = append(queue, c)
			}
		}
	}
	return seen
}

// shortestPaths walks g breadth-first from entries (in order, edges by
// callee name, so paths are deterministic) and returns, for each symbol of
// targets reached, the path to it.
func shortestPaths(g *callgraph.Graph, entries []*ssa.Function, targets map[*ssa.Function][]string) map[string][]string {
	out := map[string][]string{}
	parent := map[*ssa.Function]*ssa.Function{}
	seen := map[*ssa.Function]bool{}
	var queue []*ssa.Function
	for _, e := range entries {
		if !seen[e] {
			seen[e] = true
			queue = append(queue, e)
		}
	}
	names := map[*ssa.Function]string{}
	name := func(f *ssa.Function) string {
		if n, ok := names[f]; ok {
			return n
		}
		n := funcName(f)
		names[f] = n
		return n
	}
	remaining := 0
	for _, syms := range targets {
		remaining += len(syms)
	}
	for len(queue) > 0 && remaining > 0 {
		fn := queue[0]
		queue = queue[1:]
		for _, sym := range targets[originOf(fn)] {
			if _, done := out[sym]; !done {
				out[sym] = callPath(fn, parent, name)
				remaining--
			}
		}
		n := g.Nodes[fn]
		if n == nil {
			continue
		}
		callees := make([]*ssa.Function, 0, len(n.Out))
		for _, ed := range n.Out {
			callees = append(callees, ed.Callee.Func)
		}
		slices.SortFunc(callees, func(a, b *ssa.Function) int { return cmp.Compare(name(a), name(b)) })
		for _, c := range callees {
			if !seen[c] {
				seen[c] = true
				parent[c] = fn
				queue = append(queue, c)
			}
		}
	}
	return out
}

func originOf(fn *ssa.Function) *ssa.Function {
	if o := fn.Origin(); o != nil {
		return o
	}
	return fn
}

// callPath lists the functions from an entry to fn, leaving out the
// compiler's wrappers.
func callPath(fn *ssa.Function, parent map[*ssa.Function]*ssa.Function, name func(*ssa.Function) string) []string {
	var rev []string
	for f := fn; f != nil; f = parent[f] {
		if f.Synthetic != "" && f != fn {
			continue
		}
		rev = append(rev, name(originOf(f)))
	}
	slices.Reverse(rev)
	return slices.Compact(rev)
}
