package auth

import (
	"bytes"
	"crypto/hmac"
	"strings"
	"testing"
)

func TestSessionCookieRoundTrip(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	in := session{User: "ana", Role: "analyst", Issued: 100, Expires: 200, ID: "sid"}
	c := mustSign(t, key, in)
	out, err := parseSession(key, c)
	if err != nil || out != in {
		t.Fatalf("%+v %v", out, err)
	}
	if _, err := parseSession(bytes.Repeat([]byte{8}, 32), c); err == nil {
		t.Error("accepted under another key")
	}
	for _, bad := range []session{{User: "", Issued: 1, Expires: 2, ID: "x"}, {User: "a", Issued: 2, Expires: 2, ID: "x"}, {User: "a", Issued: 1, Expires: 2}} {
		if _, err := parseSession(key, mustSign(t, key, bad)); err == nil {
			t.Errorf("incomplete payload accepted: %+v", bad)
		}
	}
	if _, err := parseSession(key, strings.Repeat("a", 2000)); err == nil || !strings.Contains(err.Error(), "longer") {
		t.Errorf("long cookie: %v", err)
	}
}

func TestRevocationsBounded(t *testing.T) {
	r := revocations{max: 3}
	r.revoke("a", 10, 0)
	r.revoke("b", 20, 0)
	r.revoke("c", 30, 0)
	r.revoke("d", 40, 15) // a has expired: dropped first
	if r.revoked("a") || !r.revoked("b") || !r.revoked("d") {
		t.Errorf("after pruning expired: %v", r.ids)
	}
	r.revoke("e", 50, 15) // full, none expired: the soonest (b) goes
	if r.revoked("b") || !r.revoked("c") || !r.revoked("e") || len(r.ids) != 3 {
		t.Errorf("after evicting: %v", r.ids)
	}
}

// FuzzSessionCookie feeds arbitrary cookies to the verifier: it must never
// panic, and it accepts a cookie only when its MAC is the HMAC of everything
// before the last dot under the key.
func FuzzSessionCookie(f *testing.F) {
	key := bytes.Repeat([]byte{42}, 32)
	valid, err := signSession(key, session{User: "ana", Role: "admin", Issued: 1, Expires: 2, ID: "abc"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add("v1..")
	f.Add("v1.e30." + b64url.EncodeToString(macOf(key, "v1.e30")))
	f.Add("v1.bnVsbA." + b64url.EncodeToString(macOf(key, "v1.bnVsbA")))
	f.Fuzz(func(t *testing.T, cookie string) {
		s, err := parseSession(key, cookie)
		if err != nil {
			return
		}
		i := strings.LastIndexByte(cookie, '.')
		mac, derr := b64url.DecodeString(cookie[i+1:])
		if derr != nil || !hmac.Equal(mac, macOf(key, cookie[:i])) {
			t.Fatalf("accepted %q without a valid MAC", cookie)
		}
		if s.User == "" || s.ID == "" || s.Expires <= s.Issued {
			t.Fatalf("accepted an incomplete session %+v", s)
		}
		// The same bytes under another key never verify.
		if _, err := parseSession(bytes.Repeat([]byte{43}, 32), cookie); err == nil {
			t.Fatalf("%q verifies under two keys", cookie)
		}
	})
}
