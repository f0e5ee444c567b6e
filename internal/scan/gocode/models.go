package gocode

import (
	"go/types"
	"strings"

	"golang.org/x/tools/go/ssa"
)

// A model says what a library function does to taint: it is a source (its
// results, or what its arguments point to, become tainted), a sink (some of
// its arguments must not be tainted), a sanitizer (its results carry its
// arguments' taint less some classes) or a propagator. Functions without a
// model and without SSA code (everything outside the analysed module) get the
// default: their results carry the taint of all their arguments.
type model struct {
	source *sourceModel
	sink   *sinkModel
	prop   propKind
	clear  class // for propSanitize: the classes the function makes safe
}

type propKind uint8

const (
	propDefault  propKind = iota // results carry every argument's taint
	propNone                     // nothing flows through
	propSanitize                 // results carry the arguments' taint less clear
	propIntoArg0                 // the other arguments flow into what argument 0 points to (fmt.Fprintf, io.WriteString)
)

// sourceModel: a call that returns attacker-controlled data.
type sourceModel struct {
	kind    string // "request parameter", "standard input", ...
	results []int  // tainted result indices
	ptrArgs []int  // arguments whose pointee is filled with input (flag.StringVar)
	// pointees: the variadic argument at this index holds pointers that are
	// filled with input (fmt.Scan); -1 when none.
	pointees int
	// mask are the classes the data is dangerous for: everything for
	// network input; for the command line and standard input not path
	// traversal and SSRF (whoever runs a command may name its files and
	// hosts).
	mask class
}

// clsLocal are the classes local input (command line, standard input) is
// dangerous for.
const clsLocal = clsSQL | clsCmd | clsXSS

// sinkModel: the values of a call that must not be tainted for rule.
type sinkModel struct {
	class class
	// args are the argument indices to check (the receiver is index 0 of a
	// method); check replaces them for sinks that depend on the call's shape.
	args  []int
	check func(a *fanalysis, argv []ssa.Value) []ssa.Value
}

// models is the table of modelled functions, keyed by funcKey. It is built
// for each analysis (no package state).
type models map[string]*model

func sink(c class, args ...int) *model {
	return &model{sink: &sinkModel{class: c, args: args}, prop: propNone}
}

func source(kind string, results ...int) *model {
	return &model{source: &sourceModel{kind: kind, results: results, pointees: -1, mask: clsAll}, prop: propNone}
}

func localSource(kind string, results ...int) *model {
	m := source(kind, results...)
	m.source.mask = clsLocal
	return m
}

func sanitizer(c class) *model { return &model{prop: propSanitize, clear: c} }

func newModels() models {
	m := models{}
	// SQL injection: the query string of database/sql's query methods.
	for _, t := range []string{"DB", "Tx", "Conn"} {
		for _, meth := range []string{"Query", "QueryRow", "Exec", "Prepare"} {
			m["database/sql."+t+"."+meth] = sink(clsSQL, 1)
			m["database/sql."+t+"."+meth+"Context"] = sink(clsSQL, 2)
		}
	}
	// Command injection.
	m["os/exec.Command"] = &model{sink: &sinkModel{class: clsCmd, check: commandArgs(0)}, prop: propNone}
	m["os/exec.CommandContext"] = &model{sink: &sinkModel{class: clsCmd, check: commandArgs(1)}, prop: propNone}
	m["syscall.Exec"] = sink(clsCmd, 0)
	m["os.StartProcess"] = sink(clsCmd, 0)
	// Path traversal: the file name of os and ioutil file functions.
	for _, f := range []string{"Open", "OpenFile", "ReadFile", "WriteFile", "Create", "Remove", "RemoveAll",
		"Mkdir", "MkdirAll", "MkdirTemp", "ReadDir", "Chmod", "Chown", "Truncate", "CreateTemp"} {
		m["os."+f] = sink(clsPath, 0)
	}
	m["os.Rename"] = sink(clsPath, 0, 1)
	m["os.Symlink"] = sink(clsPath, 0, 1)
	m["os.Link"] = sink(clsPath, 0, 1)
	for _, f := range []string{"ReadFile", "WriteFile", "ReadDir", "TempFile", "TempDir"} {
		m["io/ioutil."+f] = sink(clsPath, 0)
	}
	m["net/http.ServeFile"] = sink(clsPath, 2)
	// SSRF: the URL or address of outbound requests.
	for _, f := range []string{"Get", "Head", "Post", "PostForm"} {
		m["net/http."+f] = sink(clsSSRF, 0)
		m["net/http.Client."+f] = sink(clsSSRF, 1)
	}
	m["net/http.NewRequest"] = sink(clsSSRF, 1)
	m["net/http.NewRequestWithContext"] = sink(clsSSRF, 2)
	m["net/http.Client.Do"] = sink(clsSSRF, 1)
	m["net.Dial"] = sink(clsSSRF, 1)
	m["net.DialTimeout"] = sink(clsSSRF, 1)
	m["net.Dialer.Dial"] = sink(clsSSRF, 2)
	m["net.Dialer.DialContext"] = sink(clsSSRF, 3)
	// XSS: unescaped writes to an http.ResponseWriter. The html/template
	// conversions (template.HTML(x)) are SSA conversions, checked apart.
	m["text/template.Template.Execute"] = &model{sink: &sinkModel{class: clsXSS, check: toResponse(1, 2)}, prop: propNone}
	m["text/template.Template.ExecuteTemplate"] = &model{sink: &sinkModel{class: clsXSS, check: toResponse(1, 3)}, prop: propNone}
	for _, f := range []string{"Fprint", "Fprintf", "Fprintln"} {
		m["fmt."+f] = &model{sink: &sinkModel{class: clsXSS, check: toResponse(0, -1)}, prop: propIntoArg0}
	}
	m["io.WriteString"] = &model{sink: &sinkModel{class: clsXSS, check: toResponse(0, 1)}, prop: propIntoArg0}
	m["net/http.ResponseWriter.Write"] = sink(clsXSS, 1)

	// Sources on *http.Request (its fields are sources too: see requestField).
	for f, kind := range map[string]string{
		"FormValue": "request parameter", "PostFormValue": "request parameter",
		"PathValue": "request path value", "UserAgent": "request header", "Referer": "request header",
		"Cookies": "request cookie",
	} {
		m["net/http.Request."+f] = source(kind, 0)
	}
	m["net/http.Request.Cookie"] = source("request cookie", 0)
	m["net/http.Request.BasicAuth"] = source("request credentials", 0, 1)
	m["net/http.Request.FormFile"] = source("request file", 0, 1)
	m["net/http.Request.MultipartReader"] = source("request body", 0)
	for _, f := range []string{"Scan", "Scanln", "Scanf"} {
		idx := 0
		if f == "Scanf" {
			idx = 1
		}
		m["fmt."+f] = &model{source: &sourceModel{kind: "standard input", pointees: idx, mask: clsLocal}, prop: propNone}
	}
	// Command-line flags (os.Args itself is a source on its own: see
	// sourceGlobal).
	for _, p := range []string{"flag.", "flag.FlagSet."} {
		recv := 0
		if p == "flag.FlagSet." {
			recv = 1
		}
		m[p+"String"] = localSource("command-line flag", 0)
		m[p+"Arg"] = localSource("command-line argument", 0)
		m[p+"Args"] = localSource("command-line argument", 0)
		sv := localSource("command-line flag")
		sv.source.ptrArgs = []int{recv}
		m[p+"StringVar"] = sv
	}

	// Sanitizers.
	for _, f := range []string{"Atoi", "ParseInt", "ParseUint", "ParseFloat", "ParseBool", "ParseComplex"} {
		m["strconv."+f] = sanitizer(clsAll)
	}
	m["html.EscapeString"] = sanitizer(clsXSS)
	for _, p := range []string{"html/template", "text/template"} {
		for _, f := range []string{"HTMLEscapeString", "JSEscapeString", "HTMLEscaper", "JSEscaper"} {
			m[p+"."+f] = sanitizer(clsXSS)
		}
		m[p+".URLQueryEscaper"] = sanitizer(clsAll)
	}
	m["net/url.QueryEscape"] = sanitizer(clsAll)
	m["net/url.PathEscape"] = sanitizer(clsXSS | clsPath | clsSSRF | clsSQL)
	m["path/filepath.Base"] = sanitizer(clsPath)
	m["path.Base"] = sanitizer(clsPath)
	return m
}

// requestSourceFields are the fields of net/http.Request that hold client
// input, with the kind of source they are.
func requestSourceField(name string) string {
	switch name {
	case "URL", "RequestURI", "Host":
		return "request URL"
	case "Header", "Trailer":
		return "request header"
	case "Body", "GetBody":
		return "request body"
	case "Form", "PostForm", "MultipartForm":
		return "request parameter"
	}
	return ""
}

// commandArgs checks exec.Command(name, args...) (name at index n): the
// program name, and when the program is a shell run with -c (or cmd /c),
// the arguments after that flag.
func commandArgs(n int) func(a *fanalysis, argv []ssa.Value) []ssa.Value {
	return func(a *fanalysis, argv []ssa.Value) []ssa.Value {
		if len(argv) <= n {
			return nil
		}
		out := []ssa.Value{argv[n]}
		if len(argv) <= n+1 || !isShell(constString(argv[n])) {
			return out
		}
		elems, ok := variadicElems(argv[n+1])
		if !ok {
			return append(out, argv[n+1])
		}
		for i, e := range elems {
			if e == nil {
				continue
			}
			switch constString(e) {
			case "-c", "/c", "/C", "-Command", "-command":
				for _, rest := range elems[i+1:] {
					if rest != nil {
						out = append(out, rest)
					}
				}
				return out
			}
		}
		return out
	}
}

func isShell(prog string) bool {
	base := prog
	if i := strings.LastIndexAny(base, `/\`); i >= 0 {
		base = base[i+1:]
	}
	switch strings.ToLower(strings.TrimSuffix(strings.ToLower(base), ".exe")) {
	case "sh", "bash", "zsh", "dash", "ksh", "ash", "fish", "cmd", "powershell", "pwsh":
		return true
	}
	return false
}

// toResponse checks writes to an http.ResponseWriter: when the argument at w
// is one, the data argument (data; -1: every argument after w) is checked.
func toResponse(w, data int) func(a *fanalysis, argv []ssa.Value) []ssa.Value {
	return func(a *fanalysis, argv []ssa.Value) []ssa.Value {
		if len(argv) <= w || !a.e.isResponseWriter(argv[w]) {
			return nil
		}
		if data >= 0 {
			if data < len(argv) {
				return []ssa.Value{argv[data]}
			}
			return nil
		}
		return argv[w+1:]
	}
}

// constString returns the value of a string constant, or "".
func constString(v ssa.Value) string {
	v = stripConv(v)
	if c, ok := v.(*ssa.Const); ok && c.Value != nil {
		if s, ok := constantString(c); ok {
			return s
		}
	}
	return ""
}

// variadicElems returns the elements of a variadic argument slice built by
// the compiler (an array allocated, stored at constant indices, sliced);
// ok is false when the slice comes from elsewhere.
func variadicElems(v ssa.Value) ([]ssa.Value, bool) {
	sl, ok := v.(*ssa.Slice)
	if !ok {
		if c, ok := v.(*ssa.Const); ok && c.IsNil() {
			return nil, true
		}
		return nil, false
	}
	arr, ok := sl.X.(*ssa.Alloc)
	if !ok {
		return nil, false
	}
	at, ok := types.Unalias(arr.Type()).(*types.Pointer)
	if !ok {
		return nil, false
	}
	array, ok := at.Elem().Underlying().(*types.Array)
	if !ok {
		return nil, false
	}
	elems := make([]ssa.Value, array.Len())
	for _, r := range *arr.Referrers() {
		ia, ok := r.(*ssa.IndexAddr)
		if !ok {
			continue
		}
		c, ok := ia.Index.(*ssa.Const)
		if !ok {
			return nil, false
		}
		i := c.Int64()
		if i < 0 || i >= int64(len(elems)) {
			return nil, false
		}
		for _, rr := range *ia.Referrers() {
			if st, ok := rr.(*ssa.Store); ok && st.Addr == ia {
				elems[i] = stripConv(st.Val)
			}
		}
	}
	return elems, true
}

// stripConv looks through conversions that keep a value's content.
func stripConv(v ssa.Value) ssa.Value {
	for range 8 {
		switch x := v.(type) {
		case *ssa.MakeInterface:
			v = x.X
		case *ssa.ChangeInterface:
			v = x.X
		case *ssa.ChangeType:
			v = x.X
		case *ssa.Convert:
			v = x.X
		default:
			return v
		}
	}
	return v
}

// funcKey names a function for the models: "pkg/path.Name" for functions,
// "pkg/path.Type.Name" for methods (pointer or not), and the same for
// interface methods ("net/http.ResponseWriter.Write").
func funcKey(fn *ssa.Function) string {
	if fn == nil {
		return ""
	}
	if o := fn.Origin(); o != nil {
		fn = o
	}
	if obj, ok := fn.Object().(*types.Func); ok {
		return objKey(obj)
	}
	return ""
}

func objKey(obj *types.Func) string {
	if obj == nil || obj.Pkg() == nil {
		return ""
	}
	if o := obj.Origin(); o != nil {
		obj = o
	}
	sig, _ := obj.Type().(*types.Signature)
	if sig != nil && sig.Recv() != nil {
		t := sig.Recv().Type()
		if p, ok := types.Unalias(t).(*types.Pointer); ok {
			t = p.Elem()
		}
		if n, ok := types.Unalias(t).(*types.Named); ok && n.Obj().Pkg() != nil {
			return n.Obj().Pkg().Path() + "." + n.Obj().Name() + "." + obj.Name()
		}
		return ""
	}
	return obj.Pkg().Path() + "." + obj.Name()
}
