package auth

import (
	"strings"
	"testing"
)

func TestPHC(t *testing.T) {
	good := "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + strings.Repeat("A", 42) + "A"
	tests := []struct {
		in   string
		want string // error substring; empty: parses
	}{
		{good, ""},
		{"$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAA", "algorithm"},
		{"$argon2id$v=16$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAA", "version"},
		{"$argon2id$v=19$t=2,m=19456,p=1$c29tZXNhbHRzb21lc2FsdA$AAAA", "want m="},
		{"$argon2id$v=19$m=019456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAA", "canonical"},
		{"$argon2id$v=19$m=+19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAA", "canonical"},
		{"$argon2id$v=19$m=99999999999,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAA", "canonical"},
		{"$argon2id$v=19$m=8388608,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + strings.Repeat("A", 43), "memory"},
		{"$argon2id$v=19$m=19456,t=1000,p=1$c29tZXNhbHRzb21lc2FsdA$" + strings.Repeat("A", 43), "time"},
		{"$argon2id$v=19$m=19456,t=2,p=0$c29tZXNhbHRzb21lc2FsdA$" + strings.Repeat("A", 43), "threads"},
		{"$argon2id$v=19$m=19456,t=2,p=256$c29tZXNhbHRzb21lc2FsdA$" + strings.Repeat("A", 43), "at most 255"},
		{"$argon2id$v=19$m=19456,t=2,p=1$c29tZQ$" + strings.Repeat("A", 43), "salt length"},
		{"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA==$" + strings.Repeat("A", 43), "decoding salt"},
		{"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + strings.Repeat("A", 42) + "B", "decoding hash"}, // non-zero trailing bits
		{"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA", "5 $-separated"},
		{"argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAA$", "5 $-separated"},
		{"", "5 $-separated"},
		{strings.Repeat("$", 600), "at most 512"},
	}
	for _, tt := range tests {
		h, err := parsePHC(tt.in)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tt.in, err)
			} else if h.String() != tt.in {
				t.Errorf("%q: encodes back as %q", tt.in, h.String())
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestHashVerify(t *testing.T) {
	// A hash made with other parameters still verifies: the stored ones are used.
	other := Params{Memory: 128, Time: 3, Threads: 2, SaltLen: 8, KeyLen: 16}
	s, err := hashPassword("a long password here", other)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, "$argon2id$v=19$m=128,t=3,p=2$") {
		t.Errorf("PHC string %q", s)
	}
	h, err := parsePHC(s)
	if err != nil {
		t.Fatal(err)
	}
	if h.Params != other {
		t.Errorf("params %+v, want %+v", h.Params, other)
	}
	if !h.verify("a long password here") || h.verify("a long password herE") || h.verify("") {
		t.Error("verify accepts a wrong password or refuses the right one")
	}
	// Known answer: the default parameters produce the documented prefix.
	d, err := hashPassword("x", DefaultParams)
	if err != nil || !strings.HasPrefix(d, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("default: %q %v", d, err)
	}
	s2, _ := hashPassword("a long password here", other)
	if s2 == s {
		t.Error("two hashes of one password are equal: salt not random")
	}
}

func FuzzPHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + strings.Repeat("A", 43))
	f.Add("$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=0,t=0,p=0$$")
	f.Add("$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePHC(s)
		if err != nil {
			return
		}
		if h.String() != s {
			t.Fatalf("%q parses but encodes as %q", s, h.String())
		}
		if h.Validate() != nil || h.Memory > maxArgonMemory || h.Time > maxArgonTime || len(h.Salt) < minSaltLen || len(h.Key) < minKeyLen {
			t.Fatalf("%q: parameters out of bounds accepted: %+v", s, h.Params)
		}
	})
}
