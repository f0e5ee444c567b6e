package secrets

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/scan"
)

func TestParseLog(t *testing.T) {
	log := commitMarker + "1111111111111111111111111111111111111111 1700000000\n\n" +
		"diff --git a/x.env b/x.env\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n+++ b/x.env\n" +
		"@@ -0,0 +1,3 @@\n+A=1\n++++ b/not-a-header\n+C=3\n" +
		"diff --git \"a/q\\\"x\" \"b/q\\\"x\"\n--- \"a/q\\\"x\"\n+++ \"b/q\\\"x\"\n" +
		"@@ -2 +2 @@\n-old\n+new\n\\ No newline at end of file\n" +
		"@@ -10,2 +11,0 @@\n-gone\n-gone too\n" +
		"@@ -20,0 +20,2 @@\n+twenty\n+twenty-one\n" +
		commitMarker + "2222222222222222222222222222222222222222 1700000100\n\n" +
		"diff --git a/bin.png b/bin.png\nBinary files /dev/null and b/bin.png differ\n" +
		"diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\n--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n" +
		"diff --git a/big.txt b/big.txt\n--- /dev/null\n+++ b/big.txt\n@@ -0,0 +1,3 @@\n+0123456789\n+0123456789\n+0123456789"
	var got []chunk
	if err := parseLog(strings.NewReader(log), 30, func(c *chunk) error { got = append(got, *c); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []chunk{
		{seq: 0, commit: strings.Repeat("1", 40), time: 1700000000, path: "x.env", data: []byte("A=1\n+++ b/not-a-header\nC=3"), lines: []int32{1, 2, 3}},
		{seq: 1, commit: strings.Repeat("1", 40), time: 1700000000, path: `q"x`, data: []byte("new\ntwenty\ntwenty-one"), lines: []int32{2, 20, 21}},
		{seq: 2, commit: strings.Repeat("2", 40), time: 1700000100, path: "big.txt", data: []byte("0123456789\n0123456789"), lines: []int32{1, 2}, truncated: true},
	}
	if len(got) != len(want) {
		t.Fatalf("chunks %+v", got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.seq != w.seq || g.commit != w.commit || g.time != w.time || g.path != w.path || !bytes.Equal(g.data, w.data) ||
			!slices.Equal(g.lines, w.lines) || g.truncated != w.truncated {
			t.Errorf("chunk %d:\n got %+v %q\nwant %+v %q", i, g, g.data, w, w.data)
		}
	}
	for _, h := range []string{"@@ -1 +1 @@", "@@ -1,2 +3,4 @@ func f() {"} {
		if _, _, _, ok := hunkHeader([]byte(h)); !ok {
			t.Errorf("hunkHeader(%q) failed", h)
		}
	}
	for _, h := range []string{"@@ -x +1 @@", "@@ +1 -1 @@", "@@ -1 +1", "@@ -1,-2 +1 @@"} {
		if _, _, _, ok := hunkHeader([]byte(h)); ok {
			t.Errorf("hunkHeader(%q) accepted", h)
		}
	}
}

// gitRepo makes a repository in a temporary directory, with git configured
// by the environment only (no user or system configuration).
type gitRepo struct {
	t   *testing.T
	dir string
	env []string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@corp.example", "GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@corp.example")
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = r.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *gitRepo) commit(date, msg string, files map[string]string, remove ...string) string {
	r.t.Helper()
	writeFiles(r.t, r.dir, files)
	for _, p := range remove {
		if err := os.Remove(filepath.Join(r.dir, p)); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.env = append(r.env, "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	r.git("commit", "-q", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

const (
	tokC = "ghp_Hn4LwQ8zT2vK6pR9mB3xF7cJ1dS5gY0aU8eN"
	tokD = "ghp_Pd5KxW2nR8vL3qT7mC9zB4hJ6fG1sY0aE5uM"
)

// TestHistory: a secret added then deleted is found in history at the commit
// that added it; one still in the working tree is reported once, there; one
// on another branch is found; the rest of the tree is as without history.
func TestHistory(t *testing.T) {
	r := newGitRepo(t)
	c1 := r.commit("2024-01-02T10:00:00Z", "add config", map[string]string{
		"config/old.env": "# old\nTOKEN=" + tokA + "\n",
		"app.yaml":       "name: app\ntoken: " + tokB + "\n",
	})
	r.commit("2024-02-03T10:00:00Z", "remove the old config, grow app.yaml", map[string]string{
		"app.yaml":       "name: app\nport: 80\nhost: a\ntoken: " + tokB + "\n",
		"config/new.env": "X=1\n",
	}, "config/old.env")
	r.git("checkout", "-q", "-b", "feature")
	c3 := r.commit("2024-03-04T10:00:00Z", "feature", map[string]string{"feature.txt": "line\nline\nkey " + tokC + "\n"})
	r.git("checkout", "-q", "main")
	r.commit("2024-04-05T10:00:00Z", "docs", map[string]string{"node_modules/x/README.txt": "key " + tokD + "\n"})

	fs, ps, st := scanDir(t, r.dir, Options{History: true, SkipDirs: []string{"node_modules"}})
	if len(ps) != 0 {
		t.Errorf("problems %v", ps)
	}
	type hit struct {
		path   string
		line   int
		commit string
	}
	var got []hit
	for _, f := range fs {
		got = append(got, hit{f.Location.Path, f.Location.StartLine, f.Location.Commit})
	}
	want := []hit{
		{"app.yaml", 4, ""},                  // still there: reported once, on the file
		{"node_modules/x/README.txt", 1, ""}, // the working tree is the walk's (it did not skip it)
		{"config/old.env", 2, c1[:12]},       // deleted, still in history
		{"feature.txt", 3, c3[:12]},          // on another branch
	}
	if !slices.Equal(got, want) {
		t.Fatalf("findings\n got %v\nwant %v", got, want)
	}
	if !strings.Contains(fs[0].Message, "also in git history since commit "+c1[:12]+" (2024-01-02)") {
		t.Errorf("message %q", fs[0].Message)
	}
	if !strings.Contains(fs[2].Message, "commit "+c1[:12]+" (2024-01-02)") || fs[2].Location.Snippet != "ghp_\u2026" {
		t.Errorf("history finding %+v", fs[2])
	}
	if fs[2].ComputeFingerprint() == fs[0].ComputeFingerprint() {
		t.Error("fingerprints collide")
	}
	if st.Commits != 4 || st.FromHistory != 2 || st.Diffs < 4 {
		t.Errorf("stats %+v", st)
	}

	// Bounds: the newest commit only; a diff cut at 10 bytes.
	fs, _, _ = scanDir(t, r.dir, Options{History: true, MaxCommits: 1})
	for _, f := range fs {
		if f.Location.Commit != "" {
			t.Errorf("MaxCommits 1 read an old commit: %+v", f)
		}
	}
	_, ps, st = scanDir(t, r.dir, Options{History: true, MaxDiffBytes: 10})
	if st.Truncated == 0 || !slices.ContainsFunc(ps, func(p scan.Problem) bool { return strings.Contains(p.Err, "more than 10 bytes") }) {
		t.Errorf("truncation not reported: %+v %+v", st, ps)
	}

	// A subdirectory as the target: paths relative to it, nothing outside.
	fs, _, _ = scanDir(t, filepath.Join(r.dir, "config"), Options{History: true})
	if len(fs) != 1 || fs[0].Location.Path != "old.env" || fs[0].Location.Commit != c1[:12] {
		t.Errorf("subdirectory: %+v", fs)
	}
}

func TestHistoryWithoutGit(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.env": "X=" + tokA + "\n"})
	for name, opts := range map[string]Options{
		"git missing": {History: true, Git: filepath.Join(dir, "no-such-git")},
		"not a repo":  {History: true},
	} {
		if name == "not a repo" {
			if _, err := exec.LookPath("git"); err != nil {
				continue
			}
		}
		fs, ps, _ := scanDir(t, dir, opts)
		if len(fs) != 1 {
			t.Errorf("%s: the files were not scanned: %+v", name, fs)
		}
		if len(ps) != 1 || !strings.Contains(ps[0].Err, "git history not searched") || ps[0].Scanner != ID {
			t.Errorf("%s: problems %+v", name, ps)
		}
	}
}

func FuzzParseLog(f *testing.F) {
	f.Add([]byte(commitMarker + "1111111111111111111111111111111111111111 1700000000\n\ndiff --git a/x b/x\n--- /dev/null\n+++ b/x\n@@ -0,0 +1,2 @@\n+a\n+b\n"))
	f.Add([]byte("@@ -1 +1 @@\n+x\n"))
	f.Add([]byte(commitMarker + "ab 1\n+++ \"b/\\303\\251\"\n@@ -0,0 +5,1 @@\n+" + tokA + "\n\\ No newline\n"))
	d := newDetector()
	sc := d.newScratch()
	f.Fuzz(func(t *testing.T, data []byte) {
		err := parseLog(bytes.NewReader(data), 1<<10, func(c *chunk) error {
			if c.commit == "" || c.path == "" || len(c.lines) == 0 || len(c.data) > 1<<10 {
				t.Fatalf("bad chunk %+v", c)
			}
			if n := bytes.Count(c.data, []byte{'\n'}) + 1; n < len(c.lines) {
				// An added line may itself hold no newline; the data has at least one line per number.
				t.Fatalf("%d lines for %d numbers", n, len(c.lines))
			}
			for _, m := range d.find(c.data, classify(c.path), sc) {
				if m.line < 1 || m.line > bytes.Count(c.data, []byte{'\n'})+1 {
					t.Fatalf("match line %d out of range", m.line)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
