package gocode

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"go/constant"
	"go/token"
	"go/types"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/tools/go/callgraph"
	"golang.org/x/tools/go/ssa"
)

// Limits bound the taint analysis of one module. The zero value of a field
// means its default (DefaultLimits).
type Limits struct {
	// SourceFacts is how many distinct sources one value keeps (more are
	// dropped: the value is reported with the first ones).
	SourceFacts int
	// ParamFacts is how many parameter origins one value keeps while a
	// function is summarised.
	ParamFacts int
	// Trace is the most steps kept in a finding's trace.
	Trace int
	// FieldDepth is the longest field path tracked below a value (deeper
	// fields are merged into their ancestor).
	FieldDepth int
	// TreeKeys is the most field paths tracked below one value (past it
	// new paths merge into an ancestor).
	TreeKeys int
	// Passes is the most passes over one function's instructions in one
	// analysis (each pass propagates further; it stops at a fixpoint).
	Passes int
	// Reanalyses is how often one function is analysed again when what it
	// calls learns more; after that its summary stays as it is.
	Reanalyses int
	// Steps is the most work (instructions visited, facts mapped through
	// calls) for one module; past it the analysis stops with a Problem and
	// the findings so far.
	Steps int
	// FunctionSteps is the most work for one function, over all its
	// analyses; past it the function keeps the summary found so far and is
	// not analysed again (reported in a Problem: flows through it may be
	// missed).
	FunctionSteps int
}

// DefaultLimits are the limits used for zero fields.
var DefaultLimits = Limits{SourceFacts: 8, ParamFacts: 8, Trace: 16, FieldDepth: 4, TreeKeys: 24, Passes: 32, Reanalyses: 8, Steps: 150_000_000, FunctionSteps: 1_000_000}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	pick := func(v, def int) int {
		if v > 0 {
			return v
		}
		return def
	}
	return Limits{
		SourceFacts:   pick(l.SourceFacts, d.SourceFacts),
		ParamFacts:    pick(l.ParamFacts, d.ParamFacts),
		Trace:         pick(l.Trace, d.Trace),
		FieldDepth:    pick(l.FieldDepth, d.FieldDepth),
		TreeKeys:      pick(l.TreeKeys, d.TreeKeys),
		Passes:        pick(l.Passes, d.Passes),
		Reanalyses:    pick(l.Reanalyses, d.Reanalyses),
		Steps:         pick(l.Steps, d.Steps),
		FunctionSteps: pick(l.FunctionSteps, d.FunctionSteps),
	}
}

// errBudget: the module's step budget ran out.
var errBudget = errors.New("taint analysis step budget exhausted")

// sourceSite is one place attacker data enters: an instruction, or the
// request parameter of an HTTP handler (for the fields helpers read).
type sourceSite struct {
	kind  string
	pos   token.Pos
	instr ssa.Instruction
	fn    *ssa.Function
	param bool
}

// sinkSite is one call (or conversion) that must not get tainted data.
type sinkSite struct {
	rule  *Rule
	pos   token.Pos
	instr ssa.Instruction
}

// hit is a source reaching a sink: a finding.
type hit struct {
	sink *sinkSite
	src  int32
	tr   *step
}

type hitKey struct {
	sink *sinkSite
	src  int32
}

// summary is what callers need to know of a function: where its
// parameters' data goes (results, what its pointer parameters point to,
// sinks) and which sources come out of its results.
type summary struct {
	results [][]entry
	outs    []outEntry
	sinks   []sinkHit
	weight  int
}

type entry struct {
	path string
	fs   facts
}

type outEntry struct {
	param int
	path  string
	fs    facts
}

// sinkHit: data from parameter origin o reaches sink (with mask left).
type sinkHit struct {
	o    origin
	mask class
	tr   *step
	sink *sinkSite
}

type sinkHitKey struct {
	o    origin
	sink *sinkSite
}

// engine is the taint analysis of one SSA program.
type engine struct {
	prog    *ssa.Program
	models  models
	lim     Limits
	callees map[ssa.CallInstruction][]*ssa.Function

	sources   []sourceSite
	sourceIDs map[any]int32
	sinkSites map[sinkKey]*sinkSite
	sums      map[*ssa.Function]*summary
	deps      map[*ssa.Function]map[*ssa.Function]bool
	globals   map[*ssa.Global]*tree
	readers   map[*ssa.Global]map[*ssa.Function]bool
	found     map[hitKey]*hit
	carries   map[types.Type]bool
	nonHTML   map[*ssa.Function]bool
	analyses  map[*ssa.Function]int

	fieldIDs map[*types.Var]int
	posKeys  map[token.Pos]posKey
	names    map[*ssa.Function]string

	rw        *types.Interface // net/http.ResponseWriter (nil when not in the program)
	sinkRecvs []types.Type     // concrete sink receivers an interface call may hide (*sql.DB, ...)

	queue   funcQueue
	order   map[*ssa.Function]int
	queued  map[*ssa.Function]bool
	steps   int
	partial map[*ssa.Function]bool // functions whose analyses hit FunctionSteps
	work    map[*ssa.Function]int  // work spent on each function

	onAnalysis func(*fanalysis) // tests: look at each analysis before its summary
}

type sinkKey struct {
	instr ssa.Instruction
	class class
}

func newEngine(prog *ssa.Program, cg *callgraph.Graph, lim Limits) *engine {
	e := &engine{
		prog:      prog,
		models:    newModels(),
		lim:       lim.withDefaults(),
		callees:   map[ssa.CallInstruction][]*ssa.Function{},
		sourceIDs: map[any]int32{},
		sinkSites: map[sinkKey]*sinkSite{},
		sums:      map[*ssa.Function]*summary{},
		deps:      map[*ssa.Function]map[*ssa.Function]bool{},
		globals:   map[*ssa.Global]*tree{},
		readers:   map[*ssa.Global]map[*ssa.Function]bool{},
		found:     map[hitKey]*hit{},
		carries:   map[types.Type]bool{},
		nonHTML:   map[*ssa.Function]bool{},
		analyses:  map[*ssa.Function]int{},
		queued:    map[*ssa.Function]bool{},
		fieldIDs:  map[*types.Var]int{},
		posKeys:   map[token.Pos]posKey{},
		names:     map[*ssa.Function]string{},
		partial:   map[*ssa.Function]bool{},
		work:      map[*ssa.Function]int{},
	}
	if cg != nil {
		for _, n := range cg.Nodes {
			for _, ed := range n.Out {
				if ed.Site != nil && ed.Site.Common().StaticCallee() == nil {
					e.callees[ed.Site] = append(e.callees[ed.Site], ed.Callee.Func)
				}
			}
		}
		for _, fs := range e.callees {
			slices.SortFunc(fs, e.compareFuncs)
		}
	}
	if p := prog.ImportedPackage("net/http"); p != nil {
		if obj := p.Pkg.Scope().Lookup("ResponseWriter"); obj != nil {
			e.rw, _ = obj.Type().Underlying().(*types.Interface)
		}
		if obj := p.Pkg.Scope().Lookup("Client"); obj != nil {
			e.sinkRecvs = append(e.sinkRecvs, types.NewPointer(obj.Type()))
		}
	}
	if p := prog.ImportedPackage("database/sql"); p != nil {
		for _, n := range []string{"DB", "Tx", "Conn"} {
			if obj := p.Pkg.Scope().Lookup(n); obj != nil {
				e.sinkRecvs = append(e.sinkRecvs, types.NewPointer(obj.Type()))
			}
		}
	}
	return e
}

// fieldComp is the path component of field i of the struct t (or *t)
// points to: a number per field object, so the fields of two struct types
// never share a path (values of different types meet in containers and
// interfaces).
func (e *engine) fieldComp(t types.Type, i int) string {
	if p, ok := t.Underlying().(*types.Pointer); ok {
		t = p.Elem()
	}
	st, ok := t.Underlying().(*types.Struct)
	if !ok || i >= st.NumFields() {
		return "?" + strconv.Itoa(i)
	}
	f := st.Field(i)
	id, ok := e.fieldIDs[f]
	if !ok {
		id = len(e.fieldIDs)
		e.fieldIDs[f] = id
	}
	return strconv.Itoa(id)
}

// posKey orders positions the same way in every run: token.Pos values
// depend on the order the loader parsed files in, which is not fixed.
type posKey struct {
	file   string
	offset int
}

func (e *engine) posKey(p token.Pos) posKey {
	if k, ok := e.posKeys[p]; ok {
		return k
	}
	var k posKey
	if p.IsValid() {
		ps := e.prog.Fset.Position(p)
		k = posKey{ps.Filename, ps.Offset}
	}
	e.posKeys[p] = k
	return k
}

func (e *engine) comparePos(a, b token.Pos) int {
	ka, kb := e.posKey(a), e.posKey(b)
	return cmp.Or(strings.Compare(ka.file, kb.file), cmp.Compare(ka.offset, kb.offset))
}

// compareFuncs orders functions by where they are, then by name.
func (e *engine) compareFuncs(a, b *ssa.Function) int {
	if a == b {
		return 0
	}
	if c := e.comparePos(a.Pos(), b.Pos()); c != 0 {
		return c
	}
	return strings.Compare(e.name(a), e.name(b))
}

func (e *engine) name(fn *ssa.Function) string {
	if n, ok := e.names[fn]; ok {
		return n
	}
	n := fn.String()
	e.names[fn] = n
	return n
}

// run analyses fns (the functions with code), callees first, until the
// summaries stop growing.
func (e *engine) run(ctx context.Context, fns []*ssa.Function) error {
	slices.SortFunc(fns, e.compareFuncs)
	// Post-order over calls (static, resolved, closures made), so callees
	// are summarised before their callers; the queue always takes the
	// earliest function in that order, so a recursive cycle settles before
	// what calls it is analysed again.
	e.order = map[*ssa.Function]int{}
	seen := map[*ssa.Function]bool{}
	var visit func(fn *ssa.Function)
	visit = func(fn *ssa.Function) {
		if seen[fn] {
			return
		}
		seen[fn] = true
		for _, b := range fn.Blocks {
			for _, in := range b.Instrs {
				switch in := in.(type) {
				case ssa.CallInstruction:
					if callee := in.Common().StaticCallee(); callee != nil {
						if callee.Blocks != nil {
							visit(callee)
						}
						continue
					}
					for _, callee := range e.callees[in] {
						if callee.Blocks != nil {
							visit(callee)
						}
					}
				case *ssa.MakeClosure:
					if callee, ok := in.Fn.(*ssa.Function); ok && callee.Blocks != nil {
						visit(callee)
					}
				}
			}
		}
		e.order[fn] = len(e.order)
	}
	for _, fn := range fns {
		visit(fn)
	}
	for _, fn := range fns {
		e.push(fn)
	}
	for e.queue.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.steps > e.lim.Steps {
			return errBudget
		}
		fn := heap.Pop(&e.queue).(*ssa.Function)
		e.queued[fn] = false
		if e.analyses[fn] >= e.lim.Reanalyses || e.partial[fn] {
			continue
		}
		e.analyses[fn]++
		e.analyze(fn)
	}
	return nil
}

// funcQueue is the engine's work list: a heap of functions by their
// post-order index.
type funcQueue struct {
	fns   []*ssa.Function
	order map[*ssa.Function]int
}

func (q funcQueue) Len() int           { return len(q.fns) }
func (q funcQueue) Less(i, j int) bool { return q.order[q.fns[i]] < q.order[q.fns[j]] }
func (q funcQueue) Swap(i, j int)      { q.fns[i], q.fns[j] = q.fns[j], q.fns[i] }
func (q *funcQueue) Push(x any)        { q.fns = append(q.fns, x.(*ssa.Function)) }
func (q *funcQueue) Pop() any {
	n := len(q.fns) - 1
	fn := q.fns[n]
	q.fns = q.fns[:n]
	return fn
}

func (e *engine) push(fn *ssa.Function) {
	if fn.Blocks == nil || e.queued[fn] {
		return
	}
	if _, ok := e.order[fn]; !ok {
		e.order[fn] = len(e.order)
	}
	e.queued[fn] = true
	e.queue.order = e.order
	heap.Push(&e.queue, fn)
}

func (e *engine) pushDependents(fn *ssa.Function) {
	deps := make([]*ssa.Function, 0, len(e.deps[fn]))
	for d := range e.deps[fn] {
		deps = append(deps, d)
	}
	slices.SortFunc(deps, e.compareFuncs)
	for _, d := range deps {
		e.push(d)
	}
}

func (e *engine) addDep(callee, caller *ssa.Function) {
	m := e.deps[callee]
	if m == nil {
		m = map[*ssa.Function]bool{}
		e.deps[callee] = m
	}
	m[caller] = true
}

func (e *engine) sourceID(instr ssa.Instruction, kind string, pos token.Pos) int32 {
	if id, ok := e.sourceIDs[instr]; ok {
		return id
	}
	id := int32(len(e.sources))
	e.sources = append(e.sources, sourceSite{kind: kind, pos: pos, instr: instr, fn: instr.Parent()})
	e.sourceIDs[instr] = id
	return id
}

// paramSourceID is the source of field f of a handler's request parameter.
func (e *engine) paramSourceID(p *ssa.Parameter, f int, kind string) int32 {
	type key struct {
		p *ssa.Parameter
		f int
	}
	k := key{p, f}
	if id, ok := e.sourceIDs[k]; ok {
		return id
	}
	id := int32(len(e.sources))
	e.sources = append(e.sources, sourceSite{kind: kind, pos: p.Pos(), fn: p.Parent(), param: true})
	e.sourceIDs[k] = id
	return id
}

// isHandler reports whether fn has the shape of an HTTP handler: an
// http.ResponseWriter parameter and a *http.Request one. Its request is a
// client's; a *http.Request elsewhere may be one the program builds.
func (e *engine) isHandler(fn *ssa.Function) bool {
	if e.rw == nil {
		return false
	}
	rw, req := false, false
	for _, p := range fn.Params {
		switch {
		case isRequestPtr(p.Type()):
			req = true
		case types.IsInterface(p.Type()) && types.Implements(p.Type(), e.rw):
			rw = true
		}
	}
	return rw && req
}

func isRequestPtr(t types.Type) bool {
	p, ok := types.Unalias(t).(*types.Pointer)
	if !ok {
		return false
	}
	n, ok := types.Unalias(p.Elem()).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "net/http" && n.Obj().Name() == "Request"
}

func (e *engine) sinkSite(instr ssa.Instruction, c class, pos token.Pos) *sinkSite {
	k := sinkKey{instr, c}
	if s := e.sinkSites[k]; s != nil {
		return s
	}
	s := &sinkSite{rule: ruleForClass(c), pos: pos, instr: instr}
	e.sinkSites[k] = s
	return s
}

func (e *engine) report(site *sinkSite, f fact) {
	k := hitKey{site, f.o.src}
	if e.found[k] != nil {
		return
	}
	e.found[k] = &hit{sink: site, src: f.o.src, tr: f.tr}
}

// storeGlobal records concrete facts stored into a package variable, and
// has the functions reading it analysed again when they are new.
func (e *engine) storeGlobal(g *ssa.Global, fp string, fs facts) {
	t := e.globals[g]
	if t == nil {
		t = newTree()
		e.globals[g] = t
	}
	var concrete facts
	for _, f := range fs {
		if !f.o.isParam() {
			concrete = append(concrete, f)
		}
	}
	if !t.add(fp, concrete, &e.lim) {
		return
	}
	rs := make([]*ssa.Function, 0, len(e.readers[g]))
	for r := range e.readers[g] {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, e.compareFuncs)
	for _, r := range rs {
		e.push(r)
	}
}

func (e *engine) noteReader(g *ssa.Global, fn *ssa.Function) {
	m := e.readers[g]
	if m == nil {
		m = map[*ssa.Function]bool{}
		e.readers[g] = m
	}
	m[fn] = true
}

// carriesType reports whether values of t can hold attacker data worth
// tracking: strings and byte slices, and what contains them. Numbers,
// booleans, errors, contexts, functions and synchronisation types do not.
func (e *engine) carriesType(t types.Type) bool {
	if v, ok := e.carries[t]; ok {
		return v
	}
	e.carries[t] = false // recursive types: false while computing
	v := e.computeCarries(t)
	e.carries[t] = v
	return v
}

func (e *engine) computeCarries(t types.Type) bool {
	t = types.Unalias(t)
	if n, ok := t.(*types.Named); ok {
		obj := n.Obj()
		if obj.Pkg() == nil {
			if obj.Name() == "error" {
				return false
			}
		} else {
			switch obj.Pkg().Path() {
			case "sync", "sync/atomic", "reflect", "log/slog", "log", "testing":
				return false
			case "context":
				if obj.Name() == "Context" {
					return false
				}
			case "time":
				switch obj.Name() {
				case "Time", "Duration", "Location", "Timer", "Ticker", "Month", "Weekday":
					return false
				}
			}
		}
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		return u.Info()&types.IsString != 0
	case *types.Pointer:
		return e.carriesType(u.Elem())
	case *types.Slice:
		return e.carriesElem(u.Elem())
	case *types.Array:
		return e.carriesElem(u.Elem())
	case *types.Chan:
		return e.carriesType(u.Elem())
	case *types.Map:
		return e.carriesType(u.Key()) || e.carriesType(u.Elem())
	case *types.Struct:
		for f := range u.Fields() {
			if e.carriesType(f.Type()) {
				return true
			}
		}
		return false
	case *types.Interface:
		return true
	case *types.Tuple:
		for v := range u.Variables() {
			if e.carriesType(v.Type()) {
				return true
			}
		}
		return false
	case *types.TypeParam:
		return true
	}
	return false
}

// carriesElem: containers of bytes and runes carry text.
func (e *engine) carriesElem(t types.Type) bool {
	if b, ok := t.Underlying().(*types.Basic); ok && (b.Kind() == types.Uint8 || b.Kind() == types.Int32) {
		return true
	}
	return e.carriesType(t)
}

// isResponseWriter reports whether v (looking through interface
// conversions) is an http.ResponseWriter.
func (e *engine) isResponseWriter(v ssa.Value) bool {
	if e.rw == nil {
		return false
	}
	for _, x := range []ssa.Value{v, stripConv(v)} {
		t := x.Type()
		if types.Implements(t, e.rw) {
			return true
		}
	}
	return false
}

// nonHTMLResponse reports whether fn sets a constant Content-Type that is
// not HTML (JSON, plain text): its response writes are not XSS sinks.
func (e *engine) nonHTMLResponse(fn *ssa.Function) bool {
	if v, ok := e.nonHTML[fn]; ok {
		return v
	}
	v := false
	for _, b := range fn.Blocks {
		for _, in := range b.Instrs {
			c, ok := in.(*ssa.Call)
			if !ok {
				continue
			}
			switch funcKey(c.Common().StaticCallee()) {
			case "net/http.Header.Set", "net/http.Header.Add":
				args := c.Common().Args
				if len(args) == 3 && strings.EqualFold(constString(args[1]), "Content-Type") {
					ct := strings.ToLower(constString(args[2]))
					if ct != "" && !strings.Contains(ct, "html") && !strings.Contains(ct, "xml") && !strings.Contains(ct, "svg") {
						v = true
					}
				}
			}
		}
	}
	e.nonHTML[fn] = v
	return v
}

// htmlTrustedType reports whether t is one of html/template's trusted
// content types, whose conversion from a string skips escaping.
func htmlTrustedType(t types.Type) bool {
	n, ok := types.Unalias(t).(*types.Named)
	if !ok || n.Obj().Pkg() == nil || n.Obj().Pkg().Path() != "html/template" {
		return false
	}
	switch n.Obj().Name() {
	case "HTML", "HTMLAttr", "JS", "JSStr", "URL", "CSS", "Srcset":
		return true
	}
	return false
}

func constantString(c *ssa.Const) (string, bool) {
	if c.Value == nil || c.Value.Kind() != constant.String {
		return "", false
	}
	return constant.StringVal(c.Value), true
}

// sourceGlobal returns the kind of source a package variable is.
func sourceGlobal(v ssa.Value) string {
	g, ok := v.(*ssa.Global)
	if !ok || g.Pkg == nil || g.Pkg.Pkg.Path() != "os" {
		return ""
	}
	switch g.Name() {
	case "Args":
		return "command-line argument"
	case "Stdin":
		return "standard input"
	}
	return ""
}

// requestField returns the source kind of a field address of
// *net/http.Request, or "".
func requestField(fa *ssa.FieldAddr) string {
	if !isRequestPtr(fa.X.Type()) {
		return ""
	}
	st, ok := fa.X.Type().Underlying().(*types.Pointer).Elem().Underlying().(*types.Struct)
	if !ok || fa.Field >= st.NumFields() {
		return ""
	}
	return requestSourceField(st.Field(fa.Field).Name())
}

// analyze computes fn's summary (and reports what reaches sinks in it).
func (e *engine) analyze(fn *ssa.Function) {
	a := &fanalysis{
		e:      e,
		fn:     fn,
		roots:  map[ssa.Value]*tree{},
		paths:  map[ssa.Value]loc{},
		params: map[ssa.Value]int32{},
		hits:   map[sinkHitKey]*sinkHit{},
	}
	if sig := fn.Signature; sig.Results().Len() > 0 {
		a.results = make([]*tree, sig.Results().Len())
	}
	for i, p := range fn.Params {
		if e.carriesType(p.Type()) {
			a.params[p] = int32(i)
		}
	}
	for i, fv := range fn.FreeVars {
		if e.carriesType(fv.Type()) {
			a.params[fv] = int32(len(fn.Params) + i)
		}
	}
	if a.handler = e.isHandler(fn); a.handler {
		// The fields of the request that helpers read are the client's.
		for _, p := range fn.Params {
			if !isRequestPtr(p.Type()) {
				continue
			}
			st := p.Type().Underlying().(*types.Pointer).Elem().Underlying().(*types.Struct)
			for i := range st.NumFields() {
				if kind := requestSourceField(st.Field(i).Name()); kind != "" {
					f := fact{o: origin{src: e.paramSourceID(p, i, kind)}, mask: clsAll, tr: (*step)(nil).push(p.Pos(), e.lim.Trace)}
					a.addAt(loc{p, e.fieldComp(p.Type(), i)}, facts{f})
				}
			}
		}
	}
	n := 0
	for _, b := range fn.Blocks {
		n += len(b.Instrs)
	}
	start := e.steps - e.work[fn]
	for range e.lim.Passes {
		a.changed = false
		for _, b := range fn.Blocks {
			for _, in := range b.Instrs {
				a.visit(in)
			}
		}
		e.steps += n
		if !a.changed || e.steps > e.lim.Steps {
			break
		}
		if e.steps-start > e.lim.FunctionSteps {
			// Stop here: the summary is what was found so far.
			e.partial[fn] = true
			break
		}
	}
	e.work[fn] = e.steps - start
	if e.onAnalysis != nil {
		e.onAnalysis(a)
	}
	s := a.summary()
	old := e.sums[fn]
	if old == nil || s.weight > old.weight {
		e.sums[fn] = s
		if old == nil && s.weight == 0 {
			return
		}
		e.pushDependents(fn)
	}
}

// path is an abstract location: a root value and a field path below it.
type loc struct {
	root ssa.Value
	fp   string
}

// fanalysis is one analysis of one function: flow-insensitive within the
// function (a fixpoint over its instructions), field-sensitive along paths
// from root values, coarse on slice, array, map and channel elements (they
// are their container).
type fanalysis struct {
	e       *engine
	fn      *ssa.Function
	roots   map[ssa.Value]*tree
	paths   map[ssa.Value]loc
	params  map[ssa.Value]int32
	results []*tree
	hits    map[sinkHitKey]*sinkHit
	changed bool
	cur     ssa.Instruction            // the instruction being visited
	handler bool                       // fn is an HTTP handler: its request's fields are sources
	applied map[appliedKey]applied     // what summaries were applied with, at each call
	eqConds map[ssa.Value][]*ssa.BinOp // comparisons of a value with a constant
}

// pathOf maps a value to its location. Values that are the same data as
// another (a pointer and what it points to, a conversion, a slice of an
// array, an element of a container) share its path.
func (a *fanalysis) pathOf(v ssa.Value) loc {
	if p, ok := a.paths[v]; ok {
		return p
	}
	p := a.computePath(v)
	a.paths[v] = p
	return p
}

func (a *fanalysis) child(p loc, comp string) loc {
	return loc{p.root, joinPath(p.fp, comp, a.e.lim.FieldDepth)}
}

func (a *fanalysis) computePath(v ssa.Value) loc {
	switch v := v.(type) {
	case *ssa.FieldAddr:
		if a.handler && requestField(v) != "" {
			return loc{v, ""}
		}
		return a.child(a.pathOf(v.X), a.e.fieldComp(v.X.Type(), v.Field))
	case *ssa.Field:
		return a.child(a.pathOf(v.X), a.e.fieldComp(v.X.Type(), v.Field))
	case *ssa.IndexAddr:
		return a.pathOf(v.X)
	case *ssa.Index:
		return a.pathOf(v.X)
	case *ssa.Lookup:
		if !v.CommaOk {
			return a.pathOf(v.X)
		}
	case *ssa.Slice:
		return a.pathOf(v.X)
	case *ssa.SliceToArrayPointer:
		return a.pathOf(v.X)
	case *ssa.ChangeType:
		return a.pathOf(v.X)
	case *ssa.Convert:
		return a.pathOf(v.X)
	case *ssa.MultiConvert:
		return a.pathOf(v.X)
	case *ssa.MakeInterface:
		return a.pathOf(v.X)
	case *ssa.ChangeInterface:
		return a.pathOf(v.X)
	case *ssa.TypeAssert:
		if !v.CommaOk {
			return a.pathOf(v.X)
		}
	case *ssa.UnOp:
		switch v.Op {
		case token.MUL:
			if sourceGlobal(v.X) != "" {
				return loc{v, ""}
			}
			return a.pathOf(v.X)
		case token.ARROW:
			if !v.CommaOk {
				return a.pathOf(v.X)
			}
		}
	case *ssa.Extract:
		switch t := v.Tuple.(type) {
		case *ssa.Call:
			return loc{t, resultComp(v.Index)}
		case *ssa.Lookup:
			if v.Index == 0 {
				return a.pathOf(t.X)
			}
		case *ssa.TypeAssert:
			if v.Index == 0 {
				return a.pathOf(t.X)
			}
		case *ssa.UnOp:
			if v.Index == 0 {
				return a.pathOf(t.X)
			}
		case *ssa.Next:
			if v.Index > 0 {
				if r, ok := t.Iter.(*ssa.Range); ok {
					return a.pathOf(r.X)
				}
			}
		}
	}
	return loc{v, ""}
}

// collect adds the facts of tree t that apply at fp: those stored at fp and
// its ancestors, and with deep those stored below it.
func (a *fanalysis) collect(out *facts, t *tree, fp string, deep bool) {
	if t.size() == 0 {
		return
	}
	prefixes(fp, func(k string) {
		if fs := t.m[k]; len(fs) > 0 {
			rest, _ := under(fp, k)
			a.addBelow(out, fs, rest)
		}
	})
	if deep {
		for _, k := range t.below(fp) {
			out.addAll(t.m[k], &a.e.lim)
		}
	}
}

// addBelow adds facts stored at an ancestor of the path read, rest below
// it: a source's data covers the whole value, while a parameter's stands
// for that parameter's value, so reading a field of it is reading that
// field of the parameter.
func (a *fanalysis) addBelow(out *facts, fs facts, rest string) {
	lim := &a.e.lim
	if rest == "" {
		out.addAll(fs, lim)
		return
	}
	for _, f := range fs {
		if f.o.isParam() {
			f.o.field = joinPath(f.o.field, rest, lim.FieldDepth)
		}
		out.add(f, lim)
	}
}

// readPath returns the facts at p; deep includes those below it.
func (a *fanalysis) readPath(p loc, deep bool) facts {
	var out facts
	a.collect(&out, a.roots[p.root], p.fp, deep)
	if g, ok := p.root.(*ssa.Global); ok {
		a.collect(&out, a.e.globals[g], p.fp, deep)
		a.e.noteReader(g, a.fn)
	}
	if idx, ok := a.params[p.root]; ok {
		out.add(fact{o: origin{src: -1, param: idx, field: p.fp}, mask: clsAll}, &a.e.lim)
	}
	return out
}

// constAt reports whether v, where the current instruction uses it, can
// only be equal to a constant: every way to the instruction passes a
// comparison v == "const" that held (or v != "const" that did not), as in
// an allow-list switch. Such a value carries nothing.
func (a *fanalysis) constAt(v ssa.Value) bool {
	in := a.cur
	if in == nil || in.Block() == nil {
		return false
	}
	if _, isPhi := in.(*ssa.Phi); isPhi {
		return false
	}
	if a.eqConds == nil {
		a.eqConds = map[ssa.Value][]*ssa.BinOp{}
	}
	conds, ok := a.eqConds[v]
	if !ok {
		if refs := v.Referrers(); refs != nil {
			for _, r := range *refs {
				if b, ok := r.(*ssa.BinOp); ok && (b.Op == token.EQL || b.Op == token.NEQ) {
					if _, c := b.X.(*ssa.Const); c || isConst(b.Y) {
						conds = append(conds, b)
					}
				}
			}
		}
		a.eqConds[v] = conds
	}
	if len(conds) == 0 {
		return false
	}
	for d := in.Block(); d != nil; d = d.Idom() {
		if enteredEqual(d, conds) {
			return true
		}
	}
	return false
}

func isConst(v ssa.Value) bool {
	_, ok := v.(*ssa.Const)
	return ok
}

// enteredEqual: every edge into d comes from an If on one of conds, on the
// side where the value equals the constant.
func enteredEqual(d *ssa.BasicBlock, conds []*ssa.BinOp) bool {
	if len(d.Preds) == 0 {
		return false
	}
	for _, p := range d.Preds {
		if len(p.Instrs) == 0 {
			return false
		}
		iff, ok := p.Instrs[len(p.Instrs)-1].(*ssa.If)
		if !ok {
			return false
		}
		b, ok := iff.Cond.(*ssa.BinOp)
		if !ok || !slices.Contains(conds, b) {
			return false
		}
		want := p.Succs[0] // EQL: the true edge
		if b.Op == token.NEQ {
			want = p.Succs[1]
		}
		if want != d || p.Succs[0] == p.Succs[1] {
			return false
		}
	}
	return true
}

// carries reports whether v can hold tracked data, looking through
// interface and type conversions (an int in an interface holds none).
func (a *fanalysis) carries(v ssa.Value) bool {
	if !a.e.carriesType(v.Type()) {
		return false
	}
	if x := stripConv(v); x != v {
		return a.e.carriesType(x.Type())
	}
	return true
}

// read returns every fact about v's data (its fields included).
func (a *fanalysis) read(v ssa.Value) facts {
	if !a.carries(v) || a.constAt(v) {
		return nil
	}
	return a.readPath(a.pathOf(v), true)
}

// entries returns v's facts as a tree relative to v: "" for v as a whole,
// and the field paths below it.
func (a *fanalysis) entries(v ssa.Value) []entry {
	if !a.carries(v) || a.constAt(v) {
		return nil
	}
	return a.entriesAt(a.pathOf(v))
}

// entriesAt returns the facts at p as a tree relative to p.
func (a *fanalysis) entriesAt(p loc) []entry {
	top := a.readPath(p, false)
	out := []entry{{path: "", fs: top}}
	below := func(t *tree) {
		for _, k := range t.below(p.fp) {
			rest, _ := under(k, p.fp)
			out = append(out, entry{path: rest, fs: t.m[k]})
		}
	}
	below(a.roots[p.root])
	if g, ok := p.root.(*ssa.Global); ok {
		below(a.e.globals[g])
	}
	return out
}

// addAt stores facts at p.
func (a *fanalysis) addAt(p loc, fs facts) {
	if len(fs) == 0 {
		return
	}
	t := a.roots[p.root]
	if t == nil {
		t = newTree()
		a.roots[p.root] = t
	}
	if t.add(p.fp, fs, &a.e.lim) {
		a.changed = true
	}
	if g, ok := p.root.(*ssa.Global); ok {
		a.e.storeGlobal(g, p.fp, fs)
	}
}

// copyInto stores v's facts (field paths kept) at dst.
func (a *fanalysis) copyInto(dst loc, v ssa.Value) {
	for _, en := range a.entries(v) {
		a.addAt(a.child(dst, en.path), en.fs)
	}
}

func (a *fanalysis) newSource(instr ssa.Instruction, kind string, pos token.Pos) fact {
	id := a.e.sourceID(instr, kind, pos)
	return fact{o: origin{src: id}, mask: clsAll, tr: (*step)(nil).push(pos, a.e.lim.Trace)}
}

func (a *fanalysis) visit(in ssa.Instruction) {
	a.cur = in
	switch in := in.(type) {
	case *ssa.Store:
		a.copyInto(a.pathOf(in.Addr), in.Val)
	case *ssa.MapUpdate:
		p := a.pathOf(in.Map)
		a.copyInto(p, in.Key)
		a.copyInto(p, in.Value)
	case *ssa.BinOp:
		if in.Op == token.ADD && a.e.carriesType(in.Type()) {
			p := loc{in, ""}
			a.addAt(p, a.read(in.X))
			a.addAt(p, a.read(in.Y))
		}
	case *ssa.Phi:
		for _, ed := range in.Edges {
			a.copyInto(loc{in, ""}, ed)
		}
	case *ssa.Call:
		a.call(in, in)
	case *ssa.Go:
		a.call(in, nil)
	case *ssa.Defer:
		a.call(in, nil)
	case *ssa.MakeClosure:
		a.closure(in)
	case *ssa.Send:
		a.copyInto(a.pathOf(in.Chan), in.X)
	case *ssa.Return:
		for i, r := range in.Results {
			if i >= len(a.results) {
				break
			}
			for _, en := range a.entries(r) {
				if len(en.fs) == 0 {
					continue
				}
				if a.results[i] == nil {
					a.results[i] = newTree()
				}
				a.results[i].add(en.path, en.fs, &a.e.lim)
			}
		}
	case *ssa.FieldAddr:
		if kind := requestField(in); kind != "" && a.handler {
			a.addAt(loc{in, ""}, facts{a.newSource(in, kind, in.Pos())})
		}
	case *ssa.UnOp:
		if in.Op == token.MUL {
			if kind := sourceGlobal(in.X); kind != "" {
				f := a.newSource(in, kind, in.Pos())
				f.mask = clsLocal
				a.addAt(loc{in, ""}, facts{f})
			}
		}
	case *ssa.ChangeType:
		if htmlTrustedType(in.Type()) {
			a.checkSink(in, in.Pos(), clsXSS, in.X)
		}
	case *ssa.Convert:
		if htmlTrustedType(in.Type()) {
			a.checkSink(in, in.Pos(), clsXSS, in.X)
		}
	}
}

// checkSink reports the facts of v dangerous for c at a sink: findings for
// sources, summary entries for parameters.
func (a *fanalysis) checkSink(in ssa.Instruction, pos token.Pos, c class, v ssa.Value) {
	fs := a.read(v)
	if len(fs) == 0 {
		return
	}
	if c == clsXSS && a.e.nonHTMLResponse(a.fn) {
		return
	}
	guardChecked, guarded := false, false
	site := a.e.sinkSite(in, c, pos)
	for _, f := range fs {
		if f.mask&c == 0 {
			continue
		}
		if c == clsPath {
			if !guardChecked {
				guarded, guardChecked = pathGuarded(in, v), true
			}
			if guarded {
				return
			}
		}
		a.reach(site, f)
	}
}

func (a *fanalysis) reach(site *sinkSite, f fact) {
	if !f.o.isParam() {
		a.e.report(site, f)
		return
	}
	k := sinkHitKey{f.o, site}
	if h := a.hits[k]; h != nil {
		h.mask |= f.mask & site.rule.class
		return
	}
	a.hits[k] = &sinkHit{o: f.o, mask: f.mask & site.rule.class, tr: f.tr, sink: site}
}

// call applies what is known of the callees of a call: models, summaries,
// or the default for code without SSA.
func (a *fanalysis) call(in ssa.CallInstruction, res *ssa.Call) {
	c := in.Common()
	argv := c.Args
	if c.IsInvoke() {
		argv = append([]ssa.Value{c.Value}, c.Args...)
	}
	if b, ok := c.Value.(*ssa.Builtin); ok {
		a.builtin(b, argv, res)
		return
	}
	var callees []*ssa.Function
	if f := c.StaticCallee(); f != nil {
		callees = []*ssa.Function{f}
	} else {
		callees = a.e.callees[in]
	}
	modelled := false
	for _, fn := range callees {
		switch m := a.e.models[funcKey(fn)]; {
		case m != nil:
			a.applyModel(m, in, argv, res)
			modelled = true
		case fn.Blocks != nil:
			a.applySummary(fn, in, argv, res)
		default:
			a.applyDefault(fn.Name(), fn.Signature.Recv() != nil, argv, res)
		}
	}
	if c.IsInvoke() {
		if m := a.e.models[objKey(c.Method)]; m != nil {
			a.applyModel(m, in, argv, res)
			return
		}
		if !modelled {
			a.interfaceSinks(in, argv)
		}
		if len(callees) == 0 {
			a.applyDefault(c.Method.Name(), true, argv, res)
		}
		return
	}
	if len(callees) == 0 {
		// An unresolved function value: its result may carry its
		// arguments' data and the closure's.
		a.applyDefault("", false, append([]ssa.Value{c.Value}, argv...), res)
	}
}

// interfaceSinks applies the sink models of the concrete sink types
// (*sql.DB, *http.Client, ...) that implement the interface of an invoke
// call whose dynamic types the call graph did not see.
func (a *fanalysis) interfaceSinks(in ssa.CallInstruction, argv []ssa.Value) {
	c := in.Common()
	iface, ok := c.Value.Type().Underlying().(*types.Interface)
	if !ok {
		return
	}
	for _, t := range a.e.sinkRecvs {
		if !types.Implements(t, iface) {
			continue
		}
		obj, _, _ := types.LookupFieldOrMethod(t, true, nil, c.Method.Name())
		fn, ok := obj.(*types.Func)
		if !ok {
			continue
		}
		if m := a.e.models[objKey(fn)]; m != nil && m.sink != nil {
			a.applyModel(&model{sink: m.sink, prop: propNone}, in, argv, nil)
		}
	}
}

func (a *fanalysis) builtin(b *ssa.Builtin, argv []ssa.Value, res *ssa.Call) {
	switch b.Name() {
	case "append":
		if res != nil && len(argv) > 0 {
			for _, v := range argv {
				a.copyInto(loc{res, ""}, v)
			}
		}
	case "copy":
		if len(argv) == 2 {
			a.addAt(a.pathOf(argv[0]), a.read(argv[1]))
		}
	case "ssa:wrapnilchk":
		if res != nil && len(argv) > 0 {
			a.copyInto(loc{res, ""}, argv[0])
		}
	case "min", "max":
		if res != nil && a.e.carriesType(res.Type()) {
			for _, v := range argv {
				a.addAt(loc{res, ""}, a.read(v))
			}
		}
	}
}

func resultCount(res *ssa.Call) int {
	if t, ok := res.Type().(*types.Tuple); ok {
		return t.Len()
	}
	return 1
}

func resultType(res *ssa.Call, i int) types.Type {
	if t, ok := res.Type().(*types.Tuple); ok {
		return t.At(i).Type()
	}
	return res.Type()
}

// resultPath is where result i of a call is stored.
func resultPath(res *ssa.Call, i int) loc {
	if resultCount(res) == 1 {
		return loc{res, ""}
	}
	return loc{res, resultComp(i)}
}

// propagateResults: every result gets the arguments' taint, less clear.
func (a *fanalysis) propagateResults(argv []ssa.Value, res *ssa.Call, clear class) {
	if res == nil || !a.e.carriesType(res.Type()) {
		return
	}
	var all facts
	for _, v := range argv {
		for _, f := range a.read(v) {
			f.mask &^= clear
			all.add(f, &a.e.lim)
		}
	}
	if len(all) == 0 {
		return
	}
	for i := range resultCount(res) {
		if a.e.carriesType(resultType(res, i)) {
			a.addAt(resultPath(res, i), all)
		}
	}
}

func hasAnyPrefix(s string, ps ...string) bool {
	for _, p := range ps {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func isRef(t types.Type) bool {
	switch t.Underlying().(type) {
	case *types.Pointer, *types.Slice, *types.Map, *types.Interface:
		return true
	}
	return false
}

// applyDefault models code without SSA and without a model: results carry
// the arguments; writer-like methods (Write*, Set*, Add*, ...) put their
// arguments into the receiver; reader-like functions (Read*, Decode*,
// Unmarshal*, Scan*, Copy*) put the data of their inputs into their
// pointer arguments.
func (a *fanalysis) applyDefault(name string, method bool, argv []ssa.Value, res *ssa.Call) {
	a.propagateResults(argv, res, 0)
	switch {
	case method && len(argv) > 1 && hasAnyPrefix(name, "Write", "Append", "Add", "Set", "Put", "Push", "Store", "Insert", "Encode", "Print"):
		dst := a.pathOf(argv[0])
		for _, v := range argv[1:] {
			a.addAt(dst, a.read(v))
		}
	case hasAnyPrefix(name, "Read", "Decode", "Unmarshal", "Scan", "Sscan", "Fscan", "Copy", "Fill"):
		var all facts
		for _, v := range argv {
			all.addAll(a.read(v), &a.e.lim)
		}
		if len(all) == 0 {
			return
		}
		for j, v := range argv {
			if (method && j == 0) || !isRef(v.Type()) {
				continue
			}
			a.addAt(a.pathOf(v), all)
		}
	}
}

func (a *fanalysis) applyModel(m *model, in ssa.CallInstruction, argv []ssa.Value, res *ssa.Call) {
	c := in.Common()
	if s := m.source; s != nil {
		f := a.newSource(in, s.kind, c.Pos())
		f.mask = s.mask
		if res != nil {
			n := resultCount(res)
			for _, i := range s.results {
				if i < n && a.e.carriesType(resultType(res, i)) {
					a.addAt(resultPath(res, i), facts{f})
				}
			}
		}
		for _, i := range s.ptrArgs {
			if i < len(argv) {
				a.addAt(a.pathOf(argv[i]), facts{f})
			}
		}
		if s.pointees >= 0 && s.pointees < len(argv) {
			elems, _ := variadicElems(argv[s.pointees])
			for _, el := range elems {
				if el != nil {
					a.addAt(a.pathOf(el), facts{f})
				}
			}
		}
	}
	if s := m.sink; s != nil {
		vals := make([]ssa.Value, 0, 2)
		if s.check != nil {
			vals = s.check(a, argv)
		} else {
			for _, i := range s.args {
				if i < len(argv) {
					vals = append(vals, argv[i])
				}
			}
		}
		for _, v := range vals {
			a.checkSink(in, c.Pos(), s.class, v)
		}
	}
	switch m.prop {
	case propDefault:
		a.propagateResults(argv, res, 0)
	case propSanitize:
		a.propagateResults(argv, res, m.clear)
	case propIntoArg0:
		if len(argv) > 0 {
			dst := a.pathOf(argv[0])
			for _, v := range argv[1:] {
				a.addAt(dst, a.read(v))
			}
		}
	}
}

// resolver maps a callee's parameter origins to the caller's values.
type resolver struct {
	a        *fanalysis
	callee   *ssa.Function
	argv     []ssa.Value
	bindings []ssa.Value // the closure's free variables, when known
	clo      ssa.Value   // the function value, when bindings are not known
	site     token.Pos
	cache    map[origin][]entry // the caller's entries for a parameter origin
}

func (r *resolver) value(i int32) ssa.Value {
	n := int32(len(r.callee.Params))
	if i < n {
		if int(i) < len(r.argv) {
			return r.argv[i]
		}
		return nil
	}
	if j := int(i - n); j < len(r.bindings) {
		return r.bindings[j]
	}
	return r.clo
}

func (r *resolver) resolve(cf fact) facts {
	var out facts
	for _, en := range r.resolveTree(cf) {
		out.addAll(en.fs, &r.a.e.lim)
	}
	return out
}

// resolveTree maps a callee fact to the caller's facts, as a tree: a
// parameter origin stands for the caller's argument (at the origin's field
// path), with the fields below it kept apart.
func (r *resolver) resolveTree(cf fact) []entry {
	lim := &r.a.e.lim
	if !cf.o.isParam() {
		f := cf
		f.tr = cf.tr.push(r.site, lim.Trace)
		return []entry{{fs: facts{f}}}
	}
	v := r.value(cf.o.param)
	if v == nil || r.a.constAt(v) {
		return nil
	}
	key := origin{src: -1, param: cf.o.param, field: cf.o.field}
	es, ok := r.cache[key]
	if !ok {
		p := r.a.pathOf(v)
		if v != r.clo || len(r.bindings) > 0 {
			p = r.a.child(p, cf.o.field)
		}
		es = r.a.entriesAt(p)
		if r.cache == nil {
			r.cache = map[origin][]entry{}
		}
		r.cache[key] = es
	}
	out := make([]entry, 0, len(es))
	for _, en := range es {
		r.a.e.steps += len(en.fs)
		var fs facts
		for _, f := range en.fs {
			g := fact{o: f.o, mask: f.mask & cf.mask, tr: f.tr.push(r.site, lim.Trace).concat(cf.tr, lim.Trace)}
			fs.add(g, lim)
		}
		if len(fs) > 0 {
			out = append(out, entry{path: en.path, fs: fs})
		}
	}
	return out
}

// resolveInto stores a callee fact, resolved, at dst.
func (r *resolver) resolveInto(dst loc, cf fact) {
	for _, en := range r.resolveTree(cf) {
		r.a.addAt(r.a.child(dst, en.path), en.fs)
	}
}

func (a *fanalysis) applySummary(callee *ssa.Function, in ssa.CallInstruction, argv []ssa.Value, res *ssa.Call) {
	a.e.addDep(callee, a.fn)
	s := a.e.sums[callee]
	if s == nil {
		return
	}
	c := in.Common()
	r := &resolver{a: a, callee: callee, argv: argv, site: c.Pos()}
	if !c.IsInvoke() {
		if mc, ok := c.Value.(*ssa.MakeClosure); ok && mc.Fn == callee {
			r.bindings = mc.Bindings
		} else if c.StaticCallee() == nil {
			r.clo = c.Value
		}
	}
	if a.unchanged(in, callee, s, argv, r.bindings, r.clo) {
		return
	}
	if res != nil && len(s.results) > 0 {
		for i, es := range s.results {
			if i >= resultCount(res) {
				break
			}
			base := resultPath(res, i)
			for _, en := range es {
				dst := a.child(base, en.path)
				for _, cf := range en.fs {
					r.resolveInto(dst, cf)
				}
			}
		}
	}
	a.applyEffects(s, r, in, -1)
}

// applyEffects applies a summary's stores into parameters and its sink
// entries; with minParam >= 0 only those of origins from that index on (a
// closure's free variables, applied where the closure is made).
func (a *fanalysis) applyEffects(s *summary, r *resolver, in ssa.Instruction, minParam int32) {
	for _, o := range s.outs {
		if int32(o.param) < minParam {
			continue
		}
		v := r.value(int32(o.param))
		if v == nil {
			continue
		}
		dst := a.child(a.pathOf(v), o.path)
		for _, cf := range o.fs {
			r.resolveInto(dst, cf)
		}
	}
	for _, h := range s.sinks {
		if h.o.param < minParam {
			continue
		}
		fs := r.resolve(fact{o: h.o, mask: h.mask, tr: h.tr})
		if len(fs) == 0 {
			continue
		}
		c := h.sink.rule.class
		if c == clsXSS && a.e.nonHTMLResponse(a.fn) {
			continue
		}
		if c == clsPath {
			if v := r.value(h.o.param); v != nil && in != nil && pathGuarded(in, v) {
				continue
			}
		}
		for _, f := range fs {
			if f.mask&c != 0 {
				a.reach(h.sink, f)
			}
		}
	}
}

// applied is what a summary was last applied with at a call: the
// versions of its inputs' trees and the summary's weight.
type applied struct {
	ver, weight int
}

type appliedKey struct {
	in     ssa.Instruction
	callee *ssa.Function
}

// unchanged reports whether applying s at in would do nothing new: the
// summary and the trees of the values it reads are as they were the last
// time (both only grow, so equal sums of versions mean no change). It
// records the current state otherwise.
func (a *fanalysis) unchanged(in ssa.Instruction, callee *ssa.Function, s *summary, argv, bindings []ssa.Value, clo ssa.Value) bool {
	ver := 0
	add := func(v ssa.Value) {
		if v == nil {
			return
		}
		p := a.pathOf(v)
		if t := a.roots[p.root]; t != nil {
			ver += t.ver + 1
		}
		if g, ok := p.root.(*ssa.Global); ok {
			if t := a.e.globals[g]; t != nil {
				ver += t.ver + 1
			}
		}
	}
	for _, v := range argv {
		add(v)
	}
	for _, v := range bindings {
		add(v)
	}
	add(clo)
	k := appliedKey{in, callee}
	now := applied{ver: ver, weight: s.weight}
	if a.applied == nil {
		a.applied = map[appliedKey]applied{}
	}
	if last, ok := a.applied[k]; ok && last == now {
		return true
	}
	a.applied[k] = now
	return false
}

// closure: a closure's effects on its free variables happen when it runs;
// they are applied where it is made. The closure value also carries its
// free variables' data, for calls the call graph cannot resolve.
func (a *fanalysis) closure(mc *ssa.MakeClosure) {
	fn, ok := mc.Fn.(*ssa.Function)
	if !ok {
		return
	}
	if a.e.carriesType(mc.Type()) {
		for _, b := range mc.Bindings {
			a.addAt(loc{mc, ""}, a.read(b))
		}
	}
	a.e.addDep(fn, a.fn)
	s := a.e.sums[fn]
	if s == nil {
		return
	}
	if a.unchanged(mc, fn, s, nil, mc.Bindings, nil) {
		return
	}
	r := &resolver{a: a, callee: fn, bindings: mc.Bindings, site: mc.Pos()}
	a.applyEffects(s, r, mc, int32(len(fn.Params)))
}

// summary builds the function's summary from this analysis.
func (a *fanalysis) summary() *summary {
	s := &summary{}
	for _, t := range a.results {
		var es []entry
		if t != nil {
			for _, k := range t.keys {
				es = append(es, entry{path: k, fs: t.m[k]})
				s.weight += t.m[k].weight()
			}
		}
		s.results = append(s.results, es)
	}
	// What the function stored below its parameters and free variables
	// (pointers: the caller sees it).
	roots := make([]ssa.Value, 0, len(a.params))
	for v := range a.params {
		if a.roots[v] != nil {
			roots = append(roots, v)
		}
	}
	slices.SortFunc(roots, func(x, y ssa.Value) int { return int(a.params[x] - a.params[y]) })
	for _, v := range roots {
		idx := a.params[v]
		if !isRef(v.Type()) {
			continue
		}
		t := a.roots[v]
		for _, k := range t.keys {
			var fs facts
			for _, f := range t.m[k] {
				if f.o.isParam() && f.o.param == idx && strings.HasPrefix(k, f.o.field) {
					continue // its own data, where it was
				}
				if !f.o.isParam() && a.e.sources[f.o.src].param && a.e.sources[f.o.src].fn == a.fn {
					continue // the handler's request, as the handler sees it
				}
				fs = append(fs, f)
			}
			if len(fs) > 0 {
				s.outs = append(s.outs, outEntry{param: int(idx), path: k, fs: fs})
				s.weight += fs.weight()
			}
		}
	}
	keys := make([]sinkHitKey, 0, len(a.hits))
	for k := range a.hits {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y sinkHitKey) int {
		if c := a.e.comparePos(x.sink.pos, y.sink.pos); c != 0 {
			return c
		}
		if c := int(x.o.param) - int(y.o.param); c != 0 {
			return c
		}
		if c := strings.Compare(x.o.field, y.o.field); c != 0 {
			return c
		}
		return int(x.sink.rule.class) - int(y.sink.rule.class)
	})
	for _, k := range keys {
		h := a.hits[k]
		s.sinks = append(s.sinks, *h)
		s.weight += 1 + popcount(h.mask)
	}
	return s
}
