package entra

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGolden(t *testing.T) {
	for _, tt := range []struct {
		file   string
		events int
	}{
		{"entra-eventhub.json", 6},
		{"entra-graph.json", 7},
		{"entra-storage.jsonl", 3},
	} {
		t.Run(tt.file, func(t *testing.T) {
			s, err := decodetest.DecodeFile(t, NewDecoder(), "testdata/"+tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Events) != tt.events || len(s.Rejects) != 0 {
				t.Fatalf("got %d events, %d rejects; want %d, 0: %v", len(s.Events), len(s.Rejects), tt.events, s.Rejects)
			}
			decodetest.Golden(t, strings.TrimSuffix(strings.TrimSuffix(tt.file, ".json"), ".jsonl"), s.JSONL())
		})
	}
}

func field(e *event.Event, name string) string {
	v, _ := event.Lookup(name).String(e)
	return v
}

func TestMappings(t *testing.T) {
	hub, err := decodetest.DecodeFile(t, NewDecoder(), "testdata/entra-eventhub.json")
	if err != nil {
		t.Fatal(err)
	}
	graph, err := decodetest.DecodeFile(t, NewDecoder(), "testdata/entra-graph.json")
	if err != nil {
		t.Fatal(err)
	}
	store, err := decodetest.DecodeFile(t, NewDecoder(), "testdata/entra-storage.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		e      *event.Event
		fields map[string]string
	}{
		{"hub success", hub.Events[0], map[string]string{
			"@timestamp": "2024-03-11T13:02:45.335Z", "event.action": "sign-in", "event.outcome": "success",
			"event.code": "0", "event.reason": "", "event.dataset": "azure.signinlogs", "cloud.provider": "azure",
			"cloud.account.id": "8c3e9a1d-5b2f-4e6a-9d7c-1f0b2a3c4d5e", "event.id": "a1b2c3d4-0001-4e5f-9a8b-7c6d5e4f3a21",
			"user.name": "alice.martin", "user.domain": "contoso.com", "user.full_name": "Alice Martin",
			"user.id": "4f2a1c7e-9b3d-4e8f-a6c1-2d5e7f9a0b1c", "source.ip": "198.51.100.23", "service.name": "OfficeHome",
			"resultType": "0", "properties.deviceDetail.displayName": "WS-042", "properties.location.countryOrRegion": "US",
			"properties.authenticationRequirement": "multiFactorAuthentication",
		}},
		{"hub 50126", hub.Events[1], map[string]string{
			"event.outcome": "failure", "event.code": "50126", "user.name": "bob.chen", "source.ip": "185.220.101.47",
			"event.reason":        "Error validating credentials due to invalid username or password.",
			"user_agent.original": "python-requests/2.31.0", "resultDescription": "Invalid username or password or Invalid on-premise username or password.",
		}},
		{"hub 50074", hub.Events[2], map[string]string{"event.code": "50074", "event.outcome": "failure", "event.reason": "Strong Authentication is required."}},
		{"hub 53003", hub.Events[3], map[string]string{
			"event.code": "53003", "user.name": "dave.okafor", "user.full_name": "Dave Okafor", "user_agent.original": "",
			"properties.conditionalAccessStatus": "failure", "properties.clientAppUsed": "IMAP4", "resultDescription": "Blocked by Conditional Access",
		}},
		{"hub risky", hub.Events[4], map[string]string{
			"event.outcome": "success", "properties.riskLevelDuringSignIn": "high", "properties.riskState": "atRisk",
			"properties.location.countryOrRegion": "NG", "service.name": "Microsoft Azure CLI",
		}},
		{"hub noninteractive", hub.Events[5], map[string]string{
			"event.dataset": "azure.noninteractiveusersigninlogs", "properties.isInteractive": "false",
		}},
		{"graph success", graph.Events[0], map[string]string{
			"@timestamp": "2024-03-11T13:02:45Z", "event.outcome": "success", "event.reason": "", "status.failureReason": "Other.",
			"user.name": "alice.martin", "event.dataset": "azure.signinlogs", "source.ip": "198.51.100.23", "deviceDetail.displayName": "WS-042",
		}},
		{"graph 53003", graph.Events[3], map[string]string{
			"event.code": "53003", "event.outcome": "failure", "appliedConditionalAccessPolicies.result": "failure",
			"event.reason": "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
		}},
		{"graph locked", graph.Events[5], map[string]string{"event.code": "50053", "user.name": "carol.diaz"}},
		{"graph mfa denied", graph.Events[6], map[string]string{"event.code": "500121", "event.outcome": "failure"}},
		{"service principal", store.Events[0], map[string]string{
			"event.dataset": "azure.serviceprincipalsigninlogs", "event.code": "7000215", "event.outcome": "failure",
			"user.name": "", "service.name": "ci-deploy-sp", "source.ip": "203.0.113.200", "properties.servicePrincipalName": "ci-deploy-sp",
		}},
		{"audit record kept generically", store.Events[2], map[string]string{
			"event.dataset": "azure.auditlogs", "event.action": "Add member to role", "event.outcome": "", "source.ip": "198.51.100.90",
			"properties.targetResources.modifiedProperties.newValue": `"Global Administrator"`,
		}},
	}
	for _, tt := range tests {
		for name, want := range tt.fields {
			if got := field(tt.e, name); got != want {
				t.Errorf("%s: %s = %q, want %q", tt.name, name, got, want)
			}
		}
	}
	if e := hub.Events[0]; e.Category != event.CatAuthentication || e.Type != event.TypeStart {
		t.Errorf("sign-in category %v type %v", e.Category.Names(), e.Type.Names())
	}
	if e := store.Events[2]; e.Category != 0 {
		t.Errorf("audit record category %v, want none", e.Category.Names())
	}
	// The same sign-in through Event Hub and through Graph normalizes to the same core.
	for _, name := range []string{"event.id", "event.outcome", "event.code", "user.name", "user.id", "source.ip", "service.name", "event.reason"} {
		for i := 0; i < 5; i++ {
			if h, g := field(hub.Events[i], name), field(graph.Events[i], name); h != g {
				t.Errorf("record %d: %s is %q from Event Hub but %q from Graph", i, name, h, g)
			}
		}
	}
}

// TestMarkedFields checks how the one-pass normalization finds its fields (by dotted
// name, the first non-null value of a name, none inside arrays) while the record's
// shape is told from its top-level members; and that the tree path reads records alike.
func TestMarkedFields(t *testing.T) {
	const diag = `{"time":"2024-03-11T13:02:45Z","category":"SignInLogs",`
	tests := []struct {
		name, doc string
		fields    map[string]string
		reason    string
	}{
		{"dotted properties", diag + `"properties":{"id":"p1"},"properties.status.errorCode":50126,"properties.userPrincipalName":"Bob@Contoso.com"}`,
			map[string]string{"event.id": "p1", "event.code": "50126", "event.outcome": "failure", "user.name": "bob", "user.domain": "contoso.com"}, ""},
		{"first non-null", diag + `"properties":{"status":{"errorCode":null,"errorCode":"0"},"ipAddress":1,"ipAddress":"10.0.0.1"},"callerIpAddress":"10.9.9.9"}`,
			map[string]string{"event.code": "0", "event.outcome": "success", "source.ip": "10.9.9.9"}, ""},
		{"no values in arrays", diag + `"properties":{"userPrincipalName":["a@b.c"],"status":[{"errorCode":1}]},"resultType":"0"}`,
			map[string]string{"user.name": "", "event.code": "0"}, ""},
		{"error code in shortest form", diag + `"properties":{"status":{"errorCode":-0050}}}`,
			map[string]string{"event.code": "-50"}, ""},
		{"dotted properties alone is no diagnostic record", `{"time":"2024-03-11T13:02:45Z","category":"SignInLogs","properties.id":"p1"}`,
			nil, decode.ReasonUnsupported},
		{"empty properties, other category", `{"time":"2024-03-11T13:02:45Z","category":"AuditLogs","operationName":"Add user","properties":{}}`,
			map[string]string{"event.action": "Add user", "event.dataset": "azure.auditlogs"}, ""},
		{"time as an object", `{"time":{"t":"2024-03-11T13:02:45Z"},"category":null,"properties":{}}`, nil, decode.ReasonBadTimestamp},
		{"graph with null createdDateTime", `{"createdDateTime":null,"appDisplayName":"x","servicePrincipalId":null}`, nil, decode.ReasonBadTimestamp},
		{"empty page beside a sign-in", `{"id":"x1","createdDateTime":"2024-03-11T13:02:45Z","userPrincipalName":"a@b.c","appDisplayName":"App","value":[]}`, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := decodetest.Decode(t, NewDecoder(), "x", []byte(tt.doc+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.reason != "":
				if len(s.Events) != 0 || len(s.Rejects) != 1 || s.Rejects[0].Reason != tt.reason {
					t.Fatalf("%d events, rejects %v; want one %s", len(s.Events), s.Rejects, tt.reason)
				}
			case tt.fields == nil:
				if len(s.Events) != 0 || len(s.Rejects) != 0 {
					t.Fatalf("%d events, rejects %v; want none", len(s.Events), s.Rejects)
				}
			default:
				if len(s.Events) != 1 {
					t.Fatalf("%d events, rejects %v", len(s.Events), s.Rejects)
				}
				for name, want := range tt.fields {
					if got := field(s.Events[0], name); got != want {
						t.Errorf("%s = %q, want %q", name, got, want)
					}
				}
			}
			checkTextMatchesTree(t, []byte(tt.doc))
		})
	}
}

func TestShapes(t *testing.T) {
	hub := read(t, "entra-eventhub.json")
	graph := read(t, "entra-graph.json")
	tests := []struct {
		name   string
		data   string
		events int
	}{
		{"pretty envelope", "{\n  \"records\": [\n" + strings.TrimPrefix(string(hub), `{"records":[`), 6},
		{"empty page", `{"value":[]}`, 0},
		{"two envelopes", string(hub) + string(hub), 12},
		{"bare graph array", string(fastjson.MustParseBytes(graph).Get("value").MarshalTo(nil)), 7},
		{"graph one per line", graphLines(graph), 7},
		{"envelope not led by its array", `{"@odata.nextLink":"https://graph","value":` +
			string(fastjson.MustParseBytes(graph).Get("value").MarshalTo(nil)) + `}`, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := decodetest.Decode(t, NewDecoder(), "x", []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Events) != tt.events || len(s.Rejects) != 0 {
				t.Fatalf("got %d events, %d rejects; want %d, 0: %v", len(s.Events), len(s.Rejects), tt.events, s.Rejects)
			}
		})
	}
}

// graphLines rewrites a Graph page as one sign-in per line.
func graphLines(page []byte) string {
	var b []byte
	for _, v := range fastjson.MustParseBytes(page).GetArray("value") {
		b = append(v.MarshalTo(b), '\n')
	}
	return string(b)
}

func TestBadInput(t *testing.T) {
	good := `{"id":"x1","createdDateTime":"2024-03-11T13:02:45Z","userPrincipalName":"a@b.c","appDisplayName":"App","status":{"errorCode":0}}`
	tests := []struct {
		name    string
		data    string
		reasons map[string]int
		events  int
	}{
		{"garbage", "garbage\n" + good + "\n", map[string]int{decode.ReasonMalformed: 1}, 1},
		{"truncated line", good[:40] + "\n" + good + "\n", map[string]int{decode.ReasonMalformed: 1}, 1},
		{"bad time", strings.Replace(good, "2024-03-11T13:02:45Z", "11/03/2024", 1) + "\n" + good + "\n", map[string]int{decode.ReasonBadTimestamp: 1}, 1},
		{"diag without time", `{"category":"SignInLogs","properties":{"id":"x"}}` + "\n" + good + "\n", map[string]int{decode.ReasonBadTimestamp: 1}, 1},
		{"not a sign-in", `{"eventType":"x","published":"2024-03-11T13:02:45Z"}` + "\n" + good + "\n", map[string]int{decode.ReasonUnsupported: 1}, 1},
		{"non-object record", `{"records":[1,` + good + `,"x"]}`, map[string]int{decode.ReasonMalformed: 2}, 1},
		{"truncated envelope", `{"records":[` + good + ",\n" + good[:50], map[string]int{decode.ReasonTruncated: 1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := decodetest.Decode(t, NewDecoder(), "bad", []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Events) != tt.events {
				t.Errorf("got %d events, want %d", len(s.Events), tt.events)
			}
			got := s.Reasons()
			if len(got) != len(tt.reasons) {
				t.Fatalf("rejects %v, want %v", got, tt.reasons)
			}
			for r, n := range tt.reasons {
				if got[r] != n {
					t.Errorf("rejects %v, want %v", got, tt.reasons)
				}
			}
			for _, r := range s.Rejects {
				if r.Format != FormatID || r.Err == nil {
					t.Errorf("incomplete reject: %+v", r)
				}
			}
		})
	}
}

func TestHugeLine(t *testing.T) {
	good := `{"id":"x1","createdDateTime":"2024-03-11T13:02:45Z","userPrincipalName":"a@b.c","appDisplayName":"App"}`
	huge := `{"id":"x0","createdDateTime":"2024-03-11T13:02:45Z","userPrincipalName":"a@b.c","appDisplayName":"` + strings.Repeat("A", 5000) + `"}`
	s := &decodetest.Sink{}
	err := NewDecoder().Decode(context.Background(), decode.Input{R: strings.NewReader(huge + "\n" + good + "\n"), Source: "huge",
		Limits: decode.Limits{MaxLine: 4096}}, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 1 || s.Reasons()[decode.ReasonLineTooLong] != 1 {
		t.Fatalf("got %d events, rejects %v", len(s.Events), s.Reasons())
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := NewDecoder().Decode(ctx, decode.Input{R: bytes.NewReader(read(t, "entra-eventhub.json")), Source: "x"}, &decodetest.Sink{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestSniff(t *testing.T) {
	hub := read(t, "entra-eventhub.json")
	tests := []struct {
		name string
		head []byte
		want int
	}{
		{"event hub", hub, 90},
		{"graph page", read(t, "entra-graph.json"), 90},
		{"storage blob lines", read(t, "entra-storage.jsonl"), 90},
		{"envelope cut by the head", hub[:3000], 75},
		{"audit only", []byte(`{"records":[{"time":"2024-03-11T13:02:45Z","category":"AuditLogs","operationName":"Add user","properties":{}}]}`), 0},
		{"okta", []byte(`{"eventType":"user.session.start","published":"2024-03-11T13:02:45Z","actor":{}}`), 0},
		{"other value page", []byte(`{"value":[{"id":"1","displayName":"x"}]}`), 0},
		{"garbage", []byte("\xff\xfe{"), 0},
	}
	for _, tt := range tests {
		if got := Sniff(tt.head); got != tt.want {
			t.Errorf("%s: Sniff = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	// Small seeds keep the fuzzer fast: single records in each shape and a short envelope.
	for _, l := range bytes.Split(read(f, "entra-storage.jsonl"), []byte("\n")) {
		f.Add(l)
	}
	graph := fastjson.MustParseBytes(read(f, "entra-graph.json"))
	first := graph.Get("value", "0").MarshalTo(nil)
	f.Add(first)
	f.Add(append(append([]byte(`{"value":[`), first...), "]}"...))
	f.Add(append(append([]byte("{\n \"records\": [\n  "), read(f, "entra-storage.jsonl")[:bytes.IndexByte(read(f, "entra-storage.jsonl"), '\n')]...), "\n ]\n}"...))
	f.Add([]byte(`{"records":[{"category":"SignInLogs","time":"2024-03-11T13:02:45Z","resultType":"x","properties":{"status":{"errorCode":1e99}}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		decodetest.Fuzz(t, NewDecoder(), data)
	})
}

// checkTextMatchesTree asserts that the one-pass path gives the event, or the reject,
// that the parsed-tree path gives for a record's text (envelopes take the tree path only).
func checkTextMatchesTree(t *testing.T, doc []byte) {
	t.Helper()
	var p fastjson.Parser
	v, perr := p.ParseBytes(doc)
	d := NewDecoder()
	var e1, e2 event.Event
	reason1, err1 := d.fillText(&e1, doc)
	if errors.Is(err1, errTree) {
		if perr != nil || v.Type() != fastjson.TypeObject || envelope(v) != nil {
			return // malformed, or not one record: the tree path alone takes it
		}
		e1.ClearRaw()
		reason1, err1 = d.fill(&e1, v)
	} else if perr != nil {
		t.Fatalf("text path accepted what the parser rejects: %v", perr)
	} else if envelope(v) != nil {
		t.Fatal("text path took an envelope")
	}
	var p2 fastjson.Parser
	v2, _ := p2.ParseBytes(doc)
	reason2, err2 := NewDecoder().fill(&e2, v2)
	if reason1 != reason2 || (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
		t.Fatalf("%s: reject differs: %q %v / %q %v", doc, reason1, err1, reason2, err2)
	}
	if err1 == nil {
		if a, b := e1.AppendJSON(nil), e2.AppendJSON(nil); !bytes.Equal(a, b) {
			t.Fatalf("event differs:\n%s\n%s", a, b)
		}
	}
}

// FuzzTextMatchesTree checks that the one-pass path gives the same event, or the same
// reject, as the parsed-tree path for any record.
func FuzzTextMatchesTree(f *testing.F) {
	for _, l := range bytes.Split(read(f, "entra-storage.jsonl"), []byte("\n")) {
		f.Add(l)
	}
	for _, v := range fastjson.MustParseBytes(read(f, "entra-graph.json")).GetArray("value")[:2] {
		f.Add(v.MarshalTo(nil))
	}
	f.Add([]byte(`{"category":null,"properties":{},"time":{"a":1}}`))
	f.Add([]byte(`{"time":"2024-03-11T13:02:45Z","category":"SignInLogs","properties":{"status":{"errorCode":1e99}},"resultType":"x","value":{}}`))
	f.Add([]byte(`{"createdDateTime":"2024-03-11T13:02:45Z","appDisplayName":null,"userPrincipalName":"A\u0040B","status":{"errorCode":"","failureReason":"r"}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		checkTextMatchesTree(t, doc)
	})
}

func BenchmarkDecode(b *testing.B) {
	// Storage-account blob shape, one diagnostic record per line, ~1000 records.
	hub := read(b, "entra-eventhub.json")
	var one []byte
	{
		s, _ := decodetest.Decode(b, NewDecoder(), "x", hub)
		if len(s.Events) != 6 {
			b.Fatal("fixture")
		}
	}
	body := bytes.TrimSuffix(bytes.TrimPrefix(bytes.TrimSpace(hub), []byte(`{"records":[`)), []byte("]}"))
	one = bytes.ReplaceAll(body, []byte(`},{"time"`), []byte("}\n{\"time\""))
	one = append(one, '\n')
	data := bytes.Repeat(one, 170)
	n := bytes.Count(data, []byte("\n"))
	decodetest.Bench(b, NewDecoder(), data, n)
}
