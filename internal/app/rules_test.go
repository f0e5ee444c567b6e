package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const ruleWhoami = `title: Whoami
id: 929a690e-bef0-4204-a928-ef5e620d6fcc
logsource:
    product: windows
    category: process_creation
detection:
    sel:
        Image|endswith: '\whoami.exe'
    condition: sel
level: medium
`

func TestRulesCheck(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"rules/good.yml": ruleWhoami,
		"rules/bad.yml":  "title: Bad\nlogsource:\n    product: windows\ndetection:\n    sel:\n        A|sortof: x\n    condition: sel\n",
	})
	code, out, errs := runCLI(t, "rules", "check", filepath.Join(dir, "rules"))
	if code != ExitFailure || !strings.Contains(out, "1 rules compiled") || !strings.Contains(out, "bad.yml") ||
		!strings.Contains(out, `unknown modifier "sortof"`) || !strings.Contains(out, "modifier: ") {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = runCLI(t, "rules", "check", filepath.Join(dir, "rules", "good.yml"))
	if code != ExitOK || !strings.Contains(out, "0 rejected") {
		t.Errorf("good rule: exit %d\n%s", code, out)
	}
	if code, _, errs := runCLI(t, "rules", "check", filepath.Join(dir, "missing")); code != ExitUsage {
		t.Errorf("missing path: exit %d %s", code, errs)
	}
	if code, _, _ := runCLI(t, "rules"); code != ExitUsage {
		t.Errorf("rules without subcommand: exit %d", code)
	}
}

func TestRulesTest(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"rules/whoami.yml": ruleWhoami,
		"t.yml": `rules: [rules]
tests:
    - name: fires
      events:
          - {"@timestamp": "2026-01-01T00:00:00Z", Channel: Microsoft-Windows-Sysmon/Operational, EventID: 1, Image: 'C:\Windows\System32\WHOAMI.EXE'}
      expect:
          - rule: Whoami
            count: 1
    - name: wrongly expected
      events:
          - {"@timestamp": "2026-01-01T00:00:00Z", Channel: Microsoft-Windows-Sysmon/Operational, EventID: 3, Image: 'C:\Windows\System32\whoami.exe'}
      expect:
          - rule: 929a690e-bef0-4204-a928-ef5e620d6fcc
`,
	})
	code, out, errs := runCLI(t, "rules", "test", filepath.Join(dir, "t.yml"))
	if code != ExitFailure || !strings.Contains(out, "PASS") || !strings.Contains(out, "FAIL") ||
		!strings.Contains(out, "did not fire") || !strings.Contains(out, "2 tests, 1 passed, 1 failed") {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
}

func TestExampleRulesTests(t *testing.T) {
	code, out, errs := runCLI(t, "rules", "test", "../../examples/tests/rules_test.yml")
	if code != ExitOK || !strings.Contains(out, "0 failed") {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
}

func TestHuntWithRules(t *testing.T) {
	code, out, errs := runCLI(t, "hunt", "--output", "jsonl", "--builtin-rules=false", "--rules", "../../examples/rules", "../../examples/logs")
	if code != ExitOK || strings.Count(out, `"detector_id":"sigma"`) != 4 ||
		!strings.Contains(out, "PowerShell Started With an Encoded Command") || !strings.Contains(out, `"T1059.001"`) ||
		!strings.Contains(errs, "3 rules compiled, 1 correlations") || !strings.Contains(out, "Repeated SSH Password Failures") {
		t.Errorf("exit %d\n%s\n%s", code, out, errs)
	}
	code, _, errs = runCLI(t, "hunt", "--builtin-rules=false", "--sigma-mapping", "x.yml", "../../examples/logs")
	if code != ExitUsage || !strings.Contains(errs, "need Sigma rules") {
		t.Errorf("mapping without rules: exit %d %s", code, errs)
	}
	// The built-in pack runs by default and finds what the examples hold.
	code, out, errs = runCLI(t, "hunt", "--output", "jsonl", "../../examples/logs")
	if code != ExitOK || !strings.Contains(out, "Kubernetes Service Account Used From Outside The Cluster") ||
		!strings.Contains(out, "Kubernetes Privileged Or Host-Mounting Pod Created") || strings.Contains(out, "Repeated SSH Password Failures") {
		t.Errorf("built-in pack: exit %d\n%s\n%s", code, out, errs)
	}
	// --min-level drops the low exec rule.
	code, out, _ = runCLI(t, "hunt", "--output", "jsonl", "--min-level", "medium", "../../examples/logs")
	if code != ExitOK || strings.Contains(out, "Kubernetes Exec Into A Pod") || !strings.Contains(out, "Kubernetes Privileged") {
		t.Errorf("--min-level medium: exit %d\n%s", code, out)
	}
	if code, _, errs = runCLI(t, "hunt", "--min-level", "severe", "../../examples/logs"); code != ExitUsage || !strings.Contains(errs, "--min-level") {
		t.Errorf("--min-level severe: exit %d %s", code, errs)
	}
	code, out, errs = runCLI(t, "rules", "check", "--builtin")
	if code != ExitOK || !strings.Contains(out, "0 rejected, 0 without a log source mapping") {
		t.Errorf("rules check --builtin: exit %d\n%s%s", code, out, errs)
	}
}
