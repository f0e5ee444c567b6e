package cloudtrail

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"github.com/vigilsec/vigil/internal/cputime"
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

const fixture = "111122223333_CloudTrail_us-east-1_20240502T1205Z_a1b2c3.json"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func raw(e *event.Event, name string) []string {
	var out []string
	event.Lookup(name).Each(e, func(s string) bool { out = append(out, s); return true })
	return out
}

func TestSniff(t *testing.T) {
	file := readFixture(t, fixture)
	tests := []struct {
		name string
		head []byte
		want int
	}{
		{"records file", file, 90},
		{"records file cut by the head", file[:3000], 90},
		{"ndjson", readFixture(t, "records.ndjson"), 90},
		{"pretty", readFixture(t, "pretty.json"), 90},
		{"array of records", []byte(`[{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"GetObject"}]`), 90},
		{"empty records", []byte(`{"Records":[]}`), 0},
		{"records of something else", []byte(`{"Records":[{"eventSource":"aws:s3","s3":{}}]}`), 0},
		{"digest file", []byte(`{"awsAccountId":"111122223333","digestStartTime":"2024-05-02T11:00:00Z","logFiles":[]}`), 0},
		{"k8s audit", []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"get"}`), 0},
		{"garbage", []byte("\x00\x01\x02"), 0},
		{"empty", nil, 0},
	}
	for _, tt := range tests {
		if got := Sniff(tt.head); got != tt.want {
			t.Errorf("%s: Sniff = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestGolden(t *testing.T) {
	for _, name := range []string{fixture, "records.ndjson", "pretty.json"} {
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

func TestFixtureFacts(t *testing.T) {
	file := readFixture(t, fixture)
	s, err := decodetest.Decode(t, New(), fixture, file)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 12 || len(s.Rejects) != 0 {
		t.Fatalf("%d events, %d rejects; want 12, 0", len(s.Events), len(s.Rejects))
	}
	type want struct {
		user, effective, id, outcome, category, typ, ip, domain, instance string
	}
	wants := []want{
		{user: "alice", id: "AIDACKCEVSQ6C2EXAMPLE", outcome: "success", category: "authentication", typ: "start", ip: "203.0.113.10"},
		{user: "alice", id: "AIDACKCEVSQ6C2EXAMPLE", outcome: "failure", category: "authentication", typ: "denied,start", ip: "198.51.100.66"},
		{user: "root", id: "111122223333", outcome: "success", category: "authentication", typ: "start", ip: "192.0.2.200"},
		{user: "bob", effective: "awsreservedsso_administratoraccess_0123456789abcdef", id: "AROAEXAMPLEID1234567:bob@example.com", outcome: "success", category: "api,iam", typ: "creation,user", ip: "203.0.113.55"},
		{user: "bob", effective: "awsreservedsso_administratoraccess_0123456789abcdef", id: "AROAEXAMPLEID1234567:bob@example.com", outcome: "success", category: "api,iam", typ: "change,user", ip: "203.0.113.55"},
		{user: "ec2.amazonaws.com", outcome: "success", category: "api,authentication", typ: "info", domain: "ec2.amazonaws.com"},
		{user: "i-0a1b2c3d4e5f60718", effective: "web-tier-instance-role", id: "AROAEXAMPLEINSTROLE1:i-0a1b2c3d4e5f60718", outcome: "failure", category: "api", typ: "access,denied", ip: "198.51.100.23", instance: "i-0a1b2c3d4e5f60718"},
		{user: "i-0a1b2c3d4e5f60718", effective: "web-tier-instance-role", id: "AROAEXAMPLEINSTROLE1:i-0a1b2c3d4e5f60718", outcome: "success", category: "api", typ: "access", ip: "198.51.100.23", instance: "i-0a1b2c3d4e5f60718"},
		{user: "anonymous", outcome: "success", category: "api", typ: "access", ip: "185.220.101.4"},
		{user: "carol", effective: "idp-broker", id: "111122223333:carol", outcome: "success", category: "api", typ: "access", ip: "2001:db8::a11:5"},
		{user: "deploy-bot", id: "AIDAEXAMPLEDEPLOY01", outcome: "success", category: "api", typ: "end", ip: "198.51.100.23"},
		{user: "secretsmanager.amazonaws.com", outcome: "success", category: "api", typ: "info"},
	}
	for i, w := range wants {
		e := s.Events[i]
		ip := ""
		if a := e.IP(event.SourceIP); a.IsValid() {
			ip = a.String()
		}
		got := want{
			user: e.Str(event.UserName), effective: e.Str(event.UserEffectiveName), id: e.Str(event.UserID),
			outcome: e.Str(event.EventOutcome), category: strings.Join(e.Category.Names(), ","),
			typ: strings.Join(e.Type.Names(), ","), ip: ip, domain: e.Str(event.SourceDomain), instance: e.Str(event.CloudInstanceID),
		}
		if got != w {
			t.Errorf("record %d (%s):\n got %+v\nwant %+v", i, e.Str(event.EventAction), got, w)
		}
		// Each element of the Records array has its own offset.
		if o := e.Origin; o.Record != int64(i+1) || o.Line != 1 || !bytes.HasPrefix(file[o.Offset:], []byte(`{"eventVersion"`)) ||
			(i > 0 && o.Offset <= s.Events[i-1].Origin.Offset) {
			t.Errorf("record %d origin = %+v", i, e.Origin)
		}
	}
	e := s.Events[3]
	for f, w := range map[event.StrField]string{
		event.CloudProvider: "aws", event.CloudRegion: "us-east-1", event.CloudAccountID: "111122223333",
		event.CloudServiceName: "iam", event.EventProvider: "iam.amazonaws.com", event.EventAction: "CreateUser",
		event.EventID: "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e04", event.UserDomain: "example.com",
	} {
		if got := e.Str(f); got != w {
			t.Errorf("CreateUser %s = %q, want %q", f.Name(), got, w)
		}
	}
	if got := raw(e, "requestParameters.userName"); !slices.Equal(got, []string{"svc-backup2"}) {
		t.Errorf("requestParameters.userName = %q", got)
	}
	if got := raw(s.Events[4], "requestParameters.policyArn"); !slices.Equal(got, []string{"arn:aws:iam::aws:policy/AdministratorAccess"}) {
		t.Errorf("policyArn = %q", got)
	}
	if got := raw(s.Events[7], "resources.ARN"); len(got) != 2 {
		t.Errorf("resources.ARN = %q, want both", got)
	}
	if got := raw(s.Events[7], "additionalEventData.bytesTransferredOut"); !slices.Equal(got, []string{"48213"}) {
		t.Errorf("bytesTransferredOut = %q", got)
	}
	if got := s.Events[6].Str(event.ErrorMessage); !strings.Contains(got, "is not authorized to perform: secretsmanager:ListSecrets") {
		t.Errorf("error.message = %q", got)
	}
	if got := s.Events[11].Str(event.SourceAddress); got != "AWS Internal" || s.Events[11].Str(event.SourceDomain) != "" {
		t.Errorf("AWS Internal source: address %q domain %q", got, s.Events[11].Str(event.SourceDomain))
	}
	if got, want := s.Events[0].Timestamp, time.Date(2024, 5, 2, 8, 1, 12, 0, time.UTC); !got.Equal(want) {
		t.Errorf("time = %v", got)
	}
}

func TestIdentity(t *testing.T) {
	tests := []struct {
		name, json                    string
		user, id, effective, instance string
	}{
		{"iam user", `{"type":"IAMUser","principalId":"AIDA1","arn":"arn:aws:iam::1:user/alice","userName":"alice"}`, "alice", "AIDA1", "", ""},
		{"iam user without userName", `{"type":"IAMUser","principalId":"AIDA1","arn":"arn:aws:iam::1:user/ops/alice"}`, "alice", "AIDA1", "", ""},
		{"assumed role", `{"type":"AssumedRole","principalId":"AROA1:sess","arn":"arn:aws:sts::1:assumed-role/Admin/sess","sessionContext":{"sessionIssuer":{"userName":"Admin"}}}`, "sess", "AROA1:sess", "Admin", ""},
		{"assumed role without context", `{"type":"AssumedRole","principalId":"AROA1:sess","arn":"arn:aws:sts::1:assumed-role/Admin/sess"}`, "sess", "AROA1:sess", "Admin", ""},
		{"instance profile", `{"type":"AssumedRole","principalId":"AROA1:i-0317f6c6b66ae9c40","arn":"arn:aws:sts::1:assumed-role/Web/i-0317f6c6b66ae9c40","sessionContext":{"ec2RoleDelivery":"1.0","sessionIssuer":{"userName":"Web"}}}`, "i-0317f6c6b66ae9c40", "AROA1:i-0317f6c6b66ae9c40", "Web", "i-0317f6c6b66ae9c40"},
		{"root", `{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root"}`, "root", "111122223333", "", ""},
		{"aws service", `{"type":"AWSService","invokedBy":"cloudtrail.amazonaws.com"}`, "cloudtrail.amazonaws.com", "", "", ""},
		{"federated", `{"type":"FederatedUser","principalId":"1:carol","arn":"arn:aws:sts::1:federated-user/carol","sessionContext":{"sessionIssuer":{"userName":"broker"}}}`, "carol", "1:carol", "broker", ""},
		{"anonymous", `{"type":"AWSAccount","principalId":"","accountId":"ANONYMOUS_PRINCIPAL"}`, "anonymous", "", "", ""},
		{"other account", `{"type":"AWSAccount","principalId":"AIDA9","accountId":"444455556666"}`, "AIDA9", "AIDA9", "", ""},
		{"identity center", `{"type":"IdentityCenterUser","principalId":"p","userName":"dana"}`, "dana", "p", "", ""},
		{"unknown", `{"type":"Unknown","principalId":"x"}`, "x", "x", "", ""},
		{"saml", `{"type":"SAMLUser","principalId":"p","userName":"erin@corp.example"}`, "erin@corp.example", "p", "", ""},
	}
	for _, tt := range tests {
		v := fastjson.MustParse(tt.json)
		got := identity(v)
		if got.name != tt.user || got.id != tt.id || got.effective != tt.effective || got.instance != tt.instance {
			t.Errorf("%s: got %+v, want name %q id %q effective %q instance %q", tt.name, got, tt.user, tt.id, tt.effective, tt.instance)
		}
	}
	if got := identity(nil); got != (principal{}) {
		t.Errorf("nil identity = %+v", got)
	}
}

func TestOutcome(t *testing.T) {
	base := `"eventVersion":"1.09","eventTime":"2024-05-02T08:00:00Z","eventSource":"s3.amazonaws.com","awsRegion":"us-east-1","userIdentity":{"type":"Root"}`
	tests := []struct {
		name, record, outcome, message string
	}{
		{"no error", `{` + base + `,"eventName":"GetObject"}`, "success", ""},
		{"error code and message", `{` + base + `,"eventName":"GetObject","errorCode":"AccessDenied","errorMessage":"Access Denied"}`, "failure", "Access Denied"},
		{"error code only", `{` + base + `,"eventName":"GetObject","errorCode":"NoSuchKey"}`, "failure", "NoSuchKey"},
		{"console failure", `{` + base + `,"eventName":"ConsoleLogin","responseElements":{"ConsoleLogin":"Failure"}}`, "failure", ""},
		{"console success", `{` + base + `,"eventName":"ConsoleLogin","responseElements":{"ConsoleLogin":"Success"}}`, "success", ""},
	}
	for _, tt := range tests {
		s, err := decodetest.Decode(t, New(), "o.json", []byte(tt.record))
		if err != nil || len(s.Events) != 1 {
			t.Fatalf("%s: err %v, rejects %v", tt.name, err, s.Rejects)
		}
		e := s.Events[0]
		if e.Str(event.EventOutcome) != tt.outcome || e.Str(event.ErrorMessage) != tt.message {
			t.Errorf("%s: outcome %q message %q, want %q %q", tt.name, e.Str(event.EventOutcome), e.Str(event.ErrorMessage), tt.outcome, tt.message)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		source, name, eventType, errCode string
		failed                           bool
		category, typ                    string
	}{
		{"iam.amazonaws.com", "CreateAccessKey", "AwsApiCall", "", false, "api,iam", "creation"},
		{"iam.amazonaws.com", "AddUserToGroup", "AwsApiCall", "", false, "api,iam", "change,group"},
		{"iam.amazonaws.com", "ListUsers", "AwsApiCall", "", false, "api,iam", "access,info,user"},
		{"iam.amazonaws.com", "DeleteRolePolicy", "AwsApiCall", "", false, "api,iam", "deletion"},
		{"sts.amazonaws.com", "GetSessionToken", "AwsApiCall", "", false, "api,authentication", "access"},
		{"sts.amazonaws.com", "AssumeRoleWithSAML", "AwsApiCall", "", false, "api,authentication", "info"},
		{"signin.amazonaws.com", "ConsoleLogin", "AwsConsoleSignIn", "", true, "authentication", "denied,start"},
		{"ec2.amazonaws.com", "RunInstances", "AwsApiCall", "Client.UnauthorizedOperation", true, "api", "creation,denied"},
		{"ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", "AwsApiCall", "", false, "api", "change"},
		{"s3.amazonaws.com", "PutBucketPolicy", "AwsApiCall", "", false, "api", "change"},
		{"s3.amazonaws.com", "Settle", "AwsApiCall", "", false, "api", "info"}, // "Set" must be a whole word
		{"ec2.amazonaws.com", "StopInstances", "AwsApiCall", "", false, "api", "end"},
	}
	for _, tt := range tests {
		c, ty := classify(tt.source, tt.name, tt.eventType, tt.errCode, tt.failed)
		if got := strings.Join(c.Names(), ","); got != tt.category {
			t.Errorf("%s: category %s, want %s", tt.name, got, tt.category)
		}
		if got := strings.Join(ty.Names(), ","); got != tt.typ {
			t.Errorf("%s: type %s, want %s", tt.name, got, tt.typ)
		}
	}
}

// TestCorpusS3Exfiltration checks OTRF's ec2_proxy_s3_exfiltration: 103 records that
// went through Logstash (one per line, "@timestamp" and no eventTime).
func TestCorpusS3Exfiltration(t *testing.T) {
	path := decodetest.Corpora(t, "cloud/aws/ec2_proxy_s3_exfiltration.zip")
	data := zipMember(t, path, "ec2_proxy_s3_exfiltration_2020-09-14011940.json")
	if Sniff(data[:min(len(data), decode.SniffSize)]) != 90 {
		t.Errorf("corpus not sniffed as CloudTrail")
	}
	s, err := decodetest.Decode(t, New(), "ec2_proxy_s3_exfiltration.zip!ec2_proxy_s3_exfiltration_2020-09-14011940.json", data)
	if err != nil {
		t.Fatal(err)
	}
	// unzip -p ec2_proxy_s3_exfiltration.zip | wc -l  -> 103
	if len(s.Events) != 103 || len(s.Rejects) != 0 {
		t.Fatalf("%d events, %d rejects (%v); want 103, 0", len(s.Events), len(s.Rejects), s.Rejects)
	}
	names := map[string]int{}
	users := map[string]int{}
	types := map[string]int{}
	for _, e := range s.Events {
		names[e.Str(event.EventAction)]++
		users[e.Str(event.UserName)]++
		ty, _ := event.Lookup("userIdentity.type").String(e)
		types[ty]++
		if e.Str(event.CloudProvider) != "aws" || e.Str(event.CloudRegion) != "us-east-1" || e.Str(event.CloudAccountID) != "123456789123" {
			t.Fatalf("cloud fields of %s: %q %q %q", e.Str(event.EventID), e.Str(event.CloudProvider), e.Str(event.CloudRegion), e.Str(event.CloudAccountID))
		}
	}
	var got []string
	for n := range names {
		got = append(got, n)
	}
	sort.Strings(got)
	want := []string{"AssumeRole", "DescribeAccountAttributes", "DescribeAddresses", "DescribeAlarms",
		"DescribeAvailabilityZones", "DescribeClassicLinkInstances", "DescribeHosts", "DescribeInstanceAttribute",
		"DescribeInstanceCreditSpecifications", "DescribeInstanceStatus", "DescribeInstanceTypes", "DescribeInstances",
		"DescribeKeyPairs", "DescribeLaunchTemplates", "DescribeLoadBalancers", "DescribePlacementGroups",
		"DescribeSecurityGroups", "DescribeSnapshots", "DescribeTags", "DescribeVolumeStatus", "DescribeVolumes",
		"DescribeVolumesModifications", "GetEnrollmentStatus", "GetObject", "ListBuckets", "ListObjects"}
	if !slices.Equal(got, want) {
		t.Errorf("eventNames:\n got %q\nwant %q", got, want)
	}
	if names["DescribeInstances"] != 11 || names["ListObjects"] != 7 || names["GetObject"] != 2 || names["AssumeRole"] != 5 {
		t.Errorf("counts: %v", names)
	}
	if types["IAMUser"] != 87 || types["AssumedRole"] != 11 || types["AWSService"] != 5 {
		t.Errorf("userIdentity types: %v", types)
	}
	// pedro: 87 console calls; the instance role session: 11 S3 calls; EC2 assuming the role: 5.
	if users["pedro"] != 87 || users["i-0317f6c6b66ae9c40"] != 11 || users["ec2.amazonaws.com"] != 5 {
		t.Errorf("users: %v", users)
	}

	first := s.Events[0]
	if first.Str(event.EventAction) != "DescribeInstanceTypes" || first.Str(event.UserName) != "pedro" ||
		first.IP(event.SourceIP).String() != "1.2.3.4" || first.Str(event.UserAgentOriginal) != "console.ec2.amazonaws.com" ||
		first.Str(event.UserID) != "AIDAICAK2CN5MGHIIDIHA" || first.Str(event.EventOutcome) != "success" ||
		first.Str(event.EventID) != "fd4f1042-c7f6-4107-a6ee-d841d92596e7" {
		t.Errorf("first record: %s", first.AppendJSON(nil))
	}
	if got, want := first.Timestamp, time.Date(2020, 9, 14, 0, 44, 23, 0, time.UTC); !got.Equal(want) {
		t.Errorf("first @timestamp = %v, want %v", got, want)
	}
	if got := raw(first, "requestParameters.DescribeInstanceTypesRequest.MaxResults"); !slices.Equal(got, []string{"100"}) {
		t.Errorf("MaxResults = %q", got)
	}
	if got := raw(first, "@version"); !slices.Equal(got, []string{"1"}) {
		t.Errorf("@version = %q", got)
	}
	last := s.Events[102]
	if got, want := last.Timestamp, time.Date(2020, 9, 14, 1, 13, 20, 0, time.UTC); !got.Equal(want) {
		t.Errorf("last @timestamp = %v, want %v", got, want)
	}
	// The exfiltration itself: GetObject of ring.txt by the WAF instance role.
	var get *event.Event
	for _, e := range s.Events {
		if e.Str(event.EventAction) == "GetObject" {
			get = e
			break
		}
	}
	if get.Str(event.UserEffectiveName) != "mordornginxstack-bankingwafrole-9s3e0uae1mm0" ||
		get.Str(event.CloudInstanceID) != "i-0317f6c6b66ae9c40" || get.Str(event.CloudServiceName) != "s3" {
		t.Errorf("GetObject identity: %s", get.AppendJSON(nil))
	}
	if got := raw(get, "requestParameters.key"); !slices.Equal(got, []string{"ring.txt"}) {
		t.Errorf("GetObject key = %q", got)
	}
	if got := raw(get, "requestParameters.bucketName"); !slices.Equal(got, []string{"mordors3stack-s3bucket-llp2yingx64a"}) {
		t.Errorf("GetObject bucket = %q", got)
	}
	// EC2 assuming the instance role: the source is a service name, not an address.
	for _, e := range s.Events {
		if e.Str(event.EventAction) == "AssumeRole" {
			if e.Str(event.SourceDomain) != "ec2.amazonaws.com" || e.IP(event.SourceIP).IsValid() {
				t.Errorf("AssumeRole source: %s", e.AppendJSON(nil))
			}
			break
		}
	}
}

func zipMember(t *testing.T, path, name string) []byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f, err := zr.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bigFile builds a delivered-style Records file of n copies of the fixture's records.
func bigFile(t testing.TB, n int) []byte {
	v := fastjson.MustParseBytes(readFixture(t, fixture))
	recs := v.GetArray("Records")
	var b []byte
	b = append(b, `{"Records":[`...)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = recs[i%len(recs)].MarshalTo(b)
	}
	return append(b, "]}"...)
}

func TestLargeAndConcatenatedFiles(t *testing.T) {
	big := bigFile(t, 3000) // ~3.5 MB on one line: far past the line limit
	if len(big) < 2*decode.DefaultMaxLine {
		t.Fatalf("test file too small: %d", len(big))
	}
	in := append(append(append([]byte{}, big...), '\n'), big...)
	s, err := decodetest.Decode(t, New(), "big.json", in)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Events) != 6000 || len(s.Rejects) != 0 {
		t.Fatalf("%d events, rejects %v", len(s.Events), s.Rejects)
	}
	if o := s.Events[3000].Origin; o.Offset != int64(len(big)+1+len(`{"Records":[`)) || o.Line != 2 || o.Record != 1 {
		t.Errorf("second file origin = %+v", o)
	}
	// With a byte-order mark.
	s, err = decodetest.Decode(t, New(), "bom.json", append([]byte("\xEF\xBB\xBF"), big...))
	if err != nil || len(s.Events) != 3000 || len(s.Rejects) != 0 {
		t.Fatalf("BOM: err %v, %d events, rejects %v", err, len(s.Events), s.Rejects)
	}
	// MaxRecord bounds each record, not the file: larger records are rejected alone.
	s = &decodetest.Sink{}
	err = New().Decode(context.Background(), decode.Input{R: bytes.NewReader(big), Source: "limit.json",
		Limits: decode.Limits{MaxRecord: 1000}}, s)
	if err != nil || len(s.Events) == 0 || len(s.Events)+len(s.Rejects) != 3000 || s.Reasons()[decode.ReasonRecordTooLarge] != len(s.Rejects) {
		t.Fatalf("limit: err %v, %d events, reasons %v", err, len(s.Events), s.Reasons())
	}
	if r := s.Rejects[0]; !strings.Contains(r.Error(), "exceeds the 1000-byte limit") || !strings.Contains(r.Error(), "Records[") {
		t.Errorf("limit reject: %v", r)
	}
	for _, e := range s.Events {
		if e.Origin.Offset <= 0 {
			t.Fatalf("origin %+v", e.Origin)
		}
	}
}

func TestBadInput(t *testing.T) {
	good := `{"eventVersion":"1.09","eventTime":"2024-05-02T08:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"10.0.0.1","userIdentity":{"type":"Root"},"eventID":"good"}`
	tests := []struct {
		name   string
		input  string
		reason string
		detail string
		events int
	}{
		{"truncated line", good + "\n" + `{"eventVersion":"1.09","eventName":"Get` + "\n" + good, decode.ReasonMalformed, "parsing", 2},
		{"garbage line", good + "\nnot json at all\n" + good, decode.ReasonMalformed, "does not start a JSON object", 2},
		{"records not an array", `{"Records":{"eventName":"x"}}` + "\n" + good, decode.ReasonMalformed, "Records is a object, not an array", 1},
		{"records element not an object", `{"Records":[` + good + `,42,` + good + `]}`, decode.ReasonMalformed, "Records[1] is a number, not an object", 2},
		{"records element without time", `{"Records":[` + good + `,{"eventName":"x"}]}`, decode.ReasonBadTimestamp, "Records[1]: no eventTime", 1},
		{"bad time", good + "\n" + `{"eventName":"x","eventTime":"2024-13-45"}` + "\n" + good, decode.ReasonBadTimestamp, "parsing eventTime", 2},
		{"not cloudtrail", good + "\n" + `{"awsAccountId":"1","digestStartTime":"x"}` + "\n" + good, decode.ReasonUnsupported, "neither", 2},
		{"truncated records file", `{"Records":[` + good + `,` + good[:50], decode.ReasonTruncated, "ends inside", 1},
		{"records element is an array", `{"Records":[` + good + `,[1,{"a":"]"}],` + good + `]}`, decode.ReasonMalformed, "Records[1] is a array", 2},
		{"records element is a string", `{"Records":[` + good + `,"x\"}",` + good + `]}`, decode.ReasonMalformed, "Records[1] is a string", 2},
		{"records element malformed", `{"Records":[` + good + `,{"eventTime":"2024-05-02T08:00:00Z",,},` + good + `]}`, decode.ReasonMalformed, "parsing Records[1]", 2},
		{"garbage after a records file", `{"Records":[` + good + `]}` + "\nxyz\n" + `{"Records":[` + good + `]}`, decode.ReasonMalformed, "outside a JSON object", 2},
		{"records key later", `{"x":1,"Records":[` + good + `,7]}`, decode.ReasonMalformed, "Records[1] is a number", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := decodetest.Decode(t, New(), "bad.json", []byte(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Rejects) != 1 || s.Rejects[0].Reason != tt.reason || !strings.Contains(s.Rejects[0].Error(), tt.detail) {
				t.Fatalf("rejects = %v, want one %s containing %q", s.Rejects, tt.reason, tt.detail)
			}
			if len(s.Events) != tt.events {
				t.Fatalf("%d events, want %d", len(s.Events), tt.events)
			}
			for _, e := range s.Events {
				if e.Str(event.EventID) != "good" {
					t.Errorf("unexpected event %s", e.AppendJSON(nil))
				}
			}
		})
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := New().Decode(ctx, decode.Input{R: bytes.NewReader(readFixture(t, fixture)), Source: "x"}, &decodetest.Sink{})
	if err == nil {
		t.Fatal("no error after cancel")
	}
}

func FuzzDecodeCloudTrail(f *testing.F) {
	for _, name := range []string{fixture, "records.ndjson", "pretty.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"Records":[1,"x",null,{"eventTime":"2024-01-01T00:00:00Z","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/"}}]}`))
	f.Add([]byte("\xEF\xBB\xBF {\"Records\":[{\"@timestamp\":\"2020-09-14T00:44:23.000Z\"}]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		decodetest.Fuzz(t, New(), data)
	})
}

func BenchmarkDecodeCloudTrail(b *testing.B) {
	file := bigFile(b, 4000)
	recs := fastjson.MustParseBytes(file).GetArray("Records")
	var lines []byte
	for _, r := range recs {
		lines = r.MarshalTo(lines)
		lines = append(lines, '\n')
	}
	for _, bc := range []struct {
		name string
		data []byte
	}{{"records-file", file}, {"ndjson", lines}} {
		b.Run(bc.name, func(b *testing.B) {
			d := New()
			sink := &countSink{}
			b.SetBytes(int64(len(bc.data)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cputime.Process()
			for i := 0; i < b.N; i++ {
				if err := d.Decode(context.Background(), decode.Input{R: bytes.NewReader(bc.data), Source: "bench"}, sink); err != nil {
					b.Fatal(err)
				}
			}
			n := float64(len(recs)) * float64(b.N)
			b.ReportMetric(n/b.Elapsed().Seconds(), "events/s")
			if cpu := cputime.Process() - cpu0; cpu > 0 {
				b.ReportMetric(n/cpu.Seconds(), "events/cpu-s")
			}
			if sink.rejects > 0 {
				b.Fatalf("%d rejects", sink.rejects)
			}
		})
	}
}

// BenchmarkDecodeCloudTrailCorpus decodes the real records of ec2_proxy_s3_exfiltration.
func BenchmarkDecodeCloudTrailCorpus(b *testing.B) {
	path := decodetest.Corpora(b, "cloud/aws/ec2_proxy_s3_exfiltration.zip")
	zr, err := zip.OpenReader(path)
	if err != nil {
		b.Fatal(err)
	}
	f, err := zr.Open("ec2_proxy_s3_exfiltration_2020-09-14011940.json")
	if err != nil {
		b.Fatal(err)
	}
	one, err := io.ReadAll(f)
	f.Close()
	zr.Close()
	if err != nil {
		b.Fatal(err)
	}
	var data []byte
	for len(data) < 4<<20 {
		data = append(data, one...)
	}
	n := float64(bytes.Count(data, []byte("\n")))
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
	b.ReportMetric(n*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if cpu := cputime.Process() - cpu0; cpu > 0 {
		b.ReportMetric(n*float64(b.N)/cpu.Seconds(), "events/cpu-s")
	}
	if sink.rejects > 0 {
		b.Fatalf("%d rejects", sink.rejects)
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

// TestFramerEscapesAcrossChunks moves escaped quotes and backslashes across the
// framer's 64 KiB read boundary.
func TestFramerEscapesAcrossChunks(t *testing.T) {
	const tail = `x\"}\\\"],\"{y\\`                       // x"}\"],"{y\ once decoded
	for pad := headSize - 110; pad < headSize-50; pad++ { // the tail crosses offset 65536
		rec := `{"eventTime":"2024-05-02T08:00:00Z","eventName":"A","pad":"` + strings.Repeat("a", pad) + `","v":"` + tail + `"}`
		in := `{"Records":[` + rec + `,{"eventTime":"2024-05-02T08:00:01Z","eventName":"B"}]}`
		s, err := decodetest.Decode(t, New(), "esc.json", []byte(in))
		if err != nil || len(s.Rejects) != 0 || len(s.Events) != 2 {
			t.Fatalf("pad %d: err %v, rejects %v, %d events", pad, err, s.Rejects, len(s.Events))
		}
		if got := raw(s.Events[0], "v"); !slices.Equal(got, []string{`x"}\"],"{y\`}) {
			t.Fatalf("pad %d: v = %q", pad, got)
		}
		if s.Events[1].Str(event.EventAction) != "B" || s.Events[1].Origin.Offset != int64(len(`{"Records":[`)+len(rec)+1) {
			t.Fatalf("pad %d: second record %+v", pad, s.Events[1].Origin)
		}
	}
}
