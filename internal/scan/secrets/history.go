package secrets

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
)

// chunk is what one commit added to one file: the added lines joined by
// newlines, with each one's line number in that commit's version of the file.
type chunk struct {
	seq       int
	commit    string // full hash
	time      int64  // author date, Unix seconds
	path      string // relative to the target's root
	data      []byte
	lines     []int32
	truncated bool // the file's diff was larger than the bound; the rest was not read
}

// commitMarker starts each commit's header in the log (a unit separator first,
// so no diff line can be taken for it outside a hunk).
const commitMarker = "\x1fvigil-commit "

const maxLogLine = 1 << 20 // longer diff lines are cut (the rest is not searched)

// parseLog reads `git log -p -U0` output in the format gitLogArgs asks for and
// calls fn with each (commit, file) chunk of added lines, in log order. A
// file's added lines beyond maxDiff bytes are dropped and the chunk marked
// truncated. Malformed input is skipped, never an error; an error is the
// reader's or fn's.
func parseLog(r io.Reader, maxDiff int, fn func(*chunk) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		commit     string
		when       int64
		cur        *chunk
		seq        int
		oldN, newN int // lines left in the current hunk
		newLine    int
		line       []byte
		long       []byte
	)
	flush := func() error {
		if cur != nil && len(cur.lines) > 0 {
			cur.seq = seq
			seq++
			if err := fn(cur); err != nil {
				return err
			}
		}
		cur = nil
		return nil
	}
	for {
		// One line, at most maxLogLine bytes of it.
		long = long[:0]
		var err error
		for {
			var frag []byte
			frag, err = br.ReadSlice('\n')
			if room := maxLogLine - len(long); room > 0 {
				long = append(long, frag[:min(len(frag), room)]...)
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if len(long) == 0 && err != nil {
			break
		}
		line = bytes.TrimSuffix(long, []byte("\n"))
		if oldN > 0 || newN > 0 {
			switch {
			case len(line) > 0 && line[0] == '+' && newN > 0:
				if cur != nil {
					add := line[1:]
					if len(cur.data)+len(add)+1 > maxDiff {
						cur.truncated = true
					} else {
						if len(cur.lines) > 0 {
							cur.data = append(cur.data, '\n')
						}
						cur.data = append(cur.data, add...)
						cur.lines = append(cur.lines, int32(newLine))
					}
				}
				newLine++
				newN--
				continue
			case len(line) > 0 && line[0] == '-' && oldN > 0:
				oldN--
				continue
			case len(line) > 0 && line[0] == ' ' && oldN > 0 && newN > 0:
				oldN--
				newN--
				newLine++
				continue
			case len(line) > 0 && line[0] == '\\':
				continue
			default:
				oldN, newN = 0, 0 // not a hunk line: read it as a header
			}
		}
		switch {
		case bytes.HasPrefix(line, []byte(commitMarker)):
			if err := flush(); err != nil {
				return err
			}
			f := strings.Fields(string(line[len(commitMarker):]))
			commit, when = "", 0
			if len(f) >= 1 && isHex([]byte(f[0])) {
				commit = f[0]
			}
			if len(f) >= 2 {
				when, _ = strconv.ParseInt(f[1], 10, 64)
			}
		case bytes.HasPrefix(line, []byte("diff --git ")):
			if err := flush(); err != nil {
				return err
			}
		case bytes.HasPrefix(line, []byte("+++ ")):
			if err := flush(); err != nil {
				return err
			}
			if p, ok := diffPath(line[4:]); ok && commit != "" {
				cur = &chunk{commit: commit, time: when, path: p}
			}
		case bytes.HasPrefix(line, []byte("@@ ")):
			o, n, start, ok := hunkHeader(line)
			if ok {
				oldN, newN, newLine = o, n, start
			}
		}
		if err != nil {
			break
		}
	}
	return flush()
}

// diffPath reads the path of a "+++ " line: b/path, "b/quoted\tpath", or
// /dev/null (no path).
func diffPath(s []byte) (string, bool) {
	p := string(bytes.TrimRight(s, "\t\r"))
	if strings.HasPrefix(p, `"`) {
		u, err := strconv.Unquote(p)
		if err != nil {
			return "", false
		}
		p = u
	}
	if !strings.HasPrefix(p, "b/") || len(p) == 2 {
		return "", false
	}
	return p[2:], true
}

// hunkHeader reads "@@ -a[,b] +c[,d] @@": the old and new line counts and the
// first new line.
func hunkHeader(line []byte) (oldN, newN, start int, ok bool) {
	f := strings.Fields(string(line))
	if len(f) < 4 || f[0] != "@@" || !strings.HasPrefix(f[1], "-") || !strings.HasPrefix(f[2], "+") || f[3] != "@@" {
		return 0, 0, 0, false
	}
	rng := func(s string) (int, int, bool) {
		a, b, found := strings.Cut(s, ",")
		x, err := strconv.Atoi(a)
		if err != nil || x < 0 {
			return 0, 0, false
		}
		n := 1
		if found {
			if n, err = strconv.Atoi(b); err != nil || n < 0 {
				return 0, 0, false
			}
		}
		return x, n, true
	}
	_, oldN, ok1 := rng(f[1][1:])
	start, newN, ok2 := rng(f[2][1:])
	if !ok1 || !ok2 || oldN > 1<<30 || newN > 1<<30 {
		return 0, 0, 0, false
	}
	return oldN, newN, start, true
}

// gitError is git's failure with what it said.
type gitError struct {
	args   string
	err    error
	stderr string
}

func (e *gitError) Error() string {
	if e.stderr != "" {
		return fmt.Sprintf("running git %s: %v: %s", e.args, e.err, e.stderr)
	}
	return fmt.Sprintf("running git %s: %v", e.args, e.err)
}

func (e *gitError) Unwrap() error { return e.err }

// limitedBuffer keeps the first n bytes written to it (git's stderr).
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	n   int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.n - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.buf.String())
}

// git runs the git binary with the options that make its output what the
// parser reads whatever the user's or the repository's configuration says.
type git struct {
	bin  string
	root string
}

func (g git) command(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{
		"-C", g.root,
		"-c", "core.quotePath=false", "-c", "log.showSignature=false", "-c", "diff.noprefix=false",
		"-c", "diff.mnemonicPrefix=false", "-c", "core.pager=cat", "-c", "color.ui=false",
	}, args...)
	cmd := exec.CommandContext(ctx, g.bin, full...) // #nosec G204 -- git, with fixed flags
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_PAGER=cat", "GIT_OPTIONAL_LOCKS=0", "LC_ALL=C")
	return cmd
}

// check says whether root is in a git work tree.
func (g git) check(ctx context.Context) error {
	cmd := g.command(ctx, "rev-parse", "--is-inside-work-tree")
	var stderr limitedBuffer
	stderr.n = 4 << 10
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return &gitError{args: "rev-parse", err: err, stderr: stderr.String()}
	}
	if strings.TrimSpace(string(out)) != "true" {
		return fmt.Errorf("%s is not in a git work tree", g.root)
	}
	return nil
}

// logArgs are the arguments of the history read: every ref's commits, oldest
// first, with the lines each added (no context, no renames, deleted files
// left out), paths relative to the root.
func logArgs(maxCommits int) []string {
	args := []string{"log", "--all", "--reverse", "-p", "-U0", "--no-color", "--no-ext-diff", "--no-textconv",
		"--no-renames", "--diff-filter=d", "--relative", "--src-prefix=a/", "--dst-prefix=b/",
		"--format=" + strings.ReplaceAll(commitMarker, "\x1f", "%x1f") + "%H %at"}
	if maxCommits > 0 {
		args = append(args, "--max-count="+strconv.Itoa(maxCommits))
	}
	return append(args, "--")
}

// readLog streams the history to fn.
func (g git) readLog(ctx context.Context, maxCommits, maxDiff int, fn func(*chunk) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := g.command(ctx, logArgs(maxCommits)...)
	stderr := &limitedBuffer{n: 4 << 10}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("starting git log: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return &gitError{args: "log", err: err}
	}
	perr := parseLog(out, maxDiff, fn)
	if perr != nil {
		cancel() // stop git; its exit error is not the news
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		return perr
	}
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &gitError{args: "log", err: err, stderr: stderr.String()}
	}
	return nil
}
