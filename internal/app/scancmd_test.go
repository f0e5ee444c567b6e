package app

import (
	"encoding/json"
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
