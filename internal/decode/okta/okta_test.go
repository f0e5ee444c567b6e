package okta

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

func readFixture(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/okta.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGolden(t *testing.T) {
	s, err := decodetest.DecodeFile(t, NewDecoder(), "testdata/okta.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 16 || len(s.Rejects) != 0 {
		t.Fatalf("got %d events, %d rejects; want 16, 0: %v", len(s.Events), len(s.Rejects), s.Rejects)
	}
	decodetest.Golden(t, "okta", s.JSONL())
}

// TestArrayPage checks that a JSON array, as one /api/v1/logs page, decodes like NDJSON.
func TestArrayPage(t *testing.T) {
	lines := bytes.Split(bytes.TrimSpace(readFixture(t)), []byte("\n"))
	page := append(append([]byte("[\n"), bytes.Join(lines, []byte(",\n"))...), "\n]\n"...)
	s, err := decodetest.Decode(t, NewDecoder(), "page.json", page)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != len(lines) || len(s.Rejects) != 0 {
		t.Fatalf("got %d events, %d rejects; want %d, 0", len(s.Events), len(s.Rejects), len(lines))
	}
	nd, _ := decodetest.Decode(t, NewDecoder(), "page.json", readFixture(t))
	for i := range s.Events {
		a, b := s.Events[i], nd.Events[i]
		a.Origin, b.Origin = event.Origin{}, event.Origin{}
		if ja, jb := a.AppendJSON(nil), b.AppendJSON(nil); !bytes.Equal(ja, jb) {
			t.Fatalf("event %d differs between array and NDJSON:\n%s\n%s", i, ja, jb)
		}
	}
}

func field(t *testing.T, e *event.Event, name string) string {
	t.Helper()
	v, _ := event.Lookup(name).String(e)
	return v
}

// TestMappings asserts the normalized fields of chosen fixture records.
func TestMappings(t *testing.T) {
	s, err := decodetest.DecodeFile(t, NewDecoder(), "testdata/okta.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		idx    int
		fields map[string]string
		cat    event.Category
		typ    event.Type
	}{
		{0, map[string]string{
			"@timestamp": "2024-03-11T13:02:45.811Z", "event.action": "user.session.start", "event.outcome": "success",
			"event.id": "4c5a3f1e-dfa5-11ee-9a5b-0f2c6b6f1a11", "user.name": "alice.martin", "user.domain": "example.com",
			"user.email": "alice.martin@example.com", "user.id": "00u1qw3mgaAHMexbf0h8", "user.full_name": "Alice Martin",
			"source.ip": "198.51.100.23", "client.ip": "198.51.100.23", "message": "User login to Okta",
			"event.severity": "2", "log.level": "info", "event.dataset": "okta.system",
			"client.geographicalContext.country": "United States", "securityContext.asNumber": "7922",
			"debugContext.debugData.requestUri": "/idp/idx/identify", "securityContext.isProxy": "false",
		}, event.CatAuthentication | event.CatSession, event.TypeStart},
		{3, map[string]string{
			"event.action": "user.mfa.okta_verify.deny_push", "event.outcome": "failure",
			"event.reason": "User rejected Okta push verify", "user.name": "bob.chen", "log.level": "warn",
			"user_agent.original": "OktaVerify/9.12.0 DeviceSDK/1.4.1 iOS/17.3.1 iPhone/iPhone14,2",
		}, event.CatAuthentication, event.TypeInfo},
		{8, map[string]string{ // spray against an unknown user: no id, no display name
			"event.outcome": "failure", "event.reason": "VERIFICATION_ERROR", "user.name": "svc-backup",
			"user.id": "", "user.full_name": "", "source.ip": "185.220.101.47", "securityContext.isProxy": "true",
		}, event.CatAuthentication | event.CatSession, event.TypeStart},
		{9, map[string]string{
			"event.action": "user.account.lock", "message": "Max sign in attempts exceeded", "user.name": "carol.diaz",
		}, event.CatIAM, event.TypeUser | event.TypeChange},
		{10, map[string]string{
			"event.action": "policy.evaluate_sign_on", "event.outcome": "unknown", "client.geographicalContext.country": "Nigeria",
			"debugContext.debugData.behaviors": "{New Geo-Location=POSITIVE, New Device=POSITIVE, New IP=POSITIVE, New State=POSITIVE, New Country=POSITIVE, Velocity=POSITIVE, New City=POSITIVE}",
			"user.target.name":                 "",
		}, event.CatAuthentication, event.TypeInfo},
		{12, map[string]string{
			"event.action": "user.mfa.factor.deactivate", "user.target.name": "alice.martin", "user.target.id": "00u1qw3mgaAHMexbf0h8",
		}, event.CatIAM, event.TypeUser | event.TypeDeletion},
		{13, map[string]string{
			"event.action": "user.account.privilege.grant", "user.name": "dave.okafor", "user.target.name": "eve.admin",
			"user.target.domain": "example.com", "source.ip": "2001:db8:4f1c:20::1a",
			"debugContext.debugData.privilegeGranted": "Super administrator",
		}, event.CatIAM, event.TypeUser | event.TypeAdmin | event.TypeChange},
		{14, map[string]string{
			"event.action": "system.api_token.create", "user.name": "eve.admin", "target.displayName": "ci-directory-sync",
			"user.target.name": "",
		}, event.CatIAM | event.CatConfiguration, event.TypeCreation},
		{15, map[string]string{ // the User target is third, after AppUser and AppInstance
			"event.action": "application.user_membership.add", "user.target.name": "bob.chen", "user.target.id": "00u1qw7zq2XRbLd9r0h8",
		}, event.CatIAM, event.TypeUser | event.TypeChange},
	}
	for _, tt := range tests {
		e := s.Events[tt.idx]
		for name, want := range tt.fields {
			if got := field(t, e, name); got != want {
				t.Errorf("event %d: %s = %q, want %q", tt.idx, name, got, want)
			}
		}
		if e.Category != tt.cat || e.Type != tt.typ {
			t.Errorf("event %d: category %v type %v, want %v %v", tt.idx, e.Category.Names(), e.Type.Names(), tt.cat.Names(), tt.typ.Names())
		}
	}
	// Repeated targets are kept as repeated raw fields, in order.
	var types []string
	event.Lookup("target.type").Each(s.Events[15], func(v string) bool { types = append(types, v); return true })
	if strings.Join(types, ",") != "AppUser,AppInstance,User" {
		t.Errorf("target.type = %v", types)
	}
	// The spray: five failed logins from one IP against five distinct users.
	users := map[string]bool{}
	for _, e := range s.Events {
		if e.IP(event.SourceIP).String() == "185.220.101.47" && e.Str(event.EventAction) == "user.session.start" &&
			e.Str(event.EventOutcome) == "failure" {
			users[e.Related.User[0]] = true
		}
	}
	if len(users) != 5 {
		t.Errorf("spray targets %d distinct users, want 5: %v", len(users), users)
	}
}

// TestMarkedFields checks how the one-pass normalization finds its fields: by dotted
// name, the first non-null value of a name, the first target of type User by array
// element, every ipChain hop; and that the tree path reads records alike.
func TestMarkedFields(t *testing.T) {
	const head = `{"eventType":"user.session.start","published":"2024-03-11T13:02:45Z",`
	tests := []struct {
		name, doc string
		fields    map[string]string
		related   string
	}{
		{"dotted names", head + `"outcome.result":"FAILURE","actor.type":"User","actor.alternateId":"Bob@Example.com"}`,
			map[string]string{"event.outcome": "failure", "user.name": "bob", "user.domain": "example.com", "user.email": "Bob@Example.com"}, "bob@example.com"},
		{"first non-null", head + `"severity":null,"severity":"WARN","uuid":1,"uuid":"u"}`,
			map[string]string{"log.level": "warn", "event.id": ""}, ""},
		{"target members of one element", head + `"target":[{"alternateId":"app","type":"AppInstance","id":"a1"},` +
			`{"id":"00u1","alternateId":"carol@example.com","type":"User"},{"type":"User","alternateId":"dave@example.com"}]}`,
			map[string]string{"user.target.name": "carol", "user.target.id": "00u1"}, "carol@example.com"},
		{"target of unknown id", head + `"target":[{"type":"user","alternateId":"eve","id":"unknown"}]}`,
			map[string]string{"user.target.name": "eve", "user.target.id": ""}, "eve"},
		{"target not an array", head + `"target":{"type":"User","alternateId":"eve"}}`,
			map[string]string{"user.target.name": ""}, ""},
		{"actor in an array", head + `"actor":[{"type":"User","alternateId":"eve"}]}`,
			map[string]string{"user.name": ""}, ""},
		{"published as a number", `{"eventType":"x","published":1710162165}`, map[string]string{"@timestamp": "2024-03-11T13:02:45Z"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := decodetest.Decode(t, NewDecoder(), "x", []byte(tt.doc+"\n"))
			if err != nil || len(s.Events) != 1 {
				t.Fatalf("err %v, %d events, rejects %v", err, len(s.Events), s.Rejects)
			}
			e := s.Events[0]
			for name, want := range tt.fields {
				if got := field(t, e, name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if got := strings.Join(e.Related.User, ","); got != tt.related {
				t.Errorf("related.user = %q, want %q", got, tt.related)
			}
			checkTextMatchesTree(t, []byte(tt.doc))
		})
	}
	s, _ := decodetest.Decode(t, NewDecoder(), "x", []byte(head+`"client":{"ipAddress":"198.51.100.1"},`+
		`"request":{"ipChain":[{"ip":"198.51.100.1","source":null},{"geo":{"ip":"1.1.1.1"},"ip":"2001:db8::1"},{"ip":"junk"}]}}`))
	var ips []string
	for _, a := range s.Events[0].Related.IP {
		ips = append(ips, a.String())
	}
	if got := strings.Join(ips, ","); got != "198.51.100.1,2001:db8::1" {
		t.Errorf("related.ip = %s", got)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		eventType string
		cat       event.Category
		typ       event.Type
	}{
		{"user.session.start", event.CatAuthentication | event.CatSession, event.TypeStart},
		{"user.session.end", event.CatAuthentication | event.CatSession, event.TypeEnd},
		{"user.authentication.sso", event.CatAuthentication, event.TypeStart},
		{"user.authentication.auth_via_mfa", event.CatAuthentication, event.TypeStart},
		{"user.account.lock", event.CatIAM, event.TypeUser | event.TypeChange},
		{"user.lifecycle.create", event.CatIAM, event.TypeUser | event.TypeCreation},
		{"group.user_membership.add", event.CatIAM, event.TypeGroup | event.TypeChange},
		{"policy.rule.update", event.CatConfiguration, event.TypeChange},
		{"system.api_token.revoke", event.CatIAM | event.CatConfiguration, event.TypeDeletion},
		{"security.threat.detected", event.CatIntrusionDetection | event.CatThreat, event.TypeIndicator},
		{"app.oauth2.as.token.grant", event.CatAuthentication, event.TypeInfo},
		{"directory.app_user_profile.bootstrap", 0, 0},
		{"", 0, 0},
	}
	for _, tt := range tests {
		cat, typ := classify(tt.eventType)
		if cat != tt.cat || typ != tt.typ {
			t.Errorf("classify(%q) = %v %v, want %v %v", tt.eventType, cat.Names(), typ.Names(), tt.cat.Names(), tt.typ.Names())
		}
	}
}

func TestOutcome(t *testing.T) {
	for in, want := range map[string]string{
		"SUCCESS": "success", "ALLOW": "success", "FAILURE": "failure", "DENY": "failure",
		"SKIPPED": "unknown", "CHALLENGE": "unknown", "UNKNOWN": "unknown", "": "",
	} {
		if got := outcome(in); got != want {
			t.Errorf("outcome(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBadInput(t *testing.T) {
	good := string(bytes.SplitN(readFixture(t), []byte("\n"), 2)[0])
	tests := []struct {
		name    string
		data    string
		reasons map[string]int
		events  int
	}{
		{"garbage line", "this is not json\n" + good + "\n", map[string]int{decode.ReasonMalformed: 1}, 1},
		{"truncated object", good[:len(good)/2] + "\n" + good + "\n", map[string]int{decode.ReasonMalformed: 1}, 1},
		{"no published", `{"eventType":"user.session.start","actor":{}}` + "\n" + good + "\n", map[string]int{decode.ReasonBadTimestamp: 1}, 1},
		{"bad published", `{"eventType":"user.session.start","published":"yesterday"}` + "\n" + good + "\n", map[string]int{decode.ReasonBadTimestamp: 1}, 1},
		{"published 1601", `{"eventType":"x","published":"1601-01-01T00:00:00Z"}` + "\n" + good + "\n", map[string]int{decode.ReasonBadTimestamp: 1}, 1},
		{"not a LogEvent", `{"published":"2024-03-11T13:02:45.811Z"}` + "\n" + good + "\n", map[string]int{decode.ReasonMissingField: 1}, 1},
		{"truncated array", "[" + good + ",\n" + good[:100], map[string]int{decode.ReasonTruncated: 1}, 1},
		{"empty", "", map[string]int{}, 0},
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
				if r.Format != FormatID || r.Source != "bad" || r.Err == nil {
					t.Errorf("incomplete reject: %+v", r)
				}
			}
		})
	}
}

func TestHugeLine(t *testing.T) {
	good := bytes.SplitN(readFixture(t), []byte("\n"), 2)[0]
	huge := `{"eventType":"x","published":"2024-03-11T13:02:45.811Z","pad":"` + strings.Repeat("A", 5000) + `"}`
	data := []byte(huge + "\n" + string(good) + "\n")
	s := &decodetest.Sink{}
	err := NewDecoder().Decode(context.Background(), decode.Input{R: bytes.NewReader(data), Source: "huge",
		Limits: decode.Limits{MaxLine: 4096}}, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 1 || s.Reasons()[decode.ReasonLineTooLong] != 1 {
		t.Fatalf("got %d events, rejects %v; want 1 event and one line-too-long", len(s.Events), s.Reasons())
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := NewDecoder().Decode(ctx, decode.Input{R: bytes.NewReader(readFixture(t)), Source: "x"}, &decodetest.Sink{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestSniff(t *testing.T) {
	fx := readFixture(t)
	tests := []struct {
		name string
		head []byte
		want int
	}{
		{"ndjson", fx, 90},
		{"array page", append([]byte("[\n  "), fx...), 90},
		{"cloudtrail", []byte(`{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventName":"GetObject"}`), 0},
		{"first object cut by the head", fx[:bytes.Index(fx, []byte(`"securityContext"`))], 70},
		{"garbage", []byte("\x00\x01\x02 hello"), 0},
		{"empty", nil, 0},
	}
	for _, tt := range tests {
		if got := Sniff(tt.head); got != tt.want {
			t.Errorf("%s: Sniff = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	fx, err := os.ReadFile("testdata/okta.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range bytes.Split(fx, []byte("\n"))[:4] {
		f.Add(l)
	}
	f.Add([]byte("[" + string(bytes.SplitN(fx, []byte("\n"), 2)[0]) + "]"))
	f.Add([]byte(`{"eventType":"user.session.start","published":"2024-03-11T13:02:45Z","actor":{"type":"User","alternateId":"@"},"target":[{"type":"User"}],"request":{"ipChain":[{"ip":"::ffff:1.2.3.4%eth0"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		decodetest.Fuzz(t, NewDecoder(), data)
	})
}

// checkTextMatchesTree asserts that the one-pass path gives the event, or the reject,
// that the parsed-tree path gives for doc.
func checkTextMatchesTree(t *testing.T, doc []byte) {
	t.Helper()
	var p fastjson.Parser
	v, perr := p.ParseBytes(doc)
	d := NewDecoder()
	var e1, e2 event.Event
	reason1, err1 := d.fillText(&e1, doc)
	if errors.Is(err1, errTree) {
		if perr != nil {
			return // rejected as malformed on both paths
		}
		e1.ClearRaw()
		reason1, err1 = d.fill(&e1, v)
	} else if perr != nil {
		t.Fatalf("text path accepted what the parser rejects: %v", perr)
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
	for _, l := range bytes.Split(readFixture(f), []byte("\n")) {
		f.Add(l)
	}
	f.Add([]byte(`{"eventType":"x","published":null}`))
	f.Add([]byte(`{"eventType":"x","published":{"t":"2024-03-11T13:02:45Z"}}`))
	f.Add([]byte(`{"eventType":"x","published":"2024-03-11T13:02:45Z","target":[{"type":["User"],"alternateId":"a"},[{"type":"User","id":"i"}]],"request":[{"ipChain":[{"ip":["::1"]}]}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		checkTextMatchesTree(t, doc)
	})
}

func BenchmarkDecode(b *testing.B) {
	// A stream of ~1000 records, so per-stream setup (buffers) is amortized as in a real file.
	fx := bytes.Repeat(readFixture(b), 512)
	n := bytes.Count(fx, []byte("\n"))
	decodetest.Bench(b, NewDecoder(), fx, n)
}
