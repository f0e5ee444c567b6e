package secrets

import (
	"bytes"
	"math"
	"path"
	"strings"
)

// entropy returns the Shannon entropy of b in bits per byte.
func entropy(b []byte) float64 {
	if len(b) == 0 {
		return 0
	}
	var counts [256]int
	for _, c := range b {
		counts[c]++
	}
	n := float64(len(b))
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// charClasses counts the kinds of characters in b: lower-case letters, upper-case
// letters, digits, anything else.
func charClasses(b []byte) (n int, lowerN, upperN, digitN, otherN int) {
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			lowerN++
		case 'A' <= c && c <= 'Z':
			upperN++
		case '0' <= c && c <= '9':
			digitN++
		default:
			otherN++
		}
	}
	for _, k := range [...]int{lowerN, upperN, digitN, otherN} {
		if k > 0 {
			n++
		}
	}
	return n, lowerN, upperN, digitN, otherN
}

// placeholderWords are parts of values written to be replaced, or of values
// documentation uses (lower-case; matched as substrings).
var placeholderWords = []string{
	"example", "xxxx", "changeme", "change_me", "change-me", "changeit", "placeholder",
	"redacted", "dummy", "sample", "your_", "your-", "yourtoken", "yoursecret", "yourkey",
	"yourpassword", "replace_me", "replaceme", "replace-me", "insert_", "insert-", "_here",
	"-here", "todo", "fixme", "notreal", "not_real", "not-real", "fake", "secret123",
	"password123", "p@ssw0rd", "passw0rd", "letmein", "qwerty", "0123456", "123456789",
	"abcdefgh", "...", "\u2026", "***",
}

// placeholderValues are whole values that are names, not secrets (lower-case).
var placeholderValues = map[string]bool{
	"password": true, "passwd": true, "pwd": true, "pass": true, "secret": true, "token": true,
	"apikey": true, "api_key": true, "api-key": true, "accesskey": true, "access_key": true,
	"clientsecret": true, "client_secret": true, "null": true, "none": true, "nil": true,
	"undefined": true, "true": true, "false": true, "string": true, "required": true,
	"optional": true, "empty": true, "default": true, "unset": true, "secretkey": true,
	"secret_key": true, "mypassword": true, "mysecret": true, "mytoken": true, "username": true,
	"user": true, "admin": true, "root": true, "guest": true, "test": true, "testing": true,
	"postgres": true, "mysql": true, "redis": true, "foo": true, "bar": true, "foobar": true,
	"baz": true, "hunter2": true, "s3cr3t": true, "supersecret": true, "topsecret": true,
	"private": true, "demo": true, "sample": true,
}

// isPlaceholder reports whether v is a value written to be replaced or a
// documentation value: a templating or format marker, a placeholder word, a
// run of one character, an ascending sequence.
func isPlaceholder(v []byte) bool {
	if len(v) == 0 {
		return true
	}
	switch v[0] {
	case '<', '$', '%', '{', '[', '*':
		// <TOKEN>, ${VAR}, $VAR, %s, {{ .x }}, {token}, [REDACTED], ****
		return true
	}
	if bytes.Contains(v, []byte("{{")) || bytes.Contains(v, []byte("${")) || bytes.Contains(v, []byte("%s")) ||
		bytes.Contains(v, []byte("%v")) || bytes.Contains(v, []byte("%(")) || bytes.Contains(v, []byte("#{")) {
		return true
	}
	var buf [256]byte
	lv := buf[:0]
	if len(v) > len(buf) {
		lv = make([]byte, 0, len(v))
	}
	for _, c := range v {
		lv = append(lv, lower(c))
	}
	if placeholderValues[string(lv)] {
		return true
	}
	for _, w := range placeholderWords {
		if bytes.Contains(lv, []byte(w)) {
			return true
		}
	}
	return repeated(v, 6) || sequential(lv, 6) || distinct(v) <= 3
}

// repeated reports a run of n or more of one byte.
func repeated(v []byte, n int) bool {
	run := 1
	for i := 1; i < len(v); i++ {
		if v[i] == v[i-1] {
			run++
			if run >= n {
				return true
			}
		} else {
			run = 1
		}
	}
	return false
}

// sequential reports a run of n or more consecutive ascending or descending
// letters or digits (abcdef, 123456, 987654).
func sequential(v []byte, n int) bool {
	up, down := 1, 1
	for i := 1; i < len(v); i++ {
		a, b := v[i-1], v[i]
		alnum := isAlnum(a) && isAlnum(b)
		if alnum && b == a+1 {
			up++
		} else {
			up = 1
		}
		if alnum && b+1 == a {
			down++
		} else {
			down = 1
		}
		if up >= n || down >= n {
			return true
		}
	}
	return false
}

func distinct(v []byte) int {
	var seen [256]bool
	n := 0
	for _, c := range v {
		if !seen[c] {
			seen[c] = true
			n++
		}
	}
	return n
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isHex(v []byte) bool {
	for _, c := range v {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return len(v) > 0
}

func isDigits(v []byte) bool {
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(v) > 0
}

// isVersion reports a version string: 1.2, 1.2.3, v2.0.0-rc1, 1.2.3+build.4.
func isVersion(v []byte) bool {
	i := 0
	if i < len(v) && (v[i] == 'v' || v[i] == 'V') {
		i++
	}
	parts := 0
	for {
		start := i
		for i < len(v) && '0' <= v[i] && v[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
		parts++
		if i < len(v) && v[i] == '.' {
			i++
			continue
		}
		break
	}
	if parts < 2 {
		return false
	}
	if i == len(v) {
		return true
	}
	if v[i] != '-' && v[i] != '+' {
		return false
	}
	// A pre-release or build suffix: dot-separated alphanumerics.
	for _, c := range v[i+1:] {
		if !isAlnum(c) && c != '.' && c != '-' && c != '+' {
			return false
		}
	}
	return i+1 < len(v)
}

// isUUID reports 8-4-4-4-12 hexadecimal.
func isUUID(v []byte) bool {
	if len(v) != 36 {
		return false
	}
	for i, c := range v {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex([]byte{c}) {
				return false
			}
		}
	}
	return true
}

// referenceMarkers are what values that name a secret kept elsewhere contain
// (lower-case): environment lookups, secret stores, templating.
var referenceMarkers = []string{
	"getenv", "environ", "process.env", "env[", "env.", "secretkeyref", "secretref", "valuefrom",
	"vault:", "ref+", "!ref", "fromsecret", "secrets.", "keyvault", "ssm:", "arn:aws:",
	"sops:", "{{", "${", "$(",
}

// isReference reports a value that refers to a secret instead of holding it.
func isReference(v []byte) bool {
	if len(v) > 0 && (v[0] == '$' || v[0] == '@' || v[0] == '!') {
		return true
	}
	var buf [256]byte
	lv := buf[:0]
	for _, c := range v {
		if len(lv) == cap(lv) {
			break
		}
		lv = append(lv, lower(c))
	}
	for _, m := range referenceMarkers {
		if bytes.Contains(lv, []byte(m)) {
			return true
		}
	}
	return false
}

// lineIsReference reports a line that wires a secret from elsewhere (a
// Kubernetes secretKeyRef, an environment lookup on the same line).
func lineIsReference(line []byte) bool {
	var buf [512]byte
	lv := buf[:0]
	for _, c := range line {
		if len(lv) == cap(lv) {
			break
		}
		lv = append(lv, lower(c))
	}
	for _, m := range [...]string{"secretkeyref", "valuefrom", "os.getenv", "process.env", "os.environ", "system.getenv", "getenv("} {
		if bytes.Contains(lv, []byte(m)) {
			return true
		}
	}
	return false
}

// pathKind is what a file's path says about how to read it.
type pathKind struct {
	test bool // under a test or fixture directory, or a test file by name
	lock bool // a package manager's lockfile (digests, resolved URLs)
	code bool // source code: a literal secret is quoted, an unquoted value is an expression
	doc  bool // documentation or examples: values there illustrate
}

var testDirs = map[string]bool{
	"test": true, "tests": true, "testdata": true, "testing": true, "fixtures": true, "fixture": true,
	"__tests__": true, "__fixtures__": true, "__mocks__": true, "spec": true, "specs": true,
	"mocks": true, "e2e": true, "testutil": true, "testutils": true, "test_data": true, "test-data": true,
}

var docDirs = map[string]bool{
	"docs": true, "doc": true, "documentation": true, "examples": true, "example": true, "_examples": true,
	"samples": true, "sample": true,
}

var docExts = map[string]bool{
	".md": true, ".mdx": true, ".markdown": true, ".rst": true, ".adoc": true, ".asciidoc": true,
}

var lockfiles = map[string]bool{
	"go.sum": true, "go.work.sum": true, "package-lock.json": true, "npm-shrinkwrap.json": true,
	"yarn.lock": true, "pnpm-lock.yaml": true, "bun.lock": true, "cargo.lock": true, "poetry.lock": true,
	"pipfile.lock": true, "uv.lock": true, "pdm.lock": true, "composer.lock": true, "gemfile.lock": true,
	"gradle.lockfile": true, "packages.lock.json": true, "flake.lock": true, "mix.lock": true,
	"pubspec.lock": true, "podfile.lock": true, "package.resolved": true, "deno.lock": true,
	"conan.lock": true, "paket.lock": true, "shard.lock": true, "cartfile.resolved": true,
}

var codeExts = map[string]bool{
	".go": true, ".js": true, ".mjs": true, ".cjs": true, ".jsx": true, ".ts": true, ".tsx": true,
	".py": true, ".java": true, ".kt": true, ".kts": true, ".scala": true, ".groovy": true,
	".rb": true, ".php": true, ".cs": true, ".rs": true, ".c": true, ".h": true, ".cc": true,
	".cpp": true, ".hpp": true, ".swift": true, ".m": true, ".dart": true, ".lua": true,
	".ex": true, ".exs": true, ".erl": true, ".clj": true, ".vue": true, ".svelte": true,
}

// classify reads a slash-separated relative path.
func classify(p string) pathKind {
	var k pathKind
	base := path.Base(p)
	lb := strings.ToLower(base)
	k.lock = lockfiles[lb]
	k.code = codeExts[path.Ext(lb)]
	k.doc = docExts[path.Ext(lb)]
	for dir := path.Dir(p); dir != "." && dir != "/" && dir != ""; dir = path.Dir(dir) {
		d := strings.ToLower(path.Base(dir))
		k.test = k.test || testDirs[d]
		k.doc = k.doc || docDirs[d]
	}
	if !k.test {
		stem := strings.TrimSuffix(lb, path.Ext(lb))
		k.test = strings.HasSuffix(stem, "_test") || strings.Contains(lb, "_test.") || strings.Contains(lb, "_test_data") ||
			strings.Contains(lb, ".spec.") || strings.Contains(lb, ".test.") || strings.HasSuffix(stem, "_spec") ||
			(strings.HasPrefix(lb, "test_") && strings.HasSuffix(lb, ".py")) || lb == "conftest.py" ||
			strings.HasSuffix(base, "Test.java") || strings.HasSuffix(base, "Tests.java") ||
			strings.HasSuffix(base, "Test.kt") || strings.HasSuffix(base, "Tests.cs")
	}
	return k
}
