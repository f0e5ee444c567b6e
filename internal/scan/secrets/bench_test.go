package secrets

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/cputime"
	"github.com/vigilsec/vigil/internal/scan"
)

// corpusGen writes a synthetic repository: source files in Go, JavaScript and
// Python of 1-8 KB, JSON and YAML configurations, Markdown, a few large files
// (minified bundles, a lockfile), some binary files, and a few planted
// secrets. The text mimics code (identifiers, calls, URLs, the words token,
// secret, key and password at the density real code has them), so the
// prefilter passes a realistic share of files to the expressions.
type corpusGen struct {
	r     *rand.Rand
	files int
	bytes int64
}

var (
	genIdents = []string{"ctx", "err", "cfg", "req", "resp", "client", "user", "buf", "n", "i", "opts", "logger", "store",
		"handler", "token", "key", "value", "name", "id", "path", "data", "result", "items", "conn", "tx", "session"}
	genCalls = []string{"fmt.Errorf", "json.Unmarshal", "http.NewRequest", "os.ReadFile", "strings.Split", "s.store.Get",
		"log.Info", "time.Now", "bytes.Equal", "parseToken", "validate", "db.Query", "cache.Lookup", "render"}
	genURLs = []string{"https://api.internal/v1/users", "https://cdn.jsdelivr.net/npm/lodash@4.17.21/lodash.min.js",
		"http://localhost:8080/health", "https://github.com/vigilsec/vigil", "https://registry.npmjs.org/"}
)

func (g *corpusGen) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g *corpusGen) goFile(size int) []byte {
	var b strings.Builder
	b.WriteString("package service\n\nimport (\n\t\"context\"\n\t\"fmt\"\n)\n\n")
	for b.Len() < size {
		switch g.r.IntN(10) {
		case 0:
			fmt.Fprintf(&b, "// %s returns the %s of the %s, or an error when the %s is invalid.\n", g.pick(genIdents), g.pick(genIdents), g.pick(genIdents), g.pick(genIdents))
		case 1:
			fmt.Fprintf(&b, "func (s *Service) %s%d(ctx context.Context, %s string) (int, error) {\n", strings.ToUpper(g.pick(genIdents)[:1]), g.r.IntN(1000), g.pick(genIdents))
		case 2:
			fmt.Fprintf(&b, "\tif err != nil {\n\t\treturn 0, fmt.Errorf(\"reading %s: %%w\", err)\n\t}\n", g.pick(genIdents))
		case 3:
			fmt.Fprintf(&b, "\t%s := %s(%s, %q)\n", g.pick(genIdents), g.pick(genCalls), g.pick(genIdents), g.pick(genURLs))
		case 4:
			fmt.Fprintf(&b, "\ttoken, err := s.auth.Token(ctx, %s)\n", g.pick(genIdents))
		case 5:
			b.WriteString("}\n\n")
		default:
			fmt.Fprintf(&b, "\t%s = %s(%s, %d)\n", g.pick(genIdents), g.pick(genCalls), g.pick(genIdents), g.r.IntN(100000))
		}
	}
	return []byte(b.String())
}

func (g *corpusGen) jsFile(size int) []byte {
	var b strings.Builder
	b.WriteString("'use strict';\nconst express = require('express');\n")
	for b.Len() < size {
		switch g.r.IntN(8) {
		case 0:
			fmt.Fprintf(&b, "const %s = process.env.%s_%d;\n", g.pick(genIdents), strings.ToUpper(g.pick(genIdents)), g.r.IntN(100))
		case 1:
			fmt.Fprintf(&b, "async function %s%d(%s) {\n  const res = await fetch('%s', { headers: { Authorization: `Bearer ${%s}` } });\n  return res.json();\n}\n", g.pick(genIdents), g.r.IntN(1000), g.pick(genIdents), g.pick(genURLs), g.pick(genIdents))
		case 2:
			fmt.Fprintf(&b, "// TODO: move the %s to the %s\n", g.pick(genIdents), g.pick(genIdents))
		default:
			fmt.Fprintf(&b, "  %s.%s = %s(%s, %d);\n", g.pick(genIdents), g.pick(genIdents), g.pick(genCalls), g.pick(genIdents), g.r.IntN(1000))
		}
	}
	return []byte(b.String())
}

func (g *corpusGen) pyFile(size int) []byte {
	var b strings.Builder
	b.WriteString("import os\nimport json\n\n")
	for b.Len() < size {
		switch g.r.IntN(8) {
		case 0:
			fmt.Fprintf(&b, "def %s_%d(%s, %s=None):\n    \"\"\"Return the %s.\"\"\"\n", g.pick(genIdents), g.r.IntN(1000), g.pick(genIdents), g.pick(genIdents), g.pick(genIdents))
		case 1:
			fmt.Fprintf(&b, "    password = os.environ.get(\"%s_PASSWORD\")\n", strings.ToUpper(g.pick(genIdents)))
		default:
			fmt.Fprintf(&b, "    %s = %s(%s, %d)\n", g.pick(genIdents), strings.ReplaceAll(g.pick(genCalls), ".", "_"), g.pick(genIdents), g.r.IntN(1000))
		}
	}
	return []byte(b.String())
}

func (g *corpusGen) jsonFile(size int) []byte {
	var b strings.Builder
	b.WriteString("{\n")
	for b.Len() < size {
		fmt.Fprintf(&b, "  \"%s_%d\": {\"url\": %q, \"timeout\": %d, \"version\": \"1.%d.%d\", \"id\": \"%08x-%04x-4%03x-a%03x-%012x\"},\n",
			g.pick(genIdents), g.r.IntN(100), g.pick(genURLs), g.r.IntN(60), g.r.IntN(20), g.r.IntN(20),
			g.r.Uint32(), g.r.IntN(1<<16), g.r.IntN(1<<12), g.r.IntN(1<<12), g.r.Uint64()&(1<<48-1))
	}
	b.WriteString("  \"end\": true\n}\n")
	return []byte(b.String())
}

func (g *corpusGen) yamlFile(size int) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\ndata:\n")
	for b.Len() < size {
		switch g.r.IntN(6) {
		case 0:
			fmt.Fprintf(&b, "  %s_secret_name: %s-tls\n", g.pick(genIdents), g.pick(genIdents))
		case 1:
			fmt.Fprintf(&b, "  password: ${%s_PASSWORD}\n", strings.ToUpper(g.pick(genIdents)))
		default:
			fmt.Fprintf(&b, "  %s.%s: \"%s\"\n", g.pick(genIdents), g.pick(genIdents), g.pick(genURLs))
		}
	}
	return []byte(b.String())
}

func (g *corpusGen) mdFile(size int) []byte {
	var b strings.Builder
	b.WriteString("# Service\n\n")
	for b.Len() < size {
		fmt.Fprintf(&b, "The %s sends the %s to %s with a token taken from the environment; see the %s.\n\n",
			g.pick(genIdents), g.pick(genIdents), g.pick(genURLs), g.pick(genIdents))
	}
	return []byte(b.String())
}

func (g *corpusGen) minified(size int) []byte {
	var b strings.Builder
	for b.Len() < size {
		fmt.Fprintf(&b, "function %s%d(a,b){var t=a.token||b;return fetch(\"%s\",{key:t})}", g.pick(genIdents), g.r.IntN(1e6), g.pick(genURLs))
	}
	b.WriteByte('\n')
	return []byte(b.String())
}

func (g *corpusGen) lockfile(size int) []byte {
	var b strings.Builder
	b.WriteString("{\n  \"lockfileVersion\": 3,\n  \"packages\": {\n")
	for b.Len() < size {
		raw := make([]byte, 64)
		for i := range raw {
			raw[i] = byte(g.r.IntN(256))
		}
		fmt.Fprintf(&b, "    \"node_modules/%s-%d\": {\"version\": \"%d.%d.%d\", \"resolved\": \"https://registry.npmjs.org/x/-/x-1.0.0.tgz\", \"integrity\": \"sha512-%x\"},\n",
			g.pick(genIdents), g.r.IntN(1e5), g.r.IntN(10), g.r.IntN(30), g.r.IntN(30), raw)
	}
	b.WriteString("    \"\": {}\n  }\n}\n")
	return []byte(b.String())
}

func (g *corpusGen) binary(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(g.r.IntN(256))
	}
	copy(b, "\x89PNG\r\n\x1a\n\x00\x00")
	return b
}

// write generates n files under dir (100 per directory, three levels deep) and
// returns how many secrets it planted.
func (g *corpusGen) write(tb testing.TB, dir string, n int) int {
	tb.Helper()
	planted := 0
	for i := range n {
		var name string
		var data []byte
		size := 1024 + g.r.IntN(7*1024)
		switch k := g.r.IntN(1000); {
		case k < 400:
			name, data = fmt.Sprintf("f%d.go", i), g.goFile(size)
		case k < 600:
			name, data = fmt.Sprintf("f%d.js", i), g.jsFile(size)
		case k < 750:
			name, data = fmt.Sprintf("f%d.py", i), g.pyFile(size)
		case k < 850:
			name, data = fmt.Sprintf("f%d.json", i), g.jsonFile(size/2)
		case k < 930:
			name, data = fmt.Sprintf("f%d.yaml", i), g.yamlFile(size/2)
		case k < 980:
			name, data = fmt.Sprintf("f%d.md", i), g.mdFile(size)
		case k < 995:
			name, data = fmt.Sprintf("f%d.png", i), g.binary(4096+g.r.IntN(60*1024))
		case k < 998:
			name, data = fmt.Sprintf("f%d.min.js", i), g.minified(200*1024+g.r.IntN(800*1024))
		default:
			name, data = fmt.Sprintf("package-lock-%d.json", i), g.lockfile(100*1024+g.r.IntN(400*1024))
		}
		if i%2000 == 1 && !strings.HasSuffix(name, ".png") {
			// A planted secret at the end of the file.
			data = append(data, "\nconst deployToken = \"ghp_"+plantedBody(i)+"\";\n"...)
			planted++
		}
		p := filepath.Join(dir, fmt.Sprintf("d%d", i/10000), fmt.Sprintf("e%d", i/1000%10), fmt.Sprintf("g%d", i/100%10), name)
		if i%100 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				tb.Fatal(err)
			}
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			tb.Fatal(err)
		}
		g.files++
		g.bytes += int64(len(data))
	}
	return planted
}

// plantedBody is 36 base62 characters, not a placeholder, unique per i.
func plantedBody(i int) string {
	const al = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	r := rand.New(rand.NewPCG(uint64(i), 7))
	b := make([]byte, 36)
	for j := range b {
		b[j] = al[r.IntN(len(al))]
	}
	return string(b)
}

// BenchmarkFind is the hot path: one file's bytes through the prefilter, the
// expressions and the checks, over a mix of generated sources and configs.
func BenchmarkFind(b *testing.B) {
	g := &corpusGen{r: rand.New(rand.NewPCG(1, 2))}
	var docs [][]byte
	var total int64
	for i := range 400 {
		size := 1024 + g.r.IntN(7*1024)
		var d []byte
		switch i % 6 {
		case 0, 1:
			d = g.goFile(size)
		case 2:
			d = g.jsFile(size)
		case 3:
			d = g.pyFile(size)
		case 4:
			d = g.jsonFile(size / 2)
		default:
			d = g.yamlFile(size / 2)
		}
		docs = append(docs, d)
		total += int64(len(d))
	}
	det := newDetector()
	sc := det.newScratch()
	kinds := []pathKind{{code: true}, {code: true}, {code: true}, {code: true}, {}, {}}
	b.SetBytes(total / int64(len(docs)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	var n int64
	for i := range b.N {
		d := docs[i%len(docs)]
		det.find(d, kinds[i%len(docs)%6], sc)
		n += int64(len(d))
	}
	reportCPU(b, cputime.Process()-cpu0, n)
}

// reportCPU adds the cost per CPU second (the machine is shared: wall time
// also measures the neighbours).
func reportCPU(b *testing.B, cpu time.Duration, n int64) {
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(n)/1e6/cpu.Seconds(), "MB/cpu-s")
	}
}

// BenchmarkFindHostile: inputs made to defeat the bounds (a 1 MB line of
// keywords, of BEGIN lines without END, of base64 holding eyJ, ...); each
// must cost about as much per byte as text.
func BenchmarkFindHostile(b *testing.B) {
	inputs := []struct{ name, text string }{
		{"tokens", strings.Repeat("token", 200000)},
		{"assignments", strings.Repeat("token=token=", 80000)},
		{"passwords", strings.Repeat("password=Zr8kq2Lmx9Pw ", 50000)},
		{"urls", strings.Repeat("a://b:c@d ", 100000)},
		{"pem", strings.Repeat("-----BEGIN PRIVATE KEY-----", 40000)},
		{"eyJ", strings.Repeat("eyJ", 300000)},
		{"ghp", strings.Repeat("ghp_"+strings.Repeat("a", 30), 30000)},
		{"prose", strings.Repeat("the quick brown fox jumps over the lazy dog\n", 25000)},
	}
	det := newDetector()
	sc := det.newScratch()
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			data := []byte(in.text)
			b.SetBytes(int64(len(data)))
			cpu0 := cputime.Process()
			for range b.N {
				det.find(data, pathKind{}, sc)
			}
			reportCPU(b, cputime.Process()-cpu0, int64(b.N)*int64(len(data)))
		})
	}
}

// BenchmarkScan100k is the target: a 100,000-file repository (about
// 0.5 GB) walked with scan.Walk and scanned, on all cores. The files are
// generated once (outside the timer; the page cache is warm, as after a
// checkout). Run with -benchtime=1x; skipped in -short mode.
func BenchmarkScan100k(b *testing.B) {
	if testing.Short() {
		b.Skip("generates 100,000 files")
	}
	dir := b.TempDir()
	g := &corpusGen{r: rand.New(rand.NewPCG(42, 9))}
	t0 := time.Now()
	planted := g.write(b, dir, 100_000)
	b.Logf("generated %d files, %.0f MB in %v", g.files, float64(g.bytes)/1e6, time.Since(t0).Round(time.Millisecond))
	s := New(Options{})
	b.ResetTimer()
	for range b.N {
		cpu0 := cputime.Process()
		start := time.Now()
		tg, err := scan.Walk(dir, scan.WalkOptions{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		walked := time.Since(start)
		n := 0
		st, err := s.ScanStats(context.Background(), tg, func(scan.Finding) { n++ }, func(scan.Problem) {})
		if err != nil {
			b.Fatal(err)
		}
		wall := time.Since(start)
		if n != planted {
			b.Fatalf("%d findings, %d planted", n, planted)
		}
		b.ReportMetric(float64(st.Files)/wall.Seconds(), "files/s")
		b.ReportMetric(float64(st.Bytes)/1e6/wall.Seconds(), "MB/s")
		cpu := cputime.Process() - cpu0
		b.ReportMetric(cpu.Seconds(), "cpu-s")
		b.Logf("walk %v, walk+scan %v (%v CPU): %d files (%d searched, %d without a keyword, %d binary), %.0f MB searched, %d findings",
			walked.Round(time.Millisecond), wall.Round(time.Millisecond), cpu.Round(time.Millisecond), st.Files, st.Searched, st.NoKeyword, st.Binary, float64(st.Bytes)/1e6, n)
	}
}

// BenchmarkHistory reads a generated history: 2,000 commits on one branch,
// each rewriting 10 of 500 files (1-8 KB of generated code), imported with
// git fast-import; one secret is added in an early commit and deleted later.
// It reports commits/s and the added bytes searched per second.
func BenchmarkHistory(b *testing.B) {
	if testing.Short() {
		b.Skip("generates a repository")
	}
	if _, err := exec.LookPath("git"); err != nil {
		b.Skip("git not installed")
	}
	dir := b.TempDir()
	env := append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	run := func(stdin []byte, args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = dir, env
		cmd.Stdin = bytes.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	run(nil, "init", "-q", "-b", "main")
	g := &corpusGen{r: rand.New(rand.NewPCG(5, 6))}
	var stream bytes.Buffer
	const commits, perCommit, files = 2000, 10, 500
	for c := range commits {
		msg := fmt.Sprintf("change %d", c)
		fmt.Fprintf(&stream, "commit refs/heads/main\ncommitter Dev <dev@corp.example> %d +0000\ndata %d\n%s\n", 1700000000+c*60, len(msg), msg)
		switch c {
		case 10:
			secret := "DEPLOY_TOKEN=ghp_" + plantedBody(1) + "\n"
			fmt.Fprintf(&stream, "M 100644 inline config/deploy.env\ndata %d\n%s\n", len(secret), secret)
		case 20:
			stream.WriteString("D config/deploy.env\n")
		}
		for range perCommit {
			f := g.r.IntN(files)
			var data []byte
			if f%3 == 0 {
				data = g.jsFile(1024 + g.r.IntN(7*1024))
			} else {
				data = g.goFile(1024 + g.r.IntN(7*1024))
			}
			ext := ".go"
			if f%3 == 0 {
				ext = ".js"
			}
			fmt.Fprintf(&stream, "M 100644 inline src/f%d%s\ndata %d\n", f, ext, len(data))
			stream.Write(data)
			stream.WriteByte('\n')
		}
	}
	run(stream.Bytes(), "fast-import", "--quiet")
	run(nil, "checkout", "-q", "main")
	tg, err := scan.Walk(dir, scan.WalkOptions{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	s := New(Options{History: true})
	b.ResetTimer()
	for range b.N {
		cpu0 := cputime.Process()
		start := time.Now()
		n := 0
		st, err := s.ScanStats(context.Background(), tg, func(scan.Finding) { n++ }, func(p scan.Problem) { b.Log(p) })
		if err != nil {
			b.Fatal(err)
		}
		wall := time.Since(start)
		cpu := cputime.Process() - cpu0
		if st.Commits != commits || n != 1 {
			b.Fatalf("%d commits read, %d findings", st.Commits, n)
		}
		b.ReportMetric(float64(st.Commits)/wall.Seconds(), "commits/s")
		b.ReportMetric(float64(st.DiffBytes)/1e6/wall.Seconds(), "diff-MB/s")
		b.Logf("%d commits, %d diffs, %.0f MB added, in %v (this process %v CPU; git's not counted)",
			st.Commits, st.Diffs, float64(st.DiffBytes)/1e6, wall.Round(time.Millisecond), cpu.Round(time.Millisecond))
	}
}
