package event

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseUser(t *testing.T) {
	tests := []struct {
		in   string
		want UserRef
	}{
		{`CORP\Alice`, UserRef{Name: "alice", Domain: "corp"}},
		{"alice@Corp.COM", UserRef{Name: "alice", Domain: "corp.com"}},
		{"Alice", UserRef{Name: "alice"}},
		{"  bob  ", UserRef{Name: "bob"}},
		{"-", UserRef{}},
		{"", UserRef{}},
		{"N/A", UserRef{}},
		{`NT AUTHORITY\SYSTEM`, UserRef{Name: "system", Domain: "nt authority"}},
		{"@corp.com", UserRef{Name: "@corp.com"}}, // no account part: not split
		{"alice@", UserRef{Name: "alice@"}},       // no domain part: not split
		{"ÉLODIE@corp", UserRef{Name: "élodie", Domain: "corp"}},
	}
	for _, tt := range tests {
		if got := ParseUser(tt.in); got != tt.want {
			t.Errorf("ParseUser(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestCanonicalUserKeysAgree(t *testing.T) {
	// The same account written three ways yields the same key once domains agree.
	a := CanonicalUser("alice", "CORP")
	b := ParseUser(`corp\ALICE`)
	if a.Key() != b.Key() || a.Key() != "alice@corp" {
		t.Fatalf("keys differ: %q vs %q", a.Key(), b.Key())
	}
	if got := CanonicalUser("alice@corp.com", "OTHER"); got.Domain != "corp.com" {
		t.Fatalf("domain inside the name must win, got %+v", got)
	}
	if got := CanonicalUser("-", "CORP"); got != (UserRef{}) {
		t.Fatalf("placeholder user must give zero ref, got %+v", got)
	}
}

func TestCanonicalHost(t *testing.T) {
	tests := []struct{ in, fqdn, short string }{
		{"WS-042.Corp.Example.com.", "ws-042.corp.example.com", "ws-042"},
		{"ws-042", "ws-042", "ws-042"},
		{"10.0.0.5", "10.0.0.5", "10.0.0.5"},
		{"FE80::1", "fe80::1", "fe80::1"},
		{"-", "", ""},
	}
	for _, tt := range tests {
		got := CanonicalHost(tt.in)
		if got.FQDN != tt.fqdn || got.Short != tt.short {
			t.Errorf("CanonicalHost(%q) = %+v, want %q/%q", tt.in, got, tt.fqdn, tt.short)
		}
	}
}

func TestParseIP(t *testing.T) {
	tests := []struct{ in, want string }{
		{"10.1.2.3", "10.1.2.3"},
		{"::ffff:10.1.2.3", "10.1.2.3"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"fe80::1%eth0", "fe80::1%eth0"},
		{"-", "invalid IP"},
		{"10.1.2.3:80", "invalid IP"},
		{"garbage", "invalid IP"},
	}
	for _, tt := range tests {
		if got := ParseIP(tt.in).String(); got != tt.want {
			t.Errorf("ParseIP(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func sample() *Event {
	var e Event
	e.Timestamp = time.Date(2024, 4, 21, 10, 0, 3, 500, time.UTC)
	e.Category = CatProcess | CatNetwork
	e.Type = TypeStart
	e.SetStr(ProcessCommandLine, `cmd.exe /c "whoami"`)
	e.SetNum(SourcePort, 4444)
	e.SetIP(SourceIP, netip.MustParseAddr("10.0.0.1"))
	e.SetUser(ParseUser(`CORP\alice`))
	e.SetHost("WS1.corp.local")
	e.AddRaw(MakeKey("Image"), `C:\Windows\System32\cmd.exe`)
	e.AddRaw(MakeKey("Tag"), "a")
	e.AddRaw(MakeKey("Tag"), "b")
	e.Origin = Origin{Source: "x.evtx", Format: "evtx", Offset: 4096, Record: 7}
	return &e
}

func TestAccessors(t *testing.T) {
	e := sample()
	tests := []struct {
		name string
		want []string
		ecs  bool
	}{
		{"process.command_line", []string{`cmd.exe /c "whoami"`}, true},
		{"source.port", []string{"4444"}, true},
		{"source.ip", []string{"10.0.0.1"}, true},
		{"@timestamp", []string{"2024-04-21T10:00:03.0000005Z"}, true},
		{"event.category", []string{"network", "process"}, true},
		{"event.type", []string{"start"}, true},
		{"related.user", []string{"alice@corp"}, true},
		{"related.ip", []string{"10.0.0.1"}, true},
		{"related.hosts", []string{"ws1.corp.local"}, true},
		{"user.domain", []string{"corp"}, true},
		{"host.hostname", []string{"ws1"}, true},
		{"Image", []string{`C:\Windows\System32\cmd.exe`}, false},
		{"Tag", []string{"a", "b"}, false},
		{"Missing", nil, false},
		{"destination.port", nil, true},
	}
	for _, tt := range tests {
		a := Lookup(tt.name)
		if a.IsECS() != tt.ecs || a.Name() != tt.name {
			t.Errorf("Lookup(%q): IsECS=%v name=%q", tt.name, a.IsECS(), a.Name())
		}
		var got []string
		a.Each(e, func(s string) bool { got = append(got, s); return true })
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
		first, ok := a.String(e)
		if ok != (len(tt.want) > 0) || (ok && first != tt.want[0]) {
			t.Errorf("%s: String = %q,%v", tt.name, first, ok)
		}
	}
	if v, ok := Lookup("source.port").Int(e); !ok || v != 4444 {
		t.Errorf("Int(source.port) = %d,%v", v, ok)
	}
	if ip, ok := Lookup("source.ip").IP(e); !ok || ip.String() != "10.0.0.1" {
		t.Errorf("IP(source.ip) = %v,%v", ip, ok)
	}
	// Each stops when fn returns false.
	n := 0
	Lookup("Tag").Each(e, func(string) bool { n++; return false })
	if n != 1 {
		t.Errorf("Each did not stop: %d calls", n)
	}
}

func TestEveryECSNameResolves(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range ECSNames() {
		if n == "" || seen[n] {
			t.Fatalf("empty or duplicate ECS name %q", n)
		}
		seen[n] = true
		if !Lookup(n).IsECS() {
			t.Errorf("%s does not resolve to an ECS field", n)
		}
	}
	for i := StrField(0); i < numStrFields; i++ {
		if i.Name() == "" {
			t.Errorf("string field %d has no name", i)
		}
	}
	for i := NumField(0); i < numNumFields; i++ {
		if i.Name() == "" {
			t.Errorf("numeric field %d has no name", i)
		}
	}
}

func TestAccessorDoesNotAllocate(t *testing.T) {
	e := sample()
	img, cmd := Lookup("Image"), Lookup("process.command_line")
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := img.String(e); !ok {
			t.Fatal("Image missing")
		}
		if _, ok := cmd.String(e); !ok {
			t.Fatal("command line missing")
		}
	})
	if allocs != 0 {
		t.Fatalf("accessors allocate %v times per call", allocs)
	}
}

func TestResetKeepsNothing(t *testing.T) {
	e := sample()
	e.Reset()
	if len(e.Raw) != 0 || e.Str(ProcessCommandLine) != "" || e.IP(SourceIP).IsValid() ||
		len(e.Related.User) != 0 || !e.Timestamp.IsZero() || e.Category != 0 {
		t.Fatalf("Reset left data: %s", e.AppendJSON(nil))
	}
	if _, ok := e.Num(SourcePort); ok {
		t.Fatal("Reset left a numeric field set")
	}
}

func TestRawFieldsBounded(t *testing.T) {
	var e Event
	k := MakeKey("k")
	for range MaxRawFields + 10 {
		e.AddRaw(k, "v")
	}
	if len(e.Raw) != MaxRawFields || !e.RawTruncated {
		t.Fatalf("raw fields not bounded: %d, truncated=%v", len(e.Raw), e.RawTruncated)
	}
}

func TestAppendJSON(t *testing.T) {
	e := sample()
	e.AddRaw(MakeKey("Bad"), "a\x00b\xffc\u2028")
	b := e.AppendJSON(nil)
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	want := `{"@timestamp":"2024-04-21T10:00:03.0000005Z","event":{"category":["network","process"],"type":["start"]},` +
		`"host":{"hostname":"ws1","name":"ws1.corp.local"},"process":{"command_line":"cmd.exe /c \"whoami\""},` +
		`"related":{"hosts":["ws1.corp.local"],"ip":["10.0.0.1"],"user":["alice@corp"]},"source":{"ip":"10.0.0.1","port":4444},` +
		`"user":{"domain":"corp","name":"alice"},"vigil":{"origin":{"format":"evtx","offset":4096,"record":7,"source":"x.evtx"}},` +
		`"raw":{"Bad":"a\u0000b` + "\ufffd" + `c\u2028","Image":"C:\\Windows\\System32\\cmd.exe","Tag":["a","b"]}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestIDStable(t *testing.T) {
	a, b := sample(), sample()
	if a.ID() != b.ID() || len(a.ID()) != 32 {
		t.Fatalf("ids differ or malformed: %s %s", a.ID(), b.ID())
	}
	b.Origin.Offset++
	if a.ID() == b.ID() {
		t.Fatal("different offsets gave the same id")
	}
}

func TestCategoryParse(t *testing.T) {
	c, ok := ParseCategory("Authentication")
	if !ok || c != CatAuthentication || !(c | CatIAM).Has(CatIAM) {
		t.Fatal("ParseCategory")
	}
	if _, ok := ParseType("nope"); ok {
		t.Fatal("ParseType accepted an unknown type")
	}
	if len(categoryNames) != 20 || len(typeNames) != 17 {
		t.Fatal("ECS allowed values changed: update the bit constants")
	}
}

func BenchmarkAccessorRaw(b *testing.B) {
	e := sample()
	for i := range 20 {
		e.AddRaw(MakeKey(strings.Repeat("x", i+1)), "v")
	}
	a := Lookup("xxxxxxxxxxxxxxxxxxxx")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := a.String(e); !ok {
			b.Fatal("missing")
		}
	}
}

// TestResetClearsEverything fills every field through every setter, resets, and
// expects the zero event (with the slices' capacity kept).
func TestResetClearsEverything(t *testing.T) {
	var e Event
	for f := StrField(0); f < numStrFields; f++ {
		e.SetStr(f, "x")
	}
	e.SetUser(ParseUser(`CORP\alice`))
	e.SetTargetUser(ParseUser("bob@corp"))
	e.SetHost("ws1.corp")
	Set(&e, "process.command_line", "cmd")
	for f := NumField(0); f < numNumFields; f++ {
		e.SetNum(f, 7)
	}
	for f := IPField(0); f < numIPFields; f++ {
		e.SetIP(f, ParseIP("10.0.0.1"))
	}
	e.AddRaw(MakeKey("A"), "v")
	e.AddRelatedUser("u")
	e.AddRelatedHost("h")
	e.AddRelatedHash("x")
	e.Timestamp = time.Unix(1, 0)
	e.Category, e.Type = 1, 1
	e.RawTruncated = true
	e.Origin = Origin{Source: "s", Format: "f", Offset: 1, Line: 2, Record: 3}
	e.Reset()
	want := Event{Raw: e.Raw[:0], Related: Related{IP: e.Related.IP[:0], User: e.Related.User[:0], Hosts: e.Related.Hosts[:0], Hash: e.Related.Hash[:0]}}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("after Reset: %+v", e)
	}
	for f := StrField(0); f < numStrFields; f++ {
		if e.Str(f) != "" {
			t.Errorf("%s still set", strNames[f])
		}
	}
}

func TestClone(t *testing.T) {
	buf := []byte("alice host1 value")
	s := string(buf) // a distinct backing array standing in for a decoder's arena
	e := &Event{}
	e.SetStr(UserName, s[:5])
	e.SetStr(HostName, s[6:11])
	e.AddRaw(MakeKey("Image"), s[12:])
	e.AddRelatedUser(s[:5])
	e.Origin = Origin{Source: "f.log", Offset: 7}
	c := e.Clone()
	e.Reset()
	if c.Str(UserName) != "alice" || c.Str(HostName) != "host1" || len(c.Raw) != 1 || c.Raw[0].Value != "value" ||
		c.Related.User[0] != "alice" || c.ID() != (Origin{Source: "f.log", Offset: 7}).ID() {
		t.Fatalf("clone: %+v", c)
	}
}
