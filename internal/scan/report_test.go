package scan

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// sampleReport has a finding of every kind.
func sampleReport() *Report {
	reach := true
	r := &Report{Tool: "vigil", Version: "test", Root: "/src/shop", Repository: "shop", Files: 42,
		Scanners: []string{"config", "deps", "gocode", "secrets"},
		Findings: []Finding{
			{RuleID: "VGL-K8S-001", Kind: KindConfig, Severity: SeverityHigh, Title: "Privileged container",
				Message: `container "app" of default/Deployment/web runs privileged`, Location: Location{Path: "deploy/web.yaml", StartLine: 21, StartCol: 9},
				Remediation: "Remove securityContext.privileged or set it to false.", References: []string{"CIS Kubernetes 5.2.1", "https://kubernetes.io/docs/concepts/security/pod-security-standards/"},
				Key: "default/Deployment/web container app", Subject: Subject{Workload: "default/Deployment/web", Image: "shop/web:1.4"}},
			{RuleID: "GO-2024-2687", Kind: KindDependency, Severity: SeverityMedium, Title: "HTTP/2 CONTINUATION flood in net/http",
				Message: "golang.org/x/net v0.17.0 is affected by GO-2024-2687 (CVE-2023-45288, GHSA-4v7x-pqxf-cx7m)", Location: Location{Path: "go.mod", StartLine: 5},
				Remediation: "Upgrade golang.org/x/net to v0.23.0.", References: []string{"https://pkg.go.dev/vuln/GO-2024-2687"},
				Package: &Package{Ecosystem: "Go", Name: "golang.org/x/net", Version: "v0.17.0", PURL: "pkg:golang/golang.org/x/net@v0.17.0"},
				Vuln: &Vulnerability{ID: "GO-2024-2687", Aliases: []string{"CVE-2023-45288", "GHSA-4v7x-pqxf-cx7m"}, CVSS: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", Score: 7.5,
					Fixed: []string{"v0.23.0"}, Symbols: []string{"golang.org/x/net/http2.Framer.ReadFrame"}, Reachable: &reach, Trace: []string{"main.main", "golang.org/x/net/http2.Framer.ReadFrame"}},
				Key: "Go golang.org/x/net v0.17.0 GO-2024-2687"},
			{RuleID: "VGL-GO-001", Kind: KindCode, Severity: SeverityCritical, Title: "SQL injection",
				Message: "request parameter from r.FormValue (api/users.go:12) reaches db.Query (api/users.go:20)", Location: Location{Path: "api/users.go", StartLine: 20, StartCol: 14},
				References: []string{"CWE-89"}, Trace: []Location{{Path: "api/users.go", StartLine: 12, Snippet: "r.FormValue(\"id\")"}, {Path: "api/users.go", StartLine: 20, Snippet: "db.Query(q)"}},
				Key: "users.Get db.Query r.FormValue"},
			{RuleID: "VGL-SEC-002", Kind: KindSecret, Severity: SeverityHigh, Title: "GitHub personal access token",
				Message: "a GitHub token was committed", Location: Location{Path: "scripts/deploy.sh", StartLine: 3, Commit: "a1b2c3d", Snippet: "ghp_…"},
				Remediation: "Revoke the token, then remove it from history.", Key: "VGL-SEC-002 5e88"},
		},
		Problems: []Problem{{Scanner: "deps", Path: "web/package-lock.json", Err: "parsing package-lock.json: unexpected end of JSON input"}},
	}
	r.Sort()
	return r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, got)
	}
}

func TestReports(t *testing.T) {
	r := sampleReport()
	if r.Findings[0].Severity != SeverityCritical || r.Findings[len(r.Findings)-1].Severity != SeverityMedium {
		t.Errorf("not sorted by severity: %v ... %v", r.Findings[0].Severity, r.Findings[len(r.Findings)-1].Severity)
	}
	for _, tc := range []struct {
		name  string
		write func(*Report, *bytes.Buffer) error
	}{
		{"report.txt", func(r *Report, b *bytes.Buffer) error { return r.WriteTable(b) }},
		{"report.json", func(r *Report, b *bytes.Buffer) error { return r.WriteJSON(b) }},
		{"report.sarif", func(r *Report, b *bytes.Buffer) error { return r.WriteSARIF(b) }},
	} {
		var b bytes.Buffer
		if err := tc.write(r, &b); err != nil {
			t.Fatal(err)
		}
		golden(t, tc.name, b.Bytes())
	}
	if n := r.AtLeast(SeverityHigh); n != 3 {
		t.Errorf("AtLeast(high) = %d, want 3", n)
	}
}

// TestSARIFShape checks what SARIF 2.1.0 requires of the parts we write and
// what GitHub code scanning reads.
func TestSARIFShape(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteSARIF(&b); err != nil {
		t.Fatal(err)
	}
	var log map[string]any
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log["version"] != "2.1.0" || !strings.HasPrefix(log["$schema"].(string), "https://") {
		t.Fatalf("version %v schema %v", log["version"], log["$schema"])
	}
	run := log["runs"].([]any)[0].(map[string]any)
	driver := run["tool"].(map[string]any)["driver"].(map[string]any)
	if driver["name"] == "" {
		t.Error("no driver name")
	}
	rules := driver["rules"].([]any)
	ids := map[string]int{}
	for i, r := range rules {
		rm := r.(map[string]any)
		ids[rm["id"].(string)] = i
		if rm["shortDescription"].(map[string]any)["text"] == "" {
			t.Errorf("rule %v: empty short description", rm["id"])
		}
		if _, ok := rm["properties"].(map[string]any)["security-severity"].(string); !ok {
			t.Errorf("rule %v: no security-severity", rm["id"])
		}
	}
	for _, res := range run["results"].([]any) {
		rm := res.(map[string]any)
		id := rm["ruleId"].(string)
		if int(rm["ruleIndex"].(float64)) != ids[id] {
			t.Errorf("result %s: ruleIndex %v, rule at %d", id, rm["ruleIndex"], ids[id])
		}
		switch rm["level"] {
		case "none", "note", "warning", "error":
		default:
			t.Errorf("result %s: level %v", id, rm["level"])
		}
		if rm["message"].(map[string]any)["text"] == "" {
			t.Errorf("result %s: no message", id)
		}
		loc := rm["locations"].([]any)[0].(map[string]any)["physicalLocation"].(map[string]any)
		if uri := loc["artifactLocation"].(map[string]any)["uri"].(string); uri == "" || strings.HasPrefix(uri, "/") {
			t.Errorf("result %s: uri %q is not relative", id, uri)
		}
		if reg, ok := loc["region"].(map[string]any); ok && reg["startLine"].(float64) < 1 {
			t.Errorf("result %s: startLine < 1", id)
		}
		if fp := rm["partialFingerprints"].(map[string]any)["vigil/v1"]; fp == "" {
			t.Errorf("result %s: no fingerprint", id)
		}
		if flows, ok := rm["codeFlows"].([]any); ok {
			tf := flows[0].(map[string]any)["threadFlows"].([]any)[0].(map[string]any)
			if len(tf["locations"].([]any)) == 0 {
				t.Errorf("result %s: empty thread flow", id)
			}
		}
	}
	if base := run["originalUriBaseIds"].(map[string]any)["%SRCROOT%"].(map[string]any)["uri"].(string); base != "file:///src/shop/" {
		t.Errorf("base %q", base)
	}
}

func TestBaseline(t *testing.T) {
	r := sampleReport()
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	b := NewBaseline(r, now)
	var buf bytes.Buffer
	if err := b.Write(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := ReadBaseline(&buf)
	if err != nil {
		t.Fatal(err)
	}
	// one finding accepted only until yesterday, one new finding
	back.Accepted[0].Until = now.Add(-24 * time.Hour)
	expired := back.Accepted[0].Fingerprint
	next := sampleReport()
	next.Findings = append(next.Findings, Finding{RuleID: "VGL-K8S-003", Kind: KindConfig, Severity: SeverityHigh, Title: "Host network",
		Location: Location{Path: "deploy/web.yaml", StartLine: 9}, Key: "default/Deployment/web"})
	next.Sort()
	next.Apply(back, now)
	if next.Baselined != 3 || len(next.Findings) != 2 {
		t.Fatalf("baselined %d, left %d; want 3 and 2", next.Baselined, len(next.Findings))
	}
	for _, f := range next.Findings {
		if f.RuleID != "VGL-K8S-003" && f.Fingerprint != expired {
			t.Errorf("%s should have been accepted", f.RuleID)
		}
	}
	for _, bad := range []string{``, `{"version":2,"accepted":[]}`, `{"version":1,"accepted":[{"rule_id":"x"}]}`, `{"version":1,"accepted":[],"extra":1}`} {
		if _, err := ReadBaseline(strings.NewReader(bad)); err == nil {
			t.Errorf("baseline %q accepted", bad)
		}
	}
}

func FuzzReadBaseline(f *testing.F) {
	f.Add([]byte(`{"version":1,"accepted":[{"fingerprint":"ab","until":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ReadBaseline(bytes.NewReader(data))
		if err != nil {
			return
		}
		b.Accepts(&Finding{RuleID: "x"}, time.Now())
		var out bytes.Buffer
		if err := b.Write(&out); err != nil {
			t.Fatal(err)
		}
	})
}
