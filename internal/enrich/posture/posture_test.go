package posture

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sample() *File {
	yes, no := true, false
	f := &File{}
	f.Put(Scan{Root: "/src/shop", Repository: "shop", At: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), Subjects: []Subject{
		{Kind: KindWorkload, Value: "payments/Deployment/api", Findings: []Finding{
			{RuleID: "VGL-K8S-001", Kind: "config", Severity: "high", Title: "Privileged container"},
			{RuleID: "VGL-K8S-010", Kind: "config", Severity: "low", Title: "No resource limits"}}},
		{Kind: KindImage, Value: "registry.example.com/shop/api:1.4", Findings: []Finding{
			{RuleID: "GO-2024-2687", Kind: "dependency", Severity: "critical", Title: "HTTP/2 CONTINUATION flood", Reachable: &yes}}},
		{Kind: KindImage, Value: "shop/batch:2", Findings: []Finding{
			{RuleID: "GO-2023-1111", Kind: "dependency", Severity: "critical", Title: "Unreached flaw", Reachable: &no}}},
		{Kind: KindRepository, Value: "shop", Findings: []Finding{{RuleID: "VGL-SEC-002", Kind: "secret", Severity: "high", Title: "GitHub token"}}},
	}})
	return f
}

func TestLookup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := sample().Write(path); err != nil {
		t.Fatal(err)
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	ix := f.Index()
	for _, tc := range []struct {
		kind, value string
		want        Level
		reason      string
	}{
		{KindWorkload, "payments/Deployment/api", LevelHigh, "Privileged container (VGL-K8S-001, high)"},
		{KindWorkload, "payments/api", LevelHigh, "workload payments/Deployment/api"},
		{KindWorkload, "payments/api-7d9f8c6b5-x2k4q", LevelHigh, "Privileged container"}, // a pod of the Deployment
		{KindWorkload, "PAYMENTS/API", LevelHigh, ""},
		{KindWorkload, "payments/apiserver", LevelNone, ""},
		{KindWorkload, "billing/api", LevelNone, ""},
		{KindImage, "registry.example.com/shop/api:1.5", LevelCritical, "reachable"}, // same repository, other tag
		{KindImage, "registry.example.com/shop/api@sha256:abcd", LevelCritical, ""},
		{KindImage, "shop/batch:2", LevelHigh, "Unreached flaw"}, // critical but not reached: one level lower
		{"host", "shop", LevelNone, ""},
	} {
		got, reason := ix.Lookup(tc.kind, tc.value)
		if got != tc.want || !strings.Contains(reason, tc.reason) {
			t.Errorf("Lookup(%s, %s) = %v %q; want %v containing %q", tc.kind, tc.value, got, reason, tc.want, tc.reason)
		}
	}
	// a later scan of the same root replaces the earlier
	f.Put(Scan{Root: "/src/shop", At: time.Now()})
	if lv, _ := f.Index().Lookup(KindWorkload, "payments/api"); lv != LevelNone || len(f.Scans) != 1 {
		t.Errorf("rescanned root kept its old posture: %v, %d scans", lv, len(f.Scans))
	}
	if m, err := Read(filepath.Join(dir, "missing.json")); err != nil || len(m.Scans) != 0 {
		t.Errorf("missing file: %+v, %v", m, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, bad := range []string{``, `{"version":2,"scans":[]}`, `{"version":1,"scans":[{"subjects":[{"kind":"pod","value":"x"}]}]}`,
		`{"version":1,"scans":[{"subjects":[{"kind":"image"}]}]}`, `{"version":1,"scans":[],"more":1}`} {
		if _, err := Decode(strings.NewReader(bad)); err == nil {
			t.Errorf("posture %q accepted", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	var b bytes.Buffer
	s := sample()
	_ = s.Write(filepath.Join(f.TempDir(), "p.json"))
	b.WriteString(`{"version":1,"scans":[{"root":"/r","at":"2026-01-01T00:00:00Z","subjects":[{"kind":"workload","value":"a/Deployment/b","findings":[{"rule_id":"x","kind":"config","severity":"high","title":"t"}]}]}]}`)
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		ix := p.Index()
		ix.Lookup(KindWorkload, "a/b-1")
		ix.Lookup(KindImage, "x:1")
	})
}
