package assist

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/detect"
)

func registered(key string) *Pseudonymizer {
	inc, sigs := testIncident("x")
	p := NewPseudonymizer([]byte(key))
	buildView(p, inc, sigs, 100)
	return p
}

func TestTokensStableWithinAndDistinctAcrossIncidents(t *testing.T) {
	a1, a2, b := registered("incident-a"), registered("incident-a"), registered("incident-b")
	for _, e := range []struct {
		kind  detect.EntityKind
		value string
	}{
		{detect.EntityUser, "alice@corp"}, {detect.EntityHost, "ws-alice01.corp.example.com"},
		{detect.EntityIP, "10.1.2.3"}, {detect.EntityHash, "d41d8cd98f00b204e9800998ecf8427e"},
	} {
		t1, t2, t3 := a1.Entity(e.kind, e.value), a2.Entity(e.kind, e.value), b.Entity(e.kind, e.value)
		if t1 != t2 {
			t.Errorf("%s: %s then %s with the same key", e.value, t1, t2)
		}
		if t1 == t3 {
			t.Errorf("%s: %s in two incidents", e.value, t1)
		}
		if again := a1.Entity(e.kind, strings.ToUpper(e.value)); again != t1 {
			t.Errorf("%s: case changes the token: %s vs %s", e.value, t1, again)
		}
		if !anyToken.MatchString(t1) || !strings.HasPrefix(t1, prefixes[e.kind]+"_") {
			t.Errorf("%s: token %q", e.value, t1)
		}
	}
	if a1.Text("alice") != a1.Text("ALICE logged on")[:len(a1.Text("alice"))] {
		t.Error("the alias token changes with case")
	}
}

func TestTextAndRestore(t *testing.T) {
	p := registered("k")
	tests := []struct {
		in       string
		mustHide []string
		keep     []string
	}{
		{"Brute force against alice from 10.1.2.3", []string{"alice", "10.1.2.3"}, []string{"Brute force against"}},
		{`CORP\alice ran C:\Users\alice\AppData\drop.exe`, []string{"alice"}, []string{`AppData\drop.exe`}},
		{"mail to bob@other.org and eve@corp.example.com", []string{"bob", "other.org", "eve"}, []string{"mail to"}},
		{"resolved www.unknown-domain.io and api.internal.corp", []string{"unknown-domain", "internal.corp"}, []string{"resolved"}},
		{"peer 2001:db8::7 and ::ffff:192.0.2.1, port 443", []string{"2001:db8", "192.0.2.1"}, []string{"port 443"}},
		{"GET https://evil-c2.net/x?u=alice.", []string{"evil-c2", "alice"}, []string{"GET "}},
		{"/home/dave/.ssh/id_rsa and /Users/erin/Library", []string{"dave", "erin"}, []string{".ssh/id_rsa"}},
		{"powershell.exe -enc AAAA spawned by winword.exe at 12:30:45 (T1059.001)", nil, []string{"powershell.exe", "winword.exe", "12:30:45", "T1059.001"}},
		{"malice and palace are not alice", []string{" alice"}, []string{"malice", "palace"}},
	}
	for _, tc := range tests {
		out := p.Text(tc.in)
		for _, s := range tc.mustHide {
			if strings.Contains(fold(out), fold(s)) {
				t.Errorf("Text(%q) = %q still shows %q", tc.in, out, s)
			}
		}
		for _, s := range tc.keep {
			if !strings.Contains(out, s) {
				t.Errorf("Text(%q) = %q lost %q", tc.in, out, s)
			}
		}
		// Restored values take the spelling first registered: equal up to case.
		if back := p.Restore(out); fold(back) != fold(tc.in) {
			t.Errorf("Restore(Text(%q)) = %q", tc.in, back)
		}
		if p.Text(tc.in) != out {
			t.Errorf("Text(%q) not stable", tc.in)
		}
	}
	if got := p.Restore("USER_0123456789 is not ours"); got != "USER_0123456789 is not ours" {
		t.Errorf("unknown token changed: %q", got)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	p := registered("k")
	doc := `{"user":"frank","host.name":"srv7","peer":{"kind":"ip","value":"192.0.2.55"},` +
		`"events":[{"msg":"frank logged on to srv7 from 192.0.2.55"}],"count":3,"frank":"as key"}`
	out, err := p.JSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"frank", "srv7", "192.0.2.55"} {
		if strings.Contains(string(out), s) {
			t.Errorf("pseudonymized result %s shows %q", out, s)
		}
	}
	back, err := p.RestoreJSON(out)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	json.Unmarshal([]byte(doc), &want)
	json.Unmarshal(back, &got)
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(got)
	if string(wj) != string(gj) {
		t.Errorf("round trip\n got %s\nwant %s", gj, wj)
	}
	for _, bad := range []string{`{"a":`, `{} {}`, ``} {
		if _, err := p.RestoreJSON([]byte(bad)); err == nil {
			t.Errorf("RestoreJSON(%q) accepted", bad)
		}
	}
}

func FuzzPseudonymize(f *testing.F) {
	inc, sigs := testIncident("fuzz")
	for _, s := range sigs {
		f.Add(s.Title + " " + s.Explanation.Summary)
	}
	f.Add("10.0.0.1 ::1 a@b.cc http://x.y/z C:\\Users\\q\\a.exe USER_deadbeef")
	f.Fuzz(func(t *testing.T, s string) {
		p := NewPseudonymizer([]byte("k"))
		buildView(p, inc, sigs, 10)
		out := p.Text(s)
		if back := p.Restore(out); fold(back) != fold(s) {
			t.Fatalf("Restore(Text(%q)) = %q via %q", s, back, out)
		}
		for _, e := range inc.Entities {
			if e.Kind == detect.EntityProcess {
				continue
			}
			if strings.Contains(fold(out), fold(e.Value)) {
				t.Fatalf("Text(%q) = %q shows %q", s, out, e.Value)
			}
		}
		if _, err := p.RestoreJSON([]byte(s)); err == nil {
			p.JSON([]byte(s))
		}
	})
}
