package app

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/enrich/posture"
	"github.com/vigilsec/vigil/internal/scan"
)

// privilegedNginx is the Deployment behind examples/logs/kubernetes/audit.log's
// exec into default/nginx-7c5ddbdf54-xq2kz, with a privileged pod spec.
const privilegedNginx = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
  namespace: default
spec:
  selector:
    matchLabels: {app: nginx}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25.4
        securityContext:
          privileged: true
`

func scanJSON(t *testing.T, args ...string) (int, *scan.Report, string) {
	t.Helper()
	code, out, errs := runCLI(t, append([]string{"scan", "--format", "json"}, args...)...)
	var rep scan.Report
	if out != "" {
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("output is not JSON: %v\n%s%s", err, out, errs)
		}
	}
	return code, &rep, errs
}

func hasRule(rep *scan.Report, prefix string) bool {
	for _, f := range rep.Findings {
		if strings.HasPrefix(f.RuleID, prefix) {
			return true
		}
	}
	return false
}

// TestScanGateBaselineAndPosture: a privileged Deployment fails a high gate;
// a baseline accepting it passes; the posture recorded in the data directory
// raises the risk of the incident on that workload in hunt and says why.
func TestScanGateBaselineAndPosture(t *testing.T) {
	repo, data := t.TempDir(), t.TempDir()
	writeFile(t, repo, "nginx.yaml", []byte(privilegedNginx))

	code, rep, errs := scanJSON(t, "--scanners", "config", "--data-dir", data, "--fail-on", "high", repo)
	if code != ExitFailure || !hasRule(rep, "VGL-K8S") {
		t.Fatalf("scan: exit %d (want 1), findings %+v\n%s", code, rep.Findings, errs)
	}
	var workload *scan.Finding
	for i := range rep.Findings {
		if rep.Findings[i].Subject.Workload == "default/Deployment/nginx" {
			workload = &rep.Findings[i]
		}
	}
	if workload == nil {
		t.Fatalf("no finding names the workload default/Deployment/nginx: %+v", rep.Findings)
	}

	// the baseline accepts every finding: the gate passes, the count says so
	base := filepath.Join(t.TempDir(), "baseline.json")
	if code, _, errs := scanJSON(t, "--scanners", "config", "--write-baseline", base, repo); code != ExitOK {
		t.Fatalf("write-baseline: exit %d\n%s", code, errs)
	}
	code, again, errs := scanJSON(t, "--scanners", "config", "--baseline", base, "--fail-on", "low", repo)
	if code != ExitOK || len(again.Findings) != 0 || again.Baselined != len(rep.Findings) {
		t.Fatalf("with the baseline: exit %d, %d findings, %d baselined (want 0, %d)\n%s", code, len(again.Findings), again.Baselined, len(rep.Findings), errs)
	}

	// SARIF to a file
	sarif := filepath.Join(t.TempDir(), "out.sarif")
	if code, _, errs := runCLI(t, "scan", "--scanners", "config", "--format", "sarif", "--output", sarif, repo); code != ExitOK {
		t.Fatalf("sarif: exit %d\n%s", code, errs)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				RuleID string `json:"ruleId"`
			} `json:"results"`
		} `json:"runs"`
	}
	b, err := os.ReadFile(sarif)
	if err != nil || json.Unmarshal(b, &log) != nil || log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) != len(rep.Findings) {
		t.Fatalf("SARIF: %v, %s", err, b)
	}

	// the posture: the workload with its findings
	p, err := posture.Read(filepath.Join(data, posture.FileName))
	if err != nil || len(p.Scans) != 1 {
		t.Fatalf("posture: %+v, %v", p, err)
	}
	if lv, why := p.Index().Lookup(posture.KindWorkload, "default/nginx-7c5ddbdf54-xq2kz"); lv != posture.LevelCritical || !strings.Contains(why, "Privileged container (VGL-K8S-001") {
		t.Fatalf("posture of the pod: %v %q", lv, why)
	}

	// hunt with and without the posture
	nginxIncident := func(args ...string) correlate.Incident {
		t.Helper()
		code, out, errs := runCLI(t, append([]string{"hunt", "--output", "json", "--min-risk", "0"}, args...)...)
		if code != ExitOK {
			t.Fatalf("hunt: exit %d\n%s", code, errs)
		}
		var doc struct {
			Incidents []correlate.Incident `json:"incidents"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		for _, inc := range doc.Incidents {
			for _, e := range inc.Entities {
				if e.Value == "default/nginx-7c5ddbdf54-xq2kz" {
					return inc
				}
			}
		}
		t.Fatalf("no incident on the nginx pod: %s", out)
		return correlate.Incident{}
	}
	plain := nginxIncident("../../examples/logs/kubernetes/audit.log")
	exposed := nginxIncident("--posture", filepath.Join(data, posture.FileName), "../../examples/logs/kubernetes/audit.log")
	if exposed.Risk <= plain.Risk || len(exposed.Posture) == 0 || !strings.Contains(exposed.Posture[0], "default/Deployment/nginx") {
		t.Errorf("with the posture: risk %.2f (without %.2f), posture %q", exposed.Risk, plain.Risk, exposed.Posture)
	}
	if len(plain.Posture) != 0 {
		t.Errorf("without a posture the incident says %q", plain.Posture)
	}
}

func TestScanUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"scan"}, "one path"},
		{[]string{"scan", "--format", "xml", dir}, "--format"},
		{[]string{"scan", "--fail-on", "urgent", dir}, "--fail-on"},
		{[]string{"scan", "--scanners", "nope", dir}, "unknown scanner"},
		{[]string{"scan", "--baseline", filepath.Join(dir, "missing.json"), dir}, "baseline"},
		{[]string{"scan", "--workload", "web", dir}, "namespace/Kind/name"},
		{[]string{"scan", filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"vulndb"}, "import or stats"},
		{[]string{"vulndb", "import", dir}, "--data-dir or --db"},
		{[]string{"vulndb", "import", "--db", dir}, "give a directory"},
	} {
		code, out, errs := runCLI(t, tc.args...)
		if code != ExitUsage || !strings.Contains(out+errs, tc.want) {
			t.Errorf("vigil %v: exit %d, output lacks %q:\n%s%s", tc.args, code, tc.want, out, errs)
		}
	}
}

// genRepository writes a 100,000-file monorepo: a Go module of 50 packages
// (500 files, stdlib only) with a go.mod requiring golang.org/x/net v0.17.0,
// JavaScript and Python sources with their lockfiles, Kubernetes manifests,
// Dockerfiles, Terraform, JSON and text, and a few binaries. It returns the
// bytes written.
func genRepository(tb testing.TB, dir string, files int) int64 {
	tb.Helper()
	var total int64
	write := func(name, content string) {
		full := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
		total += int64(len(content))
	}
	write("svc/go.mod", "module example.com/svc\n\ngo 1.22\n\nrequire golang.org/x/net v0.17.0\n")
	write("web/package-lock.json", `{"name":"web","lockfileVersion":3,"packages":{"":{"name":"web"},"node_modules/lodash":{"version":"4.17.20"}}}`)
	write("ml/requirements.txt", "requests==2.19.0\nflask==2.0.1\n")
	body := strings.Repeat("\t// a line of ordinary code, nothing secret about it\n\tx = append(x, len(x)*3)\n", 40)
	n, goFiles := 3, 0
	for i := 0; n < files; i++ {
		switch i % 50 {
		case 0, 1, 2, 3, 4, 5, 6, 7, 8, 9:
			if goFiles < 500 {
				pkg := fmt.Sprintf("p%02d", goFiles%50)
				write(fmt.Sprintf("svc/%s/f%03d.go", pkg, goFiles), fmt.Sprintf("package %s\n\nfunc F%d(x []int) []int {\n%s\treturn x\n}\n", pkg, goFiles, body))
				goFiles++
			} else {
				write(fmt.Sprintf("web/src/m%d/c%d.js", i%400, i), "export function f(x) {\n"+strings.Repeat("  x = x.map(v => v * 2); // plain code\n", 60)+"  return x;\n}\n")
			}
		case 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24:
			write(fmt.Sprintf("web/src/m%d/c%d.js", i%400, i), "export function f(x) {\n"+strings.Repeat("  x = x.map(v => v * 2); // plain code\n", 60)+"  return x;\n}\n")
		case 25, 26, 27, 28, 29, 30, 31, 32, 33, 34:
			write(fmt.Sprintf("ml/pkg%d/m%d.py", i%300, i), "def f(x):\n"+strings.Repeat("    x = [v * 2 for v in x]  # plain code\n", 60)+"    return x\n")
		case 35, 36:
			write(fmt.Sprintf("deploy/k8s/app%d.yaml", i), fmt.Sprintf(privilegedNginx+"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s%d\nspec:\n  ports:\n  - port: 80\n", i))
		case 37:
			write(fmt.Sprintf("images/i%d/Dockerfile", i), "FROM golang:1.22 AS build\nCOPY . /src\nRUN go build -o /app ./...\nFROM debian:12\nCOPY --from=build /app /app\nENTRYPOINT [\"/app\"]\n")
		case 38:
			write(fmt.Sprintf("infra/t%d/main.tf", i), fmt.Sprintf("resource \"aws_s3_bucket\" \"b%d\" {\n  bucket = \"logs-%d\"\n}\n\nresource \"aws_instance\" \"vm%d\" {\n  ami = \"ami-123\"\n  instance_type = \"t3.micro\"\n}\n", i, i, i))
		case 39:
			bin := make([]byte, 4096)
			for j := range bin {
				bin[j] = byte(j * 7)
			}
			write(fmt.Sprintf("assets/a%d.bin", i), string(bin))
		default:
			write(fmt.Sprintf("docs/d%d/n%d.txt", i%500, i), strings.Repeat("Version 1.2.3 of the notes; nothing to see here.\n", 30))
		}
		n++
	}
	return total
}

// BenchmarkScanRepository100k is issue 9's speed target: vigil scan, every
// scanner, over a generated 100,000-file repository (files written outside
// the timer; the page cache is warm, as after a checkout). The Go advisories
// are imported when the corpora are there. Run with -benchtime=1x.
func BenchmarkScanRepository100k(b *testing.B) {
	if testing.Short() {
		b.Skip("generates 100,000 files")
	}
	repo, data := b.TempDir(), b.TempDir()
	bytes := genRepository(b, repo, 100_000)
	b.Logf("generated 100,000 files, %.0f MB", float64(bytes)/1e6)
	if osv := filepath.Join("..", "..", "..", "shared", "corpora", "osv", "golang-vulndb"); dirExists(osv) {
		if code, out, errs := runCLI(b, "vulndb", "import", "--data-dir", data, osv); code != ExitOK {
			b.Fatalf("import: %d %s%s", code, out, errs)
		}
	}
	b.ResetTimer()
	for range b.N {
		code, out, errs := runCLI(b, "scan", "--format", "json", "--data-dir", data, "--log-level", "info", repo)
		if code != ExitOK {
			b.Fatalf("scan: exit %d\n%s", code, errs)
		}
		var rep scan.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rep.Files), "files")
		b.ReportMetric(float64(len(rep.Findings)), "findings")
		b.Logf("%d files, %d findings, %d problems; %s", rep.Files, len(rep.Findings), len(rep.Problems), lastLines(errs, 8))
	}
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
