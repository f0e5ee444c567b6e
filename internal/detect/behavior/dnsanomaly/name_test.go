package dnsanomaly

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	cases := []struct {
		in                    string
		fqdn, reg, sub, label string
		kind                  NameKind
		private               bool
		reason                string
	}{
		{in: "WWW.Example.COM.", fqdn: "www.example.com", reg: "example.com", sub: "www", label: "example"},
		{in: "a.b.example.co.uk", fqdn: "a.b.example.co.uk", reg: "example.co.uk", sub: "a.b", label: "example"},
		{in: "example.com", fqdn: "example.com", reg: "example.com", label: "example"},
		{in: "r3---sn-4g5e6nz7.googlevideo.com", fqdn: "r3---sn-4g5e6nz7.googlevideo.com", reg: "googlevideo.com", sub: "r3---sn-4g5e6nz7", label: "googlevideo"},
		// private-registry suffixes: each customer is its own registered domain
		{in: "d2h67oheeuigaw.cloudfront.net", fqdn: "d2h67oheeuigaw.cloudfront.net", reg: "d2h67oheeuigaw.cloudfront.net", label: "d2h67oheeuigaw", private: true},
		{in: "s3.amazonaws.com", fqdn: "s3.amazonaws.com", reg: "s3.amazonaws.com", label: "s3", private: true},
		{in: "_ldap._tcp.dc._msdcs.corp.example", fqdn: "_ldap._tcp.dc._msdcs.corp.example", reg: "corp.example", sub: "_ldap._tcp.dc._msdcs", label: "corp", kind: KindInternal},
		{in: "newyork.dmevals.local", fqdn: "newyork.dmevals.local", reg: "dmevals.local", sub: "newyork", label: "dmevals", kind: KindInternal},
		{in: "wpad", fqdn: "wpad", reg: "wpad", label: "wpad", kind: KindInternal},
		{in: "sl", fqdn: "sl", reg: "sl", label: "sl", kind: KindInternal},
		{in: "197.134.245.120.in-addr.arpa", fqdn: "197.134.245.120.in-addr.arpa", reg: "120.in-addr.arpa", sub: "197.134.245", kind: KindReverse},
		{in: "10.0.0.1", fqdn: "10.0.0.1", reg: "10.0.0.1", kind: KindIP},
		{in: "", reason: ReasonEmpty},
		{in: ".", reason: ReasonEmpty},
		{in: "a..b", reason: ReasonEmptyLabel},
		{in: ".a", reason: ReasonEmptyLabel},
		{in: "*", reason: ReasonInvalidChar},
		{in: `a\x00.com`, reason: ReasonInvalidChar},
		{in: "héllo.com", reason: ReasonInvalidChar},
		{in: strings.Repeat("a", 64) + ".com", reason: ReasonLabelTooLong},
		{in: strings.Repeat("abcdefgh.", 30) + "com", reason: ReasonTooLong},
	}
	for _, c := range cases {
		n, err := Normalize(c.in)
		if c.reason != "" {
			var ne *NameError
			if !errors.As(err, &ne) || ne.Reason != c.reason || !errors.Is(err, ErrName) {
				t.Errorf("%q: err %v, want reason %s", c.in, err, c.reason)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if n.FQDN != c.fqdn || n.Registered != c.reg || n.Sub != c.sub || n.Label != c.label || n.Kind != c.kind || n.Private != c.private {
			t.Errorf("%q: %+v", c.in, n)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"www.example.com.", "a..b", "197.134.245.120.in-addr.arpa", "::1", "wpad", "x.co.uk", "s3.amazonaws.com", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Normalize(s)
		if err != nil {
			if !errors.Is(err, ErrName) {
				t.Fatalf("%q: error %v is not a name error", s, err)
			}
			return
		}
		if n.FQDN == "" || len(n.FQDN) > maxName || n.Registered == "" || !strings.HasSuffix(n.FQDN, n.Registered) {
			t.Fatalf("%q: %+v", s, n)
		}
		if n.Sub != "" && n.Sub+"."+n.Registered != n.FQDN {
			t.Fatalf("%q: sub %q + registered %q", s, n.Sub, n.Registered)
		}
		if n.FQDN != strings.ToLower(n.FQDN) {
			t.Fatalf("%q: not lower case", s)
		}
		// Idempotent.
		if m, err := Normalize(n.FQDN); err != nil || m != n {
			t.Fatalf("%q: renormalised to %+v, %v", s, m, err)
		}
		// And the model accepts whatever Normalize accepts.
		_, _, _ = subShape(n.Sub)
	})
}
