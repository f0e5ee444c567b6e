package event

import (
	"net/netip"
	"testing"
)

// mayBeIP must accept every string netip.ParseAddr accepts (it only skips work).
func TestMayBeIPAcceptsAddresses(t *testing.T) {
	for _, s := range []string{
		"10.1.2.3", "0.0.0.0", "::", "::1", "::ffff:10.1.2.3", "2001:DB8::1",
		"fe80::1%eth0", "fe80::1%1", "1:2:3:4:5:6:7:8", "::ffff:1.2.3.4%zone x",
	} {
		if _, err := netip.ParseAddr(s); err != nil {
			t.Fatalf("test input %q is not an address: %v", s, err)
		}
		if !mayBeIP(s) {
			t.Errorf("mayBeIP(%q) = false for an address", s)
		}
	}
	for _, s := range []string{"", "-", "garbage", "WIN-HOST", "dc01.corp.local", "%", "abc"} {
		if mayBeIP(s) {
			t.Errorf("mayBeIP(%q) = true", s)
		}
	}
}

func FuzzMayBeIP(f *testing.F) {
	for _, s := range []string{"10.1.2.3", "fe80::1%eth0", "::", "host", "1.2.3.4:80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := netip.ParseAddr(s); err == nil && !mayBeIP(s) {
			t.Errorf("mayBeIP(%q) = false for an address", s)
		}
	})
}

func TestUserRefAppendKey(t *testing.T) {
	for _, u := range []UserRef{{Name: "bob"}, {Name: "bob", Domain: "corp"}, {}} {
		if got := string(u.AppendKey(nil)); got != u.Key() {
			t.Errorf("AppendKey(%+v) = %q, want %q", u, got, u.Key())
		}
	}
}
