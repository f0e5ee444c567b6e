package weblog

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

const (
	iisCorpus    = "evtx-attack-samples/Command and Control/Tunna_rdp_tunnel_IIS.log"
	apacheCorpus = "evtx-attack-samples/Command and Control/web_attack_and_isp_webshell_localhost_access_log.txt"
)

// raw returns the values of the raw field name.
func raw(e *event.Event, name string) []string {
	k := event.MakeKey(name)
	var out []string
	for _, r := range e.Raw {
		if r.Key == k {
			out = append(out, r.Value)
		}
	}
	return out
}

// rawOne returns the single value of the raw field name, failing otherwise.
func rawOne(t *testing.T, e *event.Event, name string) string {
	t.Helper()
	v := raw(e, name)
	if len(v) != 1 {
		t.Fatalf("line %d: raw %q = %q, want one value", e.Origin.Line, name, v)
	}
	return v[0]
}

func num(e *event.Event, f event.NumField) int64 {
	n, ok := e.Num(f)
	if !ok {
		return -1
	}
	return n
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// headOf returns the first n lines of the corpus file rel (with their terminators).
func headOf(t *testing.T, rel string, from, n int) []byte {
	t.Helper()
	f, err := os.Open(decodetest.Corpora(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []byte
	br := bufio.NewReader(f)
	for i := 1; i < from+n; i++ {
		l, err := br.ReadBytes('\n')
		if i >= from {
			out = append(out, l...)
		}
		if err != nil {
			break
		}
	}
	return out
}

func TestW3CCorpusTunna(t *testing.T) {
	s, err := decodetest.DecodeFile(t, NewW3CDecoder(), decodetest.Corpora(t, iisCorpus))
	if err != nil {
		t.Fatal(err)
	}
	// 4,308 lines = 2 headers of 4 directives + 1 free comment + 1 blank line + 4,298
	// data lines (awk: !/^#/ && NF>0 gives 4298 lines, all of 15 fields).
	if len(s.Events) != 4298 || len(s.Rejects) != 0 {
		t.Fatalf("got %d events, rejects %v; want 4298 and none", len(s.Events), s.Reasons())
	}
	e := s.Events[0]
	if !e.Timestamp.Equal(ts("2019-09-03T10:13:36Z")) || e.Origin.Line != 7 || e.Origin.Format != FormatW3C {
		t.Errorf("first event at %v line %d", e.Timestamp, e.Origin.Line)
	}
	checks := []struct{ got, want string }{
		{e.Str(event.HTTPRequestMethod), "GET"},
		{e.Str(event.URLPath), "/erp/conn.aspx"},
		{e.Str(event.URLQuery), "proxy&port=3389&ip=127.0.0.1"},
		{e.Str(event.URLOriginal), "/erp/conn.aspx?proxy&port=3389&ip=127.0.0.1"},
		{e.IP(event.SourceIP).String(), "10.0.2.17"},
		{e.IP(event.DestinationIP).String(), "10.0.2.15"},
		{e.Str(event.EventOutcome), "success"},
		{e.Str(event.EventDataset), "iis.access"},
		{e.Str(event.Message), "2019-09-03 10:13:36 10.0.2.15 GET /erp/conn.aspx proxy&port=3389&ip=127.0.0.1 80 - 10.0.2.17 - - 200 0 0 7"},
		{rawOne(t, e, "cs-uri-query"), "proxy&port=3389&ip=127.0.0.1"},
		{rawOne(t, e, "c-ip"), "10.0.2.17"},
		{rawOne(t, e, "sc-win32-status"), "0"},
	}
	for i, c := range checks {
		if c.got != c.want {
			t.Errorf("check %d: got %q, want %q", i, c.got, c.want)
		}
	}
	if num(e, event.HTTPResponseStatusCode) != 200 || num(e, event.DestinationPort) != 80 || num(e, event.EventDurationNS) != 7e6 {
		t.Errorf("status %d port %d duration %d", num(e, event.HTTPResponseStatusCode), num(e, event.DestinationPort), num(e, event.EventDurationNS))
	}
	if raw(e, "cs-username") != nil || e.Str(event.UserName) != "" || e.Str(event.UserAgentOriginal) != "" {
		t.Errorf("'-' values must stay absent: user %q ua %q", e.Str(event.UserName), e.Str(event.UserAgentOriginal))
	}
	// Counts cross-checked with awk on the data lines ($4 is cs-method).
	methods := map[string]int{}
	tunna := 0
	for _, e := range s.Events {
		methods[e.Str(event.HTTPRequestMethod)]++
		if strings.HasPrefix(e.Str(event.URLQuery), "proxy&port=") {
			tunna++
		}
		if e.IP(event.SourceIP).String() != "10.0.2.17" || e.Str(event.URLPath) != "/erp/conn.aspx" {
			t.Fatalf("line %d: unexpected client %v path %q", e.Origin.Line, e.IP(event.SourceIP), e.Str(event.URLPath))
		}
	}
	if methods["GET"] != 2561 || methods["POST"] != 1737 {
		t.Errorf("methods %v, want GET 2561 POST 1737", methods)
	}
	if tunna == 0 {
		t.Error("no Tunna proxy&port= request found")
	}
	// The second header block (lines 2601-2604) starts a new plan; the line after it decodes.
	for _, e := range s.Events {
		if e.Origin.Line == 2605 {
			if !e.Timestamp.After(ts("2019-09-03T11:00:00Z")) {
				t.Errorf("line 2605 at %v", e.Timestamp)
			}
			break
		}
		if e.Origin.Line > 2605 {
			t.Fatal("line 2605 not decoded")
		}
	}
	last := s.Events[len(s.Events)-1]
	if !last.Timestamp.Equal(ts("2019-09-03T11:08:51Z")) || last.Origin.Line != 4308 {
		t.Errorf("last event %v line %d", last.Timestamp, last.Origin.Line)
	}
}

func TestAccessCorpusTomcat(t *testing.T) {
	s, err := decodetest.DecodeFile(t, NewAccessDecoder(), decodetest.Corpora(t, apacheCorpus))
	if err != nil {
		t.Fatal(err)
	}
	// 2,661 lines, every one matching the CLF shape (grep -av for the full pattern finds none).
	if len(s.Events) != 2661 || len(s.Rejects) != 0 {
		t.Fatalf("got %d events, rejects %v; want 2661 and none", len(s.Events), s.Reasons())
	}
	e := s.Events[0]
	if !e.Timestamp.Equal(ts("2018-07-11T05:41:28Z")) || e.Origin.Line != 1 {
		t.Errorf("first event %v line %d", e.Timestamp, e.Origin.Line)
	}
	if e.IP(event.SourceIP).String() != "192.168.105.83" || e.Str(event.HTTPRequestMethod) != "GET" ||
		e.Str(event.URLOriginal) != "/" || e.Str(event.HTTPVersion) != "1.1" ||
		num(e, event.HTTPResponseStatusCode) != 200 || num(e, event.HTTPResponseBodyBytes) != 11444 ||
		e.Str(event.EventDataset) != "apache.access" || e.Str(event.EventOutcome) != "success" {
		t.Errorf("first event: %s", e.AppendJSON(nil))
	}
	byLine := map[int64]*event.Event{}
	status := map[int64]int{}
	var bytesSum int64
	withBytes, withMethod, admin := 0, 0, 0
	for _, e := range s.Events {
		byLine[e.Origin.Line] = e
		status[num(e, event.HTTPResponseStatusCode)]++
		if n, ok := e.Num(event.HTTPResponseBodyBytes); ok {
			bytesSum += n
			withBytes++
		}
		if e.Str(event.HTTPRequestMethod) != "" {
			withMethod++
		}
		if e.Str(event.UserName) == "admin" {
			admin++
		}
	}
	// awk '{print $(NF-1)}' | sort | uniq -c
	wantStatus := map[int64]int{101: 1, 200: 981, 302: 15, 400: 154, 401: 8, 403: 2, 404: 1484, 405: 2, 500: 6, 501: 2, 505: 6}
	for k, v := range wantStatus {
		if status[k] != v {
			t.Errorf("status %d: %d events, want %d", k, status[k], v)
		}
	}
	// tr -d '\r' | awk '$NF!="-"{s+=$NF; n++}'
	if bytesSum != 12392083 || withBytes != 2472 {
		t.Errorf("bytes: sum %d over %d events, want 12392083 over 2472", bytesSum, withBytes)
	}
	// 2,629 "METHOD target HTTP/x" lines without a quote inside, 2 with a raw quote
	// (postdata="><script>), 4 HTTP/0.9 "GET /index.jsp " lines.
	if withMethod != 2635 {
		t.Errorf("%d events with a method, want 2635", withMethod)
	}
	if admin != 37 { // awk '$3=="admin"'
		t.Errorf("%d events of user admin, want 37", admin)
	}
	// Line 26: Tomcat logged an epoch-zero time for a connection that sent no request.
	if e := byLine[26]; !e.Timestamp.Equal(ts("1970-01-01T00:00:00Z")) || raw(e, "request") != nil {
		t.Errorf("line 26: %s", e.AppendJSON(nil))
	}
	// Line 27: a TLS ClientHello sent to the HTTP port, logged raw: kept, nothing parsed.
	if e := byLine[27]; e.Str(event.HTTPRequestMethod) != "" || !strings.HasPrefix(rawOne(t, e, "request"), "\x16\x03\x01") ||
		num(e, event.HTTPResponseStatusCode) != 400 {
		t.Errorf("line 27: %s", e.AppendJSON(nil))
	}
	// An unescaped quote inside the request does not end it.
	found := false
	for _, e := range s.Events {
		if e.Str(event.URLOriginal) == `/WebID/IISWebAgentIF.dll?postdata="><script>foo</script>` {
			found = num(e, event.HTTPResponseStatusCode) == 404 && e.Str(event.URLQuery) == `postdata="><script>foo</script>`
			break
		}
	}
	if !found {
		t.Error("request with a raw quote not split right")
	}
	if e := byLine[2661]; e.Str(event.UserName) != "admin" || e.Str(event.URLPath) != "/host-manager/html" ||
		len(e.Related.User) != 1 || e.Related.User[0] != "admin" {
		t.Errorf("last line: %s", e.AppendJSON(nil))
	}
}

func TestGolden(t *testing.T) {
	cases := []struct {
		name string
		dec  decode.Decoder
		file string
	}{
		{"nginx_combined", NewAccessDecoder(), "nginx_combined.log"},
		{"vhost_combined", NewAccessDecoder(), "vhost_combined.log"},
		{"common", NewAccessDecoder(), "common.log"},
		{"iis_fields_change", NewW3CDecoder(), "iis_fields_change.log"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := decodetest.DecodeFile(t, c.dec, "testdata/"+c.file)
			if err != nil {
				t.Fatal(err)
			}
			decodetest.Golden(t, c.name, s.JSONL())
		})
	}
	// Excerpts of the corpora, read from the corpora at test time (never copied here).
	t.Run("tunna_excerpt", func(t *testing.T) {
		s, err := decodetest.Decode(t, NewW3CDecoder(), "tunna_excerpt", headOf(t, iisCorpus, 1, 16))
		if err != nil {
			t.Fatal(err)
		}
		decodetest.Golden(t, "tunna_excerpt", s.JSONL())
	})
	t.Run("tomcat_excerpt", func(t *testing.T) {
		s, err := decodetest.Decode(t, NewAccessDecoder(), "tomcat_excerpt", headOf(t, apacheCorpus, 20, 15))
		if err != nil {
			t.Fatal(err)
		}
		decodetest.Golden(t, "tomcat_excerpt", s.JSONL())
	})
}

func TestAccessFixtures(t *testing.T) {
	s, err := decodetest.DecodeFile(t, NewAccessDecoder(), "testdata/nginx_combined.log")
	if err != nil || len(s.Events) != 10 || len(s.Rejects) != 0 {
		t.Fatalf("nginx: %d events, %v, %v", len(s.Events), s.Reasons(), err)
	}
	ev := s.Events
	if ev[0].IP(event.SourceIP).String() != "2001:db8:85a3::8a2e:370:7334" || ev[1].IP(event.SourceIP).String() != "::1" {
		t.Errorf("IPv6 clients: %v %v", ev[0].IP(event.SourceIP), ev[1].IP(event.SourceIP))
	}
	if got := ev[2].Str(event.URLQuery); got != `q=\x22%3E%3Cscript%3Ealert(1)%3C/script%3E` {
		t.Errorf("nginx-escaped query kept as written: %q", got)
	}
	if ev[3].Str(event.HTTPRequestMethod) != "" || rawOne(t, ev[3], "request") != `\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03\xB4` {
		t.Errorf("TLS handshake: %s", ev[3].AppendJSON(nil))
	}
	if raw(ev[4], "request") != nil || raw(ev[4], "agent") != nil || num(ev[4], event.HTTPResponseBodyBytes) != 0 {
		t.Errorf(`"-" request: %s`, ev[4].AppendJSON(nil))
	}
	if !ev[5].Timestamp.Equal(ts("2023-10-10T13:57:10Z")) || ev[5].Str(event.UserAgentOriginal) != `Mozilla/5.0 \x22evil\x22 (compatible)` {
		t.Errorf("-0700 zone / escaped UA: %v %q", ev[5].Timestamp, ev[5].Str(event.UserAgentOriginal))
	}
	if !ev[6].Timestamp.Equal(ts("2023-10-10T14:02:00Z")) || ev[6].Str(event.UserName) != "alice" || ev[6].Str(event.HTTPVersion) != "2.0" {
		t.Errorf("+0200 / user: %s", ev[6].AppendJSON(nil))
	}
	if ev[7].Str(event.URLDomain) != "proxy-target.example" || ev[7].Str(event.URLScheme) != "http" || ev[7].Str(event.URLPath) != "/path" || ev[7].Str(event.URLQuery) != "x=1" {
		t.Errorf("absolute URI: %s", ev[7].AppendJSON(nil))
	}
	if ev[8].Str(event.HTTPRequestMethod) != "SSTP_DUPLEX_POST" || ev[9].Str(event.HTTPRequestMethod) != "" {
		t.Errorf("odd methods: %q %q", ev[8].Str(event.HTTPRequestMethod), ev[9].Str(event.HTTPRequestMethod))
	}

	s, err = decodetest.DecodeFile(t, NewAccessDecoder(), "testdata/vhost_combined.log")
	if err != nil || len(s.Events) != 6 || len(s.Rejects) != 0 {
		t.Fatalf("vhost: %d events, %v, %v", len(s.Events), s.Reasons(), err)
	}
	ev = s.Events
	if ev[0].Str(event.DestinationDomain) != "www.example.com" || num(ev[0], event.DestinationPort) != 443 ||
		rawOne(t, ev[0], "vhost") != "www.example.com" || rawOne(t, ev[0], "s-port") != "443" ||
		ev[0].IP(event.SourceIP).String() != "203.0.113.7" {
		t.Errorf("vhost: %s", ev[0].AppendJSON(nil))
	}
	if got := ev[1].Str(event.UserAgentOriginal); got != `() { :; }; echo; /bin/bash -c \"cat /etc/passwd\"` {
		t.Errorf("escaped quotes in UA: %q", got)
	}
	if ev[2].Str(event.URLPath) != `/a\"b.html` || ev[2].Str(event.HTTPRequestReferrer) != `http://www.example.com/\"x\"` || ev[2].Str(event.UserAgentOriginal) != "Mozilla/5.0" {
		t.Errorf("escaped quotes in request/referer: %s", ev[2].AppendJSON(nil))
	}
	if ev[3].Str(event.UserName) != "jdoe" || ev[3].Str(event.UserDomain) != "corp.example" || num(ev[3], event.HTTPResponseStatusCode) != 207 {
		t.Errorf("user@domain: %s", ev[3].AppendJSON(nil))
	}
	if _, ok := ev[4].Num(event.HTTPResponseBodyBytes); ok || ev[4].Str(event.HTTPVersion) != "1.0" {
		t.Errorf(`"-" size: %s`, ev[4].AppendJSON(nil))
	}
	if e := ev[5]; e.IP(event.DestinationIP).String() != "2001:db8::443" || num(e, event.DestinationPort) != 8443 ||
		e.IP(event.SourceIP).String() != "2001:db8::7" || !e.Timestamp.Equal(ts("2018-07-11T06:02:00Z")) {
		t.Errorf("bracketed IPv6 vhost: %s", e.AppendJSON(nil))
	}
	// Sigma webserver taxonomy aliases.
	if rawOne(t, ev[0], "cs-uri-query") != "/index.php?id=1%27%20OR%201=1--" || rawOne(t, ev[0], "cs-uri-stem") != "/index.php" ||
		rawOne(t, ev[0], "cs-method") != "GET" || rawOne(t, ev[0], "sc-status") != "200" || rawOne(t, ev[0], "c-ip") != "203.0.113.7" ||
		!strings.Contains(rawOne(t, ev[0], "cs-user-agent"), "Nmap Scripting Engine") {
		t.Errorf("sigma aliases: %s", ev[0].AppendJSON(nil))
	}
}

func TestW3CFixture(t *testing.T) {
	s, err := decodetest.DecodeFile(t, NewW3CDecoder(), "testdata/iis_fields_change.log")
	if err != nil || len(s.Events) != 6 || len(s.Rejects) != 0 {
		t.Fatalf("%d events, %v, %v", len(s.Events), s.Reasons(), err)
	}
	ev := s.Events
	const ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/110.0.0.0 Safari/537.36"
	if ev[0].Str(event.UserAgentOriginal) != ua {
		t.Errorf("UA with '+': %q", ev[0].Str(event.UserAgentOriginal))
	}
	if got := raw(ev[0], "cs(User-Agent)"); len(got) != 1 || got[0] != strings.ReplaceAll(ua, " ", "+") {
		t.Errorf("raw cs(User-Agent) as written: %q", got)
	}
	if got := raw(ev[0], "cs-user-agent"); len(got) != 2 || got[0] != ua || got[1] != strings.ReplaceAll(ua, " ", "+") {
		t.Errorf("cs-user-agent alias, decoded then as written: %q", got)
	}
	if ev[1].Str(event.UserName) != "jsmith" || ev[1].Str(event.UserDomain) != "contoso" ||
		ev[1].Str(event.HTTPRequestReferrer) != "https://mail.contoso.com/owa/auth/logon.aspx?replaceCurrent=1" ||
		ev[1].Str(event.URLOriginal) != "/owa/auth.owa" || ev[1].Str(event.URLQuery) != "" {
		t.Errorf("DOMAIN\\user / referer: %s", ev[1].AppendJSON(nil))
	}
	if ev[2].Str(event.EventOutcome) != "failure" || num(ev[2], event.HTTPResponseStatusCode) != 500 {
		t.Errorf("500: %s", ev[2].AppendJSON(nil))
	}
	// After the mid-file #Fields change: more columns, host, bytes, version.
	e := ev[3]
	if e.Origin.Line != 12 || rawOne(t, e, "s-sitename") != "W3SVC1" || e.Str(event.HostName) != "exch01" ||
		num(e, event.HTTPResponseBodyBytes) != 512 || num(e, event.HTTPRequestBodyBytes) != 389 ||
		e.Str(event.HTTPVersion) != "1.1" || e.Str(event.URLDomain) != "mail.contoso.com" ||
		e.Str(event.URLOriginal) != "/aspnet_client/system_web/shell.aspx?cmd=whoami" ||
		rawOne(t, e, "cs-host") != "mail.contoso.com" {
		t.Errorf("after #Fields change: %s", e.AppendJSON(nil))
	}
	if ev[4].Str(event.URLDomain) != "mail.contoso.com" || num(ev[4], event.EventDurationNS) != 7e6 {
		t.Errorf("cs-host with port: %s", ev[4].AppendJSON(nil))
	}
	e = ev[5]
	if e.IP(event.SourceIP).String() != "2001:db8::99" || e.IP(event.DestinationIP).String() != "2001:db8::5" ||
		e.Str(event.UserName) != "jsmith" || e.Str(event.UserDomain) != "contoso.com" ||
		rawOne(t, e, "cs-cookie") != "X-OWA-CANARY=abc;+ClientId=D41A" || e.Str(event.HTTPVersion) != "2" {
		t.Errorf("IPv6 / cookie: %s", e.AppendJSON(nil))
	}
}

func TestW3CVariants(t *testing.T) {
	// No date column: the #Date directive gives the date. Tab separation and a quoted
	// value with spaces (W3C draft strings) split right.
	in := "#Version: 1.0\n#Date: 2024-02-29 00:00:00\n#Fields: time c-ip cs-method cs-uri sc-status x-note\n" +
		"12:00:01.250 192.0.2.1 GET http://example.com/a?b=1 200 \"two words\"\n" +
		"12:00:02\t192.0.2.1\tGET\t/x\t404\t-\n"
	s, err := decodetest.Decode(t, NewW3CDecoder(), "v", []byte(in))
	if err != nil || len(s.Events) != 2 || len(s.Rejects) != 0 {
		t.Fatalf("%d events, %v, %v", len(s.Events), s.Reasons(), err)
	}
	e := s.Events[0]
	if !e.Timestamp.Equal(ts("2024-02-29T12:00:01.25Z")) || rawOne(t, e, "x-note") != "two words" ||
		e.Str(event.URLDomain) != "example.com" || e.Str(event.URLQuery) != "b=1" {
		t.Errorf("first: %s", e.AppendJSON(nil))
	}
	if e := s.Events[1]; e.Str(event.EventOutcome) != "failure" || e.Str(event.URLOriginal) != "/x" {
		t.Errorf("second: %s", e.AppendJSON(nil))
	}

	// A "-" date falls back to the #Date directive too.
	s, err = decodetest.Decode(t, NewW3CDecoder(), "v", []byte("#Date: 2024-03-01 00:00:00\n#Fields: date time c-ip\n- 01:02:03 192.0.2.1\n"))
	if err != nil || len(s.Events) != 1 || !s.Events[0].Timestamp.Equal(ts("2024-03-01T01:02:03Z")) {
		t.Errorf("'-' date: %d events, %v", len(s.Events), s.Rejects)
	}
}

func TestBadInput(t *testing.T) {
	long := strings.Repeat("A", 10<<20)
	cases := []struct {
		name    string
		dec     decode.Decoder
		in      string
		events  int
		reasons map[string]int
		lines   []int64 // lines of the rejects, in order
	}{
		{
			name: "w3c data before #Fields, wrong counts, bad dates, huge line",
			dec:  NewW3CDecoder(),
			in: "2019-09-03 10:13:36 10.0.2.15 GET / - 80\n" +
				"#Fields: date time c-ip cs-method cs-uri-stem sc-status\n" +
				"2019-09-03 10:13:36 10.0.2.17 GET /a 200\n" +
				"2019-09-03 10:13:36 10.0.2.17 GET /a 200 extra\n" +
				"2019-09-03 10:13:36 10.0.2.17 GET\n" +
				"2019-02-30 10:13:36 10.0.2.17 GET /a 200\n" +
				"2019-09-03 25:13:36 10.0.2.17 GET /a 200\n" +
				"1969-12-31 23:59:59 10.0.2.17 GET /a 200\n" +
				"2019-09-03 10:13:36 10.0.2.17 GET /" + long + " 200\n" +
				"\x00\x01garbage\xff\xfe\n" +
				"2019-09-03 10:13:37 10.0.2.17 GET /b 404\n",
			events:  2,
			reasons: map[string]int{"missing-field": 1, "malformed": 3, "bad-timestamp": 3, "line-too-long": 1},
			lines:   []int64{1, 4, 5, 6, 7, 8, 9, 10},
		},
		{
			name:    "w3c fields without a time column",
			dec:     NewW3CDecoder(),
			in:      "#Fields: c-ip cs-method\n192.0.2.1 GET\n",
			reasons: map[string]int{"bad-timestamp": 1},
			lines:   []int64{2},
		},
		{
			name: "access garbage, bad dates, unclosed quotes, huge line",
			dec:  NewAccessDecoder(),
			in: "garbage line without structure\n" +
				"192.0.2.1 - - [31/Feb/2018:08:41:28 +0300] \"GET / HTTP/1.1\" 200 1\n" +
				"192.0.2.1 - - [11/Foo/2018:08:41:28 +0300] \"GET / HTTP/1.1\" 200 1\n" +
				"192.0.2.1 - - [11/Jul/2018:08:41:28 +9900] \"GET / HTTP/1.1\" 200 1\n" +
				"192.0.2.1 - - [11/Jul/2018:08:41:28 +0300] \"GET / HTTP/1.1 200 1\n" +
				"192.0.2.1 - - [11/Jul/2018:08:41:28 +0300] \"GET / HTTP/1.1\" 200 12x\n" +
				"192.0.2.1 - - [11/Jul/2018:08:41:28 +0300] \"GET / HTTP/1.1\" 200 1 \"-\" \"unclosed\n" +
				"192.0.2.1 - - [11/Jul/2018:08:41:28 +0300]\n" +
				"192.0.2.1 [11/Jul/2018:08:41:28 +0300] \"GET / HTTP/1.1\" 200 1\n" +
				"192.0.2.1 - - [11/Jul/2018:08:41:28 +0300] \"GET /" + long + " HTTP/1.1\" 200 1\n" +
				"\n" +
				"192.0.2.1 - - [11/Jul/2018:08:41:29 +0300] \"GET /ok HTTP/1.1\" 200 1\n",
			events:  1,
			reasons: map[string]int{"malformed": 6, "bad-timestamp": 3, "line-too-long": 1},
			lines:   []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := decodetest.Decode(t, c.dec, "bad", []byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Events) != c.events {
				t.Errorf("%d events, want %d", len(s.Events), c.events)
			}
			got := s.Reasons()
			for k, v := range c.reasons {
				if got[k] != v {
					t.Errorf("reasons %v, want %v", got, c.reasons)
					break
				}
			}
			if len(s.Rejects) != len(c.lines) {
				t.Fatalf("%d rejects, want %d: %v", len(s.Rejects), len(c.lines), s.Rejects)
			}
			for i, r := range s.Rejects {
				if r.Line != c.lines[i] || r.Source != "bad" || r.Err == nil {
					t.Errorf("reject %d: %v (line %d, want %d)", i, r, r.Line, c.lines[i])
				}
				if len(r.Error()) > 1024 {
					t.Errorf("reject %d message of %d bytes", i, len(r.Error()))
				}
			}
			if n := len(s.Events); n > 0 {
				if last := s.Events[n-1]; last.Str(event.URLPath) != "/b" && last.Str(event.URLPath) != "/ok" {
					t.Errorf("last good record after the bad ones: %s", last.AppendJSON(nil))
				}
			}
		})
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, f := range Formats() {
		err := f.New().Decode(ctx, decode.Input{R: strings.NewReader("x\n"), Source: "c"}, &decodetest.Sink{})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v, want context.Canceled", f.ID, err)
		}
	}
}

func TestSniff(t *testing.T) {
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name     string
		head     []byte
		w3c, clf int
	}{
		{"iis fixture", read("testdata/iis_fields_change.log"), 90, 0},
		{"nginx", read("testdata/nginx_combined.log"), 0, 75},
		{"vhost", read("testdata/vhost_combined.log"), 0, 75},
		{"common", read("testdata/common.log"), 0, 75},
		{"iis with BOM", append([]byte("\ufeff"), read("testdata/iis_fields_change.log")...), 90, 0},
		{"w3c directives only", []byte("#Software: X\n#Version: 1.0\n"), 50, 0},
		{"exchange csv fields", []byte("#Software: Microsoft Exchange Server\n#Version: 15.0\n#Fields: date-time,client-ip,client-hostname\n"), 50, 0},
		{"zeek tsv", []byte("#separator \\x09\n#set_separator\t,\n#fields\tts\tuid\tid.orig_h\n"), 0, 0},
		{"json", []byte(`{"@timestamp":"2024-01-01T00:00:00Z","message":"[11/Jul/2018:08:41:28 +0300] \""}` + "\n"), 0, 0},
		{"syslog", []byte("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8\n"), 0, 0},
		{"empty", nil, 0, 0},
		{"mostly garbage", []byte("a\nb\nc\n1.2.3.4 - - [11/Jul/2018:08:41:28 +0300] \"GET / HTTP/1.1\" 200 1\n"), 0, 0},
	}
	for _, c := range cases {
		if got := SniffW3C(c.head); got != c.w3c {
			t.Errorf("%s: SniffW3C = %d, want %d", c.name, got, c.w3c)
		}
		if got := SniffAccessLog(c.head); got != c.clf {
			t.Errorf("%s: SniffAccessLog = %d, want %d", c.name, got, c.clf)
		}
	}
	if got := SniffW3C(headOf(t, iisCorpus, 1, 400)); got != 90 {
		t.Errorf("tunna corpus: SniffW3C = %d", got)
	}
	if got := SniffAccessLog(headOf(t, apacheCorpus, 1, 400)); got != 75 {
		t.Errorf("tomcat corpus: SniffAccessLog = %d", got)
	}
}

func TestParseCLFTime(t *testing.T) {
	cases := []struct {
		in   string
		want string // "" = error
	}{
		{"11/Jul/2018:08:41:28 +0300", "2018-07-11T05:41:28Z"},
		{"10/Oct/2000:13:55:36 -0700", "2000-10-10T20:55:36Z"},
		{"31/Dec/2023:23:30:00 -0100", "2024-01-01T00:30:00Z"},
		{"29/Feb/2024:00:00:00 +0000", "2024-02-29T00:00:00Z"},
		{"11/Jul/2018:08:41:28.123 +0000", "2018-07-11T08:41:28.123Z"},
		{"29/Feb/2023:00:00:00 +0000", ""},
		{"11/jul/2018:08:41:28 +0300", ""},
		{"11/Jul/2018:24:00:00 +0300", ""},
		{"11/Jul/2018:08:41:28 0300", ""},
		{"11/Jul/2018:08:41:28", ""},
		{"1x/Jul/2018:08:41:28 +0300", ""},
		{"11/Jul/2018:08:41:28 +0300 ", ""},
		{"", ""},
	}
	for _, c := range cases {
		got, err := parseCLFTime(c.in)
		if c.want == "" {
			if err == nil {
				t.Errorf("%q: %v, want an error", c.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(ts(c.want)) {
			t.Errorf("%q: %v %v, want %s", c.in, got, err, c.want)
		}
	}
}

func TestSplitRequest(t *testing.T) {
	cases := []struct{ in, method, target, proto string }{
		{"GET / HTTP/1.1", "GET", "/", "HTTP/1.1"},
		{"GET /a b HTTP/1.0", "GET", "/a b", "HTTP/1.0"},
		{"OPTIONS * HTTP/1.1", "OPTIONS", "*", "HTTP/1.1"},
		{"GET /index.jsp ", "GET", "/index.jsp", ""},
		{"GET /", "GET", "/", ""},
		{"-", "", "", ""},
		{"", "", "", ""},
		{"t3 12.2.1", "", "", ""},
		{"Secure * Secure-HTTP/1.4", "", "", ""},
		{"\x16\x03\x01\x02\x00 x", "", "", ""},
		{"GET", "", "", ""},
	}
	for _, c := range cases {
		m, tg, p := splitRequest(c.in)
		if m != c.method || tg != c.target || p != c.proto {
			t.Errorf("%q: %q %q %q, want %q %q %q", c.in, m, tg, p, c.method, c.target, c.proto)
		}
	}
}

func TestFormats(t *testing.T) {
	fs := Formats()
	if len(fs) != 2 || fs[0].ID != "w3c" || fs[1].ID != "access-log" {
		t.Fatalf("formats %v", fs)
	}
	for _, f := range fs {
		if f.New() == nil || f.Sniff == nil || f.Description == "" {
			t.Errorf("%s incomplete", f.ID)
		}
	}
}
