package auth

import (
	"bytes"
	"testing"
)

// BenchmarkVerifyDefault is the cost of one login's password check with
// DefaultParams (also what an unknown username costs, against the dummy hash).
func BenchmarkVerifyDefault(b *testing.B) {
	s, err := hashPassword("correct horse battery", DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	h, err := parsePHC(s)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !h.verify("correct horse battery") {
			b.Fatal("mismatch")
		}
	}
}

// BenchmarkSessionVerify is the per-request cost of checking a session cookie.
func BenchmarkSessionVerify(b *testing.B) {
	key := bytes.Repeat([]byte{1}, 32)
	c, err := signSession(key, session{User: "alice", Role: "analyst", Issued: 1, Expires: 2, ID: "0123456789abcdef0123456789"})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := parseSession(key, c); err != nil {
			b.Fatal(err)
		}
	}
}
