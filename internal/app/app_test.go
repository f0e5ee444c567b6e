package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/report"
)

func runCLI(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), Env{Stdout: &out, Stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func TestUsageAndExitCodes(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string // substring of stdout+stderr
	}{
		{nil, ExitUsage, "Commands:"},
		{[]string{"--help"}, ExitOK, "hunt"},
		{[]string{"help", "hunt"}, ExitOK, "Usage: vigil hunt"},
		{[]string{"nope"}, ExitUsage, `unknown command "nope"`},
		{[]string{"hunt"}, ExitUsage, "no PATH given"},
		{[]string{"hunt", "--output", "xml", "x"}, ExitUsage, "unknown output format"},
		{[]string{"hunt", "--bogus", "x"}, ExitUsage, "flag provided but not defined"},
		{[]string{"hunt", "--year", "1066", "x"}, ExitUsage, "--year 1066"},
		{[]string{"hunt", "--format", "nope", "../../examples/logs"}, ExitUsage, `unknown format "nope"`},
		{[]string{"hunt", "/does/not/exist"}, ExitUsage, "no such file"},
		{[]string{"version"}, ExitOK, "vigil dev"},
		{[]string{"formats"}, ExitOK, "zeek-tsv"},
	}
	for _, tt := range tests {
		code, out, errs := runCLI(t, tt.args...)
		if code != tt.code || !strings.Contains(out+errs, tt.want) {
			t.Errorf("vigil %v: exit %d (want %d), output lacks %q:\n%s%s", tt.args, code, tt.code, tt.want, out, errs)
		}
	}
}

// huntJSON runs hunt with JSON output and returns the decoded document.
func huntJSON(t *testing.T, args ...string) (int, *report.Summary, string) {
	t.Helper()
	code, out, errs := runCLI(t, append([]string{"hunt", "--output", "json"}, args...)...)
	var doc struct {
		Signals []json.RawMessage `json:"signals"`
		Summary *report.Summary   `json:"summary"`
	}
	if code == ExitOK {
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		if doc.Signals == nil || doc.Summary == nil {
			t.Fatalf("missing signals or summary: %s", out)
		}
	}
	return code, doc.Summary, errs
}

func TestHuntExamples(t *testing.T) {
	code, sum, errs := huntJSON(t, "../../examples/logs")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := map[string]int64{
		"access-log": 10, "cloudtrail": 4, "entra-signin": 7, "journald-json": 8, "k8s-audit": 20,
		"okta": 16, "syslog-rfc3164": 56, "winevt-evtxdump": 8, "winevt-winlogbeat": 3, "zeek-tsv": 22,
	}
	for f, n := range want {
		if sum.EventsByFormat[f] != n {
			t.Errorf("%s: %d events, want %d", f, sum.EventsByFormat[f], n)
		}
	}
	if sum.Events != 154 || sum.Rejected != 0 || len(sum.Skipped) != 0 || sum.Sources != 11 {
		t.Fatalf("summary: %+v", sum)
	}
	if len(sum.PerStream) != 11 || sum.PerStream[0].Name != "../../examples/logs/cloud/cloudtrail.ndjson" ||
		sum.PerStream[0].Format != "cloudtrail" || sum.PerStream[0].Events != 4 {
		t.Fatalf("per-stream counts: %+v", sum.PerStream)
	}
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// hostileDir builds a directory of bad inputs mixed with good records.
func hostileDir(t *testing.T) string {
	dir := t.TempDir()
	auth := "Mar  3 10:00:00 host sshd[1]: Accepted password for alice from 10.0.0.1 port 50000 ssh2\n" +
		"Mar  3 10:00:01 host sshd[1]: " + strings.Repeat("A", 2<<20) + "\n" +
		"Mar  3 10:00:02 host sshd[1]: Failed password for root from 10.0.0.2 port 50001 ssh2\n"
	writeFile(t, dir, "auth.log", []byte(auth))
	k8s := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"list","user":{"username":"alice"},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"pods","namespace":"default","apiVersion":"v1"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2024-03-03T10:00:00.000000Z","stageTimestamp":"2024-03-03T10:00:00.100000Z"}` + "\n"
	broken := k8s + `{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":` + "\n" +
		strings.Replace(k8s, "2024-03-03T10:00:00.100000Z", "not-a-time", 1) +
		strings.Replace(strings.Replace(k8s, "2024-03-03T10:00:00.100000Z", "x", 1), "2024-03-03T10:00:00.000000Z", "y", 1) + k8s
	writeFile(t, dir, "audit.log.gz", gzipBytes(t, []byte(broken)))
	writeFile(t, dir, "garbage.bin", []byte("\x00\x01\x02\xff\xfe binary garbage"))
	var many strings.Builder
	for i := range 200 {
		many.WriteString(strings.Replace(k8s, `"a1"`, `"id-`+strings.Repeat("x", i%17)+`"`, 1))
	}
	full := gzipBytes(t, []byte(many.String()))
	writeFile(t, dir, "truncated.gz", full[:len(full)-64]) // the gzip trailer and the last records are cut
	writeFile(t, dir, "empty.log", nil)
	return dir
}

func TestHuntHostileInput(t *testing.T) {
	dir := hostileDir(t)
	code, sum, errs := huntJSON(t, "--year", "2024", dir)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if sum.EventsByFormat["syslog-rfc3164"] != 2 || sum.RejectedByReason["syslog-rfc3164/line-too-long"] != 1 {
		t.Errorf("auth.log: %+v / %+v", sum.EventsByFormat, sum.RejectedByReason)
	}
	// One record cut mid-object, one with a bad stageTimestamp, one with both times bad.
	if sum.RejectedByReason["k8s-audit/malformed"] != 1 || sum.RejectedByReason["k8s-audit/bad-timestamp"] != 2 {
		t.Errorf("audit.log: rejects %+v", sum.RejectedByReason)
	}
	// The good first and last records of audit.log.gz, plus what truncated.gz held
	// before the cut.
	if n := sum.EventsByFormat["k8s-audit"]; n < 150 {
		t.Errorf("audit events %d: records around bad ones were lost", n)
	}
	if sum.SkippedByReason["unknown-format"] != 1 || sum.SkippedByReason["empty"] != 1 {
		t.Errorf("skipped: %+v", sum.Skipped)
	}
	// The truncated gzip decodes what it can, then is reported as a read error.
	if sum.SkippedByReason["read-error"] != 1 {
		t.Errorf("truncated gzip not reported: %+v", sum.Skipped)
	}
	for k, ex := range sum.RejectExamples {
		for _, e := range ex {
			if !strings.Contains(e, dir) || (!strings.Contains(e, "(offset") && !strings.Contains(e, ":")) {
				t.Errorf("%s example does not name file and position: %s", k, e)
			}
		}
	}
	code, _, errs = runCLI(t, "hunt", "--strict", "--year", "2024", dir)
	if code != ExitFailure || !strings.Contains(errs, "strict mode") {
		t.Fatalf("strict: exit %d, %s", code, errs)
	}
}

func TestHuntTableAndSummary(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), Env{Stdout: &out, Stderr: &errb, StdoutTTY: true}, []string{"hunt", "--progress", "always", "../../examples/logs/linux"})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "No signals.") {
		t.Errorf("table output: %q", out.String())
	}
	for _, want := range []string{"Summary: 64 events from 2 streams in 2 sources, 0 rejected records", "journald-json", "syslog-rfc3164", "2/2 files"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}

func TestDecodePrintsEvents(t *testing.T) {
	code, out, errs := runCLI(t, "decode", "--quiet", "../../examples/logs/linux/auth.log")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 56 {
		t.Fatalf("got %d events, want 56", len(lines))
	}
	prev := ""
	for i, l := range lines {
		var doc map[string]any
		if err := json.Unmarshal([]byte(l), &doc); err != nil {
			t.Fatalf("line %d not JSON: %v", i+1, err)
		}
		ts, _ := doc["@timestamp"].(string)
		origin := doc["vigil"].(map[string]any)["origin"].(map[string]any)
		if ts == "" || origin["line"] == nil {
			t.Fatalf("line %d lacks time or origin: %s", i+1, l)
		}
		if ts < prev && !strings.HasPrefix(ts, "20") {
			t.Fatalf("events out of order")
		}
		prev = ts
	}
}
