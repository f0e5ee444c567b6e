package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/scan"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// scanDir walks dir and scans it, returning the findings and problems.
func scanDir(t *testing.T, dir string, opts Options) ([]scan.Finding, []scan.Problem, Stats) {
	t.Helper()
	tg, err := scan.Walk(dir, scan.WalkOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var fs []scan.Finding
	var ps []scan.Problem
	st, err := New(opts).ScanStats(context.Background(), tg, func(f scan.Finding) { fs = append(fs, f) }, func(p scan.Problem) { ps = append(ps, p) })
	if err != nil {
		t.Fatal(err)
	}
	return fs, ps, st
}

// TestFixtures is the known answer on testdata/tree: every planted secret at
// its rule and line, and no decoy (versions, digests, UUIDs, placeholders,
// documentation keys, environment lookups, lockfiles, generics in test paths,
// a binary file).
func TestFixtures(t *testing.T) {
	type want struct {
		path string
		rule string
		line int
		sev  scan.Severity
	}
	const (
		hi   = scan.SeverityHigh
		crit = scan.SeverityCritical
		med  = scan.SeverityMedium
		low  = scan.SeverityLow
	)
	wants := []want{
		{".env", "VGL-SEC-001", 3, hi},
		{".env", "VGL-SEC-002", 4, crit},
		{".env", "VGL-SEC-021", 5, med},
		{".env", "VGL-SEC-003", 6, hi},
		{".env", "VGL-SEC-003", 9, hi}, // the same token again
		{".env", "VGL-SEC-001", 10, hi},
		{"config/app.yaml", "VGL-SEC-006", 4, hi},
		{"config/app.yaml", "VGL-SEC-007", 5, med},
		{"config/app.yaml", "VGL-SEC-008", 7, crit},
		{"config/app.yaml", "VGL-SEC-008", 8, crit},
		{"config/app.yaml", "VGL-SEC-009", 10, med},
		{"config/app.yaml", "VGL-SEC-016", 12, hi},
		{"config/app.yaml", "VGL-SEC-021", 14, med},
		{"deploy/k8s.yaml", "VGL-SEC-005", 18, hi},
		{"docker/config.json", "VGL-SEC-018", 4, hi},
		{"gcp/service-account.json", "VGL-SEC-010", 5, crit},
		{"keys/deploy_key", "VGL-SEC-011", 1, hi},
		{"scripts/deploy.py", "VGL-SEC-021", 4, med},
		{"scripts/deploy.py", "VGL-SEC-013", 5, hi},
		{"scripts/deploy.py", "VGL-SEC-020", 6, hi},
		{"settings/storage.conf", "VGL-SEC-017", 2, crit},
		{"src/app.js", "VGL-SEC-012", 2, hi},
		{"src/app.js", "VGL-SEC-014", 4, hi},
		{"src/app.js", "VGL-SEC-015", 5, hi},
		{"src/app.js", "VGL-SEC-019", 6, med},
		{"src/main.go", "VGL-SEC-004", 5, hi},
		{"src/main.go", "VGL-SEC-021", 10, med},
		{"test/config.yaml", "VGL-SEC-003", 4, low}, // a provider token in a test path: reported, low
		{"web/bundle.min.js", "VGL-SEC-003", 1, hi}, // in the middle of an 88 KB line
	}
	fs, ps, st := scanDir(t, "testdata/tree", Options{})
	var got []want
	for _, f := range fs {
		got = append(got, want{f.Location.Path, f.RuleID, f.Location.StartLine, f.Severity})
	}
	if !slices.Equal(got, wants) {
		for _, g := range got {
			if !slices.Contains(wants, g) {
				t.Errorf("unexpected finding %+v", g)
			}
		}
		for _, w := range wants {
			if !slices.Contains(got, w) {
				t.Errorf("missing finding %+v", w)
			}
		}
		if !t.Failed() {
			t.Errorf("findings out of order:\n got %v\nwant %v", got, wants)
		}
	}
	if len(ps) != 0 {
		t.Errorf("problems: %v", ps)
	}
	if st.Binary != 1 || st.Files != st.Searched+st.Binary || st.NoKeyword == 0 || st.Findings != len(wants) {
		t.Errorf("stats %+v", st)
	}
	// Every rule is exercised by the fixtures.
	for _, r := range Rules() {
		if !slices.ContainsFunc(wants, func(w want) bool { return w.rule == r.ID }) {
			t.Errorf("rule %s (%s) has no planted fixture", r.ID, r.Title)
		}
	}
	for _, f := range fs {
		if f.Kind != scan.KindSecret || f.Remediation != Remediation || f.Subject.Repository != "tree" ||
			f.Location.StartCol < 1 || f.Location.EndLine < f.Location.StartLine || f.Key == "" || !strings.HasPrefix(f.Key, f.RuleID+":") {
			t.Errorf("malformed finding %+v", f)
		}
	}
	golden(t, "testdata/tree.golden.json", fs)
}

func golden(t *testing.T, path string, fs []scan.Finding) {
	t.Helper()
	for i := range fs {
		fs[i].Fingerprint = fs[i].ComputeFingerprint()
	}
	got, err := json.MarshalIndent(fs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("findings differ from %s (run with -update to accept):\n%s", path, got)
	}
}

func TestDeterministicWorkers(t *testing.T) {
	var first []scan.Finding
	for _, w := range []int{1, 2, 7} {
		fs, _, _ := scanDir(t, "testdata/tree", Options{Workers: w})
		if first == nil {
			first = fs
			continue
		}
		a, _ := json.Marshal(first)
		b, _ := json.Marshal(fs)
		if !bytes.Equal(a, b) {
			t.Fatalf("%d workers gave different findings", w)
		}
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, s := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// Fake, format-valid values used by the tests below.
const (
	tokA = "ghp_Tq3ZpX8vR1mL5nK9wB2cJ7dF4hG6sY0aE3uQ"
	tokB = "ghp_Wm7RbN2xK5pQ9tL3vC8zH1jD6fS4gA0yU2eP"
)

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.env": "X=" + tokA + "\nY=" + tokB + "\nZ=" + tokA + "\n"})
	fs, _, _ := scanDir(t, dir, Options{})
	if len(fs) != 3 {
		t.Fatalf("findings %v", fs)
	}
	if fs[0].Key == fs[1].Key {
		t.Error("two secrets in a file share a key")
	}
	if fs[2].Key != fs[0].Key+"#2" {
		t.Errorf("repeat key %q, want %q#2", fs[2].Key, fs[0].Key)
	}
	before := fs[1].ComputeFingerprint()
	// Lines move: the fingerprint stays.
	writeFiles(t, dir, map[string]string{"a.env": "# moved\n\nX=" + tokA + "\n\nY=" + tokB + "\n"})
	fs, _, _ = scanDir(t, dir, Options{})
	if len(fs) != 2 || fs[1].Location.StartLine != 5 || fs[1].ComputeFingerprint() != before {
		t.Errorf("after moving lines: %+v", fs)
	}
}

// TestSnippets: a snippet never holds the secret, nor a log line.
func TestSnippets(t *testing.T) {
	raw, err := os.ReadFile("testdata/tree/.env")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	fs, _, _ := scanDir(t, "testdata/tree", Options{Logger: newTestLogger(&logs)})
	for _, f := range fs {
		sn := f.Location.Snippet
		if !strings.Contains(sn, "\u2026") {
			t.Errorf("%s snippet %q not redacted", f.RuleID, sn)
		}
		if f.Location.EndLine == f.Location.StartLine && f.RuleID != "VGL-SEC-020" && f.RuleID != "VGL-SEC-007" {
			if n := len([]rune(strings.TrimSuffix(sn, "\u2026"))); n > 4 && f.RuleID != "VGL-SEC-010" && f.RuleID != "VGL-SEC-011" {
				t.Errorf("%s snippet %q shows %d characters", f.RuleID, sn, n)
			}
		}
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		_, v, ok := strings.Cut(line, "=")
		if ok && len(v) > 8 && strings.Contains(logs.String(), v) {
			t.Errorf("a secret was logged: %s…", v[:4])
		}
	}
	if !strings.Contains(logs.String(), "secrets scan done") {
		t.Errorf("no summary logged: %s", logs.String())
	}
	for in, want := range map[string]string{"ghp_abcdefghijklmnopq": "ghp_\u2026", "short12!": "sh\u2026", "abc": "\u2026", "é1234567": "é\u2026"} {
		if got := redact([]byte(in)); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSkips(t *testing.T) {
	dir := t.TempDir()
	big := "X=" + tokA + "\n" + strings.Repeat("filler line of text\n", 100)
	writeFiles(t, dir, map[string]string{
		"big.env":   big,
		"bin.dat":   "\x7fELF\x00\x01" + tokA,
		"small.env": "X=" + tokB + "\n",
	})
	fs, ps, st := scanDir(t, dir, Options{MaxFileSize: 1000})
	if len(fs) != 1 || fs[0].Location.Path != "small.env" {
		t.Errorf("findings %+v", fs)
	}
	if len(ps) != 1 || ps[0].Path != "big.env" || ps[0].Scanner != ID || !strings.Contains(ps[0].Err, "limit") {
		t.Errorf("problems %+v", ps)
	}
	if st.TooLarge != 1 || st.Binary != 1 || st.Searched != 1 {
		t.Errorf("stats %+v", st)
	}
	// A file that grew between the walk and the read is caught by the read.
	tg := &scan.Target{Root: dir, Files: []scan.File{{Path: "big.env", Size: 10}}}
	var probs []scan.Problem
	if err := New(Options{MaxFileSize: 1000}).Scan(context.Background(), tg, func(scan.Finding) {}, func(p scan.Problem) { probs = append(probs, p) }); err != nil {
		t.Fatal(err)
	}
	if len(probs) != 1 {
		t.Errorf("grown file: problems %+v", probs)
	}
	// An unreadable (vanished) file is a problem, not an error.
	tg = &scan.Target{Root: dir, Files: []scan.File{{Path: "gone.env", Size: 10}}}
	probs = nil
	if err := New(Options{}).Scan(context.Background(), tg, func(scan.Finding) {}, func(p scan.Problem) { probs = append(probs, p) }); err != nil {
		t.Fatal(err)
	}
	if len(probs) != 1 || probs[0].Path != "gone.env" {
		t.Errorf("vanished file: problems %+v", probs)
	}
	// Cancelled: an error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tg, _ = scan.Walk(dir, scan.WalkOptions{}, nil)
	if err := New(Options{}).Scan(ctx, tg, func(scan.Finding) {}, nil); err == nil {
		t.Error("a cancelled scan returned no error")
	}
}

func TestRules(t *testing.T) {
	rs := Rules()
	for i, r := range rs {
		if want := fmt.Sprintf("VGL-SEC-%03d", i+1); r.ID != want {
			t.Errorf("rule %d id %s, want %s", i, r.ID, want)
		}
		if r.Title == "" || r.Severity == scan.SeverityUnknown || len(r.References) == 0 {
			t.Errorf("rule %s incomplete: %+v", r.ID, r)
		}
	}
	for _, r := range ruleTable() {
		if len(r.keywords) == 0 || (r.re == nil) == (r.locate == nil) {
			t.Errorf("rule %s has no keyword or expression", r.ID)
		}
	}
}

// TestLines: one secret per line, each rule's check applied to a line alone.
func TestLines(t *testing.T) {
	d := newDetector()
	sc := d.newScratch()
	cases := []struct {
		path, text string
		want       string // rule id, "" for none
	}{
		// Generic: keys.
		{"app.env", "DB_PASSWORD=Zr8!kq2Lm#x9", "VGL-SEC-021"},
		{"app.env", "secretName=Zr8kq2Lmx9Pw", ""},
		{"app.env", "token_url=Zr8kq2Lmx9Pw", ""},
		{"app.env", "password_hash=Zr8kq2Lmx9Pw", ""},
		{"app.go", `tokenizer := "Zr8kq2Lmx9Pw"`, ""},
		{"app.go", `apiKey := "Zr8kq2Lmx9Pw"`, "VGL-SEC-021"},
		{"app.go", `client_secret = "Zr8kq2Lmx9Pw"`, "VGL-SEC-021"},
		{"app.json", `"x-api-key": "Zr8kq2Lmx9Pw"`, "VGL-SEC-021"},
		// Generic: values.
		{"app.go", `apiKey := Zr8kq2Lmx9Pw`, ""}, // unquoted in code: an expression
		{"app.go", `token := os.Getenv("TOKEN_VALUE_1")`, ""},
		{"app.js", `const apiKey = process.env.API_KEY_12;`, ""},
		{"app.py", `password = os.environ["DB_PASSWORD_1"]`, ""},
		{"app.yaml", `password: "{{ .Values.password1 }}"`, ""},
		{"app.yaml", `password: ${DB_PASSWORD_1}`, ""},
		{"app.yaml", `password: "%s%s%s%s"`, ""},
		{"app.yaml", `password: changeme2024`, ""},
		{"app.yaml", `password: your_password_1`, ""},
		{"app.yaml", `password: "<password1>"`, ""},
		{"app.yaml", `password: "********"`, ""},
		{"app.yaml", `token: aaaaaaaa1`, ""},
		{"app.yaml", `token: abcdef123`, ""},
		{"app.yaml", `token_version: 1.22.3`, ""},
		{"app.yaml", `secret: v2.0.0-rc1`, ""},
		{"app.yaml", `api_key: 123e4567-e89b-12d3-a456-426614174000`, ""},
		{"app.yaml", `password: 12345678901`, ""},
		{"app.yaml", `token: /var/run/secrets/token`, ""},
		{"app.yaml", `password: admin@corp.example`, ""},
		{"app.yaml", `secret: short1!`, ""},
		{"app.yaml", `secret: my-secret-name`, ""},
		{"app.yaml", `secret: Zr8kq2Lmx9Pw`, "VGL-SEC-021"},
		{"app.go", `const AmzSecurityTokenKey = "X-Amz-Security-Token"`, ""},
		{"app.go", `azureTokenCredentialAuth = "azure.WithTokenCredential"`, ""},
		{"app.js", `a.push("access_token="+(n||F.ACCESS_TOKEN||""))`, ""},
		{"README.txt", `![c](https://codecov.io/gh/a/b/graph/badge.svg?token=VMXc2fc7cJ)`, ""},
		{"test/app.yaml", `secret: Zr8kq2Lmx9Pw`, ""},   // test path
		{"docs/setup.yaml", `secret: Zr8kq2Lmx9Pw`, ""}, // documentation
		{"go.sum", `token: Zr8kq2Lmx9Pw`, ""},           // lockfile
		// Providers.
		{"a.txt", "id AKIAQYLPMN5HFIQR7XYZ", "VGL-SEC-001"},
		{"a.txt", "id AKIAQYLPMN5HFIQR7XY1", ""}, // 1 is not base32
		{"a.txt", "Slovakia AKIAIOSFODNN7EXAMPLE", ""},
		{"a.txt", "xAKIAQYLPMN5HFIQR7XYZ", ""},                                                       // inside a word
		{"a.txt", "aws_secret_access_key = da39a3ee5e6b4b0d3255bfef95601890afd80709", "VGL-SEC-021"}, // hex: not AWS's format, still a secret-named value
		{"a.txt", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""},
		{"a.txt", "secretAccessKey: 'q8Fz2Lw7Rk/Np4Xv9Tb1Hs6Jc3Ym0Ga5Ue8Dn2Qi'", "VGL-SEC-002"},
		{"a.txt", "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", ""},
		{"a.txt", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", ""},
		{"a.txt", tokA, "VGL-SEC-003"},
		{"a.txt", tokA + "x", "VGL-SEC-003"}, // longer tokens exist
		{"a.txt", "my" + tokA, ""},
		{"a.txt", "https://x-access-token:" + tokA + "@github.com/o/r.git", "VGL-SEC-003"}, // not 020
		{"a.txt", "xoxb-your-token-here", ""},
		{"a.txt", "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", ""},
		{"a.txt", "sk_live_xxxxxxxxxxxxxxxxxxxxxxxx", ""},
		{"a.txt", "sk_test_Tq3ZpX8vR1mL5nK9wB2cJ7dF", ""},
		{"a.txt", "const SKIP_TASK_MASK = 1", ""},
		{"a.txt", "SKc40f7fecffd73e129db71dfee46adbe6", ""},                       // a Twilio key without "twilio" in the file
		{"a.txt", "-----BEGIN RSA PRIVATE KEY-----", ""},                          // no body, no END
		{"a.txt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.PSmKCnzJkX6cgHs4HxZ5", ""}, // alg none
		{"a.txt", "eyJmb28iOiJiYXIifQ.eyJzdWIiOiJ4In0.PSmKCnzJkX6cgHs4HxZ5", ""},  // no alg
		{"a.txt", "msg.SG.Len()", ""},
		{"a.txt", "postgres://postgres:postgres@localhost/db", ""},
		{"a.txt", "https://user:password@example.com/", ""},
		{"a.txt", "redis://:s3cr3tR3dis9@cache.internal:6379", "VGL-SEC-020"},
		{"a.txt", "amqp://guest:guest@localhost:5672/", ""},
		{"a.txt", "https://deploy:Zr8kq2Lmx9Pw@git.internal/r.git", "VGL-SEC-020"},
		{"a.txt", "https://deploy:Zr8kq2Lmx9Pw@build.test/r.git", ""},
		{"a.txt", "http://localhost:8080/@user", ""},
		{"a.txt", `{"auth": "dXNlcjpwYXNzd29yZA=="}`, ""}, // user:password
		{"a.txt", `{"auth": "bm9jb2xvbg=="}`, ""},         // no colon
		{"a.env", "MY_TWILIO_AUTH_TOKEN=f012cf9c440fa188b55d1a9178d5c31a", "VGL-SEC-015"},
		{"a.env", "PROD_AZURE_STORAGE_KEY=pFQO9Cw4+Hd0adub17e6wnLg8NFXeN9d2/fsbwW/FwDG47w7TqEafa6vM8wspvhMdYh2mAkal4Uw7SQX8w5xcg==", "VGL-SEC-017"},
		{"a.env", "export AWS_SECRET_ACCESS_KEY=q8Fz2Lw7Rk/Np4Xv9Tb1Hs6Jc3Ym0Ga5Ue8Dn2Qi", "VGL-SEC-002"},
		{"a.env", "password=changeme token=Zr8kq2Lmx9Pw", "VGL-SEC-021"},   // the second assignment on the line
		{"a.env", strings.Repeat("x", 100) + "_password=Zr8kq2Lmx9Pw", ""}, // a key longer than any
		{"a.txt", strings.Repeat("ab", 20000) + " " + tokA + " " + strings.Repeat("cd", 20000), "VGL-SEC-003"},
		{"a.txt", "url = 'https://hooks.slack.com/services/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'", "VGL-SEC-007"},
		{"test/a.txt", tokA, "VGL-SEC-003"},
		{"test/a.txt", "https://deploy:Zr8kq2Lmx9Pw@git.internal/r.git", ""},
		{"Cargo.lock", `checksum = "c8e3592472072e6e22e0a54d5904d9febf8508f65fb8552499a1abc7d1078c3a"`, ""},
		{"package-lock.json", `"integrity": "sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ+LFTGHVxVjcXPs17LhbZVGedAJv8XZ1tvj5FvSg=="`, ""},
		{"yarn.lock", `  resolved "https://ci:Zr8kq2Lmx9Pw@npm.internal/lodash/-/lodash-4.17.21.tgz"`, "VGL-SEC-020"},
	}
	for _, c := range cases {
		ms := d.find([]byte(c.text), classify(c.path), sc)
		var got []string
		for _, m := range ms {
			got = append(got, d.rules[m.rule].ID)
		}
		want := []string{}
		if c.want != "" {
			want = []string{c.want}
		}
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%s: %q: got %v, want %v", c.path, c.text, got, want)
		}
	}
}

func TestFilters(t *testing.T) {
	for v, want := range map[string]bool{"1.2": true, "1.2.3": true, "v2.0.0-rc1": true, "1.2.3+build.4": true, "v1": false, "1.2.": false, "1.2.3-": false, "abc": false, "1.2.3-rc 1": false} {
		if got := isVersion([]byte(v)); got != want {
			t.Errorf("isVersion(%q) = %v", v, got)
		}
	}
	for v, want := range map[string]bool{"123e4567-e89b-12d3-a456-426614174000": true, "123e4567e89b12d3a456426614174000": false, "123e4567-e89b-12d3-a456-42661417400g": false} {
		if got := isUUID([]byte(v)); got != want {
			t.Errorf("isUUID(%q) = %v", v, got)
		}
	}
	for v, want := range map[string]bool{
		"<TOKEN>": true, "${X}": true, "{{ .x }}": true, "%s": true, "***": true, "password": true, "changeme": true,
		"your_key_here": true, "aaaaaa12": true, "abcdef12": true, "9876543x": true, "EXAMPLE": true, "xyxyxyxy": true,
		"Zr8kq2Lmx9Pw": false, "p4ssW0rd-Kx": false,
	} {
		if got := isPlaceholder([]byte(v)); got != want {
			t.Errorf("isPlaceholder(%q) = %v", v, got)
		}
	}
	for v, want := range map[string]bool{"$DB_PASS": true, "os.Getenv(\"X\")": true, "process.env.X": true, "vault:secret/x": true, "Zr8kq2Lmx9Pw": false} {
		if got := isReference([]byte(v)); got != want {
			t.Errorf("isReference(%q) = %v", v, got)
		}
	}
	for k, want := range map[string]bool{
		"password": true, "DB_PASSWORD": true, "apiKey": true, "api-key": true, "x-api-key": true, "client_secret": true,
		"clientSecret": true, "AWS_SECRET_ACCESS_KEY": true, "password2": true, "refresh_token": true, "githubToken": true,
		"secretName": false, "token_url": false, "tokenizer": false, "password_hash": false, "passwordRegex": false,
		"secret_ref": false, "key": false, "monkey": false, "tokens": false,
	} {
		if got := keyHoldsSecret([]byte(k)); got != want {
			t.Errorf("keyHoldsSecret(%q) = %v", k, got)
		}
	}
	for p, want := range map[string]pathKind{
		"src/main.go":               {code: true},
		"src/main_test.go":          {code: true, test: true},
		"a/testdata/x.json":         {test: true},
		"web/__tests__/a.js":        {code: true, test: true},
		"web/a.spec.ts":             {code: true, test: true},
		"web/a.test.js":             {code: true, test: true},
		"fixtures/k.pem":            {test: true},
		"tests/test_app.py":         {code: true, test: true},
		"otel/options_test.go.tmpl": {test: true},
		"go.sum":                    {lock: true},
		"web/package-lock.json":     {lock: true},
		"README.md":                 {doc: true},
		"docs/api.yaml":             {doc: true},
		"contest/a.yaml":            {},
		"latest/a.yaml":             {},
	} {
		if got := classify(p); got != want {
			t.Errorf("classify(%q) = %+v, want %+v", p, got, want)
		}
	}
	if h := entropy([]byte("aaaa")); h != 0 {
		t.Errorf("entropy(aaaa) = %v", h)
	}
	if h := entropy([]byte("abcd")); h != 2 {
		t.Errorf("entropy(abcd) = %v", h)
	}
}

// TestMatcher compares the automaton with a naive search.
func TestMatcher(t *testing.T) {
	kws := []string{"he", "she", "his", "hers", "a", "ab", "bab", "x-y", ""}
	m := newMatcher(kws)
	texts := []string{"ushers", "ahishers", "HeRs SHE", "ababab", "", "x-yx-Y", "zzz"}
	for _, text := range texts {
		type hit struct{ id, start int }
		var got, want []hit
		m.scan([]byte(text), func(id int32, start int) { got = append(got, hit{int(id), start}) })
		lt := strings.ToLower(text)
		for end := 1; end <= len(lt); end++ {
			for id, k := range kws {
				if k != "" && end >= len(k) && lt[end-len(k):end] == k {
					want = append(want, hit{id, end - len(k)})
				}
			}
		}
		sortHits := func(h []hit) {
			slices.SortFunc(h, func(a, b hit) int {
				if a.start+len(kws[a.id]) != b.start+len(kws[b.id]) {
					return a.start + len(kws[a.id]) - b.start - len(kws[b.id])
				}
				return a.id - b.id
			})
		}
		sortHits(got)
		sortHits(want)
		if !slices.Equal(got, want) {
			t.Errorf("%q: got %v, want %v", text, got, want)
		}
	}
}

func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
