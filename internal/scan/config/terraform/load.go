// Package terraform finds misconfigurations in Terraform (*.tf) for AWS,
// Azure and GCP: public buckets and storage, the Internet reaching admin
// ports or every port, unencrypted storage, public databases, IAM policies
// granting everything, and IMDSv1.
//
// A directory is a module: its .tf files are parsed with HCL's native syntax
// (hclsyntax), and every attribute is evaluated as far as it can be without
// running Terraform: literals, operators, conditionals, `for` expressions and
// pure functions (jsonencode, merge, concat, lower, ...), `var.x` from the
// variable's default and `local.x` from the module's locals. Anything else
// (another resource's attribute, a data source, a module output, a variable
// without a default, a function Terraform alone has) is unknown, and an
// unknown value is never flagged: a check fires only on what the code says.
// Variable values from .tfvars files are not read (the defaults are what the
// module says on its own). `dynamic` blocks are not expanded. A resource
// whose count is known to be 0 is not checked.
//
// Unknown is not the same as absent: an attribute left out takes the
// provider's default, which is known, and some defaults are the problem
// (aws_ebs_volume.encrypted and aws_db_instance.storage_encrypted default
// to false, metadata_options.http_tokens to "optional", the four settings
// of an S3 public access block to false, a Cloud SQL instance's ipv4_enabled
// to true, a GCP firewall's source to 0.0.0.0/0): those are flagged.
//
// S3 has encrypted new objects with SSE-S3 by default since January 2023,
// so a bucket without a server-side encryption configuration is reported
// at low severity (VGL-TF-010: no customer managed key), not as
// unencrypted.
package terraform

import (
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Unknown is a value that cannot be known without running Terraform.
type Unknown struct{}

// Block is a block of a file: a resource, a data source, or a nested block.
type Block struct {
	Type   string // resource, data, variable, locals, ... or a nested block's type
	Labels []string
	File   string // the file's path
	Line   int
	Attrs  map[string]*Attr
	Blocks []*Block
	body   *hclsyntax.Body
}

// Attr is an attribute with its value evaluated (Unknown when it cannot
// be).
type Attr struct {
	Name  string
	Line  int
	Value any // nil, bool, string, int64, float64, []any, map[string]any or Unknown
	expr  hclsyntax.Expression
}

// Address returns a resource's or data source's address: aws_s3_bucket.logs,
// data.aws_iam_policy_document.admin.
func (b *Block) Address() string {
	switch {
	case b.Type == "resource" && len(b.Labels) == 2:
		return b.Labels[0] + "." + b.Labels[1]
	case b.Type == "data" && len(b.Labels) == 2:
		return "data." + b.Labels[0] + "." + b.Labels[1]
	}
	return strings.Join(append([]string{b.Type}, b.Labels...), ".")
}

// Kind returns a resource's or data source's type (aws_s3_bucket).
func (b *Block) Kind() string {
	if len(b.Labels) > 0 {
		return b.Labels[0]
	}
	return ""
}

// Get returns an attribute (nil when absent).
func (b *Block) Get(name string) *Attr {
	if b == nil {
		return nil
	}
	return b.Attrs[name]
}

// Nested returns the nested blocks of a type, in order.
func (b *Block) Nested(typ string) []*Block {
	if b == nil {
		return nil
	}
	var out []*Block
	for _, c := range b.Blocks {
		if c.Type == typ {
			out = append(out, c)
		}
	}
	return out
}

// File is one parsed .tf file.
type File struct {
	Path   string
	Blocks []*Block
}

// Module is the .tf files of one directory, evaluated together.
type Module struct {
	Files []*File
	// Resources and Data are the resource and data blocks of every file, in
	// file then line order.
	Resources []*Block
	Data      []*Block
	vars      map[string]cty.Value
	locals    map[string]cty.Value
	funcs     map[string]function.Function
	// budget is the evaluation work left (see estimate); refCosts caches
	// the cost of var.x and local.x values.
	budget   int
	refCosts map[string]int
}

// FileError is a file that could not be parsed.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// Limits on hostile input: bracket nesting (the parser recurses), the
// expanded size of one value (locals can double a value at each step), the
// passes over locals.
const (
	maxNesting     = 256
	maxValueCost   = 1 << 16
	maxLocalPasses = 8
	// maxModuleCost bounds the evaluation work of one module (see
	// estimate): a module that would need more (a for expression calling a
	// function on a large local for each of many elements) has its remaining
	// expressions unknown.
	maxModuleCost = 1 << 22
)

// SourceFile is a file to load: its path (for findings) and content.
type SourceFile struct {
	Path string
	Data []byte
}

// Load parses the files of one module and evaluates their attributes. A file
// that does not parse is returned as an error and left out.
func Load(files []SourceFile) (*Module, []error) {
	m := &Module{vars: map[string]cty.Value{}, locals: map[string]cty.Value{}, funcs: functions(),
		budget: maxModuleCost, refCosts: map[string]int{}}
	var errs []error
	var bodies []*hclsyntax.Body
	for _, sf := range files {
		body, err := parseFile(sf)
		if err != nil {
			errs = append(errs, &FileError{Path: sf.Path, Err: err})
			continue
		}
		bodies = append(bodies, body)
		f := &File{Path: sf.Path}
		for _, blk := range body.Blocks {
			f.Blocks = append(f.Blocks, newBlock(blk, sf.Path))
		}
		m.Files = append(m.Files, f)
	}
	m.collectVariables(bodies)
	m.collectLocals(bodies)
	for _, f := range m.Files {
		for _, b := range f.Blocks {
			switch b.Type {
			case "resource", "data":
				if len(b.Labels) != 2 {
					continue
				}
				m.evalBlock(b)
				if c := b.Get("count"); c != nil {
					if n, ok := toInt(c.Value); ok && n == 0 {
						continue // never created
					}
				}
				if b.Type == "resource" {
					m.Resources = append(m.Resources, b)
				} else {
					m.Data = append(m.Data, b)
				}
			}
		}
	}
	return m, errs
}

func parseFile(sf SourceFile) (body *hclsyntax.Body, err error) {
	if d := nesting(sf.Data); d > maxNesting {
		return nil, fmt.Errorf("brackets nested %d deep (limit %d)", d, maxNesting)
	}
	defer func() {
		if r := recover(); r != nil {
			body, err = nil, fmt.Errorf("hcl parser panic: %v", r)
		}
	}()
	f, diags := hclsyntax.ParseConfig(sf.Data, sf.Path, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	b, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return nil, fmt.Errorf("unexpected body type %T", f.Body)
	}
	return b, nil
}

// diagError returns the first error diagnostic as "line N: summary: detail".
func diagError(diags hcl.Diagnostics) error {
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		if d.Subject != nil {
			return fmt.Errorf("line %d: %s", d.Subject.Start.Line, msg)
		}
		return fmt.Errorf("%s", msg)
	}
	return fmt.Errorf("%s", diags.Error())
}

// nesting returns the deepest nesting of (, [ and { in data (counting
// inside strings too: an upper bound).
func nesting(data []byte) int {
	d, most := 0, 0
	for _, c := range data {
		switch c {
		case '(', '[', '{':
			d++
			most = max(most, d)
		case ')', ']', '}':
			if d > 0 {
				d--
			}
		}
	}
	return most
}

func newBlock(b *hclsyntax.Block, file string) *Block {
	out := &Block{Type: b.Type, Labels: b.Labels, File: file, Line: b.TypeRange.Start.Line,
		Attrs: make(map[string]*Attr, len(b.Body.Attributes)), body: b.Body}
	for name, a := range b.Body.Attributes {
		out.Attrs[name] = &Attr{Name: name, Line: a.SrcRange.Start.Line, expr: a.Expr}
	}
	for _, c := range b.Body.Blocks {
		out.Blocks = append(out.Blocks, newBlock(c, file))
	}
	return out
}

func (m *Module) collectVariables(bodies []*hclsyntax.Body) {
	for _, body := range bodies {
		for _, b := range body.Blocks {
			if b.Type != "variable" || len(b.Labels) != 1 {
				continue
			}
			v := cty.DynamicVal
			if a, ok := b.Body.Attributes["default"]; ok {
				if val, diags := a.Expr.Value(&hcl.EvalContext{Functions: m.funcs}); !diags.HasErrors() && cost(val, maxValueCost) <= maxValueCost {
					v = val
				}
			}
			m.vars[b.Labels[0]] = v
		}
	}
}

// collectLocals evaluates the locals: a local that refers to others is
// retried on the next pass, up to maxLocalPasses; what is left is unknown.
func (m *Module) collectLocals(bodies []*hclsyntax.Body) {
	pending := map[string]hclsyntax.Expression{}
	var names []string
	for _, body := range bodies {
		for _, b := range body.Blocks {
			if b.Type != "locals" {
				continue
			}
			for name, a := range b.Body.Attributes {
				pending[name] = a.Expr
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	for _, n := range names {
		m.locals[n] = cty.DynamicVal
	}
	for pass := 0; pass < maxLocalPasses && len(pending) > 0; pass++ {
		progress := false
		for _, n := range names {
			e, ok := pending[n]
			if !ok {
				continue
			}
			v := m.evalCty(e)
			if v.IsWhollyKnown() {
				m.locals[n] = v
				delete(m.refCosts, "local."+n)
				delete(pending, n)
				progress = true
			}
		}
		if !progress {
			break
		}
	}
	// what is still pending keeps its partly known value for the last time
	for _, n := range names {
		if e, ok := pending[n]; ok {
			m.locals[n] = m.evalCty(e)
			delete(m.refCosts, "local."+n)
		}
	}
}

// evalBlock evaluates a block's attributes and its nested blocks'.
func (m *Module) evalBlock(b *Block) {
	for _, a := range b.Attrs {
		a.Value = m.Eval(a.expr)
	}
	for _, c := range b.Blocks {
		m.evalBlock(c)
	}
}

// Eval evaluates an expression to plain data (Unknown where it cannot).
func (m *Module) Eval(e hclsyntax.Expression) any {
	return fromCty(m.evalCty(e))
}

// evalCty evaluates an expression, unknown (cty.DynamicVal) where it
// cannot: references to resources and data, missing variables, functions
// Vigil does not have, values too large.
func (m *Module) evalCty(e hclsyntax.Expression) cty.Value {
	if e == nil || nestedFor(e) {
		return cty.DynamicVal
	}
	if m.budget -= m.estimate(e); m.budget < 0 {
		m.budget = -1
		return cty.DynamicVal
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: m.funcs}
	for _, tr := range e.Variables() {
		root := tr.RootName()
		if _, ok := ctx.Variables[root]; ok {
			continue
		}
		switch root {
		case "var":
			ctx.Variables[root] = cty.ObjectVal(m.vars)
		case "local":
			ctx.Variables[root] = cty.ObjectVal(m.locals)
		default:
			ctx.Variables[root] = cty.DynamicVal
		}
	}
	v, diags := evalSafe(e, ctx)
	if diags.HasErrors() || cost(v, maxValueCost) > maxValueCost {
		return cty.DynamicVal
	}
	return v
}

func evalSafe(e hclsyntax.Expression, ctx *hcl.EvalContext) (v cty.Value, diags hcl.Diagnostics) {
	defer func() {
		if r := recover(); r != nil {
			v, diags = cty.DynamicVal, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprint(r)}}
		}
	}()
	v, diags = e.Value(ctx)
	if v.IsMarked() {
		v, _ = v.UnmarkDeep()
	}
	return v, diags
}

// estimate bounds the work of evaluating an expression: its nodes, plus the
// size of the var and local values it refers to (a function walks its
// arguments), plus for each for expression the size of its collection
// times the work of its body.
func (m *Module) estimate(e hclsyntax.Expression) int {
	total := m.flatCost(e)
	_ = hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		fe, ok := n.(*hclsyntax.ForExpr)
		if !ok {
			return nil
		}
		body := 0
		for _, x := range []hclsyntax.Expression{fe.KeyExpr, fe.ValExpr, fe.CondExpr} {
			if x != nil {
				body += m.flatCost(x)
			}
		}
		coll := m.flatCost(fe.CollExpr)
		if coll > 0 && body > maxModuleCost/coll {
			total = maxModuleCost + 1
		} else {
			total += coll * body
		}
		return nil
	})
	return min(total, maxModuleCost+1)
}

// flatCost counts an expression's nodes and the size of the values its
// var.x and local.x references stand for.
func (m *Module) flatCost(e hclsyntax.Expression) int {
	c := 0
	_ = hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		c++
		if st, ok := n.(*hclsyntax.ScopeTraversalExpr); ok {
			c += m.refCost(st.Traversal)
		}
		return nil
	})
	return c
}

func (m *Module) refCost(tr hcl.Traversal) int {
	if len(tr) < 2 {
		return 0
	}
	attr, ok := tr[1].(hcl.TraverseAttr)
	if !ok {
		return 0
	}
	var v cty.Value
	switch tr.RootName() {
	case "var":
		v, ok = m.vars[attr.Name]
	case "local":
		v, ok = m.locals[attr.Name]
	default:
		return 0
	}
	if !ok {
		return 0
	}
	key := tr.RootName() + "." + attr.Name
	if c, ok := m.refCosts[key]; ok {
		return c
	}
	c := cost(v, maxValueCost)
	m.refCosts[key] = c
	return c
}

// nestedFor reports a for expression inside another: their cost multiplies,
// so they are not evaluated.
func nestedFor(e hclsyntax.Expression) bool {
	w := &forDepth{}
	_ = hclsyntax.Walk(e, w)
	return w.nested
}

type forDepth struct {
	depth  int
	nested bool
}

func (w *forDepth) Enter(n hclsyntax.Node) hcl.Diagnostics {
	if _, ok := n.(*hclsyntax.ForExpr); ok {
		w.depth++
		if w.depth > 1 {
			w.nested = true
		}
	}
	return nil
}

func (w *forDepth) Exit(n hclsyntax.Node) hcl.Diagnostics {
	if _, ok := n.(*hclsyntax.ForExpr); ok {
		w.depth--
	}
	return nil
}

// cost is a value's expanded size (a node each, a string's length / 16),
// counted up to limit.
func cost(v cty.Value, limit int) int {
	c := 0
	var walk func(v cty.Value)
	walk = func(v cty.Value) {
		if c > limit {
			return
		}
		c++
		if !v.IsKnown() || v.IsNull() {
			return
		}
		t := v.Type()
		switch {
		case t == cty.String:
			c += len(v.AsString()) / 16
		case t.IsListType() || t.IsSetType() || t.IsTupleType() || t.IsMapType() || t.IsObjectType():
			for it := v.ElementIterator(); it.Next(); {
				_, e := it.Element()
				walk(e)
				if c > limit {
					return
				}
			}
		}
	}
	walk(v)
	return c
}

// fromCty converts a value to plain data; unknown parts are Unknown.
func fromCty(v cty.Value) any {
	if v.IsMarked() {
		v, _ = v.UnmarkDeep()
	}
	if !v.IsKnown() {
		return Unknown{}
	}
	if v.IsNull() {
		return nil
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString()
	case t == cty.Bool:
		return v.True()
	case t == cty.Number:
		bf := v.AsBigFloat()
		if bf.IsInt() {
			if i, acc := bf.Int64(); acc == big.Exact {
				return i
			}
		}
		f, _ := bf.Float64()
		return f
	case t.IsListType() || t.IsSetType() || t.IsTupleType():
		out := make([]any, 0, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, fromCty(e))
		}
		return out
	case t.IsMapType() || t.IsObjectType():
		out := make(map[string]any, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			out[k.AsString()] = fromCty(e)
		}
		return out
	}
	return Unknown{}
}

// functions are the pure functions Terraform shares with cty's standard
// library, minus those whose result can grow without bound from a small
// input (range, setproduct, format's widths, replace); a call to any other
// function is unknown.
func functions() map[string]function.Function {
	fs := map[string]function.Function{
		"jsonencode": stdlib.JSONEncodeFunc, "jsondecode": stdlib.JSONDecodeFunc,
		"lower": stdlib.LowerFunc, "upper": stdlib.UpperFunc, "title": stdlib.TitleFunc,
		"trimspace": stdlib.TrimSpaceFunc, "trim": stdlib.TrimFunc, "trimprefix": stdlib.TrimPrefixFunc,
		"trimsuffix": stdlib.TrimSuffixFunc, "chomp": stdlib.ChompFunc, "join": stdlib.JoinFunc,
		"split": stdlib.SplitFunc, "concat": stdlib.ConcatFunc, "merge": stdlib.MergeFunc,
		"coalesce": stdlib.CoalesceFunc, "compact": stdlib.CompactFunc, "contains": stdlib.ContainsFunc,
		"distinct": stdlib.DistinctFunc, "element": stdlib.ElementFunc, "flatten": stdlib.FlattenFunc,
		"keys": stdlib.KeysFunc, "values": stdlib.ValuesFunc, "length": stdlib.LengthFunc,
		"lookup": stdlib.LookupFunc, "min": stdlib.MinFunc, "max": stdlib.MaxFunc, "abs": stdlib.AbsoluteFunc,
		"ceil": stdlib.CeilFunc, "floor": stdlib.FloorFunc, "substr": stdlib.SubstrFunc,
		"tolist": stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)), "toset": stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		"tomap": stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)), "tostring": stdlib.MakeToFunc(cty.String),
		"tonumber": stdlib.MakeToFunc(cty.Number), "tobool": stdlib.MakeToFunc(cty.Bool),
	}
	return fs
}

// toInt reads an integer (a number or a numeric string, as Terraform
// converts them).
func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		if x == float64(int64(x)) {
			return int64(x), true
		}
	case string:
		var n int64
		if _, err := fmt.Sscanf(strings.TrimSpace(x), "%d", &n); err == nil && fmt.Sprint(n) == strings.TrimSpace(x) {
			return n, true
		}
	}
	return 0, false
}

// Data returns a file's resources and data sources as plain data for Rego
// policies: {"resource": {type: {name: attrs}}, "data": {...}}. Attributes
// are their evaluated values (unknown ones are null); nested blocks are
// lists of objects under their type.
func (f *File) Data() map[string]any {
	res, data := map[string]any{}, map[string]any{}
	for _, b := range f.Blocks {
		var into map[string]any
		switch {
		case b.Type == "resource" && len(b.Labels) == 2:
			into = res
		case b.Type == "data" && len(b.Labels) == 2:
			into = data
		default:
			continue
		}
		byName, _ := into[b.Labels[0]].(map[string]any)
		if byName == nil {
			byName = map[string]any{}
			into[b.Labels[0]] = byName
		}
		byName[b.Labels[1]] = b.plain()
	}
	return map[string]any{"resource": res, "data": data}
}

func (b *Block) plain() map[string]any {
	out := make(map[string]any, len(b.Attrs)+len(b.Blocks))
	for name, a := range b.Attrs {
		out[name] = plainValue(a.Value)
	}
	for _, c := range b.Blocks {
		typ := c.Type
		if typ == "dynamic" && len(c.Labels) == 1 {
			continue // unknown until planned
		}
		list, _ := out[typ].([]any)
		out[typ] = append(list, c.plain())
	}
	return out
}

// plainValue replaces Unknown with nil.
func plainValue(v any) any {
	switch x := v.(type) {
	case Unknown:
		return nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plainValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plainValue(e)
		}
		return out
	}
	return v
}
