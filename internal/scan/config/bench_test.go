package config

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/cputime"
	"github.com/vigilsec/vigil/internal/scan"
	"github.com/vigilsec/vigil/internal/scan/config/k8s"
	"github.com/vigilsec/vigil/internal/scan/config/rego"
)

// corpus returns a folder of the shared corpora (../shared/corpora from the
// repository root), skipping unless VIGIL_REQUIRE_CORPORA=1.
func corpus(tb testing.TB, parts ...string) string {
	tb.Helper()
	dir := filepath.Join(append([]string{"..", "..", "..", "..", "shared", "corpora"}, parts...)...)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("VIGIL_REQUIRE_CORPORA") == "1" {
			tb.Fatalf("%s: corpora required: %v", dir, err)
		}
		tb.Skipf("%s: corpora not found", dir)
	}
	return dir
}

// TestBadPodsScan runs the whole scanner over badPods: every manifest is
// recognised (128 workloads and the 16 Services of the StatefulSet files),
// none is a problem, the READMEs are not read as manifests. The per-folder
// known answer is k8s.TestBadPods.
func TestBadPodsScan(t *testing.T) {
	dir := corpus(t, "k8s", "badpods")
	target, err := scan.Walk(dir, scan.WalkOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ps []scan.Problem
	byRule := map[string]int{}
	st, err := s.ScanStats(context.Background(), target, func(f scan.Finding) { byRule[f.RuleID]++ }, func(p scan.Problem) { ps = append(ps, p) })
	if err != nil {
		t.Fatal(err)
	}
	if st.Manifests != 128 || st.Objects != 144 || len(ps) != 0 {
		t.Fatalf("stats %+v, problems %v", st, ps)
	}
	// privileged: priv (16) + priv-and-hostpid (16) + everything-allowed (16)
	if byRule["VGL-K8S-001"] != 48 || byRule["VGL-K8S-007"] != 32 {
		t.Errorf("privileged %d (want 48), hostPath / %d (want 32)", byRule["VGL-K8S-001"], byRule["VGL-K8S-007"])
	}
}

func BenchmarkScanBadPods(b *testing.B) {
	dir := corpus(b, "k8s", "badpods")
	benchScan(b, dir, Options{})
}

// BenchmarkScanGenerated scans 1,000 generated manifests (Deployments with
// two containers and a Service, a quarter with RBAC roles).
func BenchmarkScanGenerated(b *testing.B) {
	dir := b.TempDir()
	for i := range 1000 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("app-%04d.yaml", i)), []byte(generated(i)), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("builtin", func(b *testing.B) { benchScan(b, dir, Options{}) })
	b.Run("with-policies", func(b *testing.B) { benchScan(b, dir, Options{PolicyDirs: []string{"testdata/policies"}}) })
}

func benchScan(b *testing.B, dir string, opts Options) {
	target, err := scan.Walk(dir, scan.WalkOptions{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	var st Stats
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for b.Loop() {
		st, err = s.ScanStats(context.Background(), target, func(scan.Finding) {}, func(scan.Problem) {})
		if err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu0, st.Objects)
	b.ReportMetric(float64(st.Findings), "findings")
}

func generated(i int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, `apiVersion: v1
kind: Service
metadata:
  name: app-%[1]d
  namespace: team-%[2]d
spec:
  ports: [{port: 80, targetPort: 8080}]
  selector: {app: app-%[1]d}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%[1]d
  namespace: team-%[2]d
  labels: {app: app-%[1]d, owner: team-%[2]d}
spec:
  replicas: 3
  selector:
    matchLabels: {app: app-%[1]d}
  template:
    metadata:
      labels: {app: app-%[1]d}
    spec:
      securityContext:
        runAsNonRoot: %[3]v
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: app
        image: registry.example.com/app-%[1]d:1.%[1]d.0
        ports: [{containerPort: 8080}]
        env:
        - {name: LOG_LEVEL, value: info}
        - {name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
        resources:
          requests: {cpu: 100m, memory: 128Mi}
          limits: {cpu: 500m, memory: 256Mi}
      - name: sidecar
        image: registry.example.com/proxy:latest
        securityContext:
          privileged: %[4]v
        volumeMounts: [{name: data, mountPath: /data}]
      volumes:
      - name: data
        hostPath: {path: /var/lib/app-%[1]d}
`, i, i%20, i%2 == 0, i%10 == 0)
	if i%4 == 0 {
		fmt.Fprintf(&sb, `---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: app-%[1]d
  namespace: team-%[2]d
rules:
- apiGroups: [""]
  resources: [configmaps, secrets]
  verbs: [get, list, watch]
`, i, i%20)
	}
	return sb.String()
}

// BenchmarkRegoPerDocument is the cost of the policies on one Kubernetes
// object: the conversion of its YAML to input, and the evaluation of the
// prepared query.
func BenchmarkRegoPerDocument(b *testing.B) {
	objs, errs := k8s.Load([]byte(generated(1)))
	if len(errs) > 0 || len(objs) != 2 {
		b.Fatal(objs, errs)
	}
	obj := &objs[1] // the Deployment
	ctx := context.Background()
	e, err := rego.Load(ctx, []string{"testdata/policies"})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("convert", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := cputime.Process()
		for b.Loop() {
			in := k8s.Value(obj.Node).(map[string]any)
			in["input_kind"] = "kubernetes"
		}
		reportCPU(b, cpu0, 1)
	})
	b.Run("eval", func(b *testing.B) {
		in := k8s.Value(obj.Node).(map[string]any)
		in["input_kind"] = "kubernetes"
		b.ReportAllocs()
		cpu0 := cputime.Process()
		for b.Loop() {
			if _, err := e.Eval(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu0, 1)
	})
}

// reportCPU reports the CPU time per operation (the machine is shared:
// wall time measures the neighbours too) and the objects per CPU second.
func reportCPU(b *testing.B, cpu0 time.Duration, objects int) {
	cpu := cputime.Process() - cpu0
	if cpu <= 0 {
		return
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	if objects > 1 {
		b.ReportMetric(float64(objects)*float64(b.N)/cpu.Seconds(), "objects/cpu-s")
	}
}
