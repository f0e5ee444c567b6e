package gocode

import (
	"cmp"
	"context"
	"fmt"
	"go/types"
	"maps"
	"slices"
	"strings"
	"time"

	"golang.org/x/tools/go/callgraph"
	"golang.org/x/tools/go/callgraph/vta"
	"golang.org/x/tools/go/packages"
	"golang.org/x/tools/go/ssa"
	"golang.org/x/tools/go/ssa/ssautil"
	"golang.org/x/tools/go/types/typeutil"
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
// package initialisers always. For each symbol called, the result holds a
// shortest call path from an entry to it (function names, "pkg/path.Func",
// "pkg/path.Type.Method"); symbols not called are absent. A package that
// does not load is an error: reachability in a partial program would be a
// guess.
//
// Only what can call a symbol's package is loaded from source: the
// module's packages and the dependencies importing (directly or not) a
// package of the symbols; the others come from export data, without code.
// Static calls are followed first (a path of static calls is in every call
// graph); what they do not reach goes through CHA (nothing more: done) and
// then a VTA call graph over the functions CHA reaches, so an interface
// method counts as called only for the types that flow to the call. Code
// without SSA (a dependency that imports no symbol's package, the standard
// library) may call back what it is given: a function value passed to it
// may be called, and so may every method of a value passed to it in an
// interface (fmt.Println(v) may call v.String).
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
	if len(graph) == 0 {
		return nil, fmt.Errorf("listing packages of %s: %s", moduleDir, r.listError(ctx))
	}
	byPath := map[string]*packages.Package{}
	var loadErrs []string
	packages.Visit(graph, nil, func(p *packages.Package) {
		byPath[p.PkgPath] = p
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
	targetPkgs := map[string]bool{}
	for _, sym := range symbols {
		found := false
		for _, c := range splitSymbol(sym) {
			if byPath[c.pkg] != nil {
				targetPkgs[c.pkg] = true
				found = true
			}
		}
		if found {
			wanted = append(wanted, sym)
		}
	}
	if len(wanted) == 0 {
		return out, nil
	}
	// The dependencies that can call into a symbol's package: those that
	// import it, directly or not.
	relevant := map[string]bool{}
	var reaches func(p *packages.Package) bool
	memo := map[*packages.Package]int{} // 0 unknown, 1 no, 2 yes, 3 in progress
	reaches = func(p *packages.Package) bool {
		switch memo[p] {
		case 1, 3:
			return false
		case 2:
			return true
		}
		memo[p] = 3
		yes := targetPkgs[p.PkgPath]
		for _, imp := range p.Imports {
			if reaches(imp) {
				yes = true
			}
		}
		if yes {
			memo[p] = 2
			relevant[p.PkgPath] = true
		} else {
			memo[p] = 1
		}
		return yes
	}
	for _, p := range graph {
		reaches(p)
	}
	patterns := append([]string{"./..."}, slices.Sorted(maps.Keys(relevant))...)

	start := time.Now()
	cfg.Mode = packages.LoadSyntax | packages.NeedModule
	pkgs, err := packages.Load(cfg, patterns...)
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
	s.log.DebugContext(ctx, "reachability: packages loaded", "dir", moduleDir, "from_source", len(pkgs), "elapsed", time.Since(start).String())
	prog, ssaPkgs := ssautil.Packages(pkgs, ssa.InstantiateGenerics)
	prog.Build()
	s.log.DebugContext(ctx, "reachability: SSA built", "dir", moduleDir, "elapsed", time.Since(start).String())

	var mods []*ssa.Package
	for i, p := range pkgs {
		if p.Module != nil && p.Module.Main && ssaPkgs[i] != nil {
			mods = append(mods, ssaPkgs[i])
		}
	}
	entries := reachEntries(prog, mods)
	if len(entries) == 0 {
		return out, nil
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
	cb := &callbacks{prog: prog, memo: map[types.Type][]*ssa.Function{}}
	// Static calls first: a path of static calls is in every call graph,
	// so what it reaches needs no VTA.
	static := func(fn *ssa.Function) []*ssa.Function {
		var cs []*ssa.Function
		for _, b := range fn.Blocks {
			for _, in := range b.Instrs {
				site, ok := in.(ssa.CallInstruction)
				if !ok {
					continue
				}
				if g := site.Common().StaticCallee(); g != nil {
					cs = append(cs, g)
					if g.Blocks == nil {
						cs = append(cs, cb.of(site)...)
					}
				}
			}
		}
		return cs
	}
	for sym, p := range shortestPaths(entries, static, targets) {
		out[sym] = p
	}
	rest := map[*ssa.Function][]string{}
	for fn, syms := range targets {
		for _, sym := range syms {
			if _, done := out[sym]; !done {
				rest[fn] = append(rest[fn], sym)
			}
		}
	}
	if len(rest) == 0 {
		return out, nil
	}
	// The others through interfaces and function values: CHA bounds what
	// can be reached at all (nothing: done), VTA over that slice decides.
	cha := lazyCHA(ssautil.AllFunctions(prog))
	withCallbacks := func(site ssa.CallInstruction) []*ssa.Function {
		cs := cha(site)
		if opaque(site, cs) {
			cs = append(slices.Clone(cs), cb.of(site)...)
		}
		return cs
	}
	fslice := forwardSlice(entries, withCallbacks)
	if !slices.ContainsFunc(slices.Collect(maps.Keys(rest)), func(fn *ssa.Function) bool { return fslice[fn] }) {
		return out, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.log.DebugContext(ctx, "reachability: CHA slice", "dir", moduleDir, "functions", len(fslice), "elapsed", time.Since(start).String())
	cg := vta.CallGraph(fslice, nil)
	s.log.DebugContext(ctx, "reachability: VTA call graph", "dir", moduleDir, "elapsed", time.Since(start).String())
	viaGraph := func(fn *ssa.Function) []*ssa.Function {
		var cs []*ssa.Function
		if n := cg.Nodes[fn]; n != nil {
			for _, ed := range n.Out {
				cs = append(cs, ed.Callee.Func)
			}
		}
		for _, b := range fn.Blocks {
			for _, in := range b.Instrs {
				if site, ok := in.(ssa.CallInstruction); ok && opaque(site, calleesAt(cg, fn, site)) {
					cs = append(cs, cb.of(site)...)
				}
			}
		}
		return cs
	}
	for sym, p := range shortestPaths(entries, viaGraph, rest) {
		out[sym] = p
	}
	return out, nil
}

// calleesAt returns the callees of one call site in g.
func calleesAt(g *callgraph.Graph, fn *ssa.Function, site ssa.CallInstruction) []*ssa.Function {
	if c := site.Common().StaticCallee(); c != nil {
		return []*ssa.Function{c}
	}
	var cs []*ssa.Function
	if n := g.Nodes[fn]; n != nil {
		for _, ed := range n.Out {
			if ed.Site == site {
				cs = append(cs, ed.Callee.Func)
			}
		}
	}
	return cs
}

// opaque reports whether a call may run code without SSA: no callee known,
// or one without a body.
func opaque(site ssa.CallInstruction, callees []*ssa.Function) bool {
	if _, ok := site.Common().Value.(*ssa.Builtin); ok {
		return false
	}
	if len(callees) == 0 {
		return true
	}
	return slices.ContainsFunc(callees, func(f *ssa.Function) bool { return f.Blocks == nil })
}

// callbacks lists what code without SSA may call back at a call: the
// functions passed to it, and the methods of the values passed to it in
// interfaces (or as pointers to named types).
type callbacks struct {
	prog *ssa.Program
	memo map[types.Type][]*ssa.Function
}

func (c *callbacks) of(site ssa.CallInstruction) []*ssa.Function {
	com := site.Common()
	args := com.Args
	if com.IsInvoke() {
		args = append([]ssa.Value{com.Value}, args...)
	}
	var out []*ssa.Function
	var add func(a ssa.Value, depth int)
	add = func(a ssa.Value, depth int) {
		switch v := a.(type) {
		case *ssa.Function:
			out = append(out, v)
		case *ssa.MakeClosure:
			if f, ok := v.Fn.(*ssa.Function); ok {
				out = append(out, f)
			}
		case *ssa.MakeInterface:
			add(v.X, depth)
		case *ssa.Slice:
			// a variadic argument: what is in it
			if elems, ok := variadicElems(v); ok && depth == 0 {
				for _, el := range elems {
					if el != nil {
						add(el, depth+1)
					}
				}
			}
		default:
			out = append(out, c.methods(a.Type())...)
		}
	}
	for _, a := range args {
		add(a, 0)
	}
	return out
}

// methods returns the methods of t with code.
func (c *callbacks) methods(t types.Type) []*ssa.Function {
	if ms, ok := c.memo[t]; ok {
		return ms
	}
	var out []*ssa.Function
	named := func(t types.Type) bool {
		if p, ok := types.Unalias(t).(*types.Pointer); ok {
			t = p.Elem()
		}
		_, ok := types.Unalias(t).(*types.Named)
		return ok
	}
	if _, isIface := t.Underlying().(*types.Interface); !isIface && named(t) {
		mset := c.prog.MethodSets.MethodSet(t)
		for sel := range mset.Methods() {
			if f := c.prog.MethodValue(sel); f != nil {
				out = append(out, f)
			}
		}
	}
	c.memo[t] = out
	return out
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

// forwardSlice returns the functions reachable from entries, callees
// given by callees.
func forwardSlice(entries []*ssa.Function, callees func(ssa.CallInstruction) []*ssa.Function) map[*ssa.Function]bool {
	seen := map[*ssa.Function]bool{}
	queue := slices.Clone(entries)
	for _, e := range entries {
		seen[e] = true
	}
	for len(queue) > 0 {
		fn := queue[0]
		queue = queue[1:]
		for _, b := range fn.Blocks {
			for _, in := range b.Instrs {
				site, ok := in.(ssa.CallInstruction)
				if !ok {
					continue
				}
				for _, c := range callees(site) {
					if !seen[c] {
						seen[c] = true
						queue = append(queue, c)
					}
				}
			}
		}
	}
	return seen
}

// lazyCHA resolves call sites by class hierarchy analysis, on demand: an
// interface call goes to the method of that name of every type of fns
// implementing the interface, a call of a function value to every function
// of its signature. (After golang.org/x/tools/go/callgraph/internal/chautil,
// BSD licence: building cha.CallGraph for a whole program costs seconds, of
// which the forward slice needs a part.)
func lazyCHA(fns map[*ssa.Function]bool) func(ssa.CallInstruction) []*ssa.Function {
	var bySig typeutil.Map // signature -> []*ssa.Function
	byID := map[string][]*ssa.Function{}
	type imethod struct {
		iface *types.Interface
		id    string
	}
	memo := map[imethod][]*ssa.Function{}
	for f := range fns {
		if f.Signature.Recv() == nil {
			if f.Name() == "init" && f.Synthetic == "package initializer" {
				continue
			}
			fs, _ := bySig.At(f.Signature).([]*ssa.Function)
			bySig.Set(f.Signature, append(fs, f))
		} else if obj, ok := f.Object().(*types.Func); ok {
			byID[obj.Id()] = append(byID[obj.Id()], f)
		}
	}
	return func(site ssa.CallInstruction) []*ssa.Function {
		c := site.Common()
		if c.IsInvoke() {
			iface, ok := c.Value.Type().Underlying().(*types.Interface)
			if !ok {
				return nil
			}
			k := imethod{iface, c.Method.Id()}
			ms, ok := memo[k]
			if !ok {
				for _, f := range byID[k.id] {
					if types.Implements(f.Signature.Recv().Type(), iface) {
						ms = append(ms, f)
					}
				}
				memo[k] = ms
			}
			return ms
		}
		if g := c.StaticCallee(); g != nil {
			return []*ssa.Function{g}
		}
		if _, ok := c.Value.(*ssa.Builtin); ok {
			return nil
		}
		fs, _ := bySig.At(c.Signature()).([]*ssa.Function)
		return fs
	}
}

// shortestPaths walks the calls breadth-first from entries (in order, the
// callees of a function by name, so paths are deterministic) and returns,
// for each symbol of targets reached, the path to it.
func shortestPaths(entries []*ssa.Function, callees func(*ssa.Function) []*ssa.Function, targets map[*ssa.Function][]string) map[string][]string {
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
		cs := callees(fn)
		slices.SortFunc(cs, func(a, b *ssa.Function) int { return cmp.Compare(name(a), name(b)) })
		for _, c := range cs {
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
