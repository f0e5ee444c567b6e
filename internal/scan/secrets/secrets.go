// Package secrets finds credentials in a target's files and in its git
// history: cloud and SaaS tokens by their own formats, private keys, signed
// JWTs, passwords in URLs, and values assigned to keys that name a secret.
//
// # How a file is searched
//
// Each rule has keywords. One pass of an Aho-Corasick automaton (ASCII case
// ignored; some keywords, such as AKIA or ghp_, must then match case exactly)
// finds every keyword of every rule; a file holding none is done after that
// pass, which is what most files are. A rule is then tried at each of its
// keywords, anchored there: a token's match starts at its keyword (ghp_, AKIA,
// eyJ); a key's starts at the beginning of the name holding the keyword (the
// DB_ of DB_PASSWORD, the scheme before ://), at most 80 bytes back; the RE2
// expression (Go's regexp) runs from there on at most the rule's span of the
// keyword's line (256 bytes to 32 KiB). So the work per keyword is bounded,
// whatever the length of the line (minified code), and a keyword inside a
// match starts no other attempt. Each match passes the rule's check (the
// value's alphabet and boundaries, a decoded structure, entropy), then, where
// matches overlap, the more specific rule's is kept (a GitHub token in a URL
// is a GitHub token, not a URL password or a generic secret).
//
// # False positives
//
// Values rejected by every rule: vendors' documentation keys
// (AKIAIOSFODNN7EXAMPLE, wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, jwt.io's token,
// Azurite's account key, ...) and placeholders: templating and format markers
// (<...>, ${...}, {{...}}, %s, ***), placeholder words (example, xxxx, changeme,
// your_..., dummy, redacted, ...), runs of one character, ascending sequences
// (abcdef, 123456) and values of three distinct characters or fewer. The generic
// rule (VGL-SEC-021) further requires: a key whose last word holds a secret
// (DB_PASSWORD, apiKey, client-secret; not secretName, token_url, tokenizer,
// password_hash); a value of 8 to 128 characters without spaces that is not a
// version (1.2.3, v2.0.0-rc1), a UUID, a number, a path, a URL, an e-mail
// address or a reference (${VAR}, $VAR, os.Getenv, process.env.X, os.environ,
// secretKeyRef, valueFrom, vault:...); in source code (by extension) a quoted
// value (unquoted, it is an expression); a digit or a symbol (letters alone must
// be 20 long with entropy 3.8); and a Shannon entropy of at least min(3.3,
// log2(len)-0.5) bits per character.
//
// Paths change what runs (see classify): in test paths (directories test,
// tests, testdata, testing, fixtures, fixture, __tests__, __fixtures__, __mocks__,
// spec, specs, mocks, e2e; files *_test.go, *.spec.*, *.test.*, *_spec.*,
// test_*.py, conftest.py, *Test.java, ...) medium and low confidence rules do not
// run, and a high-confidence token is reported at low severity (a test fixture
// is usually a dummy, but a live key there is as live as anywhere). Lockfiles
// (go.sum, package-lock.json, yarn.lock, Cargo.lock, ...) are searched by the
// provider rules and the URL rule (a registry token in a resolved URL) but not by
// the generic and JWT rules, so their digests are never candidates.
//
// Binary files (a NUL byte in the first 8 KiB) are skipped and counted; files
// larger than MaxFileSize are skipped, counted and reported as a Problem (a
// secret could be in them).
//
// # Git history
//
// With History, the repository's history is read with the git binary (git log
// --all --reverse -p -U0: every ref's commits, oldest first, only the lines
// each commit added, deleted files left out, paths relative to the target's
// root) and the added lines of each (commit, file) are searched like a file,
// each finding placed at its line in that commit's version. A secret found in
// history is reported once, at the commit that first added it (Location.Commit,
// 12 hex digits), even if a later commit removed it; if the same secret (same
// rule, same value) is still in the working tree, it is reported there only,
// the message naming the commit that first added it. Without git, or when the
// target is not in a work tree, a Problem says so and the files are still
// searched. MaxCommits bounds the commits read (the newest), MaxDiffBytes the
// added bytes read per file per commit.
//
// # Findings
//
// Kind secret; the rule's id, title and severity (low in test paths);
// Location with 1-based line and byte columns (EndCol exclusive), and a Snippet
// that shows at most the first 4 characters of the secret (a quarter of one
// shorter than 16), then "…" (a URL shows its user and host, a private key its
// armour line); Key is the rule id and the SHA-256 of the secret (a private
// key's base64 body; a URL's user, password and host), suffixed #2, #3, ... for
// repeats in one file, so a fingerprint survives moved lines and two secrets in
// a file differ. Order: working-tree findings by path then position, then
// history-only findings oldest first; the same whatever the worker count.
// Secrets are never logged.
//
// Cost (bench_test.go, 2 shared vCPUs): BenchmarkFind, generated Go, JS,
// Python, JSON and YAML files of 1-8 KB, about 135 MB per CPU second on one
// core, 19 allocations per file; BenchmarkScan100k, 100,000 generated files
// (711 MB: sources, configs, Markdown, minified bundles, lockfiles, binaries)
// walked and scanned in 9.9 s wall (6.3 CPU-s), about 10,000 files/s;
// BenchmarkHistory, 2,000 commits adding 87 MB, 3.7 s. BenchmarkFindHostile
// keeps inputs built against the bounds (1 MB lines of keywords, BEGIN lines
// without END, base64 runs holding eyJ) linear.
package secrets

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/scan"
)

// ID is the scanner's stable id; Version changes when the rule set does
// (rules added, checks changed), so findings can be told apart by rule set.
const (
	ID      = "secrets"
	Version = "1"
)

// Defaults.
const (
	DefaultMaxFileSize  = 10 << 20
	DefaultMaxDiffBytes = 1 << 20
	maxSize             = 1 << 30
)

// Options configures a Scanner. The zero value scans files only, with the defaults.
type Options struct {
	Logger *slog.Logger // nil: discard
	// History also searches the git history (see the package comment).
	History bool
	// MaxFileSize: larger files are skipped and reported (0: 10 MiB; at most 1 GiB).
	MaxFileSize int64
	// Workers searching files in parallel (0: GOMAXPROCS).
	Workers int
	// MaxCommits bounds the history read to the newest commits (0: all).
	MaxCommits int
	// MaxDiffBytes bounds the added bytes read per file per commit (0: 1 MiB; at most 1 GiB).
	MaxDiffBytes int
	// Git is the git binary (empty: "git" on PATH).
	Git string
	// SkipDirs are directory names whose history is not read, anywhere in the
	// tree: pass the scan.WalkOptions.Skip the target was walked with.
	SkipDirs []string
}

// Stats counts what a scan looked at.
type Stats struct {
	Files       int   // in the target
	Searched    int   // read and searched
	Bytes       int64 // bytes searched
	NoKeyword   int   // searched files that no rule's keyword occurs in (done after the prefilter)
	Binary      int   // skipped: a NUL byte in the first 8 KiB
	TooLarge    int   // skipped: larger than MaxFileSize
	Unreadable  int   // skipped: could not be read (reported)
	Commits     int   // history: commits read
	Diffs       int   // history: (commit, file) diffs searched
	DiffBytes   int64 // history: added bytes searched
	Truncated   int   // history: diffs larger than MaxDiffBytes, partly read
	Findings    int   // findings emitted
	FromHistory int   // of which only in history
}

// Scanner finds secrets. It is safe for concurrent use.
type Scanner struct {
	opts Options
	log  *slog.Logger
	det  *detector
}

// New returns a scanner.
func New(opts Options) *Scanner {
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = DefaultMaxFileSize
	}
	opts.MaxFileSize = min(opts.MaxFileSize, maxSize) // positions are int32
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.MaxDiffBytes <= 0 {
		opts.MaxDiffBytes = DefaultMaxDiffBytes
	}
	opts.MaxDiffBytes = min(opts.MaxDiffBytes, maxSize)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scanner{opts: opts, log: log, det: newDetector()}
}

// Rules lists the rule set.
func Rules() []Rule {
	t := ruleTable()
	out := make([]Rule, len(t))
	for i := range t {
		out[i] = t[i].Rule
	}
	return out
}

// ID returns "secrets".
func (s *Scanner) ID() string { return ID }

// Scan reports the secrets in t's files, and in its history with Options.History.
func (s *Scanner) Scan(ctx context.Context, t *scan.Target, emit func(scan.Finding), problem func(scan.Problem)) error {
	_, err := s.ScanStats(ctx, t, emit, problem)
	return err
}

// fileResult is what one file gave.
type fileResult struct {
	matches []match
	kind    pathKind
	problem string
}

// historyHit is a secret found in a commit.
type historyHit struct {
	path   string
	commit string
	time   int64
	kind   pathKind
	m      match
}

// ScanStats is Scan, also returning what was looked at.
func (s *Scanner) ScanStats(ctx context.Context, t *scan.Target, emit func(scan.Finding), problem func(scan.Problem)) (Stats, error) {
	if problem == nil {
		problem = func(scan.Problem) {}
	}
	if emit == nil {
		emit = func(scan.Finding) {}
	}
	began := time.Now()
	st := Stats{Files: len(t.Files)}
	results, err := s.scanFiles(ctx, t, &st)
	if err != nil {
		return st, err
	}
	for i, r := range results {
		if r.problem != "" {
			problem(scan.Problem{Scanner: ID, Path: t.Files[i].Path, Err: r.problem})
		}
	}
	var hist []historyHit
	if s.opts.History {
		hist, err = s.scanHistory(ctx, t.Root, &st, problem)
		if err != nil {
			return st, err
		}
	}
	s.report(t, results, hist, &st, emit)
	s.log.InfoContext(ctx, "secrets scan done", "files", st.Files, "searched", st.Searched, "bytes", st.Bytes,
		"no_keyword", st.NoKeyword, "binary", st.Binary, "too_large", st.TooLarge, "unreadable", st.Unreadable,
		"commits", st.Commits, "diffs", st.Diffs, "diff_bytes", st.DiffBytes, "truncated_diffs", st.Truncated,
		"findings", st.Findings, "history_only", st.FromHistory, "elapsed", time.Since(began))
	return st, nil
}

// scanFiles searches the files with a bounded pool of workers; results are
// indexed like t.Files, so their order does not depend on the workers.
func (s *Scanner) scanFiles(ctx context.Context, t *scan.Target, st *Stats) ([]fileResult, error) {
	results := make([]fileResult, len(t.Files))
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(s.opts.Workers, max(1, len(t.Files))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local Stats
			sc := s.det.newScratch()
			var buf []byte
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(t.Files) {
					break
				}
				f := t.Files[i]
				results[i].kind = classify(f.Path)
				buf = s.scanFile(t.Abs(f), f.Size, buf, &results[i], sc, &local)
			}
			mu.Lock()
			st.Searched += local.Searched
			st.Bytes += local.Bytes
			st.NoKeyword += local.NoKeyword
			st.Binary += local.Binary
			st.TooLarge += local.TooLarge
			st.Unreadable += local.Unreadable
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return results, nil
}

// scanFile reads one file into buf (returned for reuse) and searches it.
func (s *Scanner) scanFile(abs string, size int64, buf []byte, res *fileResult, sc *scratch, st *Stats) []byte {
	limit := s.opts.MaxFileSize
	if size > limit {
		st.TooLarge++
		res.problem = fmt.Sprintf("not searched for secrets: %d bytes, larger than the %d-byte limit", size, limit)
		return buf
	}
	data, err := readFile(abs, buf, size, limit)
	if data != nil {
		buf = data[:0]
	}
	switch {
	case errors.Is(err, errTooLarge):
		st.TooLarge++
		res.problem = fmt.Sprintf("not searched for secrets: larger than the %d-byte limit", limit)
		return buf
	case err != nil:
		st.Unreadable++
		res.problem = err.Error()
		return buf
	}
	if isBinary(data) {
		st.Binary++
		return buf
	}
	st.Searched++
	st.Bytes += int64(len(data))
	res.matches = s.det.find(data, res.kind, sc)
	if !sc.hit {
		st.NoKeyword++
	}
	return buf
}

var errTooLarge = errors.New("file too large")

// readFile reads path into buf, growing it, up to limit bytes.
func readFile(p string, buf []byte, hint, limit int64) ([]byte, error) {
	f, err := os.Open(p) // #nosec G703 -- the walked target's files
	if err != nil {
		return nil, fmt.Errorf("opening: %w", err)
	}
	defer f.Close()
	want := int(min(hint, limit)) + 1
	if cap(buf) < want {
		buf = make([]byte, 0, max(want, 4096))
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return buf, errTooLarge
			}
			buf = slices.Grow(buf, max(4096, len(buf)))
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errTooLarge
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, fmt.Errorf("reading: %w", err)
		}
	}
}

// isBinary: a NUL byte in the first 8 KiB (git's test).
func isBinary(b []byte) bool {
	return slices.Contains(b[:min(len(b), 8<<10)], 0)
}

// scanHistory reads and searches the history of the repository holding root.
func (s *Scanner) scanHistory(ctx context.Context, root string, st *Stats, problem func(scan.Problem)) ([]historyHit, error) {
	bin := s.opts.Git
	if bin == "" {
		bin = "git"
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		problem(scan.Problem{Scanner: ID, Err: fmt.Sprintf("git history not searched: %v", err)})
		return nil, nil
	}
	g := git{bin: p, root: root}
	if err := g.check(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		problem(scan.Problem{Scanner: ID, Err: fmt.Sprintf("git history not searched: %v", err)})
		return nil, nil
	}
	type result struct {
		seq  int
		hits []historyHit
	}
	var (
		mu      sync.Mutex
		results []result
		local   Stats
		wg      sync.WaitGroup
	)
	work := make(chan *chunk, 2*s.opts.Workers)
	for range s.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := s.det.newScratch()
			for c := range work {
				kind := classify(c.path)
				ms := s.det.find(c.data, kind, sc)
				if len(ms) == 0 {
					continue
				}
				hits := make([]historyHit, len(ms))
				for i, m := range ms {
					// Lines of the chunk are the file's added lines.
					m.line = int(c.lines[m.line-1])
					m.endLine = int(c.lines[min(m.endLine, len(c.lines))-1])
					hits[i] = historyHit{path: c.path, commit: c.commit, time: c.time, kind: kind, m: m}
				}
				mu.Lock()
				results = append(results, result{seq: c.seq, hits: hits})
				mu.Unlock()
			}
		}()
	}
	lastCommit := ""
	truncated := map[string]bool{}
	err = g.readLog(ctx, s.opts.MaxCommits, s.opts.MaxDiffBytes, func(c *chunk) error {
		if c.commit != lastCommit {
			lastCommit = c.commit
			local.Commits++
		}
		if skipped(c.path, s.opts.SkipDirs) {
			return nil
		}
		local.Diffs++
		local.DiffBytes += int64(len(c.data))
		if c.truncated {
			local.Truncated++
			truncated[short(c.commit)+" "+c.path] = true
		}
		select {
		case work <- c:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(work)
	wg.Wait()
	st.Commits, st.Diffs, st.DiffBytes, st.Truncated = local.Commits, local.Diffs, local.DiffBytes, local.Truncated
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		problem(scan.Problem{Scanner: ID, Err: fmt.Sprintf("git history partly searched: %v", err)})
	}
	for _, k := range slices.Sorted(maps.Keys(truncated)) {
		c, p, _ := strings.Cut(k, " ")
		problem(scan.Problem{Scanner: ID, Path: p, Err: fmt.Sprintf("history: the diff of commit %s adds more than %d bytes; the rest was not searched", c, s.opts.MaxDiffBytes)})
	}
	slices.SortFunc(results, func(a, b result) int { return a.seq - b.seq })
	var out []historyHit
	for _, r := range results {
		out = append(out, r.hits...)
	}
	return out, nil
}

func skipped(p string, dirs []string) bool {
	if len(dirs) == 0 {
		return false
	}
	for d := path.Dir(p); d != "." && d != "/" && d != ""; d = path.Dir(d) {
		if slices.Contains(dirs, path.Base(d)) {
			return true
		}
	}
	return false
}

func short(commit string) string { return commit[:min(len(commit), 12)] }

// report turns matches into findings: working-tree ones first (noting a
// secret's first commit when it is also in history), then history-only ones.
func (s *Scanner) report(t *scan.Target, results []fileResult, hist []historyHit, st *Stats, emit func(scan.Finding)) {
	type seen struct {
		commit string
		time   int64
	}
	id := func(m match) string { return s.det.rules[m.rule].ID + ":" + hex.EncodeToString(m.sum[:]) }
	inTree := map[string]bool{}
	for _, r := range results {
		for _, m := range r.matches {
			inTree[id(m)] = true
		}
	}
	first := map[string]seen{}
	var histOnly []historyHit
	for _, h := range hist {
		k := id(h.m)
		if _, ok := first[k]; ok {
			continue
		}
		first[k] = seen{commit: h.commit, time: h.time}
		if !inTree[k] {
			histOnly = append(histOnly, h)
		}
	}
	for i, r := range results {
		occ := map[string]int{}
		for _, m := range r.matches {
			k := id(m)
			occ[k]++
			f := s.finding(t, t.Files[i].Path, r.kind, m, k, occ[k])
			if h, ok := first[k]; ok {
				f.Message += fmt.Sprintf("; also in git history since commit %s (%s)", short(h.commit), day(h.time))
			}
			emit(f)
			st.Findings++
		}
	}
	for _, h := range histOnly {
		f := s.finding(t, h.path, h.kind, h.m, id(h.m), 1)
		f.Location.Commit = short(h.commit)
		f.Message = fmt.Sprintf("%s added to %s in commit %s (%s); no longer in the working tree but still in git history",
			s.det.rules[h.m.rule].Title, h.path, short(h.commit), day(h.time))
		if h.kind.test {
			f.Message += "; in a test path, so reported at low severity"
		}
		emit(f)
		st.Findings++
		st.FromHistory++
	}
}

func day(unix int64) string {
	if unix == 0 {
		return "date unknown"
	}
	return time.Unix(unix, 0).UTC().Format("2006-01-02")
}

func (s *Scanner) finding(t *scan.Target, p string, kind pathKind, m match, key string, occurrence int) scan.Finding {
	ru := &s.det.rules[m.rule]
	sev := ru.Severity
	msg := fmt.Sprintf("%s in %s", ru.Title, p)
	if kind.test {
		sev = scan.SeverityLow
		msg += "; in a test path, so reported at low severity"
	}
	if occurrence > 1 {
		key += fmt.Sprintf("#%d", occurrence)
	}
	return scan.Finding{
		RuleID:   ru.ID,
		Kind:     scan.KindSecret,
		Severity: sev,
		Title:    ru.Title,
		Message:  msg,
		Location: scan.Location{
			Path: p, StartLine: m.line, EndLine: m.endLine, StartCol: m.col, EndCol: m.endCol, Snippet: m.snippet,
		},
		Remediation: Remediation,
		References:  slices.Clone(ru.References),
		Subject:     scan.Subject{Repository: t.Repository},
		Key:         key,
	}
}

var _ scan.Scanner = (*Scanner)(nil)
