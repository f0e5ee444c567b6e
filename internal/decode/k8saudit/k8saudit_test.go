package k8saudit

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/cputime"
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSniff(t *testing.T) {
	audit := readFixture(t, "audit.log")
	list := readFixture(t, "eventlist.json")
	tests := []struct {
		name string
		head []byte
		want int
	}{
		{"audit log", audit, 95},
		{"event list", list, 95},
		{"v1beta1", []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","level":"Metadata"}`), 95},
		{"other api", []byte(`{"kind":"Event","apiVersion":"v1","reason":"Scheduled"}`), 0},
		{"other kind", []byte(`{"kind":"Policy","apiVersion":"audit.k8s.io/v1"}`), 0},
		{"cloudtrail", []byte(`{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"GetObject"}`), 0},
		{"truncated", audit[:100], 0},
		{"event larger than the head", []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","requestObject":{"data":"` + strings.Repeat("x", decode.SniffSize) + `"}}`)[:decode.SniffSize], 95},
		{"other object larger than the head", []byte(`{"kind":"Pod","apiVersion":"v1","data":"` + strings.Repeat("x", decode.SniffSize) + `"}`)[:decode.SniffSize], 0},
		{"empty", nil, 0},
		{"garbage", []byte("\x00\x01ElfFile"), 0},
	}
	for _, tt := range tests {
		if got := Sniff(tt.head); got != tt.want {
			t.Errorf("%s: Sniff = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestGolden(t *testing.T) {
	for _, name := range []string{"audit.log", "eventlist.json"} {
		s, err := decodetest.DecodeFile(t, New(), "testdata/"+name)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Rejects) > 0 {
			t.Errorf("%s: unexpected rejects: %v", name, s.Rejects)
		}
		decodetest.Golden(t, name, s.JSONL())
	}
}

func raw(e *event.Event, name string) []string {
	var out []string
	event.Lookup(name).Each(e, func(s string) bool { out = append(out, s); return true })
	return out
}

func str(e *event.Event, name string) string {
	s, _ := event.Lookup(name).String(e)
	return s
}

// TestFixtureFacts checks, event by event, what the fixture's scenarios must yield.
func TestFixtureFacts(t *testing.T) {
	s, err := decodetest.DecodeFile(t, New(), "testdata/audit.log")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 20 || len(s.Rejects) != 0 {
		t.Fatalf("got %d events, %d rejects; want 20, 0", len(s.Events), len(s.Rejects))
	}
	type want struct {
		line                                   int
		user, action, outcome, resource, sub   string
		ns, ip, category, typ, apiVersion, eff string
	}
	tests := []want{
		{line: 1, user: "kubernetes-admin", action: "list", outcome: "success", resource: "pods", ns: "default", ip: "10.0.0.12", category: "api", typ: "access,allowed", apiVersion: "v1"},
		{line: 2, user: "kubernetes-admin", action: "create", outcome: "unknown", resource: "pods", sub: "exec", ns: "default", ip: "10.0.0.12", category: "api", typ: "creation", apiVersion: "v1"},
		{line: 4, user: "kubernetes-admin", action: "create", outcome: "success", resource: "pods", sub: "exec", ns: "default", ip: "10.0.0.12", category: "api", typ: "allowed,creation", apiVersion: "v1"},
		{line: 6, user: "system:serviceaccount:monitoring:prom-agent", action: "get", outcome: "success", resource: "secrets", ns: "kube-system", ip: "203.0.113.45", category: "api", typ: "access,allowed", apiVersion: "v1"},
		{line: 7, user: "bob", action: "create", outcome: "success", resource: "pods", ns: "default", ip: "198.51.100.77", category: "api", typ: "allowed,creation", apiVersion: "v1"},
		{line: 8, user: "bob", action: "create", outcome: "success", resource: "clusterrolebindings", ip: "198.51.100.77", category: "api,iam", typ: "allowed,creation", apiVersion: "rbac.authorization.k8s.io/v1"},
		{line: 9, user: "system:serviceaccount:default:default", action: "list", outcome: "failure", resource: "secrets", ns: "kube-system", ip: "10.244.1.17", category: "api", typ: "access,denied", apiVersion: "v1"},
		{line: 10, user: "system:kube-controller-manager", action: "watch", outcome: "success", resource: "configmaps", ns: "default", ip: "10.0.0.10", category: "api", typ: "access,allowed", apiVersion: "v1"},
		{line: 12, user: "system:anonymous", action: "get", outcome: "success", ip: "198.51.100.23", category: "api", typ: "access,allowed"},
		{line: 14, action: "list", outcome: "failure", ip: "192.0.2.77", category: "api,authentication", typ: "access,denied"},
		{line: 15, user: "kubernetes-admin", eff: "system:serviceaccount:kube-system:default", action: "list", outcome: "success", resource: "nodes", ip: "10.0.0.12", category: "api", typ: "access,allowed", apiVersion: "v1"},
		{line: 16, user: "system:node:worker-2", action: "create", outcome: "success", resource: "serviceaccounts", sub: "token", ns: "monitoring", ip: "10.0.0.22", category: "api,iam", typ: "allowed,creation", apiVersion: "v1"},
		{line: 18, user: "system:serviceaccount:default:default", action: "create", outcome: "success", resource: "selfsubjectrulesreviews", ip: "10.244.1.17", category: "api,iam", typ: "allowed,creation", apiVersion: "authorization.k8s.io/v1"},
	}
	for _, w := range tests {
		e := s.Events[w.line-1]
		if e.Origin.Line != int64(w.line) || e.Origin.Format != FormatID {
			t.Fatalf("event %d has origin %+v", w.line, e.Origin)
		}
		got := want{
			line: w.line, user: e.Str(event.UserName), action: e.Str(event.EventAction), outcome: e.Str(event.EventOutcome),
			resource: e.Str(event.OrchestratorResourceType), sub: e.Str(event.OrchestratorResourceSubresource),
			ns: e.Str(event.OrchestratorNamespace), ip: e.IP(event.SourceIP).String(),
			category: strings.Join(e.Category.Names(), ","), typ: strings.Join(e.Type.Names(), ","),
			apiVersion: e.Str(event.OrchestratorAPIVersion), eff: e.Str(event.UserEffectiveName),
		}
		if got != w {
			t.Errorf("line %d:\n got %+v\nwant %+v", w.line, got, w)
		}
	}

	// The three stages of the exec request share one auditID and are all kept.
	for i := 1; i <= 3; i++ {
		if id := s.Events[i].Str(event.EventID); id != "7b2e9c41-0d8a-4f6e-b3c5-91a2d4e6f802" {
			t.Errorf("exec stage %d auditID = %q", i, id)
		}
	}
	if got := raw(s.Events[1], "stage"); !slices.Equal(got, []string{"RequestReceived"}) {
		t.Errorf("stage = %v", got)
	}
	// Timestamps: stageTimestamp wins.
	if got, want := s.Events[3].Timestamp, time.Date(2024, 3, 12, 9, 14, 31, 552019000, time.UTC); !got.Equal(want) {
		t.Errorf("exec ResponseComplete time = %v, want %v", got, want)
	}

	// The privileged hostPath pod keeps the fields Falco's and Sigma's rules read.
	pod := s.Events[6]
	for name, want := range map[string][]string{
		"requestObject.spec.containers.securityContext.privileged":       {"true"},
		"requestObject.spec.volumes.hostPath.path":                       {"/"},
		"requestObject.spec.containers.image":                            {"docker.io/library/alpine:3.19"},
		"requestObject.spec.hostNetwork":                                 {"true"},
		"requestObject.spec.hostPID":                                     {"true"},
		"requestObject.spec.containers.securityContext.capabilities.add": {"SYS_ADMIN", "NET_ADMIN"},
		"responseObject.metadata.name":                                   {"pwn-node"},
		"responseObject.metadata.managedFields.manager":                  nil, // bookkeeping dropped
		"hostPath":     {"/"},
		"capabilities": {"SYS_ADMIN", "NET_ADMIN"},
		"annotations.pod-security.kubernetes.io/enforce-policy": {"privileged:latest"},
		"annotations.authorization.k8s.io/decision":             {"allow"},
		"sourceIPs":           {"198.51.100.77", "10.0.0.5"},
		"user.groups":         {"oidc:dev-team", "system:authenticated"},
		"responseStatus.code": {"201"},
		"objectRef.resource":  {"pods"},
		"verb":                {"create"},
	} {
		if got := raw(pod, name); !slices.Equal(got, want) {
			t.Errorf("pod event %s = %q, want %q", name, got, want)
		}
	}
	if got := str(pod, "user.domain"); got != "corp.example.com" {
		t.Errorf("user.domain = %q", got)
	}
	if got := pod.Related.IP; len(got) != 2 {
		t.Errorf("related.ip = %v, want both source IPs", got)
	}
	// ClusterRoleBinding to cluster-admin: Falco's ka.req.binding.role and subjects.
	crb := s.Events[7]
	for name, want := range map[string][]string{
		"requestObject.roleRef.name":       {"cluster-admin"},
		"requestObject.subjects.kind":      {"ServiceAccount"},
		"requestObject.subjects.namespace": {"default"},
	} {
		if got := raw(crb, name); !slices.Equal(got, want) {
			t.Errorf("binding event %s = %q, want %q", name, got, want)
		}
	}
	// Forbidden: error message and status code.
	fb := s.Events[8]
	if got := fb.Str(event.ErrorMessage); !strings.HasPrefix(got, "secrets is forbidden: User \"system:serviceaccount:default:default\"") {
		t.Errorf("error.message = %q", got)
	}
	if code, _ := fb.Num(event.HTTPResponseStatusCode); code != 403 {
		t.Errorf("status code = %d", code)
	}
	// Patched deployment: the template's hostPath is aliased too.
	if got := raw(s.Events[19], "hostPath"); !slices.Equal(got, []string{"/var/run/docker.sock"}) {
		t.Errorf("deployment hostPath = %q", got)
	}
}

func TestEventList(t *testing.T) {
	s, err := decodetest.DecodeFile(t, New(), "testdata/eventlist.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 2 || len(s.Rejects) != 0 {
		t.Fatalf("got %d events, %d rejects", len(s.Events), len(s.Rejects))
	}
	if got := s.Events[1].Str(event.OrchestratorResourceType); got != "clusterrolebindings" {
		t.Errorf("items[1] resource = %q", got)
	}
	if s.Events[0].Origin.Record != 1 || s.Events[1].Origin.Record != 2 {
		t.Errorf("records = %d, %d", s.Events[0].Origin.Record, s.Events[1].Origin.Record)
	}
}

func TestBadInput(t *testing.T) {
	good := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete","requestURI":"/api","verb":"get","user":{"username":"u"},"sourceIPs":["10.0.0.1"],"responseStatus":{"code":200},"requestReceivedTimestamp":"2024-03-12T09:00:00.000000Z","stageTimestamp":"2024-03-12T09:00:00.100000Z"}`
	tests := []struct {
		name   string
		input  string
		reason string
		line   int64
	}{
		{"truncated json", `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"b","verb":`, decode.ReasonMalformed, 2},
		{"garbage line", `this is not json`, decode.ReasonMalformed, 2},
		{"bad timestamp", `{"kind":"Event","auditID":"c","verb":"get","stageTimestamp":"yesterday"}`, decode.ReasonBadTimestamp, 2},
		{"no timestamp", `{"kind":"Event","auditID":"c","verb":"get"}`, decode.ReasonBadTimestamp, 2},
		{"other kind", `{"kind":"Status","apiVersion":"v1","status":"Failure"}`, decode.ReasonUnsupported, 2},
		{"no kind", `{"level":"Metadata"}`, decode.ReasonMissingField, 2},
		{"array value", `[1,2,3]`, decode.ReasonMalformed, 2},
		{"list item not an object", `{"kind":"EventList","items":[42]}`, decode.ReasonMalformed, 2},
		{"items not an array", `{"kind":"EventList","items":{"a":1}}`, decode.ReasonMalformed, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A good record first: the framer decides NDJSON from the first line.
			s, err := decodetest.Decode(t, New(), "bad.log", []byte(good+"\n"+tt.input+"\n"+good+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Rejects) != 1 || s.Rejects[0].Reason != tt.reason {
				t.Fatalf("rejects = %v, want one %s", s.Rejects, tt.reason)
			}
			if s.Rejects[0].Line != tt.line || s.Rejects[0].Source != "bad.log" || s.Rejects[0].Format != FormatID {
				t.Errorf("reject location = %+v", s.Rejects[0])
			}
			if len(s.Events) != 2 || s.Events[1].Str(event.EventID) != "a" || s.Events[1].Origin.Line != 3 {
				t.Fatalf("the good record after the bad one was not decoded: %d events", len(s.Events))
			}
		})
	}
}

func TestHugeLine(t *testing.T) {
	good := readFixture(t, "audit.log")
	in := append([]byte(`{"kind":"Event","x":"`+strings.Repeat("A", 2<<20)+`"}`+"\n"), good...)
	s, err := decodetest.Decode(t, New(), "huge.log", in)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Reasons(); r[decode.ReasonLineTooLong] != 1 || len(s.Rejects) != 1 {
		t.Fatalf("reasons = %v", r)
	}
	if len(s.Events) != 20 {
		t.Fatalf("events after the long line = %d", len(s.Events))
	}
}

func TestObjectBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"kind":"Event","auditID":"x","verb":"create","stageTimestamp":"2024-03-12T09:00:00Z","requestObject":{"data":{`)
	for i := 0; i < 2*MaxObjectFields; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `":"v"`)
	}
	b.WriteString(`,"big":"` + strings.Repeat("é", MaxObjectValue) + `"}},"annotations":{"a":"b"}}`)
	s, err := decodetest.Decode(t, New(), "budget.log", []byte(b.String()))
	if err != nil || len(s.Events) != 1 {
		t.Fatalf("err %v, %d events, rejects %v", err, len(s.Events), s.Rejects)
	}
	e := s.Events[0]
	n := 0
	for _, r := range e.Raw {
		if strings.HasPrefix(r.Name(), "requestObject.") {
			n++
		}
	}
	if n != MaxObjectFields || !e.RawTruncated {
		t.Errorf("kept %d requestObject fields (truncated=%v), want %d", n, e.RawTruncated, MaxObjectFields)
	}
	if got := raw(e, "annotations.a"); !slices.Equal(got, []string{"b"}) {
		t.Errorf("fields after the budgeted object were lost: %q", got)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &decodetest.Sink{}
	err := New().Decode(ctx, decode.Input{R: bytes.NewReader(readFixture(t, "audit.log")), Source: "x"}, s)
	if err == nil {
		t.Fatal("no error after cancel")
	}
}

func FuzzDecodeK8sAudit(f *testing.F) {
	for _, name := range []string{"audit.log", "eventlist.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		if i := bytes.IndexByte(b, '\n'); i > 0 {
			f.Add(b[:i])
		}
	}
	f.Add([]byte(`{"kind":"EventList","items":[1,{"stageTimestamp":"2024-01-01T00:00:00Z"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		decodetest.Fuzz(t, New(), data)
	})
}

func BenchmarkDecodeK8sAudit(b *testing.B) {
	fixture := readFixture(b, "audit.log")
	var metadata []byte // the Metadata-level lines: what most audit policies log
	for _, l := range bytes.SplitAfter(fixture, []byte("\n")) {
		if bytes.Contains(l, []byte(`"level":"Metadata"`)) {
			metadata = append(metadata, l...)
		}
	}
	for _, bc := range []struct {
		name string
		one  []byte
	}{{"fixture", fixture}, {"metadata", metadata}} {
		b.Run(bc.name, func(b *testing.B) {
			var data []byte
			for len(data) < 4<<20 {
				data = append(data, bc.one...)
			}
			n := bytes.Count(data, []byte("\n"))
			d := New()
			sink := &countSink{}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cputime.Process()
			for i := 0; i < b.N; i++ {
				if err := d.Decode(context.Background(), decode.Input{R: bytes.NewReader(data), Source: "bench"}, sink); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			if cpu := cputime.Process() - cpu0; cpu > 0 {
				b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds(), "events/cpu-s")
			}
			if sink.rejects > 0 {
				b.Fatalf("%d rejects", sink.rejects)
			}
		})
	}
}

// countSink reuses one event, as the pipeline's pool does.
type countSink struct {
	e       event.Event
	n       int
	rejects int
}

func (s *countSink) Alloc() *event.Event        { s.e.Reset(); return &s.e }
func (s *countSink) Emit(*event.Event)          { s.n++ }
func (s *countSink) Reject(*decode.RecordError) { s.rejects++ }
