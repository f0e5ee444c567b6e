// Package gocode is the scanner of Go source code (scanner id "gocode"). For
// every Go module in the target (each go.mod outside vendor/ and testdata/)
// it loads the module's packages with the go command
// (golang.org/x/tools/go/packages; test files only with Options.Tests; no
// downloads, no cgo, no toolchain switch, no go.work) and reports:
//
//   - injection flaws (VGL-GO-001 SQL injection, 002 OS command injection,
//     003 path traversal, 004 SSRF, 005 XSS) found by interprocedural taint
//     tracking on SSA from sources of attacker data to sinks;
//   - weak cryptography (010 MD5/SHA-1, 011 DES/3DES/RC4, 012 RSA keys under
//     2048 bits, 013 InsecureSkipVerify, 014 TLS below 1.2, 015 math/rand
//     making secrets) and hard-coded credentials (016), from the syntax trees.
//
// A module that cannot be loaded (no go command, dependencies missing from
// the module cache, build errors) is a scan.Problem naming the module and
// the first causes; its packages that load are still analysed, and the
// syntax checks run on the others (without types when nothing loads).
//
// It also answers which vulnerable symbols a module's code can call
// (Reachable), for the dependency scanner.
//
// # Taint tracking
//
// Each function with code (the module's) gets a summary: where the data of
// its parameters and free variables goes (its results, what its pointer
// parameters point to, sinks) and which sources come out of its results.
// Summaries are computed callees first and again when a callee's summary
// grows, so flows through helpers are context-sensitive on parameters and
// results (a helper called with a constant does not report its caller
// with a request parameter, and the other way round). Within a function the
// analysis is flow-insensitive and field-sensitive along access paths
// (x.f.g, fields numbered per struct type, up to Limits.FieldDepth);
// elements of slices, arrays, maps and channels are their container (one
// tainted element taints them all, but their fields stay apart); a pointer
// and what it points to are one location; package variables are shared by
// all functions (sources stored in one are seen by every reader).
// Closures: what a closure does to its free variables is applied where it
// is made; a call of a closure value resolves its free variables from the
// MakeClosure when the call sees it.
//
// Interface and function-value calls go to the callees of a VTA call graph
// (golang.org/x/tools/go/callgraph/vta) rather than CHA: VTA keeps only the
// implementations whose values actually flow to the call, where CHA would
// send every io.Writer.Write to every writer of the program (a safe
// implementation would be reported for its vulnerable sibling); it costs
// about 0.4 s on Vigil's 72 packages. Interface calls VTA cannot resolve
// (values from outside the module) fall back to the sink models of the
// concrete types implementing the interface (*sql.DB, *http.Client).
//
// Code outside the module (the standard library, dependencies) is loaded
// from export data and has no SSA: modelled functions do what their model
// says; the others pass their arguments' taint to their results, reader-like
// functions (Read*, Decode*, Unmarshal*, Scan*, Copy*) into their pointer
// arguments, writer-like methods (Write*, Set*, Add*, Append*, ...) into their
// receiver. That covers fmt.Sprintf, strings and bytes functions, strings.Builder
// and bytes.Buffer, filepath.Join, url.Values.Get, io.ReadAll,
// json.Decoder.Decode of a request body (every field of the struct is then
// tainted; numbers, booleans, errors, contexts, times carry no taint).
//
// Sources: *http.Request's FormValue, PostFormValue, PathValue, Cookie(s),
// UserAgent, Referer, BasicAuth, FormFile, MultipartReader; the fields URL,
// RequestURI, Host, Header, Trailer, Body, GetBody, Form, PostForm,
// MultipartForm of the request of an HTTP handler (a function with an
// http.ResponseWriter and a *http.Request parameter), read there or in the
// functions it passes the request to (a request the program builds to send
// is not a source); os.Args, flag values (flag.String, StringVar, Arg, Args),
// os.Stdin (so bufio readers and scanners over it), fmt.Scan*. The command
// line and standard input are not sources of path traversal or SSRF: whoever
// runs a command may name its files and hosts. Not sources: os.Getenv
// (deployment configuration, and far too noisy), files, databases and
// network responses (no second-order flows).
//
// Sinks: database/sql DB/Tx/Conn Query, QueryRow, Exec, Prepare (and their
// Context variants; a Stmt's query is checked at Prepare) for the query
// string, not its arguments; os/exec Command/CommandContext for the program,
// and for the arguments after -c (/c, -Command) when the program is a shell;
// syscall.Exec, os.StartProcess; os file functions (Open, OpenFile,
// ReadFile, WriteFile, Create, CreateTemp, Remove, RemoveAll, Mkdir*, ReadDir,
// Rename, Chmod, Chown, Truncate, Symlink, Link), ioutil.ReadFile/WriteFile/
// ReadDir, http.ServeFile; http.Get/Head/Post/PostForm, the same methods of
// *http.Client and its Do, http.NewRequest(WithContext), net.Dial(Timeout),
// net.Dialer.Dial(Context); conversions to html/template's HTML, HTMLAttr,
// JS, JSStr, URL, CSS, Srcset; text/template Execute(Template) into an
// http.ResponseWriter, fmt.Fprint*, io.WriteString and Write on an
// http.ResponseWriter — unless the function writing (or one calling it) sets
// a constant Content-Type that is not HTML, XML or SVG.
//
// Sanitizers: strconv's parse functions (and any conversion to a number),
// html.EscapeString and html/template's and text/template's
// HTMLEscapeString, JSEscapeString, HTMLEscaper, JSEscaper (for XSS),
// URLQueryEscaper and url.QueryEscape (for all), url.PathEscape (all but
// command injection), filepath.Base and path.Base (for path traversal). A
// path is also safe where a guard dominates the sink (see pathGuarded):
// strings.HasPrefix(p, base) true on a p from filepath.Clean/Join/Abs;
// filepath.Rel then !strings.HasPrefix(rel, ".."); filepath.IsLocal. A
// regexp MatchString guard does not sanitise, nor does HasPrefix on a path
// that was not cleaned, nor strings.Contains(p, ".."). For every class, a
// value used where it can only equal a constant (an allow-list switch,
// if v == "x", after if v != "x" { return }) carries nothing there.
//
// Limits (Limits, DefaultLimits): 8 sources and 8 parameter origins per
// value, traces of 16 steps, field paths of 4 components and 24 paths per
// value, 32 passes over a function per analysis, 8 analyses and 1 million
// units of work per function (past that its summary stays as found: a
// Problem names those functions), 150 million units of work per module
// (instructions visited and facts mapped through calls; past that: a
// Problem, and the findings so far). Functions are analysed callees first
// (post-order of the call graph, a priority queue), in an order that does
// not depend on the loader's.
//
// Not tracked: flows through channels between goroutines beyond the
// channel value itself, context.WithValue, reflection and unsafe, sync.Map
// and other containers behind external APIs (they get the default
// propagation only), taint stored into the heap and read back through a
// different pointer that is not a parameter, result or package variable of
// the functions involved (no alias analysis), the order of statements (a
// value overwritten before the sink still counts), data through io.Writer
// parameters into a ResponseWriter (the writer must be an
// http.ResponseWriter where the data is written), second-order flows, the
// request types of web frameworks (gin, echo, fiber: only net/http is
// modelled).
package gocode
