package k8s

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/scan"
)

func TestLoad(t *testing.T) {
	src := `# leading comment
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
not: kubernetes
---
--- # empty document
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: b, namespace: ns}
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata: {name: c}
---
apiVersion: v1
kind: Pod
metadata:
  name: broken
spec: [
---
apiVersion: apps/v1
kind: Deployment
metadata:
  generateName: d-
`
	objs, errs := Load([]byte(src))
	var got []string
	for _, o := range objs {
		got = append(got, fmt.Sprintf("%s@%d", o.ID(), o.Line))
	}
	want := "default/ConfigMap/a@2 ns/Pod/b@12 ClusterRole/c@15 default/Deployment/d-*@25"
	if strings.Join(got, " ") != want {
		t.Errorf("objects %v, want %s", got, want)
	}
	var de *DocError
	if len(errs) != 1 || !errors.As(errs[0], &de) || de.Line != 19 || !strings.Contains(de.Error(), "line 23") {
		t.Errorf("errors %v, want the document at line 19 (parser error at line 23)", errs)
	}
}

func TestLoadQuietOnOtherYAML(t *testing.T) {
	for _, src := range []string{
		"key: [unterminated\n",
		"name: ci\non: [push]\njobs: {build: {runs-on: ubuntu-latest}}\n",
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Values.name }}\nspec: [\n", // a Helm template
		"[1, 2, 3]\n",
		"",
	} {
		objs, errs := Load([]byte(src))
		if len(objs) != 0 || len(errs) != 0 {
			t.Errorf("%q: %d objects, errors %v", src, len(objs), errs)
		}
	}
}

// TestAliasBomb: a billion-laughs document is refused quickly instead of
// being expanded.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nl0: &l0 [a, a, a, a, a, a, a, a, a, a]\n")
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	start := time.Now()
	objs, errs := Load([]byte(b.String()))
	if len(objs) != 0 || len(errs) != 1 || !errors.Is(errs[0], ErrTooLarge) {
		t.Fatalf("%d objects, errors %v", len(objs), errs)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestYAMLSemantics: merge keys, YAML 1.1 booleans (what the API server
// reads) and quoted strings that are not booleans.
func TestYAMLSemantics(t *testing.T) {
	src := `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  hostNetwork: on
  hostPID: "true"
  containers:
  - &base
    name: a
    image: x:1
    securityContext: {privileged: True}
  - <<: *base
    name: b
`
	objs, errs := Load([]byte(src))
	if len(errs) > 0 || len(objs) != 1 {
		t.Fatal(objs, errs)
	}
	got := map[string]int{}
	Check("p.yaml", &objs[0], func(f scan.Finding) {
		got[f.RuleID+" "+f.Key]++
	})
	for _, want := range []string{"VGL-K8S-008 default/Pod/p", "VGL-K8S-001 default/Pod/p container a", "VGL-K8S-001 default/Pod/p container b"} {
		if got[want] != 1 {
			t.Errorf("missing %s in %v", want, got)
		}
	}
	if got["VGL-K8S-009 default/Pod/p"] != 0 {
		t.Error("a quoted \"true\" read as a boolean")
	}
	v := Value(objs[0].Node).(map[string]any)
	ctrs := v["spec"].(map[string]any)["containers"].([]any)
	if ctrs[1].(map[string]any)["image"] != "x:1" || ctrs[1].(map[string]any)["name"] != "b" {
		t.Errorf("merged container %v", ctrs[1])
	}
}

// FuzzLoad: the loader and the checks take any input without panicking,
// and the findings they give have a line within the file.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: b, securityContext: {privileged: true}}]\n"))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: List, items: [{apiVersion: v1, kind: Pod}]}\n---\n---\n"))
	f.Add([]byte("{\"apiVersion\": \"rbac.authorization.k8s.io/v1\", \"kind\": \"ClusterRole\", \"rules\": [{\"verbs\": [\"*\"]}]}"))
	f.Add([]byte("apiVersion: v1\nkind: Pod\na: &a [*a]\n"))
	f.Add([]byte("apiVersion: batch/v1\nkind: CronJob\nspec: {jobTemplate: {spec: {template: {spec: {volumes: [{hostPath: {path: /}}]}}}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, _ := Load(data)
		lines := strings.Count(string(data), "\n") + 1
		for i := range objs {
			Check("f.yaml", &objs[i], func(fd scan.Finding) {
				if fd.Location.StartLine < 1 || fd.Location.StartLine > lines {
					t.Fatalf("%s at line %d of %d", fd.RuleID, fd.Location.StartLine, lines)
				}
			})
			_ = Value(objs[i].Node)
		}
	})
}
