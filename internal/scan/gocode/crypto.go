package gocode

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
	"math"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/tools/go/packages"

	"github.com/vigilsec/vigil/internal/scan"
)

// crypto runs the syntax checks (weak cryptography, hard-coded credentials)
// on the module's packages, with their type information when there is some.
func (r *moduleRun) crypto(pkgs []*packages.Package) {
	c := &checker{root: r.t.Root, repo: r.t.Repository, tests: r.s.opts.Tests}
	var unparsed []string
	done := map[string]bool{}
	for _, p := range pkgs {
		c.fset = p.Fset
		if len(p.Syntax) == 0 {
			for _, name := range p.GoFiles {
				if !done[name] {
					done[name] = true
					unparsed = append(unparsed, name)
				}
			}
			continue
		}
		for _, f := range p.Syntax {
			name := ""
			if tf := p.Fset.File(f.FileStart); tf != nil {
				name = tf.Name()
			}
			if done[name] {
				continue
			}
			done[name] = true
			r.findings = append(r.findings, c.file(f, p.TypesInfo)...)
		}
	}
	if len(unparsed) > 0 {
		r.syntaxOnly(unparsed)
	}
}

// checker runs the syntax checks on files.
type checker struct {
	fset  *token.FileSet
	root  string
	repo  string
	tests bool
}

// fileCheck is the check of one file.
type fileCheck struct {
	c        *checker
	info     *types.Info // may be nil or partial
	imports  map[string]string
	test     bool
	fn       string // the enclosing top-level declaration
	findings []scan.Finding
}

// file checks one file; info may be nil (no type information).
func (c *checker) file(f *ast.File, info *types.Info) []scan.Finding {
	name := ""
	if tf := c.fset.File(f.FileStart); tf != nil {
		name = tf.Name()
	}
	test := strings.HasSuffix(name, "_test.go")
	if test && !c.tests {
		return nil
	}
	x := &fileCheck{c: c, info: info, imports: map[string]string{}, test: test}
	for _, im := range f.Imports {
		p, err := strconv.Unquote(im.Path.Value)
		if err != nil {
			continue
		}
		local := path.Base(p)
		if strings.HasPrefix(local, "v") && len(local) <= 3 && path.Dir(p) != "." { // math/rand/v2
			local = path.Base(path.Dir(p))
		}
		if im.Name != nil {
			local = im.Name.Name
		}
		x.imports[local] = p
	}
	for _, d := range f.Decls {
		x.fn = declName(d)
		ast.Inspect(d, x.visit)
	}
	return x.findings
}

func declName(d ast.Decl) string {
	fd, ok := d.(*ast.FuncDecl)
	if !ok {
		return "(package)"
	}
	if fd.Recv != nil && len(fd.Recv.List) == 1 {
		t := fd.Recv.List[0].Type
		if s, ok := t.(*ast.StarExpr); ok {
			t = s.X
		}
		if ix, ok := t.(*ast.IndexExpr); ok {
			t = ix.X
		}
		if ix, ok := t.(*ast.IndexListExpr); ok {
			t = ix.X
		}
		return types.ExprString(t) + "." + fd.Name.Name
	}
	return fd.Name.Name
}

func (x *fileCheck) add(ruleID string, n ast.Node, key, msg string) {
	rule := ruleByID(ruleID)
	for _, f := range x.findings {
		if f.RuleID == ruleID && f.Location.StartLine == x.c.fset.Position(n.Pos()).Line && f.Location.StartCol == x.c.fset.Position(n.Pos()).Column {
			return
		}
	}
	ps := x.c.fset.Position(n.Pos())
	pe := x.c.fset.Position(n.End())
	loc := scan.Location{Path: relPath(x.c.root, ps.Filename), StartLine: ps.Line, StartCol: ps.Column, EndLine: pe.Line, EndCol: pe.Column}
	if ruleID != RuleHardcodedCred {
		loc.Snippet = exprSnippet(n)
	}
	x.findings = append(x.findings, scan.Finding{
		RuleID:      rule.ID,
		Kind:        scan.KindCode,
		Severity:    rule.Severity,
		Title:       rule.Title,
		Message:     msg,
		Location:    loc,
		Remediation: rule.Remediation,
		References:  rule.References,
		Subject:     scan.Subject{Repository: x.c.repo},
		Key:         x.fn + "|" + key,
	})
}

func exprSnippet(n ast.Node) string {
	e, ok := n.(ast.Expr)
	if !ok {
		return ""
	}
	return exprText(e)
}

// pkgOf returns the import path a package name refers to ("" when id is
// not a package name).
func (x *fileCheck) pkgOf(e ast.Expr) string {
	id, ok := ast.Unparen(e).(*ast.Ident)
	if !ok {
		return ""
	}
	if x.info != nil {
		switch o := x.info.Uses[id].(type) {
		case *types.PkgName:
			return o.Imported().Path()
		case nil:
		default:
			return "" // a variable shadowing the package
		}
	}
	return x.imports[id.Name]
}

// qualified returns the package and name of pkg.Name.
func (x *fileCheck) qualified(e ast.Expr) (string, string) {
	sel, ok := ast.Unparen(e).(*ast.SelectorExpr)
	if !ok {
		return "", ""
	}
	if p := x.pkgOf(sel.X); p != "" {
		return p, sel.Sel.Name
	}
	return "", ""
}

// tlsVersions are crypto/tls's version constants, for files without types.
var tlsVersions = map[string]int64{"VersionSSL30": 0x0300, "VersionTLS10": 0x0301, "VersionTLS11": 0x0302, "VersionTLS12": 0x0303, "VersionTLS13": 0x0304}

// constValue returns the constant value of e, or nil.
func (x *fileCheck) constValue(e ast.Expr) constant.Value {
	e = ast.Unparen(e)
	if x.info != nil {
		if tv, ok := x.info.Types[e]; ok && tv.Value != nil {
			return tv.Value
		}
	}
	switch e := e.(type) {
	case *ast.BasicLit:
		v := constant.MakeFromLiteral(e.Value, e.Kind, 0)
		if v.Kind() == constant.Unknown {
			return nil
		}
		return v
	case *ast.Ident:
		switch e.Name {
		case "true":
			return constant.MakeBool(true)
		case "false":
			return constant.MakeBool(false)
		}
	case *ast.SelectorExpr:
		if p, n := x.qualified(e); p == "crypto/tls" {
			if v, ok := tlsVersions[n]; ok {
				return constant.MakeInt64(v)
			}
		}
	}
	return nil
}

func (x *fileCheck) constString(e ast.Expr) (string, bool) {
	v := x.constValue(e)
	if v == nil || v.Kind() != constant.String {
		return "", false
	}
	return constant.StringVal(v), true
}

func (x *fileCheck) constInt(e ast.Expr) (int64, bool) {
	v := x.constValue(e)
	if v == nil {
		return 0, false
	}
	v = constant.ToInt(v)
	if v.Kind() != constant.Int {
		return 0, false
	}
	return constant.Int64Val(v)
}

func (x *fileCheck) isTrue(e ast.Expr) bool {
	v := x.constValue(e)
	return v != nil && v.Kind() == constant.Bool && constant.BoolVal(v)
}

// isTLSConfig reports whether a composite literal builds a tls.Config.
func (x *fileCheck) isTLSConfig(lit *ast.CompositeLit) bool {
	if x.info != nil {
		if t := x.info.TypeOf(lit); t != nil {
			return isNamed(t, "crypto/tls", "Config")
		}
	}
	p, n := x.qualified(lit.Type)
	return p == "crypto/tls" && n == "Config"
}

// tlsField reports whether sel selects a field of a tls.Config (without
// types: any field of that name).
func (x *fileCheck) tlsField(sel *ast.SelectorExpr) bool {
	if x.info != nil {
		if s, ok := x.info.Selections[sel]; ok {
			return isNamed(s.Recv(), "crypto/tls", "Config")
		}
	}
	return true
}

func isNamed(t types.Type, pkg, name string) bool {
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		t = p.Elem()
	}
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == pkg && n.Obj().Name() == name
}

func (x *fileCheck) visit(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.SelectorExpr:
		x.weakPrimitive(n)
	case *ast.CallExpr:
		x.call(n)
	case *ast.CompositeLit:
		x.compositeLit(n)
	case *ast.AssignStmt:
		x.assign(n)
	case *ast.ValueSpec:
		for i, name := range n.Names {
			if i < len(n.Values) {
				x.credential(name.Name, n.Values[i], n.Values[i])
				x.weakRandom(name.Name, n.Values[i])
			}
		}
	case *ast.BinaryExpr:
		if n.Op == token.EQL || n.Op == token.NEQ {
			if name := exprName(n.X); name != "" {
				x.credential(name, n.Y, n.Y)
			}
			if name := exprName(n.Y); name != "" {
				x.credential(name, n.X, n.X)
			}
		}
	case *ast.FuncDecl:
		x.secretFunc(n)
	}
	return true
}

// weakPrimitive: any use of crypto/md5, crypto/sha1, crypto/des or crypto/rc4.
func (x *fileCheck) weakPrimitive(sel *ast.SelectorExpr) {
	p, name := x.qualified(sel)
	switch p {
	case "crypto/md5", "crypto/sha1":
		if name == "New" || name == "Sum" {
			alg := map[string]string{"crypto/md5": "MD5", "crypto/sha1": "SHA-1"}[p]
			x.add(RuleWeakHash, sel, exprText(sel), fmt.Sprintf("%s uses %s, a broken hash; use SHA-256 (crypto/sha256) or stronger", exprText(sel), alg))
		}
	case "crypto/des":
		if name == "NewCipher" || name == "NewTripleDESCipher" {
			x.add(RuleWeakCipher, sel, exprText(sel), fmt.Sprintf("%s uses DES/3DES, a broken cipher; use AES-GCM", exprText(sel)))
		}
	case "crypto/rc4":
		if name == "NewCipher" {
			x.add(RuleWeakCipher, sel, exprText(sel), fmt.Sprintf("%s uses RC4, a broken cipher; use AES-GCM or ChaCha20-Poly1305", exprText(sel)))
		}
	}
}

func (x *fileCheck) call(call *ast.CallExpr) {
	p, name := x.qualified(call.Fun)
	switch {
	case p == "crypto/rsa" && (name == "GenerateKey" || name == "GenerateMultiPrimeKey") && len(call.Args) > 0:
		bits := call.Args[len(call.Args)-1]
		if b, ok := x.constInt(bits); ok && b < 2048 {
			x.add(RuleShortRSAKey, call, fmt.Sprintf("rsa.%s(%d)", name, b), fmt.Sprintf("RSA key of %d bits generated; use at least 2048", b))
		}
	case p == "database/sql" && name == "Open" && len(call.Args) == 2:
		if dsn, ok := x.constString(call.Args[1]); ok {
			if pw := dsnPassword(dsn); pw != "" && !placeholder(pw) && len(pw) >= 6 {
				x.add(RuleHardcodedCred, call.Args[1], "sql.Open", "database connection string passed to sql.Open holds a hard-coded password")
			}
		}
	case p == "net/url" && name == "UserPassword" && len(call.Args) == 2:
		if pw, ok := x.constString(call.Args[1]); ok && !placeholder(pw) && len(pw) >= 6 {
			x.add(RuleHardcodedCred, call.Args[1], "url.UserPassword", "hard-coded password passed to url.UserPassword")
		}
	case p == "math/rand" && name == "Read" && len(call.Args) == 1:
		if secretName(exprName(call.Args[0])) {
			x.add(RuleWeakRandom, call, "rand.Read "+exprName(call.Args[0]), fmt.Sprintf("%s is filled by math/rand.Read, which is predictable; use crypto/rand", exprName(call.Args[0])))
		}
	default:
		x.credentialArgs(call)
	}
}

// credentialArgs: a string literal passed as a parameter named like a
// credential (needs types: the callee's parameter names).
func (x *fileCheck) credentialArgs(call *ast.CallExpr) {
	if x.info == nil || len(call.Args) == 0 {
		return
	}
	sig, ok := x.info.TypeOf(call.Fun).(*types.Signature)
	if !ok {
		return
	}
	for i, arg := range call.Args {
		if i >= sig.Params().Len() || (sig.Variadic() && i >= sig.Params().Len()-1) {
			break
		}
		if lit, ok := ast.Unparen(arg).(*ast.BasicLit); ok && lit.Kind == token.STRING {
			x.credential(sig.Params().At(i).Name(), arg, arg)
		}
	}
}

func (x *fileCheck) compositeLit(lit *ast.CompositeLit) {
	tlsConf := x.isTLSConfig(lit)
	for _, el := range lit.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		key := ""
		switch k := kv.Key.(type) {
		case *ast.Ident:
			key = k.Name
		case *ast.BasicLit:
			if s, err := strconv.Unquote(k.Value); err == nil && k.Kind == token.STRING {
				key = s
			}
		}
		if key == "" {
			continue
		}
		if tlsConf {
			x.tlsSetting(key, kv.Value, kv)
		}
		x.credential(key, kv.Value, kv.Value)
	}
}

// tlsSetting checks one field of a tls.Config.
func (x *fileCheck) tlsSetting(field string, val ast.Expr, at ast.Node) {
	switch field {
	case "InsecureSkipVerify":
		if x.isTrue(val) {
			x.add(RuleInsecureTLS, at, "InsecureSkipVerify", "tls.Config sets InsecureSkipVerify: true: any certificate is accepted, so the connection can be intercepted")
		}
	case "MinVersion":
		if v, ok := x.constInt(val); ok && v < 0x0303 {
			x.add(RuleOldTLS, at, "MinVersion", fmt.Sprintf("tls.Config allows %s (MinVersion below TLS 1.2)", tlsName(v)))
		}
	}
}

func tlsName(v int64) string {
	for n, x := range tlsVersions {
		if x == v {
			return strings.Replace(strings.TrimPrefix(n, "Version"), "TLS1", "TLS 1.", 1)
		}
	}
	return fmt.Sprintf("version 0x%04x", v)
}

func (x *fileCheck) assign(as *ast.AssignStmt) {
	if len(as.Lhs) != len(as.Rhs) {
		return
	}
	for i, lhs := range as.Lhs {
		rhs := as.Rhs[i]
		if sel, ok := lhs.(*ast.SelectorExpr); ok && (sel.Sel.Name == "InsecureSkipVerify" || sel.Sel.Name == "MinVersion") && x.tlsField(sel) {
			x.tlsSetting(sel.Sel.Name, rhs, as)
		}
		name := exprName(lhs)
		if ix, ok := lhs.(*ast.IndexExpr); ok {
			if s, ok := x.constString(ix.Index); ok {
				name = s
			}
		}
		if name == "" {
			continue
		}
		x.credential(name, rhs, rhs)
		x.weakRandom(name, rhs)
	}
}

// exprName is the name an expression is known by: an identifier, a
// selector's field.
func exprName(e ast.Expr) string {
	switch e := ast.Unparen(e).(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return e.Sel.Name
	case *ast.StarExpr:
		return exprName(e.X)
	case *ast.UnaryExpr:
		return exprName(e.X)
	}
	return ""
}

// credential reports a string literal given to something named like a
// credential.
func (x *fileCheck) credential(name string, val ast.Expr, at ast.Node) {
	if x.test || !credentialName(name) {
		return
	}
	lit, ok := ast.Unparen(val).(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil || !secretLike(s) {
		return
	}
	x.add(RuleHardcodedCred, at, name, fmt.Sprintf("string literal given to %s looks like a hard-coded credential (%d characters)", name, len(s)))
}

// weakRandom: a math/rand value assigned to something named like a secret.
func (x *fileCheck) weakRandom(name string, val ast.Expr) {
	if !secretName(name) {
		return
	}
	call := x.mathRandCall(val)
	if call == nil {
		return
	}
	// rand.Intn(len(keys)) picks an element: not a secret unless it is
	// turned into one (strconv.Itoa(rand.Intn(1e6)) is an OTP).
	pick := func(c *ast.CallExpr) bool {
		sel, ok := c.Fun.(*ast.SelectorExpr)
		if !ok {
			return false
		}
		n := sel.Sel.Name
		return n == "Intn" || n == "IntN" || n == "Int31n" || n == "Int63n" || n == "N" || n == "Perm" || n == "Shuffle" || strings.HasPrefix(n, "Float")
	}
	switch v := ast.Unparen(val).(type) {
	case *ast.CallExpr:
		if v == call && pick(call) {
			return
		}
	case *ast.IndexExpr:
		if ast.Unparen(v.Index) == call && pick(call) {
			return
		}
	}
	x.add(RuleWeakRandom, call, "math/rand "+name, fmt.Sprintf("%s is made with math/rand (%s), which is predictable; use crypto/rand", name, exprText(call)))
}

// mathRandCall returns a call of a math/rand function (or a *rand.Rand
// method, with types) inside e.
func (x *fileCheck) mathRandCall(e ast.Expr) *ast.CallExpr {
	var found *ast.CallExpr
	ast.Inspect(e, func(n ast.Node) bool {
		if found != nil {
			return false
		}
		c, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		if p, _ := x.qualified(c.Fun); p == "math/rand" || p == "math/rand/v2" {
			found = c
			return false
		}
		if sel, ok := c.Fun.(*ast.SelectorExpr); ok && x.info != nil {
			if s, ok := x.info.Selections[sel]; ok && (isNamed(s.Recv(), "math/rand", "Rand") || isNamed(s.Recv(), "math/rand/v2", "Rand")) {
				found = c
				return false
			}
		}
		return true
	})
	return found
}

// secretFunc: a function named like a secret maker (generateToken,
// newSessionKey) that uses math/rand.
func (x *fileCheck) secretFunc(fd *ast.FuncDecl) {
	if fd.Body == nil || !secretMaker(fd.Name.Name) {
		return
	}
	if call := x.mathRandCall(&ast.FuncLit{Type: fd.Type, Body: fd.Body}); call != nil {
		x.add(RuleWeakRandom, call, "math/rand in "+fd.Name.Name, fmt.Sprintf("%s makes a secret with math/rand (%s), which is predictable; use crypto/rand", fd.Name.Name, exprText(call)))
	}
}

// words splits an identifier into lower-case words (camelCase, snake_case,
// kebab-case, ALLCaps runs).
func words(s string) []string {
	var out []string
	var cur []rune
	rs := []rune(s)
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	for i, r := range rs {
		switch {
		case r == '_' || r == '-' || r == '.' || r == ' ':
			flush()
		case unicode.IsUpper(r):
			// a new word starts at an upper-case letter after a lower-case
			// one, or before a lower-case one in an upper-case run (APIKey).
			if i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1]))) {
				flush()
			}
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
	}
	flush()
	return out
}

// nonSecretLast are last words of names that hold something about a
// credential, not the credential (passwordField, tokenURL, secretName).
var nonSecretLast = map[string]bool{
	"url": true, "uri": true, "endpoint": true, "file": true, "filename": true, "path": true, "dir": true,
	"name": true, "names": true, "type": true, "kind": true, "field": true, "header": true, "env": true,
	"var": true, "id": true, "label": true, "prompt": true, "len": true, "length": true, "size": true,
	"regex": true, "re": true, "regexp": true, "pattern": true, "format": true, "param": true, "query": true,
	"prefix": true, "suffix": true, "hint": true, "count": true, "ttl": true, "expiry": true, "expires": true,
	"expiration": true, "timeout": true, "duration": true, "source": true, "store": true, "provider": true,
	"scope": true, "scopes": true, "audience": true, "issuer": true, "mode": true, "policy": true,
	"version": true, "column": true, "table": true, "title": true, "message": true, "msg": true,
	"error": true, "err": true, "text": true, "description": true, "desc": true, "help": true, "usage": true,
	"flag": true, "option": true, "location": true, "ref": true, "cookie": true, "input": true,
	"placeholder": true, "min": true, "max": true, "required": true, "enabled": true, "valid": true,
	"kinds": true, "types": true, "fields": true, "keys": true, "method": true, "methods": true,
}

// credentialName reports whether an identifier names a credential.
func credentialName(name string) bool {
	ws := words(name)
	if len(ws) == 0 || nonSecretLast[ws[len(ws)-1]] {
		return false
	}
	last := ws[len(ws)-1]
	found := false
	for i, w := range ws {
		switch w {
		case "password", "passwd", "secret", "token", "apikey", "credential", "credentials", "passphrase":
			found = true
		case "api":
			if i+1 < len(ws) && ws[i+1] == "key" {
				found = true
			}
		}
	}
	if !found {
		return false
	}
	if last == "key" { // secretKey, apiKey are credentials; passwordKey is a map key
		for _, w := range ws {
			if w == "secret" || w == "api" || w == "access" || w == "private" {
				return true
			}
		}
		return false
	}
	return true
}

// secretName: names of values that must be unpredictable.
func secretName(name string) bool {
	ws := words(name)
	if len(ws) == 0 || nonSecretLast[ws[len(ws)-1]] {
		return false
	}
	for _, w := range ws {
		switch w {
		case "token", "key", "secret", "password", "passwd", "nonce", "salt", "otp", "apikey", "iv", "csrf":
			return true
		}
	}
	return false
}

// secretMaker: function names like generateToken, newNonce, randomPassword.
func secretMaker(name string) bool {
	ws := words(name)
	if len(ws) < 2 {
		return false
	}
	switch ws[0] {
	case "generate", "gen", "new", "make", "random", "rand", "create":
	default:
		return false
	}
	return secretName(strings.Join(ws[1:], "_"))
}

var identLike = regexp.MustCompile(`^(?:[a-z0-9]+(?:[_.\-][a-z0-9]+)+|[A-Z0-9]+(?:[_.\-][A-Z0-9]+)+|[A-Za-z]+(?:[_.\-][A-Za-z]+)+)$`)

// placeholder reports values that are examples, not secrets.
func placeholder(s string) bool {
	l := strings.ToLower(s)
	for _, p := range []string{"example", "changeme", "change_me", "change-me", "placeholder", "your", "dummy", "sample",
		"redacted", "xxxx", "****", "....", "<", ">", "${", "{{", "%s", "%v", "%d", "todo", "fixme", "test", "fake",
		"replace", "insert", "secret_here", "here"} {
		if strings.Contains(l, p) {
			return true
		}
	}
	switch l {
	case "password", "passwd", "secret", "token", "apikey", "api_key", "credential", "credentials", "none", "null", "default":
		return true
	}
	return false
}

// secretLike reports whether a string literal could be a real secret: at
// least 8 characters, no spaces, not a placeholder, a name, a URL or a
// path, and some entropy.
func secretLike(s string) bool {
	if len(s) < 8 || len(s) > 256 || strings.ContainsAny(s, " \t\r\n") || placeholder(s) {
		return false
	}
	if identLike.MatchString(s) || strings.Contains(s, "://") || strings.HasPrefix(s, "/") {
		return false
	}
	if c := s[0]; strings.Count(s, string(c)) == len(s) {
		return false
	}
	return entropy(s) >= 2.5
}

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s string) float64 {
	var counts [256]int
	for i := range len(s) {
		counts[s[i]]++
	}
	h := 0.0
	n := float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

var mysqlDSN = regexp.MustCompile(`^[^:@/\s]+:([^@\s]+)@`)
var kvPassword = regexp.MustCompile(`(?i)(?:^|[\s;])(?:password|pwd)\s*=\s*(?:'([^']*)'|([^\s;']+))`)

// dsnPassword returns the password in a database connection string (URL,
// key=value, MySQL user:pass@...), or "".
func dsnPassword(dsn string) string {
	if strings.Contains(dsn, "://") {
		if u, err := url.Parse(dsn); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok {
				return pw
			}
		}
		return ""
	}
	if m := kvPassword.FindStringSubmatch(dsn); m != nil {
		return m[1] + m[2]
	}
	if m := mysqlDSN.FindStringSubmatch(dsn); m != nil {
		return m[1]
	}
	return ""
}
