package gocode

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzSyntaxChecks: the weak-crypto and credential checks take any Go file
// the parser returns (even with errors) without type information, and
// report positions inside it.
func FuzzSyntaxChecks(f *testing.F) {
	for _, name := range []string{"crypto.go", "creds.go", "main.go"} {
		if data, err := os.ReadFile(filepath.Join("testdata", "vulnapp", name)); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("package p\nimport \"crypto/tls\"\nvar c = tls.Config{MinVersion: 1<<70}\n"))
	f.Add([]byte("package p\nfunc f() { rsa.GenerateKey() ; password == \"\" }"))
	f.Fuzz(func(t *testing.T, src []byte) {
		fset := token.NewFileSet()
		file, _ := parser.ParseFile(fset, "f.go", src, parser.SkipObjectResolution)
		if file == nil {
			return
		}
		c := &checker{fset: fset, root: "."}
		lines := strings.Count(string(src), "\n") + 1
		for _, fd := range c.file(file, nil) {
			if fd.Location.StartLine < 1 || fd.Location.StartLine > lines || fd.RuleID == "" || fd.Message == "" {
				t.Fatalf("bad finding %+v", fd)
			}
		}
	})
}

// FuzzDSNPassword: a password found is part of the connection string.
func FuzzDSNPassword(f *testing.F) {
	for _, s := range []string{"postgres://u:p@h/d", "password=x user=y", "u:p@tcp(h)/d", "Password='a b';", "://@", "password="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		if pw := dsnPassword(dsn); pw != "" && !strings.Contains(dsn, pw) {
			// url.Parse decodes %XX escapes: compare with the escaped form
			if !strings.Contains(dsn, "%") {
				t.Fatalf("dsnPassword(%q) = %q, not in the input", dsn, pw)
			}
		}
	})
}

// FuzzWords: identifier words are non-empty, lower case, without
// separators, and no longer than the identifier.
func FuzzWords(f *testing.F) {
	for _, s := range []string{"dbPassword", "APIKey", "x-auth_token.v2", "ÄÖÜ", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		n := 0
		for _, w := range words(s) {
			if w == "" || strings.ContainsAny(w, "_-. ") {
				t.Fatalf("words(%q) has %q", s, w)
			}
			n += len(w)
		}
		if n > len(s)*3 { // case mapping may grow a rune; never by more
			t.Fatalf("words(%q) longer than the input", s)
		}
		_ = credentialName(s)
		_ = secretName(s)
		_ = secretMaker(s)
	})
}

// FuzzSplitSymbol: every reading of a symbol joins back to it.
func FuzzSplitSymbol(f *testing.F) {
	for _, s := range []string{"golang.org/x/net/html.Parse", "gopkg.in/yaml.v3.Node.Decode", "fmt.Println", ".", "a/.b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sym string) {
		for _, c := range splitSymbol(sym) {
			if c.pkg == "" || c.name == "" || c.pkg+"."+c.name != sym {
				t.Fatalf("splitSymbol(%q) has %+v", sym, c)
			}
		}
	})
}
