package rego

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/scan"
)

func TestLoadAndEval(t *testing.T) {
	ctx := context.Background()
	e, err := Load(ctx, []string{"testdata/policies", "testdata/v0"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Files() != 4 {
		t.Errorf("%d files, want 4 (_test.rego left out)", e.Files())
	}
	wantRules := []string{"data.main.deny", "data.main.deny_maintainer", "data.vigil.k8s.deny", "data.vigil.k8s.warn", "data.vigil.terraform.deny"}
	if got := e.Rules(); !reflect.DeepEqual(got, wantRules) {
		t.Fatalf("rules %v, want %v", got, wantRules)
	}
	for _, tc := range []struct {
		name  string
		input map[string]any
		want  []Result
	}{
		{"deployment", map[string]any{"input_kind": "kubernetes", "kind": "Deployment", "metadata": map[string]any{"name": "web"}, "spec": map[string]any{"replicas": 1}},
			[]Result{
				{Rule: "vigil.k8s.deny", ID: "vigil.k8s.deny", Msg: "web has no owner label", Severity: scan.SeverityMedium},
				{Rule: "vigil.k8s.warn", Warn: true, ID: "ACME-K8S-002", Msg: "fewer than two replicas", Title: "Replicas", Severity: scan.SeverityHigh, Line: 1},
			}},
		{"v0 policy", map[string]any{"input_kind": "kubernetes", "kind": "Pod"},
			[]Result{{Rule: "main.deny", ID: "main.deny", Msg: "old-style rule", Severity: scan.SeverityMedium}}},
		{"dockerfile", map[string]any{"input_kind": "dockerfile", "stages": []any{map[string]any{"from": "alpine", "instructions": []any{
			map[string]any{"cmd": "MAINTAINER", "args": []any{"me"}, "line": 2}}}}},
			[]Result{{Rule: "main.deny_maintainer", ID: "main.deny_maintainer", Msg: "MAINTAINER is deprecated (line 2)", Severity: scan.SeverityMedium}}},
		{"terraform", map[string]any{"input_kind": "terraform", "resource": map[string]any{"aws_s3_bucket": map[string]any{"logs": map[string]any{"tags": nil}}}},
			[]Result{{Rule: "vigil.terraform.deny", ID: "ACME-TF-001", Msg: "aws_s3_bucket.logs has no owner tag", Remediation: "tag it", Severity: scan.SeverityMedium}}},
		{"nothing", map[string]any{"input_kind": "kubernetes", "kind": "Deployment", "metadata": map[string]any{"name": "web", "labels": map[string]any{"owner": "x"}}, "spec": map[string]any{"replicas": 3}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.Eval(ctx, tc.input)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		dir  string
		want string
	}{
		{"testdata/broken", "testdata/broken/bad.rego:4: undefined function undefined_function"},
		{"testdata/missing", "loading policies from testdata/missing"},
	} {
		_, err := Load(ctx, []string{tc.dir})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s) = %v, want an error with %q", tc.dir, err, tc.want)
		}
	}
	// a parse error names the file and line
	dir := t.TempDir()
	writeFile(t, dir+"/p.rego", "package p\n\ndeny contains msg if {\n\tmsg := \n}\n")
	_, err := Load(ctx, []string{dir})
	if err == nil || !strings.Contains(err.Error(), dir+"/p.rego:") {
		t.Errorf("parse error %v does not name the file", err)
	}
	// network built-ins are not available
	writeFile(t, dir+"/p.rego", "package p\n\ndeny contains msg if {\n\tr := http.send({\"method\": \"get\", \"url\": \"http://x\"})\n\tmsg := r.body\n}\n")
	_, err = Load(ctx, []string{dir})
	if err == nil || !strings.Contains(err.Error(), "http.send") {
		t.Errorf("http.send compiled: %v", err)
	}
}

func TestEmpty(t *testing.T) {
	e, err := Load(context.Background(), []string{t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := e.Eval(context.Background(), map[string]any{"kind": "Pod"}); err != nil || r != nil {
		t.Fatalf("%v %v", r, err)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
